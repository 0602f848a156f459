//! What the end-to-end LSP tests share besides the client: positions computed on the test side (so
//! the server's conversion is checked against an independent one), edits applied to the test's own
//! copy of a text, and compact renderings of results for snapshots.

#![allow(dead_code)]

use std::path::Path;

use serde_json::{json, Value};

use crate::common::lsp_client::{uri, LspClient};

/// How LSP columns are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Columns {
    Utf16,
    Utf8,
}

fn column_width(c: char, columns: Columns) -> usize {
    match columns {
        Columns::Utf16 => c.len_utf16(),
        Columns::Utf8 => c.len_utf8(),
    }
}

/// The lines of a text as LSP sees them: split at `\n`, `\r\n` and `\r`, terminators excluded.
pub fn lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\n' => {
                out.push(&text[start..index]);
                start = index + 1;
            }
            b'\r' => {
                out.push(&text[start..index]);
                if bytes.get(index + 1) == Some(&b'\n') {
                    index += 1;
                }
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    out.push(&text[start..]);
    out
}

/// The byte offset of an LSP position; it must lie inside the text (no clamping here: a test that
/// sends a position means it).
pub fn offset_of(text: &str, position: &Value, columns: Columns) -> usize {
    let line = position["line"].as_u64().expect("a line") as usize;
    let character = position["character"].as_u64().expect("a character") as usize;
    let mut line_start = 0;
    for (number, content) in lines(text).into_iter().enumerate() {
        if number == line {
            let mut width = 0;
            for (index, c) in content.char_indices() {
                if width == character {
                    return line_start + index;
                }
                assert!(width < character, "position {position} splits a character of line {line}");
                width += column_width(c, columns);
            }
            assert_eq!(width, character, "position {position} is past the end of line {line} ({content:?})");
            return line_start + content.len();
        }
        // Skip the line and its terminator.
        let after = line_start + content.len();
        line_start = after + if text[after..].starts_with("\r\n") { 2 } else { 1 };
    }
    panic!("position {position} is past the end of the text");
}

/// The LSP position of a byte offset.
pub fn position_of(text: &str, offset: usize, columns: Columns) -> Value {
    let before = &text[..offset];
    let line_start = before.rfind(['\n', '\r']).map_or(0, |at| at + 1);
    let line = lines(before).len() - 1;
    let character: usize = before[line_start..].chars().map(|c| column_width(c, columns)).sum();
    json!({ "line": line, "character": character })
}

pub fn range_of(text: &str, start: usize, end: usize, columns: Columns) -> Value {
    json!({ "start": position_of(text, start, columns), "end": position_of(text, end, columns) })
}

/// True when an LSP range lies inside the text: lines exist, columns are within their line, and
/// start is not after end.
pub fn range_is_inside(text: &str, range: &Value, columns: Columns) -> bool {
    let lines = lines(text);
    let inside = |position: &Value| -> Option<(u64, u64)> {
        let line = position["line"].as_u64()?;
        let character = position["character"].as_u64()?;
        let content = lines.get(line as usize)?;
        let width: usize = content.chars().map(|c| column_width(c, columns)).sum();
        // A column that splits a surrogate pair (or a UTF-8 sequence) is not inside either.
        let mut boundary = 0;
        let mut on_boundary = character == 0;
        for c in content.chars() {
            boundary += column_width(c, columns);
            on_boundary |= boundary == character as usize;
        }
        (character as usize <= width && on_boundary).then_some((line, character))
    };
    match (inside(&range["start"]), inside(&range["end"])) {
        (Some(start), Some(end)) => start <= end,
        _ => false,
    }
}

/// Applies LSP text edits (non-overlapping, in any order) to a text.
pub fn apply_edits(text: &str, edits: &[Value], columns: Columns) -> String {
    let mut spans: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|edit| {
            let start = offset_of(text, &edit["range"]["start"], columns);
            let end = offset_of(text, &edit["range"]["end"], columns);
            (start, end, edit["newText"].as_str().expect("newText"))
        })
        .collect();
    spans.sort_by_key(|(start, end, _)| (*start, *end));
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlapping edits: {edits:?}");
    }
    let mut out = text.to_owned();
    for (start, end, new_text) in spans.into_iter().rev() {
        out.replace_range(start..end, new_text);
    }
    out
}

/// Sends one incremental change: replace `bytes` of `text` (the client's copy, updated
/// here) with `new_text`.
pub fn edit(
    client: &mut LspClient,
    path: &Path,
    version: i64,
    text: &mut String,
    bytes: std::ops::Range<usize>,
    new_text: &str,
    columns: Columns,
) {
    let (start, end) = (bytes.start, bytes.end);
    let range = range_of(text, start, end, columns);
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri(path), "version": version },
            "contentChanges": [{ "range": range, "text": new_text }]
        }),
    );
    text.replace_range(start..end, new_text);
}

/// The position of the first occurrence of `needle` (plus `delta` bytes) in `text`.
pub fn position_at(text: &str, needle: &str, delta: usize) -> Value {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} in the text")) + delta;
    position_of(text, at, Columns::Utf16)
}

pub fn text_document(path: &Path) -> Value {
    json!({ "uri": uri(path) })
}

pub fn at(path: &Path, position: &Value) -> Value {
    json!({ "textDocument": text_document(path), "position": position })
}

