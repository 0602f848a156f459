//! The run views of the language server over real JSON-RPC: lenses and inlay hints show the history
//! kept in memory (read again only when the history changed, `lsp/history.rs`), and a run's
//! `$/progress` follows the client's answer to the creation of its token.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::lsp_client::{uri, LspClient, TempProject};
use serde_json::{json, Value};

/// A project with `views.plan.yaml` holding `text`, and a client that has it open and its first
/// diagnostics read.
fn opened(name: &str, text: &str) -> (TempProject, std::path::PathBuf, LspClient) {
    let project = TempProject::new(name);
    let path = project.write("views.plan.yaml", text);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, text);
    client.diagnostics(&path);
    (project, path, client)
}

/// Asks `ask` every 50 ms until it answers `Ok`, for at most 20 s; its last `Err` says what it saw.
fn poll<T, E: std::fmt::Debug>(what: &str, mut ask: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ask() {
            Ok(value) => return value,
            Err(seen) => assert!(Instant::now() < deadline, "waited in vain for {what}: {seen:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lens_titles(client: &mut LspClient, path: &std::path::Path) -> Vec<(u64, String)> {
    let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(path) } }));
    lenses
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["range"]["start"]["line"].as_u64().unwrap(), l["command"]["title"].as_str().unwrap().to_owned()))
        .collect()
}

fn hint_labels(client: &mut LspClient, path: &std::path::Path) -> Vec<String> {
    let range = json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 99, "character": 0 } });
    let hints =
        client.request("textDocument/inlayHint", json!({ "textDocument": { "uri": uri(path) }, "range": range }));
    hints.as_array().unwrap().iter().map(|h| h["label"].as_str().unwrap().to_owned()).collect()
}

fn weft(project: &TempProject, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_weft")).args(args).current_dir(&project.path).output().expect("weft runs")
}

#[test]
fn lenses_and_hints_follow_runs_made_in_a_terminal_and_a_history_removed() {
    let text = "plan_id: views\nsteps:\n  - id: hello\n    run: echo hello\n  - id: broken\n    run: exit 3\n    depends_on: [hello]\n";
    let (project, path, mut client) = opened("views-terminal", text);
    let before = lens_titles(&mut client, &path);
    assert!(!before.iter().any(|(_, t)| t.starts_with('✓') || t.starts_with('✗')), "{before:?}");
    assert!(!hint_labels(&mut client, &path).iter().any(|l| l.contains('✓')));

    // A run in a terminal commits to the history the server already has open.
    assert_eq!(weft(&project, &["run", "views.plan.yaml"]).status.code(), Some(1));
    let after = lens_titles(&mut client, &path);
    assert!(after.iter().any(|(line, t)| *line == 2 && t.starts_with('✓')), "{after:?}");
    assert!(after.iter().any(|(line, t)| *line == 4 && t.starts_with("✗ exit 3")), "{after:?}");
    assert!(after.contains(&(0, "⟳ Resume run 1 (1/2 done)".to_owned())), "{after:?}");
    // The failed step offers a retry (resuming its run); the one that succeeded does not.
    assert!(after.contains(&(4, "⟳ Retry".to_owned())), "{after:?}");
    assert!(!after.contains(&(2, "⟳ Retry".to_owned())), "{after:?}");
    let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(&path) } }));
    let retry = lenses.as_array().unwrap().iter().find(|l| l["command"]["title"] == "⟳ Retry").unwrap();
    assert_eq!(retry["command"]["command"], "weft.resume");
    assert_eq!(retry["command"]["arguments"], json!([uri(&path), 1]));
    let hints = hint_labels(&mut client, &path);
    assert!(hints.iter().any(|l| l.contains('✓')) && hints.iter().any(|l| l.contains("✗ exit 3")), "{hints:?}");

    // Asked again with nothing changed, the same answer (from memory).
    assert_eq!(lens_titles(&mut client, &path), after);

    // The history removed: nothing to show. A new one (another file, the same path): its runs.
    std::fs::remove_dir_all(project.path.join(".weft")).unwrap();
    let gone = lens_titles(&mut client, &path);
    assert!(!gone.iter().any(|(_, t)| t.starts_with('✓') || t.starts_with('⟳')), "{gone:?}");
    project.write("views.plan.yaml", &text.replace("exit 3", "echo fixed"));
    assert_eq!(weft(&project, &["run", "views.plan.yaml"]).status.code(), Some(0));
    let again = lens_titles(&mut client, &path);
    assert!(again.iter().any(|(line, t)| *line == 4 && t.starts_with('✓')), "{again:?}");
    assert!(
        !again.iter().any(|(_, t)| t.starts_with('⟳')),
        "a succeeded run leaves nothing to resume or retry: {again:?}"
    );
    client.take_unread();
    client.shutdown();
}

