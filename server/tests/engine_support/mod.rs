//! Shared helpers of the engine tests (`tests/engine_*.rs`): throw-away project folders, the real
//! `weft` binary, and the real SQLite history read back with `weft::store::Store`.
//!
//! Every project lives in its own folder under `std::env::temp_dir()`, gets a `weft.yaml` (so the
//! workspace is that folder) with fast retry and kill settings, and is removed when dropped. A
//! background `weft` is killed when its handle is dropped; when the project is dropped, every
//! process still working inside its folder (a step or its orphan) is killed.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use weft::store::{AttemptRecord, EventRecord, RunRecord, StepRecord, Store};

/// The binary under test.
pub const WEFT: &str = env!("CARGO_BIN_EXE_weft");

/// Project defaults that keep the suite fast: short retry delays and a short kill grace period.
pub const FAST_DEFAULTS: &str =
    "defaults:\n  retry_backoff: {base_sec: 0.01, factor: 2, max_sec: 0.05}\n  kill_grace_sec: 0.2\n";

/// The longest any single `weft` command of a test may take before the test fails.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(45);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// What a finished `weft` command printed and returned.
#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// The run id from `run <id> · …` on the first line.
    pub fn run_id(&self) -> i64 {
        run_id_of(&self.stdout).unwrap_or_else(|| panic!("no `run <id>` on the first line of:\n{self}"))
    }
}

