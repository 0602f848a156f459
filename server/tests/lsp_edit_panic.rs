//! A panic while a `didChange` is applied must not leave the document half-edited: the server keeps
//! the text and version from before that change, says so, applies no incremental edit until a full
//! text brings it level with the client again, and goes on serving. A panic in any other handler
//! that changes state stops the server, loudly. The panics are injected through
//! `WEFT_DEBUG_PANIC_ON_EDIT` (debug builds only): a content change or an opened document whose
//! text is exactly that marker panics while it is applied.

mod common;

use common::lsp_client::{uri, LspClient, TempProject};
use serde_json::{json, Value};

const CONFIG: &str = "plugins:\n  build_tool:\n    command: make\n  test_tool:\n    command: make\n    args: [test]\n";
const CONFIG_WITHOUT_TEST_TOOL: &str = "plugins:\n  build_tool:\n    command: make\n";
const TEXT: &str = "workflow_id: demo\nstages:\n  - id: build\n    script: build_tool\n  - id: test\n    script: test_tool\n    depends_on: [biuld]\n";
const MARKER: &str = "# weft-debug-panic\n";

fn codes(params: &Value) -> Vec<(String, u64, u64)> {
    let mut codes: Vec<(String, u64, u64)> = params["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_owned(),
                d["range"]["start"]["line"].as_u64().unwrap(),
                d["range"]["start"]["character"].as_u64().unwrap(),
            )
        })
        .collect();
    codes.sort();
    codes
}

fn range(start: (u32, u32), end: (u32, u32)) -> Value {
    json!({ "start": { "line": start.0, "character": start.1 }, "end": { "line": end.0, "character": end.1 } })
}

#[test]
fn a_panic_while_an_edit_is_applied_leaves_the_document_as_it_was_before_that_edit() {
    let project = TempProject::new("edit-panic");
    let config = project.write("weft.yaml", CONFIG);
    let path = project.write("demo.workflow.yaml", TEXT);
    let mut client = LspClient::start_with_environment(
        &[project.path.as_path()],
        json!({}),
        &[("WEFT_DEBUG_PANIC_ON_EDIT", MARKER)],
    );
    client.registration();
    client.open(&path, TEXT);
    let published = client.diagnostics(&path);
    assert_eq!(published["version"], 1);
    assert_eq!(codes(&published), [("unknown-dependency".to_owned(), 6, 17)]);

    // Version 2: the first change fixes `biuld`, the second panics while it is applied. Neither
    // may be kept, and the version stays 1.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri(&path), "version": 2 },
            "contentChanges": [
                { "range": range((6, 17), (6, 22)), "text": "build" },
                { "range": range((0, 0), (0, 0)), "text": MARKER },
            ]
        }),
    );
    // Version 3 is an incremental edit of the client's text, which the server no longer has: it
    // must not be applied to the text the server kept.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri(&path), "version": 3 },
            "contentChanges": [{ "range": range((8, 0), (8, 0)), "text": "# after\n" }]
        }),
    );
    // A change on disk to the project config makes the server publish the workflow's diagnostics
    // again: they are those of the text and version from before the failed edit.
    std::fs::write(&config, CONFIG_WITHOUT_TEST_TOOL).unwrap();
    client.notify("workspace/didChangeWatchedFiles", json!({ "changes": [{ "uri": uri(&config), "type": 2 }] }));
    let published = client.diagnostics(&path);
    assert_eq!(
        published["version"], 1,
        "the failed edit (or an incremental edit after it) advanced the version: {published}"
    );
    assert_eq!(
        codes(&published),
        [("missing-plugin".to_owned(), 5, 12), ("unknown-dependency".to_owned(), 6, 17)],
        "the diagnostics are not those of the text before the failed edit: {published}"
    );
    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri(&path) } }));
    let names: Vec<&str> = symbols
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|symbol| symbol["children"].as_array().into_iter().flatten().chain([symbol]))
        .filter_map(|symbol| symbol["name"].as_str())
        .collect();
    assert!(names.contains(&"build") && names.contains(&"test"), "{symbols}");

    // The user is told that the server's copy of the file is behind.
    let message = client.notification("window/showMessage");
    assert_eq!(message["type"], 1, "{message}");
    assert!(message["message"].as_str().unwrap().contains("demo.workflow.yaml"), "{message}");

    // The client's full text brings the server level again, at the client's version.
    let client_text = format!("{MARKER}{}# after\n", TEXT.replace("[biuld]", "[build]"));
    client.change_full(&path, 4, &client_text);
    let published = client.diagnostics(&path);
    assert_eq!(published["version"], 4);
    assert_eq!(codes(&published), [("missing-plugin".to_owned(), 6, 12)]);

    // Incremental edits apply again from there.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri(&path), "version": 5 },
            "contentChanges": [{ "range": range((7, 17), (7, 22)), "text": "biuld" }]
        }),
    );
    let published = client.diagnostics(&path);
    assert_eq!(published["version"], 5);
    assert_eq!(codes(&published), [("missing-plugin".to_owned(), 6, 12), ("unknown-dependency".to_owned(), 7, 17)]);
    client.shutdown();
}

#[test]
fn a_panic_in_another_state_change_stops_the_server_loudly() {
    let project = TempProject::new("open-panic");
    project.write("weft.yaml", CONFIG);
    let path = project.write("demo.workflow.yaml", TEXT);
    let mut client = LspClient::start_with_environment(
        &[project.path.as_path()],
        json!({}),
        &[("WEFT_DEBUG_PANIC_ON_EDIT", MARKER)],
    );
    client.registration();
    // `didOpen` changes state as it goes: the server says why it stops, and stops with status 1
    // rather than serve from half-changed state.
    client.open(&path, MARKER);
    let shown = client.notification("window/showMessage");
    assert_eq!(shown["type"], 1, "{shown}");
    let message = shown["message"].as_str().unwrap();
    assert!(message.contains("weft stopped") && message.contains("textDocument/didOpen"), "{shown}");
    let logged = client.notification("window/logMessage");
    assert_eq!(logged["message"], shown["message"]);
    let status = client.exited();
    assert_eq!(status.code(), Some(1), "{status}");
}
