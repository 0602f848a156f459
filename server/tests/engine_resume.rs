//! Crash and resume (SPEC §6): the engine is killed with SIGKILL mid-run; the history stays
//! consistent, `weft status` tells the run was interrupted, and `weft resume` finishes it without
//! running succeeded steps again (steps that were running run again: at-least-once).

mod engine_support;

use std::time::Duration;

use engine_support::{sha256_hex, wait_until, Background, Project, FAST_DEFAULTS};

/// `a` is fast; `b` sleeps on its first attempt only, recording its process group; `c` follows.
const CRASH_PLAN: &str = r#"plan_id: crash
steps:
  - id: a
    run: "echo a >> a.count; echo token=t1 >> $WEFT_OUTPUT"
    provides: [token]
  - id: b
    run: |
      echo $$ >> b.pgids
      echo "b $WEFT_ATTEMPT token=$WEFT_IN_TOKEN" >> b.log
      if [ "$WEFT_ATTEMPT" = 1 ]; then sleep 30; fi
    depends_on: [a]
    consumes: [token]
  - id: c
    run: "touch ran-c"
    depends_on: [b]
"#;

/// Starts the crash plan and kills `weft` with SIGKILL while `b` runs; returns the run id and the
/// process group of `b`'s first attempt (left behind by the dead engine).
fn crash(project: &Project) -> (i64, i32) {
    project.write("crash.plan.yaml", CRASH_PLAN);
    let background: Background = project.spawn(&["run", "crash.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "b", "running");
    let pgid = project.wait_for_pgid("b.pgids");
    background.signal(libc::SIGKILL);
    let out = background.wait();
    assert_eq!(out.code, 128 + libc::SIGKILL, "{out}");
    (run, pgid)
}

#[test]
fn a_killed_run_is_resumed_without_running_succeeded_steps_again() {
    let project = Project::new("crash");
    let (run, _orphan) = crash(&project);
    project.assert_integrity();

    // The history recorded it running; its engine is gone, so it shows as interrupted, with the
    // command that resumes it.
    let record = project.run_record(run);
    assert_eq!(record.status, "interrupted");
    assert_eq!(record.finished_at, None);
    assert_eq!(project.status_of(run, "a"), "succeeded");
    assert_eq!(project.status_of(run, "b"), "interrupted");
    let status = project.weft(&["status", &run.to_string()]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("interrupted"), "{status}");
    assert!(status.stdout.contains(&format!("`weft resume {run}`")), "{status}");
    let json = project.weft(&["status", &run.to_string(), "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(json.stdout.trim()).expect("status JSON");
    assert_eq!(value["run"]["status"], "interrupted");
    let events_before = project.events(run).len();

    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert!(resumed.stdout.starts_with(&format!("run {run} resumed")), "{resumed}");
    assert!(!resumed.stdout.contains("changed since"), "nothing changed: {resumed}");

    let record = project.run_record(run);
    assert_eq!(record.status, "succeeded");
    assert!(record.finished_at.is_some());
    // `a` ran exactly once, in the first process.
    assert_eq!(project.lines("a.count"), ["a"]);
    let a = project.attempts(run, Some("a"));
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].attempt, a[0].status.as_str()), (1, "succeeded"));
    assert_eq!(project.step(run, "a").attempts, 1);
    // `b` ran again as attempt 2, with `a`'s output carried over.
    let b = project.step(run, "b");
    assert_eq!((b.status.as_str(), b.attempts), ("succeeded", 2));
    let b_attempts = project.attempts(run, Some("b"));
    assert_eq!(b_attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(b_attempts[1].status, "succeeded");
    assert_eq!(project.lines("b.log"), ["b 1 token=t1", "b 2 token=t1"]);
    assert_eq!(project.status_of(run, "c"), "succeeded");
    assert!(project.exists("ran-c"));

    // The resumed part of the history continues the first one.
    let events = project.events(run);
    assert!(events.len() > events_before);
    assert_eq!(events[events_before].kind, "run_resumed");
    assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1), "event seqs have gaps or repeats");
    assert_eq!(events.last().map(|e| e.kind.as_str()), Some("run_finished"));
    project.assert_integrity();
}