/// The codes of a `publishDiagnostics`, in order.
pub fn codes(published: &Value) -> Vec<String> {
    published["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| d["code"].as_str().expect("a code").to_owned())
        .collect()
}

/// A range and the text it covers, `line:col-line:col "text"` (0-based, as LSP counts).
pub fn describe_range(text: &str, range: &Value, columns: Columns) -> String {
    let start = offset_of(text, &range["start"], columns);
    let end = offset_of(text, &range["end"], columns);
    format!(
        "{}:{}-{}:{} {:?}",
        range["start"]["line"],
        range["start"]["character"],
        range["end"]["line"],
        range["end"]["character"],
        &text[start..end]
    )
}

/// One line per diagnostic: code, severity, range with the text it covers, message.
pub fn render_diagnostics(text: &str, published: &Value) -> String {
    let mut out = String::new();
    for diagnostic in published["diagnostics"].as_array().expect("diagnostics") {
        let severity = match diagnostic["severity"].as_u64() {
            Some(1) => "error",
            Some(2) => "warning",
            Some(3) => "info",
            Some(4) => "hint",
            _ => "?",
        };
        out.push_str(&format!(
            "{} {severity} {}: {}\n",
            diagnostic["code"].as_str().unwrap_or("?"),
            describe_range(text, &diagnostic["range"], Columns::Utf16),
            diagnostic["message"].as_str().unwrap_or("?").replace('\n', " ⏎ ")
        ));
        for related in diagnostic["relatedInformation"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "    related {} {}: {}\n",
                related["location"]["uri"].as_str().unwrap_or("?").rsplit('/').next().unwrap_or("?"),
                serde_json::to_string(&related["location"]["range"]).unwrap(),
                related["message"].as_str().unwrap_or("?")
            ));
        }
    }
    out
}

const COMPLETION_KINDS: [&str; 26] = [
    "?",
    "text",
    "method",
    "function",
    "constructor",
    "field",
    "variable",
    "class",
    "interface",
    "module",
    "property",
    "unit",
    "value",
    "enum",
    "keyword",
    "snippet",
    "color",
    "file",
    "reference",
    "folder",
    "enum-member",
    "constant",
    "struct",
    "event",
    "operator",
    "type-parameter",
];

/// Completion items as the editor would list them (sorted by `sortText`, then label), one line
/// each: label, kind, what the text edit replaces and with what, detail and documentation.
pub fn render_completion(text: &str, result: &Value) -> String {
    let mut items: Vec<&Value> = result["items"].as_array().expect("a completion list").iter().collect();
    items.sort_by_key(|item| {
        (item["sortText"].as_str().unwrap_or(item["label"].as_str().unwrap()).to_owned(), item["label"].to_string())
    });
    let mut out = String::new();
    for item in items {
        let kind = COMPLETION_KINDS.get(item["kind"].as_u64().unwrap_or(0) as usize).unwrap_or(&"?");
        let edit = &item["textEdit"];
        let snippet = if item["insertTextFormat"] == 2 { " (snippet)" } else { "" };
        out.push_str(&format!(
            "{} [{kind}] {} → {:?}{snippet}",
            item["label"].as_str().unwrap(),
            describe_range(text, &edit["range"], Columns::Utf16),
            edit["newText"].as_str().unwrap_or("?"),
        ));
        if let Some(detail) = item["detail"].as_str() {
            out.push_str(&format!(" · {detail}"));
        }
        out.push('\n');
        if let Some(documentation) = item["documentation"]["value"].as_str() {
            out.push_str(&format!("    doc: {}\n", documentation.replace('\n', " ⏎ ")));
        }
    }
    out
}

/// The labels of a completion list, in the editor's order.
pub fn completion_labels(result: &Value) -> Vec<String> {
    let mut items: Vec<&Value> = result["items"].as_array().expect("a completion list").iter().collect();
    items.sort_by_key(|item| {
        (item["sortText"].as_str().unwrap_or(item["label"].as_str().unwrap()).to_owned(), item["label"].to_string())
    });
    items.iter().map(|item| item["label"].as_str().unwrap().to_owned()).collect()
}

/// Locations (`{uri, range}`) as `file line:col-line:col "text"`, reading each file from disk
/// (tests keep open buffers and disk in step), names relative to `root`.
pub fn render_locations(root: &Path, locations: &Value) -> String {
    let list: Vec<Value> = match locations {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        single => vec![single.clone()],
    };
    let mut out = String::new();
    for location in list {
        let (uri, range) = match location.get("targetUri") {
            Some(uri) => (uri.clone(), location["targetSelectionRange"].clone()),
            None => (location["uri"].clone(), location["range"].clone()),
        };
        let path = uri_path(uri.as_str().expect("a uri"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let name = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        out.push_str(&format!("{name} {}\n", describe_range(&text, &range, Columns::Utf16)));
    }
    out
}

/// The file path of a `file://` URI (the tests' paths need no percent-decoding).
pub fn uri_path(uri: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(uri.strip_prefix("file://").expect("a file URI"))
}

/// Returns once the server has handled everything sent before and published what that changed.
/// The server answers requests in arrival order and publishes at the end of the batch of messages
/// it is working on, so after two round trips in a row every such publish has been sent.
pub fn barrier(client: &mut LspClient) {
    for _ in 0..2 {
        client.request("workspace/symbol", json!({ "query": "\u{1}no such symbol" }));
    }
}

/// After [`barrier`]: the diagnostics of an open file now, checked to carry `version`; earlier
/// publishes must be for earlier or equal versions.
pub fn settled_diagnostics(client: &mut LspClient, path: &Path, version: i64) -> Value {
    barrier(client);
    let published = client.drain_diagnostics(path);
    let versions: Vec<i64> = published.iter().map(|p| p["version"].as_i64().unwrap_or(-1)).collect();
    assert!(versions.windows(2).all(|pair| pair[0] <= pair[1]), "versions go up: {versions:?}");
    let last = published.last().unwrap_or_else(|| panic!("diagnostics for {}", path.display())).clone();
    assert_eq!(last["version"], version, "the last publish is for the latest text: {versions:?}");
    last
}
