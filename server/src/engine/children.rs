//! The step processes of a run, watched from the coordinator's own thread: one `poll` over each
//! child's exit descriptor (a pidfd) and its output pipes. A child's end wakes the coordinator
//! directly, with no thread per child, and output reaches its log file through a pipe, so a stream
//! that writes nothing costs no file.
//!
//! Invariant: an attempt's log file exists only if that stream wrote something; a missing log file
//! means empty output.
//! Invariant: a step's process group is killed before its leader is reaped, so the group id cannot
//! have been reused by then, and nothing the step started outlives it.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use super::plan::Action;
use super::process::{self, Exit};

/// How much of each stream is kept in memory for the history's tails.
pub const TAIL_BYTES: usize = 2_048;

/// Wakes a coordinator waiting in [`Children::wait`] from another thread.
#[derive(Clone)]
pub struct Waker(Arc<File>);

impl Waker {
    pub fn wake(&self) {
        // A full pipe already holds a wake-up; the write can only fail harmlessly.
        let _ = (&*self.0).write(&[1]);
    }
}

/// A step process that ended, with the end of its output.
pub struct Ended {
    pub step: usize,
    pub attempt: u32,
    pub exit: Exit,
    /// When it was reaped (it may be handled later, after a hook).
    pub at: std::time::Instant,
    pub stdout_tail: String,
    pub stderr_tail: String,
    /// Why it failed whatever its exit says, when its executor knows better (a cluster's node
    /// failed, the job ran out of memory).
    pub failure: Option<String>,
}

/// What a step's process is started with.
pub struct Launch<'a> {
    pub action: &'a Action,
    /// Variables set on top of the engine's environment, in order (a later one wins).
    pub env: Vec<(String, std::ffi::OsString)>,
    pub cwd: &'a Path,
}

/// The running step processes of one run.
pub struct Children {
    live: Vec<Live>,
    /// The engine's environment as `KEY=value`, taken once per run rather than once per step.
    environment: Vec<(Vec<u8>, std::ffi::CString)>,
    /// The engine's `PATH` (taken with the environment), where a program without a `/` is looked
    /// for when the step does not set its own.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    path: std::ffi::OsString,
    wake_read: File,
    waker: Waker,
    null: File,
    buffer: Vec<u8>,
    poll_fds: Vec<libc::pollfd>,
    /// Whether steps are started with clone3 (else posix_spawn); and its child's stack.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    direct: bool,
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    stack: Stack,
}

/// The stack for [`exec`]'s clone3 child (none where there is no such spawn).
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
use super::clone_spawn::Stack;
#[cfg(all(target_os = "linux", target_env = "gnu", not(target_arch = "x86_64")))]
struct Stack;

/// A started process: its pid, the `Child` when std started it, its exit descriptor when the
/// spawn made one.
type Started = (u32, Option<Child>, Option<File>);

struct Live {
    step: usize,
    attempt: u32,
    pid: u32,
    /// Started through `std::process::Command` (where there is no direct posix_spawn).
    child: Option<Child>,
    /// Readable once the child has exited (not yet reaped).
    exit: File,
    streams: [Capture; 2],
}

/// One output stream: its pipe, its log file once something came, and its last bytes.
struct Capture {
    pipe: Option<File>,
    /// The pipe's write end, held open until the step is reaped: the child's exit then wakes the
    /// engine once (its exit descriptor), not once more for each stream's end.
    writer: Option<File>,
    path: PathBuf,
    log: Option<File>,
    tail: Tail,
    error: Option<String>,
}

