//! The Slurm executor on a real cluster (SPEC §11): each attempt a batch job, its result read from
//! Slurm's own records, its timeout enforced by weft, its outputs passed downstream, a cancel that
//! cancels every job, retries that submit new jobs, a mixed workflow, and a resume after kill -9
//! that re-attaches to the jobs instead of submitting them again, and the release example run on
//! the cluster with the same results as here.
//!
//! The cluster is the project's own single-node one (`tests/slurm/cluster.sh start`, which
//! `.ci/run` starts). Where it is not running the tests say so and pass; under `CI=true` they fail.

mod engine_support;
mod slurm_support;

use std::process::Command;
use std::time::Duration;

use engine_support::{max_overlap, wait_until, Project, FAST_DEFAULTS};
use serde_json::Value;
use slurm_support::{cluster, job_state};

/// The job names Slurm has for a job-name prefix, with how many jobs bear each.
fn jobs_named(prefix: &str) -> std::collections::BTreeMap<String, usize> {
    let out =
        Command::new("squeue").args(["--noheader", "--states=all", "--Format=Name:200"]).output().expect("squeue");
    let mut names = std::collections::BTreeMap::new();
    for name in String::from_utf8_lossy(&out.stdout).lines().map(str::trim).filter(|n| n.starts_with(prefix)) {
        *names.entry(name.to_owned()).or_default() += 1;
    }
    names
}

fn slurm_project(name: &str, plan: &str) -> Project {
    let project = Project::new(name);
    project.write("p.plan.yaml", plan);
    project
}

