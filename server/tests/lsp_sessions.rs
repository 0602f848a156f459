//! Sessions in the editor (SPEC §9) over real JSON-RPC: the lenses of a phase template ("▶ Start
//! session", "✓ Complete phase", "Complete with override"), the session commands run on threads
//! of their own, a diagnostic on the phase's id per failing check, and the refresh when a terminal
//! completes a phase while the server runs. The server never starts git: a hostile repository
//! configuration would leave a marker.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::lsp_client::{uri, LspClient, TempProject};
use serde_json::{json, Value};

const TEMPLATE: &str = "template_id: feature
phases:
  - id: intake
    goal: Understand the request
    artifacts:
      required: [\"docs/tasks/{task}/intake.md\"]
    validation:
      - \"artifacts.required.all_exist\"
    next_step: Write down the open questions
  - id: research
    goal: Research prior art
    artifacts:
      required: [\"docs/tasks/{task}/research.md\"]
  - id: close
    goal: Close the task
";

fn lenses(client: &mut LspClient, path: &Path) -> Vec<Value> {
    let result = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(path) } }));
    result.as_array().unwrap().clone()
}

/// Each lens as `line:character title`.
fn lens_titles(client: &mut LspClient, path: &Path) -> Vec<String> {
    lenses(client, path)
        .iter()
        .map(|l| {
            format!(
                "{}:{} {}",
                l["range"]["start"]["line"],
                l["range"]["start"]["character"],
                l["command"]["title"].as_str().unwrap()
            )
        })
        .collect()
}

fn hint_labels(client: &mut LspClient, path: &Path) -> Vec<String> {
    let range = json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 99, "character": 0 } });
    let hints =
        client.request("textDocument/inlayHint", json!({ "textDocument": { "uri": uri(path) }, "range": range }));
    hints.as_array().unwrap().iter().map(|h| h["label"].as_str().unwrap().to_owned()).collect()
}

fn execute(client: &mut LspClient, command: &str, arguments: Value) -> Value {
    let id = client.send_request("workspace/executeCommand", json!({ "command": command, "arguments": arguments }));
    client.response(id)
}

/// The next `window/showMessage`, as `(type, message)`.
fn shown(client: &mut LspClient) -> (u64, String) {
    let message = client.notification("window/showMessage");
    (message["type"].as_u64().unwrap(), message["message"].as_str().unwrap().to_owned())
}

/// Answers the server's requests that have arrived (lens and hint refreshes) and returns the
/// other messages, after a round trip.
fn settle(client: &mut LspClient) -> Vec<Value> {
    client.request("workspace/symbol", json!({ "query": "\u{1}none" }));
    let mut rest = Vec::new();
    for message in client.take_unread() {
        if message.get("id").is_some() && message.get("method").is_some() {
            client.reply(&message, Ok(Value::Null));
        } else {
            rest.push(message);
        }
    }
    rest
}

fn weft(project: &TempProject, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_weft")).args(args).current_dir(&project.path).output().expect("weft runs")
}

/// A repository whose configuration runs a program that leaves `marker` (git runs the fsmonitor
/// for `git status` and the like).
fn hostile_repository(project: &TempProject) -> PathBuf {
    let marker = project.path.join("fsmonitor-ran");
    let init =
        Command::new("git").args(["init", "-q"]).current_dir(&project.path).env("GIT_CONFIG_NOSYSTEM", "1").status();
    assert!(init.is_ok_and(|s| s.success()), "git init");
    let config_path = project.path.join(".git/config");
    let mut config = std::fs::read_to_string(&config_path).unwrap();
    config.push_str(&format!("[core]\n\tfsmonitor = touch '{}'\n", marker.display()));
    std::fs::write(&config_path, config).unwrap();
    // The configuration is live: plain git trips it.
    let _ = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&project.path)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output();
    assert!(marker.exists(), "plain `git status` runs the configured fsmonitor");
    std::fs::remove_file(&marker).unwrap();
    marker
}

