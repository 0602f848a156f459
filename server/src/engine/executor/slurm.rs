//! The Slurm executor: each attempt one batch job, submitted with `sbatch` and watched by a thread
//! of its own, which asks the cluster about every job in flight with one query per poll and wakes
//! the coordinator through the [`Waker`] when a job was accepted or ended. The coordinator never
//! waits on a cluster command: `start` writes the job script and queues the submission, `stop`
//! queues a `scancel`.
//!
//! Invariants, restated for Slurm:
//! - The job's stdout and stderr are the attempt's log files (`--output`, `--error`), written by
//!   Slurm while it runs; once it ended, a stream that wrote nothing has no log file (Slurm creates
//!   both at the job's start: the empty ones are removed).
//! - TERM, then after the grace KILL: `scancel` (Slurm sends SIGTERM to every process of the
//!   job and records it `CANCELLED`), then `scancel --full --signal=KILL` if it is still there.
//! - An attempt is submitted once: its job is named after the run and the attempt
//!   ([`super::job_name`]), and a resumed engine re-attaches to the job (or reads the result of one
//!   that ended meanwhile) by its recorded id or, if it was never recorded, by that name
//!   ([`find_jobs`]), instead of submitting it again.
//! - A job is reported ended only once Slurm says it ended (not `COMPLETING`): its processes are
//!   gone.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{AttemptStart, Executor, Report, Started, Stop};
use crate::engine::children::{Ended, Waker, TAIL_BYTES};
use crate::engine::plan::{ExecutorKind, ExecutorOptions};
use crate::engine::process::{self, Exit};

/// How often the jobs in flight are looked at.
const POLL: Duration = Duration::from_millis(250);
/// How long a cluster command may take before it counts as failed.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// How many polls in a row a job may be missing from every record before its attempt fails.
const MISSING_POLLS: u32 = 20;

/// Asks the thread to do something.
enum Request {
    Submit(Submission),
    Stop {
        step: usize,
        attempt: u32,
        how: Stop,
    },
    /// Watch a job a dead engine submitted (see [`Slurm::reattach`]).
    Watch {
        step: usize,
        attempt: u32,
        job: String,
        logs: [PathBuf; 2],
    },
}

struct Submission {
    step: usize,
    attempt: u32,
    args: Vec<OsString>,
    logs: [PathBuf; 2],
}

/// A job in flight.
struct Job {
    step: usize,
    attempt: u32,
    id: String,
    logs: [PathBuf; 2],
    /// Its last state, as Slurm said it.
    state: String,
    /// Polls in a row in which no record had it.
    missing: u32,
}