#[test]
fn jobs_succeed_fail_and_pass_outputs_downstream_beside_local_steps() {
    if !cluster() {
        return;
    }
    let project = slurm_project(
        "slurm-basic",
        r#"plan_id: basic
globals: { executor: slurm, on_failure: continue }
steps:
  - id: make
    run: 'echo "made on job $SLURM_JOB_ID"; echo "value=42" >> "$WEFT_OUTPUT"'
    provides: [value]
  - id: use
    depends_on: [make]
    consumes: [value]
    run: 'echo "got $WEFT_IN_VALUE and $GREETING in $(pwd)"; echo "warned" >&2'
    env: { GREETING: "it's $HOME" }
    cwd: sub
  - id: here
    executor: local
    depends_on: [make]
    consumes: [value]
    run: 'echo "local got $WEFT_IN_VALUE"; test -z "$SLURM_JOB_ID"'
  - id: broken
    required: false
    run: 'echo failing; exit 3'
"#,
    );
    std::fs::create_dir_all(project.path("sub")).unwrap();
    let out = project.weft(&["run", "p.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    let status = |step: &str| project.status_of(run, step);
    assert_eq!(status("make"), "succeeded");
    assert_eq!(status("use"), "succeeded");
    assert_eq!(status("here"), "succeeded");
    assert_eq!(status("broken"), "failed");
    assert_eq!(project.step(run, "broken").exit_code, Some(3), "the exit code comes from Slurm's records");

    // The values a downstream step received, in its job and in a local step.
    let use_out = std::fs::read_to_string(project.attempt_file(run, "use", 1, "stdout")).unwrap();
    assert_eq!(use_out.trim(), format!("got 42 and it's $HOME in {}", project.path("sub").display()));
    assert_eq!(std::fs::read_to_string(project.attempt_file(run, "use", 1, "stderr")).unwrap(), "warned\n");
    assert!(std::fs::read_to_string(project.attempt_file(run, "here", 1, "stdout")).unwrap().contains("local got 42"));
    // A stream that wrote nothing has no log file, as locally.
    assert!(!project.attempt_file(run, "make", 1, "stderr").exists());

    // Each attempt records its executor and the job; Slurm agrees on how each ended.
    for attempt in project.attempts(run, None) {
        let expected = if attempt.step_id == "here" { "local" } else { "slurm" };
        assert_eq!(attempt.executor, expected, "{}", attempt.step_id);
        let id = attempt.executor_id.clone().expect("an executor id");
        if expected == "slurm" {
            let (state, status) = job_state(&id);
            if attempt.step_id == "broken" {
                assert_eq!((state.as_str(), status), ("FAILED", 3 << 8));
            } else {
                assert_eq!((state.as_str(), status), ("COMPLETED", 0), "{}", attempt.step_id);
            }
        }
    }
    let make_out = std::fs::read_to_string(project.attempt_file(run, "make", 1, "stdout")).unwrap();
    let make_job = project.attempts(run, Some("make"))[0].executor_id.clone().unwrap();
    assert_eq!(make_out.trim(), format!("made on job {make_job}"));

    // `weft status --format json` names each step's job; null for the local one.
    let json = project.weft(&["status", &run.to_string(), "--format", "json"]);
    let value: Value = serde_json::from_str(json.stdout.trim()).expect("JSON");
    let field =
        |id: &str, key: &str| value["steps"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap()[key].clone();
    let job_of = |id: &str| field(id, "job_id");
    assert_eq!(job_of("make"), Value::String(make_job));
    assert_eq!(job_of("here"), Value::Null);
    assert_eq!((field("make", "executor"), field("here", "executor")), (Value::from("slurm"), Value::from("local")));
    // `weft status` shows each step's job beside its attempts.
    let table = project.weft(&["status", &run.to_string()]);
    let make_line = table.stdout.lines().find(|l| l.starts_with("make ")).expect("a line for make").to_owned();
    assert!(make_line.contains(&format!("  {}  ", job_of("make").as_str().unwrap())), "{table}");
    assert!(table.stdout.lines().any(|l| l.ends_with("job  reason")), "{table}");
    // `weft logs` reads the job's output file.
    let logs = project.weft(&["logs", &run.to_string(), "use"]);
    assert!(logs.stdout.contains("got 42"), "{logs}");
    project.assert_integrity();
}

#[test]
fn a_timeout_is_enforced_by_weft_at_the_second_and_retries_submit_new_jobs() {
    if !cluster() {
        return;
    }
    let project = slurm_project(
        "slurm-timeout",
        r#"plan_id: timeout
globals: { executor: slurm, on_failure: continue }
steps:
  - id: slow
    timeout_sec: 2
    run: 'echo started; sleep 120'
  - id: flaky
    retries: 1
    run: 'if [ "$WEFT_ATTEMPT" = 1 ]; then echo "first try fails" >&2; exit 9; fi; echo "second try"'
"#,
    );
    let started = std::time::Instant::now();
    let out = project.weft(&["run", "p.plan.yaml"]);
    let elapsed = started.elapsed();
    let run = out.run_id();
    assert_eq!(project.status_of(run, "slow"), "timed_out", "{out}");
    assert!(elapsed < Duration::from_secs(30), "weft stopped the job at its timeout, not Slurm at --time: {elapsed:?}");
    let slow = &project.attempts(run, Some("slow"))[0];
    // Cancelled by weft at its timeout, long before its `--time`.
    assert_eq!(job_state(slow.executor_id.as_deref().unwrap()).0, "CANCELLED");
    assert_eq!(project.step(run, "slow").reason.as_deref(), Some("timed out after 2 s"));

    assert_eq!(project.status_of(run, "flaky"), "succeeded");
    let attempts = project.attempts(run, Some("flaky"));
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, "failed");
    assert_eq!(attempts[0].exit_code, Some(9));
    assert_eq!(attempts[0].stderr_tail, "first try fails\n");
    assert_ne!(attempts[0].executor_id, attempts[1].executor_id, "a retry is a new job");
    assert_eq!(job_state(attempts[1].executor_id.as_deref().unwrap()).0, "COMPLETED");
}

#[test]
fn max_concurrency_bounds_the_jobs_in_slurms_hands() {
    if !cluster() {
        return;
    }
    let project = slurm_project(
        "slurm-bounded",
        r#"plan_id: bounded
globals: { executor: slurm, max_concurrency: 2 }
steps:
  - { id: p1, run: "sleep 1" }
  - { id: p2, run: "sleep 1" }
  - { id: p3, run: "sleep 1" }
  - { id: p4, run: "sleep 1" }
  - { id: p5, run: "sleep 1" }
"#,
    );
    let out = project.weft(&["run", "p.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    let attempts = project.attempts(run, None);
    assert_eq!(attempts.len(), 5);
    assert_eq!(max_overlap(&attempts), 2, "two at a time in the history: {attempts:#?}");
    // Slurm's own records: from submission to end, never more than two of the run's jobs at once.
    let ids: Vec<String> = attempts.iter().map(|a| a.executor_id.clone().expect("a job id")).collect();
    let listed = Command::new("squeue")
        .args(["--noheader", "--states=all", "--jobs", &ids.join(","), "--Format=JobID:|,SubmitTime:|,EndTime:"])
        .output()
        .expect("squeue");
    let text = String::from_utf8_lossy(&listed.stdout);
    let spans: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            (fields[1].to_owned(), fields[2].to_owned())
        })
        .collect();
    assert_eq!(spans.len(), 5, "{text}");
    // Whole seconds, half-open: a job submitted once another's end is known starts at or after it.
    let most =
        spans.iter().map(|(start, _)| spans.iter().filter(|(s, e)| s <= start && start < e).count()).max().unwrap();
    assert!(most <= 2, "at most two jobs in flight, Slurm says: {text}");
}

#[test]
fn a_time_limit_counts_from_when_the_job_leaves_the_queue() {
    if !cluster() {
        return;
    }
    // `held` waits in the queue (`--hold`) longer than its time limit, then runs within it;
    // `slow`, beside it, runs past its own and is stopped.
    let project = slurm_project(
        "slurm-queued-timeout",
        r#"plan_id: queued
globals: { executor: slurm, on_failure: continue }
steps:
  - id: held
    timeout_sec: 2
    executor_options: { extra_args: [--hold] }
    run: 'sleep 1; echo ran'
  - { id: slow, timeout_sec: 2, run: 'sleep 60' }
"#,
    );
    let background = project.spawn(&["run", "p.plan.yaml"]);
    let run = background.run_id();
    let mut job = None;
    wait_until(Duration::from_secs(20), "held to be submitted", || {
        job = project.attempts(run, Some("held")).first().and_then(|a| a.executor_id.clone());
        job.is_some()
    });
    let job = job.unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(job_state(&job).0, "PENDING", "still held after twice its time limit");
    assert_eq!(project.status_of(run, "held"), "running");
    // `weft status` says it waits in the queue, and for how long.
    let table = project.weft(&["status", &run.to_string()]);
    let row = table.stdout.lines().find(|line| line.starts_with("held ")).expect("a row for held").to_owned();
    assert!(row.contains("pending in slurm for "), "{table}");
    let queued = |id: &str| {
        let json = project.weft(&["status", &run.to_string(), "--format", "json"]);
        let value: Value = serde_json::from_str(json.stdout.trim()).expect("JSON");
        value["steps"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap()["queued_ms"].clone()
    };
    assert!(queued("held").as_i64().is_some_and(|ms| ms >= 4_000), "{:?}", queued("held"));
    let released = Command::new("scontrol").args(["release", &job]).status().expect("scontrol");
    assert!(released.success());
    let out = background.wait();
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(project.status_of(run, "held"), "succeeded", "{out}");
    assert_eq!(std::fs::read_to_string(project.attempt_file(run, "held", 1, "stdout")).unwrap(), "ran\n");
    assert_eq!(project.status_of(run, "slow"), "timed_out", "{out}");
    let running = project.events_of(run, "step_job_running", Some("held"));
    assert_eq!(running.len(), 1, "{running:?}");
    // Its wait ended when it left the queue; `slow` barely waited.
    let held = queued("held").as_i64().expect("held's wait is known");
    assert!((4_000..60_000).contains(&held), "{held}");
    assert!(queued("slow").as_i64().is_some_and(|ms| ms < 4_000), "{:?}", queued("slow"));
}

#[test]
fn cancel_and_ctrl_c_cancel_every_job_of_the_run() {
    if !cluster() {
        return;
    }
    let project = slurm_project(
        "slurm-cancel",
        r#"plan_id: cancel
globals: { executor: slurm }
steps:
  - { id: one, run: 'sleep 120' }
  - { id: two, run: 'sleep 120' }
"#,
    );
    let background = project.spawn(&["run", "p.plan.yaml"]);
    let run = background.run_id();
    let mut jobs = Vec::new();
    wait_until(Duration::from_secs(30), "both jobs to run", || {
        jobs = project.attempts(run, None).into_iter().filter_map(|a| a.executor_id).collect();
        jobs.len() == 2 && jobs.iter().all(|id| job_state(id).0 == "RUNNING")
    });
    let cancel = project.weft(&["cancel", &run.to_string()]);
    assert_eq!(cancel.code, 0, "{cancel}");
    let out = background.wait();
    assert_eq!(project.run_record(run).status, "canceled", "{out}");
    for id in &jobs {
        wait_until(Duration::from_secs(20), "the job to be cancelled in Slurm", || job_state(id).0 == "CANCELLED");
    }
    assert_eq!(project.status_of(run, "one"), "canceled");
    assert_eq!(project.status_of(run, "two"), "canceled");

    // Ctrl-C in the terminal does the same.
    let background = project.spawn(&["run", "p.plan.yaml"]);
    let run = background.run_id();
    let mut jobs = Vec::new();
    wait_until(Duration::from_secs(30), "both jobs to run again", || {
        jobs = project.attempts(run, None).into_iter().filter_map(|a| a.executor_id).collect();
        jobs.len() == 2 && jobs.iter().all(|id| job_state(id).0 == "RUNNING")
    });
    background.signal(libc::SIGINT);
    let out = background.wait();
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(project.run_record(run).status, "canceled", "{out}");
    for id in &jobs {
        wait_until(Duration::from_secs(20), "the job to be cancelled in Slurm", || job_state(id).0 == "CANCELLED");
    }
}

#[test]
fn resume_after_kill_9_reattaches_to_running_jobs_and_submits_nothing_twice() {
    if !cluster() {
        return;
    }
    let project = slurm_project(
        "slurm-reattach",
        r#"plan_id: reattach
globals: { executor: slurm, max_concurrency: 3 }
steps:
  - { id: a, run: 'sleep 4; echo "a=1" >> "$WEFT_OUTPUT"', provides: [a] }
  - { id: b, run: 'sleep 4; echo b' }
  - { id: quick, run: 'echo quick' }
  - { id: after, depends_on: [a, b, quick], consumes: [a], run: 'echo "after got $WEFT_IN_A"' }
"#,
    );
    let background = project.spawn(&["run", "p.plan.yaml"]);
    let run = background.run_id();
    // Kill -9 once three jobs are in Slurm's hands, at least one still running.
    wait_until(Duration::from_secs(30), "three jobs submitted", || {
        project.attempts(run, None).iter().filter(|a| a.executor_id.is_some()).count() == 3
    });
    background.signal(libc::SIGKILL);
    let _ = background.wait();
    let before: Vec<_> = project.attempts(run, None).into_iter().filter_map(|a| a.executor_id).collect();
    assert!(
        before.iter().any(|id| ["PENDING", "RUNNING"].contains(&job_state(id).0.as_str())),
        "a job still runs when the engine is gone"
    );

    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert_eq!(project.run_record(run).status, "succeeded");
    // One attempt and one job per step, the jobs of the dead engine among them.
    let attempts = project.attempts(run, None);
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    for attempt in &attempts {
        assert_eq!((attempt.attempt, attempt.status.as_str()), (1, "succeeded"), "{}", attempt.step_id);
    }
    for id in &before {
        assert!(attempts.iter().any(|a| a.executor_id.as_ref() == Some(id)), "job {id} was re-attached");
    }
    let token = project.run_record(run).token.expect("a token");
    let prefix = format!("weft-{}-", &token[..12]);
    let names = jobs_named(&prefix);
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.values().all(|count| *count == 1), "no job was submitted twice: {names:?}");
    let after = std::fs::read_to_string(project.attempt_file(run, "after", 1, "stdout")).unwrap();
    assert_eq!(after.trim(), "after got 1");
    let reattached = project.events_of(run, "step_reattached", None);
    assert!(!reattached.is_empty(), "the resumed engine says it re-attached");
    project.assert_integrity();
}

#[test]
fn a_resume_runs_on_the_executor_weft_run_was_given_unless_told_otherwise() {
    if !cluster() {
        return;
    }
    // The file says nothing of executors; `weft run --executor slurm` does. `second` fails until
    // it has been tried twice.
    let project = slurm_project(
        "slurm-resume-executor",
        r#"plan_id: resumed
steps:
  - { id: first, run: 'true' }
  - id: second
    depends_on: [first]
    run: 'echo x >> tries; test "$(wc -l < tries)" -ge 3'
"#,
    );
    let out = project.weft(&["run", "--executor", "slurm", "p.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    // A resume from a terminal keeps it, as one from the editor's lens does (the same engine call).
    let again = project.weft(&["resume", &run.to_string()]);
    assert_eq!(again.code, 1, "{again}");
    assert!(again.stdout.contains("second queued in slurm (job "), "{again}");
    // Told otherwise, the next resume runs it here.
    let here = project.weft(&["resume", &run.to_string(), "--executor", "local"]);
    assert_eq!(here.code, 0, "{here}");
    let ran: Vec<_> = project.attempts(run, Some("second")).into_iter().map(|a| a.executor).collect();
    assert_eq!(ran, ["slurm", "slurm", "local"]);
    assert_eq!(project.attempts(run, Some("first"))[0].executor, "slurm");
    let recorded: Vec<_> = project
        .events(run)
        .into_iter()
        .filter(|e| e.kind == "run_started" || e.kind == "run_resumed")
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap()["executor"].clone())
        .collect();
    assert_eq!(recorded, [Value::from("slurm"), Value::from("slurm"), Value::from("local")]);
}

#[test]
fn a_job_slurm_refuses_fails_its_attempt_with_slurms_reason() {
    if !cluster() {
        return;
    }
    let project = slurm_project(
        "slurm-refused",
        r#"plan_id: refused
globals: { executor: slurm, retry_backoff: { base_sec: 0.1 } }
steps:
  - id: nowhere
    retries: 1
    executor_options: { partition: no_such_partition }
    run: 'echo never'
"#,
    );
    let out = project.weft(&["run", "p.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    let attempts = project.attempts(run, Some("nowhere"));
    assert_eq!(attempts.len(), 2, "a refused submission is retried like any failure: {attempts:?}");
    assert!(attempts.iter().all(|a| a.status == "failed" && a.executor_id.is_none()), "{attempts:?}");
    let reason = project.step(run, "nowhere").reason.unwrap_or_default();
    assert!(reason.starts_with("`sbatch` failed"), "{reason}");
    assert!(reason.contains("invalid partition specified: no_such_partition"), "{reason}");
    assert!(!reason.contains('\n') && !reason.contains("sbatch: error:"), "one line, Slurm's words: {reason}");
    let row = out.stdout.lines().find(|line| line.starts_with("nowhere ")).expect("a row for the step");
    assert!(row.ends_with(&reason), "{out}");
}

#[test]
fn without_a_cluster_that_answers_nothing_runs_and_every_slurm_step_says_why() {
    if !cluster() {
        return;
    }
    // The same cluster's configuration with its controller on a port where nothing listens.
    let project = slurm_project(
        "slurm-unreachable",
        r#"plan_id: unreachable
steps:
  - { id: here, executor: local, run: 'touch ran-here' }
  - { id: there, executor: slurm, run: 'echo never' }
  - { id: later, executor: slurm, depends_on: [here], run: 'echo never' }
"#,
    );
    let real = std::fs::read_to_string(std::env::var("SLURM_CONF").expect("cluster() sets SLURM_CONF")).unwrap();
    let unreachable: String = real
        .lines()
        .filter(|line| !line.starts_with("SlurmctldPort=") && !line.starts_with("MessageTimeout="))
        .map(|line| format!("{line}\n"))
        .chain(["SlurmctldPort=1\n".to_owned(), "MessageTimeout=1\n".to_owned()])
        .collect();
    let conf = project.write("unreachable.conf", &unreachable);
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["run", "p.plan.yaml"])
        .current_dir(&project.dir)
        .env("SLURM_CONF", &conf)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let run = engine_support::run_id_of(&stdout).expect("a run id");
    for step in ["there", "later"] {
        let reason = project.step(run, step).reason.unwrap_or_default();
        assert!(reason.starts_with("requires: missing a Slurm cluster that answers ("), "{step}: {reason}");
        assert!(reason.contains("Unable to contact slurm controller"), "{step}: {reason}");
        assert_eq!(project.status_of(run, step), "failed");
    }
    assert_eq!(project.status_of(run, "here"), "skipped", "nothing runs, not even the local step");
    assert!(!project.exists("ran-here"));
    assert!(project.attempts(run, None).is_empty());
}

#[test]
fn requires_commands_are_looked_for_where_the_job_runs() {
    if !cluster() {
        return;
    }
    let project = Project::with_config("slurm-requires", FAST_DEFAULTS);
    project.write(
        "p.plan.yaml",
        r#"plan_id: requires
globals: { executor: slurm }
steps:
  - { id: needs, requires: { commands: [no-such-tool-anywhere] }, run: 'echo never' }
"#,
    );
    let out = project.weft(&["run", "p.plan.yaml"]);
    let run = out.run_id();
    assert_eq!(project.status_of(run, "needs"), "failed", "{out}");
    let attempt = &project.attempts(run, Some("needs"))[0];
    assert_eq!(attempt.exit_code, Some(127));
    assert!(
        attempt.stderr_tail.starts_with("weft: requires.commands: no-such-tool-anywhere is not on PATH on "),
        "{:?}",
        attempt.stderr_tail
    );
}

#[test]
fn a_jobs_output_is_followed_live_while_it_runs() {
    if !cluster() {
        return;
    }
    let project = slurm_project(
        "slurm-follow",
        r#"plan_id: follow
globals: { executor: slurm }
steps:
  - { id: talk, run: 'echo "first line"; while [ ! -f go ]; do sleep 0.1; done; echo "second line" >&2' }
"#,
    );
    let background = project.spawn(&["run", "p.plan.yaml", "--follow"]);
    let run = background.run_id();
    wait_until(Duration::from_secs(30), "the job's first line, while it runs", || {
        background.stdout_so_far().contains("talk | first line")
    });
    assert_eq!(project.status_of(run, "talk"), "running");
    assert!(!background.stdout_so_far().contains("second line"));
    project.write("go", "");
    let out = background.wait();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("talk ! second line"), "{out}");
}

/// The files under `dir`, relative, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, into: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().map(Result::unwrap) {
            if entry.file_type().unwrap().is_dir() {
                walk(root, &entry.path(), into);
            } else {
                into.push(entry.path().strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

#[test]
fn the_release_example_runs_on_slurm_as_it_runs_here() {
    if !cluster() {
        return;
    }
    // The README's example, once on this machine and once with `--executor slurm`: the same steps,
    // statuses, attempts, exit codes, output and files; only where each attempt ran differs.
    let here = Project::from_example("release");
    let there = Project::from_example("release");
    let local = here.weft(&["run", "release.plan.yaml"]);
    assert_eq!(local.code, 0, "{local}");
    let slurm = there.weft(&["run", "--executor", "slurm", "release.plan.yaml"]);
    assert_eq!(slurm.code, 0, "{slurm}");
    assert!(slurm.stdout.contains("queued in slurm (job "), "{slurm}");

    let (local_run, slurm_run) = (local.run_id(), slurm.run_id());
    assert_eq!(here.step_map(local_run), there.step_map(slurm_run));
    let seen = |project: &Project, run: i64| {
        let dir = project.dir.display().to_string();
        project
            .attempts(run, None)
            .into_iter()
            .map(|a| {
                // unittest's "Ran 4 tests in 0.001s" is the one line that differs run to run.
                let tails = format!("{}|{}", a.stdout_tail, a.stderr_tail)
                    .replace(&dir, "<dir>")
                    .lines()
                    .filter(|line| !line.starts_with("Ran "))
                    .collect::<Vec<_>>()
                    .join("\n");
                (a.step_id, a.attempt, a.status, a.exit_code, tails)
            })
            .collect::<Vec<_>>()
    };
    let (local_attempts, slurm_attempts) = (seen(&here, local_run), seen(&there, slurm_run));
    assert!(local_attempts.len() >= 8, "{local_attempts:?}");
    assert_eq!(local_attempts, slurm_attempts);
    for attempt in there.attempts(slurm_run, None) {
        assert_eq!(attempt.executor, "slurm", "{}", attempt.step_id);
        let id = attempt.executor_id.expect("a job id");
        assert!(id.parse::<u64>().is_ok(), "{}: job {id}", attempt.step_id);
        assert_eq!(job_state(&id).0, if attempt.exit_code == Some(0) { "COMPLETED" } else { "FAILED" });
    }
    let made = files_under(&there.path("out"));
    assert_eq!(files_under(&here.path("out")), made);
    assert!(made.contains(&"RELEASE_NOTES.md".to_owned()), "{made:?}");
    for text in made.iter().filter(|name| name.ends_with(".md") || name.ends_with(".txt")) {
        assert_eq!(here.read(&format!("out/{text}")), there.read(&format!("out/{text}")), "{text}");
    }
}