#[test]
fn sessions_from_the_lenses_of_a_phase_template() {
    let project = TempProject::new("lsp-sessions");
    let marker = hostile_repository(&project);
    let path = project.write("feature.phases.yaml", TEMPLATE);
    let capabilities = json!({ "workspace": { "codeLens": { "refreshSupport": true } } });
    let mut client = LspClient::start_with(&project.path, capabilities);
    client.registration();
    client.open(&path, TEMPLATE);
    let first = client.diagnostics(&path);
    assert_eq!(first["diagnostics"], json!([]), "{first}");

    // No session: only Start, on `template_id`.
    assert_eq!(lens_titles(&mut client, &path), ["0:0 ▶ Start session"]);
    let start = lenses(&mut client, &path)[0].clone();
    assert_eq!(start["command"]["command"], "weft.startSession");
    assert_eq!(start["command"]["arguments"], json!([uri(&path)]));
    assert_eq!(hint_labels(&mut client, &path), ["1/3", "2/3", "3/3"]);
    assert!(!marker.exists(), "opening a template and asking for lenses ran git");

    // Start needs a task; an unsaved template is refused.
    let missing = execute(&mut client, "weft.startSession", json!([uri(&path)]));
    assert!(missing["error"]["message"].as_str().unwrap().contains("task id"), "{missing}");
    let bad = execute(&mut client, "weft.startSession", json!([uri(&path), "T 1"]));
    assert!(bad["error"]["message"].as_str().unwrap().contains("not a task id"), "{bad}");
    client.change_full(&path, 2, &format!("{TEMPLATE}# edited\n"));
    let unsaved = execute(&mut client, "weft.startSession", json!([uri(&path), "T-1"]));
    assert!(unsaved["error"]["message"].as_str().unwrap().contains("save"), "{unsaved}");
    client.change_full(&path, 3, TEMPLATE);
    settle(&mut client);

    // No session of the task yet: nothing to complete.
    let none = execute(&mut client, "weft.completePhase", json!([uri(&path), "T-1"]));
    assert!(
        none["error"]["message"].as_str().unwrap().contains("T-1 has no active session on feature.phases.yaml"),
        "{none}"
    );

    // Start: the command answers at once, the outcome is shown when the thread is done.
    let started = execute(&mut client, "weft.startSession", json!([uri(&path), "T-1"]));
    assert_eq!(started["result"], json!({ "task": "T-1" }), "{started}");
    let (kind, message) = shown(&mut client);
    assert_eq!(kind, 3, "{message}");
    assert_eq!(message, "T-1: session started — phase intake (1/3): Understand the request");
    settle(&mut client);
    let titles = lens_titles(&mut client, &path);
    assert_eq!(titles[0], "0:0 ▶ Start session");
    assert!(titles[1].starts_with("2:8 T-1: phase 1/3 active since "), "{titles:?}");
    assert_eq!(titles[2..], ["2:8 ✓ Complete phase (T-1)"]);
    let complete = lenses(&mut client, &path)[2].clone();
    assert_eq!(complete["command"]["command"], "weft.completePhase");
    assert_eq!(complete["command"]["arguments"], json!([uri(&path), "T-1"]));
    assert_eq!(hint_labels(&mut client, &path), ["1/3 · ▶ T-1", "2/3", "3/3"]);

    // Refused: a diagnostic per failing check on the phase's id, and the override lens.
    let refused = execute(&mut client, "weft.completePhase", json!([uri(&path), "T-1"]));
    assert_eq!(refused["result"], json!({ "task": "T-1" }), "{refused}");
    let (kind, message) = shown(&mut client);
    assert_eq!(kind, 2, "{message}");
    assert!(
        message.starts_with("T-1: intake refused: 2 checks failed: artifact docs/tasks/T-1/intake.md"),
        "{message}"
    );
    let published = client.diagnostics(&path);
    let diagnostics = published["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 2, "{published}");
    let intake = json!({ "start": { "line": 2, "character": 8 }, "end": { "line": 2, "character": 14 } });
    for diagnostic in diagnostics {
        assert_eq!(diagnostic["range"], intake, "{diagnostic}");
        assert_eq!(diagnostic["code"], "phase-check");
        assert_eq!(diagnostic["severity"], 2);
        assert_eq!(diagnostic["source"], "weft session");
    }
    assert_eq!(diagnostics[0]["message"], "T-1: artifact docs/tasks/T-1/intake.md is missing (or empty)");
    assert!(diagnostics[1]["message"].as_str().unwrap().starts_with("T-1: validation 1"), "{published}");
    settle(&mut client);
    assert_eq!(
        lens_titles(&mut client, &path)[1..],
        ["2:8 T-1: 2 checks failing", "2:8 ✓ Complete phase (T-1)", "2:8 Complete with override (T-1)"]
    );
    let with_override = lenses(&mut client, &path)[3].clone();
    assert_eq!(with_override["command"]["arguments"], json!([uri(&path), "T-1", true]));

    // Fixed: completes, the lens moves to the next phase, the diagnostics go.
    project.write("docs/tasks/T-1/intake.md", "# Intake\n");
    execute(&mut client, "weft.completePhase", json!([uri(&path), "T-1"]));
    let (kind, message) = shown(&mut client);
    assert_eq!((kind, message.as_str()), (3, "T-1: intake completed — next: research: Research prior art"));
    let cleared = client.diagnostics(&path);
    assert_eq!(cleared["diagnostics"], json!([]), "{cleared}");
    settle(&mut client);
    let titles = lens_titles(&mut client, &path);
    assert!(titles[1].starts_with("9:8 T-1: phase 2/3 active since "), "{titles:?}");
    assert_eq!(titles[2..], ["9:8 ✓ Complete phase (T-1)"]);
    assert_eq!(hint_labels(&mut client, &path), ["1/3 · ✓ T-1", "2/3 · ▶ T-1", "3/3"]);

    // An override needs a reason; with one it is recorded in the history.
    let no_reason = execute(&mut client, "weft.completePhase", json!([uri(&path), "T-1", true]));
    assert!(no_reason["error"]["message"].as_str().unwrap().contains("reason"), "{no_reason}");
    execute(&mut client, "weft.completePhase", json!([uri(&path), "T-1", true, "research is in the wiki"]));
    let (kind, message) = shown(&mut client);
    assert_eq!(kind, 3, "{message}");
    assert!(message.starts_with("T-1: research completed with override (1 check failed: artifact"), "{message}");
    assert!(message.ends_with("— next: close: Close the task"), "{message}");
    settle(&mut client);
    let status = weft(&project, &["session", "status", "T-1", "--format", "json"]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let status = status["sessions"][0].clone();
    let research = &status["phases"][1];
    assert_eq!(research["status"], "overridden", "{status}");
    assert_eq!(research["override"]["reason"], "research is in the wiki", "{status}");
    assert_eq!(research["override"]["failed_checks"], json!(["artifact docs/tasks/T-1/research.md"]), "{status}");

    // `weft/sessions` of the template, as the VS Code view reads it.
    let sessions = client.request("weft/sessions", json!({ "uri": uri(&path) }));
    let phases: Vec<(&str, &str)> = sessions["sessions"][0]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(phases, [("intake", "completed"), ("research", "overridden"), ("close", "active")]);

    // A terminal completes the last phase while the server runs: the lenses are refreshed.
    let completed = weft(&project, &["phase", "complete", "T-1"]);
    assert!(completed.status.success(), "{}", String::from_utf8_lossy(&completed.stderr));
    let since = Instant::now();
    let refresh = client.server_request("workspace/codeLens/refresh");
    // The server looks at the history about once a second.
    assert!(since.elapsed() < Duration::from_secs(5), "the refresh took {:?}", since.elapsed());
    client.reply(&refresh, Ok(Value::Null));
    let changed = client.notification("weft/sessionsChanged");
    assert_eq!(changed["workspace"], json!(project.path.display().to_string()));
    assert_eq!(
        lens_titles(&mut client, &path),
        ["0:0 ▶ Start session", "0:0 T-1: every phase is complete (weft session end T-1)"]
    );
    // Ended in a terminal: the template shows no session.
    assert!(weft(&project, &["session", "end", "T-1"]).status.success());
    let refresh = client.server_request("workspace/codeLens/refresh");
    client.reply(&refresh, Ok(Value::Null));
    client.notification("weft/sessionsChanged");
    assert_eq!(lens_titles(&mut client, &path), ["0:0 ▶ Start session"]);

    assert!(!marker.exists(), "the server, or the session it started, ran the repository's fsmonitor");
    settle(&mut client);
    client.shutdown();
}

#[test]
fn session_commands_are_off_when_runs_are() {
    let project = TempProject::new("lsp-sessions-off");
    let path = project.write("feature.phases.yaml", TEMPLATE);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "weft": { "runs": { "enabled": false } } } }),
    );
    client.open(&path, TEMPLATE);
    client.diagnostics(&path);
    assert_eq!(lens_titles(&mut client, &path), Vec::<String>::new());
    let refused = execute(&mut client, "weft.startSession", json!([uri(&path), "T-1"]));
    assert!(refused["error"]["message"].as_str().unwrap().contains("disabled"), "{refused}");
    assert!(!project.path.join(".weft").exists(), "nothing was started");
    settle(&mut client);
    client.shutdown();
}

