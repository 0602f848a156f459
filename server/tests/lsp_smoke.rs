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

fn lens_titles(lenses: &Value) -> Vec<(u64, String)> {
    lenses
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["range"]["start"]["line"].as_u64().unwrap(), l["command"]["title"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn a_run_from_a_code_lens_reports_events_results_and_a_failure_diagnostic() {
    let project = TempProject::new("lens-run");
    let text = "plan_id: lens\nsteps:\n  - id: hello\n    run: echo hello\n  - id: broken\n    run: echo boom >&2; exit 3\n    depends_on: [hello]\n";
    let path = project.write("lens.plan.yaml", text);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, text);
    assert!(codes(&client.diagnostics(&path)).is_empty());
    let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(&path) } }));
    assert_eq!(
        lens_titles(&lenses),
        [
            (0, "▶ Run plan".to_owned()),
            (2, "▶ Run step".to_owned()),
            (4, "▶ Run step".to_owned()),
            (4, "▶ Run with dependencies".to_owned())
        ]
    );
    let run = lenses[0]["command"].clone();
    let result =
        client.request("workspace/executeCommand", json!({ "command": run["command"], "arguments": run["arguments"] }));
    let run_id = result["runId"].as_i64().unwrap();
    let mut kinds = Vec::new();
    loop {
        let event = client.notification("weft/runEvent");
        assert_eq!(event["uri"], uri(&path));
        assert_eq!(event["event"]["run"], run_id);
        let kind = event["event"]["kind"].as_str().unwrap().to_owned();
        kinds.push(kind.clone());
        if kind == "run_finished" {
            assert_eq!(event["event"]["data"]["status"], "failed");
            break;
        }
    }
    assert!(kinds.contains(&"step_succeeded".to_owned()) && kinds.contains(&"step_failed".to_owned()), "{kinds:?}");
    // The failed step gets a diagnostic with its exit code and stderr, apart from the static ones.
    let published = loop {
        let published = client.diagnostics(&path);
        if !published["diagnostics"].as_array().unwrap().is_empty() {
            break published;
        }
    };
    let diagnostic = &published["diagnostics"][0];
    assert_eq!(diagnostic["source"], "weft run");
    assert_eq!(diagnostic["code"], "step-failed");
    assert_eq!(diagnostic["range"]["start"], json!({ "line": 4, "character": 8 }));
    let message = diagnostic["message"].as_str().unwrap();
    assert!(message.contains("exit 3") && message.contains("boom"), "{message}");
    let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(&path) } }));
    let titles = lens_titles(&lenses);
    assert!(titles.contains(&(0, format!("⟳ Resume run {run_id} (1/2 done)"))), "{titles:?}");
    assert!(titles.iter().any(|(line, title)| *line == 2 && title.starts_with("✓")), "{titles:?}");
    assert!(
        titles.contains(&(4, "✗ exit 3 · 0 ms".to_owned()))
            || titles.iter().any(|(line, t)| *line == 4 && t.starts_with("✗ exit 3")),
        "{titles:?}"
    );
    // The history is in the workspace's SQLite database.
    let store = weft::store::Store::open(&project.path).unwrap();
    assert_eq!(store.run(run_id).unwrap().unwrap().status, "failed");
    client.shutdown();
}

#[test]
fn completion_at_the_start_of_a_misspelt_id_filters_by_what_stands_before_the_cursor() {
    let project = TempProject::new("completion-word-start");
    project.write("weft.yaml", CONFIG);
    let (text, position) = cursor(
        "workflow_id: demo\nstages:\n  - id: build\n    script: build_tool\n  - id: test\n    script: test_tool\n    depends_on: [$0biuld]\n",
    );
    let path = project.write("demo.workflow.yaml", &text);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, &text);
    client.diagnostics(&path);
    let completion = client
        .request("textDocument/completion", json!({ "textDocument": { "uri": uri(&path) }, "position": position }));
    let labels: Vec<&str> =
        completion["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["build"]);
    // The edit replaces the whole misspelt word.
    assert_eq!(completion["items"][0]["textEdit"]["range"]["end"], json!({ "line": 6, "character": 22 }));
    client.shutdown();
}