impl Children {
    pub fn new() -> std::io::Result<Children> {
        let (wake_read, wake_write) = pipe(libc::O_NONBLOCK)?;
        let environment = std::env::vars_os()
            .filter_map(|(key, value)| {
                let key = key.into_encoded_bytes();
                let mut entry = key.clone();
                entry.push(b'=');
                entry.extend(value.into_encoded_bytes());
                Some((key, std::ffi::CString::new(entry).ok()?))
            })
            .collect();
        Ok(Children {
            live: Vec::new(),
            environment,
            // Where `PATH` is unset, exec's search uses the system's default path.
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            path: std::env::var_os("PATH").unwrap_or_else(|| process::DEFAULT_PATH.into()),
            wake_read,
            waker: Waker(Arc::new(wake_write)),
            null: File::open("/dev/null")?,
            buffer: vec![0; 64 * 1024],
            poll_fds: Vec::new(),
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            direct: cfg!(target_arch = "x86_64"),
            #[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
            stack: Stack::new(),
            #[cfg(all(target_os = "linux", target_env = "gnu", not(target_arch = "x86_64")))]
            stack: Stack,
        })
    }

    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Starts a step's command in a new process group, its stdout and stderr going through pipes
    /// to `logs` (created when the first byte comes). Returns the process id, which is also the
    /// group id.
    pub fn spawn(
        &mut self,
        step: usize,
        attempt: u32,
        launch: &Launch<'_>,
        logs: [PathBuf; 2],
    ) -> std::io::Result<u32> {
        let (stdout_read, stdout_write) = output_pipe()?;
        let (stderr_read, stderr_write) = output_pipe()?;
        let (pid, child, exit) = self.start(launch, &stdout_write, &stderr_write)?;
        let exit = match exit.map_or_else(|| exit_descriptor(pid), Ok) {
            Ok(exit) => exit,
            Err(error) => {
                process::signal_group(pid, libc::SIGKILL);
                let _ = wait_for_exit(pid, child);
                return Err(error);
            }
        };
        let [stdout_log, stderr_log] = logs;
        self.live.push(Live {
            step,
            attempt,
            pid,
            child,
            exit,
            streams: [
                Capture::new(stdout_read, stdout_write, stdout_log),
                Capture::new(stderr_read, stderr_write, stderr_log),
            ],
        });
        Ok(pid)
    }

