//! The context of the hooks at a run's end (SPEC §4, §6): `workflow_completed` and
//! `workflow_failed` see the run's final status, its error, the failed step, the duration and the
//! number of steps run, as JSON on stdin and as `WEFT_*` variables, and their `when` can test them.

mod engine_support;

use std::collections::BTreeMap;

use engine_support::{Project, FAST_DEFAULTS};
use serde_json::Value;

/// A project whose end hooks write their stdin and their `WEFT_*` variables to files.
fn project(name: &str) -> Project {
    Project::with_config(
        name,
        &format!(
            r#"{FAST_DEFAULTS}hooks:
  - on: workflow_completed
    when: "run.status == 'succeeded' && run.steps_run >= 1"
    run: "cat > completed.json; env | grep '^WEFT_' > completed.env"
  - on: workflow_failed
    when: "run.status == 'failed' && run.failed_step == 'build'"
    run: "cat > failed.json; env | grep '^WEFT_' > failed.env"
  - on: workflow_failed
    when: "run.status == 'quarantined'"
    run: "touch quarantined"
"#
        ),
    )
}

fn env_file(project: &Project, relative: &str) -> BTreeMap<String, String> {
    project
        .lines(relative)
        .into_iter()
        .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

#[test]
fn workflow_completed_sees_the_final_status_the_duration_and_the_steps_run() {
    let project = project("end-completed");
    project.write(
        "ok.plan.yaml",
        r#"plan_id: ok
steps:
  - { id: first, run: "sleep 0.2" }
  - { id: second, run: "true", depends_on: [first] }
  - { id: never, run: "touch never", skip_if: ["1 == 1"] }
"#,
    );
    let out = project.weft(&["run", "ok.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(project.exists("completed.json"), "the hook with `when: run.status == 'succeeded'` did not fire: {out}");
    let context: Value = serde_json::from_str(&project.read("completed.json")).unwrap();
    assert_eq!(context["status"], "succeeded", "{context}");
    assert_eq!(context["run_status"], "succeeded", "{context}");
    assert_eq!(context["error"], Value::Null, "{context}");
    assert_eq!(context["failed_step"], Value::Null, "{context}");
    assert_eq!(context["steps_run"], 2, "a skipped step did not run: {context}");
    let duration = context["duration_ms"].as_i64().unwrap_or_else(|| panic!("no duration: {context}"));
    assert!(duration >= 200, "{context}");
    let env = env_file(&project, "completed.env");
    assert_eq!(env["WEFT_STATUS"], "succeeded");
    assert_eq!(env["WEFT_STEPS_RUN"], "2");
    assert_eq!(env["WEFT_ERROR"], "");
    assert_eq!(env["WEFT_FAILED_STEP"], "");
    assert_eq!(env["WEFT_DURATION_MS"], duration.to_string());
    assert_eq!(env["WEFT_RUN_ID"], out.run_id().to_string());
}

#[test]
fn workflow_failed_sees_the_error_and_the_failed_step() {
    let project = project("end-failed");
    project.write(
        "bad.plan.yaml",
        r#"plan_id: bad
globals: { on_failure: skip_dependents }
steps:
  - { id: lint, run: "true" }
  - { id: build, run: "echo broken >&2; exit 3" }
  - { id: test, run: "true", depends_on: [build] }
"#,
    );
    let out = project.weft(&["run", "bad.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(project.exists("failed.json"), "the hook with `when: run.failed_step == 'build'` did not fire: {out}");
    assert!(!project.exists("quarantined"));
    let context: Value = serde_json::from_str(&project.read("failed.json")).unwrap();
    assert_eq!(context["status"], "failed", "{context}");
    assert_eq!(context["failed_step"], "build", "{context}");
    let error = context["error"].as_str().unwrap_or_else(|| panic!("no error: {context}"));
    assert!(error.contains("`build`") && error.contains("exit 3"), "{error}");
    assert_eq!(context["steps_run"], 2, "{context}");
    let env = env_file(&project, "failed.env");
    assert_eq!(env["WEFT_STATUS"], "failed");
    assert_eq!(env["WEFT_FAILED_STEP"], "build");
    assert_eq!(env["WEFT_ERROR"], error);
    assert_eq!(env["WEFT_STEPS_RUN"], "2");
}

#[test]
fn workflow_failed_of_a_quarantined_run_names_the_circuit() {
    let project = project("end-quarantined");
    project.write(
        "flaky.plan.yaml",
        r#"plan_id: flaky
globals: { on_failure: continue, circuit_breaker_threshold: 2, max_concurrency: 1 }
steps:
  - { id: a, command: "false" }
  - { id: b, command: "false", depends_on: [a] }
  - { id: c, command: "false", depends_on: [b] }
"#,
    );
    let out = project.weft(&["run", "flaky.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(project.exists("quarantined"), "`run.status == 'quarantined'` did not fire: {out}");
}

#[test]
fn a_hook_when_may_compare_run_status_with_any_run_status() {
    let project = project("end-check");
    let out = project.weft(&["check", "weft.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stdout.contains("invalid-expression"), "{out}");
}

#[test]
fn the_checker_knows_every_status_a_hook_sees_a_run_in() {
    let recorded: Vec<&str> = weft::store::RunStatus::ALL
        .into_iter()
        .map(|status| status.as_str())
        .filter(|status| *status != "interrupted") // never seen by a live engine's hooks
        .collect();
    assert_eq!(recorded, weft::model::RUN_STATUSES);
}