#[test]
fn a_phase_with_a_workflow_runs_it_like_a_run_from_a_lens() {
    let project = TempProject::new("lsp-sessions-workflow");
    let template = "template_id: release\nphases:\n  - id: ship\n    workflow: ship.plan.yaml\n  - id: done\n";
    let failing = "plan_id: ship\nsteps:\n  - id: deploy\n    run: echo broken >&2; exit 3\n";
    let path = project.write("release.phases.yaml", template);
    let plan = project.write("ship.plan.yaml", failing);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, template);
    client.diagnostics(&path);
    client.open(&plan, failing);
    client.diagnostics(&plan);
    execute(&mut client, "weft.startSession", json!([uri(&path), "T-2"]));
    shown(&mut client);

    // The run fails: the phase stays active, the failed step is a diagnostic in the plan, and the
    // run's events went out as for a run from a lens.
    execute(&mut client, "weft.completePhase", json!([uri(&path), "T-2"]));
    let (kind, message) = shown(&mut client);
    assert_eq!((kind, message.as_str()), (1, "T-2: ship not completed: its workflow run 1 failed"));
    let failed = client.diagnostics(&plan);
    let diagnostics = failed["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{failed}");
    assert_eq!(diagnostics[0]["code"], "step-failed");
    assert!(diagnostics[0]["message"].as_str().unwrap().contains("broken"), "{failed}");
    let rest = settle(&mut client);
    let kinds: Vec<&str> = rest
        .iter()
        .filter(|m| m["method"] == "weft/runEvent" && m["params"]["uri"] == json!(uri(&plan)))
        .map(|m| m["params"]["event"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"run_finished"), "{kinds:?}");
    assert!(lens_titles(&mut client, &path).contains(&"2:8 ✓ Complete phase (T-2)".to_owned()));

    // Fixed, it completes; the plan's lenses show the run's result.
    let fixed = failing.replace("echo broken >&2; exit 3", "sleep 2; echo shipped");
    project.write("ship.plan.yaml", &fixed);
    client.change_full(&plan, 2, &fixed);
    execute(&mut client, "weft.completePhase", json!([uri(&path), "T-2"]));
    // While it runs, the plan shows it as a run going on, which can be cancelled.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let titles = lens_titles(&mut client, &plan);
        if titles.iter().any(|t| t.starts_with("0:0 ⏳ run 2")) && titles.contains(&"0:0 ■ Cancel".to_owned()) {
            break;
        }
        assert!(Instant::now() < deadline, "the phase's run never showed as going: {titles:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (kind, message) = shown(&mut client);
    assert_eq!((kind, message.as_str()), (3, "T-2: ship completed — next: done"));
    settle(&mut client);
    let plan_lenses = lens_titles(&mut client, &plan);
    assert!(plan_lenses.iter().any(|t| t.starts_with("2:8 ✓")), "{plan_lenses:?}");
    assert!(lens_titles(&mut client, &path).contains(&"4:8 ✓ Complete phase (T-2)".to_owned()));
    settle(&mut client);
    client.shutdown();
}

