//! The protocol itself: incremental sync in both position encodings, bursts of edits, cancellation,
//! one response per request, errors for unknown methods and panics, and a clean exit.
//!
//! Every test starts `weft lsp --stdio` (the flag editors pass), so that it is accepted is checked
//! by all of them.

mod common;
mod lsp_support;

use std::path::Path;

use common::lsp_client::{cursor, uri, LspClient, TempProject};
use lsp_support::{
    at, barrier, codes, edit, offset_of, position_of, range_is_inside, settled_diagnostics, text_document, Columns,
};
use serde_json::{json, Value};

const CONFIG: &str = "plugins:\n  build_tool:\n    command: make\n  test_tool:\n    command: make\n";

/// Stages on lines full of characters that are wider in UTF-16 and UTF-8 than in `char`s.
const UNICODE: &str = "\
workflow_id: unicode
name: \"Ünïcödé 🦀 漢字\"
stages:
  - { id: build, name: \"🦀 漢字\", script: build_tool }
  - { id: test, name: \"🦀🦀 測試\", script: test_tool, depends_on: [biuld] }
";

/// The text a diagnostic's range covers, in the test's own reading of the columns.
fn covered<'t>(text: &'t str, range: &Value, columns: Columns) -> &'t str {
    assert!(range_is_inside(text, range, columns), "{range} is inside the text");
    &text[offset_of(text, &range["start"], columns)..offset_of(text, &range["end"], columns)]
}

fn only_diagnostic<'t>(text: &'t str, published: &Value, columns: Columns) -> (String, &'t str) {
    let diagnostics = published["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{published}");
    (diagnostics[0]["code"].as_str().unwrap().to_owned(), covered(text, &diagnostics[0]["range"], columns))
}

/// Edits next to emoji and CJK, in the client's columns, must land where the client meant them,
/// and every range the server sends back must cover the text the client sees there.
fn edit_after_wide_characters(client: &mut LspClient, path: &Path, columns: Columns) {
    let mut text = UNICODE.to_owned();
    client.open(path, &text);
    let published = client.diagnostics(path);
    assert_eq!(only_diagnostic(&text, &published, columns), ("unknown-dependency".into(), "biuld"));

    // Replace the typo; the range starts after two emoji and two CJK characters on that line.
    let start = text.find("biuld").unwrap();
    edit(client, path, 2, &mut text, start..start + 5, "build", columns);
    assert_eq!(client.diagnostics(path)["diagnostics"], json!([]));

    // Two changes in one notification, the second relative to the text after the first: add an
    // unknown id, then delete the first crab on the line (a surrogate pair in UTF-16).
    let close = text.rfind("] }").unwrap();
    let first = json!({ "range": lsp_support::range_of(&text, close, close, columns), "text": ", nope" });
    text.insert_str(close, ", nope");
    let crab = text.rfind("\"🦀🦀").unwrap() + 1;
    let second = json!({ "range": lsp_support::range_of(&text, crab, crab + '🦀'.len_utf8(), columns), "text": "" });
    text.replace_range(crab..crab + '🦀'.len_utf8(), "");
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri(path), "version": 3 }, "contentChanges": [first, second] }),
    );
    let published = client.diagnostics(path);
    assert_eq!(published["version"], 3);
    assert_eq!(only_diagnostic(&text, &published, columns), ("unknown-dependency".into(), "nope"));

    // Completion after the wide characters, in a flow mapping, replaces exactly the word under
    // the cursor (the id being retyped is offered although it is listed).
    let build = text.rfind("[build").unwrap() + 1;
    let position = position_of(&text, build + 2, columns);
    let result = client.request("textDocument/completion", at(path, &position));
    let items = result["items"].as_array().unwrap();
    assert_eq!(items.iter().map(|i| i["label"].as_str().unwrap()).collect::<Vec<_>>(), ["build"]);
    assert_eq!(covered(&text, &items[0]["textEdit"]["range"], columns), "build");

    // Hover and document symbols see the edited text too.
    let position = position_of(&text, text.find("id: test").unwrap() + 5, columns);
    let hover = client.request("textDocument/hover", at(path, &position));
    assert_eq!(covered(&text, &hover["range"], columns), "test");
    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": text_document(path) }));
    let stages = symbols[0]["children"].as_array().unwrap();
    assert_eq!(covered(&text, &stages[1]["selectionRange"], columns), "test");
}

