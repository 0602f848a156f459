//! The project's single-node Slurm cluster for tests (`tests/slurm/cluster.sh start`, which
//! `.ci/run` starts): whether it answers, and what it says of a job.
#![allow(dead_code)]

use std::process::Command;

/// Whether the cluster answers; sets `SLURM_CONF` for the `weft` the tests start.
pub fn cluster() -> bool {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READY.get_or_init(|| {
        if std::env::var_os("SLURM_CONF").is_none() {
            let dir = std::env::var("WEFT_SLURM_DIR").unwrap_or_else(|_| "/tmp/weft-slurm".into());
            let conf = std::path::Path::new(&dir).join("slurm.conf");
            if conf.is_file() {
                // Set once, before any test of this file starts a process (they all wait here).
                std::env::set_var("SLURM_CONF", conf);
            }
        }
        let up = Command::new("sinfo").args(["--noheader", "--format=%T"]).output().is_ok_and(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .any(|state| ["idle", "mixed", "allocated"].contains(&state.trim().trim_end_matches('*')))
        });
        if !up {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but no Slurm cluster answers: start it with `tests/slurm/cluster.sh start`"
            );
            eprintln!("skipped: no Slurm cluster answers (start one with `tests/slurm/cluster.sh start`)");
        }
        up
    })
}

/// What Slurm's controller says of a job: `STATE` and the raw wait status.
pub fn job_state(id: &str) -> (String, i64) {
    let out = Command::new("squeue")
        .args(["--noheader", "--states=all", "--jobs", id, "--Format=State:|,exit_code:"])
        .output()
        .expect("squeue");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_default().to_owned();
    let (state, status) = line.split_once('|').unwrap_or((&line, "0"));
    (state.trim().to_owned(), status.trim().parse().unwrap_or(-1))
}