#[test]
fn resume_stops_the_orphaned_process_group_of_the_dead_run() {
    let project = Project::new("crash-orphan");
    let (run, orphan) = crash(&project);
    assert!(!engine_support::group_is_gone(orphan), "the orphan should still be running before resume");
    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 0, "{resumed}");
    engine_support::assert_group_gone(orphan);
}

#[test]
fn resume_of_a_changed_file_names_the_changed_steps() {
    let project = Project::with_config(
        "resume-changed",
        &format!("{FAST_DEFAULTS}hooks:\n  - on: run_resumed\n    run: 'echo \"resumed $WEFT_RUN_ID\" >> hooks.log'\n"),
    );
    let plan = |b_script: &str| {
        format!(
            "plan_id: changed\nsteps:\n  - {{ id: a, run: 'echo a >> a.count' }}\n  - {{ id: b, run: '{b_script}', depends_on: [a] }}\n  - {{ id: c, run: 'touch ran-c', depends_on: [b] }}\n"
        )
    };
    project.write("changed.plan.yaml", &plan("exit 1"));
    let first = project.weft(&["run", "changed.plan.yaml"]);
    assert_eq!(first.code, 1, "{first}");
    let run = first.run_id();
    assert_eq!(project.run_record(run).status, "failed");
    assert_eq!(project.status_of(run, "c"), "canceled");

    let fixed = plan("echo fixed > b.txt");
    project.write("changed.plan.yaml", &fixed);
    // A file resumes its latest unfinished run.
    let resumed = project.weft(&["resume", "changed.plan.yaml"]);
    assert_eq!(resumed.code, 0, "{resumed}");
    let changed_line = resumed
        .stdout
        .lines()
        .find(|l| l.starts_with("changed since the run started"))
        .unwrap_or_else(|| panic!("no list of changed steps: {resumed}"));
    let listed = changed_line.split_once(": ").map_or("", |(_, rest)| rest);
    let listed: Vec<&str> = listed.split(" (").next().unwrap_or_default().split(", ").collect();
    assert_eq!(listed, ["b"], "{changed_line}");

    let record = project.run_record(run);
    assert_eq!(record.status, "succeeded");
    // The history holds the plan as it ran last.
    assert_eq!(record.plan_text, fixed);
    assert_eq!(record.plan_hash, sha256_hex(&fixed));
    assert_eq!(project.lines("a.count"), ["a"], "`a` succeeded before and must not run again");
    let b = project.step(run, "b");
    assert_eq!((b.status.as_str(), b.attempts), ("succeeded", 2));
    assert_eq!(project.read("b.txt").trim(), "fixed");
    assert_eq!(project.status_of(run, "c"), "succeeded");
    assert_eq!(project.steps(run).len(), 3);
    assert_eq!(project.lines("hooks.log"), [format!("resumed {run}")]);
}

