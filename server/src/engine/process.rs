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

/// How a wait for a hook's or a rollback action's process ended.
pub enum Waited {
    Exited(std::process::ExitStatus),
    /// Its time limit passed; its group was killed.
    TimedOut,
    /// `stop` said so (the run was canceled); its group was killed.
    Stopped,
    Failed(std::io::Error),
}

/// Waits for `child`, the leader of its own process group, until it exits, `limit` passes or
/// `stop` returns true, calling `tick` every few milliseconds meanwhile (to drain a pipe). Its
/// whole group is killed in every case, before the leader is reaped (so the group id cannot have
/// been reused): what it left running in the background goes with it.
pub fn wait_or_stop(
    child: &mut Child,
    limit: Option<std::time::Duration>,
    stop: &dyn Fn() -> bool,
    tick: &mut dyn FnMut(),
) -> Waited {
    let deadline = limit.map(|limit| std::time::Instant::now() + limit);
    // `None` once the child has exited (its status comes from the reaping below).
    let stopped_early = loop {
        // SAFETY: waits for our own child without reaping it (WNOWAIT) and without blocking
        // (WNOHANG); `info` is a valid out-parameter, zeroed so that "not yet" reads as pid 0.
        let (result, info) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let result =
                libc::waitid(libc::P_PID, child.id(), &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT);
            (result, info)
        };
        if result != 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break Some(Waited::Failed(error));
        }
        tick();
        // SAFETY: waitid succeeded, so `info` is filled (pid 0: not exited yet).
        if unsafe { info.si_pid() } != 0 {
            break None;
        }
        if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
            break Some(Waited::TimedOut);
        }
        if stop() {
            break Some(Waited::Stopped);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    signal_group(child.id(), libc::SIGKILL);
    let status = child.wait();
    tick();
    match (stopped_early, status) {
        (Some(early), _) => early,
        (None, Ok(status)) => Waited::Exited(status),
        (None, Err(error)) => Waited::Failed(error),
    }
}

/// Makes reads of a pipe this process owns return at once when it is empty.
pub fn set_nonblocking(fd: std::os::fd::RawFd) {
    // SAFETY: fcntl on a descriptor the caller owns; only its status flags change.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
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

/// Could a step run `program`: a path (from `cwd`) to an executable file, or a name found on
/// `path` (the step's PATH, else the engine's) the way its process will look it up.
pub fn command_exists(program: &str, path: Option<&std::ffi::OsStr>, cwd: &Path) -> bool {
    if program.contains('/') {
        return is_executable_file(&cwd.join(program));
    }
    let engine_path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    find_program(program, path.unwrap_or(&engine_path), cwd).is_ok()
}

/// Where exec's search looks when `PATH` is unset.
pub const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Where `program` is on `path` (entries relative to `cwd`, an empty one meaning `cwd`): the
/// first executable file of that name, as exec would find it. Searched for every step, as a new
/// shell would: a program that appears earlier on PATH during a run is used from then on.
/// (Remembering answers would need a watch on every PATH directory to stay exact, and closing an
/// inotify instance costs 5–15 ms, more than a thousand searches.)
pub fn find_program(program: &str, path: &std::ffi::OsStr, cwd: &Path) -> std::io::Result<std::path::PathBuf> {
    std::env::split_paths(path)
        .map(|dir| cwd.join(dir).join(program))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Blocks SIGCHLD in the calling thread and in the threads it starts from then on. weft learns of
/// its children's ends from pidfds and `waitpid`, never from this signal, whose default is to be
/// ignored; but while a thread is inside `posix_spawn` (the fallback spawn, which blocks every
/// signal), the kernel hands a child's SIGCHLD to some other thread of the process instead, waking
/// it for nothing, once per step. Processes weft starts get an empty signal mask whatever the
/// thread's.
pub fn block_child_signal() {
    // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask only changes
    // this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Asks the kernel for a short time slice for the calling thread (the coordinator), and for the
/// default slice for the processes and threads it starts (`SCHED_FLAG_RESET_ON_FORK`).
///
/// The coordinator works in bursts of tens of microseconds between long waits, while the step
/// processes it starts want the CPU for whole slices. With a default slice, a coordinator woken
/// on a CPU where a step runs waits for that step's slice to end, and meanwhile cannot start the
/// next step; on two cores the steps then fall into running one after the other (measured:
/// ~1.25 CPUs busy instead of ~1.55, see docs/PERFORMANCE.md). A short slice lets the waking
/// coordinator run first (Linux 6.12 and later, EEVDF's custom slices; older kernels ignore the
/// request). Done only for a normal-policy thread whose nice value is not negative, so the steps
/// keep the thread's policy and nice value exactly (a reset on fork would raise a negative one).
pub fn prefer_short_time_slices() {
    #[cfg(target_os = "linux")]
    {
        /// `struct sched_attr` of sched_setattr(2), its first version (48 bytes).
        #[repr(C)]
        struct SchedAttr {
            size: u32,
            policy: u32,
            flags: u64,
            nice: i32,
            priority: u32,
            runtime: u64,
            deadline: u64,
            period: u64,
        }
        const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;
        /// The shortest slice the kernel accepts (it clamps to 0.1–100 ms).
        const SLICE_NANOSECONDS: u64 = 100_000;
        // SAFETY: sched_getscheduler and getpriority only read this thread's settings. getpriority
        // can return -1 as a value, so errno is cleared first and checked after.
        let (policy, nice) = unsafe {
            *libc::__errno_location() = 0;
            let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
            let failed = nice == -1 && *libc::__errno_location() != 0;
            (libc::sched_getscheduler(0), if failed { -1 } else { nice })
        };
        if policy != libc::SCHED_OTHER || nice < 0 {
            return;
        }
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: libc::SCHED_OTHER as u32,
            flags: SCHED_FLAG_RESET_ON_FORK,
            nice,
            priority: 0,
            runtime: SLICE_NANOSECONDS,
            deadline: 0,
            period: 0,
        };
        // SAFETY: sched_setattr reads `size` bytes of a valid, initialised sched_attr for the
        // calling thread (pid 0); a kernel without custom slices ignores `runtime` or refuses the
        // call, and either way nothing else changes.
        unsafe {
            libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0);
        }
    }
}
