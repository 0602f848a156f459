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