    /// Starts the process directly (one clone3 on x86-64 Linux, else posix_spawn): the
    /// environment is built from the one taken at the start of the run, where
    /// `std::process::Command` copies and sorts the whole environment for every step. The child
    /// gets what `Command` gives it: stdin from /dev/null, the working folder, a new process
    /// group, no blocked signals, SIGPIPE at its default. Returns the pid, the `Child` when std
    /// started it, and the exit descriptor when the spawn made one.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn start(&mut self, launch: &Launch<'_>, stdout: &File, stderr: &File) -> std::io::Result<Started> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt as _;
        let fds = [self.null.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()];
        // A descriptor among 0–2 (the engine was started with one closed) would be overwritten by
        // the redirections themselves: std handles that rare case.
        if fds.iter().any(|fd| *fd <= 2) {
            return self.start_with_std(launch, stdout, stderr);
        }
        let c_string = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| std::io::Error::new(ErrorKind::InvalidInput, "a NUL byte in the command"))
        };
        let (program, arguments) = process::program_and_arguments(launch.action);
        let argv: Vec<CString> =
            std::iter::once(program).chain(arguments).map(|a| c_string(a.as_bytes())).collect::<Result<_, _>>()?;
        let overrides: Vec<(&str, CString)> = launch
            .env
            .iter()
            .map(|(key, value)| Ok((key.as_str(), c_string(&[key.as_bytes(), b"=", value.as_bytes()].concat())?)))
            .collect::<std::io::Result<_>>()?;
        let overridden = |key: &[u8], from: usize| overrides[from..].iter().any(|(k, _)| k.as_bytes() == key);
        let mut envp: Vec<*const libc::c_char> =
            self.environment.iter().filter(|(key, _)| !overridden(key, 0)).map(|(_, entry)| entry.as_ptr()).collect();
        let last_of_each = overrides.iter().enumerate().filter(|(i, (key, _))| !overridden(key.as_bytes(), i + 1));
        envp.extend(last_of_each.map(|(_, (_, entry))| entry.as_ptr()));
        envp.push(std::ptr::null());
        let mut argv_pointers: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_pointers.push(std::ptr::null());
        // The program is looked for on PATH here, as exec would, rather than by posix_spawnp in
        // the child: its failed execs there cost more than these lookups, while this thread waits.
        // A step that sets PATH finds its program on that PATH.
        let file = if program.contains('/') {
            c_string(program.as_bytes())?
        } else {
            let path = launch.env.iter().rev().find(|(key, _)| key == "PATH").map_or(&*self.path, |(_, path)| path);
            c_string(process::find_program(program, path, launch.cwd)?.as_os_str().as_bytes())?
        };
        let cwd = c_string(launch.cwd.as_os_str().as_bytes())?;
        exec(&file, &argv_pointers, &envp, &cwd, fds, self.direct.then_some(&mut self.stack))
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    fn start(&mut self, launch: &Launch<'_>, stdout: &File, stderr: &File) -> std::io::Result<Started> {
        self.start_with_std(launch, stdout, stderr)
    }

    /// Starts the process through `std::process::Command`.
    fn start_with_std(&self, launch: &Launch<'_>, stdout: &File, stderr: &File) -> std::io::Result<Started> {
        let mut command = process::command(launch.action);
        command
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .current_dir(launch.cwd)
            .stdin(Stdio::from(self.null.try_clone()?))
            .stdout(Stdio::from(stdout.try_clone()?))
            .stderr(Stdio::from(stderr.try_clone()?))
            .process_group(0);
        // No `pre_exec`: std starts the child with posix_spawn (vfork-like), far cheaper than fork.
        let child = command.spawn()?;
        Ok((child.id(), Some(child), None))
    }

    /// Signals the process group of a step's attempt, if it has not been reaped yet (a reaped
    /// group's id may name another group by now).
    pub fn signal(&self, step: usize, attempt: u32, signal: i32) {
        if let Some(live) = self.live.iter().find(|live| live.step == step && live.attempt == attempt) {
            process::signal_group(live.pid, signal);
        }
    }

    /// Waits until a child ends, output comes, the waker is woken or `timeout` passes; copies what
    /// output came to the log files and returns the children that ended.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Vec<Ended> {
        self.poll_fds.clear();
        self.poll_fds.push(poll_fd(&self.wake_read));
        for live in &self.live {
            self.poll_fds.push(poll_fd(&live.exit));
            for capture in &live.streams {
                // A pipe closed after a read error keeps its slot (as -1, which poll skips) so
                // positions stay fixed.
                self.poll_fds.push(capture.pipe.as_ref().map_or(poll_fd_none(), poll_fd));
            }
        }
        let milliseconds = timeout.map_or(-1, |t| t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32);
        // SAFETY: `poll_fds` is a valid array of `len` pollfd structures for the whole call.
        let ready =
            unsafe { libc::poll(self.poll_fds.as_mut_ptr(), self.poll_fds.len() as libc::nfds_t, milliseconds) };
        if ready <= 0 {
            return Vec::new();
        }
        if self.poll_fds[0].revents != 0 {
            while matches!((&self.wake_read).read(&mut self.buffer), Ok(n) if n > 0) {}
        }
        let mut ended = Vec::new();
        let mut position = 1;
        let mut index = 0;
        while index < self.live.len() {
            let exit_ready = self.poll_fds[position].revents != 0;
            for stream in 0..2 {
                if self.poll_fds[position + 1 + stream].revents != 0 {
                    self.live[index].streams[stream].pump(&mut self.buffer, 16);
                }
            }
            position += 3;
            if exit_ready {
                ended.push(self.reap(index));
            } else {
                index += 1;
            }
        }
        ended
    }

    /// Ends a child whose exit descriptor is ready: kills what is left of its group, reaps it and
    /// takes the rest of its output.
    fn reap(&mut self, index: usize) -> Ended {
        let live = &mut self.live[index];
        // The leader is a zombie until reaped, so its group id still names this step's group.
        process::signal_group(live.pid, libc::SIGKILL);
        let mut live = self.live.remove(index);
        // The exit descriptor is ready only once the child has exited: this does not block.
        let exit = wait_for_exit(live.pid, live.child.take());
        let [stdout, stderr] = &mut live.streams;
        // The group is gone; what is left in the pipes is bounded (a process that left the group
        // could keep writing, so the drain is bounded too).
        stdout.pump(&mut self.buffer, 64);
        stderr.pump(&mut self.buffer, 64);
        Ended {
            at: std::time::Instant::now(),
            step: live.step,
            attempt: live.attempt,
            exit,
            stdout_tail: stdout.finish(),
            stderr_tail: stderr.finish(),
            failure: None,
        }
    }
}

impl Capture {
    fn new(pipe: File, writer: File, path: PathBuf) -> Capture {
        Capture { pipe: Some(pipe), writer: Some(writer), path, log: None, tail: Tail::default(), error: None }
    }

