//! Engine scheduling (SPEC §6): dependencies first, `max_concurrency`, declaration order among ready
//! steps, `--stage` and `--stage --with-deps`. Everything is read back from the run history.

mod engine_support;

use engine_support::{interval, max_overlap, Project};

#[test]
fn a_step_starts_only_after_its_dependencies_finished() {
    let project = Project::new("deps");
    project.write(
        "deps.plan.yaml",
        r#"plan_id: deps
globals: { max_concurrency: 4 }
steps:
  - id: slow
    run: "sleep 0.3"
  - id: flaky
    # Fails its first attempt: a dependent must wait for the retry, not for the first failure.
    run: 'n=$(cat flaky.count 2>/dev/null || echo 0); n=$((n+1)); echo $n > flaky.count; [ $n -ge 2 ]'
    retries: 1
  - id: join
    run: "sleep 0.05"
    depends_on: [slow, flaky]
  - id: last
    run: "true"
    depends_on: [join]
"#,
    );
    let out = project.weft(&["run", "deps.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "succeeded");

    let attempts = project.attempts(run, None);
    let get = |step: &str, attempt: i64| {
        attempts
            .iter()
            .find(|a| a.step_id == step && a.attempt == attempt)
            .unwrap_or_else(|| panic!("no attempt {attempt} of `{step}` in {attempts:#?}"))
    };
    assert_eq!(project.step(run, "flaky").attempts, 2);
    let (join_start, join_end) = interval(get("join", 1));
    for (step, attempt) in [("slow", 1), ("flaky", 1), ("flaky", 2)] {
        let (_, finished) = interval(get(step, attempt));
        assert!(
            join_start >= finished,
            "`join` started at {join_start} before `{step}` #{attempt} finished at {finished}"
        );
    }
    let (last_start, _) = interval(get("last", 1));
    assert!(last_start >= join_end, "`last` started before `join` finished");

    // The same holds in the event log, which is totally ordered.
    let events = project.events(run);
    let seq = |kind: &str, step: &str| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.step_id.as_deref() == Some(step))
            .map(|e| e.seq)
            .max()
            .unwrap_or_else(|| panic!("no {kind} of {step}"))
    };
    assert!(seq("step_started", "join") > seq("step_succeeded", "slow"));
    assert!(seq("step_started", "join") > seq("step_succeeded", "flaky"));
    assert!(seq("step_started", "last") > seq("step_succeeded", "join"));
}

