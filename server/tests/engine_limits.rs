//! Limits and gates of a whole run (SPEC §6): `max_step_duration_sec` is a hard limit on every
//! step, a run deadline (`run_timeout_sec`) ends the run, the static requirements of the run are
//! checked before anything starts, and a run-level `expect` is checked after the last step.

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::Project;

#[test]
fn max_step_duration_stops_a_step_at_the_limit_whatever_its_timeout() {
    let project = Project::new("step-limit");
    project.write(
        "limit.plan.yaml",
        r#"plan_id: limit
globals: { max_step_duration_sec: 1, on_failure: continue, max_concurrency: 3 }
steps:
  - { id: no_timeout, run: "sleep 3" }
  - { id: longer_timeout, run: "sleep 3", timeout_sec: 5 }
  - { id: quick, run: "true" }
"#,
    );
    let started = Instant::now();
    let out = project.weft(&["run", "limit.plan.yaml"]);
    let elapsed = started.elapsed();
    assert_eq!(out.code, 1, "{out}");
    assert!(elapsed < Duration::from_millis(2_900), "the run took {elapsed:?}: the steps were not stopped at 1 s");
    let run = out.run_id();
    for id in ["no_timeout", "longer_timeout"] {
        let step = project.step(run, id);
        assert_eq!(step.status, "timed_out", "{id}: {out}");
        let reason = step.reason.unwrap_or_default();
        assert!(reason.contains("max_step_duration_sec"), "{id}: the reason names the limit: {reason}");
        let duration = step.duration_ms.expect("a duration");
        assert!((900..2_500).contains(&duration), "{id}: duration {duration} ms");
    }
    assert_eq!(project.status_of(run, "quick"), "succeeded");
}