#[test]
fn a_run_going_in_another_engine_shows_resumable_once_that_engine_is_killed() {
    let text = "plan_id: views\nsteps:\n  - id: slow\n    run: sleep 3\n";
    let (project, path, mut client) = opened("views-killed", text);
    let mut engine = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["run", "views.plan.yaml"])
        .current_dir(&project.path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    poll("the run to show as running", || {
        let runs = client.request("weft/runs", json!({ "uri": uri(&path) }));
        (runs["runs"][0]["status"] == "running").then_some(()).ok_or(runs)
    });
    let titles = lens_titles(&mut client, &path);
    assert!(!titles.iter().any(|(_, t)| t.starts_with('⟳')), "a live run is not resumable: {titles:?}");
    // Killed, the engine writes nothing more; the server learns it from the run's lock.
    engine.kill().unwrap();
    engine.wait().unwrap();
    let titles = lens_titles(&mut client, &path);
    assert!(titles.contains(&(0, "⟳ Resume run 1 (0/1 done)".to_owned())), "{titles:?}");
    let runs = client.request("weft/runs", json!({ "uri": uri(&path) }));
    assert_eq!(runs["runs"][0]["status"], "interrupted", "{runs}");
    // What the dead engine left running is stopped by `weft cancel`.
    assert_eq!(weft(&project, &["cancel", "1"]).status.code(), Some(0));
    // A history being created while the editor looks is not reported as unreadable.
    let notices: Vec<Value> =
        client.take_unread().into_iter().filter(|m| m["method"] == "window/showMessage").collect();
    assert!(notices.is_empty(), "{notices:?}");
    client.shutdown();
}

/// Runs a two-step plan from the editor with a client that shows progress, answering the creation
/// of the progress token with `answer` once the run has started; returns every `$/progress` value.
fn progress_of_a_run(name: &str, answer: Result<Value, (i64, &str)>) -> Vec<Value> {
    let project = TempProject::new(name);
    let text = "plan_id: progress\nsteps:\n  - id: first\n    run: sleep 0.3\n  - id: second\n    run: echo done\n    depends_on: [first]\n";
    let path = project.write("progress.plan.yaml", text);
    let mut client = LspClient::start_with(&project.path, json!({ "window": { "workDoneProgress": true } }));
    client.registration();
    client.open(&path, text);
    client.diagnostics(&path);
    let result =
        client.request("workspace/executeCommand", json!({ "command": "weft.runWorkflow", "arguments": [uri(&path)] }));
    assert!(result["runId"].is_i64(), "{result}");
    let create = client.server_request("window/workDoneProgress/create");
    let token = create["params"]["token"].clone();
    assert!(token.as_str().unwrap().starts_with("weft-run-1-"), "{create}");
    // No progress is sent for a token the client has not created yet.
    let first = client.notification("weft/runEvent");
    assert_eq!(first["event"]["kind"], "run_started");
    let mut seen = client.take_unread();
    assert!(!seen.iter().any(|m| m["method"] == "$/progress"), "{seen:?}");
    client.reply(&create, answer);
    let finished = |seen: &[Value]| {
        seen.iter().any(|m| m["method"] == "weft/runEvent" && m["params"]["event"]["kind"] == "run_finished")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !finished(&seen) {
        assert!(Instant::now() < deadline, "the run did not finish: {seen:?}");
        std::thread::sleep(Duration::from_millis(50));
        seen.extend(client.take_unread());
    }
    // The run's end follows its last event.
    std::thread::sleep(Duration::from_millis(300));
    seen.extend(client.take_unread());
    let progress: Vec<Value> = seen
        .into_iter()
        .filter(|message| message["method"] == "$/progress")
        .inspect(|message| assert_eq!(message["params"]["token"], token))
        .map(|message| message["params"]["value"].clone())
        .collect();
    client.shutdown();
    progress
}

#[test]
fn a_runs_progress_begins_once_the_client_has_created_its_token() {
    let progress = progress_of_a_run("progress-created", Ok(Value::Null));
    let kinds: Vec<&str> = progress.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"begin"), "{progress:?}");
    assert_eq!(kinds.last(), Some(&"end"), "{progress:?}");
    assert_eq!(progress[0]["title"], "weft run 1");
    assert_eq!(progress.last().unwrap()["message"], "run 1 succeeded");
}