#[test]
fn utf16_is_the_default_and_edits_after_emoji_and_cjk_land_right() {
    let project = TempProject::new("utf16");
    project.write("weft.yaml", CONFIG);
    let mut client = LspClient::start(&project.path);
    client.registration();
    let result = client.initialize_result.clone();
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-16", "{result}");
    assert_eq!(result["serverInfo"]["name"], "weft");
    assert_eq!(result["capabilities"]["textDocumentSync"]["change"], 2, "incremental sync");
    edit_after_wide_characters(&mut client, &project.path.join("unicode.workflow.yaml"), Columns::Utf16);
    client.shutdown();
}

#[test]
fn a_client_offering_utf8_gets_byte_columns() {
    let project = TempProject::new("utf8");
    project.write("weft.yaml", CONFIG);
    let mut client =
        LspClient::start_with(&project.path, json!({ "general": { "positionEncodings": ["utf-8", "utf-16"] } }));
    client.registration();
    assert_eq!(client.initialize_result["capabilities"]["positionEncoding"], "utf-8");
    edit_after_wide_characters(&mut client, &project.path.join("unicode.workflow.yaml"), Columns::Utf8);
    client.shutdown();
}

/// Typing a new stage one character at a time (with typos and backspaces), sent as fast as the
/// client can: the server ends with exactly the client's text, and its last publish is for it.
#[test]
fn a_burst_of_500_single_character_edits() {
    let project = TempProject::new("burst");
    project.write("weft.yaml", CONFIG);
    let mut client = LspClient::start(&project.path);
    client.registration();
    let path = project.path.join("burst.workflow.yaml");
    let mut text = "workflow_id: burst\nstages:\n  - id: build\n    script: build_tool\n".to_owned();
    client.open(&path, &text);
    client.diagnostics(&path);

    // What gets typed: stages, each with a typo (`~`) that the next change deletes again, then a
    // stage that repeats the first id, then a comment that makes the count exactly 500.
    let block = |stage: usize| {
        let upstream = if stage == 0 { "build".to_owned() } else { format!("s{}", stage - 1) };
        format!("  - id: s{stage}~\n    script: test_tool\n    depends_on: [{upstream}]\n")
    };
    let duplicate = "  - id: s0\n    script: test_tool\n";
    let cost = |typed: &str| typed.chars().count() + typed.matches('~').count();
    let mut typed = String::new();
    let mut stage = 0;
    while cost(&typed) + cost(&block(stage)) + duplicate.len() + 3 <= 500 {
        typed.push_str(&block(stage));
        stage += 1;
    }
    typed.push_str(duplicate);
    let filler = 500 - cost(&typed);
    typed.push_str(&format!("#{}\n", "x".repeat(filler - 2)));
    assert_eq!(cost(&typed), 500);

    let mut version = 1;
    let mut changes = 0;
    for c in typed.chars() {
        let end = text.len();
        version += 1;
        changes += 1;
        let mut buffer = [0; 4];
        edit(&mut client, &path, version, &mut text, end..end, c.encode_utf8(&mut buffer), Columns::Utf16);
        if c == '~' {
            version += 1;
            changes += 1;
            edit(&mut client, &path, version, &mut text, end..end + 1, "", Columns::Utf16);
        }
    }
    assert_eq!(changes, 500);
    assert!(!text.contains('~'));

    let published = settled_diagnostics(&mut client, &path, version);
    let duplicates: Vec<&str> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "duplicate-id")
        .map(|d| covered(&text, &d["range"], Columns::Utf16))
        .collect();
    assert_eq!(duplicates, ["s0"], "{published}\n{text}");

    // The outline is the final text's: every stage id, in order.
    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": text_document(&path) }));
    let ids: Vec<&str> =
        symbols[0]["children"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> =
        text.lines().filter_map(|line| line.strip_prefix("  - id: ")).map(|id| id.trim_end()).collect();
    assert_eq!(ids, expected);
    // And completion sees the last stage typed: a new stage may depend on it.
    let last_id = format!("s{}", stage - 1);
    let (marked, position) = cursor(&format!("{text}    depends_on: [$0]\n"));
    version += 1;
    client.change_full(&path, version, &marked);
    let result = client.request("textDocument/completion", at(&path, &position));
    assert!(result["items"].as_array().unwrap().iter().any(|item| item["label"] == last_id), "{result}");
    settled_diagnostics(&mut client, &path, version);
    client.shutdown();
}

