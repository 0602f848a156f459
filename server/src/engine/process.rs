//! Child processes: each step runs in its own process group, so a timeout or a cancel reaches every
//! process the step started, and no grandchild outlives it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::plan::Action;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn code(self) -> Option<i64> {
        match self {
            Exit::Code(code) => Some(i64::from(code)),
            Exit::Signal(_) => None,
        }
    }

    pub fn from_status(status: std::process::ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        }
    }
}

/// The program an action starts, and its arguments.
pub fn program_and_arguments(action: &Action) -> (&str, Vec<&str>) {
    match action {
        Action::Exec { program, args } => (program, args.iter().map(String::as_str).collect()),
        Action::Shell { shell, script } => {
            if shell == "pwsh" || shell == "powershell" {
                (shell, vec!["-NoProfile", "-NonInteractive", "-Command", script])
            } else {
                (shell, vec!["-c", script])
            }
        }
    }
}

/// The command for an action, not yet started.
pub fn command(action: &Action) -> Command {
    let (program, arguments) = program_and_arguments(action);
    let mut command = Command::new(program);
    command.args(arguments);
    command
}

/// Starts a command in a new process group with its output going to two log files.
pub fn spawn(mut command: Command, cwd: &Path, stdout: File, stderr: File) -> std::io::Result<Child> {
    command.current_dir(cwd).stdin(Stdio::null()).stdout(stdout).stderr(stderr).process_group(0);
    command.spawn()
}

/// Sends a signal to a whole process group; a group that is already gone is not an error.
pub fn signal_group(pid: u32, signal: i32) {
    // SAFETY: killpg has no memory effects; a bad pid only yields an error code, which is ignored.
    unsafe {
        libc::killpg(pid as libc::pid_t, signal);
    }
}

/// True while any process of the group is alive.
pub fn group_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::killpg(pid as libc::pid_t, 0) == 0 }
}

/// The last `limit` bytes of a log file, as text. A log file that does not exist is empty output:
/// an attempt's log files are created only when it writes something.
pub fn tail(path: &Path, limit: u64) -> String {
    let Ok(mut file) = File::open(path) else { return String::new() };
    let length = file.metadata().map_or(0, |m| m.len());
    if length > limit {
        let _ = file.seek(SeekFrom::Start(length - limit));
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    tail_text(&bytes, length > limit)
}

/// The end of a stream as text; when it is cut (`cut`: earlier bytes are missing), from its first
/// whole line.
pub fn tail_text(bytes: &[u8], cut: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.split_once('\n') {
        Some((_, rest)) if cut => rest.to_owned(),
        _ => text.into_owned(),
    }
}

/// Is `program` runnable: a path that exists, or a name found on `PATH`.
pub fn command_exists(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
