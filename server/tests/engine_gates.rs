//! Gates and data between steps (SPEC §2, §3, §6): `requires` (checked before the process starts),
//! `expect` and `provides` (checked after it exits), outputs through `$WEFT_OUTPUT` and
//! `$WEFT_IN_<KEY>`, `condition` and `skip_if`, and a workflow's plugin with its inputs.

mod engine_support;

use engine_support::{Project, FAST_DEFAULTS};

#[test]
fn requires_missing_file_env_or_command_fails_the_step_before_it_starts() {
    let project = Project::new("requires");
    project.write("present.txt", "here\n");
    project.write(
        "requires.plan.yaml",
        r#"plan_id: requires
globals: { on_failure: continue }
steps:
  - id: needs_file
    run: "touch ran-needs-file"
    requires: { files: [present.txt, missing.txt] }
  - id: needs_env
    run: "touch ran-needs-env"
    requires: { env: [WEFT_TEST_SURELY_UNSET_VARIABLE] }
  - id: needs_command
    run: "touch ran-needs-command"
    requires: { commands: [sh, weft-no-such-command-xyz] }
  - id: satisfied
    run: "touch ran-satisfied"
    env: { FROM_PLAN: "1" }
    requires: { files: [present.txt], env: [FROM_PLAN, PATH], commands: [sh] }
  - id: needs_executable
    run: "touch ran-needs-executable"
    env: { PATH: "tools:/usr/bin:/bin" }
    requires: { commands: [data-tool] }
  - id: local_tool
    command: local-tool
    env: { PATH: "tools:/usr/bin:/bin" }
    requires: { commands: [local-tool, ./tools/local-tool] }
"#,
    );
    // A command is there when the step could run it: an executable file on the step's PATH
    // (relative entries from its folder), as its process looks it up.
    project.write("tools/data-tool", "not a program\n");
    project.write("tools/local-tool", "#!/bin/sh\ntouch ran-local-tool\n");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(project.path("tools/local-tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = project.weft(&["run", "requires.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    let expectations = [
        ("needs_file", "file `missing.txt`", "present.txt"),
        ("needs_env", "environment variable `WEFT_TEST_SURELY_UNSET_VARIABLE`", "PATH"),
        ("needs_command", "command `weft-no-such-command-xyz`", "command `sh`"),
        ("needs_executable", "command `data-tool`", "command `sh`"),
    ];
    for (step, missing, not_named) in expectations {
        let record = project.step(run, step);
        assert_eq!(record.status, "failed", "{step}");
        let reason = record.reason.unwrap_or_default();
        assert!(reason.starts_with("requires: missing"), "{step}: {reason}");
        assert!(reason.contains(missing), "{step}: {reason}");
        assert!(!reason.contains(not_named), "{step} names what is there: {reason}");
        assert_eq!(record.attempts, 0, "{step}");
        assert!(project.attempts(run, Some(step)).is_empty(), "{step} has an attempt");
        assert!(!project.path(&format!(".weft/runs/{run}/{step}")).exists(), "{step} has a log folder");
        assert!(!project.exists(&format!("ran-{}", step.replace('_', "-"))), "{step} ran");
    }
    // These steps have nothing upstream, so all of it is checked before the run (SPEC §6): the
    // steps that have what they require do not run either, and are not reported.
    for step in ["satisfied", "local_tool"] {
        let record = project.step(run, step);
        assert_eq!(record.status, "skipped", "{step}");
        assert_eq!(record.reason.as_deref(), Some("not started: the run's requirements are missing"), "{step}");
    }
    assert!(!project.exists("ran-satisfied"));
    assert!(!project.exists("ran-local-tool"));
}

#[test]
fn requires_env_treats_an_empty_variable_as_missing() {
    // The schema: "Names of environment variables that must be set and non-empty."
    let project = Project::new("requires-empty");
    project.write(
        "empty.plan.yaml",
        r#"plan_id: empty
steps:
  - id: needs_token
    run: "touch ran"
    env: { TOKEN: "" }
    requires: { env: [TOKEN] }
"#,
    );
    let out = project.weft(&["run", "empty.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let step = project.step(out.run_id(), "needs_token");
    assert_eq!(step.status, "failed");
    assert!(step.reason.unwrap_or_default().contains("environment variable `TOKEN`"));
    assert!(!project.exists("ran"));
}

#[test]
fn expect_exit_code_accepts_the_listed_codes() {
    let project = Project::new("expect-exit");
    project.write(
        "exit.plan.yaml",
        r#"plan_id: exit
globals: { on_failure: continue }
steps:
  - { id: three, run: "exit 3", expect: { exit_code: [0, 3] } }
  - { id: zero, run: "exit 0", expect: { exit_code: [0, 3] } }
  - { id: four, run: "exit 4", expect: { exit_code: [0, 3] } }
  - { id: single, run: "exit 2", expect: { exit_code: 2 } }
  - { id: zero_not_allowed, run: "exit 0", expect: { exit_code: 1 } }
"#,
    );
    let out = project.weft(&["run", "exit.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    let summary: Vec<(String, String, Option<i64>, Option<String>)> =
        project.steps(run).into_iter().map(|s| (s.id, s.status.to_string(), s.exit_code, s.reason)).collect();
    let expected = [
        ("three", "succeeded", Some(3), None),
        ("zero", "succeeded", Some(0), None),
        ("four", "failed", Some(4), Some("expect: exit code 4 is not one of 0, 3")),
        ("single", "succeeded", Some(2), None),
        ("zero_not_allowed", "failed", Some(0), Some("expect: exit code 0 is not one of 1")),
    ];
    let expected: Vec<(String, String, Option<i64>, Option<String>)> = expected
        .iter()
        .map(|(id, status, code, reason)| (id.to_string(), status.to_string(), *code, reason.map(str::to_owned)))
        .collect();
    assert_eq!(summary, expected);
}

#[test]
fn missing_expected_outputs_or_provides_fail_the_step() {
    let project = Project::new("expect-outputs");
    project.write(
        "outputs.plan.yaml",
        r#"plan_id: outputs
globals: { on_failure: continue }
steps:
  - id: forgets_expected
    run: "echo other=1 >> $WEFT_OUTPUT"
    expect: { outputs: [coverage] }
  - id: forgets_provided
    run: "true"
    provides: [artifact]
  - id: writes_both
    run: "printf 'coverage=91\nartifact=build.tar\n' >> $WEFT_OUTPUT"
    provides: [artifact]
    expect: { outputs: [coverage] }
  - id: expected_then_retried
    run: 'if [ "$WEFT_ATTEMPT" = 2 ]; then echo coverage=1 >> $WEFT_OUTPUT; fi'
    expect: { outputs: [coverage] }
    retries: 1
"#,
    );
    let out = project.weft(&["run", "outputs.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    let step = project.step(run, "forgets_expected");
    assert_eq!(step.status, "failed");
    assert_eq!(step.exit_code, Some(0));
    assert_eq!(step.reason.as_deref(), Some("expect: did not write `coverage` to $WEFT_OUTPUT"));
    let step = project.step(run, "forgets_provided");
    assert_eq!(step.status, "failed");
    assert_eq!(step.reason.as_deref(), Some("expect: did not write `artifact` to $WEFT_OUTPUT"));
    assert_eq!(project.status_of(run, "writes_both"), "succeeded");
    // A post-validation failure is a failure like any other: it is retried.
    let step = project.step(run, "expected_then_retried");
    assert_eq!((step.status.as_str(), step.attempts), ("succeeded", 2));
    // The output file of each attempt is kept with its logs.
    assert!(project.attempt_file(run, "writes_both", 1, "output").is_file());
}

#[test]
fn outputs_reach_consumers_as_weft_in_variables() {
    let project = Project::new("outputs");
    project.write(
        "data.plan.yaml",
        r#"plan_id: data
steps:
  - id: snapshot
    run: "printf 'snapshot_ref=abc123\nurl=https://x.test/?a=b\n' >> $WEFT_OUTPUT"
    provides: [snapshot_ref, url]
  - id: middle
    run: "true"
    depends_on: [snapshot]
  - id: merge
    run: 'echo "$WEFT_IN_SNAPSHOT_REF|$WEFT_IN_URL|$WEFT_STAGE_ID|$WEFT_ATTEMPT" > consumed.txt'
    depends_on: [middle]
    consumes: [snapshot_ref, url]
"#,
    );
    let out = project.weft(&["run", "data.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    // Values come from any upstream step, not only direct dependencies; `=` in a value is kept.
    assert_eq!(project.read("consumed.txt").trim(), "abc123|https://x.test/?a=b|merge|1");
}

#[test]
fn condition_false_and_skip_if_true_skip_the_step() {
    let project = Project::new("conditions");
    project.write(
        "cond.plan.yaml",
        r#"plan_id: cond
globals:
  env: { DRY_RUN: "1" }
steps:
  - id: check
    run: "echo level=high >> $WEFT_OUTPUT"
    provides: [level]
  - id: on_failure_only
    run: "touch ran-on-failure-only"
    depends_on: [check]
    condition: "steps.check.status == 'failed'"
  - id: on_high
    run: "touch ran-on-high"
    depends_on: [check]
    condition: "steps.check.outputs.level == 'high' && env.DRY_RUN == '1'"
  - id: merge
    run: "touch ran-merge"
    depends_on: [check]
    skip_if: ["env.DRY_RUN == '1'"]
  - id: not_skipped
    run: "touch ran-not-skipped"
    skip_if: ["env.DRY_RUN == '0'", "1 > 2"]
  - id: after_merge
    run: "touch ran-after-merge"
    depends_on: [merge]
"#,
    );
    let out = project.weft(&["run", "cond.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "succeeded", "skipped steps do not fail a run");
    let steps = project.step_map(run);
    let (status, reason) = &steps["on_failure_only"];
    assert_eq!(status, "skipped");
    let reason = reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("condition false"), "{reason}");
    assert!(reason.contains("steps.check.status"), "{reason}");
    let (status, reason) = &steps["merge"];
    assert_eq!(status, "skipped");
    let reason = reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("skip_if true") && reason.contains("DRY_RUN"), "{reason}");
    assert_eq!(steps["after_merge"], ("skipped".to_owned(), Some("dependency `merge` was skipped".to_owned())));
    assert_eq!(steps["on_high"].0, "succeeded");
    assert_eq!(steps["not_skipped"].0, "succeeded");
    for skipped in ["on-failure-only", "merge", "after-merge"] {
        assert!(!project.exists(&format!("ran-{skipped}")), "{skipped} ran");
    }
    assert!(project.attempts(run, Some("merge")).is_empty());
    assert_eq!(project.events_of(run, "step_skipped", Some("merge")).len(), 1);
}

#[test]
fn a_workflow_stage_runs_its_plugin_with_inputs() {
    let project = Project::with_config(
        "workflow",
        &format!(
            r#"{FAST_DEFAULTS}plugins:
  scanner:
    run: 'echo "severity=$WEFT_INPUT_SEVERITY inputs=$WEFT_INPUTS" > scanned.txt; echo threats=3 >> $WEFT_OUTPUT'
    inputs: {{ type: object, properties: {{ severity: {{ enum: [low, high] }} }} }}
    outputs: [threats]
  reporter:
    run: 'echo "threats=$WEFT_IN_THREATS" > report.txt'
"#
        ),
    );
    project.write(
        "secure.workflow.yaml",
        r#"workflow_id: secure
stages:
  - id: threat_model
    script: scanner
    with: { severity: high }
  - id: report
    script: reporter
    depends_on: [threat_model]
    consumes: [threats]
"#,
    );
    let out = project.weft(&["run", "secure.workflow.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).workflow_id, "secure");
    assert_eq!(project.read("scanned.txt").trim(), r#"severity=high inputs={"severity":"high"}"#);
    assert_eq!(project.read("report.txt").trim(), "threats=3");
}

#[test]
fn a_file_with_errors_is_refused_before_anything_runs() {
    let project = Project::new("errors");
    project.write(
        "broken.plan.yaml",
        r#"plan_id: broken
steps:
  - { id: a, run: "touch ran-a", depends_on: [nope] }
"#,
    );
    let out = project.weft(&["run", "broken.plan.yaml"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("unknown-dependency"), "{out}");
    assert!(!project.exists("ran-a"));
    assert!(!project.exists(".weft/weft.db") || project.store().runs(None, 10).unwrap().is_empty());
}