/// The Slurm executor of one run.
pub struct Slurm {
    requests: Sender<Request>,
    reports: Arc<Mutex<Vec<Report>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Slurm {
    pub fn new(waker: Waker) -> Slurm {
        let (requests, receiver) = channel();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let shared = reports.clone();
        let thread = std::thread::Builder::new()
            .name("weft-slurm".into())
            .spawn(move || Poller { receiver, reports: shared, waker, jobs: Vec::new() }.run())
            .ok();
        if thread.is_none() {
            // Without its thread nothing can be submitted: every start then fails with a reason.
            eprintln!("weft: cannot start the Slurm executor's thread");
        }
        Slurm { requests, reports, thread }
    }

    /// Watches a job that a dead engine submitted for an attempt, as if this engine had.
    pub fn reattach(&mut self, step: usize, attempt: u32, job: String, logs: [PathBuf; 2]) {
        let _ = self.requests.send(Request::Watch { step, attempt, job, logs });
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        // Closing the channel ends the thread at its next turn.
        let (closed, _) = channel();
        self.requests = closed;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Executor for Slurm {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Slurm
    }

    fn queues(&self) -> bool {
        true
    }

    fn start(&mut self, start: AttemptStart<'_>) -> std::io::Result<Started> {
        if self.thread.is_none() {
            return Err(std::io::Error::other("the Slurm executor's thread could not start"));
        }
        let script = job_script(&start);
        let path = start.scratch.with_extension("sbatch");
        std::fs::write(&path, script)?;
        let args = sbatch_arguments(&start, &path);
        let submission = Submission { step: start.index, attempt: start.attempt, args, logs: start.logs };
        self.requests
            .send(Request::Submit(submission))
            .map_err(|_| std::io::Error::other("the Slurm executor's thread has stopped"))?;
        Ok(Started::Later)
    }

    fn stop(&mut self, step: usize, attempt: u32, how: Stop) {
        let _ = self.requests.send(Request::Stop { step, attempt, how });
    }

    fn collect(&mut self, into: &mut Vec<Report>) {
        let mut reports = self.reports.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        into.append(&mut reports);
    }
}

/// The job script of an attempt: the step's environment and working folder exactly as a local
/// attempt gets them (on top of the environment `sbatch` exports, the engine's), its `requires`
/// commands checked where it runs, then its command.
fn job_script(start: &AttemptStart<'_>) -> Vec<u8> {
    let mut script = Vec::new();
    script.extend_from_slice(b"#!/bin/sh\n");
    script.extend_from_slice(
        format!(
            "# Written by weft: step `{}`, attempt {}. Slurm runs it; weft reads how it ended (docs/SLURM.md).\n",
            start.step.id.replace('\n', " "),
            start.attempt
        )
        .as_bytes(),
    );
    // Names a shell cannot `export` go through `env` on the command line.
    let mut unusual = Vec::new();
    let variables = start.launch.env.iter().map(|(k, v)| (k.as_str(), v.as_os_str()));
    let own = [("WEFT_EXECUTOR", std::ffi::OsStr::new("slurm"))];
    for (name, value) in variables.chain(own) {
        if is_shell_name(name) {
            script.extend_from_slice(b"export ");
            script.extend_from_slice(name.as_bytes());
            script.push(b'=');
            script.extend(quote(value.as_bytes()));
            script.push(b'\n');
        } else {
            let mut pair = name.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(value.as_bytes());
            unusual.push(pair);
        }
    }
    for command in &start.step.requires.commands {
        let quoted = String::from_utf8_lossy(&quote(command.as_bytes())).into_owned();
        script.extend_from_slice(
            format!(
                "command -v {quoted} >/dev/null 2>&1 || {{ echo \"weft: requires.commands: {} is not on PATH on $(hostname)\" >&2; exit 127; }}\n",
                command.replace(['"', '`', '$', '\\', '\n'], "?")
            )
            .as_bytes(),
        );
    }
    let cwd = quote(start.launch.cwd.as_os_str().as_bytes());
    script.extend_from_slice(b"cd ");
    script.extend_from_slice(&cwd);
    script.extend_from_slice(b" || { echo \"weft: cannot start: no folder ");
    script.extend(start.launch.cwd.display().to_string().replace(['"', '`', '$', '\\', '\n'], "?").bytes());
    script.extend_from_slice(b" on $(hostname)\" >&2; exit 127; }\n");
    script.extend_from_slice(b"exec");
    if !unusual.is_empty() {
        script.extend_from_slice(b" env");
        for pair in &unusual {
            script.push(b' ');
            script.extend(quote(pair));
        }
    }
    let (program, arguments) = process::program_and_arguments(start.launch.action);
    for word in std::iter::once(program).chain(arguments) {
        script.push(b' ');
        script.extend(quote(word.as_bytes()));
    }
    script.push(b'\n');
    script
}

/// `sbatch`'s arguments for an attempt: the step's `executor_options` (its `extra_args` first, so
/// weft's own win), the log files, the name, and `--time` rounded up from the step's timeout as
/// Slurm's backstop (weft stops the attempt at its timeout to the second itself).
fn sbatch_arguments(start: &AttemptStart<'_>, script: &Path) -> Vec<OsString> {
    let ExecutorOptions { partition, account, cpus, memory, extra_args } = &start.step.executor_options;
    let mut args: Vec<OsString> = extra_args.iter().map(OsString::from).collect();
    let mut option = |name: &str, value: &std::ffi::OsStr| {
        let mut arg = OsString::from(format!("--{name}="));
        arg.push(value);
        args.push(arg);
    };
    if let Some(partition) = partition {
        option("partition", partition.as_ref());
    }
    if let Some(account) = account {
        option("account", account.as_ref());
    }
    if let Some(cpus) = cpus {
        option("cpus-per-task", cpus.to_string().as_ref());
    }
    if let Some(memory) = memory {
        option("mem", memory.as_ref());
    }
    if let Some(timeout) = start.step.timeout {
        option("time", backstop_minutes(timeout).to_string().as_ref());
    }
    option("job-name", start.name.as_ref());
    option("output", start.logs[0].as_os_str());
    option("error", start.logs[1].as_os_str());
    let folder = script.parent().unwrap_or(Path::new("/"));
    option("chdir", folder.as_os_str());
    for fixed in ["--parsable", "--export=ALL", "--no-requeue", "--open-mode=truncate"] {
        args.push(fixed.into());
    }
    args.push(script.into());
    args
}

/// Slurm's time limit for a step's timeout: whole minutes, rounded up, and one more, so that
/// weft's own stop (at the timeout, then the grace) always comes first.
fn backstop_minutes(timeout: Duration) -> u64 {
    timeout.as_secs().div_ceil(60) + 1
}

fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A word quoted for `sh`: in single quotes, a quote in it as `'\''`.
fn quote(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'\'');
    for &byte in bytes {
        if byte == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(byte);
        }
    }
    out.push(b'\'');
    out
}

