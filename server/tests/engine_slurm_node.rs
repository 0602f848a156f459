//! A node failure on a real cluster: `slurmd` is stopped while a step's job runs. Slurm ends the
//! job as `NODE_FAIL` once the node stops answering; weft fails the attempt with that reason, goes
//! through the step's retries like any failure, and the retry runs once the node is back.
//!
//! Alone in its own test binary: stopping the node would fail the jobs of other tests.

mod engine_support;
mod slurm_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use engine_support::{wait_until, Project};
use slurm_support::{cluster, job_state};

/// A setting of the cluster's `slurm.conf`.
fn setting(name: &str) -> Option<String> {
    let conf = std::env::var("SLURM_CONF").ok()?;
    let text = std::fs::read_to_string(conf).ok()?;
    text.lines().find_map(|line| line.trim().strip_prefix(name)?.strip_prefix('=').map(|v| v.trim().to_owned()))
}

/// Starts `slurmd` again when dropped, whatever happened to the test, and waits for the node.
struct NodeBack;

impl Drop for NodeBack {
    fn drop(&mut self) {
        let conf = std::env::var("SLURM_CONF").unwrap_or_default();
        let alive = setting("SlurmdPidFile")
            .and_then(|file| std::fs::read_to_string(file).ok())
            .and_then(|pid| pid.trim().parse::<i32>().ok())
            // SAFETY: signal 0 only asks whether the process exists.
            .is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
        if !alive {
            let _ = Command::new("/usr/sbin/slurmd").args(["-f", &conf, "-N", "localhost"]).status();
        }
        for _ in 0..200 {
            let out = Command::new("sinfo").args(["--noheader", "--format=%T"]).output();
            if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_node_that_fails_mid_job_fails_the_attempt_with_its_reason_and_the_retry_runs() {
    if !cluster() {
        return;
    }
    let Some(pid_file) = setting("SlurmdPidFile").map(PathBuf::from) else {
        panic!("the cluster's slurm.conf names no SlurmdPidFile");
    };
    let project = Project::new("slurm-node");
    project.write(
        "p.plan.yaml",
        r#"plan_id: node
globals: { executor: slurm }
steps:
  - id: survivor
    retries: 1
    run: 'if [ "$WEFT_ATTEMPT" = 1 ]; then touch started; sleep 300; fi; echo "attempt $WEFT_ATTEMPT on job $SLURM_JOB_ID"'
"#,
    );
    let background = project.spawn(&["run", "p.plan.yaml"]);
    let run = background.run_id();
    wait_until(Duration::from_secs(30), "the first attempt's job to run", || project.exists("started"));
    let first_job = project.attempts(run, Some("survivor"))[0].executor_id.clone().expect("a job id");

    let node_back = NodeBack;
    let slurmd: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // SAFETY: SIGTERM to the cluster's slurmd, whose pid its own pid file gives.
    assert_eq!(unsafe { libc::kill(slurmd, libc::SIGTERM) }, 0);
    wait_until(Duration::from_secs(90), "Slurm to give up on the node", || {
        project.attempts(run, Some("survivor")).first().is_some_and(|a| a.status == "failed")
    });
    assert_eq!(job_state(&first_job).0, "NODE_FAIL");
    let retries = project.events_of(run, "step_retry_scheduled", Some("survivor"));
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0]["reason"], "the node running the job failed (Slurm state NODE_FAIL)");
    drop(node_back);

    let out = background.wait();
    assert_eq!(project.run_record(run).status.as_str(), "succeeded", "{out}");
    let attempts = project.attempts(run, Some("survivor"));
    assert_eq!(attempts.len(), 2);
    let second_job = attempts[1].executor_id.clone().expect("a job id");
    assert_ne!(second_job, first_job);
    assert_eq!(attempts[1].stdout_tail, format!("attempt 2 on job {second_job}\n"));
}