    /// Copies what the pipe holds to the log file, at most `reads` reads; closes the pipe at its end.
    fn pump(&mut self, buffer: &mut [u8], reads: usize) {
        for _ in 0..reads {
            let Some(pipe) = self.pipe.as_mut() else { return };
            match pipe.read(buffer) {
                Ok(0) => {
                    self.pipe = None;
                    return;
                }
                Ok(count) => self.keep(&buffer[..count]),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.pipe = None;
                    return;
                }
            }
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.tail.push(bytes);
        if self.error.is_some() {
            return;
        }
        if self.log.is_none() {
            match File::create(&self.path) {
                Ok(file) => self.log = Some(file),
                Err(error) => {
                    self.error = Some(error.to_string());
                    return;
                }
            }
        }
        if let Some(Err(error)) = self.log.as_mut().map(|log| log.write_all(bytes)) {
            self.error = Some(error.to_string());
        }
    }

    /// The tail for the history; a log file that could not be written is said at its end.
    fn finish(&mut self) -> String {
        self.pipe = None;
        self.writer = None;
        self.log = None;
        let mut text = self.tail.text();
        if let Some(error) = &self.error {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("weft: cannot write the log file {}: {error}\n", self.path.display()));
        }
        text
    }
}

/// The last [`TAIL_BYTES`] bytes of a stream (a step's, a hook's stderr).
#[derive(Default)]
pub(super) struct Tail {
    bytes: Vec<u8>,
    total: u64,
}

impl Tail {
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if bytes.len() >= TAIL_BYTES {
            self.bytes.clear();
            self.bytes.extend_from_slice(&bytes[bytes.len() - TAIL_BYTES..]);
        } else {
            self.bytes.extend_from_slice(bytes);
            let excess = self.bytes.len().saturating_sub(TAIL_BYTES);
            self.bytes.drain(..excess);
        }
    }

    /// The tail from the first whole line on (when bytes before it were dropped).
    fn text(&self) -> String {
        process::tail_text(&self.bytes, self.total > self.bytes.len() as u64)
    }

    /// The kept bytes as they are.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A pipe, both ends close-on-exec, with extra status `flags` on both.
fn pipe(flags: i32) -> std::io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array; both are owned here from then on.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    unsafe { Ok((File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))) }
}

/// A pipe for a child's output: the read end non-blocking for the engine, the write end blocking,
/// as a program expects of its stdout.
fn output_pipe() -> std::io::Result<(File, File)> {
    let (read, write) = pipe(libc::O_NONBLOCK)?;
    // SAFETY: fcntl on a descriptor this process owns; F_SETFL with 0 clears O_NONBLOCK (a new
    // pipe end has no other status flag that F_SETFL changes).
    if unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETFL, 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((read, write))
}

/// Waits for a child that has exited (or is about to) and says how it ended.
fn wait_for_exit(pid: u32, child: Option<Child>) -> Exit {
    if let Some(mut child) = child {
        return child.wait().map_or(Exit::Code(-1), Exit::from_status);
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out-parameter.
        let result = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        if result == pid as libc::pid_t {
            use std::os::unix::process::ExitStatusExt as _;
            return Exit::from_status(std::process::ExitStatus::from_raw(status));
        }
        if result < 0 && std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
            continue;
        }
        return Exit::Code(-1);
    }
}

/// Starts `file` (argv and envp end with a null pointer) in `cwd` with `fds` as its stdin, stdout
/// and stderr: with one clone3 when given a stack for it and the kernel allows, else with
/// posix_spawn. The child gets a new process group, no blocked signals, SIGPIPE at its default.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exec(
    file: &std::ffi::CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    cwd: &std::ffi::CStr,
    fds: [std::os::fd::RawFd; 3],
    stack: Option<&mut Stack>,
) -> std::io::Result<Started> {
    #[cfg(target_arch = "x86_64")]
    if let Some(result) = stack.and_then(|stack| super::clone_spawn::spawn(file, argv, envp, cwd, fds, stack)) {
        return result.map(|(pid, exit)| (pid, None, Some(exit)));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = stack;
    let check = |result: libc::c_int| if result == 0 { Ok(()) } else { Err(std::io::Error::from_raw_os_error(result)) };
    // SAFETY: the file actions and attributes are initialised before use and destroyed after;
    // every pointer handed to posix_spawn (file, argv, envp and their strings, cwd) outlives
    // the call, and argv and envp end with a null pointer.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attributes: libc::posix_spawnattr_t = std::mem::zeroed();
        check(libc::posix_spawn_file_actions_init(&mut actions))?;
        if let Err(error) = check(libc::posix_spawnattr_init(&mut attributes)) {
            libc::posix_spawn_file_actions_destroy(&mut actions);
            return Err(error);
        }
        let mut pid: libc::pid_t = 0;
        let mut spawn = || {
            for (target, fd) in fds.iter().enumerate() {
                check(libc::posix_spawn_file_actions_adddup2(&mut actions, *fd, target as libc::c_int))?;
            }
            check(libc::posix_spawn_file_actions_addchdir_np(&mut actions, cwd.as_ptr()))?;
            let mut signals: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut signals);
            check(libc::posix_spawnattr_setsigmask(&mut attributes, &signals))?;
            libc::sigaddset(&mut signals, libc::SIGPIPE);
            check(libc::posix_spawnattr_setsigdefault(&mut attributes, &signals))?;
            check(libc::posix_spawnattr_setpgroup(&mut attributes, 0))?;
            let flags = libc::POSIX_SPAWN_SETPGROUP | libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
            check(libc::posix_spawnattr_setflags(&mut attributes, flags as libc::c_short))?;
            check(libc::posix_spawn(
                &mut pid,
                file.as_ptr(),
                &actions,
                &attributes,
                argv.as_ptr().cast(),
                envp.as_ptr().cast(),
            ))
        };
        let result = spawn();
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attributes);
        result?;
        Ok((pid as u32, None, None))
    }
}

