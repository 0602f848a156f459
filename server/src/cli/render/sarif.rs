//! The sarif format: SARIF 2.1.0 with one run, for GitHub code scanning and other SARIF viewers.

use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::github::slash_path;
use super::{message_with_help, range, related_path, related_source, CheckReport};
use crate::analysis::{Code, Fix, Severity, SourceFile};
use crate::syntax::Span;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/weft-dev/weft";

pub(super) fn render(report: &CheckReport, out: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.as_str(),
                "shortDescription": { "text": code.summary() },
                "defaultConfiguration": { "level": level(code.severity()) },
            })
        })
        .collect();

    let results: Vec<Value> = report
        .diagnostics()
        .map(|(file, diagnostic)| {
            let mut result = json!({
                "ruleId": diagnostic.code.as_str(),
                "ruleIndex": rule_index(diagnostic.code),
                "level": level(diagnostic.severity),
                "message": { "text": message_with_help(diagnostic) },
                "locations": [{ "physicalLocation": physical_location(file, diagnostic.span) }],
            });
            if !diagnostic.related.is_empty() {
                let related: Vec<Value> = diagnostic
                    .related
                    .iter()
                    .enumerate()
                    .map(|(id, related)| {
                        let physical_location = match related_source(report, file, &related.location) {
                            Some(source) => physical_location(source, related.location.span),
                            // Without the text only the byte range can be given.
                            None => {
                                let path = related.location.file.as_deref().unwrap_or(&file.path);
                                let span = related.location.span;
                                json!({
                                    "artifactLocation": { "uri": artifact_uri(path) },
                                    "region": { "byteOffset": span.start, "byteLength": span.len() },
                                })
                            }
                        };
                        json!({
                            "id": id,
                            "message": { "text": related.message },
                            "physicalLocation": physical_location,
                        })
                    })
                    .collect();
                result["relatedLocations"] = Value::Array(related);
            }
            if !diagnostic.fixes.is_empty() {
                let fixes = diagnostic.fixes.iter().map(|fix| sarif_fix(report, file, fix)).collect();
                result["fixes"] = Value::Array(fixes);
            }
            result
        })
        .collect();

    let sarif = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "weft",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &sarif)?;
    writeln!(out)
}

/// SARIF has three levels; info and hint are both notes.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Hint => "note",
    }
}

fn rule_index(code: Code) -> usize {
    Code::ALL.iter().position(|candidate| *candidate == code).expect("Code::ALL lists every code")
}

/// A SARIF `fix`: its edits grouped by file into `artifactChanges`, each edit a `replacement` of a
/// `deletedRegion` (of the text before any replacement) by `insertedContent`. An edit in a file whose
/// text was not read can only give its region in bytes.
fn sarif_fix(report: &CheckReport, own_file: &SourceFile, fix: &Fix) -> Value {
    let mut changes: Vec<(String, Vec<Value>)> = Vec::new();
    for edit in &fix.edits {
        let (uri, deleted_region) = match related_source(report, own_file, &edit.location) {
            Some(source) => (artifact_uri(&source.path), region(source, edit.location.span)),
            None => {
                let span = edit.location.span;
                let uri = artifact_uri(related_path(own_file, &edit.location));
                (uri, json!({ "byteOffset": span.start, "byteLength": span.len() }))
            }
        };
        let replacement = json!({
            "deletedRegion": deleted_region,
            "insertedContent": { "text": edit.new_text },
        });
        match changes.iter_mut().find(|(changed, _)| *changed == uri) {
            Some((_, replacements)) => replacements.push(replacement),
            None => changes.push((uri, vec![replacement])),
        }
    }
    let changes: Vec<Value> = changes
        .into_iter()
        .map(|(uri, replacements)| json!({ "artifactLocation": { "uri": uri }, "replacements": replacements }))
        .collect();
    json!({ "description": { "text": fix.title }, "artifactChanges": changes })
}

fn physical_location(file: &SourceFile, span: Span) -> Value {
    json!({
        "artifactLocation": { "uri": artifact_uri(&file.path) },
        "region": region(file, span),
    })
}

/// A region in one-based lines and columns counted in code points (the run's `columnKind`); the end
/// column is exclusive, as in SARIF, so an empty span is an insertion point.
fn region(file: &SourceFile, span: Span) -> Value {
    let (start, end) = range(file, span);
    json!({
        "startLine": start.line,
        "startColumn": start.column,
        "endLine": end.line,
        "endColumn": end.column,
    })
}

