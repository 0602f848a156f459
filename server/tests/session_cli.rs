//! Sessions from the command line (SPEC §7), with the real binary, real processes, the real store
//! and real git repositories made in each test: start and resume, a refused completion naming
//! every failing check, the fix, hooks, a check past its time limit, a phase's workflow run,
//! overrides, two completions at once, the commits of each phase, end and list; and a hostile
//! repository whose configured programs must never run.

mod engine_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engine_support::{Project, Store};
use serde_json::Value;

/// Runs git for the test itself (not weft's capture): hooks, filters and the fsmonitor of a
/// hostile configuration are switched off here too, so that only weft's own git could trip them.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "filter.evil.clean=",
            "-c",
            "filter.evil.smudge=",
            "-c",
            "filter.evil.process=",
            "-c",
            "filter.evil.required=false",
            "-c",
            "commit.gpgSign=false",
            "-c",
            "log.showSignature=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Ada Tester")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Tester")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .stdin(Stdio::null())
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A project that is a git repository with one commit.
fn repository(name: &str) -> Project {
    let project = Project::new(name);
    git(&project.dir, &["init", "-q", "-b", "main"]);
    project.write(".gitignore", ".weft/\n.test-output/\n");
    project.write("README.md", "hello\n");
    git(&project.dir, &["add", "-A"]);
    git(&project.dir, &["commit", "-q", "-m", "initial"]);
    project
}

fn commit(project: &Project, message: &str) -> String {
    git(&project.dir, &["add", "-A"]);
    git(&project.dir, &["commit", "-q", "-m", message]);
    git(&project.dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

const TEMPLATE: &str = r#"template_id: feature
phases:
  - id: intake
    goal: Understand the request
    description: Restate the task, list open questions.
    artifacts:
      required: ["docs/tasks/{task}/intake.md", "docs/tasks/{task}/notes/*.md"]
      optional: ["docs/tasks/{task}/sources.md"]
    validation:
      - artifacts.required.all_exist
      - { run: "grep -q '^## Questions' docs/tasks/{task}/intake.md", message: "intake lists no questions" }
      - artifacts.optional.any_exist
      - "task.id == 'T-1' && phases.intake.status == 'active'"
    hooks:
      on_start: [{ run: "echo \"$WEFT_TASK $WEFT_PHASE $WEFT_SESSION\" > hook-start-intake.txt" }]
      on_end: [{ run: "echo \"$WEFT_TASK $WEFT_PHASE\" > hook-end-intake.txt" }]
    events: [intake_done]
    next_step: "Research prior art; write research.md"
  - id: research
    goal: Find prior art
    hooks:
      on_start: [{ run: "echo \"$WEFT_TASK $WEFT_PHASE\" > hook-start-research.txt" }]
    next_step: "Write plan.md"
  - id: close
    goal: Wrap up
"#;

/// Checks `weft session status --format json` output against schemas/session-status.schema.json.
fn assert_valid_status(status: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/session-status.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("the schema is JSON");
    jsonschema::meta::validate(&schema).expect("valid against the 2020-12 meta-schema");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> =
        validator.iter_errors(status).map(|error| format!("{error} at {}", error.instance_path())).collect();
    assert!(errors.is_empty(), "breaks schemas/session-status.schema.json:\n{}\n{status}", errors.join("\n"));
}

fn session_events(project: &Project, kind: &str) -> Vec<(Option<String>, Value)> {
    let store = project.store();
    let session = store.latest_session("T-1").unwrap().expect("a session of T-1");
    store
        .session_events(session.id)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.phase, serde_json::from_str(&e.data).unwrap()))
        .collect()
}

