//! Hooks from `weft.yaml` (SPEC §4) and rollback (SPEC §2 `defaults.rollback`): priority order, `when`
//! filters, the context on stdin and in `WEFT_*` variables, blocking hooks, the workflow lifecycle
//! points, and rollback actions in reverse completion order. Hooks leave their traces in audit files.

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{assert_group_gone, Project, FAST_DEFAULTS};

fn project_with_hooks(name: &str, hooks: &str) -> Project {
    Project::with_config(name, &format!("{FAST_DEFAULTS}hooks:\n{hooks}"))
}

#[test]
fn hooks_run_by_priority_keeping_file_order_and_honour_when() {
    let project = project_with_hooks(
        "hook-order",
        r#"  - on: before_stage_execute
    run: 'echo "p5-first $WEFT_STAGE_ID" >> audit.log'
    priority: 5
  - on: before_stage_execute
    run: 'echo "p1 $WEFT_STAGE_ID" >> audit.log'
    priority: 1
  - on: before_stage_execute
    run: 'echo "p5-second $WEFT_STAGE_ID" >> audit.log'
    priority: 5
  - on: before_stage_execute
    run: 'echo "deploy-only $WEFT_STAGE_ID" >> audit.log'
    priority: -1
    when: "stage.id in ['deploy', 'production_release']"
  - on: before_stage_execute
    run: 'echo "default $WEFT_STAGE_ID" >> audit.log'
"#,
    );
    project.write(
        "order.plan.yaml",
        r#"plan_id: order
steps:
  - { id: build, run: 'echo "step build" >> audit.log' }
  - { id: deploy, run: 'echo "step deploy" >> audit.log', depends_on: [build] }
"#,
    );
    let out = project.weft(&["run", "order.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        project.lines("audit.log"),
        [
            "default build",
            "p1 build",
            "p5-first build",
            "p5-second build",
            "step build",
            "deploy-only deploy",
            "default deploy",
            "p1 deploy",
            "p5-first deploy",
            "p5-second deploy",
            "step deploy",
        ]
    );
    // Every hook run is an event.
    let run = out.run_id();
    let hook_events = project.events_of(run, "hook_finished", None);
    assert_eq!(hook_events.len(), 9);
    assert!(hook_events.iter().all(|e| e["success"] == true && e["point"] == "before_stage_execute"));
}

#[test]
fn hooks_get_their_context_on_stdin_and_as_weft_variables() {
    let project = project_with_hooks(
        "hook-context",
        r#"  - on: after_stage_execute
    run: 'cat > "ctx-$WEFT_STAGE_ID.json"; env | grep "^WEFT_" | sort > "env-$WEFT_STAGE_ID.txt"'
  - on: workflow_failed
    run: 'cat > ctx-workflow.json; env | grep "^WEFT_" | sort > env-workflow.txt'
"#,
    );
    project.write(
        "ctx.plan.yaml",
        r#"plan_id: ctx-plan
steps:
  - { id: fine, run: "sleep 0.05" }
  - { id: broken, run: "echo oops >&2; exit 3", depends_on: [fine] }
"#,
    );
    let out = project.weft(&["run", "ctx.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();

    let context: serde_json::Value = serde_json::from_str(&project.read("ctx-broken.json")).expect("JSON on stdin");
    assert_eq!(context["hook"], "after_stage_execute");
    assert_eq!(context["workflow_id"], "ctx-plan");
    assert_eq!(context["run_id"], run);
    assert_eq!(context["stage_id"], "broken");
    assert_eq!(context["attempt"], 1);
    assert_eq!(context["status"], "failed");
    assert_eq!(context["error"], "exit 3");
    assert!(context["duration_ms"].is_u64(), "{context}");

    let fine: serde_json::Value = serde_json::from_str(&project.read("ctx-fine.json")).expect("JSON on stdin");
    assert_eq!(fine["status"], "succeeded");
    assert_eq!(fine["error"], serde_json::Value::Null);
    assert!(fine["duration_ms"].as_u64().unwrap_or(0) >= 40, "{fine}");

    let env = project.lines("env-broken.txt");
    for expected in [
        "WEFT_STAGE_ID=broken".to_owned(),
        "WEFT_STATUS=failed".to_owned(),
        "WEFT_ATTEMPT=1".to_owned(),
        "WEFT_ERROR=exit 3".to_owned(),
        "WEFT_WORKFLOW_ID=ctx-plan".to_owned(),
        format!("WEFT_RUN_ID={run}"),
        "WEFT_HOOK=after_stage_execute".to_owned(),
    ] {
        assert!(env.contains(&expected), "{expected} missing from {env:?}");
    }
    assert!(env.iter().any(|l| l.strip_prefix("WEFT_DURATION_MS=").is_some_and(|ms| ms.parse::<u64>().is_ok())));

    // A run-level hook has no stage.
    let workflow: serde_json::Value = serde_json::from_str(&project.read("ctx-workflow.json")).expect("JSON");
    assert_eq!(workflow["hook"], "workflow_failed");
    assert_eq!(workflow["stage_id"], serde_json::Value::Null);
    assert_eq!(workflow["run_status"], "failed");
    let env = project.lines("env-workflow.txt");
    assert!(env.contains(&"WEFT_HOOK=workflow_failed".to_owned()), "{env:?}");
    assert!(env.contains(&"WEFT_STAGE_ID=".to_owned()) || !env.iter().any(|l| l.starts_with("WEFT_STAGE_ID=")));
}

#[test]
fn a_failing_blocking_before_hook_fails_the_stage_without_running_it() {
    let project = project_with_hooks(
        "hook-blocking",
        r#"  - on: before_stage_execute
    run: 'echo "change freeze" >&2; exit 1'
    when: "stage.id == 'deploy'"
    blocking: true
  - on: before_stage_execute
    run: 'echo "advisory hook failed" >&2; exit 1'
    when: "stage.id == 'build'"
"#,
    );
    project.write(
        "block.plan.yaml",
        r#"plan_id: block
steps:
  - { id: build, run: "touch ran-build" }
  - { id: deploy, run: "touch ran-deploy", depends_on: [build] }
"#,
    );
    let out = project.weft(&["run", "block.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "failed");
    // A failing hook that is not blocking only warns.
    assert_eq!(project.status_of(run, "build"), "succeeded");
    assert!(project.exists("ran-build"));
    let deploy = project.step(run, "deploy");
    assert_eq!(deploy.status, "failed");
    let reason = deploy.reason.unwrap_or_default();
    assert!(reason.starts_with("blocked by hook"), "{reason}");
    assert!(reason.contains("change freeze"), "{reason}");
    assert!(!project.exists("ran-deploy"), "the blocked stage's process ran");
    assert!(project.attempts(run, Some("deploy")).is_empty());
    let failed_hooks = project
        .events(run)
        .into_iter()
        .filter(|e| e.kind == "hook_finished")
        .filter(|e| serde_json::from_str::<serde_json::Value>(&e.data).is_ok_and(|d| d["success"] == false));
    let steps: Vec<Option<String>> = failed_hooks.map(|e| e.step_id).collect();
    assert_eq!(steps, [Some("build".to_owned()), Some("deploy".to_owned())]);
}

#[test]
fn workflow_lifecycle_hooks_fire_once_each() {
    let project = project_with_hooks(
        "hook-lifecycle",
        r#"  - on: workflow_started
    run: 'echo "started $WEFT_WORKFLOW_ID $WEFT_RUN_ID" >> audit.log'
  - on: workflow_completed
    run: 'echo "completed $WEFT_WORKFLOW_ID $WEFT_RUN_ID" >> audit.log'
  - on: workflow_failed
    run: 'echo "failed $WEFT_WORKFLOW_ID $WEFT_RUN_ID" >> audit.log'
  - on: after_stage_execute
    run: 'echo "after $WEFT_STAGE_ID $WEFT_STATUS" >> audit.log'
  - on: stage_skipped
    run: 'echo "skipped $WEFT_STAGE_ID" >> audit.log'
"#,
    );
    project.write("good.plan.yaml", "plan_id: good\nsteps:\n  - { id: one, run: \"true\" }\n");
    project.write(
        "bad.plan.yaml",
        "plan_id: bad\nsteps:\n  - { id: two, run: \"exit 1\", on_failure: skip_dependents }\n  - { id: three, run: \"true\", depends_on: [two] }\n",
    );
    let good = project.weft(&["run", "good.plan.yaml"]);
    assert_eq!(good.code, 0, "{good}");
    let bad = project.weft(&["run", "bad.plan.yaml"]);
    assert_eq!(bad.code, 1, "{bad}");
    let (g, b) = (good.run_id(), bad.run_id());
    assert_eq!(
        project.lines("audit.log"),
        [
            format!("started good {g}"),
            "after one succeeded".to_owned(),
            format!("completed good {g}"),
            format!("started bad {b}"),
            "after two failed".to_owned(),
            "skipped three".to_owned(),
            format!("failed bad {b}"),
        ]
    );
}

#[test]
fn rollback_undoes_succeeded_steps_in_reverse_completion_order() {
    let project = project_with_hooks(
        "rollback",
        r#"  - on: rollback_started
    run: 'echo "hook rollback_started" >> audit.log'
  - on: rollback_completed
    run: 'echo "hook rollback_completed" >> audit.log'
"#,
    );
    project.write(
        "rb.plan.yaml",
        r#"plan_id: rb
globals: { max_concurrency: 1, rollback: true }
steps:
  - id: x
    run: 'echo "do x" >> audit.log'
    rollback: { run: 'echo "undo x $WEFT_STAGE_ID" >> audit.log' }
  - id: y
    run: 'echo "do y" >> audit.log'
    rollback: { run: 'echo "undo y" >> audit.log' }
  - id: z
    run: 'echo "do z" >> audit.log'
  - id: w
    run: 'echo "do w" >> audit.log'
    rollback: { command: sh, args: ["-c", 'echo "undo w" >> audit.log'] }
  - id: last
    run: 'echo "do last" >> audit.log; exit 1'
    depends_on: [x, y, z, w]
    rollback: { run: 'echo "undo last" >> audit.log' }
"#,
    );
    let out = project.weft(&["run", "rb.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "failed");
    assert_eq!(
        project.lines("audit.log"),
        [
            "do x",
            "do y",
            "do z",
            "do w",
            "do last",
            "hook rollback_started",
            "undo w",
            "undo y",
            "undo x x",
            "hook rollback_completed",
        ]
    );
    let kinds: Vec<(String, Option<String>)> = project
        .event_kinds(run)
        .into_iter()
        .filter(|(kind, _)| kind.starts_with("rollback") || kind == "run_finished")
        .collect();
    let expected: Vec<(String, Option<String>)> = [
        ("rollback_started", None),
        ("rollback_step", Some("w")),
        ("rollback_step", Some("y")),
        ("rollback_step", Some("x")),
        ("rollback_completed", None),
        ("run_finished", None),
    ]
    .iter()
    .map(|(k, s)| (k.to_string(), s.map(str::to_owned)))
    .collect();
    assert_eq!(kinds, expected);
    assert!(project.events_of(run, "rollback_step", None).iter().all(|e| e["success"] == true));
}

#[test]
fn no_rollback_unless_enabled_and_the_run_failed() {
    let project = Project::new("no-rollback");
    let plan = |rollback: bool, fail: bool| {
        format!(
            "plan_id: nrb\nglobals: {{ rollback: {rollback} }}\nsteps:\n  - id: a\n    run: 'echo do >> audit.log'\n    rollback: {{ run: 'echo undo >> audit.log' }}\n  - {{ id: b, run: 'exit {}', depends_on: [a] }}\n",
            u8::from(fail)
        )
    };
    project.write("nrb.plan.yaml", &plan(false, true));
    assert_eq!(project.weft(&["run", "nrb.plan.yaml"]).code, 1);
    project.write("nrb.plan.yaml", &plan(true, false));
    assert_eq!(project.weft(&["run", "nrb.plan.yaml"]).code, 0);
    assert_eq!(project.lines("audit.log"), ["do", "do"]);
}

#[test]
fn a_hook_that_hangs_is_killed_at_its_timeout() {
    let project = project_with_hooks(
        "hook-timeout",
        r#"  - on: before_stage_execute
    run: 'echo $$ > hook.pgid; sleep 100 & sleep 100'
    timeout_sec: 1
    blocking: true
"#,
    );
    project.write("t.plan.yaml", "plan_id: t\nsteps:\n  - { id: gated, run: 'touch ran-gated' }\n");
    let started = std::time::Instant::now();
    let out = project.weft(&["run", "t.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let pgid = project.wait_for_pgid("hook.pgid");
    let step = project.step(out.run_id(), "gated");
    assert_eq!(step.status, "failed");
    let reason = step.reason.unwrap_or_default();
    assert!(reason.starts_with("blocked by hook") && reason.contains("timed out"), "{reason}");
    assert!(!project.exists("ran-gated"));
    engine_support::assert_group_gone(pgid);
}

#[test]
fn a_hook_that_writes_much_or_leaves_a_process_behind_does_not_stall_the_run() {
    let project = project_with_hooks(
        "hook-chatty",
        r#"  - on: before_stage_execute
    run: 'head -c 300000 /dev/zero | tr "\0" x >&2; echo " the end" >&2; exit 1'
    timeout_sec: 30
  - on: before_stage_execute
    run: 'echo $$ > background.pgid; sleep 30 & echo "left running" >&2'
    timeout_sec: 30
"#,
    );
    project.write("t.plan.yaml", "plan_id: t\nsteps:\n  - { id: main, run: 'touch ran-main' }\n");
    let started = Instant::now();
    let out = project.weft(&["run", "t.plan.yaml"]);
    // Far from the hooks' 30 s: the first one's 300 KB of stderr did not fill the pipe and stall
    // it, and the second one's background sleep neither held the run nor outlived the hook.
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert_eq!(out.code, 0, "{out}");
    assert!(project.exists("ran-main"));
    let hooks = project.events_of(out.run_id(), "hook_finished", Some("main"));
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    let chatty = hooks[0]["detail"].as_str().unwrap();
    assert!(chatty.starts_with("exit 1: xxxx") && chatty.ends_with("xxxx the end"), "{}", &chatty[..40]);
    assert!(chatty.len() < 2_100, "the kept stderr is bounded: {}", chatty.len());
    assert_eq!(hooks[1]["success"], true);
    assert_group_gone(project.wait_for_pgid("background.pgid"));
}

#[test]
fn steps_keep_their_time_limits_and_output_while_a_hook_runs() {
    let project = project_with_hooks(
        "hook-meanwhile",
        r#"  - on: before_stage_execute
    run: 'sleep 4'
    when: "stage.id == 'gated'"
"#,
    );
    // `slow` starts first, then `gated`'s hook holds the engine's thread for 4 s. Meanwhile `slow`
    // writes more than a pipe holds and then outlives its 1 s limit; `quick` ends.
    project.write(
        "meanwhile.plan.yaml",
        r#"plan_id: meanwhile
globals: { max_concurrency: 3, on_failure: continue }
steps:
  - id: slow
    run: 'seq 40000; echo $$ > slow.pgid; sleep 30'
    timeout_sec: 1
  - { id: quick, run: 'echo quick' }
  - { id: gated, run: 'echo gated' }
"#,
    );
    let out = project.weft(&["run", "meanwhile.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    let slow = project.step(run, "slow");
    assert_eq!(slow.status, "timed_out");
    // Stopped at its limit (1 s, then the 0.2 s grace), not when the 4 s hook was done.
    let duration = slow.duration_ms.unwrap();
    assert!(duration < 3_000, "slow ran {duration} ms");
    assert!(project.attempts(run, Some("slow"))[0].stdout_tail.ends_with("39999\n40000\n"));
    assert_group_gone(project.wait_for_pgid("slow.pgid"));
    assert_eq!(project.status_of(run, "quick"), "succeeded");
    assert_eq!(project.status_of(run, "gated"), "succeeded");
}

/// Runs `file`, presses Ctrl-C once the process that writes its group id to `pgid_file` has
/// started, and checks the run ended (exit 1) well before that process's 30 s sleep would have.
fn interrupt_once_started(project: &Project, file: &str, pgid_file: &str) -> (i64, i32) {
    let started = Instant::now();
    let background = project.spawn(&["run", file]);
    let run = background.run_id();
    let pgid = project.wait_for_pgid(pgid_file);
    background.signal(libc::SIGINT);
    let out = background.wait();
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert_eq!(out.code, 1, "{out}");
    (run, pgid)
}

#[test]
fn ctrl_c_during_a_slow_hook_stops_it_and_the_stage_does_not_start() {
    let project = project_with_hooks(
        "hook-cancel",
        r#"  - on: before_stage_execute
    run: 'echo $$ > hook.pgid; sleep 30 & sleep 30'
    blocking: true
"#,
    );
    project.write(
        "slow.plan.yaml",
        "plan_id: slow\nsteps:\n  - { id: deploy, run: 'touch ran-deploy' }\n  - { id: after, run: 'touch ran-after', depends_on: [deploy] }\n",
    );
    let (run, pgid) = interrupt_once_started(&project, "slow.plan.yaml", "hook.pgid");
    assert_eq!(project.run_record(run).status, "canceled");
    assert_eq!(project.step(run, "deploy").status, "canceled");
    assert_eq!(project.step(run, "after").status, "canceled");
    assert!(project.attempts(run, Some("deploy")).is_empty());
    assert!(!project.exists("ran-deploy"));
    assert_group_gone(pgid);
    let hook = project.events_of(run, "hook_finished", Some("deploy"));
    assert_eq!(hook.len(), 1, "{hook:?}");
    assert_eq!(hook[0]["success"], false);
    assert_eq!(hook[0]["detail"], "stopped: the run was canceled");
    project.assert_integrity();
}

#[test]
fn ctrl_c_during_a_slow_rollback_stops_it_and_undoes_nothing_more() {
    let project = Project::with_config("rollback-cancel", FAST_DEFAULTS);
    project.write(
        "undo.plan.yaml",
        r#"plan_id: undo
globals: { max_concurrency: 1, rollback: true }
steps:
  - { id: first, run: "true", rollback: { run: 'echo "undo first" >> audit.log' } }
  - { id: second, run: "true", depends_on: [first], rollback: { run: 'echo $$ > undo.pgid; sleep 30 & sleep 30' } }
  - { id: broken, run: "exit 3", depends_on: [second] }
"#,
    );
    let (run, pgid) = interrupt_once_started(&project, "undo.plan.yaml", "undo.pgid");
    assert_eq!(project.run_record(run).status, "failed");
    assert_group_gone(pgid);
    // `second` was being undone when the run was canceled; `first` was not undone after it.
    let undone = project.events_of(run, "rollback_step", None);
    assert_eq!(undone.len(), 1, "{undone:?}");
    assert_eq!(undone[0]["step"], "second");
    assert_eq!(undone[0]["error"], "stopped: the run was canceled");
    assert!(!project.exists("audit.log"));
    project.assert_integrity();
}