#[test]
fn a_session_walked_in_a_terminal_shows_in_the_open_template() {
    let project = TempProject::new("lsp-sessions-terminal");
    let path = project.write("feature.phases.yaml", TEMPLATE);
    let capabilities = json!({ "workspace": { "codeLens": { "refreshSupport": true },
                                              "inlayHint": { "refreshSupport": true } } });
    let mut client = LspClient::start_with(&project.path, capabilities);
    client.registration();
    client.open(&path, TEMPLATE);
    client.diagnostics(&path);
    assert_eq!(lens_titles(&mut client, &path), ["0:0 ▶ Start session"]);

    // Started in a terminal: lenses and hints are refreshed.
    assert!(weft(&project, &["session", "start", "T-9"]).status.success());
    for method in ["workspace/codeLens/refresh", "workspace/inlayHint/refresh"] {
        let refresh = client.server_request(method);
        client.reply(&refresh, Ok(Value::Null));
    }
    client.notification("weft/sessionsChanged");
    assert!(lens_titles(&mut client, &path).contains(&"2:8 ✓ Complete phase (T-9)".to_owned()));
    assert_eq!(hint_labels(&mut client, &path), ["1/3 · ▶ T-9", "2/3", "3/3"]);

    // Refused in the terminal: the failing checks become diagnostics in the editor.
    assert_eq!(weft(&project, &["phase", "complete", "T-9"]).status.code(), Some(1));
    let published = client.diagnostics(&path);
    let messages: Vec<&str> =
        published["diagnostics"].as_array().unwrap().iter().map(|d| d["message"].as_str().unwrap()).collect();
    assert_eq!(messages.len(), 2, "{published}");
    assert_eq!(messages[0], "T-9: artifact docs/tasks/T-9/intake.md is missing (or empty)");
    // Ended in the terminal: they go.
    assert!(weft(&project, &["session", "end", "T-9"]).status.success());
    let cleared = client.diagnostics(&path);
    assert_eq!(cleared["diagnostics"], json!([]), "{cleared}");
    assert_eq!(lens_titles(&mut client, &path), ["0:0 ▶ Start session"]);
    settle(&mut client);
    client.shutdown();
}