/// Each request is cancelled right after it is sent: the answer is its result or `-32800`, never
/// both and never none. Cancelling a request that was answered already changes nothing.
#[test]
fn cancelled_requests_get_exactly_one_response() {
    let project = TempProject::new("cancel");
    project.write("weft.yaml", CONFIG);
    let path = project.write("demo.workflow.yaml", UNICODE);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, UNICODE);
    client.diagnostics(&path);

    let position = position_at_text(UNICODE, "depends_on: [bi");
    let mut ids = Vec::new();
    for _ in 0..20 {
        let id = client.send_request("textDocument/completion", at(&path, &position));
        client.notify("$/cancelRequest", json!({ "id": id }));
        ids.push(id);
    }
    let (mut canceled, mut answered) = (0, 0);
    for id in ids {
        let response = client.response(id);
        match response.get("error") {
            Some(error) => {
                assert_eq!(error["code"], -32800, "{response}");
                canceled += 1;
            }
            None => {
                assert!(response["result"]["items"].is_array(), "{response}");
                answered += 1;
            }
        }
    }
    assert_eq!(canceled + answered, 20);
    // Late cancellations, and one for an id that was never sent.
    let id = client.send_request("textDocument/hover", at(&path, &position));
    client.response(id);
    client.notify("$/cancelRequest", json!({ "id": id }));
    client.notify("$/cancelRequest", json!({ "id": 9999 }));
    client.notify("$/cancelRequest", json!({ "id": "not-a-request" }));
    barrier(&mut client);
    client.shutdown();
}

fn position_at_text(text: &str, needle: &str) -> Value {
    position_of(text, text.find(needle).unwrap() + needle.len(), Columns::Utf16)
}

