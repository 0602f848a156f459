//! The json format: exactly the object of SPEC §10, on one line.

use std::io::{self, Write};

use serde::Serialize;

use super::{range, CheckReport, LineColumn};

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
            }
        })
        .collect();
    let json = JsonReport { files: report.files.len(), diagnostics };
    serde_json::to_writer(&mut *out, &json)?;
    writeln!(out)
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
            assert_eq!(keys(diagnostic), ["file", "code", "severity", "message", "range"]);
            assert_eq!(keys(&diagnostic["range"]), ["start", "end"]);
            for end in ["start", "end"] {
                assert_eq!(keys(&diagnostic["range"][end]), ["line", "column"]);
            }
        }
        let severities: Vec<&str> = diagnostics.iter().map(|d| d["severity"].as_str().unwrap()).collect();
        assert_eq!(severities, ["info", "error", "warning", "error", "hint", "error"]);
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
