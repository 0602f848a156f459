//! `checkpoints` (workflow `defaults`, plan `globals`, `weft.yaml` `defaults`): with `true` (the
//! default) every state change of a run is committed to the history as it happens and
//! `checkpoint_created` hooks fire; with `false` the run's steps reach the history when the run
//! ends, no `checkpoint_created` hook fires, and a run whose engine dies is resumed from the start.

mod engine_support;

use engine_support::{Project, FAST_DEFAULTS};
use serde_json::Value;

fn project(name: &str) -> Project {
    Project::with_config(
        name,
        &format!(
            "{FAST_DEFAULTS}hooks:\n  - on: checkpoint_created\n    run: \"echo $WEFT_STAGE_ID >> checkpoints.log\"\n"
        ),
    )
}

/// A plan whose second step records what `weft status` says of the first while the run goes on.
fn plan(checkpoints: Option<bool>) -> String {
    let globals = checkpoints.map_or_else(String::new, |c| format!("globals: {{ checkpoints: {c} }}\n"));
    format!(
        r#"plan_id: cp
{globals}steps:
  - {{ id: first, run: "true" }}
  - id: second
    depends_on: [first]
    # The history commits in batches of at most 20 ms: give it the time.
    run: "sleep 0.3; '{weft}' status --format json"
    env: {{ NO_COLOR: "1" }}
"#,
        weft = engine_support::WEFT
    )
}

fn first_as_seen_by_second(project: &Project, run: i64) -> String {
    let stdout = std::fs::read_to_string(project.attempt_file(run, "second", 1, "stdout")).unwrap();
    let status: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let steps = status["steps"].as_array().unwrap_or_else(|| panic!("{status}"));
    let first = steps.iter().find(|s| s["id"] == "first").unwrap();
    first["status"].as_str().unwrap().to_owned()
}

#[test]
fn checkpoints_commit_every_state_change_as_it_happens() {
    let project = project("checkpoints-on");
    project.write("cp.plan.yaml", &plan(None));
    let out = project.weft(&["run", "cp.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(first_as_seen_by_second(&project, run), "succeeded", "{}", project.read(".test-output/0.stdout"));
    let logged = project.lines("checkpoints.log");
    assert!(logged.iter().any(|l| l == "first") && logged.iter().any(|l| l == "second"), "{logged:?}");
}

#[test]
fn checkpoints_false_writes_the_steps_when_the_run_ends() {
    let project = project("checkpoints-off");
    project.write("cp.plan.yaml", &plan(Some(false)));
    let out = project.weft(&["run", "cp.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(first_as_seen_by_second(&project, run), "pending", "no checkpoint while the run went on");
    assert!(!project.exists("checkpoints.log"), "checkpoint_created fired without checkpoints");
    // Once the run has ended, its history is whole.
    assert_eq!(project.status_of(run, "first"), "succeeded");
    assert_eq!(project.status_of(run, "second"), "succeeded");
    assert_eq!(project.run_record(run).status, "succeeded");
    assert_eq!(project.attempts(run, None).len(), 2);
}

#[test]
fn a_killed_run_without_checkpoints_is_resumed_from_the_start() {
    let project = Project::new("checkpoints-crash");
    project.write(
        "crash.plan.yaml",
        r#"plan_id: crash
globals: { checkpoints: false }
steps:
  - { id: a, run: "echo a >> a.log" }
  - id: b
    run: 'echo $$ > b.pgid; if [ "$WEFT_ATTEMPT" = 1 ]; then sleep 30; fi'
    depends_on: [a]
"#,
    );
    let background = project.spawn(&["run", "crash.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_pgid("b.pgid");
    background.signal(libc::SIGKILL);
    let out = background.wait();
    assert_eq!(out.code, 128 + libc::SIGKILL, "{out}");
    assert_eq!(project.run_record(run).status, "interrupted");
    assert_eq!(project.status_of(run, "a"), "pending", "no checkpoint recorded `a`");

    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert_eq!(project.lines("a.log").len(), 2, "`a` ran again: nothing said it had succeeded");
    assert_eq!(project.status_of(run, "a"), "succeeded");
    assert_eq!(project.status_of(run, "b"), "succeeded");
    // Attempt numbers go on above those the dead engine started (from the run's journal).
    assert_eq!(project.step(run, "b").attempts, 2);
}