#[test]
fn a_session_walks_a_task_through_its_phases() {
    let project = repository("session-walk");
    project.write("feature.phases.yaml", TEMPLATE);
    commit(&project, "template");

    let started = project.weft(&["session", "start", "T-1"]);
    assert_eq!(started.code, 0, "{started}");
    assert!(started.stdout.contains("task T-1 · template feature"), "{started}");
    assert!(started.stdout.contains("▶ phase 1/3 intake: Understand the request"), "{started}");
    assert!(started.stdout.contains("Restate the task, list open questions."), "{started}");
    assert!(started.stdout.contains("required: docs/tasks/T-1/intake.md, docs/tasks/T-1/notes/*.md"), "{started}");
    assert!(started.stdout.contains("next step: Research prior art; write research.md"), "{started}");
    let session = project.store().active_session("T-1").unwrap().expect("the session is recorded");
    assert_eq!(project.read("hook-start-intake.txt").trim(), format!("T-1 intake {}", session.id));

    let again = project.weft(&["session", "start", "T-1"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stdout.contains(&format!("session {} of T-1 resumed", session.id)), "{again}");
    assert_eq!(project.store().sessions(false, 10).unwrap().len(), 1, "resumed, not duplicated");
    let other = project.write("other.phases.yaml", "template_id: other\nphases:\n  - id: only\n");
    let wrong = project.weft(&["session", "start", "T-1", "--template", other.to_str().unwrap()]);
    assert_eq!(wrong.code, 2, "{wrong}");
    assert!(wrong.stderr.contains("another template") && wrong.stderr.contains("feature.phases.yaml"), "{wrong}");
    std::fs::remove_file(&other).unwrap();
    let bad = project.weft(&["session", "start", "T 1"]);
    assert_eq!(bad.code, 2, "{bad}");
    assert!(bad.stderr.contains("not a task id"), "{bad}");

    // Every failing check is named: an empty artifact, a glob that matches nothing, a `run:` entry
    // with its message, and a false expression.
    project.write("docs/tasks/T-1/intake.md", "");
    let refused = project.weft(&["phase", "complete", "T-1"]);
    assert_eq!(refused.code, 1, "{refused}");
    for line in [
        "✗ artifact docs/tasks/T-1/intake.md is missing (or empty)",
        "✗ artifact docs/tasks/T-1/notes/*.md matches no file (or only empty ones)",
        "✗ validation 1: `artifacts.required.all_exist` is false",
        "✗ validation 2: intake lists no questions (exit 1)",
        "✗ validation 3: `artifacts.optional.any_exist` is false",
        "✓ validation 4",
        "✗ phase intake of T-1 not completed: 5 checks failed",
    ] {
        assert!(refused.stdout.contains(line), "missing `{line}` in\n{refused}");
    }
    let failed = session_events(&project, "phase_check_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0.as_deref(), Some("intake"));
    let failures = failed[0].1["failures"].as_array().unwrap();
    let checks: Vec<&str> = failures.iter().map(|f| f["check"].as_str().unwrap()).collect();
    assert_eq!(
        checks,
        [
            "artifact docs/tasks/T-1/intake.md",
            "artifact docs/tasks/T-1/notes/*.md",
            "validation 1",
            "validation 2",
            "validation 3"
        ]
    );
    assert_eq!(failures[3]["message"], "intake lists no questions (exit 1)");
    assert_eq!(failures[3]["kind"], "validation");
    assert_eq!(failures[3]["index"], 1);
    assert!(failures[3]["fingerprint"].as_str().unwrap().starts_with("v1:"));
    assert_eq!(project.store().active_phase(session.id).unwrap().unwrap().id, "intake", "the phase stays active");

    // The status shows the last refusal; the same failure again is recognised.
    let status = project.weft(&["session", "status", "T-1"]);
    assert!(status.stdout.contains("last completion refused"), "{status}");
    let refused_json: Value =
        serde_json::from_str(&project.weft(&["session", "status", "T-1", "--format", "json"]).stdout).unwrap();
    assert_valid_status(&refused_json);
    let failing = refused_json["sessions"][0]["phases"][0]["failing_checks"].as_array().unwrap();
    assert_eq!(failing.len(), 5);
    assert_eq!(failing[3]["message"], "intake lists no questions (exit 1)");
    assert!(status.stdout.contains("✗ validation 2: intake lists no questions (exit 1)"), "{status}");
    let second = project.weft(&["phase", "complete", "T-1"]);
    assert_eq!(second.code, 1, "{second}");
    assert!(second.stdout.contains("seen once before"), "{second}");

    // The fix, committed during the phase; then the completion prints the next goal and step.
    project.write("docs/tasks/T-1/intake.md", "# Intake\n\n## Questions\n- which API?\n");
    project.write("docs/tasks/T-1/notes/first.md", "a note\n");
    project.write("docs/tasks/T-1/sources.md", "none yet\n");
    let sha = commit(&project, "Write the intake of T-1");
    let done = project.weft(&["phase", "complete", "T-1"]);
    assert_eq!(done.code, 0, "{done}");
    assert!(done.stdout.contains("✓ phase intake of T-1 completed (6 checks passed)"), "{done}");
    assert!(done.stdout.contains("▶ next: phase 2/3 research: Find prior art"), "{done}");
    assert!(done.stdout.contains("next step: Write plan.md"), "{done}");
    assert!(done.stdout.contains("Write the intake of T-1"), "the phase's commits: {done}");
    assert_eq!(project.read("hook-end-intake.txt").trim(), "T-1 intake");
    assert_eq!(project.read("hook-start-research.txt").trim(), "T-1 research");
    assert_eq!(session_events(&project, "intake_done").len(), 1, "the phase's events: names are recorded");
    assert_eq!(session_events(&project, "phase_hook_finished").len(), 3);

    project.weft(&["phase", "note", "T-1", "the API allows 100 requests a minute"]);
    let notes = session_events(&project, "phase_note");
    assert_eq!(notes[0].0.as_deref(), Some("research"));
    assert_eq!(notes[0].1["text"], "the API allows 100 requests a minute");

    // A commit during research shows under research (live, while it is active).
    project.write("docs/research.md", "prior art\n");
    commit(&project, "Research notes");
    let status = project.weft(&["session", "status", "T-1", "--format", "json"]);
    assert_eq!(status.code, 0, "{status}");
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_valid_status(&json);
    let phases = json["sessions"][0]["phases"].as_array().unwrap();
    assert_eq!(phases[0]["status"], "completed");
    assert_eq!(phases[0]["commits"][0]["sha"], sha.as_str());
    assert_eq!(phases[0]["commits"][0]["subject"], "Write the intake of T-1");
    assert_eq!(phases[0]["commits"][0]["author"], "Ada Tester");
    assert_eq!(phases[0]["commits"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(phases[1]["status"], "active");
    assert_eq!(phases[1]["commits"][0]["subject"], "Research notes");
    assert_eq!(phases[2]["status"], "pending");
    let human = project.weft(&["session", "status"]);
    assert!(human.stdout.contains("✓ intake"), "{human}");
    assert!(human.stdout.contains("▶ research"), "{human}");
    assert!(human.stdout.contains("· close"), "{human}");
    assert!(human.stdout.contains("Write the intake of T-1 (Ada Tester"), "{human}");

    // The session's git snapshots: start, the completion with its commit.
    let snapshots = project.store().git_snapshots(Some(session.id), None).unwrap();
    let moments: Vec<&str> = snapshots.iter().map(|s| s.moment.as_str()).collect();
    assert_eq!(moments, ["session_started", "phase_completed"]);
    assert_eq!(snapshots[1].head.as_deref(), Some(sha.as_str()));
    assert_eq!(snapshots[0].branch.as_deref(), Some("main"));

    let end = project.weft(&["session", "end", "T-1"]);
    assert_eq!(end.code, 0, "{end}");
    let list = project.weft(&["session", "list"]);
    assert!(list.stdout.contains("T-1") && list.stdout.contains("ended"), "{list}");
    let after = project.weft(&["phase", "complete", "T-1"]);
    assert_eq!(after.code, 2, "{after}");
    assert!(after.stderr.contains("ended"), "{after}");
    let moments: Vec<String> =
        project.store().git_snapshots(Some(session.id), None).unwrap().into_iter().map(|s| s.moment).collect();
    assert_eq!(moments.last().map(String::as_str), Some("session_ended"));
    // A new session of the same task starts afresh and is listed first.
    assert_eq!(project.weft(&["session", "start", "T-1"]).code, 0);
    let list = project.weft(&["session", "list"]);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines[0].contains("active") && lines[1].contains("ended"), "{list}");
    // Each line says where its session stands: the new one at its first phase, the ended one where
    // it stopped.
    assert!(lines[0].contains("▶ 1/"), "{list}");
    assert!(lines[1].contains("at 2/"), "{list}");
}

#[test]
fn a_check_past_its_time_limit_is_stopped_with_its_whole_group() {
    let project = Project::new("session-timeout");
    project.write(
        "slow.phases.yaml",
        "template_id: slow\nphases:\n  - id: wait\n    validation:\n      - { run: \"sleep 60 & echo $! > background.pid; sleep 60\", message: \"the check is slow\", timeout_sec: 1 }\n",
    );
    assert_eq!(project.weft(&["session", "start", "T-1"]).code, 0);
    let started = Instant::now();
    let refused = project.weft(&["phase", "complete", "T-1"]);
    assert!(started.elapsed() < Duration::from_secs(20), "stopped at its limit, not at the end of the sleep");
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stdout.contains("✗ validation 1: the check is slow (timed out after 1 s)"), "{refused}");
    let pid: i32 = project.read("background.pid").trim().parse().expect("the background pid");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z "), "the check's background process survived: {stat}");
    let failures = session_events(&project, "phase_check_failed");
    assert_eq!(failures[0].1["failures"][0]["message"], "the check is slow (timed out after 1 s)");
    // Its output went to the session's logs.
    let logs = project.path(".weft/sessions");
    assert!(logs.is_dir());
}

#[test]
fn a_phase_with_a_workflow_completes_only_when_its_run_succeeds() {
    let project = Project::new("session-workflow");
    project.write(
        "flow.phases.yaml",
        "template_id: flow\nphases:\n  - id: execute\n    workflow: release/{task}.plan.yaml\n    next_step: Review the release\n  - id: review\n    goal: Review\n",
    );
    project.write(
        "release/T-1.plan.yaml",
        "plan_id: release\nsteps:\n  - { id: build, run: \"echo building; test -f ready\" }\n",
    );
    assert_eq!(project.weft(&["session", "start", "T-1"]).code, 0);
    let failed = project.weft(&["phase", "complete", "T-1"]);
    assert_eq!(failed.code, 1, "{failed}");
    let run = failed
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("run ").and_then(|rest| rest.split_whitespace().next()?.parse::<i64>().ok()))
        .unwrap_or_else(|| panic!("no run line in {failed}"));
    assert!(failed.stdout.contains(&format!("weft status {run}")), "{failed}");
    assert!(failed.stdout.contains("phase execute of T-1 stays active"), "{failed}");
    let store = project.store();
    let session = store.active_session("T-1").unwrap().unwrap();
    assert_eq!(store.active_phase(session.id).unwrap().unwrap().id, "execute");
    assert_eq!(store.run_session(run).unwrap(), Some((session.id, "execute".to_owned())), "linked before it ran");
    let status: Value =
        serde_json::from_str(&project.weft(&["session", "status", "T-1", "--format", "json"]).stdout).unwrap();
    assert_valid_status(&status);
    assert_eq!(status["sessions"][0]["phases"][0]["run"], run, "the failed run is shown on the active phase");

    // The step runs in its plan's folder.
    project.write("release/ready", "yes\n");
    let done = project.weft(&["phase", "complete", "T-1"]);
    assert_eq!(done.code, 0, "{done}");
    assert!(done.stdout.contains("▶ next: phase 2/2 review: Review"), "{done}");
    let phases = project.store().session_phases(session.id).unwrap();
    let second_run = phases[0].run.expect("the run that completed the phase is recorded");
    assert!(second_run > run);
    assert_eq!(project.run_record(second_run).status.to_string(), "succeeded");
}

#[test]
fn an_override_completes_and_is_shown() {
    let project = Project::new("session-override");
    project.write(
        "o.phases.yaml",
        "template_id: o\nphases:\n  - id: intake\n    artifacts: { required: [\"{task}.md\"] }\n    hooks: { on_end: [{ run: \"echo oops >&2; exit 3\" }] }\n  - id: close\n",
    );
    assert_eq!(project.weft(&["session", "start", "T-1"]).code, 0);
    let no_reason = project.weft(&["phase", "complete", "T-1", "--override"]);
    assert_eq!(no_reason.code, 2, "{no_reason}");
    let empty_reason = project.weft(&["phase", "complete", "T-1", "--override", "--reason", " "]);
    assert_eq!(empty_reason.code, 2, "{empty_reason}");
    let done = project.weft(&["phase", "complete", "T-1", "--override", "--reason", "written on paper"]);
    assert_eq!(done.code, 0, "{done}");
    assert!(done.stdout.contains("completed with an override"), "{done}");
    assert!(done.stdout.contains("failed: artifact T-1.md"), "{done}");
    // A failing hook is reported and recorded, and does not undo the completion.
    assert!(done.stdout.contains("⚠ hook on_end of intake `echo oops >&2; exit 3` failed: exit 3: oops"), "{done}");
    let hooks = session_events(&project, "phase_hook_finished");
    assert_eq!(hooks[0].1["success"], false);
    assert_eq!(hooks[0].1["detail"], "exit 3: oops");
    let human = project.weft(&["session", "status", "T-1"]);
    assert!(human.stdout.contains("⚠ intake"), "{human}");
    assert!(human.stdout.contains(": written on paper"), "{human}");
    assert!(human.stdout.contains("failed checks: artifact T-1.md"), "{human}");
    let json: Value =
        serde_json::from_str(&project.weft(&["session", "status", "T-1", "--format", "json"]).stdout).unwrap();
    assert_valid_status(&json);
    let phase = &json["sessions"][0]["phases"][0];
    assert_eq!(phase["status"], "overridden");
    assert_eq!(phase["override"]["reason"], "written on paper");
    assert!(!phase["override"]["by"].as_str().unwrap().is_empty());
    assert_eq!(phase["override"]["failed_checks"], serde_json::json!(["artifact T-1.md"]));
    assert_eq!(json["sessions"][0]["phases"][1]["override"], Value::Null);
}

#[test]
fn two_completions_at_once_complete_the_phase_once() {
    let project = Project::new("session-race");
    project.write(
        "r.phases.yaml",
        // The check takes long enough for both to be under way at once; and should the second start only
        // after the first has finished, it meets phase `two`, whose artifact is missing, and is refused.
        "template_id: r\nphases:\n  - id: one\n    validation: [{ run: \"sleep 2\" }]\n    hooks: { on_end: [{ run: \"echo x >> ended.txt\" }] }\n  - id: two\n    artifacts: { required: [never.md] }\n",
    );
    assert_eq!(project.weft(&["session", "start", "T-1"]).code, 0);
    let first = project.spawn(&["phase", "complete", "T-1"]);
    let second = project.spawn(&["phase", "complete", "T-1"]);
    let (first, second) = (first.wait(), second.wait());
    let codes = [first.code, second.code];
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "exactly one completes:\n{first}\n{second}");
    let loser = if first.code == 0 { &second } else { &first };
    assert!(
        loser.stderr.contains("another `weft phase complete T-1` is running")
            || loser.stderr.contains("completed by another process")
            || loser.stderr.contains("complete"),
        "{loser}"
    );
    assert_eq!(project.lines("ended.txt").len(), 1, "on_end ran once");
    assert_eq!(session_events(&project, "phase_completed").len(), 1);
}

