//! What a dead engine left running: found by the run's token in the environment of every process
//! the run started (`WEFT_RUN_TOKEN`, committed with the run before any of them started), not by
//! what the history recorded of them, which can lag their start by a commit interval.
//!
//! Invariant: `weft resume` and `weft cancel` of an interrupted run start nothing and record
//! nothing of the run until every process a dead engine started for an attempt it never saw end
//! is gone (or a time limit passed, which is an error).

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use super::process;

/// How long to wait for killed processes to be gone before giving up.
const GONE_LIMIT: Duration = Duration::from_secs(10);

/// A process of the run: its pid, process group, and the attempt it belongs to (none for a hook
/// or rollback action).
struct Leftover {
    pid: i32,
    group: i32,
    attempt: Option<(String, i64)>,
}

/// Kills (SIGKILL) the process groups of every process carrying `token`, except processes of
/// attempts in `ended` (those ended as the history records, so what is left of them deliberately
/// left its group, as it may in a run that goes on), and `legacy_groups` (the groups recorded for
/// a run recorded before tokens); then waits until they are gone. Returns how many processes it
/// stopped.
pub fn stop(token: Option<&str>, ended: &HashSet<(String, i64)>, legacy_groups: &[u32]) -> Result<usize, String> {
    for group in legacy_groups {
        process::signal_group(*group, libc::SIGKILL);
    }
    let Some(token) = token else { return Ok(legacy_groups.len()) };
    let wanted = format!("WEFT_RUN_TOKEN={token}");
    let deadline = Instant::now() + GONE_LIMIT;
    let mut stopped = HashSet::new();
    // SAFETY: getpgrp only reads this process's group.
    let own_group = unsafe { libc::getpgrp() };
    loop {
        let alive: Vec<Leftover> = scan(wanted.as_bytes())
            .into_iter()
            .filter(|p| p.attempt.as_ref().is_none_or(|attempt| !ended.contains(attempt)))
            .collect();
        if alive.is_empty() {
            return Ok(stopped.len());
        }
        if Instant::now() > deadline {
            let pids: Vec<String> = alive.iter().map(|p| p.pid.to_string()).collect();
            return Err(format!(
                "processes the interrupted run left (pids {}) did not end within {} s of SIGKILL",
                pids.join(", "),
                GONE_LIMIT.as_secs()
            ));
        }
        for leftover in &alive {
            stopped.insert(leftover.pid);
            // SAFETY: kill and killpg only send signals. The group was read from the process's
            // own stat a moment ago while it was a member, so it names that process's group (and
            // a process that joined this process's group is killed alone).
            unsafe {
                if leftover.group > 1 && leftover.group != own_group {
                    libc::killpg(leftover.group, libc::SIGKILL);
                }
                libc::kill(leftover.pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Processes (not zombies) of this user whose environment holds `wanted` (`KEY=value`).
fn scan(wanted: &[u8]) -> Vec<Leftover> {
    let own = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else { continue };
        if pid == own {
            continue;
        }
        let folder = entry.path();
        // Another user's process, or one that is gone: unreadable, and not ours to stop.
        let Ok(environment) = std::fs::read(folder.join("environ")) else { continue };
        let variables: Vec<&[u8]> = environment.split(|b| *b == 0).collect();
        // A cluster job's processes are the cluster's (on a node that is also this machine):
        // a resumed engine re-attaches to the job, `weft cancel` cancels it there.
        if !variables.contains(&wanted) || variables.contains(&&b"WEFT_EXECUTOR=slurm"[..]) {
            continue;
        }
        let Some((state, group)) = state_and_group(&folder) else { continue };
        if state == 'Z' || state == 'X' {
            continue;
        }
        let value = |key: &[u8]| {
            variables.iter().rev().find_map(|v| v.strip_prefix(key)).map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let attempt = value(b"WEFT_STAGE_ID=")
            .zip(value(b"WEFT_ATTEMPT=").and_then(|a| a.parse::<i64>().ok()))
            .filter(|_| value(b"WEFT_HOOK=").is_none());
        found.push(Leftover { pid, group, attempt });
    }
    found
}

/// The state letter and process group of a process, from `/proc/<pid>/stat`.
fn state_and_group(folder: &Path) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(folder.join("stat")).ok()?;
    // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses, so split at the last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let group = fields.nth(1)?.parse().ok()?;
    Some((state, group))
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;
    use std::process::{Child, Command};

    use super::*;

    /// A `sleep` in a group of its own, carrying a run's token and an attempt of step `s`.
    fn leftover(token: &str, attempt: i64) -> Child {
        Command::new("sleep")
            .arg("30")
            .env("WEFT_RUN_TOKEN", token)
            .env("WEFT_STAGE_ID", "s")
            .env("WEFT_ATTEMPT", attempt.to_string())
            .process_group(0)
            .spawn()
            .expect("start sleep")
    }

    fn exited(child: &mut Child) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn processes_of_the_run_are_stopped_except_those_of_ended_attempts() {
        let token = format!("test-{}-{}", std::process::id(), fastrand::u64(..));
        let mut lost = leftover(&token, 1);
        let mut ended = leftover(&token, 2);
        let mut other_run = leftover("another-run", 1);
        // Until exec, a child's environment is its parent's: wait for it to carry the token.
        let wanted = format!("WEFT_RUN_TOKEN={token}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while scan(wanted.as_bytes()).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let spared: HashSet<(String, i64)> = [("s".to_owned(), 2)].into_iter().collect();
        assert_eq!(stop(Some(&token), &spared, &[]), Ok(1));
        assert!(exited(&mut lost), "the lost attempt's process is stopped");
        assert!(ended.try_wait().expect("wait").is_none(), "an ended attempt's process is spared");
        assert!(other_run.try_wait().expect("wait").is_none(), "another run's process is not touched");
        for child in [&mut ended, &mut other_run] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
