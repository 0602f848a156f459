//! The json format: exactly the object of SPEC §10, on one line.

use std::io::{self, Write};

use serde::Serialize;

use super::{range, related_path, related_source, CheckReport, LineColumn};
use crate::analysis::{Fix, SourceFile};

/// `{"files": N, "diagnostics": [...]}`; the field order is the order of the keys in the output.
#[derive(Serialize)]
struct JsonReport<'a> {
    files: usize,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: String,
    code: &'static str,
    severity: &'static str,
    message: &'a str,
    range: JsonRange,
    /// The advice shown under the message ("did you mean `build`?"), or null.
    help: Option<&'a str>,
    fixes: Vec<JsonFix<'a>>,
}

/// A quick fix: what it does and its edits, to be applied together.
#[derive(Serialize)]
struct JsonFix<'a> {
    message: &'a str,
    edits: Vec<JsonEdit<'a>>,
}

/// Replace the text of `range` in `file` with `text` (an empty range inserts, an empty text
/// deletes). `file` is named like the diagnostic's own, since a fix may edit another file (a plugin
/// stub goes into `weft.yaml`).
#[derive(Serialize)]
struct JsonEdit<'a> {
    file: String,
    range: JsonRange,
    text: &'a str,
}

#[derive(Serialize)]
struct JsonRange {
    start: JsonPosition,
    end: JsonPosition,
}

/// One-based, the column counted in characters.
#[derive(Serialize)]
struct JsonPosition {
    line: u32,
    column: u32,
}

impl From<LineColumn> for JsonPosition {
    fn from(position: LineColumn) -> JsonPosition {
        JsonPosition { line: position.line, column: position.column }
    }
}

pub(super) fn render(report: &CheckReport, out: &mut dyn Write) -> io::Result<()> {
    let diagnostics = report
        .diagnostics()
        .map(|(file, diagnostic)| {
            let (start, end) = range(file, diagnostic.span);
            JsonDiagnostic {
                file: file.path.display().to_string(),
                code: diagnostic.code.as_str(),
                severity: diagnostic.severity.as_str(),
                message: &diagnostic.message,
                range: JsonRange { start: start.into(), end: end.into() },
                help: diagnostic.help.as_deref(),
                fixes: diagnostic.fixes.iter().filter_map(|fix| json_fix(report, file, fix)).collect(),
            }
        })
        .collect();
    let json = JsonReport { files: report.files.len(), diagnostics };
    serde_json::to_writer(&mut *out, &json)?;
    writeln!(out)
}

/// `None` when an edit is in a file whose text was not read, so its lines cannot be known: such a
/// fix is left out rather than given with a wrong range.
fn json_fix<'a>(report: &CheckReport, own_file: &SourceFile, fix: &'a Fix) -> Option<JsonFix<'a>> {
    let edits = fix
        .edits
        .iter()
        .map(|edit| {
            let source = related_source(report, own_file, &edit.location)?;
            let (start, end) = range(source, edit.location.span);
            Some(JsonEdit {
                file: related_path(own_file, &edit.location).display().to_string(),
                range: JsonRange { start: start.into(), end: end.into() },
                text: &edit.new_text,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    (!edits.is_empty()).then_some(JsonFix { message: &fix.title, edits })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::{fixture, Format};

    fn keys(value: &Value) -> Vec<&str> {
        value.as_object().expect("an object").keys().map(String::as_str).collect()
    }

    #[test]
    fn output() {
        let output = fixture::render(Format::Json, false);
        assert!(output.ends_with("}\n") && output.lines().count() == 1, "not one line: {output}");
        insta::assert_snapshot!(output);
    }

    #[test]
    fn has_exactly_the_keys_of_the_spec_in_its_order() {
        let output = fixture::render(Format::Json, false);
        let json: Value = serde_json::from_str(&output).expect("valid JSON");
        assert_eq!(keys(&json), ["files", "diagnostics"]);
        assert_eq!(json["files"], 2);
        let diagnostics = json["diagnostics"].as_array().expect("an array");
        assert_eq!(diagnostics.len(), 6);
        for diagnostic in diagnostics {
            assert_eq!(keys(diagnostic), ["file", "code", "severity", "message", "range", "help", "fixes"]);
            assert_eq!(keys(&diagnostic["range"]), ["start", "end"]);
            for end in ["start", "end"] {
                assert_eq!(keys(&diagnostic["range"][end]), ["line", "column"]);
            }
            assert!(diagnostic["help"].is_null() || diagnostic["help"].is_string());
            for fix in diagnostic["fixes"].as_array().expect("fixes") {
                assert_eq!(keys(fix), ["message", "edits"]);
                for edit in fix["edits"].as_array().expect("edits") {
                    assert_eq!(keys(edit), ["file", "range", "text"]);
                }
            }
        }
        let severities: Vec<&str> = diagnostics.iter().map(|d| d["severity"].as_str().unwrap()).collect();
        assert_eq!(severities, ["info", "error", "warning", "error", "hint", "error"]);
    }

    #[test]
    fn help_and_fixes_are_given_with_their_ranges() {
        let output = fixture::render(Format::Json, false);
        let json: Value = serde_json::from_str(&output).expect("valid JSON");
        let unknown = &json["diagnostics"][1];
        assert_eq!(unknown["help"], "did you mean `build`?");
        assert_eq!(
            unknown["fixes"],
            serde_json::json!([{"message": "Replace with `build`", "edits": [{
                "file": fixture::WORKFLOW_PATH,
                "range": {"start": {"line": 4, "column": 22}, "end": {"line": 4, "column": 27}},
                "text": "build",
            }]}])
        );
        // No advice is null, no fix an empty list.
        assert_eq!(json["diagnostics"][0]["help"], Value::Null);
        assert_eq!(json["diagnostics"][0]["fixes"], serde_json::json!([]));
        // A fix in another file names it and counts in its lines; one in a file that was not read
        // is left out.
        let fixes = json["diagnostics"][4]["fixes"].as_array().expect("fixes");
        assert_eq!(fixes.len(), 1, "{fixes:?}");
        let edit = &fixes[0]["edits"][0];
        assert_eq!(edit["file"], fixture::SHARED_PATH);
        assert_eq!(edit["range"]["start"], serde_json::json!({"line": 4, "column": 1}));
        assert_eq!(edit["range"]["start"], edit["range"]["end"]);
        assert_eq!(edit["text"], "    script: lint\n");
    }

    #[test]
    fn columns_are_characters_after_emoji_and_cjk() {
        let output = fixture::render(Format::Json, false);
        let json: Value = serde_json::from_str(&output).expect("valid JSON");
        let unknown = &json["diagnostics"][1];
        assert_eq!(unknown["code"], "unknown-dependency");
        assert_eq!(unknown["file"], fixture::WORKFLOW_PATH);
        // `    depends_on: [🦀漢, biuld]`: `biuld` starts at the 22nd character, not the 26th byte.
        assert_eq!(unknown["range"]["start"], serde_json::json!({"line": 4, "column": 22}));
        assert_eq!(unknown["range"]["end"], serde_json::json!({"line": 4, "column": 27}));
        // The byte order mark is not counted.
        assert_eq!(json["diagnostics"][0]["range"]["start"], serde_json::json!({"line": 1, "column": 1}));
        // An empty span at the end of a file that ends with a newline.
        let end_of_file = &json["diagnostics"][5]["range"];
        assert_eq!(end_of_file["start"], serde_json::json!({"line": 6, "column": 1}));
        assert_eq!(end_of_file["start"], end_of_file["end"]);
    }
}