#[test]
fn max_concurrency_one_never_overlaps() {
    let project = Project::new("serial");
    project.write(
        "serial.plan.yaml",
        r#"plan_id: serial
globals: { max_concurrency: 1 }
steps:
  - { id: s1, run: "sleep 0.1" }
  - { id: s2, run: "sleep 0.1" }
  - { id: s3, run: "sleep 0.1" }
  - { id: s4, run: "sleep 0.1" }
"#,
    );
    let out = project.weft(&["run", "serial.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    let mut attempts = project.attempts(run, None);
    assert_eq!(attempts.len(), 4);
    attempts.sort_by_key(|a| a.started_at.clone());
    for pair in attempts.windows(2) {
        let (_, first_end) = interval(&pair[0]);
        let (second_start, _) = interval(&pair[1]);
        assert!(
            second_start >= first_end,
            "`{}` started before `{}` finished: {pair:#?}",
            pair[1].step_id,
            pair[0].step_id
        );
    }
    assert_eq!(max_overlap(&attempts), 1);
}

#[test]
fn max_concurrency_bounds_parallel_steps() {
    let project = Project::new("bounded");
    project.write(
        "bounded.plan.yaml",
        r#"plan_id: bounded
globals: { max_concurrency: 2 }
steps:
  - { id: p1, run: "sleep 0.25" }
  - { id: p2, run: "sleep 0.25" }
  - { id: p3, run: "sleep 0.25" }
  - { id: p4, run: "sleep 0.25" }
  - { id: p5, run: "sleep 0.25" }
"#,
    );
    let out = project.weft(&["run", "bounded.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let attempts = project.attempts(out.run_id(), None);
    assert_eq!(attempts.len(), 5);
    assert_eq!(max_overlap(&attempts), 2, "two at a time, never more: {attempts:#?}");
}

#[test]
fn ready_steps_start_in_declaration_order() {
    let project = Project::new("order");
    // Declared out of alphabetical order, and a later-declared step whose dependency finishes first.
    project.write(
        "order.plan.yaml",
        r#"plan_id: order
globals: { max_concurrency: 1 }
steps:
  - { id: zeta, run: "true" }
  - { id: mid, run: "true" }
  - { id: alpha, run: "true" }
  - { id: omega, run: "true", depends_on: [zeta] }
  - { id: beta, run: "true" }
"#,
    );
    let out = project.weft(&["run", "order.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let started: Vec<String> = project
        .event_kinds(out.run_id())
        .into_iter()
        .filter(|(kind, _)| kind == "step_started")
        .filter_map(|(_, step)| step)
        .collect();
    // `omega` is ready once `zeta` is done, and takes its turn in file order: after `mid` and
    // `alpha`, before `beta`.
    assert_eq!(started, ["zeta", "mid", "alpha", "omega", "beta"]);
}

#[test]
fn stage_runs_only_that_stage() {
    let project = Project::new("stage");
    project.write(
        "stage.plan.yaml",
        r#"plan_id: stage
steps:
  - { id: a, run: "touch ran-a" }
  - { id: b, run: "touch ran-b", depends_on: [a] }
  - { id: c, run: "touch ran-c", depends_on: [b] }
"#,
    );
    let out = project.weft(&["run", "stage.plan.yaml", "--stage", "b"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "succeeded");
    assert!(project.exists("ran-b"));
    assert!(!project.exists("ran-a") && !project.exists("ran-c"));
    let steps = project.step_map(run);
    assert_eq!(steps["b"].0, "succeeded");
    for other in ["a", "c"] {
        assert_eq!(steps[other], ("skipped".to_owned(), Some("not selected".to_owned())), "{other}");
    }
    let attempts = project.attempts(run, None);
    assert_eq!(attempts.iter().map(|a| a.step_id.as_str()).collect::<Vec<_>>(), ["b"]);

    // An unknown stage is a usage error that names the stages.
    let out = project.weft(&["run", "stage.plan.yaml", "--stage", "bb"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("`bb`") && out.stderr.contains("`b`"), "{out}");
}

#[test]
fn stage_with_deps_runs_the_stage_and_its_upstream_only() {
    let project = Project::new("with-deps");
    project.write(
        "wd.plan.yaml",
        r#"plan_id: wd
steps:
  - { id: a, run: "touch ran-a" }
  - { id: b, run: "touch ran-b", depends_on: [a] }
  - { id: c, run: "touch ran-c", depends_on: [b] }
  - { id: d, run: "touch ran-d", depends_on: [a] }
  - { id: e, run: "touch ran-e" }
  - { id: f, run: "touch ran-f", depends_on: [c] }
"#,
    );
    let out = project.weft(&["run", "wd.plan.yaml", "--stage", "c", "--with-deps"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    let steps = project.step_map(run);
    for ran in ["a", "b", "c"] {
        assert_eq!(steps[ran].0, "succeeded", "{ran}: {steps:?}");
        assert!(project.exists(&format!("ran-{ran}")));
    }
    for not in ["d", "e", "f"] {
        assert_eq!(steps[not], ("skipped".to_owned(), Some("not selected".to_owned())), "{not}");
        assert!(!project.exists(&format!("ran-{not}")));
    }
    let mut ran: Vec<String> = project.attempts(run, None).into_iter().map(|a| a.step_id).collect();
    ran.sort();
    assert_eq!(ran, ["a", "b", "c"]);
    // Upstream first.
    let a = interval(&project.attempts(run, Some("a"))[0]);
    let b = interval(&project.attempts(run, Some("b"))[0]);
    let c = interval(&project.attempts(run, Some("c"))[0]);
    assert!(b.0 >= a.1 && c.0 >= b.1);
}

#[test]
fn a_retry_waits_for_a_free_slot_under_max_concurrency() {
    let project = Project::new("retry-slot");
    project.write(
        "slot.plan.yaml",
        r#"plan_id: slot
globals: { max_concurrency: 1 }
steps:
  - id: flaky
    run: 'n=$(cat flaky.count 2>/dev/null || echo 0); n=$((n+1)); echo $n > flaky.count; [ $n -ge 2 ]'
    retries: 1
  - id: long
    run: "sleep 0.5"
"#,
    );
    let out = project.weft(&["run", "slot.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(project.step(run, "flaky").attempts, 2);
    let attempts = project.attempts(run, None);
    assert_eq!(attempts.len(), 3);
    assert_eq!(max_overlap(&attempts), 1, "a retry started while another step held the only slot: {attempts:#?}");
}