#[test]
fn resume_refuses_finished_and_active_runs() {
    let project = Project::new("resume-refused");
    project.write("ok.plan.yaml", "plan_id: ok\nsteps:\n  - { id: a, run: 'true' }\n");
    let done = project.weft(&["run", "ok.plan.yaml"]);
    assert_eq!(done.code, 0, "{done}");
    let again = project.weft(&["resume", &done.run_id().to_string()]);
    assert_eq!(again.code, 2, "{again}");
    assert!(again.stderr.contains("already succeeded"), "{again}");
    let none = project.weft(&["resume", "ok.plan.yaml"]);
    assert_eq!(none.code, 2, "{none}");

    // A run whose owner is alive is not resumed behind its back.
    project.write(
        "wait.plan.yaml",
        "plan_id: wait\nsteps:\n  - { id: w, run: 'while [ ! -f release ]; do sleep 0.05; done' }\n",
    );
    let background = project.spawn(&["run", "wait.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "w", "running");
    let refused = project.weft(&["resume", &run.to_string()]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("still running"), "{refused}");
    project.write("release", "");
    let out = background.wait();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(project.run_record(run).status, "succeeded");
    assert_eq!(project.step(run, "w").attempts, 1);
}

#[test]
fn a_run_killed_between_steps_resumes_cleanly() {
    // Kill the engine at many moments of a short run; every time the history must stay consistent and
    // resume must finish the run with each step succeeded exactly once after it first succeeded.
    let project = Project::new("crash-anywhere");
    project.write(
        "many.plan.yaml",
        r#"plan_id: many
globals: { max_concurrency: 2 }
steps:
  - { id: s1, run: "echo s1 >> done.log; sleep 0.05" }
  - { id: s2, run: "echo s2 >> done.log; sleep 0.05", depends_on: [s1] }
  - { id: s3, run: "echo s3 >> done.log; sleep 0.05", depends_on: [s1] }
  - { id: s4, run: "echo s4 >> done.log; sleep 0.05", depends_on: [s2, s3] }
"#,
    );
    for delay_ms in [30u64, 90, 150] {
        let _ = std::fs::remove_file(project.path("done.log"));
        let background = project.spawn(&["run", "many.plan.yaml"]);
        let run = background.run_id();
        std::thread::sleep(Duration::from_millis(delay_ms));
        background.signal(libc::SIGKILL);
        let _ = background.wait();
        project.assert_integrity();
        let record = project.run_record(run);
        if delay_ms == 30 {
            // The steps alone take 150 ms: this kill always interrupts the run.
            assert_eq!(record.status, "interrupted");
        }
        if record.status == "interrupted" {
            wait_until(Duration::from_secs(5), "the engine's lock to be released", || {
                project.weft(&["status", &run.to_string()]).stdout.contains("interrupted")
            });
            let resumed = project.weft(&["resume", &run.to_string()]);
            assert_eq!(resumed.code, 0, "{resumed}");
        }
        assert_eq!(project.run_record(run).status, "succeeded", "after a kill at {delay_ms} ms");
        for step in project.steps(run) {
            assert_eq!(step.status, "succeeded", "{step:?}");
            let attempts = project.attempts(run, Some(&step.id));
            let succeeded = attempts.iter().filter(|a| a.status == "succeeded").count();
            assert_eq!(succeeded, 1, "`{}` succeeded {succeeded} times: {attempts:?}", step.id);
        }
        project.assert_integrity();
    }
}

#[test]
fn resuming_a_stage_run_runs_only_that_stage_again() {
    let project = Project::new("resume-stage");
    let plan = |deploy: &str| {
        format!(
            "plan_id: staged\nsteps:\n  - {{ id: build, run: 'touch ran-build' }}\n  - {{ id: deploy, run: '{deploy}', depends_on: [build] }}\n  - {{ id: release, run: 'touch ran-release', depends_on: [deploy] }}\n"
        )
    };
    project.write("staged.plan.yaml", &plan("exit 1"));
    let first = project.weft(&["run", "staged.plan.yaml", "--stage", "deploy"]);
    assert_eq!(first.code, 1, "{first}");
    let run = first.run_id();
    project.write("staged.plan.yaml", &plan("touch ran-deploy"));
    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert!(project.exists("ran-deploy"));
    // The run was of `deploy` alone: resuming it must not start what was never selected.
    assert!(!project.exists("ran-build") && !project.exists("ran-release"), "{resumed}");
    let steps = project.step_map(run);
    assert_eq!(steps["build"], ("skipped".to_owned(), Some("not selected".to_owned())));
    assert_eq!(steps["release"], ("skipped".to_owned(), Some("not selected".to_owned())));
    assert_eq!(steps["deploy"].0, "succeeded");
}

#[test]
fn canceling_an_interrupted_run_leaves_no_step_running() {
    let project = Project::new("cancel-interrupted");
    let (run, _orphan) = crash(&project);
    let cancel = project.weft(&["cancel", &run.to_string()]);
    assert_eq!(cancel.code, 0, "{cancel}");
    assert!(cancel.stdout.contains("already gone"), "{cancel}");
    let record = project.run_record(run);
    assert_eq!(record.status, "canceled");
    assert!(record.finished_at.is_some());
    let steps = project.step_map(run);
    assert_eq!(steps["a"].0, "succeeded");
    // A canceled run has no step left running or pending.
    assert_eq!(steps["b"].0, "canceled", "{steps:?}");
    assert_eq!(steps["c"].0, "canceled", "{steps:?}");
    assert!(project.attempts(run, None).iter().all(|a| a.status != "running"), "{:?}", project.attempts(run, None));
    project.assert_integrity();
}

#[test]
fn a_failure_its_fallback_recovered_stays_recovered_on_resume() {
    let project = Project::new("resume-fallback");
    project.write(
        "fb.plan.yaml",
        r#"plan_id: fb
steps:
  - { id: primary, run: "echo p >> primary.log; exit 1", on_failure: fallback, fallback: manual }
  - { id: manual, run: "echo m >> manual.log" }
  - { id: deploy, run: "[ -f ok ]", depends_on: [primary] }
"#,
    );
    let first = project.weft(&["run", "fb.plan.yaml"]);
    assert_eq!(first.code, 1, "{first}");
    let run = first.run_id();
    assert_eq!(project.status_of(run, "manual"), "succeeded");
    assert_eq!(project.status_of(run, "deploy"), "failed");

    project.write("ok", "");
    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert_eq!(project.run_record(run).status, "succeeded");
    assert_eq!(project.status_of(run, "deploy"), "succeeded");
    assert_eq!(project.lines("manual.log"), ["m"], "the fallback ran once");
    assert_eq!(project.lines("primary.log"), ["p"], "the recovered step is not run again");
}

/// `gate` waits for a file; `s` records its pid and attempt, writes `value=`, pauses (long on its
/// first attempt) and finishes the line; `c` consumes the value and keeps what it received.
const WINDOW_PLAN: &str = r#"plan_id: window
steps:
  - id: gate
    run: "while [ ! -f go ]; do sleep 0.01; done"
  - id: s
    depends_on: [gate]
    provides: [value]
    run: |
      echo "$$ $WEFT_ATTEMPT" >> s.pids
      while read -r pid attempt; do
        if [ "$pid" != "$$" ] && read -r stat < "/proc/$pid/stat" 2>/dev/null; then
          case "$stat" in *") Z "*|*") X "*) ;; *) echo "$pid (attempt $attempt) alive beside $$ (attempt $WEFT_ATTEMPT)" >> s.overlap ;; esac
        fi
      done < s.pids
      printf 'value=' >> "$WEFT_OUTPUT"
      if [ "$WEFT_ATTEMPT" = 1 ]; then sleep 5; fi
      echo expected >> "$WEFT_OUTPUT"
  - id: c
    depends_on: [s]
    consumes: [value]
    run: 'printf "%s" "$WEFT_IN_VALUE" > c.got; [ "$WEFT_IN_VALUE" = expected ]'