/// Leaves out the error of a `scancel` that came after its job ended.
fn unless_ended(result: Result<String, String>) -> Result<String, String> {
    match result {
        Err(error) if error.contains("already completing or completed") || error.contains("Invalid job id") => {
            Ok(String::new())
        }
        other => other,
    }
}

/// The thread that runs every cluster command of a run.
struct Poller {
    receiver: Receiver<Request>,
    reports: Arc<Mutex<Vec<Report>>>,
    waker: Waker,
    jobs: Vec<Job>,
}

impl Poller {
    fn run(mut self) {
        let mut next_poll = Instant::now() + POLL;
        loop {
            let wait = if self.jobs.is_empty() {
                Duration::from_secs(3600)
            } else {
                next_poll.saturating_duration_since(Instant::now())
            };
            match self.receiver.recv_timeout(wait) {
                Ok(request) => {
                    self.handle(request);
                    while let Ok(request) = self.receiver.try_recv() {
                        self.handle(request);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if !self.jobs.is_empty() && Instant::now() >= next_poll {
                self.poll();
                next_poll = Instant::now() + POLL;
            }
        }
    }

    fn report(&self, report: Report) {
        self.reports.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(report);
        self.waker.wake();
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Submit(Submission { step, attempt, args, logs }) => {
                match run("sbatch", &args) {
                    Ok(out) => {
                        // `--parsable` prints `ID` or `ID;cluster`.
                        let id = out.trim().split(';').next().unwrap_or_default().to_owned();
                        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
                            let error = format!("sbatch did not give a job id: {}", out.trim());
                            self.report(Report::NotStarted { step, attempt, error });
                            return;
                        }
                        self.jobs.push(Job {
                            step,
                            attempt,
                            id: id.clone(),
                            logs,
                            state: "PENDING".into(),
                            missing: 0,
                        });
                        self.report(Report::Submitted { step, attempt, id });
                    }
                    Err(error) => self.report(Report::NotStarted { step, attempt, error }),
                }
            }
            Request::Watch { step, attempt, job, logs } => {
                // Its state is the first poll's: running, it is reported so (and its time limit
                // counts from then).
                self.jobs.push(Job { step, attempt, id: job, logs, state: String::new(), missing: 0 });
            }
            Request::Stop { step, attempt, how } => {
                let Some(job) = self.jobs.iter().find(|j| j.step == step && j.attempt == attempt) else { return };
                let id = job.id.clone();
                // TERM is a cancel: Slurm sends SIGTERM to every process of the job (SIGKILL after
                // its `KillWait`) and records it `CANCELLED`; a pending job just leaves the queue.
                // KILL, after weft's own grace, does not wait for `KillWait`.
                let result = match how {
                    Stop::Term => run("scancel", &[id.as_str()]),
                    Stop::Kill if matches!(job.state.as_str(), "PENDING" | "") => run("scancel", &[id.as_str()]),
                    Stop::Kill => run("scancel", &["--full", "--signal=KILL", id.as_str()]),
                };
                // A job that ended meanwhile cannot be signalled any more: the next poll reports
                // its end, and there is nothing to say.
                if let Err(error) = unless_ended(result) {
                    eprintln!("weft: cannot stop Slurm job {id}: {error}");
                }
            }
        }
    }

    /// One question to the cluster about every job in flight; the ones that ended are reported.
    fn poll(&mut self) {
        let ids: Vec<String> = self.jobs.iter().map(|job| job.id.clone()).collect();
        let mut states = match query(&ids) {
            Ok(states) => states,
            Err(error) => {
                // The controller may be restarting: ask again at the next poll.
                eprintln!("weft: cannot ask Slurm about jobs {}: {error}", ids.join(","));
                return;
            }
        };
        // A job older than the controller keeps in memory: from the accounting records.
        let unknown: Vec<String> = ids.iter().filter(|id| !states.contains_key(*id)).cloned().collect();
        if !unknown.is_empty() {
            if let Ok(found) = accounting(&unknown) {
                states.extend(found);
            }
        }
        let mut index = 0;
        while index < self.jobs.len() {
            let job = &mut self.jobs[index];
            match states.remove(&job.id) {
                Some(state) if state.ended() => {
                    let job = self.jobs.remove(index);
                    let ended = ended(&job, &state);
                    self.report(Report::Ended(ended));
                    continue;
                }
                Some(state) => {
                    let started = state.state == "RUNNING" && job.state != "RUNNING";
                    job.state = state.state;
                    job.missing = 0;
                    if started {
                        let (step, attempt, id) = (job.step, job.attempt, job.id.clone());
                        self.report(Report::Running { step, attempt, id });
                    }
                }
                None => {
                    job.missing += 1;
                    if job.missing >= MISSING_POLLS {
                        let job = self.jobs.remove(index);
                        let state = JobState { state: "UNKNOWN".into(), code: 0, signal: 0 };
                        let mut ended = ended(&job, &state);
                        ended.failure = Some(format!("Slurm has no record of job {} any more", job.id));
                        self.report(Report::Ended(ended));
                        continue;
                    }
                }
            }
            index += 1;
        }
    }
}

/// What Slurm says of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    pub state: String,
    pub code: i32,
    pub signal: i32,
}