#[test]
fn a_phase_completion_reports_its_progress() {
    let project = TempProject::new("lsp-sessions-progress");
    let template = "template_id: release\nphases:\n  - id: ship\n    workflow: ship.plan.yaml\n  - id: done\n";
    let plan = "plan_id: ship\nsteps:\n  - id: deploy\n    run: sleep 1\n";
    let path = project.write("release.phases.yaml", template);
    project.write("ship.plan.yaml", plan);
    let mut client = LspClient::start_with(&project.path, json!({ "window": { "workDoneProgress": true } }));
    client.registration();
    client.open(&path, template);
    client.diagnostics(&path);
    execute(&mut client, "weft.startSession", json!([uri(&path), "T-5"]));
    shown(&mut client);
    settle(&mut client);

    execute(&mut client, "weft.completePhase", json!([uri(&path), "T-5"]));
    let create = client.server_request("window/workDoneProgress/create");
    let token = create["params"]["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("weft-session-"), "{create}");
    client.reply(&create, Ok(Value::Null));
    let mut seen = Vec::new();
    loop {
        let progress = client.notification("$/progress");
        if progress["token"] != json!(token) {
            continue; // The workflow run's own progress.
        }
        let value = &progress["value"];
        let title = value["title"].as_str().map(|title| format!("{title} | ")).unwrap_or_default();
        seen.push(format!("{} {title}{}", value["kind"].as_str().unwrap(), value["message"].as_str().unwrap_or("")));
        if value["kind"] == "end" {
            break;
        }
    }
    assert!(seen[0].starts_with("begin weft: completing phase ship of T-5 | "), "{seen:?}");
    // The run takes a second: the progress says it is going (in the begin, or a report after it).
    assert!(seen.iter().any(|s| s.contains("ship.plan.yaml going")), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("end T-5: ship completed — next: done"), "{seen:?}");
    shown(&mut client);
    settle(&mut client);
    client.shutdown();
}
