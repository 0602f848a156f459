//! A failure seen before says so in the editor (SPEC §9): the diagnostic of a step that failed in
//! a run from a code lens names how often its fingerprint was seen before, since when and in which
//! run first.

mod common;

use common::lsp_client::{uri, LspClient, TempProject};
use serde_json::json;

#[test]
fn a_failed_step_seen_before_says_so_in_its_diagnostic() {
    let project = TempProject::new("failure-seen");
    let text = "plan_id: seen\nsteps:\n  - id: fetch\n    run: 'echo \"curl: (6) Could not resolve host: artifacts.internal\" >&2; exit 6'\n";
    let path = project.write("seen.plan.yaml", text);
    // The first failure, from a terminal.
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["run", "seen.plan.yaml"])
        .current_dir(&project.path)
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("run 1"));

    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, text);
    let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(&path) } }));
    let run = lenses[0]["command"].clone();
    assert_eq!(run["title"], "▶ Run plan", "{lenses}");
    client.request("workspace/executeCommand", json!({ "command": run["command"], "arguments": run["arguments"] }));
    let message = loop {
        let published = client.diagnostics(&path);
        if let Some(diagnostic) = published["diagnostics"].as_array().unwrap().first() {
            assert_eq!(diagnostic["code"], "step-failed");
            break diagnostic["message"].as_str().unwrap().to_owned();
        }
    };
    let lines: Vec<&str> = message.lines().collect();
    assert!(lines[0].starts_with("`fetch` failed"), "{message}");
    assert!(lines[1].starts_with("this failure was seen once before, since "), "{message}");
    assert!(lines[1].contains("(first in run 1) · v1:"), "{message}");
    assert!(message.contains("Could not resolve host"), "{message}");
}
