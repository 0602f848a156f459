//! Recovery after the fact (SPEC §6, issue 13): the events of a past run, the options a run that did
//! not succeed ends with, and `weft resume RUN --skip STEP`. Real processes, the real history.

mod engine_support;

use engine_support::*;
use serde_json::Value;

/// A plan whose middle step fails until the file `fixed` exists, with a step after it.
const FLAKY: &str = r#"plan_id: flaky
steps:
  - { id: first, run: "echo first" }
  - { id: flaky, run: "echo broken >&2; test -f fixed", depends_on: [first] }
  - { id: after, run: "echo after > after.txt", depends_on: [flaky] }
  - { id: when_skipped, run: "touch saw-skipped", depends_on: [flaky], condition: "steps.flaky.status == 'skipped'" }
"#;

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
}

/// The lines of the `options:` block a command printed, as (command, comment).
fn options_of(stdout: &str) -> Vec<(String, String)> {
    let Some(start) = stdout.find("\noptions:\n") else { return Vec::new() };
    stdout[start + "\noptions:\n".len()..]
        .lines()
        .take_while(|line| line.starts_with("  "))
        .map(|line| {
            let (command, comment) = line.trim().split_once("  # ").expect("a command and what it does");
            (command.trim().to_owned(), comment.to_owned())
        })
        .collect()
}