"#;

/// Runs the window plan and kills `weft` right after `s` started, while the database's write lock
/// is held, so the history never learns that `s` started; returns the run and `s`'s process group.
fn lose_the_start_of_s(project: &Project) -> (i64, i32) {
    project.write("window.plan.yaml", WINDOW_PLAN);
    let background = project.spawn(&["run", "window.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "gate", "running");
    // Holding the database's write lock keeps everything after this out of the history, as a kill
    // within the commit interval of a step's start does: `s` starts, its start is not committed.
    let blocker = project.db();
    blocker.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    project.write("go", "");
    let mut old = 0;
    wait_until(Duration::from_secs(20), "`s` to start", || {
        old = project.read("s.pids").split_whitespace().next().and_then(|pid| pid.parse().ok()).unwrap_or(0);
        old > 1
    });
    project.track_group(old);
    background.signal(libc::SIGKILL);
    let killed = background.wait();
    assert_eq!(killed.code, 128 + libc::SIGKILL, "{killed}");
    blocker.execute_batch("ROLLBACK").expect("release the write lock");
    drop(blocker);
    assert!(project.attempts(run, Some("s")).is_empty(), "the history must not know `s` started");
    assert!(!engine_support::group_is_gone(old), "the first `s` outlives its engine until resumed");
    (run, old)
}

#[test]
fn a_step_whose_start_the_history_lost_is_stopped_and_not_reused_on_resume() {
    let project = Project::new("crash-window");
    let (run, old) = lose_the_start_of_s(&project);

    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert!(resumed.stdout.contains("left running by its dead engine"), "{resumed}");
    // The first `s` was gone before the second started, and the two never shared a file.
    assert_eq!(project.read("s.overlap"), "", "a dead engine's step ran beside its replacement");
    engine_support::assert_group_gone(old);
    let attempts: Vec<(i64, String)> =
        project.attempts(run, Some("s")).into_iter().map(|a| (a.attempt, a.status.to_string())).collect();
    assert_eq!(attempts, [(1, "interrupted".to_owned()), (2, "succeeded".to_owned())]);
    assert_eq!(std::fs::read_to_string(project.attempt_file(run, "s", 1, "output")).unwrap(), "value=");
    assert_eq!(std::fs::read_to_string(project.attempt_file(run, "s", 2, "output")).unwrap(), "value=expected\n");
    assert_eq!(project.read("c.got"), "expected");
    assert_eq!(project.run_record(run).status, "succeeded");
    project.assert_integrity();
}

#[test]
fn canceling_a_run_stops_a_step_whose_start_the_history_lost() {
    let project = Project::new("cancel-window");
    let (run, old) = lose_the_start_of_s(&project);
    let cancel = project.weft(&["cancel", &run.to_string()]);
    assert_eq!(cancel.code, 0, "{cancel}");
    assert!(cancel.stdout.contains("it had left running"), "{cancel}");
    engine_support::assert_group_gone(old);
    assert_eq!(project.run_record(run).status, "canceled");
    let attempts: Vec<(i64, String)> =
        project.attempts(run, Some("s")).into_iter().map(|a| (a.attempt, a.status.to_string())).collect();
    assert_eq!(attempts, [(1, "interrupted".to_owned())], "the lost attempt is in the history");
    assert_eq!(project.status_of(run, "s"), "canceled");
    project.assert_integrity();
}

/// A plan whose one step waits for a file, so a run of it can be killed at leisure.
const WAITING_PLAN: &str =
    "plan_id: waiting\nsteps:\n  - { id: w, run: 'echo $$ >> w.pids; while [ ! -f release ]; do sleep 0.02; done' }\n";

/// Starts the waiting plan, kills its engine with SIGKILL once its step runs; returns the run.
fn interrupt_waiting_run(project: &Project) -> i64 {
    project.write("waiting.plan.yaml", WAITING_PLAN);
    let background = project.spawn(&["run", "waiting.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "w", "running");
    project.wait_for_pgid("w.pids");
    background.signal(libc::SIGKILL);
    let _ = background.wait();
    run
}

#[test]
fn an_interrupted_run_shows_as_interrupted_with_the_command_that_resumes_it() {
    let project = Project::new("interrupted-shown");
    let run = interrupt_waiting_run(&project);
    let resume = format!("`weft resume {run}`");

    let status = project.weft(&["status", &run.to_string()]);
    assert_eq!(status.code, 0, "{status}");
    let first = status.stdout.lines().next().unwrap_or_default();
    assert!(first.contains("· interrupted") && first.contains(&resume), "{status}");
    let json = project.weft(&["status", &run.to_string(), "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(json.stdout.trim()).expect("status JSON");
    assert_eq!(value["run"]["status"], "interrupted");
    assert_eq!(value["steps"][0]["status"], "interrupted", "{json}");
    // What the history recorded is unchanged: only what is shown is derived.
    let recorded: String = project
        .db()
        .query_row("SELECT status FROM runs WHERE id = ?1", [run], |row| row.get(0))
        .expect("the run's row");
    assert_eq!(recorded, "running");

    let history = project.weft(&["history"]);
    assert_eq!(history.code, 0, "{history}");
    let row = history.stdout.lines().find(|l| l.trim_start().starts_with(&format!("{run} "))).unwrap_or_default();
    assert!(row.contains("interrupted"), "{history}");
    assert!(history.stdout.contains(&resume), "{history}");

    // Resumed, it is running again (its new engine holds it), then done.
    project.write("release", "");
    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert_eq!(project.run_record(run).status, "succeeded");
    let history = project.weft(&["history"]);
    assert!(!history.stdout.contains("interrupted"), "{history}");
}

#[test]
fn a_new_run_beside_an_interrupted_one_says_how_to_resume_it() {
    let project = Project::new("interrupted-beside");
    let run = interrupt_waiting_run(&project);
    project.write("release", "");
    let second = project.weft(&["run", "waiting.plan.yaml"]);
    assert_eq!(second.code, 0, "{second}");
    assert_ne!(second.run_id(), run);
    assert!(second.stderr.contains(&format!("run {run} of waiting.plan.yaml was interrupted")), "{second}");
    assert!(second.stderr.contains(&format!("`weft resume {run}`")), "{second}");
    // The earlier run is still there to resume; it does not pass for running.
    assert_eq!(project.run_record(run).status, "interrupted");

    // With several, one line names them all and the command that resumes the latest.
    std::fs::remove_file(project.path("release")).expect("remove release");
    let later = interrupt_waiting_run(&project);
    project.write("release", "");
    let third = project.weft(&["run", "waiting.plan.yaml"]);
    assert_eq!(third.code, 0, "{third}");
    let notes: Vec<&str> = third.stderr.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(notes.len(), 1, "{third}");
    assert!(notes[0].contains(&format!("runs {later}, {run} of waiting.plan.yaml were interrupted")), "{third}");
    assert!(notes[0].contains(&format!("`weft resume {later}` continues the latest")), "{third}");
}

#[test]
fn a_live_run_shows_as_running_even_without_the_file_lock() {
    let project = Project::new("live-running");
    project.write("waiting.plan.yaml", WAITING_PLAN);
    // `--allow-concurrent` takes no lock of the file: the run's own lock says its engine is alive.
    let background = project.spawn(&["run", "waiting.plan.yaml", "--allow-concurrent"]);
    let run = background.run_id();
    project.wait_for_step(run, "w", "running");
    let status = project.weft(&["status", &run.to_string(), "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(status.stdout.trim()).expect("status JSON");
    assert_eq!(value["run"]["status"], "running", "{status}");
    let history = project.weft(&["history"]);
    assert!(!history.stdout.contains("interrupted"), "{history}");
    // Nor can it be resumed behind its engine's back.
    let refused = project.weft(&["resume", &run.to_string()]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("still running"), "{refused}");
    project.write("release", "");
    let out = background.wait();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(project.step(run, "w").attempts, 1);
}

/// After `weft rollback`, resuming runs the rolled-back stages again; a stage downstream of them
/// that succeeded is not run again, but what follows it waits for them: `deploy` never starts
/// before `migrate` has finished again (it used to start at once, beside `build`).
#[test]
fn a_resumed_run_never_starts_a_step_before_its_upstream() {
    let project = Project::new("resume-order");
    project.write(
        "order.plan.yaml",
        r#"plan_id: order
globals: { max_concurrency: 2 }
steps:
  - id: build
    run: "sleep 0.3; echo built > app.txt"
    rollback: { run: "rm -f app.txt" }
  - id: migrate
    run: "sleep 0.3; echo v2 > schema.txt"
    rollback: { run: "rm -f schema.txt" }
    depends_on: [build]
  - id: review
    run: "echo reviewed"
    depends_on: [migrate]
  - id: deploy
    run: "test -f READY && cat app.txt schema.txt > live.txt"
    depends_on: [review]
"#,
    );
    let first = project.weft(&["run", "order.plan.yaml"]);
    assert_eq!(first.code, 1, "{first}");
    let rollback = project.weft(&["rollback", "1"]);
    assert_eq!(rollback.code, 0, "{rollback}");
    project.write("READY", "");
    let resumed = project.weft(&["resume", "1"]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert_eq!(project.read("live.txt"), "built\nv2\n");
    // `review` succeeded in the first run and is not run again.
    assert_eq!(project.attempts(1, Some("review")).len(), 1);
    let events = project.events(1);
    let seq = |kind: &str, step: &str| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.step_id.as_deref() == Some(step))
            .map(|e| e.seq)
            .max()
            .unwrap_or_else(|| panic!("no {kind} of {step}"))
    };
    assert!(seq("step_started", "deploy") > seq("step_succeeded", "migrate"), "{events:?}");
}