fn poll_fd(file: &File) -> libc::pollfd {
    libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 }
}

fn poll_fd_none() -> libc::pollfd {
    libc::pollfd { fd: -1, events: 0, revents: 0 }
}

/// A descriptor that becomes readable when process `pid` (our child) exits, without reaping it: a
/// pidfd, or where there is none, a pipe whose write end a small thread closes once `waitid`
/// (with `WNOWAIT`) sees the exit.
fn exit_descriptor(pid: u32) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor (close-on-exec) or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd >= 0 {
            // SAFETY: the descriptor was just created and is owned by nothing else.
            return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) }));
        }
    }
    let (read, write) = pipe(0)?;
    std::thread::Builder::new().name("weft-wait".into()).stack_size(64 * 1024).spawn(move || {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: waits for our own child without reaping it (WNOWAIT); `info` is valid.
            let result =
                unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
            if result == 0 || std::io::Error::last_os_error().kind() != ErrorKind::Interrupted {
                break;
            }
        }
        drop(write);
    })?;
    Ok(read)
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Runs a shell step to its end with clone3 (`direct`) or posix_spawn, in its folder or in a
    /// missing one below it; returns how it ended and its folder.
    fn run_step(direct: bool, folder_name: &str, missing_folder: bool) -> (std::io::Result<Ended>, PathBuf) {
        let dir = std::env::temp_dir().join(format!("weft-children-{folder_name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut children = Children::new().unwrap();
        children.direct = direct;
        let action =
            Action::Shell { shell: "sh".into(), script: r#"echo "out $FROM_TEST"; echo err >&2; pwd; exit 3"#.into() };
        let cwd = if missing_folder { dir.join("missing") } else { dir.clone() };
        let launch = Launch { action: &action, env: vec![("FROM_TEST".into(), "set".into())], cwd: &cwd };
        if let Err(error) = children.spawn(0, 1, &launch, [dir.join("out.log"), dir.join("err.log")]) {
            return (Err(error), dir);
        }
        loop {
            if let Some(ended) = children.wait(Some(Duration::from_secs(30))).pop() {
                return (Ok(ended), dir);
            }
        }
    }

    #[test]
    fn both_ways_of_starting_a_step_give_it_the_same_setup() {
        for (direct, name) in [(true, "direct"), (false, "posix-spawn")] {
            let (ended, dir) = run_step(direct, name, false);
            let ended = ended.unwrap();
            assert!(matches!(ended.exit, Exit::Code(3)), "{name}");
            assert_eq!(ended.stdout_tail, format!("out set\n{}\n", dir.display()), "{name}");
            assert_eq!(ended.stderr_tail, "err\n", "{name}");
            assert_eq!(std::fs::read_to_string(dir.join("err.log")).unwrap(), "err\n", "{name}");
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn both_ways_of_starting_a_step_report_a_missing_folder() {
        for (direct, name) in [(true, "direct-missing"), (false, "posix-spawn-missing")] {
            let (ended, dir) = run_step(direct, name, true);
            let error = ended.err().expect("the step cannot start");
            assert_eq!(error.kind(), ErrorKind::NotFound, "{name}: {error}");
            // Nothing was left running or unreaped.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