/// A burst of every kind of request, bad ones among them, sent without waiting: one response each,
/// with the right error for the bad ones, and a panic in one handler does not stop the others.
#[test]
fn every_request_gets_exactly_one_response() {
    let project = TempProject::new("one-response");
    project.write("weft.yaml", CONFIG);
    let path = project.write("demo.workflow.yaml", UNICODE);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, UNICODE);
    client.diagnostics(&path);

    let position = position_at_text(UNICODE, "id: bu");
    let document = json!({ "textDocument": text_document(&path) });
    let whole = json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 5, "character": 0 } });
    let mut references = at(&path, &position);
    references["context"] = json!({ "includeDeclaration": true });
    let mut rename = at(&path, &position);
    rename["newName"] = json!("compile");
    let mut bad_rename = at(&path, &position);
    bad_rename["newName"] = json!("no spaces allowed");
    let unopened =
        json!({ "textDocument": { "uri": uri(&project.path.join("nowhere.workflow.yaml")) }, "position": position });
    // `weft/debugPanic` exists in debug builds only (the profile the tests and the server share).
    const PANIC: i64 = if cfg!(debug_assertions) { -32603 } else { -32601 };
    let requests: Vec<(&str, Value, Option<i64>)> = vec![
        ("textDocument/completion", at(&path, &position), None),
        ("textDocument/hover", at(&path, &position), None),
        ("textDocument/definition", at(&path, &position), None),
        ("textDocument/references", references, None),
        ("textDocument/prepareRename", at(&path, &position), None),
        ("textDocument/rename", rename, None),
        ("textDocument/rename", bad_rename, Some(-32602)),
        ("weft/debugPanic", Value::Null, Some(PANIC)),
        ("textDocument/documentSymbol", document.clone(), None),
        ("workspace/symbol", json!({ "query": "" }), None),
        ("textDocument/foldingRange", document.clone(), None),
        ("textDocument/inlayHint", json!({ "textDocument": text_document(&path), "range": whole }), None),
        ("textDocument/documentLink", document.clone(), None),
        (
            "textDocument/codeAction",
            json!({ "textDocument": text_document(&path), "range": whole, "context": { "diagnostics": [] } }),
            None,
        ),
        ("textDocument/semanticTokens/full", document.clone(), Some(-32601)),
        ("weft/noSuchMethod", json!({}), Some(-32601)),
        ("textDocument/hover", json!({ "textDocument": 42 }), Some(-32602)),
        ("textDocument/hover", unopened, None),
        ("weft/debugPanic", Value::Null, Some(PANIC)),
        ("textDocument/hover", at(&path, &position), None),
    ];
    // Unknown notifications are ignored, without a response.
    client.notify("weft/someNotification", json!({}));
    client.notify("$/setTrace", json!({ "value": "off" }));
    let ids: Vec<i64> =
        requests.iter().map(|(method, params, _)| client.send_request(method, params.clone())).collect();
    for (id, (method, _, error)) in ids.into_iter().zip(&requests) {
        let response = client.response(id);
        match error {
            Some(code) => assert_eq!(response["error"]["code"], *code, "{method}: {response}"),
            None => assert!(response.get("error").is_none(), "{method}: {response}"),
        }
    }
    let hover = client.request("textDocument/hover", at(&path, &position));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("`build`"));
    client.shutdown();
}

#[test]
fn requests_after_shutdown_are_refused_and_exit_ends_the_process() {
    let project = TempProject::new("shutdown");
    let mut client = LspClient::start(&project.path);
    client.registration();
    assert!(client.request("shutdown", Value::Null).is_null());
    let id = client.send_request("workspace/symbol", json!({ "query": "" }));
    let response = client.response(id);
    assert_eq!(response["error"]["code"], -32600, "{response}");
    let status = client.exit();
    assert_eq!(status.code(), Some(0));
}

/// The protocol says a server that gets `exit` without `shutdown` before it exits with code 1.
#[test]
fn exit_without_shutdown_is_an_error_exit() {
    let project = TempProject::new("exit-early");
    let mut client = LspClient::start(&project.path);
    client.registration();
    let status = client.exit();
    assert_eq!(status.code(), Some(1));
}

/// A CRLF file: lines end at `\r\n` and ranges never cover the `\r`.
#[test]
fn crlf_line_endings() {
    let project = TempProject::new("crlf");
    project.write("weft.yaml", CONFIG);
    let path = project.path.join("crlf.workflow.yaml");
    let mut client = LspClient::start(&project.path);
    client.registration();
    let mut text = UNICODE.replace('\n', "\r\n");
    client.open(&path, &text);
    let published = client.diagnostics(&path);
    assert_eq!(only_diagnostic(&text, &published, Columns::Utf16), ("unknown-dependency".into(), "biuld"));
    let start = text.find("biuld").unwrap();
    edit(&mut client, &path, 2, &mut text, start..start + 5, "bogus", Columns::Utf16);
    let published = client.diagnostics(&path);
    assert_eq!(only_diagnostic(&text, &published, Columns::Utf16), ("unknown-dependency".into(), "bogus"));
    assert_eq!(codes(&published), ["unknown-dependency"]);
    client.shutdown();
}