impl std::fmt::Display for CliOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout ---\n{}--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Parses `run <id> · …` (or `run <id> …`) on the first line.
pub fn run_id_of(stdout: &str) -> Option<i64> {
    let first = stdout.lines().next()?;
    let rest = first.strip_prefix("run ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// A throw-away project folder with a `weft.yaml`.
pub struct Project {
    pub dir: PathBuf,
    pgids: Mutex<Vec<i32>>,
}

impl Project {
    /// A project whose `weft.yaml` holds only [`FAST_DEFAULTS`].
    pub fn new(name: &str) -> Project {
        Project::with_config(name, FAST_DEFAULTS)
    }

    /// A project with this `weft.yaml` (give [`FAST_DEFAULTS`] yourself if you want them).
    pub fn with_config(name: &str, config: &str) -> Project {
        let project = Project::bare(name);
        project.write("weft.yaml", config);
        project
    }

    /// A project folder with no `weft.yaml` (the workspace is then the folder of the file).
    pub fn bare(name: &str) -> Project {
        let unique = format!(
            "{name}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
        );
        let dir = std::env::temp_dir().join("weft-engine-tests").join(unique);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the project folder");
        // Canonical, so paths the engine prints and stores compare equal to ours.
        let dir = dir.canonicalize().expect("canonical project folder");
        Project { dir, pgids: Mutex::new(Vec::new()) }
    }

    /// A project holding a copy of `examples/NAME`, without what a run of it left there (`out/`,
    /// `.weft/`, `TARGET_READY`).
    pub fn from_example(name: &str) -> Project {
        fn copy(from: &Path, to: &Path) {
            std::fs::create_dir_all(to).expect("create a folder");
            for entry in std::fs::read_dir(from).expect("read the example").map(Result::unwrap) {
                let name = entry.file_name();
                if name == "out" || name == ".weft" || name == "TARGET_READY" {
                    continue;
                }
                if entry.file_type().unwrap().is_dir() {
                    copy(&entry.path(), &to.join(&name));
                } else {
                    std::fs::copy(entry.path(), to.join(&name)).expect("copy a file");
                }
            }
        }
        let project = Project::bare(&format!("example-{name}"));
        copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name), &project.dir);
        project
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create a folder");
        }
        std::fs::write(&path, text).expect("write a file");
        path
    }

    /// The file's text, or "" when it does not exist.
    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_default()
    }

    /// The file's non-empty lines.
    pub fn lines(&self, relative: &str) -> Vec<String> {
        self.read(relative).lines().filter(|l| !l.trim().is_empty()).map(|l| l.trim().to_owned()).collect()
    }

    pub fn exists(&self, relative: &str) -> bool {
        self.path(relative).exists()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(WEFT);
        command.args(args).current_dir(&self.dir).stdin(Stdio::null()).env("NO_COLOR", "1");
        command
    }

    /// Runs `weft ARGS` in the project folder and waits for it (at most [`COMMAND_LIMIT`]).
    pub fn weft(&self, args: &[&str]) -> CliOutput {
        self.spawn(args).wait()
    }

    /// Starts `weft ARGS` in the project folder without waiting; its output goes to files.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let out_dir = self.dir.join(".test-output");
        std::fs::create_dir_all(&out_dir).expect("create the output folder");
        let stdout = out_dir.join(format!("{n}.stdout"));
        let stderr = out_dir.join(format!("{n}.stderr"));
        let child = self
            .command(args)
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start weft");
        Background { child: Some(child), stdout, stderr, args: args.iter().map(|a| a.to_string()).collect() }
    }

    /// Kills this process group when the project is dropped (if it still exists then).
    pub fn track_group(&self, pgid: i32) {
        self.pgids.lock().unwrap().push(pgid);
    }

    /// Waits until a step has written its `$$` (its process group id) to `relative`, and tracks it.
    pub fn wait_for_pgid(&self, relative: &str) -> i32 {
        let mut found = None;
        wait_until(Duration::from_secs(20), &format!("a process group id in {relative}"), || {
            found = self.read(relative).lines().next().and_then(|l| l.trim().parse::<i32>().ok());
            found.is_some()
        });
        let pgid = found.unwrap_or_default();
        assert!(pgid > 1, "bad process group id {pgid}");
        self.track_group(pgid);
        pgid
    }

    // ---- the history -------------------------------------------------------------------------

    /// Opens `.weft/weft.db` the way the engine does.
    pub fn store(&self) -> Store {
        Store::open(&self.dir).expect("open the run history")
    }

    pub fn db(&self) -> rusqlite::Connection {
        let connection = rusqlite::Connection::open(self.dir.join(".weft").join("weft.db")).expect("open weft.db");
        connection.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
        connection
    }

    pub fn run_record(&self, run: i64) -> RunRecord {
        self.store().run(run).expect("read the run").unwrap_or_else(|| panic!("no run {run}"))
    }

    pub fn steps(&self, run: i64) -> Vec<StepRecord> {
        self.store().steps(run).expect("read steps")
    }

    pub fn step(&self, run: i64, id: &str) -> StepRecord {
        self.steps(run).into_iter().find(|s| s.id == id).unwrap_or_else(|| panic!("run {run} has no step `{id}`"))
    }

    /// Step id → (status, reason), for compact assertions and messages.
    pub fn step_map(&self, run: i64) -> BTreeMap<String, (String, Option<String>)> {
        self.steps(run).into_iter().map(|s| (s.id, (s.status.to_string(), s.reason))).collect()
    }

    pub fn status_of(&self, run: i64, step: &str) -> String {
        self.step(run, step).status.to_string()
    }

    pub fn attempts(&self, run: i64, step: Option<&str>) -> Vec<AttemptRecord> {
        let mut attempts = self.store().attempts(run, step).expect("read attempts");
        attempts.sort_by(|a, b| (a.step_id.as_str(), a.attempt).cmp(&(b.step_id.as_str(), b.attempt)));
        attempts
    }

    pub fn events(&self, run: i64) -> Vec<EventRecord> {
        self.store().events(run).expect("read events")
    }

    /// `(kind, step)` of every event, in order.
    pub fn event_kinds(&self, run: i64) -> Vec<(String, Option<String>)> {
        self.events(run).into_iter().map(|e| (e.kind, e.step_id)).collect()
    }

    /// Events of one kind (and step, when given), with their data parsed.
    pub fn events_of(&self, run: i64, kind: &str, step: Option<&str>) -> Vec<serde_json::Value> {
        self.events(run)
            .into_iter()
            .filter(|e| e.kind == kind && (step.is_none() || e.step_id.as_deref() == step))
            .map(|e| serde_json::from_str(&e.data).expect("event data is JSON"))
            .collect()
    }

    /// Waits until the step's row says `status`.
    pub fn wait_for_step(&self, run: i64, step: &str, status: &str) {
        wait_until(Duration::from_secs(20), &format!("step `{step}` of run {run} to be {status}"), || {
            Store::open(&self.dir)
                .ok()
                .and_then(|store| store.steps(run).ok())
                .is_some_and(|steps| steps.iter().any(|s| s.id == step && s.status == status))
        });
    }

    /// `PRAGMA integrity_check` of the history.
    pub fn assert_integrity(&self) {
        assert_eq!(self.store().integrity_check().expect("integrity_check"), "ok");
    }

    /// A file of one attempt: `.weft/runs/<run>/<step>.<attempt>.<stream>`.
    pub fn attempt_file(&self, run: i64, step: &str, attempt: i64, stream: &str) -> PathBuf {
        self.dir.join(".weft").join("runs").join(run.to_string()).join(format!("{step}.{attempt}.{stream}"))
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Only processes that still work inside this test's unique folder are killed, so a pid or
        // group id reused by someone else's process is never hit.
        let ours = processes_in(&self.dir);
        let groups = self.pgids.lock().map(|p| p.clone()).unwrap_or_default();
        for pid in &ours {
            // SAFETY: kill has no memory effects; the process belongs to this test.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
        for pgid in groups {
            if group_members(pgid).iter().any(|(pid, _, _)| ours.contains(pid)) {
                // SAFETY: as above, for a process group a step of this test started.
                unsafe {
                    libc::killpg(pgid, libc::SIGKILL);
                }
            }
        }
        if std::env::var_os("WEFT_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("kept {}", self.dir.display());
        }
    }
}