#[test]
fn weft_events_prints_what_events_wrote_live_and_resume_writes_events_too() {
    let project = Project::new("recovery-events");
    project.write("flaky.plan.yaml", FLAKY);
    let out = project.weft(&["run", "flaky.plan.yaml", "--events", "live.jsonl"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id().to_string();

    let past = project.weft(&["events", &run]);
    assert_eq!(past.code, 0, "{past}");
    assert_eq!(past.stdout, project.read("live.jsonl"), "the same records, byte for byte");
    let events = json_lines(&past.stdout);
    assert_eq!(events.len(), project.events(1).len());
    assert_eq!(events[0]["kind"], "run_started");
    assert_eq!(events.last().unwrap()["kind"], "run_finished");
    assert!(events.iter().all(|e| e["run"] == 1 && e["seq"].is_i64() && e["at"].is_string()));

    project.write("fixed", "");
    let resumed = project.weft(&["resume", &run, "--events", "resumed.jsonl"]);
    assert_eq!(resumed.code, 0, "{resumed}");
    let written = json_lines(&project.read("resumed.jsonl"));
    assert_eq!(written[0]["kind"], "run_resumed");
    assert_eq!(written.last().unwrap()["data"]["status"], "succeeded");
    let all = project.weft(&["events", &run]);
    assert!(all.stdout.ends_with(&project.read("resumed.jsonl")), "{all}");
    assert_eq!(json_lines(&all.stdout).len(), events.len() + written.len());

    let missing = project.weft(&["events", "99"]);
    assert_eq!(missing.code, 2, "{missing}");
    assert!(missing.stderr.contains("no run 99"), "{missing}");
}

#[test]
fn a_failed_run_ends_with_the_commands_that_go_on_from_it() {
    let project = Project::new("recovery-options");
    project.write("flaky.plan.yaml", FLAKY);
    let out = project.weft(&["run", "flaky.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let summary = out.stdout.find("run 1 failed").expect("the final line");
    assert!(out.stdout.find("\noptions:\n").expect("options") > summary, "after the summary: {out}");
    let options = options_of(&out.stdout);
    let commands: Vec<&str> = options.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(commands, ["weft resume 1", "weft resume 1 --skip flaky --reason \"…\"", "weft logs 1 flaky"], "{out}");

    let status = project.weft(&["status", "1"]);
    assert_eq!(options_of(&status.stdout), options, "{status}");
    let json: Value = serde_json::from_str(project.weft(&["status", "1", "--format", "json"]).stdout.trim()).unwrap();
    let listed: Vec<(&str, Option<&str>, &str)> = json["options"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| (o["action"].as_str().unwrap(), o["step"].as_str(), o["command"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("resume", None, "weft resume 1"),
            ("skip", Some("flaky"), "weft resume 1 --skip flaky --reason \"…\""),
            ("logs", Some("flaky"), "weft logs 1 flaky")
        ]
    );

    // The printed commands work as pasted.
    let logs = project.weft(&["logs", "1", "flaky"]);
    assert!(logs.stdout.contains("broken"), "{logs}");

    // A run that succeeded has nothing to offer.
    project.write("ok.plan.yaml", "plan_id: ok\nsteps:\n  - { id: fine, run: \"true\" }\n");
    let ok = project.weft(&["run", "ok.plan.yaml"]);
    assert_eq!(ok.code, 0, "{ok}");
    assert!(!ok.stdout.contains("options:"), "{ok}");
    let ok_json: Value =
        serde_json::from_str(project.weft(&["status", "2", "--format", "json"]).stdout.trim()).unwrap();
    assert!(ok_json.get("options").is_none(), "{ok_json}");
}

#[test]
fn options_name_the_workspace_when_it_is_not_the_one_of_the_current_folder() {
    let project = Project::bare("recovery-options-elsewhere");
    project.write("sub/q.plan.yaml", "plan_id: q\nsteps:\n  - { id: boom, run: \"echo kaput >&2; exit 4\" }\n");
    let out = project.weft(&["run", "sub/q.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let options = options_of(&out.stdout);
    assert_eq!(options.len(), 3, "{out}");
    for (command, _) in &options {
        assert!(command.contains(" --workspace "), "{command}");
    }
    let logs = &options[2].0;
    let args: Vec<&str> = logs.split_whitespace().skip(1).collect();
    let pasted = project.weft(&args);
    assert_eq!(pasted.code, 0, "{pasted}");
    assert!(pasted.stdout.contains("kaput"), "{pasted}");
}

#[test]
fn resume_skip_records_an_override_and_the_dependents_run() {
    let project = Project::new("recovery-skip");
    project.write("flaky.plan.yaml", FLAKY);
    assert_eq!(project.weft(&["run", "flaky.plan.yaml"]).code, 1);
    assert_eq!(project.status_of(1, "flaky"), "failed");

    let out = project.weft(&["resume", "1", "--skip", "flaky", "--reason", "checked by hand"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("step `flaky` recorded as skipped"), "{out}");
    // Not run again; its dependents ran, and a condition sees it as skipped.
    assert_eq!(project.attempts(1, Some("flaky")).len(), 1);
    assert_eq!(project.read("after.txt").trim(), "after");
    assert!(project.exists("saw-skipped"));
    let step = project.step(1, "flaky");
    assert_eq!(step.status.as_str(), "skipped");
    let who = weft::engine::who_am_i();
    assert_eq!(step.reason.as_deref(), Some(format!("override by {who}: checked by hand").as_str()));
    assert_eq!(project.run_record(1).status.as_str(), "succeeded");

    let overrides = project.events_of(1, "step_overridden", Some("flaky"));
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0]["by"], who.as_str());
    assert_eq!(overrides[0]["reason"], "checked by hand");
    assert_eq!(overrides[0]["previous_status"], "failed");
    assert_eq!(overrides[0]["status"], "skipped");
    let kinds: Vec<String> = project.event_kinds(1).into_iter().map(|(kind, _)| kind).collect();
    let at = kinds.iter().position(|k| k == "step_overridden").unwrap();
    assert_eq!(kinds[at + 1], "run_resumed", "the override comes before the run goes on: {kinds:?}");

    let status = project.weft(&["status", "1"]);
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.starts_with("flaky") && l.contains("skipped (override)") && l.contains("checked by hand")),
        "{status}"
    );
    let history = project.weft(&["history"]);
    assert!(history.stdout.contains("run 1: `flaky` skipped (override by"), "{history}");
    let json: Value = serde_json::from_str(project.weft(&["status", "1", "--format", "json"]).stdout.trim()).unwrap();
    assert_eq!(json["steps"][1]["status"], "skipped");
    assert!(json["steps"][1]["reason"].as_str().unwrap().contains("checked by hand"));
}

#[test]
fn a_skipped_step_stays_skipped_when_the_run_is_resumed_again() {
    let project = Project::new("recovery-skip-twice");
    project.write(
        "two.plan.yaml",
        r#"plan_id: two
steps:
  - { id: flaky, run: "exit 1" }
  - { id: later, run: "test -f ready", depends_on: [flaky] }
"#,
    );
    assert_eq!(project.weft(&["run", "two.plan.yaml"]).code, 1);
    let skipped = project.weft(&["resume", "1", "--skip", "flaky"]);
    assert_eq!(skipped.code, 1, "`later` fails now: {skipped}");
    assert_eq!(
        project.step(1, "flaky").reason.as_deref(),
        Some(format!("override by {}", weft::engine::who_am_i()).as_str())
    );
    let options = options_of(&skipped.stdout);
    assert!(options.iter().any(|(c, _)| c == "weft resume 1 --skip later --reason \"…\""), "{skipped}");
    project.write("ready", "");
    let again = project.weft(&["resume", "1"]);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(project.status_of(1, "flaky"), "skipped");
    assert_eq!(project.attempts(1, Some("flaky")).len(), 1, "never run again");
    assert_eq!(project.status_of(1, "later"), "succeeded");
}

#[test]
fn resume_skip_refuses_what_cannot_be_skipped_and_changes_nothing() {
    let project = Project::new("recovery-skip-refused");
    project.write("flaky.plan.yaml", FLAKY);
    assert_eq!(project.weft(&["run", "flaky.plan.yaml"]).code, 1);
    let events_before = project.events(1).len();

    let unknown = project.weft(&["resume", "1", "--skip", "flakey"]);
    assert_eq!(unknown.code, 2, "{unknown}");
    assert!(unknown.stderr.contains("no step `flakey`; did you mean `flaky`?"), "{unknown}");
    let succeeded = project.weft(&["resume", "1", "--skip", "first"]);
    assert_eq!(succeeded.code, 2, "{succeeded}");
    assert!(succeeded.stderr.contains("step `first` of run 1 is succeeded, not failed"), "{succeeded}");
    let never_ran = project.weft(&["resume", "1", "--skip", "after"]);
    assert_eq!(never_ran.code, 2, "{never_ran}");
    let reason_alone = project.weft(&["resume", "1", "--reason", "why"]);
    assert_eq!(reason_alone.code, 2, "--reason needs --skip: {reason_alone}");
    assert_eq!(project.events(1).len(), events_before, "nothing recorded");
    assert_eq!(project.status_of(1, "flaky"), "failed");
    assert_eq!(project.run_record(1).status.as_str(), "failed");

    project.write("fixed", "");
    assert_eq!(project.weft(&["resume", "1"]).code, 0);
    let done = project.weft(&["resume", "1", "--skip", "flaky"]);
    assert_eq!(done.code, 2, "{done}");
    assert!(done.stderr.contains("already succeeded"), "{done}");
}

/// A project whose `deployer` plugin writes a file and whose rollback action records the undo.
fn rollback_project(name: &str) -> Project {
    let project = Project::with_config(
        name,
        &format!(
            r#"{FAST_DEFAULTS}plugins:
  deployer:
    command: sh
    args: ["-c", "echo \"do $WEFT_STAGE_ID\" >> state.log"]
    rollback: {{ run: "echo \"undo $WEFT_STAGE_ID\" >> state.log" }}
  plain:
    command: sh
    args: ["-c", "echo \"do $WEFT_STAGE_ID\" >> state.log"]
  breaker:
    command: sh
    args: ["-c", "exit 1"]
hooks:
  - on: rollback_started
    run: "echo hook rollback_started >> state.log"
  - on: rollback_completed
    run: "echo hook rollback_completed >> state.log"
"#
        ),
    );
    project.write(
        "deploy.workflow.yaml",
        r#"workflow_id: deploy
defaults: { max_concurrency: 1 }
stages:
  - { id: db, script: deployer }
  - { id: notes, script: plain, depends_on: [db] }
  - { id: app, script: deployer, depends_on: [notes] }
  - { id: cdn, script: deployer, depends_on: [app] }
  - { id: smoke, script: breaker, depends_on: [cdn] }
"#,
    );
    project
}

#[test]
fn weft_rollback_undoes_completed_stages_in_reverse_order_with_the_hooks() {
    let project = rollback_project("recovery-rollback");
    let out = project.weft(&["run", "deploy.workflow.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        options_of(&out.stdout).iter().any(|(c, what)| c == "weft rollback 1" && what == "undo `cdn`, `app`, `db`"),
        "{out}"
    );
    assert!(!project.read("state.log").contains("undo"), "nothing undone unasked");

    let back = project.weft(&["rollback", "1"]);
    assert_eq!(back.code, 0, "{back}");
    assert_eq!(
        project.lines("state.log"),
        [
            "do db",
            "do notes",
            "do app",
            "do cdn",
            "hook rollback_started",
            "undo cdn",
            "undo app",
            "undo db",
            "hook rollback_completed"
        ]
    );
    let statuses = project.step_map(1);
    for (step, status) in [
        ("db", "rolled_back"),
        ("notes", "succeeded"),
        ("app", "rolled_back"),
        ("cdn", "rolled_back"),
        ("smoke", "failed"),
    ] {
        assert_eq!(statuses[step].0, status, "{step}: {statuses:?}");
    }
    assert_eq!(project.run_record(1).status.as_str(), "failed", "the run's status does not change");
    let rolled: Vec<Value> = project.events_of(1, "rollback_step", None);
    assert_eq!(rolled.iter().map(|e| e["step"].as_str().unwrap()).collect::<Vec<_>>(), ["cdn", "app", "db"]);

    let status = project.weft(&["status", "1"]);
    assert!(status.stdout.lines().any(|l| l.starts_with("app ") && l.contains("rolled_back")), "{status}");
    assert!(!options_of(&status.stdout).iter().any(|(c, _)| c.starts_with("weft rollback")), "nothing left: {status}");
    let json: Value = serde_json::from_str(project.weft(&["status", "1", "--format", "json"]).stdout.trim()).unwrap();
    assert_eq!(json["steps"][0]["status"], "rolled_back");
    let history = project.weft(&["history"]);
    assert!(history.stdout.contains("run 1: `db`, `app`, `cdn` rolled_back"), "{history}");

    let again = project.weft(&["rollback", "1"]);
    assert_eq!(again.code, 2, "{again}");
    assert!(again.stderr.contains("nothing to roll back"), "{again}");

    // A rolled-back stage is undone: resuming runs it again.
    let resumed = project.weft(&["resume", "1"]);
    assert_eq!(resumed.code, 1, "smoke still fails: {resumed}");
    assert_eq!(project.attempts(1, Some("db")).len(), 2);
    assert_eq!(project.status_of(1, "notes"), "succeeded");
    assert_eq!(project.attempts(1, Some("notes")).len(), 1);
}

#[test]
fn weft_rollback_to_a_stage_undoes_only_what_completed_after_it() {
    let project = rollback_project("recovery-rollback-to");
    assert_eq!(project.weft(&["run", "deploy.workflow.yaml"]).code, 1);
    let refused = project.weft(&["rollback", "1", "--to", "smoke"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("step `smoke` of run 1 is failed"), "{refused}");
    let unknown = project.weft(&["rollback", "1", "--to", "ap"]);
    assert_eq!(unknown.code, 2, "{unknown}");
    assert!(unknown.stderr.contains("did you mean `app`?"), "{unknown}");
    assert!(!project.read("state.log").contains("undo"));

    let back = project.weft(&["rollback", "1", "--to", "notes"]);
    assert_eq!(back.code, 0, "{back}");
    let undone: Vec<String> = project.lines("state.log").into_iter().filter(|l| l.starts_with("undo")).collect();
    assert_eq!(undone, ["undo cdn", "undo app"]);
    assert_eq!(project.status_of(1, "db"), "succeeded");
    assert_eq!(project.status_of(1, "app"), "rolled_back");
}

#[test]
fn a_failed_rollback_action_leaves_its_stage_succeeded_and_exits_1() {
    let project = rollback_project("recovery-rollback-fails");
    project.write(
        "deploy.workflow.yaml",
        r#"workflow_id: deploy
stages:
  - { id: db, script: deployer }
  - { id: smoke, script: breaker, depends_on: [db] }
"#,
    );
    assert_eq!(project.weft(&["run", "deploy.workflow.yaml"]).code, 1);
    // The rollback action cannot write its file any more.
    std::fs::remove_file(project.path("state.log")).unwrap();
    std::fs::create_dir(project.path("state.log")).unwrap();
    let back = project.weft(&["rollback", "1"]);
    assert_eq!(back.code, 1, "{back}");
    assert!(back.stdout.contains("not rolled back: db"), "{back}");
    assert_eq!(project.status_of(1, "db"), "succeeded");
}

#[test]
fn a_failed_run_with_rollback_true_marks_what_it_undid_rolled_back() {
    let project = rollback_project("recovery-rollback-auto");
    project.write(
        "auto.workflow.yaml",
        r#"workflow_id: auto
defaults: { rollback: true }
stages:
  - { id: db, script: deployer }
  - { id: notes, script: plain, depends_on: [db] }
  - { id: smoke, script: breaker, depends_on: [notes] }
"#,
    );
    assert_eq!(project.weft(&["run", "auto.workflow.yaml"]).code, 1);
    assert!(project.lines("state.log").contains(&"undo db".to_owned()));
    assert_eq!(project.status_of(1, "db"), "rolled_back");
    assert_eq!(project.status_of(1, "notes"), "succeeded");
}

#[test]
fn a_step_interrupted_by_a_dead_engine_can_be_skipped_and_what_it_left_running_is_stopped() {
    let project = Project::new("recovery-skip-interrupted");
    project.write(
        "slow.plan.yaml",
        r#"plan_id: slow
steps:
  - { id: hang, run: "echo $$ >> hang.pgids; sleep 30" }
  - { id: after, run: "touch after-ran", depends_on: [hang] }
"#,
    );
    let background = project.spawn(&["run", "slow.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "hang", "running");
    let pgid = project.wait_for_pgid("hang.pgids");
    background.signal(libc::SIGKILL);
    background.wait();
    assert_eq!(project.status_of(run, "hang"), "interrupted");

    let status = project.weft(&["status", &run.to_string()]);
    let options = options_of(&status.stdout);
    let skip = format!("weft resume {run} --skip hang --reason \"…\"");
    assert!(options.iter().any(|(c, _)| *c == skip), "{status}");
    assert!(!options.iter().any(|(c, _)| c.starts_with("weft rollback")), "{status}");

    let out = project.weft(&["resume", &run.to_string(), "--skip", "hang", "--reason", "hung"]);
    assert_eq!(out.code, 0, "{out}");
    assert_group_gone(pgid);
    assert!(project.exists("after-ran"));
    assert_eq!(project.status_of(run, "hang"), "skipped");
    assert_eq!(project.events_of(run, "step_overridden", Some("hang"))[0]["previous_status"], "interrupted");
    assert_eq!(project.attempts(run, Some("hang")).len(), 1, "not run again");
}
