//! The run commands of the command line (SPEC §10): `weft run` output and exit codes, `weft status
//! --format json` in exactly the documented shape, `weft logs`, `weft history`, the workspace a run
//! is recorded in, and the lock that refuses a second run of the same file.

mod engine_support;

use engine_support::{ms, run_id_of, Project, FAST_DEFAULTS};
use serde_json::Value;

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().unwrap_or_else(|| panic!("not an object: {value}")).keys().map(String::as_str).collect()
}

#[test]
fn helpers_parse_engine_timestamps_and_run_lines() {
    assert_eq!(ms("1970-01-01T00:00:00.000Z"), 0);
    assert_eq!(ms("2026-11-18T11:06:40.123Z"), 1_795_000_000_123);
    assert_eq!(ms("2000-03-01T00:00:00.001Z"), 951_868_800_001);
    assert_eq!(run_id_of("run 42 · x.plan.yaml · history in …\n"), Some(42));
    assert_eq!(run_id_of("error: nope"), None);
}

#[test]
fn status_json_has_exactly_the_documented_shape() {
    let project = Project::new("status-json");
    project.write(
        "shape.plan.yaml",
        r#"plan_id: shape
globals: { on_failure: continue }
steps:
  - { id: ok, run: "true" }
  - { id: broken, run: "exit 2", required: false }
  - { id: skipped, run: "true", depends_on: [ok], condition: "steps.ok.status == 'failed'" }
"#,
    );
    let out = project.weft(&["run", "shape.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    let status = project.weft(&["status", &run.to_string(), "--format", "json"]);
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(status.stdout.trim().lines().count(), 1, "one JSON document on one line: {status}");
    let value: Value = serde_json::from_str(status.stdout.trim()).expect("valid JSON");

    assert_eq!(keys(&value), ["run", "steps"]);
    let record = project.run_record(run);
    let run_json = &value["run"];
    assert_eq!(keys(run_json), ["id", "file", "status", "started_at", "finished_at"]);
    assert_eq!(run_json["id"], run);
    assert_eq!(run_json["file"], "shape.plan.yaml");
    assert_eq!(run_json["status"], "succeeded");
    assert_eq!(run_json["started_at"], record.started_at.as_str());
    assert_eq!(run_json["finished_at"], record.finished_at.as_deref().expect("finished"));
    assert!(ms(run_json["finished_at"].as_str().unwrap()) >= ms(run_json["started_at"].as_str().unwrap()));

    let steps = value["steps"].as_array().expect("steps array");
    assert_eq!(steps.len(), 3);
    for (step, record) in steps.iter().zip(project.steps(run)) {
        assert_eq!(
            keys(step),
            ["id", "status", "attempts", "exit_code", "duration_ms", "reason", "executor", "job_id", "queued_ms"]
        );
        assert_eq!(step["executor"], "local");
        assert_eq!(step["queued_ms"], Value::Null, "a local step waits in no queue");
        assert_eq!(step["job_id"], Value::Null, "a local step has no job id");
        assert_eq!(step["id"], record.id.as_str());
        assert_eq!(step["status"], record.status.as_str());
        assert_eq!(step["attempts"], record.attempts);
        assert_eq!(step["exit_code"].as_i64(), record.exit_code);
        assert_eq!(step["duration_ms"].as_i64(), record.duration_ms);
        assert_eq!(step["reason"].as_str(), record.reason.as_deref());
    }
    // In file order, with nulls where nothing applies.
    assert_eq!(steps[0]["id"], "ok");
    assert_eq!(
        (&steps[0]["status"], &steps[0]["exit_code"], &steps[0]["reason"]),
        (&"succeeded".into(), &0.into(), &Value::Null)
    );
    assert!(steps[0]["duration_ms"].is_u64());
    assert_eq!((&steps[1]["status"], &steps[1]["exit_code"]), (&"failed".into(), &2.into()));
    assert_eq!(steps[2]["status"], "skipped");
    assert_eq!(steps[2]["attempts"], 0);
    assert_eq!(steps[2]["exit_code"], Value::Null);
    assert_eq!(steps[2]["duration_ms"], Value::Null);
    assert!(steps[2]["reason"].as_str().is_some_and(|r| r.starts_with("condition false")), "{}", steps[2]);

    // Without a run id: the latest run.
    let latest = project.weft(&["status", "--format", "json"]);
    let latest: Value = serde_json::from_str(latest.stdout.trim()).expect("valid JSON");
    assert_eq!(latest["run"]["id"], run);
    // From elsewhere, with --workspace.
    let elsewhere = std::process::Command::new(engine_support::WEFT)
        .args(["status", &run.to_string(), "--format", "json", "--workspace"])
        .arg(&project.dir)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run weft");
    assert!(elsewhere.status.success());
    let elsewhere: Value = serde_json::from_slice(&elsewhere.stdout).expect("valid JSON");
    assert_eq!(elsewhere, value);
}

#[test]
fn run_prints_the_run_id_first_and_a_summary() {
    let project = Project::new("run-output");
    project.write("out.plan.yaml", "plan_id: out\nsteps:\n  - { id: only, run: 'echo visible' }\n");
    let first = project.weft(&["run", "out.plan.yaml"]);
    let second = project.weft(&["run", "out.plan.yaml"]);
    assert_eq!((first.code, second.code), (0, 0));
    assert_eq!((first.run_id(), second.run_id()), (1, 2));
    let line = first.stdout.lines().next().unwrap_or_default();
    assert!(line.starts_with("run 1 · out.plan.yaml"), "{line}");
    assert!(first.stdout.contains("only") && first.stdout.trim_end().ends_with("run 1 succeeded"), "{first}");
    // Piped output is plain.
    assert!(!first.stdout.contains('\x1b'), "escape codes in piped output: {first}");
}

#[test]
fn logs_print_the_output_of_a_step_attempt() {
    let project = Project::new("logs");
    project.write(
        "logs.plan.yaml",
        r#"plan_id: logs
steps:
  - id: talk
    run: 'echo "out of attempt $WEFT_ATTEMPT"; echo "err of attempt $WEFT_ATTEMPT" >&2; [ "$WEFT_ATTEMPT" = 2 ]'
    retries: 1
"#,
    );
    let out = project.weft(&["run", "logs.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id().to_string();

    let last = project.weft(&["logs", &run, "talk"]);
    assert_eq!(last.code, 0, "{last}");
    assert!(last.stdout.contains("out of attempt 2") && last.stdout.contains("err of attempt 2"), "{last}");
    assert!(!last.stdout.contains("attempt 1"), "{last}");
    let stdout_at = last.stdout.find("out of attempt 2").unwrap();
    let stderr_at = last.stdout.find("err of attempt 2").unwrap();
    assert!(stdout_at < stderr_at, "stdout first, then stderr: {last}");

    let first = project.weft(&["logs", &run, "talk", "--attempt", "1"]);
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stdout.contains("out of attempt 1") && !first.stdout.contains("attempt 2"), "{first}");
    // The files it reads are the logs under .weft/runs/<run>/<step>/<attempt>/.
    assert_eq!(std::fs::read_to_string(project.attempt_file(1, "talk", 1, "stdout")).unwrap(), "out of attempt 1\n");

    let missing = project.weft(&["logs", &run, "nope"]);
    assert_eq!(missing.code, 2, "{missing}");
    assert!(missing.stderr.contains("nope"), "{missing}");
    let no_attempt = project.weft(&["logs", &run, "talk", "--attempt", "9"]);
    assert_eq!(no_attempt.code, 2, "{no_attempt}");
}

#[test]
fn history_lists_runs_newest_first() {
    let project = Project::new("history");
    project.write("one.plan.yaml", "plan_id: one\nsteps:\n  - { id: a, run: 'true' }\n");
    project.write("two.plan.yaml", "plan_id: two\nsteps:\n  - { id: a, run: 'exit 1' }\n");
    assert_eq!(project.weft(&["run", "one.plan.yaml"]).code, 0);
    assert_eq!(project.weft(&["run", "two.plan.yaml"]).code, 1);
    assert_eq!(project.weft(&["run", "one.plan.yaml"]).code, 0);

    let history = project.weft(&["history"]);
    assert_eq!(history.code, 0, "{history}");
    let rows: Vec<Vec<&str>> = history.stdout.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let summary: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0], r[1], *r.last().unwrap())).collect();
    assert_eq!(
        summary,
        [("3", "succeeded", "one.plan.yaml"), ("2", "failed", "two.plan.yaml"), ("1", "succeeded", "one.plan.yaml")]
    );
    let only_two = project.weft(&["history", "two.plan.yaml"]);
    assert_eq!(only_two.stdout.lines().skip(1).count(), 1, "{only_two}");
    assert!(only_two.stdout.contains("two.plan.yaml"));
}