#[test]
fn a_client_that_refuses_the_token_gets_no_progress_and_the_run_goes_on() {
    let progress = progress_of_a_run("progress-refused", Err((-32603, "no progress here")));
    assert!(progress.is_empty(), "{progress:?}");
}

/// Executes a lens's command and waits for the `weft/runEvent`s of the work it started up to its
/// end (`run_finished`, or the last `rollback_*` event); returns the kinds seen.
fn execute_lens(client: &mut LspClient, lens: &Value, last: &str) -> Vec<String> {
    let command = &lens["command"];
    let result = client.request(
        "workspace/executeCommand",
        json!({ "command": command["command"], "arguments": command["arguments"] }),
    );
    assert!(result["runId"].is_i64(), "{result}");
    let mut kinds = Vec::new();
    loop {
        let event = client.notification("weft/runEvent");
        let kind = event["event"]["kind"].as_str().unwrap().to_owned();
        kinds.push(kind.clone());
        if kind == last {
            return kinds;
        }
    }
}

fn lens_titled(client: &mut LspClient, path: &std::path::Path, line: u64, title: &str) -> Value {
    let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(path) } }));
    let found = lenses
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["range"]["start"]["line"] == line && l["command"]["title"] == title)
        .cloned();
    found.unwrap_or_else(|| panic!("no lens {title:?} on line {line}: {lenses}"))
}

#[test]
fn skip_and_continue_from_a_lens_records_the_step_skipped_and_runs_its_dependents() {
    let text = "plan_id: views\nsteps:\n  - id: flaky\n    run: exit 3\n  - id: after\n    run: echo after > after.txt\n    depends_on: [flaky]\n";
    let (project, path, mut client) = opened("views-skip", text);
    assert_eq!(weft(&project, &["run", "views.plan.yaml"]).status.code(), Some(1));
    let titles = lens_titles(&mut client, &path);
    // Nothing in this plan has a rollback action: no "Roll back".
    assert!(!titles.iter().any(|(_, t)| t == "↺ Roll back"), "{titles:?}");
    let skip = lens_titled(&mut client, &path, 2, "⤼ Skip and continue");
    assert_eq!(skip["command"]["command"], "weft.skip");
    assert_eq!(skip["command"]["arguments"], json!([uri(&path), "flaky", 1]));
    let kinds = execute_lens(&mut client, &skip, "run_finished");
    assert!(kinds.contains(&"step_overridden".to_owned()), "{kinds:?}");
    assert_eq!(std::fs::read_to_string(project.path.join("after.txt")).unwrap(), "after\n");
    let runs = client.request("weft/runs", json!({ "uri": uri(&path) }));
    assert_eq!(runs["runs"][0]["status"], "succeeded", "{runs}");
    assert_eq!(runs["runs"][0]["steps"][0]["status"], "skipped", "{runs}");
    client.take_unread();
    client.shutdown();
}