impl JobState {
    /// Whether the job has ended and its processes are gone.
    pub fn ended(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "SUSPENDED"
                | "REQUEUED"
                | "REQUEUE_FED"
                | "REQUEUE_HOLD"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
                | "STOPPED"
                | "RESV_DEL_HOLD"
        )
    }

    /// How the attempt ended, and why it failed whatever its exit says.
    fn outcome(&self) -> (Exit, Option<String>) {
        let exit = if self.signal != 0 { Exit::Signal(self.signal) } else { Exit::Code(self.code) };
        let why = |what: &str| Some(format!("{what} (Slurm state {})", self.state));
        match self.state.as_str() {
            "COMPLETED" | "FAILED" => (exit, None),
            "CANCELLED" => (if self.signal != 0 { exit } else { Exit::Signal(libc::SIGTERM) }, None),
            "NODE_FAIL" => (exit, why("the node running the job failed")),
            "OUT_OF_MEMORY" => (exit, why("the job ran out of memory")),
            "TIMEOUT" => (exit, why("Slurm stopped the job at its time limit")),
            "BOOT_FAIL" => (exit, why("the node for the job failed to boot")),
            "PREEMPTED" => (exit, why("the job was preempted")),
            "DEADLINE" => (exit, why("the job missed its deadline")),
            _ => (exit, why("the job ended")),
        }
    }
}

/// The end of a job: its exit and the tails of its log files; a log file that stayed empty is
/// removed (see the module's invariants).
fn ended(job: &Job, state: &JobState) -> Ended {
    let (exit, failure) = state.outcome();
    let mut tails = [String::new(), String::new()];
    for (tail, path) in tails.iter_mut().zip(&job.logs) {
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(path);
        } else {
            *tail = process::tail(path, TAIL_BYTES as u64);
        }
    }
    let [stdout_tail, stderr_tail] = tails;
    Ended { step: job.step, attempt: job.attempt, exit, at: Instant::now(), stdout_tail, stderr_tail, failure }
}

/// The state of jobs the controller still keeps (pending, running, and ended ones for
/// `MinJobAge`): one `squeue` for all of them.
fn query(ids: &[String]) -> Result<HashMap<String, JobState>, String> {
    let list = ids.join(",");
    let out =
        run("squeue", &["--noheader", "--states=all", "--jobs", list.as_str(), "--Format=JobID:|,State:|,exit_code:"])?;
    Ok(parse_table(&out))
}