/// A `weft` command running in the background.
pub struct Background {
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    args: Vec<String>,
}

impl Background {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn stdout_so_far(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits for `run <id>` on the first line of its output.
    pub fn run_id(&self) -> i64 {
        let mut id = None;
        wait_until(Duration::from_secs(20), "`run <id>` on weft's first line", || {
            id = run_id_of(&self.stdout_so_far());
            id.is_some()
        });
        id.unwrap_or_default()
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: signals our own child process.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for the command to end (at most [`COMMAND_LIMIT`]; then it is killed and the test fails).
    pub fn wait(mut self) -> CliOutput {
        let mut child = self.child.take().expect("not waited yet");
        let deadline = Instant::now() + COMMAND_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for weft") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`weft {}` did not finish within {COMMAND_LIMIT:?}; stdout so far:\n{}",
                    self.args.join(" "),
                    std::fs::read_to_string(&self.stdout).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        use std::os::unix::process::ExitStatusExt;
        CliOutput {
            code: status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---- processes -------------------------------------------------------------------------------

/// Polls `condition` until it holds; fails the test with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `(pid, state, command line)` of every process whose process group is `pgid`, zombies excluded
/// (a zombie has no code left to run; it only waits to be reaped).
pub fn group_members(pgid: i32) -> Vec<(i32, char, String)> {
    let mut members = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return members };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses, so split at the last `)`.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(state), Some(pgrp)) = (fields.first(), fields.get(2)) else { continue };
        let state = state.chars().next().unwrap_or('?');
        if pgrp.parse::<i32>().ok() == Some(pgid) && state != 'Z' && state != 'X' {
            let cmdline = std::fs::read_to_string(entry.path().join("cmdline")).unwrap_or_default().replace('\0', " ");
            members.push((pid, state, cmdline));
        }
    }
    members
}

/// True when no live process is left in the group: `kill(-pgid, 0)` fails, or only zombies remain.
pub fn group_is_gone(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let exists = unsafe { libc::killpg(pgid, 0) } == 0;
    !exists || group_members(pgid).is_empty()
}

/// Asserts that the group is gone, allowing the kernel a moment to finish delivering a SIGKILL.
pub fn assert_group_gone(pgid: i32) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !group_is_gone(pgid) {
        assert!(Instant::now() < deadline, "process group {pgid} survived: {:?}", group_members(pgid));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pids of the processes whose working folder is inside `dir`.
pub fn processes_in(dir: &Path) -> Vec<i32> {
    let own = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            (pid != own && cwd.starts_with(dir)).then_some(pid)
        })
        .collect()
}

// ---- values ----------------------------------------------------------------------------------

/// Milliseconds since the epoch of an engine timestamp (`2026-01-02T03:04:05.678Z`).
pub fn ms(timestamp: &str) -> i64 {
    let parse = |range: std::ops::Range<usize>| -> i64 {
        timestamp.get(range).and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("bad timestamp {timestamp}"))
    };
    let (year, month, day) = (parse(0..4), parse(5..7), parse(8..10));
    let (hour, minute, second, milli) = (parse(11..13), parse(14..16), parse(17..19), parse(20..23));
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + milli
}

/// `[started, finished]` of an attempt, in ms.
pub fn interval(attempt: &AttemptRecord) -> (i64, i64) {
    let finished = attempt.finished_at.as_deref().unwrap_or_else(|| panic!("attempt {attempt:?} has not finished"));
    (ms(&attempt.started_at), ms(finished))
}

/// The largest number of attempts running at the same instant (intervals half-open).
pub fn max_overlap(attempts: &[AttemptRecord]) -> usize {
    let intervals: Vec<(i64, i64)> = attempts.iter().map(interval).collect();
    intervals
        .iter()
        .map(|&(start, _)| intervals.iter().filter(|&&(s, f)| s <= start && start < f).count())
        .max()
        .unwrap_or(0)
}

pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