#[test]
fn a_hostile_repository_runs_nothing_and_is_captured_right() {
    let project = repository("session-hostile");
    project.write("tracked.txt", "hello\n");
    project.write("feature.phases.yaml", "template_id: h\nphases:\n  - id: work\n  - id: done\n");
    project.write("job.plan.yaml", "plan_id: job\nsteps:\n  - { id: a, run: \"echo hi\" }\n");
    let base = commit(&project, "tracked");
    // Every program the configuration names leaves a marker when it runs.
    let markers = project.path("markers");
    std::fs::create_dir_all(&markers).unwrap();
    let evil = |name: &str, tail: &str| {
        let path = project
            .write(&format!("evil/{name}"), &format!("#!/bin/sh\ntouch '{}/{name}'\n{tail}\n", markers.display()));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    };
    let hooks_dir = project.path("evil-hooks");
    for hook in ["post-index-change", "pre-commit", "post-commit", "reference-transaction", "post-checkout"] {
        evil(&format!("hook-{hook}"), "exit 0");
        std::fs::create_dir_all(&hooks_dir).unwrap();
        let hook_path = hooks_dir.join(hook);
        std::fs::write(&hook_path, format!("#!/bin/sh\ntouch '{}/hooks-path-{hook}'\n", markers.display())).unwrap();
        let git_hook = project.path(&format!(".git/hooks/{hook}"));
        std::fs::write(&git_hook, format!("#!/bin/sh\ntouch '{}/git-hooks-{hook}'\n", markers.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for path in [&hook_path, &git_hook] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let config = format!(
        "[core]\n\tfsmonitor = {fsmonitor}\n\thooksPath = {hooks}\n\tpager = {pager}\n\tsshCommand = {ssh}\n\
         [filter \"evil\"]\n\tclean = {clean}\n\tsmudge = {smudge}\n\tprocess = {process}\n\trequired = true\n\
         [diff]\n\texternal = {diff}\n[diff \"evil\"]\n\ttextconv = {textconv}\n\
         [log]\n\tshowSignature = true\n[gpg]\n\tprogram = {gpg}\n[pager]\n\tlog = {pager}\n\tstatus = {pager}\n",
        fsmonitor = evil("fsmonitor", "exit 1"),
        hooks = hooks_dir.display(),
        pager = evil("pager", "cat"),
        ssh = evil("ssh", "exit 1"),
        clean = evil("clean", "cat"),
        smudge = evil("smudge", "cat"),
        process = evil("process", "exit 1"),
        diff = evil("diff", "exit 0"),
        textconv = evil("textconv", "cat \"$1\""),
        gpg = evil("gpg", "exit 1"),
    );
    let mut git_config = std::fs::read_to_string(project.path(".git/config")).unwrap();
    git_config.push_str(&config);
    std::fs::write(project.path(".git/config"), git_config).unwrap();
    project.write(".gitattributes", "* filter=evil diff=evil\n");
    // A tracked file changed without changing its size: only a comparison of contents tells.
    std::thread::sleep(Duration::from_millis(1100));
    project.write("tracked.txt", "HELLO\n");

    // The configuration is live: plain git trips it (so the test would see weft trip it too).
    let _ = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&project.dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let tripped: Vec<String> =
        std::fs::read_dir(&markers).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    eprintln!("plain git status ran: {tripped:?}");
    assert!(!tripped.is_empty(), "plain `git status` should have run a configured program");
    std::fs::remove_dir_all(&markers).unwrap();
    std::fs::create_dir_all(&markers).unwrap();

    let started = project.weft(&["session", "start", "T-1"]);
    assert_eq!(started.code, 0, "{started}");
    // A commit during the phase (made by the test's own git, with the programs off).
    project.write("work.txt", "work\n");
    git(&project.dir, &["add", "work.txt"]);
    git(&project.dir, &["commit", "-q", "-m", "Work on T-1"]);
    let head = git(&project.dir, &["rev-parse", "HEAD"]).trim().to_owned();
    let done = project.weft(&["phase", "complete", "T-1"]);
    assert_eq!(done.code, 0, "{done}");
    let run = project.weft(&["run", "job.plan.yaml"]);
    assert_eq!(run.code, 0, "{run}");
    let status = project.weft(&["session", "status", "T-1"]);
    assert_eq!(status.code, 0, "{status}");
    let end = project.weft(&["session", "end", "T-1"]);
    assert_eq!(end.code, 0, "{end}");

    let ran: Vec<String> =
        std::fs::read_dir(&markers).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(ran.is_empty(), "weft's git capture ran programs the repository configures: {ran:?}");

    let store: Store = project.store();
    let session = store.latest_session("T-1").unwrap().unwrap();
    let snapshots = store.git_snapshots(Some(session.id), None).unwrap();
    let moments: Vec<&str> = snapshots.iter().map(|s| s.moment.as_str()).collect();
    assert_eq!(moments, ["session_started", "phase_completed", "session_ended"]);
    assert_eq!(snapshots[0].head.as_deref(), Some(base.as_str()));
    assert_eq!(snapshots[0].branch.as_deref(), Some("main"));
    assert!(snapshots[0].dirty, "tracked.txt differs from HEAD in content only");
    assert_eq!(snapshots[1].head.as_deref(), Some(head.as_str()));
    assert_eq!(snapshots[1].commits.len(), 1, "{:?}", snapshots[1].commits);
    assert_eq!(snapshots[1].commits[0].sha, head);
    assert_eq!(snapshots[1].commits[0].subject, "Work on T-1");
    let run_id = run.run_id();
    let run_snapshots = store.git_snapshots(None, Some(run_id)).unwrap();
    let moments: Vec<&str> = run_snapshots.iter().map(|s| s.moment.as_str()).collect();
    assert_eq!(moments, ["run_started", "run_finished"]);
    assert!(run_snapshots.iter().all(|s| s.dirty && s.head.as_deref() == Some(head.as_str())));

    // Restoring the content makes the tree clean again.
    project.write("tracked.txt", "hello\n");
    assert_eq!(project.weft(&["session", "start", "T-2"]).code, 0);
    let session = project.store().active_session("T-2").unwrap().unwrap();
    let snapshots = project.store().git_snapshots(Some(session.id), None).unwrap();
    assert!(!snapshots[0].dirty, "{snapshots:?}");
    let ran: Vec<String> =
        std::fs::read_dir(&markers).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(ran.is_empty(), "{ran:?}");
}

#[test]
fn outside_a_repository_nothing_is_captured_and_nothing_fails() {
    let project = Project::new("session-no-git");
    project.write("p.phases.yaml", "template_id: p\nphases:\n  - id: only\n");
    if weft::engine::git::repository_of(&project.dir).is_some() {
        return; // The temporary folder is inside a repository on this machine.
    }
    assert_eq!(project.weft(&["session", "start", "T-1"]).code, 0);
    let done = project.weft(&["phase", "complete", "T-1"]);
    assert_eq!(done.code, 0, "{done}");
    assert!(done.stdout.contains("all phases complete — `weft session end T-1`"), "{done}");
    assert_eq!(project.weft(&["session", "end", "T-1"]).code, 0);
    let store = project.store();
    let session = store.latest_session("T-1").unwrap().unwrap();
    assert!(store.git_snapshots(Some(session.id), None).unwrap().is_empty());
}

#[test]
fn a_template_is_found_or_asked_for() {
    let project = Project::new("session-templates");
    let none = project.weft(&["session", "start", "T-1"]);
    assert_eq!(none.code, 2, "{none}");
    assert!(none.stderr.contains("no phase template"), "{none}");
    project.write("a.phases.yaml", "template_id: a\nphases:\n  - id: one\n");
    project.write("docs/b.phases.yaml", "template_id: b\nphases:\n  - id: one\n");
    let several = project.weft(&["session", "start", "T-1"]);
    assert_eq!(several.code, 2, "{several}");
    assert!(several.stderr.contains("a.phases.yaml") && several.stderr.contains("b.phases.yaml"), "{several}");
    project.write("broken.phases.yaml", "template_id: broken\nphases: 42\n");
    let broken = project.weft(&["session", "start", "T-1", "--template", "broken.phases.yaml"]);
    assert_eq!(broken.code, 2, "{broken}");
    assert!(broken.stderr.contains("has errors") && broken.stderr.contains("[schema]"), "{broken}");
    let chosen = project.weft(&["session", "start", "T-1", "--template", "docs/b.phases.yaml"]);
    assert_eq!(chosen.code, 0, "{chosen}");
    assert!(chosen.stdout.contains("template b"), "{chosen}");
    // A template that has errors by the time a phase is completed is refused, with its errors.
    project.write("docs/b.phases.yaml", "template_id: b\nphases: 42\n");
    let refused = project.weft(&["phase", "complete", "T-1"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("docs/b.phases.yaml has errors"), "{refused}");
}

#[test]
fn ctrl_c_during_a_phase_workflow_cancels_its_run_and_the_phase_stays_active() {
    let project = Project::new("session-interrupt");
    project.write(
        "i.phases.yaml",
        "template_id: i\nphases:\n  - id: execute\n    workflow: long.plan.yaml\n  - id: after\n",
    );
    project
        .write("long.plan.yaml", "plan_id: long\nsteps:\n  - { id: wait, run: \"echo $$ > wait.pgid; sleep 60\" }\n");
    assert_eq!(project.weft(&["session", "start", "T-1"]).code, 0);
    let completing = project.spawn(&["phase", "complete", "T-1"]);
    let pgid = project.wait_for_pgid("wait.pgid");
    completing.signal(libc::SIGINT);
    let out = completing.wait();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("canceled") && out.stdout.contains("stays active"), "{out}");
    engine_support::assert_group_gone(pgid);
    let store = project.store();
    let session = store.active_session("T-1").unwrap().unwrap();
    assert_eq!(store.active_phase(session.id).unwrap().unwrap().id, "execute");
    let failed = session_events(&project, "phase_run_failed");
    assert_eq!(failed[0].1["status"], "canceled");
}
