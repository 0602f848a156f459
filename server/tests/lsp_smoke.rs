//! End-to-end checks of `weft lsp` over real JSON-RPC on stdio.

mod common;

use common::lsp_client::{cursor, uri, LspClient, TempProject};
use serde_json::{json, Value};

const CONFIG: &str = "plugins:\n  build_tool:\n    description: Builds things\n    command: make\n  test_tool:\n    command: make\n    args: [test]\n";

fn codes(params: &Value) -> Vec<(String, u64, u64)> {
    params["diagnostics"]
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
        .collect()
}

#[test]
fn diagnostics_completion_and_edits() {
    let project = TempProject::new("smoke");
    project.write("weft.yaml", CONFIG);
    let text = "workflow_id: demo\nstages:\n  - id: build\n    script: build_tool\n  - id: test\n    script: test_tool\n    depends_on: [biuld]\n";
    let path = project.write("demo.workflow.yaml", text);
    let mut client = LspClient::start(&project.path);
    let registration = client.registration();
    assert_eq!(registration["registrations"][0]["method"], "workspace/didChangeWatchedFiles");
    client.open(&path, text);
    let published = client.diagnostics(&path);
    assert_eq!(published["version"], 1);
    assert_eq!(codes(&published), [("unknown-dependency".to_owned(), 6, 17)]);

    let (marked, position) = cursor("workflow_id: demo\nstages:\n  - id: build\n    script: build_tool\n  - id: test\n    script: test_tool\n    depends_on: [bu$0]\n");
    client.change_full(&path, 2, &marked);
    let completion = client
        .request("textDocument/completion", json!({ "textDocument": { "uri": uri(&path) }, "position": position }));
    let labels: Vec<&str> =
        completion["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["build"]);
    let edit = &completion["items"][0]["textEdit"];
    assert_eq!(
        edit["range"],
        json!({ "start": { "line": 6, "character": 17 }, "end": { "line": 6, "character": 19 } })
    );
    let published = client.diagnostics(&path);
    assert_eq!(published["version"], 2);
    assert_eq!(codes(&published), [("unknown-dependency".to_owned(), 6, 17)]);
    client.shutdown();
}

#[test]
fn a_panic_in_a_handler_is_an_error_response_and_the_server_goes_on() {
    let project = TempProject::new("panic");
    project.write("weft.yaml", CONFIG);
    let mut client = LspClient::start(&project.path);
    client.registration();
    let id = client.send_request("weft/debugPanic", Value::Null);
    let response = client.response(id);
    assert_eq!(response["error"]["code"], -32603, "{response}");
    let symbols = client.request("workspace/symbol", json!({ "query": "build" }));
    assert_eq!(symbols[0]["name"], "build_tool");
    client.shutdown();
}