/// The state of jobs from the accounting records: `sacct`, else the job-completion file
/// (`sacct -c`) where there is no accounting database.
fn accounting(ids: &[String]) -> Result<HashMap<String, JobState>, String> {
    let list = ids.join(",");
    let fields = "--format=JobID,State,ExitCode";
    let out = run("sacct", &["--noheader", "--parsable2", "--allocations", "--jobs", list.as_str(), fields])
        .or_else(|_| run("sacct", &["-c", "--noheader", "--parsable2", "--jobs", list.as_str(), fields]))?;
    Ok(parse_table(&out))
}

/// Lines of `id|STATE|exit`, as `squeue --Format` and `sacct --parsable2` give them: `exit` is
/// `code:signal` (sacct) or a raw wait status (squeue's `exit_code`: exit 3 is `768`); a state may
/// carry a suffix (`CANCELLED by 0`).
pub fn parse_table(text: &str) -> HashMap<String, JobState> {
    let mut states = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split('|').map(str::trim);
        let (Some(id), Some(state)) = (fields.next(), fields.next()) else { continue };
        if id.is_empty() || state.is_empty() {
            continue;
        }
        let exit = fields.next().unwrap_or_default();
        let (code, signal) = match exit.split_once(':') {
            Some((code, signal)) => (code.trim().parse().unwrap_or(0), signal.trim().parse().unwrap_or(0)),
            None => {
                let status: i32 = exit.parse().unwrap_or(0);
                ((status >> 8) & 0xff, status & 0x7f)
            }
        };
        let state = state.split_whitespace().next().unwrap_or_default().trim_end_matches('+').to_owned();
        states.insert(id.to_owned(), JobState { state, code, signal });
    }
    states
}

/// Jobs of a run found by their names (see [`super::job_name`]): `name → (job id, state)`, from
/// the controller and the accounting records.
pub fn find_jobs(names: &[String]) -> Result<HashMap<String, (String, JobState)>, String> {
    let mut found = HashMap::new();
    if names.is_empty() {
        return Ok(found);
    }
    let list = names.join(",");
    let live = run(
        "squeue",
        &["--noheader", "--states=all", "--name", list.as_str(), "--Format=Name:|,JobID:|,State:|,exit_code:"],
    )?;
    let fields = "--format=JobName%200,JobID,State,ExitCode";
    let recorded = run("sacct", &["--noheader", "--parsable2", "--allocations", "--name", list.as_str(), fields])
        .or_else(|_| run("sacct", &["-c", "--noheader", "--parsable2", "--name", list.as_str(), fields]))
        .unwrap_or_default();
    for line in recorded.lines().chain(live.lines()) {
        if let Some((name, rest)) = line.split_once('|') {
            if let Some((id, state)) = parse_table(rest).into_iter().next() {
                found.insert(name.trim().to_owned(), (id, state));
            }
        }
    }
    Ok(found)
}

/// Cancels jobs by id, for `weft cancel` of a run whose engine is gone.
pub fn cancel(ids: &[String]) -> Result<(), String> {
    if ids.is_empty() {
        return Ok(());
    }
    run("scancel", ids).map(|_| ())
}

/// The current state of jobs by id (for a resumed engine deciding what to re-attach to).
pub fn states(ids: &[String]) -> Result<HashMap<String, JobState>, String> {
    let mut states = query(ids)?;
    let unknown: Vec<String> = ids.iter().filter(|id| !states.contains_key(*id)).cloned().collect();
    if !unknown.is_empty() {
        states.extend(accounting(&unknown).unwrap_or_default());
    }
    Ok(states)
}

/// Runs a cluster command with a time limit; its stdout, or why it failed (with its stderr).
fn run<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Result<String, String> {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command_output(command, program)
}

