//! One shell command run to its end outside a run's coordinator: a phase's `run:` validation
//! entries and its hooks (SPEC §7). The same process handling as a step's: `sh -c`, its own
//! process group, output to log files, and at its time limit SIGTERM to the whole group, a grace
//! period, then SIGKILL.
//!
//! Invariant: when [`run_command`] returns, no process of the command's group is left: what it
//! started in the background is killed with it, whether it ended by itself or by its time limit.

use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::process::{self, Exit};

/// What to run and where its output goes.
pub struct CommandSpec<'a> {
    /// A script for `sh -c`.
    pub script: &'a str,
    pub cwd: &'a Path,
    /// Set in the process's environment, on top of weft's own.
    pub env: &'a [(String, String)],
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL when the time limit passes.
    pub grace: Duration,
    pub stdout: &'a Path,
    pub stderr: &'a Path,
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutcome {
    /// `None` when it could not be started (`error` says why).
    pub exit: Option<Exit>,
    /// Its time limit passed and its group was stopped.
    pub timed_out: bool,
    pub stdout_tail: String,
    pub stderr_tail: String,
    pub duration_ms: i64,
    /// Why it could not be started or waited for.
    pub error: Option<String>,
}

impl CommandOutcome {
    pub fn succeeded(&self) -> bool {
        !self.timed_out && self.error.is_none() && self.exit == Some(Exit::Code(0))
    }

    /// How it ended, in a few words: `exit 1`, `killed by signal 9`, `timed out after 2 s`.
    pub fn describe(&self, timeout: Duration) -> String {
        if self.timed_out {
            return format!("timed out after {} s", trim_seconds(timeout));
        }
        if let Some(error) = &self.error {
            return error.clone();
        }
        match self.exit {
            Some(Exit::Code(code)) => format!("exit {code}"),
            Some(Exit::Signal(signal)) => format!("killed by signal {signal}"),
            None => "did not run".to_owned(),
        }
    }
}

fn trim_seconds(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds.fract() == 0.0 {
        format!("{}", seconds as u64)
    } else {
        format!("{seconds}")
    }
}

/// How many bytes of each stream the outcome keeps.
const TAIL_BYTES: u64 = 4096;

/// Runs `spec.script` with `sh -c` in its own process group and waits for it (see the module's
/// invariant). Never panics; a command that cannot start is an outcome with `error` set.
pub fn run_command(spec: &CommandSpec<'_>) -> CommandOutcome {
    let started = Instant::now();
    let failed = |error: String| CommandOutcome {
        exit: None,
        timed_out: false,
        stdout_tail: String::new(),
        stderr_tail: String::new(),
        duration_ms: started.elapsed().as_millis() as i64,
        error: Some(error),
    };
    for path in [spec.stdout, spec.stderr] {
        if let Some(folder) = path.parent() {
            if let Err(error) = std::fs::create_dir_all(folder) {
                return failed(format!("cannot create {}: {error}", folder.display()));
            }
        }
    }
    let (stdout, stderr) = match (File::create(spec.stdout), File::create(spec.stderr)) {
        (Ok(stdout), Ok(stderr)) => (stdout, stderr),
        (Err(error), _) | (_, Err(error)) => return failed(format!("cannot create its log files: {error}")),
    };
    let mut command = Command::new("sh");
    command.arg("-c").arg(spec.script);
    command.envs(spec.env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))));
    let mut child = match process::spawn(command, spec.cwd, stdout, stderr) {
        Ok(child) => child,
        Err(error) => return failed(format!("cannot start `sh`: {error}")),
    };
    let pid = child.id();
    let deadline = started + spec.timeout;
    let mut kill_at: Option<Instant> = None;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait_without_reaping() {
            Ok(true) => {
                // The leader has ended: what it left running in its group goes with it, before the
                // leader is reaped (so that the group id cannot have been reused).
                process::signal_group(pid, libc::SIGKILL);
                break child.wait();
            }
            Ok(false) => {}
            Err(error) => {
                process::signal_group(pid, libc::SIGKILL);
                let _ = child.wait();
                return CommandOutcome { error: Some(format!("cannot wait for it: {error}")), ..failed(String::new()) };
            }
        }
        let now = Instant::now();
        match kill_at {
            None if now >= deadline => {
                timed_out = true;
                process::signal_group(pid, libc::SIGTERM);
                kill_at = Some(now + spec.grace);
            }
            Some(at) if now >= at => {
                process::signal_group(pid, libc::SIGKILL);
                kill_at = Some(now + Duration::from_secs(3600));
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let exit = match status {
        Ok(status) => Some(Exit::from_status(status)),
        Err(error) => {
            return CommandOutcome { error: Some(format!("cannot wait for it: {error}")), ..failed(String::new()) }
        }
    };
    CommandOutcome {
        exit,
        timed_out,
        stdout_tail: process::tail(spec.stdout, TAIL_BYTES),
        stderr_tail: process::tail(spec.stderr, TAIL_BYTES),
        duration_ms: started.elapsed().as_millis() as i64,
        error: None,
    }
}

/// Waiting for a child without reaping it, so that its process group can still be signalled.
trait WaitWithoutReaping {
    /// True once the child has ended; it stays a zombie until `wait`.
    fn try_wait_without_reaping(&mut self) -> std::io::Result<bool>;
}

impl WaitWithoutReaping for std::process::Child {
    fn try_wait_without_reaping(&mut self) -> std::io::Result<bool> {
        loop {
            // SAFETY: waits for our own child without reaping it (WNOWAIT) and without blocking
            // (WNOHANG); `info` is a valid out-parameter, zeroed so that "not yet" reads as pid 0.
            let (result, info) = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let result =
                    libc::waitid(libc::P_PID, self.id(), &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT);
                (result, info)
            };
            if result != 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            // SAFETY: waitid succeeded, so `info` is filled (pid 0: not ended yet).
            return Ok(unsafe { info.si_pid() } != 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("weft-command-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_command_runs_with_its_environment_and_its_output_is_logged() {
        let dir = folder("env");
        let env = [("WEFT_TASK".to_owned(), "T-1".to_owned())];
        let outcome = run_command(&CommandSpec {
            script: "echo task=$WEFT_TASK; echo oops >&2; exit 3",
            cwd: &dir,
            env: &env,
            timeout: Duration::from_secs(10),
            grace: Duration::from_millis(200),
            stdout: &dir.join("out"),
            stderr: &dir.join("err"),
        });
        assert_eq!(outcome.exit, Some(Exit::Code(3)));
        assert!(!outcome.succeeded());
        assert_eq!(outcome.stdout_tail, "task=T-1\n");
        assert_eq!(outcome.stderr_tail, "oops\n");
        assert_eq!(outcome.describe(Duration::from_secs(1)), "exit 3");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_command_past_its_time_limit_is_stopped_with_its_whole_group() {
        let dir = folder("timeout");
        let started = Instant::now();
        let outcome = run_command(&CommandSpec {
            script: "sleep 30 & echo $! > child.pid; trap '' TERM; sleep 30",
            cwd: &dir,
            env: &[],
            timeout: Duration::from_millis(300),
            grace: Duration::from_millis(200),
            stdout: &dir.join("out"),
            stderr: &dir.join("err"),
        });
        assert!(outcome.timed_out, "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(outcome.describe(Duration::from_millis(300)), "timed out after 0.3 s");
        let pid: i32 = std::fs::read_to_string(dir.join("child.pid")).unwrap().trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(state.is_empty() || state.contains(") Z "), "the background sleep survived: {state}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