#[test]
fn exit_codes_are_0_1_and_2() {
    let project = Project::new("exit-codes");
    project.write("ok.plan.yaml", "plan_id: ok\nsteps:\n  - { id: a, run: 'true' }\n");
    project.write("fail.plan.yaml", "plan_id: fail\nsteps:\n  - { id: a, run: 'exit 9' }\n");
    project.write("cycle.plan.yaml", "plan_id: cycle\nsteps:\n  - { id: a, run: 'true', depends_on: [a] }\n");
    project.write("notes.txt", "not a plan\n");
    assert_eq!(project.weft(&["run", "ok.plan.yaml"]).code, 0);
    let failed = project.weft(&["run", "fail.plan.yaml"]);
    assert_eq!(failed.code, 1, "{failed}");
    // The summary's last line, then the options a failed run ends with (SPEC §6).
    let end = format!("run {} failed\n\noptions:\n", failed.run_id());
    assert!(failed.stdout.contains(&end), "{failed}");
    for args in [
        vec!["run", "missing.plan.yaml"],
        vec!["run", "cycle.plan.yaml"],
        vec!["run", "notes.txt"],
        vec!["run", "ok.plan.yaml", "--stage", "nope"],
        vec!["run", "ok.plan.yaml", "--no-such-flag"],
        vec!["status", "99"],
        vec!["logs", "99", "a"],
        vec!["cancel", "99"],
    ] {
        let out = project.weft(&args);
        assert_eq!(out.code, 2, "weft {}: {out}", args.join(" "));
        assert!(!out.stderr.is_empty(), "weft {} says nothing on stderr", args.join(" "));
    }
    // Refused runs leave no trace in the history.
    assert_eq!(project.store().runs(None, 100).unwrap().len(), 2);
}