/// The path as a URI reference: relative paths stay relative (code scanning resolves them against
/// the repository), absolute ones become `file://` URIs, and whatever a URI cannot hold is
/// percent-encoded.
fn artifact_uri(path: &Path) -> String {
    let path = slash_path(path);
    let absolute = path.starts_with('/') || path.as_bytes().get(1) == Some(&b':');
    let mut uri = String::new();
    if absolute {
        uri.push_str(if path.starts_with('/') { "file://" } else { "file:///" });
    }
    for byte in path.bytes() {
        // A `:` in a relative path would read as a scheme, so it is only kept in absolute ones.
        let keep = byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=@".contains(&byte) || (byte == b':' && absolute);
        if keep {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::{fixture, Format};
    use super::*;

    fn sarif() -> Value {
        serde_json::from_str(&fixture::render(Format::Sarif, false)).expect("valid JSON")
    }

    #[test]
    fn output() {
        let output = fixture::render(Format::Sarif, false);
        insta::assert_snapshot!(output.replace(env!("CARGO_PKG_VERSION"), "[version]"));
    }

    #[test]
    fn is_structurally_valid() {
        let sarif = sarif();
        assert_eq!(sarif["$schema"], SCHEMA);
        assert_eq!(sarif["version"], "2.1.0");
        let runs = sarif["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!(run["tool"]["driver"]["name"], "weft");
        assert_eq!(run["columnKind"], "unicodeCodePoints");
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), Code::ALL.len());
        let results = run["results"].as_array().expect("results");
        assert_eq!(results.len(), 6);
        for result in results {
            let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(rules[index]["id"], result["ruleId"]);
            assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
            assert!(result["message"]["text"].is_string());
            let location = &result["locations"][0]["physicalLocation"];
            assert!(location["artifactLocation"]["uri"].is_string());
            for key in ["startLine", "startColumn", "endLine", "endColumn"] {
                assert!(location["region"][key].as_u64().is_some_and(|n| n >= 1), "{key} in {result}");
            }
            if let Some(related) = result.get("relatedLocations") {
                for location in related.as_array().expect("relatedLocations") {
                    assert!(location["id"].is_u64());
                    assert!(location["physicalLocation"]["artifactLocation"]["uri"].is_string());
                }
            }
        }
        let unknown = &results[1];
        assert_eq!(unknown["message"]["text"], "`depends_on` names no stage `biuld` (did you mean `build`?)");
        let region = &unknown["locations"][0]["physicalLocation"]["region"];
        assert_eq!((region["startLine"].as_u64(), region["startColumn"].as_u64()), (Some(4), Some(22)));
    }

    #[test]
    fn fixes_are_artifact_changes_with_replacements() {
        let sarif = sarif();
        let results = sarif["runs"][0]["results"].as_array().expect("results");
        assert_eq!(
            results[1]["fixes"],
            serde_json::json!([{
                "description": { "text": "Replace with `build`" },
                "artifactChanges": [{
                    "artifactLocation": { "uri": fixture::WORKFLOW_PATH },
                    "replacements": [{
                        "deletedRegion": { "startLine": 4, "startColumn": 22, "endLine": 4, "endColumn": 27 },
                        "insertedContent": { "text": "build" },
                    }],
                }],
            }])
        );
        // No fixes, no key.
        assert!(results[0].get("fixes").is_none());
        // A deletion inserts nothing; a fix in another file names it; one in a file that was not read
        // gives its region in bytes.
        let deletion = &results[3]["fixes"][0]["artifactChanges"][0]["replacements"][0];
        assert_eq!(deletion["insertedContent"]["text"], "");
        let fixes = results[4]["fixes"].as_array().expect("fixes");
        assert_eq!(fixes[0]["artifactChanges"][0]["artifactLocation"]["uri"], "workflows/shared.yaml");
        let insertion = &fixes[0]["artifactChanges"][0]["replacements"][0]["deletedRegion"];
        assert_eq!(insertion, &serde_json::json!({ "startLine": 4, "startColumn": 1, "endLine": 4, "endColumn": 1 }));
        let unread = &fixes[1]["artifactChanges"][0];
        assert_eq!(unread["artifactLocation"]["uri"], "workflows/gone.yaml");
        assert_eq!(
            unread["replacements"][0]["deletedRegion"],
            serde_json::json!({ "byteOffset": 10, "byteLength": 4 })
        );
    }

    #[test]
    fn uris_are_relative_with_slashes_and_encoded() {
        assert_eq!(artifact_uri(Path::new("workflows/build.yaml")), "workflows/build.yaml");
        assert_eq!(artifact_uri(Path::new("a b/c:d#e%.yaml")), "a%20b/c%3Ad%23e%25.yaml");
        assert_eq!(artifact_uri(Path::new("flöde.yaml")), "fl%C3%B6de.yaml");
        assert_eq!(artifact_uri(Path::new("/srv/x y.yaml")), "file:///srv/x%20y.yaml");
    }
}