#[test]
fn max_step_duration_from_weft_yaml_applies_to_workflows() {
    let project = Project::with_config(
        "step-limit-config",
        &format!(
            "{}  max_step_duration_sec: 1\nplugins:\n  slow:\n    run: \"sleep 3\"\n",
            engine_support::FAST_DEFAULTS
        ),
    );
    project.write("wf.workflow.yaml", "workflow_id: wf\nstages:\n  - { id: s, script: slow }\n");
    let started = Instant::now();
    let out = project.weft(&["run", "wf.workflow.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(started.elapsed() < Duration::from_millis(2_900), "{out}");
    let step = project.step(out.run_id(), "s");
    assert_eq!(step.status, "timed_out");
    assert!(step.reason.unwrap_or_default().contains("max_step_duration_sec"));
}

#[test]
fn the_static_requirements_of_the_run_are_checked_before_anything_runs() {
    let project = Project::with_config(
        "run-gate",
        &format!("{}hooks:\n  - on: workflow_started\n    run: \"touch hook-ran\"\n  - on: workflow_failed\n    run: \"touch hook-ran\"\n", engine_support::FAST_DEFAULTS),
    );
    project.write(
        "gate.plan.yaml",
        r#"plan_id: gate
globals: { on_failure: continue }
steps:
  - { id: ok, run: "touch ran-ok" }
  - { id: needs_env, run: "touch ran-needs-env", requires: { env: [WEFT_TEST_SURELY_UNSET_A, WEFT_TEST_SURELY_UNSET_B] } }
  - { id: needs_command, run: "touch ran-needs-command", requires: { commands: [sh, weft-no-such-command-xyz] } }
  - { id: needs_file, run: "touch ran-needs-file", requires: { files: [missing.txt] }, required: false }
  - id: later
    run: "touch ran-later"
    depends_on: [ok]
    requires: { files: [made-by-ok.txt] }
"#,
    );
    let out = project.weft(&["run", "gate.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert!(project.attempts(run, None).is_empty(), "something ran: {out}");
    for ran in ["ran-ok", "ran-needs-env", "ran-needs-command", "ran-needs-file", "ran-later", "hook-ran"] {
        assert!(!project.exists(ran), "{ran}: {out}");
    }
    assert_eq!(project.run_record(run).status, "failed");
    let expectations = [
        ("needs_env", &["environment variable `WEFT_TEST_SURELY_UNSET_A`", "`WEFT_TEST_SURELY_UNSET_B`"][..]),
        ("needs_command", &["command `weft-no-such-command-xyz`"][..]),
        ("needs_file", &["file `missing.txt`"][..]),
    ];
    let finished = project.events_of(run, "run_finished", None);
    let error = finished[0]["error"].as_str().unwrap_or_default().to_owned();
    for (step, missing) in expectations {
        let record = project.step(run, step);
        assert_eq!(record.status, "failed", "{step}");
        let reason = record.reason.unwrap_or_default();
        assert!(reason.starts_with("requires: missing"), "{step}: {reason}");
        for thing in missing {
            assert!(reason.contains(thing), "{step}: {reason}");
            assert!(error.contains(thing), "the run's error names {thing}: {error}");
        }
        assert!(error.contains(&format!("`{step}`")), "the run's error names {step}: {error}");
        // `weft run` shows every step's reason: all that is missing, at once.
        assert!(out.stdout.lines().any(|l| l.starts_with(step) && l.contains(&reason)), "{out}");
    }
    assert!(!error.contains("command `sh`"), "{error}");
    // A file of a step with upstream steps may be made by them: not a reason to stop the run.
    assert!(!error.contains("made-by-ok.txt"), "{error}");
    for step in ["ok", "later"] {
        let record = project.step(run, step);
        assert_eq!(record.status, "skipped", "{step}");
        assert_eq!(record.attempts, 0, "{step}");
    }
}

#[test]
fn a_step_with_upstream_steps_checks_its_files_when_it_starts() {
    let project = Project::new("step-gate");
    project.write(
        "files.plan.yaml",
        r#"plan_id: files
globals: { on_failure: continue }
steps:
  - { id: make, run: "touch made.txt" }
  - { id: uses, run: "touch ran-uses", depends_on: [make], requires: { files: [made.txt] } }
  - { id: misses, run: "touch ran-misses", depends_on: [make], requires: { files: [never-made.txt] } }
"#,
    );
    let out = project.weft(&["run", "files.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert_eq!(project.status_of(run, "make"), "succeeded");
    assert_eq!(project.status_of(run, "uses"), "succeeded");
    let misses = project.step(run, "misses");
    assert_eq!(misses.status, "failed");
    assert_eq!(misses.reason.as_deref(), Some("requires: missing file `never-made.txt`"));
    assert!(!project.exists("ran-misses"));
}

#[test]
fn the_run_deadline_stops_the_running_steps_and_fails_the_run() {
    let project = Project::new("deadline");
    project.write(
        "deadline.plan.yaml",
        r#"plan_id: deadline
globals: { run_timeout_sec: 1, default_timeout_sec: 30, max_concurrency: 2 }
steps:
  - { id: quick, run: "true" }
  - { id: slow, run: "echo $$ > slow.pgid; sleep 30", depends_on: [quick], required: false }
  - { id: after, run: "touch ran-after", depends_on: [slow] }
  - { id: retrying, run: "sleep 0.4; exit 1", retries: 5, on_failure: continue, required: false }
"#,
    );
    let started = Instant::now();
    let out = project.weft(&["run", "deadline.plan.yaml"]);
    let elapsed = started.elapsed();
    assert_eq!(out.code, 1, "{out}");
    assert!(elapsed < Duration::from_secs(5), "the run took {elapsed:?}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "failed");
    let finished = project.events_of(run, "run_finished", None);
    assert_eq!(finished[0]["error"], "run deadline", "{finished:?}");
    assert_eq!(project.status_of(run, "quick"), "succeeded");
    let slow = project.step(run, "slow");
    assert_eq!(slow.status, "canceled");
    assert_eq!(slow.reason.as_deref(), Some("run deadline"));
    let duration = slow.duration_ms.unwrap_or_default();
    assert!(duration < 2_000, "slow ran {duration} ms");
    engine_support::assert_group_gone(project.wait_for_pgid("slow.pgid"));
    let after = project.step(run, "after");
    assert_ne!(after.status, "succeeded");
    assert!(!project.exists("ran-after"));
    let retrying = project.step(run, "retrying");
    assert!(retrying.attempts < 6, "retries went on past the deadline: {retrying:?}");
    assert_eq!(retrying.reason.as_deref(), Some("run deadline"), "{retrying:?}");
}

#[test]
fn a_run_level_expect_fails_the_run_by_name() {
    let project = Project::new("run-expect");
    project.write(
        "expect.plan.yaml",
        r#"plan_id: expect
expect: { files: [dist/app.txt, dist/notes.txt], outputs: [version, checksum] }
steps:
  - id: build
    run: "mkdir -p dist && touch dist/app.txt && echo version=1.2 >> $WEFT_OUTPUT"
    provides: [version]
  - { id: sum, run: "echo checksum=abc >> $WEFT_OUTPUT", provides: [checksum], depends_on: [build] }
"#,
    );
    let out = project.weft(&["run", "expect.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "failed");
    assert_eq!(project.status_of(run, "build"), "succeeded");
    assert_eq!(project.status_of(run, "sum"), "succeeded");
    let finished = project.events_of(run, "run_finished", None);
    let error = finished[0]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("expect:"), "{error}");
    assert!(error.contains("file `dist/notes.txt`"), "{error}");
    assert!(!error.contains("dist/app.txt") && !error.contains("version") && !error.contains("checksum"), "{error}");

    // Once everything is there, the run succeeds.
    project.write("dist/notes.txt", "notes\n");
    let out = project.weft(&["run", "expect.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn a_run_level_expect_names_missing_outputs() {
    let project = Project::new("run-expect-outputs");
    project.write(
        "outputs.plan.yaml",
        r#"plan_id: outputs
expect: { outputs: [version] }
steps:
  - { id: build, run: "echo other=1 >> $WEFT_OUTPUT", expect: { outputs: [other] } }
  - { id: tag, run: "true", provides: [version], depends_on: [build], required: false, skip_if: ["1 == 1"] }
"#,
    );
    let out = project.weft(&["run", "outputs.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let finished = project.events_of(out.run_id(), "run_finished", None);
    assert_eq!(finished[0]["error"], "expect: missing output `version`", "{finished:?}");
}

#[test]
fn the_run_deadline_stops_a_hook_that_runs_past_it() {
    let project = Project::with_config(
        "deadline-hook",
        &format!(
            "{}hooks:\n  - on: before_stage_execute\n    run: \"sleep 30\"\n    blocking: true\n    timeout_sec: 60\n  - on: workflow_failed\n    run: \"touch failed-hook-ran\"\n",
            engine_support::FAST_DEFAULTS
        ),
    );
    project.write(
        "slow-hook.plan.yaml",
        "plan_id: slow_hook\nglobals: { run_timeout_sec: 1 }\nsteps:\n  - { id: s, run: \"touch ran-s\" }\n",
    );
    let started = Instant::now();
    let out = project.weft(&["run", "slow-hook.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(started.elapsed() < Duration::from_secs(10), "the hook ran on past the deadline: {out}");
    let run = out.run_id();
    let step = project.step(run, "s");
    assert_eq!((step.status.as_str(), step.reason.as_deref()), ("canceled", Some("run deadline")));
    assert!(!project.exists("ran-s"));
    let hooks = project.events_of(run, "hook_finished", Some("s"));
    assert_eq!(hooks[0]["detail"], "stopped: the run deadline passed", "{hooks:?}");
    // The hooks at the run's end, after the deadline, still run.
    assert!(project.exists("failed-hook-ran"));
    let finished = project.events_of(run, "run_finished", None);
    assert_eq!(finished[0]["error"], "run deadline");
}

#[test]
fn a_run_stopped_by_its_requirements_is_resumed_once_they_are_there() {
    let project = Project::new("gate-resume");
    project.write(
        "later.plan.yaml",
        "plan_id: later\nsteps:\n  - { id: a, run: \"touch ran-a\" }\n  - { id: b, run: \"touch ran-b\", requires: { files: [input.txt] } }\n",
    );
    let out = project.weft(&["run", "later.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert!(!project.exists("ran-a") && !project.exists("ran-b"));
    project.write("input.txt", "here\n");
    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert_eq!(project.status_of(run, "a"), "succeeded");
    assert_eq!(project.status_of(run, "b"), "succeeded");
    assert_eq!(project.run_record(run).status, "succeeded");
}
