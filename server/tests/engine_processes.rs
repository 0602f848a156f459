//! Step processes (SPEC §6): timeouts kill the whole process group (SIGTERM, then SIGKILL after the
//! grace period), retries with exponential backoff and jitter, and canceling a run from another
//! process (`weft cancel`) or with Ctrl-C. Process groups are checked in `/proc` afterwards.

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{assert_group_gone, interval, wait_until, Project, FAST_DEFAULTS};

#[test]
fn a_timed_out_step_leaves_no_process_of_its_group() {
    let project = Project::new("timeout");
    project.write(
        "timeout.plan.yaml",
        r#"plan_id: timeout
steps:
  - id: hang
    run: "echo $$ > hang.pgid; sleep 100 & sleep 100"
    timeout_sec: 1
    on_failure: continue
  - id: after
    run: "touch ran-after"
    depends_on: [hang]
"#,
    );
    let started = Instant::now();
    let out = project.weft(&["run", "timeout.plan.yaml"]);
    let elapsed = started.elapsed();
    assert_eq!(out.code, 1, "{out}");
    assert!(elapsed < Duration::from_secs(10), "the run took {elapsed:?}");
    let run = out.run_id();
    let pgid = project.wait_for_pgid("hang.pgid");

    let hang = project.step(run, "hang");
    assert_eq!(hang.status, "timed_out");
    assert_eq!(hang.exit_code, None);
    assert_eq!(hang.reason.as_deref(), Some("timed out after 1 s"));
    let duration = hang.duration_ms.expect("a duration");
    assert!((900..5_000).contains(&duration), "duration {duration} ms");
    let attempts = project.attempts(run, Some("hang"));
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, "timed_out");
    assert!(project.events_of(run, "step_timeout", Some("hang")).len() == 1);
    // `continue`: the dependent still ran.
    assert_eq!(project.status_of(run, "after"), "succeeded");
    assert!(project.exists("ran-after"));
    assert_eq!(project.run_record(run).status, "failed");

    // Both `sleep 100`s, the background one included, are gone: no live process in /proc has that
    // process group, and `kill -0 -PGID` fails (once pid 1 has reaped the zombies, if any).
    assert_group_gone(pgid);
    wait_until(Duration::from_secs(5), "`kill -0 -PGID` to fail", || {
        let probe = std::process::Command::new("sh").arg("-c").arg(format!("kill -0 -{pgid} 2>/dev/null")).status();
        !probe.unwrap().success()
    });
}