#[test]
fn runs_are_recorded_in_the_workspace_of_the_nearest_weft_yaml() {
    let project = Project::new("workspace");
    project.write("pipelines/deep/p.plan.yaml", "plan_id: p\nsteps:\n  - { id: a, run: 'pwd > where.txt' }\n");
    let out = project.weft(&["run", "pipelines/deep/p.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(project.exists(".weft/weft.db"));
    assert!(!project.exists("pipelines/deep/.weft"));
    // Steps run in the folder of their file.
    assert!(project.exists("pipelines/deep/where.txt"));
    // Its logs go to the workspace's run folder (a stream that wrote nothing has no file there).
    assert!(project.exists(&format!(".weft/runs/{}", out.run_id())));
    assert!(!project.exists(&format!(".weft/runs/{}/a.1.stdout", out.run_id())));

    // Without a weft.yaml, the file's own folder is the workspace.
    let bare = Project::bare("workspace-bare");
    bare.write("sub/q.plan.yaml", "plan_id: q\nsteps:\n  - { id: a, run: 'true' }\n");
    let out = bare.weft(&["run", "sub/q.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(bare.exists("sub/.weft/weft.db"));
    let status = bare.weft(&["status", "1", "--workspace", "sub"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("succeeded"), "{status}");
}

#[test]
fn a_second_run_of_an_active_file_is_refused_unless_concurrent_runs_are_allowed() {
    let project = Project::with_config("lock", FAST_DEFAULTS);
    // Each run waits for its own release file.
    project.write(
        "locked.plan.yaml",
        "plan_id: locked\nsteps:\n  - { id: wait, run: 'while [ ! -f release-$WEFT_RUN_ID ]; do sleep 0.02; done' }\n",
    );
    let first = project.spawn(&["run", "locked.plan.yaml"]);
    let run = first.run_id();
    project.wait_for_step(run, "wait", "running");

    let refused = project.weft(&["run", "locked.plan.yaml"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("already running"), "{refused}");
    assert!(refused.stderr.contains(&format!("run {run}")), "the message names the active run: {refused}");
    assert!(refused.stderr.contains("--allow-concurrent"), "{refused}");
    assert!(refused.stdout.is_empty(), "{refused}");

    // Another file of the same workspace is not locked.
    project.write("other.plan.yaml", "plan_id: other\nsteps:\n  - { id: a, run: 'true' }\n");
    assert_eq!(project.weft(&["run", "other.plan.yaml"]).code, 0);

    let second = project.spawn(&["run", "locked.plan.yaml", "--allow-concurrent"]);
    let concurrent = second.run_id();
    assert_ne!(concurrent, run);
    project.wait_for_step(concurrent, "wait", "running");
    // Both are running at once.
    assert_eq!(project.run_record(run).status, "running");
    assert_eq!(project.run_record(concurrent).status, "running");

    project.write(&format!("release-{run}"), "");
    project.write(&format!("release-{concurrent}"), "");
    let (first, second) = (first.wait(), second.wait());
    assert_eq!((first.code, second.code), (0, 0), "{first}\n{second}");
    assert_eq!(project.run_record(run).status, "succeeded");
    assert_eq!(project.run_record(concurrent).status, "succeeded");

    // Once the first run is over, the file runs again.
    project.write("locked.plan.yaml", "plan_id: locked\nsteps:\n  - { id: wait, run: 'true' }\n");
    assert_eq!(project.weft(&["run", "locked.plan.yaml"]).code, 0);
}

#[test]
fn two_files_of_one_workflow_id_do_not_run_at_once() {
    let project = Project::with_config("workflow-lock", FAST_DEFAULTS);
    let plan =
        "plan_id: same\nsteps:\n  - { id: wait, run: 'while [ ! -f release-$WEFT_RUN_ID ]; do sleep 0.02; done' }\n";
    project.write("one.plan.yaml", plan);
    project.write("two.plan.yaml", plan);
    let first = project.spawn(&["run", "one.plan.yaml"]);
    let run = first.run_id();
    project.wait_for_step(run, "wait", "running");
    let refused = project.weft(&["run", "two.plan.yaml"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(
        refused.stderr.contains("workflow `same`") && refused.stderr.contains(&format!("run {run} of one.plan.yaml")),
        "{refused}"
    );
    project.write(&format!("release-{run}"), "");
    assert_eq!(first.wait().code, 0);
}

#[test]
fn an_attempt_that_writes_nothing_reads_as_empty_output_and_one_that_writes_keeps_it_all() {
    let project = Project::new("lazy-logs");
    project.write(
        "quiet.plan.yaml",
        r#"plan_id: quiet
steps:
  - { id: quiet, command: "true" }
  - id: loud
    run: 'i=0; while [ $i -lt 20000 ]; do echo "line $i of the loud step"; i=$((i+1)); done; echo "a warning" >&2'
"#,
    );
    let out = project.weft(&["run", "quiet.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();

    // Output nobody wrote costs no file, and reads as empty, not as an error.
    assert!(!project.attempt_file(run, "quiet", 1, "stdout").exists());
    assert!(!project.attempt_file(run, "quiet", 1, "stderr").exists());
    let quiet = project.weft(&["logs", &run.to_string(), "quiet"]);
    assert_eq!(quiet.code, 0, "{quiet}");
    let sections: Vec<&str> = quiet.stdout.lines().collect();
    assert_eq!(sections.len(), 2, "two empty sections: {quiet}");
    assert!(sections[0].starts_with("── stdout") && sections[1].starts_with("── stderr"), "{quiet}");
    let attempt = &project.attempts(run, Some("quiet"))[0];
    assert_eq!((attempt.stdout_tail.as_str(), attempt.stderr_tail.as_str()), ("", ""));
    // The editor's "show log" gets a file it can open.
    let shown = weft::store::log_to_show(std::path::Path::new(&attempt.log_dir), "quiet", 1);
    assert_eq!(shown, project.attempt_file(run, "quiet", 1, "stdout"));
    assert_eq!(std::fs::read_to_string(&shown).unwrap(), "");

    // Far more than a pipe holds arrives whole, each stream in its own file.
    let expected: String = (0..20_000).map(|i| format!("line {i} of the loud step\n")).collect();
    assert_eq!(std::fs::read_to_string(project.attempt_file(run, "loud", 1, "stdout")).unwrap(), expected);
    assert_eq!(std::fs::read_to_string(project.attempt_file(run, "loud", 1, "stderr")).unwrap(), "a warning\n");
    let loud = project.weft(&["logs", &run.to_string(), "loud"]);
    assert_eq!(loud.code, 0, "{loud}");
    assert!(loud.stdout.contains("line 0 of the loud step\n") && loud.stdout.contains("line 19999 of"), "{loud}");
    assert!(loud.stdout.contains("a warning"), "{loud}");
    // The history keeps the tails: about the last 2 KiB, from a whole line.
    let attempt = &project.attempts(run, Some("loud"))[0];
    assert!(attempt.stdout_tail.ends_with("line 19999 of the loud step\n"), "{attempt:?}");
    assert!(attempt.stdout_tail.starts_with("line ") && attempt.stdout_tail.len() <= 2_048, "{attempt:?}");
    assert!(expected.ends_with(&attempt.stdout_tail));
    assert_eq!(attempt.stderr_tail, "a warning\n");
    let shown = weft::store::log_to_show(std::path::Path::new(&attempt.log_dir), "loud", 1);
    assert_eq!(shown, project.attempt_file(run, "loud", 1, "stderr"));
}

#[test]
fn follow_streams_each_steps_output_as_it_comes() {
    let project = Project::new("follow");
    project.write(
        "follow.plan.yaml",
        r#"plan_id: follow
steps:
  - { id: first, run: 'echo one; sleep 0.3; echo two; echo oops >&2' }
  - { id: silent, command: "true", depends_on: [first] }
"#,
    );
    let out = project.weft(&["run", "follow.plan.yaml", "--follow"]);
    assert_eq!(out.code, 0, "{out}");
    for line in ["first | one", "first | two", "first ! oops"] {
        assert!(out.stdout.lines().any(|l| l == line), "no `{line}` in {out}");
    }
    assert!(!out.stdout.contains("silent |") && !out.stdout.contains("silent !"), "{out}");
}
