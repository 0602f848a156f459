//! Failure policies (SPEC §6): `abort`, `skip_dependents`, `continue`, `fallback`, steps that are not
//! `required`/`critical`, and the circuit breaker that quarantines a run.

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{assert_group_gone, Project};

fn status_reason(status: &str, reason: &str) -> (String, Option<String>) {
    (status.to_owned(), Some(reason.to_owned()))
}

#[test]
fn abort_terminates_running_steps_and_cancels_pending_ones() {
    let project = Project::new("abort");
    project.write(
        "abort.plan.yaml",
        r#"plan_id: abort
globals: { max_concurrency: 2 }
steps:
  - id: slow
    run: "echo $$ > slow.pgid; sleep 30 & sleep 30"
  - id: bad
    # Fails once `slow` is surely running.
    run: "while [ ! -s slow.pgid ]; do sleep 0.01; done; echo broken >&2; exit 3"
    on_failure: abort
  - id: after_slow
    run: "touch ran-after-slow"
    depends_on: [slow]
  - id: independent
    run: "touch ran-independent"
"#,
    );
    let started = Instant::now();
    let out = project.weft(&["run", "abort.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(started.elapsed() < Duration::from_secs(15), "abort did not stop `slow`");
    let run = out.run_id();
    let pgid = project.wait_for_pgid("slow.pgid");

    assert_eq!(project.run_record(run).status, "failed");
    let steps = project.step_map(run);
    // A plain failure has no reason: its exit code says it (SPEC §10).
    assert_eq!(steps["bad"], ("failed".to_owned(), None));
    assert_eq!(steps["slow"], status_reason("canceled", "run aborted"));
    assert_eq!(steps["after_slow"].0, "canceled");
    assert_eq!(steps["independent"], status_reason("canceled", "run aborted"));
    assert!(!project.exists("ran-after-slow") && !project.exists("ran-independent"));
    let bad = project.step(run, "bad");
    assert_eq!(bad.exit_code, Some(3));
    assert!(project.attempts(run, Some("bad"))[0].stderr_tail.contains("broken"));
    // Nothing but `slow` and `bad` ever started.
    let mut started: Vec<String> = project.attempts(run, None).into_iter().map(|a| a.step_id).collect();
    started.sort();
    assert_eq!(started, ["bad", "slow"]);
    assert_group_gone(pgid);
}

#[test]
fn skip_dependents_skips_downstream_and_lets_independent_branches_run() {
    let project = Project::new("skip-dependents");
    project.write(
        "skip.plan.yaml",
        r#"plan_id: skip
steps:
  - { id: bad, run: "exit 1", on_failure: skip_dependents }
  - { id: child, run: "touch ran-child", depends_on: [bad] }
  - { id: grandchild, run: "touch ran-grandchild", depends_on: [child] }
  - { id: branch, run: "sleep 0.2; touch ran-branch" }
  - { id: branch_next, run: "touch ran-branch-next", depends_on: [branch] }
"#,
    );
    let out = project.weft(&["run", "skip.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "failed", "`bad` is required");
    let steps = project.step_map(run);
    assert_eq!(steps["bad"], ("failed".to_owned(), None));
    assert_eq!(steps["child"], status_reason("skipped", "dependency `bad` failed"));
    assert_eq!(steps["grandchild"], status_reason("skipped", "dependency `child` was skipped"));
    assert_eq!(steps["branch"].0, "succeeded");
    assert_eq!(steps["branch_next"].0, "succeeded");
    assert!(!project.exists("ran-child") && !project.exists("ran-grandchild"));
    assert!(project.exists("ran-branch-next"));
    assert!(project.attempts(run, Some("child")).is_empty());
}

#[test]
fn continue_lets_dependents_run() {
    let project = Project::new("continue");
    project.write(
        "continue.plan.yaml",
        r#"plan_id: continue
steps:
  - { id: bad, run: "exit 1", on_failure: continue }
  - { id: child, run: "touch ran-child", depends_on: [bad] }
  - { id: grandchild, run: "touch ran-grandchild", depends_on: [child] }
"#,
    );
    let out = project.weft(&["run", "continue.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    let steps = project.step_map(run);
    assert_eq!(steps["bad"].0, "failed");
    assert_eq!(steps["child"].0, "succeeded");
    assert_eq!(steps["grandchild"].0, "succeeded");
    assert!(project.exists("ran-grandchild"));
    // `bad` is still required: its failure fails the run even though everything else ran.
    assert_eq!(project.run_record(run).status, "failed");
}

#[test]
fn fallback_recovers_a_failed_step() {
    let project = Project::new("fallback");
    project.write(
        "fallback.plan.yaml",
        r#"plan_id: fallback
steps:
  - { id: primary, run: "exit 1", on_failure: fallback, fallback: manual }
  - { id: manual, run: "touch ran-manual; echo mode=manual >> $WEFT_OUTPUT" }
  - { id: deploy, run: "touch ran-deploy", depends_on: [primary] }
"#,
    );
    let out = project.weft(&["run", "fallback.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "succeeded");
    let steps = project.step_map(run);
    assert_eq!(steps["primary"].0, "failed");
    assert_eq!(steps["manual"].0, "succeeded");
    assert_eq!(steps["deploy"].0, "succeeded");
    assert!(project.exists("ran-manual") && project.exists("ran-deploy"));
    // The fallback ran after the failure, and `deploy` after the fallback.
    let kinds = project.event_kinds(run);
    let position = |kind: &str, step: &str| {
        kinds
            .iter()
            .position(|(k, s)| k == kind && s.as_deref() == Some(step))
            .unwrap_or_else(|| panic!("no {kind} of {step}: {kinds:?}"))
    };
    assert!(position("step_failed", "primary") < position("fallback_started", "manual"));
    assert!(position("fallback_started", "manual") < position("step_started", "manual"));
    assert!(position("step_succeeded", "manual") < position("step_recovered", "primary"));
    assert!(position("step_recovered", "primary") < position("step_started", "deploy"));
}

#[test]
fn a_fallback_runs_only_when_its_step_fails() {
    let project = Project::new("fallback-not-needed");
    project.write(
        "fb.plan.yaml",
        r#"plan_id: fb
steps:
  - { id: primary, run: "true", on_failure: fallback, fallback: manual }
  - { id: manual, run: "touch ran-manual" }
  - { id: deploy, run: "true", depends_on: [primary] }
"#,
    );
    let out = project.weft(&["run", "fb.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "succeeded");
    let steps = project.step_map(run);
    assert_eq!(steps["primary"].0, "succeeded");
    assert_eq!(steps["manual"], status_reason("skipped", "fallback not needed"));
    assert_eq!(steps["deploy"].0, "succeeded");
    assert!(!project.exists("ran-manual"));
    assert!(project.attempts(run, Some("manual")).is_empty());
}

#[test]
fn a_failed_fallback_leaves_the_step_failed() {
    let project = Project::new("fallback-fails");
    project.write(
        "fbf.plan.yaml",
        r#"plan_id: fbf
steps:
  - { id: primary, run: "exit 1", on_failure: fallback, fallback: manual }
  # The fallback's own policy applies to its failure; the default (`abort`) would cancel the rest.
  - { id: manual, run: "exit 2", on_failure: skip_dependents }
  - { id: deploy, run: "touch ran-deploy", depends_on: [primary] }
"#,
    );
    let out = project.weft(&["run", "fbf.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "failed");
    let steps = project.step_map(run);
    assert_eq!(steps["primary"].0, "failed");
    assert_eq!(steps["manual"], ("failed".to_owned(), None));
    assert_eq!(steps["deploy"], status_reason("skipped", "dependency `primary` failed"));
    assert!(!project.exists("ran-deploy"));
    assert!(project.events_of(run, "step_recovered", None).is_empty());
}

#[test]
fn steps_that_are_not_required_or_critical_do_not_fail_the_run() {
    let project = Project::new("optional");
    project.write(
        "optional.plan.yaml",
        r#"plan_id: optional
steps:
  - { id: lint, run: "exit 1", required: false }
  - { id: docs, run: "exit 1", critical: false }
  - { id: build, run: "touch ran-build" }
  - { id: after_lint, run: "true", depends_on: [lint] }
"#,
    );
    let out = project.weft(&["run", "optional.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "succeeded");
    let steps = project.step_map(run);
    assert_eq!(steps["lint"].0, "failed");
    assert_eq!(steps["docs"].0, "failed");
    // The default policy is `abort`, but an optional step's failure does not abort the run.
    assert_eq!(steps["build"].0, "succeeded");
    assert!(project.exists("ran-build"));
    // Its dependents are still skipped: they needed it.
    assert_eq!(steps["after_lint"], status_reason("skipped", "dependency `lint` failed"));
}

#[test]
fn a_required_step_fails_the_run_with_the_default_abort_policy() {
    let project = Project::new("default-abort");
    project.write(
        "required.plan.yaml",
        r#"plan_id: required
globals: { max_concurrency: 1 }
steps:
  - { id: first, run: "exit 4" }
  - { id: second, run: "touch ran-second" }
"#,
    );
    let out = project.weft(&["run", "required.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "failed");
    assert_eq!(project.step_map(run)["second"], status_reason("canceled", "run aborted"));
    assert!(!project.exists("ran-second"));
}

#[test]
fn the_circuit_breaker_fails_later_uses_fast_and_quarantines_the_run() {
    let project = Project::new("circuit");
    project.write(
        "circuit.plan.yaml",
        r#"plan_id: circuit
globals: { max_concurrency: 1, on_failure: continue, circuit_breaker_threshold: 2 }
steps:
  - { id: call1, run: "echo x >> calls; exit 7" }
  - { id: call2, run: "echo x >> calls; exit 7" }
  - { id: call3, run: "echo x >> calls; exit 7" }
  - { id: other, run: "touch ran-other" }
"#,
    );
    let out = project.weft(&["run", "circuit.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "quarantined");
    assert_eq!(project.lines("calls").len(), 2, "the third use never ran");
    let steps = project.step_map(run);
    assert_eq!(steps["call1"], ("failed".to_owned(), None));
    assert_eq!(steps["call2"], ("failed".to_owned(), None));
    let (status, reason) = &steps["call3"];
    assert_eq!(status, "failed");
    let reason = reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("circuit open"), "{reason}");
    assert!(reason.contains("echo x >> calls; exit 7"), "{reason}");
    assert!(project.attempts(run, Some("call3")).is_empty());
    assert_eq!(project.step(run, "call3").attempts, 0);
    // Other commands still run.
    assert_eq!(steps["other"].0, "succeeded");
    let opened = project.events_of(run, "circuit_opened", Some("call2"));
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["failures"], 2);
}

#[test]
fn a_success_resets_the_circuit_breaker_count() {
    let project = Project::new("circuit-reset");
    project.write(
        "reset.plan.yaml",
        r#"plan_id: reset
globals: { max_concurrency: 1, on_failure: continue }
steps:
  - { id: c1, run: "exit $CODE", env: { CODE: "1" } }
  - { id: c2, run: "exit $CODE", env: { CODE: "1" } }
  - { id: c3, run: "exit $CODE", env: { CODE: "0" } }
  - { id: c4, run: "exit $CODE", env: { CODE: "1" } }
  - { id: c5, run: "exit $CODE", env: { CODE: "1" } }
"#,
    );
    let out = project.weft(&["run", "reset.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    // The default threshold is 3 consecutive failures; the success of c3 broke the streak.
    assert_eq!(project.run_record(run).status, "failed");
    assert!(project.events_of(run, "circuit_opened", None).is_empty());
    for step in ["c1", "c2", "c4", "c5"] {
        let record = project.step(run, step);
        assert_eq!(
            (record.status.as_str(), record.exit_code, record.reason.as_deref()),
            ("failed", Some(1), None),
            "{step}"
        );
    }
}

#[test]
fn settings_come_from_the_file_first_then_from_weft_yaml() {
    let project = Project::with_config(
        "settings",
        r#"defaults:
  retry_backoff: {base_sec: 0.01, factor: 2, max_sec: 0.05}
  kill_grace_sec: 0.2
  retries: 2
  on_failure: continue
  max_concurrency: 1
  timeout_sec: 1
plugins:
  failing:
    run: "exit 1"
"#,
    );
    // No settings of its own: everything comes from weft.yaml.
    project.write(
        "inherits.plan.yaml",
        r#"plan_id: inherits
steps:
  - { id: bad, run: "exit 1" }
  - { id: after_bad, run: "true", depends_on: [bad] }
  - { id: slow, run: "sleep 5", retries: 0 }
  - { id: other, run: "sleep 0.05" }
"#,
    );
    // Its own globals win.
    project.write(
        "overrides.plan.yaml",
        r#"plan_id: overrides
globals: { retries: 0, on_failure: skip_dependents, default_timeout_sec: 5, max_concurrency: 3 }
steps:
  - { id: bad, run: "exit 1" }
  - { id: after_bad, run: "true", depends_on: [bad] }
  - { id: slowish, run: "sleep 1.3" }
  - { id: p1, run: "sleep 0.3" }
"#,
    );
    // A workflow's defaults win too.
    project.write(
        "wf.workflow.yaml",
        "workflow_id: wf\ndefaults: { retries: 1 }\nstages:\n  - { id: s, script: failing }\n",
    );
    let inherits = project.spawn(&["run", "inherits.plan.yaml"]);
    let overrides = project.spawn(&["run", "overrides.plan.yaml"]);
    let workflow = project.spawn(&["run", "wf.workflow.yaml"]);
    let (inherits, overrides, workflow) = (inherits.wait(), overrides.wait(), workflow.wait());

    let run = inherits.run_id();
    assert_eq!(project.step(run, "bad").attempts, 3, "retries: 2 from weft.yaml");
    assert_eq!(project.status_of(run, "after_bad"), "succeeded", "on_failure: continue from weft.yaml");
    assert_eq!(project.status_of(run, "slow"), "timed_out", "timeout_sec: 1 from weft.yaml");
    assert_eq!(engine_support::max_overlap(&project.attempts(run, None)), 1, "max_concurrency: 1 from weft.yaml");

    let run = overrides.run_id();
    assert_eq!(project.step(run, "bad").attempts, 1);
    assert_eq!(project.step_map(run)["after_bad"], status_reason("skipped", "dependency `bad` failed"));
    assert_eq!(project.status_of(run, "slowish"), "succeeded", "the plan's 5 s timeout, not weft.yaml's 1 s");
    assert!(engine_support::max_overlap(&project.attempts(run, None)) >= 2);

    let run = workflow.run_id();
    assert_eq!(project.step(run, "s").attempts, 2, "retries: 1 from the workflow's defaults");
}