#[test]
fn roll_back_from_a_lens_undoes_the_completed_stages() {
    let text = "plan_id: views\nsteps:\n  - id: setup\n    run: echo made > made.txt\n    rollback: { run: 'echo undone > undone.txt' }\n  - id: broken\n    run: exit 3\n    depends_on: [setup]\n";
    let (project, path, mut client) = opened("views-rollback", text);
    assert_eq!(weft(&project, &["run", "views.plan.yaml"]).status.code(), Some(1));
    let rollback = lens_titled(&mut client, &path, 5, "↺ Roll back");
    assert_eq!(rollback["command"]["arguments"], json!([uri(&path), 1]));
    let kinds = execute_lens(&mut client, &rollback, "rollback_step");
    assert!(kinds.contains(&"rollback_started".to_owned()), "{kinds:?}");
    poll("setup to show rolled back", || {
        let titles = lens_titles(&mut client, &path);
        titles.iter().any(|(line, t)| *line == 2 && t.starts_with("↺ rolled back")).then_some(()).ok_or(titles)
    });
    assert_eq!(std::fs::read_to_string(project.path.join("undone.txt")).unwrap(), "undone\n");
    client.take_unread();
    client.shutdown();
}

const APPROVAL_PLAN: &str = "plan_id: views\nsteps:\n  - id: build\n    run: echo built\n  - id: gate\n    approval: { prompt: \"Deploy?\" }\n    depends_on: [build]\n  - id: deploy\n    run: echo deployed > deployed.txt\n    depends_on: [gate]\n";

#[test]
fn approve_from_a_lens_lets_a_run_from_the_editor_go_on() {
    let (project, path, mut client) = opened("views-approve", APPROVAL_PLAN);
    let result =
        client.request("workspace/executeCommand", json!({ "command": "weft.runWorkflow", "arguments": [uri(&path)] }));
    let run = result["runId"].as_i64().unwrap();
    loop {
        let event = client.notification("weft/runEvent");
        if event["event"]["kind"] == "step_waiting" {
            assert_eq!(event["event"]["step"], "gate");
            assert_eq!(event["event"]["data"]["prompt"], "Deploy?");
            break;
        }
    }
    let titles = lens_titles(&mut client, &path);
    for title in ["⏸ waiting for approval", "✓ Approve", "✗ Reject"] {
        assert!(titles.contains(&(4, title.to_owned())), "{title}: {titles:?}");
    }
    // A rejection needs its reason.
    let id = client.send_request(
        "workspace/executeCommand",
        json!({ "command": "weft.reject", "arguments": [uri(&path), "gate", run] }),
    );
    assert_eq!(client.response(id)["error"]["code"], -32602);
    let approve = lens_titled(&mut client, &path, 4, "✓ Approve");
    assert_eq!(approve["command"]["arguments"], json!([uri(&path), "gate", run]));
    let kinds = execute_lens(&mut client, &approve, "run_finished");
    assert!(kinds.contains(&"step_approved".to_owned()), "{kinds:?}");
    assert_eq!(std::fs::read_to_string(project.path.join("deployed.txt")).unwrap(), "deployed\n");
    let runs = client.request("weft/runs", json!({ "uri": uri(&path) }));
    assert_eq!(runs["runs"][0]["status"], "succeeded", "{runs}");
    // The gate ran nothing: its result lens says who approved it.
    let by = weft::engine::who_am_i();
    let titles = lens_titles(&mut client, &path);
    assert!(titles.contains(&(4, format!("✓ approved by {by}"))), "{titles:?}");
    client.take_unread();
    client.shutdown();
}

#[test]
fn reject_from_a_lens_a_step_waiting_in_a_terminals_run() {
    let (project, path, mut client) = opened("views-reject", APPROVAL_PLAN);
    let mut terminal = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["run", "views.plan.yaml"])
        .current_dir(&project.path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reject = poll("a Reject lens", || {
        let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(&path) } }));
        let found = lenses.as_array().unwrap().iter().find(|l| l["command"]["title"] == "✗ Reject").cloned();
        found.ok_or(lenses)
    });
    let mut arguments = reject["command"]["arguments"].as_array().unwrap().clone();
    arguments.push(json!("not today"));
    let result =
        client.request("workspace/executeCommand", json!({ "command": "weft.reject", "arguments": arguments }));
    assert_eq!(result["runId"], 1);
    let status = terminal.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let runs = client.request("weft/runs", json!({ "uri": uri(&path) }));
    let gate = &runs["runs"][0]["steps"][1];
    assert_eq!(gate["status"], "failed", "{runs}");
    assert!(gate["reason"].as_str().unwrap().contains("not today"), "{runs}");
    assert!(!project.path.join("deployed.txt").exists());
    client.take_unread();
    client.shutdown();
}