fn command_output(mut command: Command, program: &str) -> Result<String, String> {
    use std::os::unix::process::CommandExt as _;
    command.process_group(0);
    let mut child = command.spawn().map_err(|error| format!("cannot run `{program}`: {error}"))?;
    let file = |fd: Option<std::os::fd::OwnedFd>| fd.map(std::fs::File::from);
    let mut streams = [file(child.stdout.take().map(Into::into)), file(child.stderr.take().map(Into::into))];
    for stream in streams.iter().flatten() {
        use std::os::fd::AsRawFd as _;
        process::set_nonblocking(stream.as_raw_fd());
    }
    let mut outputs = [Vec::new(), Vec::new()];
    let mut buffer = [0u8; 16 * 1024];
    let mut tick = || {
        for (stream, output) in streams.iter_mut().zip(outputs.iter_mut()) {
            while let Some(reader) = stream.as_mut() {
                match reader.read(&mut buffer) {
                    Ok(0) => *stream = None,
                    Ok(n) => output.extend_from_slice(&buffer[..n]),
                    Err(_) => break,
                }
            }
        }
    };
    let waited = process::wait_or_stop(&mut child, Some(COMMAND_LIMIT), &|| false, &mut tick);
    let [stdout, stderr] = outputs;
    // One line, as a step's reason is shown: `sbatch: error: A` and `sbatch: error: B` → `A; B`.
    let stderr = String::from_utf8_lossy(&stderr)
        .lines()
        .map(|line| {
            let line = line.trim();
            line.strip_prefix(program).and_then(|rest| rest.strip_prefix(": error: ")).unwrap_or(line)
        })
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match waited {
        process::Waited::Exited(status) if status.success() => Ok(String::from_utf8_lossy(&stdout).into_owned()),
        process::Waited::Exited(status) => Err(format!("`{program}` failed ({status}): {stderr}")),
        process::Waited::TimedOut => Err(format!("`{program}` did not answer within {} s", COMMAND_LIMIT.as_secs())),
        process::Waited::Stopped => Err(format!("`{program}` was stopped")),
        process::Waited::Failed(error) => Err(format!("cannot wait for `{program}`: {error}")),
    }
}

/// Whether the cluster's controller answers (`sinfo` asks it for its partitions), and if not,
/// Slurm's words for why.
pub fn cluster_answers() -> Result<(), String> {
    run("sinfo", &["--noheader", "--format=%P"]).map(drop)
}

/// Whether Slurm's commands are here at all.
pub fn available() -> bool {
    run("sinfo", &["--version"]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_gives_raw_wait_statuses_and_sacct_gives_code_and_signal() {
        let squeue = parse_table("427|FAILED|768\n428|CANCELLED|15\n429|RUNNING|0\n");
        assert_eq!(squeue["427"], JobState { state: "FAILED".into(), code: 3, signal: 0 });
        assert_eq!(squeue["428"], JobState { state: "CANCELLED".into(), code: 0, signal: 15 });
        assert!(!squeue["429"].ended());
        let sacct = parse_table("430|COMPLETED|0:0\n431|CANCELLED by 0|0:15\n432|NODE_FAIL|1:0\n\n|x|\n");
        assert_eq!(sacct["430"], JobState { state: "COMPLETED".into(), code: 0, signal: 0 });
        assert_eq!(sacct["431"].state, "CANCELLED");
        assert_eq!(sacct["431"].signal, 15);
        let (_, why) = sacct["432"].outcome();
        assert_eq!(why.as_deref(), Some("the node running the job failed (Slurm state NODE_FAIL)"));
        assert_eq!(sacct.len(), 3);
    }

    #[test]
    fn words_are_quoted_for_sh_whatever_they_hold() {
        assert_eq!(quote(b"it's $HOME `x`"), b"'it'\\''s $HOME `x`'".to_vec());
        assert!(is_shell_name("WEFT_IN_X1"));
        assert!(!is_shell_name("1X") && !is_shell_name("A-B") && !is_shell_name(""));
        assert_eq!(backstop_minutes(Duration::from_secs(1)), 2);
        assert_eq!(backstop_minutes(Duration::from_secs(120)), 3);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever bytes a value holds (quotes, `$(…)`, backquotes, newlines, invalid UTF-8), the
        /// job script's `sh` gets them back unchanged: a value is data, never code.
        #[test]
        fn sh_reads_a_quoted_word_back_as_it_was(
            bytes in proptest::collection::vec(1u8..=255, 0..64),
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "'", "\"", "\\", "$", "$(id)", "`id`", "\n", "*", "?", "~", ";", "&", "|", " ", "\t", "#", "!", "{", "é",
            ]), 0..12),
        ) {
            use std::os::unix::ffi::OsStrExt;
            let mut value = pieces.concat().into_bytes();
            value.extend_from_slice(&bytes);
            let mut command = b"printf %s ".to_vec();
            command.extend(quote(&value));
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(std::ffi::OsStr::from_bytes(&command))
                .output()
                .expect("sh runs");
            proptest::prop_assert!(output.status.success(), "{:?}", String::from_utf8_lossy(&output.stderr));
            proptest::prop_assert_eq!(output.stdout, value);
        }
    }
}