#[test]
fn a_step_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let project = Project::new("term-trap");
    project.write(
        "trap.plan.yaml",
        r#"plan_id: trap
globals: { kill_grace_sec: 0.5 }
steps:
  - id: stubborn
    # Records each SIGTERM and goes on; only SIGKILL ends it.
    run: |
      echo $$ > stubborn.pgid
      trap 'echo TERM >> stubborn.signals' TERM
      while true; do sleep 0.05; done
    timeout_sec: 1
"#,
    );
    let out = project.weft(&["run", "trap.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    let pgid = project.wait_for_pgid("stubborn.pgid");
    assert_eq!(project.read("stubborn.signals").lines().next(), Some("TERM"), "SIGTERM came first");

    let step = project.step(run, "stubborn");
    assert_eq!(step.status, "timed_out");
    let duration = step.duration_ms.expect("a duration");
    // timeout (1 s) + the plan's grace period (0.5 s, which overrides weft.yaml's 0.2 s).
    assert!(duration >= 1_450, "killed after {duration} ms: before the grace period ended");
    assert!(duration < 6_000, "killed after {duration} ms");
    assert_group_gone(pgid);
}

#[test]
fn retries_back_off_and_fire_the_stage_retry_hook() {
    let project = Project::with_config(
        "retries",
        &format!(
            r#"{FAST_DEFAULTS}hooks:
  - on: before_stage_execute
    run: 'echo "before $WEFT_STAGE_ID $WEFT_ATTEMPT" >> audit.log'
  - on: stage_retry
    run: 'echo "retry $WEFT_STAGE_ID $WEFT_ATTEMPT $WEFT_STATUS" >> audit.log'
"#
        ),
    );
    project.write(
        "retries.plan.yaml",
        r#"plan_id: retries
steps:
  - id: flaky
    # Fails twice, then succeeds; each attempt is counted in a file.
    run: 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; [ $n -ge 3 ] || exit 5'
    retries: 2
"#,
    );
    let out = project.weft(&["run", "retries.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    assert_eq!(project.read("count").trim(), "3");

    let step = project.step(run, "flaky");
    assert_eq!((step.status.as_str(), step.attempts, step.exit_code), ("succeeded", 3, Some(0)));
    let attempts = project.attempts(run, Some("flaky"));
    let summary: Vec<(i64, &str, Option<i64>)> =
        attempts.iter().map(|a| (a.attempt, a.status.as_str(), a.exit_code)).collect();
    assert_eq!(summary, [(1, "failed", Some(5)), (2, "failed", Some(5)), (3, "succeeded", Some(0))]);
    for attempt in &attempts {
        assert!(attempt.stdout_tail.contains(&format!("attempt {}", attempt.attempt)), "{attempt:?}");
        assert!(project.attempt_file(run, "flaky", attempt.attempt, "stdout").is_file());
    }

    // Backoff: base 10 ms, factor 2, jitter between half and all of the delay, capped at 50 ms.
    let retries = project.events_of(run, "step_retry_scheduled", Some("flaky"));
    assert_eq!(retries.len(), 2, "{retries:?}");
    let delays: Vec<u64> = retries.iter().map(|r| r["delay_ms"].as_u64().expect("delay_ms")).collect();
    assert!((4..=10).contains(&delays[0]), "first delay {} ms", delays[0]);
    assert!((9..=20).contains(&delays[1]), "second delay {} ms", delays[1]);
    assert!(delays[1] >= delays[0], "delays must grow: {delays:?}");
    assert_eq!(retries[0]["next_attempt"], 2);
    assert_eq!(retries[1]["next_attempt"], 3);
    // Each retry waited at least its delay (timestamps have millisecond resolution).
    for (index, delay) in delays.iter().enumerate() {
        let (_, finished) = interval(&attempts[index]);
        let (next_start, _) = interval(&attempts[index + 1]);
        assert!(next_start - finished + 1 >= *delay as i64, "attempt {} started too early", index + 2);
    }

    // The hook ran after each failed attempt and before the next one started.
    assert_eq!(
        project.lines("audit.log"),
        ["before flaky 1", "retry flaky 1 failed", "before flaky 2", "retry flaky 2 failed", "before flaky 3"]
    );
    let kinds: Vec<String> = project
        .events(run)
        .into_iter()
        .filter(|e| e.step_id.as_deref() == Some("flaky"))
        .filter(|e| e.kind != "hook_finished" || e.data.contains("stage_retry"))
        .map(|e| e.kind)
        .filter(|k| k != "checkpoint_created")
        .collect();
    assert_eq!(
        kinds,
        [
            "step_started",
            "step_retry_scheduled",
            "hook_finished",
            "step_started",
            "step_retry_scheduled",
            "hook_finished",
            "step_started",
            "step_succeeded"
        ]
    );
}

#[test]
fn backoff_is_capped_at_max_sec() {
    let project = Project::new("backoff-cap");
    project.write(
        "cap.plan.yaml",
        r#"plan_id: cap
globals:
  retry_backoff: { base_sec: 0.02, factor: 3, max_sec: 0.05 }
steps:
  - { id: never, run: "exit 1", retries: 4 }
"#,
    );
    let out = project.weft(&["run", "cap.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    let step = project.step(run, "never");
    assert_eq!(
        (step.status.as_str(), step.attempts, step.exit_code, step.reason.as_deref()),
        ("failed", 5, Some(1), None)
    );
    assert_eq!(project.attempts(run, Some("never")).len(), 5);
    let delays: Vec<u64> = project
        .events_of(run, "step_retry_scheduled", Some("never"))
        .iter()
        .map(|r| r["delay_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(delays.len(), 4);
    // 20, 60→50, 180→50, 540→50 ms, each times a jitter in [0.5, 1].
    assert!((9..=20).contains(&delays[0]), "{delays:?}");
    for delay in &delays[1..] {
        assert!((24..=50).contains(delay), "{delays:?}");
    }
}

#[test]
fn a_step_ends_when_its_process_does_even_if_a_background_child_holds_its_output() {
    // The background `sleep` keeps the step's stdout open; the step is over when its own process
    // exits, and the rest of its group goes with it.
    let project = Project::new("background-child");
    project.write(
        "bg.plan.yaml",
        r#"plan_id: bg
steps:
  - { id: detach, run: "echo $$ > detach.pgid; sleep 60 & echo started" }
  - { id: after, run: "touch ran-after", depends_on: [detach] }
"#,
    );
    let started = Instant::now();
    let out = project.weft(&["run", "bg.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(started.elapsed() < Duration::from_secs(20), "the run waited for the background child");
    assert!(project.exists("ran-after"));
    let pgid: i32 = project.read("detach.pgid").trim().parse().unwrap();
    assert_group_gone(pgid);
    let attempt = &project.attempts(out.run_id(), Some("detach"))[0];
    assert_eq!(attempt.stdout_tail, "started\n");
}

#[test]
fn a_step_process_gets_its_environment_folder_group_and_default_signals() {
    let project = Project::new("process-setup");
    project.write("sub/bin/hello-tool", "#!/bin/sh\necho \"hello from $0\"\n");
    let tool = project.path("sub/bin/hello-tool");
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    project.write(
        "sub/setup.plan.yaml",
        r#"plan_id: setup
globals: { on_failure: continue }
steps:
  - id: env
    run: 'echo "$FROM_STEP|$HOME|$WEFT_STAGE_ID|$WEFT_ATTEMPT|${PATH:+inherited}"; pwd; cat'
    env: { FROM_STEP: "step value", HOME: /nowhere }
  - id: group
    run: 'echo "$$ $(cut -d" " -f5 /proc/$$/stat)"'
  - id: pipe
    run: 'yes | head -n 1'
  - id: signals
    run: 'while read -r l; do case $l in SigBlk*|SigIgn*) echo "$l";; esac; done < /proc/$$/status; read -r s < /proc/$$/stat; set -- $s; echo "${19}"'
  - { id: custom_path, command: hello-tool, env: { PATH: "bin:/usr/bin:/bin" } }
  - { id: skip_unrunnable, command: "true", env: { PATH: "nox:/usr/bin:/bin" } }
  - { id: missing, command: no-such-program-anywhere-for-weft, required: false }
"#,
    );
    // A file of the program's name that cannot be executed is passed over, as exec's search does.
    project.write("sub/nox/true", "not a program\n");
    let out = project.weft(&["run", "sub/setup.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    let tail = |step: &str| project.attempts(run, Some(step))[0].clone();
    // Step variables win over the engine's, weft's own are set, the rest is inherited; the step
    // runs in its file's folder, with stdin at end of file (`cat` returns at once).
    let sub = std::fs::canonicalize(project.path("sub")).unwrap();
    assert_eq!(tail("env").stdout_tail, format!("step value|/nowhere|env|1|inherited\n{}\n", sub.display()));
    // Its own process group.
    let ids: Vec<String> = tail("group").stdout_tail.split_whitespace().map(str::to_owned).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], ids[1], "the step leads its own group");
    // SIGPIPE at its default: `yes` ends quietly when `head` is done.
    assert_eq!((tail("pipe").stdout_tail.as_str(), tail("pipe").stderr_tail.as_str()), ("y\n", ""));
    // (Read by the shell's builtins: while it forks a command, the shell blocks every signal.)
    // No blocked signal (weft blocks SIGCHLD in its own threads) and no ignored standard one
    // (real-time signals ignored in weft stay so in its steps, as with std's Command: glibc's
    // posix_spawn, which started this weft, leaves its two internal ones ignored), and the engine's
    // nice value: its scheduling settings are its own (the coordinator's short time slice is
    // reset for the processes it starts).
    let signals = tail("signals").stdout_tail;
    let lines: Vec<&str> = signals.lines().collect();
    assert_eq!(lines.len(), 3, "{signals}");
    assert_eq!(lines[0], "SigBlk:\t0000000000000000");
    let ignored = u64::from_str_radix(lines[1].trim_start_matches("SigIgn:\t"), 16).unwrap();
    assert_eq!(ignored & 0x7fff_ffff, 0, "{signals}");
    let own_nice = std::fs::read_to_string("/proc/self/stat")
        .unwrap()
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(16)
        .unwrap()
        .to_owned();
    assert_eq!(lines[2], own_nice);
    // A step's PATH is where its program is looked up (relative entries from its folder).
    assert_eq!(project.status_of(run, "custom_path"), "succeeded");
    assert!(tail("custom_path").stdout_tail.starts_with("hello from "), "{:?}", tail("custom_path"));
    assert_eq!(project.status_of(run, "skip_unrunnable"), "succeeded");
    // A program that is nowhere fails the step with a message naming it.
    let missing = project.step(run, "missing");
    assert_eq!(missing.status, "failed");
    let reason = missing.reason.unwrap_or_default();
    assert!(reason.starts_with("cannot start `no-such-program-anywhere-for-weft`"), "{reason}");
}

#[test]
fn a_step_that_cannot_start_fails_with_the_reason_and_the_run_goes_on() {
    let project = Project::new("unstartable");
    project.write(
        "unstartable.plan.yaml",
        r#"plan_id: unstartable
globals: { on_failure: continue }
steps:
  - { id: no_folder, command: "true", cwd: missing-folder }
  - { id: not_executable, command: ./data.txt }
  - { id: no_interpreter_line, command: ./script }
  - { id: after, command: "true", depends_on: [no_folder, not_executable, no_interpreter_line] }
"#,
    );
    project.write("data.txt", "not a program\n");
    project.write("script", "echo hi\n");
    let script = project.path("script");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = project.weft(&["run", "unstartable.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    let reason = |step: &str| {
        let record = project.step(run, step);
        assert_eq!(record.status, "failed", "{step}");
        assert_eq!(record.exit_code, None, "{step}");
        record.reason.unwrap_or_default()
    };
    let no_folder = reason("no_folder");
    assert!(no_folder.starts_with("cannot start `true`: "), "{no_folder}");
    assert!(no_folder.contains("No such file or directory"), "{no_folder}");
    if cfg!(target_arch = "x86_64") {
        // The direct spawn knows it was the folder (posix_spawn elsewhere does not say).
        let folder = project.path("missing-folder");
        assert!(no_folder.contains(&format!("working folder {}", folder.display())), "{no_folder}");
    }
    assert!(reason("not_executable").starts_with("cannot start `./data.txt`: Permission denied"));
    assert!(reason("no_interpreter_line").starts_with("cannot start `./script`: Exec format error"));
    assert_eq!(project.status_of(run, "after"), "succeeded");
    // Each failed start left one attempt and no process behind.
    assert_eq!(project.attempts(run, Some("no_folder")).len(), 1);
}

/// A plan with a long step that records its process group, and a step waiting behind it.
const LONG_PLAN: &str = r#"plan_id: long
steps:
  - id: long
    run: "echo $$ > long.pgid; sleep 30 & sleep 30; touch long-finished"
  - id: next
    run: "touch ran-next"
    depends_on: [long]
"#;

#[test]
fn weft_cancel_from_another_process_cancels_the_run() {
    let project = Project::new("cancel");
    project.write("long.plan.yaml", LONG_PLAN);
    let started = Instant::now();
    let background = project.spawn(&["run", "long.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "long", "running");
    let pgid = project.wait_for_pgid("long.pgid");

    let cancel = project.weft(&["cancel", &run.to_string()]);
    assert_eq!(cancel.code, 0, "{cancel}");
    assert!(cancel.stdout.contains(&format!("run {run} canceled")), "{cancel}");
    let out = background.wait();
    assert_eq!(out.code, 1, "{out}");
    assert!(started.elapsed() < Duration::from_secs(20));

    let record = project.run_record(run);
    assert_eq!(record.status, "canceled");
    assert!(record.finished_at.is_some());
    let steps = project.step_map(run);
    assert_eq!(steps["long"], ("canceled".to_owned(), Some("run canceled".to_owned())));
    assert_eq!(steps["next"].0, "canceled");
    assert!(!project.exists("ran-next") && !project.exists("long-finished"));
    assert_group_gone(pgid);
    let kinds: Vec<String> = project.event_kinds(run).into_iter().map(|(k, _)| k).collect();
    let position = |kind: &str| kinds.iter().position(|k| k == kind).unwrap_or_else(|| panic!("no {kind}: {kinds:?}"));
    assert!(position("run_cancel_requested") < position("step_canceled"));
    assert_eq!(kinds.last().map(String::as_str), Some("run_finished"));
    project.assert_integrity();

    // A run that is over cannot be canceled again.
    let again = project.weft(&["cancel", &run.to_string()]);
    assert_eq!(again.code, 1, "{again}");
    assert!(again.stderr.contains("not running"), "{again}");
}

#[test]
fn ctrl_c_cancels_the_run_cleanly() {
    let project = Project::new("sigint");
    project.write("long.plan.yaml", LONG_PLAN);
    let background = project.spawn(&["run", "long.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "long", "running");
    let pgid = project.wait_for_pgid("long.pgid");

    background.signal(libc::SIGINT);
    let out = background.wait();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains(&format!("run {run} canceled")), "{out}");
    assert_eq!(project.run_record(run).status, "canceled");
    assert_eq!(project.status_of(run, "long"), "canceled");
    assert_eq!(project.status_of(run, "next"), "canceled");
    assert_group_gone(pgid);
    project.assert_integrity();
    // The lock went with the process: the file can run again at once.
    project.write("long.plan.yaml", &LONG_PLAN.replace("sleep 30 & sleep 30", "true"));
    let again = project.weft(&["run", "long.plan.yaml"]);
    assert_eq!(again.code, 0, "{again}");
}

#[test]
fn a_canceled_run_does_not_start_waiting_retries() {
    let project = Project::new("cancel-retry");
    project.write(
        "retry.plan.yaml",
        r#"plan_id: retry
globals:
  retry_backoff: { base_sec: 30, factor: 2, max_sec: 60 }
steps:
  - { id: failing, run: "touch failed-once; exit 1", retries: 3 }
"#,
    );
    let background = project.spawn(&["run", "retry.plan.yaml"]);
    let run = background.run_id();
    wait_until(Duration::from_secs(20), "the first retry to be scheduled", || {
        !project.events_of(run, "step_retry_scheduled", Some("failing")).is_empty()
    });
    background.signal(libc::SIGTERM);
    let out = background.wait();
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(project.run_record(run).status, "canceled");
    let step = project.step(run, "failing");
    assert_eq!((step.status.as_str(), step.attempts), ("canceled", 1));
    assert_eq!(project.attempts(run, Some("failing")).len(), 1);
}
