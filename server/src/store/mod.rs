//! The run history: SQLite at `.weft/weft.db` in the workspace (WAL, versioned schema), and full
//! logs as files under `.weft/runs/<run>/`.
//!
//! The engine never waits for the disk: it sends [`Write`]s to a writer thread, which commits them in
//! batches, in order, one transaction per batch. Every state change is a checkpoint: once its batch
//! is committed, a crash cannot undo it.

pub mod events;
mod failures;
mod journal;
mod lock;
mod schema;
mod sessions;
mod status;
mod writer;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub use events::{Hit, NewEvent, Query, Scope, SessionEvent, SessionId};
pub use failures::{FailureSummary, NewFailure, Seen};
pub use journal::{attempts_on_disk, journal_path, read_journal, Journal, JournalEntry};
pub use lock::{engine_holds_run, run_lock_path, RunLock};
pub use sessions::{
    session_dir, session_lock_path, Commit, Completion, GitSnapshot, Override, PhaseRecord, PhaseStatus, SessionRecord,
};
pub use status::{RunStatus, StepStatus};
pub use writer::{StoreWriter, Write};

pub type RunId = i64;

#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError(format!("run history: {error}"))
    }
}

impl From<std::io::Error> for StoreError {
    fn from(error: std::io::Error) -> Self {
        StoreError(format!("run history: {error}"))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A run as recorded.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RunRecord {
    pub id: RunId,
    /// The file as it was given to `weft run`.
    pub file: String,
    /// The file's absolute path, which identifies it across runs started from anywhere.
    #[serde(skip)]
    pub path: String,
    pub workflow_id: String,
    /// As recorded, except that a run recorded as `running` whose engine is gone (nobody holds
    /// its lock) is `interrupted`.
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    #[serde(skip)]
    pub owner_pid: Option<i64>,
    #[serde(skip)]
    pub plan_text: String,
    #[serde(skip)]
    pub plan_hash: String,
    /// Given to every process of the run as `WEFT_RUN_TOKEN`; `None` for runs recorded before it.
    #[serde(skip)]
    pub token: Option<String>,
}

/// A run just recorded, with its token and its lock (held by the caller from then on).
pub struct NewRun {
    pub id: RunId,
    pub token: String,
    pub lock: RunLock,
}

/// A step's latest state in a run.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StepRecord {
    pub id: String,
    /// As recorded, except that a step recorded as `running` in a run whose engine is gone is
    /// `interrupted`.
    pub status: StepStatus,
    pub attempts: i64,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub reason: Option<String>,
    #[serde(skip)]
    pub definition_hash: String,
    #[serde(skip)]
    pub position: i64,
    /// Where its latest attempt ran (`local` when it never started).
    #[serde(skip)]
    pub executor: String,
    /// Its latest attempt's job id, when that ran on a cluster.
    #[serde(skip)]
    pub job_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub step_id: String,
    pub attempt: i64,
    pub status: StepStatus,
    pub exit_code: Option<i64>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub stdout_tail: String,
    pub stderr_tail: String,
    pub log_dir: String,
    /// Where it ran (`local`, `slurm`) and the executor's id of it (a process group, a job id),
    /// once known.
    pub executor: String,
    pub executor_id: Option<String>,
}

/// A human's decision on a step that waits for approval (SPEC §6), as `weft approve` or
/// `weft reject` recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub approved: bool,
    pub reason: Option<String>,
    pub by: String,
    pub at: String,
}

/// How long an attempt waited in a cluster's queue: from its submission (the `submitted` event)
/// to leaving the queue (the first `running` event of that attempt), or until now while it still
/// waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueWait {
    pub step_id: String,
    pub job_id: Option<String>,
    pub waited_ms: i64,
    /// No `running` event yet: still waiting, or it ended between two looks.
    pub waiting: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub step_id: Option<String>,
    pub data: String,
}

/// The `.weft` folder of a workspace.
pub fn state_dir(workspace: &Path) -> PathBuf {
    workspace.join(".weft")
}

/// A file of one attempt in its run's folder: `<step>.<attempt>.stdout`, `.stderr` or `.output`.
/// One flat folder per run: a folder per step and attempt would cost two more directory creations
/// on the hot path of every step. The log files exist only when the stream wrote something (and
/// `.output` only when the step wrote one): a missing file is empty output.
pub fn attempt_file(run_dir: &Path, step: &str, attempt: impl std::fmt::Display, stream: &str) -> PathBuf {
    run_dir.join(format!("{step}.{attempt}.{stream}"))
}

/// The log file to open for an attempt: its stderr when that has something, else its stdout.
/// Log files are written only for streams that wrote something, so for an attempt that wrote
/// nothing an empty stdout file is made here: an editor asked to show the log needs a file to open.
pub fn log_to_show(run_dir: &Path, step: &str, attempt: i64) -> PathBuf {
    let stderr = attempt_file(run_dir, step, attempt, "stderr");
    if std::fs::metadata(&stderr).is_ok_and(|m| m.len() > 0) {
        return stderr;
    }
    let stdout = attempt_file(run_dir, step, attempt, "stdout");
    if !stdout.exists() && run_dir.is_dir() {
        let _ = std::fs::File::options().create(true).append(true).open(&stdout);
    }
    stdout
}

/// The folder holding a run's logs and outputs.
pub fn run_dir(workspace: &Path, run: RunId) -> PathBuf {
    state_dir(workspace).join("runs").join(run.to_string())
}

/// The histories (by device and inode) that passed `quick_check` in this process.
static CHECKED_HISTORIES: std::sync::Mutex<std::collections::BTreeSet<(u64, u64)>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A read-and-write connection to a workspace's history.
pub struct Store {
    pub connection: Connection,
    pub workspace: PathBuf,
}

impl Store {
    /// Opens (creating and migrating when needed) `.weft/weft.db` in `workspace`.
    pub fn open(workspace: &Path) -> Result<Store> {
        let dir = state_dir(workspace);
        std::fs::create_dir_all(&dir)?;
        let connection = Connection::open(dir.join("weft.db"))?;
        schema::prepare(&connection)?;
        Ok(Store { connection, workspace: workspace.to_path_buf() })
    }

    /// Opens the history of `workspace` to read it, as the language server does for any folder it
    /// is pointed at: `Ok(None)` when there is none (it is never created), and an error, in words
    /// for the user, for one that is malformed, of another schema version, or not weft's. The file
    /// is opened read-only with SQLite's defenses on ([`schema::harden`]) and checked
    /// ([`schema::verify`]); it is never migrated (that is for a command the user runs).
    pub fn open_existing(workspace: &Path) -> Result<Option<Store>> {
        use rusqlite::OpenFlags;
        let path = state_dir(workspace).join("weft.db");
        if !path.is_file() {
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let unreadable = |error: rusqlite::Error| StoreError(format!("the run history is malformed ({error})"));
        let connection = Connection::open_with_flags(&path, flags).map_err(unreadable)?;
        schema::harden(&connection)?;
        connection.busy_timeout(std::time::Duration::from_secs(2))?;
        // A history another process is creating is, until its first migration commits, a
        // database with no schema at all: no history yet, not an old one
        // (`tests/lsp_run_views.rs`, a run started in a terminal while the editor looks).
        if schema::is_being_created(&connection) {
            return Ok(None);
        }
        // `quick_check` reads the whole file: once per file this process opens (a file replaced,
        // by a checkout say, is a new file), not on every request of the editor.
        let identity = std::fs::metadata(&path).map(|m| (m.dev(), m.ino())).ok();
        let mut checked = CHECKED_HISTORIES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let whole = identity.is_none_or(|identity| !checked.contains(&identity));
        schema::verify(&connection, whole)?;
        checked.extend(identity);
        Ok(Some(Store { connection, workspace: workspace.to_path_buf() }))
    }

    /// A number that changes whenever another connection (any process) commits to the history,
    /// and only then (SQLite's `PRAGMA data_version`): a reader that keeps its connection asks it
    /// to learn, without reading a table, whether what it read before is still what is there.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self.connection.query_row("PRAGMA data_version", [], |row| row.get(0))?)
    }

    /// Records a new run and its steps as pending, in one transaction, and takes the run's lock
    /// before the run can be seen: from its first sight, a run recorded as running has its engine
    /// holding its lock. Its token is committed with it, before any of its processes can start.
    pub fn create_run(
        &mut self,
        file: &str,
        path: &Path,
        workflow_id: &str,
        plan_text: &str,
        plan_hash: &str,
        steps: &[(String, String)],
    ) -> Result<NewRun> {
        let token = new_token();
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT INTO runs (file, path, workflow_id, status, started_at, owner_pid, plan_text, plan_hash, token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                file,
                path.display().to_string(),
                workflow_id,
                RunStatus::Running,
                now(),
                std::process::id(),
                plan_text,
                plan_hash,
                token
            ],
        )?;
        let run = transaction.last_insert_rowid();
        let lock = RunLock::try_take(&self.workspace, run)?.ok_or_else(|| {
            StoreError(format!(
                "the lock of run {run} is held by another process ({})",
                run_lock_path(&self.workspace, run).display()
            ))
        })?;
        {
            let mut insert = transaction.prepare(
                "INSERT INTO steps (run_id, step_id, position, status, attempts, definition_hash) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            )?;
            for (position, (id, hash)) in steps.iter().enumerate() {
                insert.execute(params![run, id, position as i64, StepStatus::Pending, hash])?;
            }
        }
        transaction.commit()?;
        Ok(NewRun { id: run, token, lock })
    }

    pub fn run(&self, id: RunId) -> Result<Option<RunRecord>> {
        let record = self.connection.query_row(&format!("{RUN_COLUMNS} WHERE id = ?1"), [id], run_record).optional()?;
        record.map(|record| self.with_shown_status(record)).transpose()
    }

    /// The newest runs first; of one file (by absolute path) when `path` is given.
    pub fn runs(&self, path: Option<&Path>, limit: usize) -> Result<Vec<RunRecord>> {
        let path = path.map(|p| p.display().to_string());
        let mut statement = self
            .connection
            .prepare(&format!("{RUN_COLUMNS} WHERE (?1 IS NULL OR path = ?1) ORDER BY id DESC LIMIT ?2"))?;
        let rows = statement.query_map(params![path, limit as i64], run_record)?;
        let records: Vec<RunRecord> = rows.collect::<rusqlite::Result<_>>()?;
        records.into_iter().map(|record| self.with_shown_status(record)).collect()
    }

    /// A run recorded as running is `interrupted` when no engine holds its lock. The status is read
    /// again once the lock is seen free: an engine commits a run's end before it lets go of the
    /// lock, so a run that ended meanwhile shows its end.
    fn with_shown_status(&self, mut record: RunRecord) -> Result<RunRecord> {
        if record.status == RunStatus::Running && !engine_holds_run(&self.workspace, record.id) {
            let status: RunStatus =
                self.connection.query_row("SELECT status FROM runs WHERE id = ?1", [record.id], |row| row.get(0))?;
            record.status = match status {
                RunStatus::Running => RunStatus::Interrupted,
                recorded => recorded,
            };
        }
        Ok(record)
    }

    pub fn steps(&self, run: RunId) -> Result<Vec<StepRecord>> {
        let mut statement = self.connection.prepare(
            "SELECT step_id, status, attempts, exit_code, duration_ms, reason, definition_hash, position,
                    (SELECT executor || ' ' || COALESCE(executor_id, '') FROM attempts
                     WHERE attempts.run_id = steps.run_id AND attempts.step_id = steps.step_id
                     ORDER BY attempt DESC LIMIT 1)
             FROM steps WHERE run_id = ?1 ORDER BY position",
        )?;
        let rows = statement.query_map([run], |row| {
            Ok(StepRecord {
                id: row.get(0)?,
                status: row.get(1)?,
                attempts: row.get(2)?,
                exit_code: row.get(3)?,
                duration_ms: row.get(4)?,
                reason: row.get(5)?,
                definition_hash: row.get(6)?,
                position: row.get(7)?,
                executor: String::new(),
                job_id: row.get::<_, Option<String>>(8)?,
            })
        })?;
        let mut steps: Vec<StepRecord> = rows.collect::<rusqlite::Result<_>>()?;
        for step in &mut steps {
            // `executor id` of the latest attempt: a job id only for a cluster's.
            let latest = step.job_id.take().unwrap_or_default();
            let (executor, id) = latest.split_once(' ').unwrap_or(("local", ""));
            step.executor = if executor.is_empty() { "local".to_owned() } else { executor.to_owned() };
            step.job_id = (step.executor != "local" && !id.is_empty()).then(|| id.to_owned());
            self.show_step_status(run, step)?;
        }
        Ok(steps)
    }

    /// A step recorded as running (or waiting for a retry) in a run whose engine is gone is
    /// `interrupted`; read again once the lock is seen free, as for runs.
    fn show_step_status(&self, run: RunId, step: &mut StepRecord) -> Result<()> {
        if step.status == StepStatus::Running && !engine_holds_run(&self.workspace, run) {
            let status: StepStatus = self.connection.query_row(
                "SELECT status FROM steps WHERE run_id = ?1 AND step_id = ?2",
                params![run, step.id],
                |row| row.get(0),
            )?;
            step.status = match status {
                StepStatus::Running => StepStatus::Interrupted,
                recorded => recorded,
            };
        }
        Ok(())
    }

    pub fn attempts(&self, run: RunId, step: Option<&str>) -> Result<Vec<AttemptRecord>> {
        let mut statement = self.connection.prepare(
            "SELECT step_id, attempt, status, exit_code, started_at, finished_at, duration_ms, stdout_tail, stderr_tail, log_dir,
                    executor, executor_id
             FROM attempts WHERE run_id = ?1 AND (?2 IS NULL OR step_id = ?2) ORDER BY started_at, step_id, attempt",
        )?;
        let rows = statement.query_map(params![run, step], |row| {
            Ok(AttemptRecord {
                step_id: row.get(0)?,
                attempt: row.get(1)?,
                status: row.get(2)?,
                exit_code: row.get(3)?,
                started_at: row.get(4)?,
                finished_at: row.get(5)?,
                duration_ms: row.get(6)?,
                stdout_tail: row.get(7)?,
                stderr_tail: row.get(8)?,
                log_dir: row.get(9)?,
                executor: row.get(10)?,
                executor_id: row.get(11)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn events(&self, run: RunId) -> Result<Vec<EventRecord>> {
        let mut statement = self
            .connection
            .prepare("SELECT seq, at, kind, step_id, data FROM events WHERE run_id = ?1 ORDER BY seq")?;
        let rows = statement.query_map([run], |row| {
            Ok(EventRecord {
                seq: row.get(0)?,
                at: row.get(1)?,
                kind: row.get(2)?,
                step_id: row.get(3)?,
                data: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Marks a run as being continued by this process (which holds its lock); returns its token
    /// (a run recorded before tokens gets one here, before any of its processes starts).
    pub fn reopen_run(&mut self, run: RunId, plan_text: &str, plan_hash: &str) -> Result<String> {
        self.connection.execute(
            "UPDATE runs SET status = ?6, finished_at = NULL, owner_pid = ?2, plan_text = ?3, plan_hash = ?4, token = COALESCE(token, ?5) WHERE id = ?1",
            params![run, std::process::id(), plan_text, plan_hash, new_token(), RunStatus::Running],
        )?;
        Ok(self.connection.query_row("SELECT token FROM runs WHERE id = ?1", [run], |row| row.get(0))?)
    }

    /// Adds steps a changed file brought in, and updates changed definitions.
    pub fn upsert_step(&mut self, run: RunId, position: usize, id: &str, hash: &str) -> Result<()> {
        self.connection.execute(
            "INSERT INTO steps (run_id, step_id, position, status, attempts, definition_hash) VALUES (?1, ?2, ?3, ?5, 0, ?4)
             ON CONFLICT (run_id, step_id) DO UPDATE SET position = excluded.position, definition_hash = excluded.definition_hash",
            params![run, id, position as i64, hash, StepStatus::Pending],
        )?;
        Ok(())
    }

    /// The latest result of each step of a file across its runs (a step a run did not select does
    /// not hide an earlier result), with the run it came from.
    pub fn latest_step_results(&self, path: &Path) -> Result<Vec<(RunId, StepRecord)>> {
        let mut statement = self.connection.prepare(
            "SELECT s.run_id, s.step_id, s.status, s.attempts, s.exit_code, s.duration_ms, s.reason, s.definition_hash, s.position
             FROM steps s JOIN runs r ON r.id = s.run_id
             WHERE r.path = ?1 AND s.status != ?2 AND NOT (s.status = ?3 AND s.reason = 'not selected')
             ORDER BY s.run_id DESC",
        )?;
        let path = path.display().to_string();
        let rows = statement.query_map(params![path, StepStatus::Pending, StepStatus::Skipped], |row| {
            Ok((
                row.get::<_, RunId>(0)?,
                StepRecord {
                    id: row.get(1)?,
                    status: row.get(2)?,
                    attempts: row.get(3)?,
                    exit_code: row.get(4)?,
                    duration_ms: row.get(5)?,
                    reason: row.get(6)?,
                    definition_hash: row.get(7)?,
                    position: row.get(8)?,
                    executor: String::new(),
                    job_id: None,
                },
            ))
        })?;
        let mut seen = std::collections::HashSet::new();
        let mut latest = Vec::new();
        for row in rows {
            let (run, mut step) = row?;
            if seen.insert(step.id.clone()) {
                self.show_step_status(run, &mut step)?;
                latest.push((run, step));
            }
        }
        Ok(latest)
    }

    /// The process groups recorded for attempts a dead engine left marked running (for runs
    /// recorded before tokens, whose processes cannot be found by their environment).
    pub fn running_attempt_groups(&self, run: RunId) -> Result<Vec<u32>> {
        let mut statement = self
            .connection
            .prepare("SELECT pid FROM attempts WHERE run_id = ?1 AND status = ?2 AND pid IS NOT NULL")?;
        let groups = statement
            .query_map(params![run, StepStatus::Running], |row| row.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(groups.into_iter().filter_map(|group| u32::try_from(group).ok()).collect())
    }

    /// Records what a dead engine left behind, once the engine that holds the run's lock has
    /// stopped it: attempts recorded as running become `interrupted`, and attempts the journal has
    /// but the history lost (the engine died before their start was committed) are recorded as
    /// `interrupted`, so the history shows every attempt that ran. Returns how many there were.
    pub fn record_interrupted_attempts(&self, run: RunId, journal: &[JournalEntry]) -> Result<usize> {
        self.record_interrupted_attempts_except(run, journal, &[])
    }

    /// [`Store::record_interrupted_attempts`], except for `kept` attempts (step, attempt): those a
    /// cluster still runs, or ran to an end the resumed engine reads (see `engine::executor`).
    pub fn record_interrupted_attempts_except(
        &self,
        run: RunId,
        journal: &[JournalEntry],
        kept: &[(String, i64)],
    ) -> Result<usize> {
        let at = now();
        let log_dir = run_dir(&self.workspace, run).display().to_string();
        let transaction = self.connection.unchecked_transaction()?;
        let mut changed = 0;
        {
            let mut running =
                transaction.prepare("SELECT step_id, attempt FROM attempts WHERE run_id = ?1 AND status = ?2")?;
            let attempts = running
                .query_map(params![run, StepStatus::Running], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut update = transaction.prepare(
                "UPDATE attempts SET status = ?5, finished_at = ?4 WHERE run_id = ?1 AND step_id = ?2 AND attempt = ?3",
            )?;
            for (step, attempt) in attempts {
                if !kept.iter().any(|(s, a)| *s == step && *a == attempt) {
                    changed += update.execute(params![run, step, attempt, at, StepStatus::Interrupted])?;
                }
            }
        }
        {
            let mut insert = transaction.prepare(
                "INSERT OR IGNORE INTO attempts (run_id, step_id, attempt, status, started_at, finished_at, log_dir) VALUES (?1, ?2, ?3, ?7, ?4, ?5, ?6)",
            )?;
            let mut count = transaction
                .prepare("UPDATE steps SET attempts = MAX(attempts, ?3) WHERE run_id = ?1 AND step_id = ?2")?;
            for entry in journal.iter().filter(|e| !kept.iter().any(|(s, a)| *s == e.step && *a == e.attempt)) {
                let added = insert.execute(params![
                    run,
                    entry.step,
                    entry.attempt,
                    entry.at,
                    at,
                    log_dir,
                    StepStatus::Interrupted
                ])?;
                if added > 0 {
                    count.execute(params![run, entry.step, entry.attempt])?;
                }
                changed += added;
            }
        }
        transaction.commit()?;
        Ok(changed)
    }

    /// Records that an attempt a dead engine left to a cluster is watched again (`weft resume`):
    /// running, on `executor`, as job `id` (its row is made if the dead engine never committed it).
    pub fn record_reattached(&self, run: RunId, step: &str, attempt: i64, executor: &str, id: &str) -> Result<()> {
        let log_dir = run_dir(&self.workspace, run).display().to_string();
        let transaction = self.connection.unchecked_transaction()?;
        transaction.execute(
            "INSERT OR IGNORE INTO attempts (run_id, step_id, attempt, status, started_at, log_dir) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run, step, attempt, StepStatus::Running, now(), log_dir],
        )?;
        transaction.execute(
            "UPDATE attempts SET executor = ?4, executor_id = ?5 WHERE run_id = ?1 AND step_id = ?2 AND attempt = ?3",
            params![run, step, attempt, executor, id],
        )?;
        transaction.execute(
            "UPDATE steps SET attempts = MAX(attempts, ?3) WHERE run_id = ?1 AND step_id = ?2",
            params![run, step, attempt],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// Ends a run whose engine is gone (`weft cancel` of an interrupted run), once what that
    /// engine left running has been stopped.
    pub fn finish_run(&self, run: RunId, status: RunStatus) -> Result<()> {
        let journal = read_journal(&run_dir(&self.workspace, run));
        self.record_interrupted_attempts(run, &journal)?;
        let at = now();
        let transaction = self.connection.unchecked_transaction()?;
        transaction.execute("UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1", params![run, status, at])?;
        transaction.execute(
            "UPDATE steps SET status = ?3, reason = 'run canceled', finished_at = ?2 WHERE run_id = ?1 AND status IN (?4, ?5, ?6)",
            params![run, at, StepStatus::Canceled, StepStatus::Pending, StepStatus::Running, StepStatus::Waiting],
        )?;
        transaction.execute(
            "UPDATE attempts SET status = ?3, finished_at = ?2 WHERE run_id = ?1 AND status = ?4",
            params![run, at, StepStatus::Canceled, StepStatus::Running],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// Records a step the user skipped (`weft resume RUN --skip STEP`), by the engine that holds
    /// the run's lock, before the run goes on: the step becomes `skipped` with `reason`, and the
    /// event (`kind`, `data`) follows the run's last one, in one transaction. Returns the event's
    /// sequence number and time.
    pub fn record_override(
        &self,
        run: RunId,
        step: &str,
        reason: &str,
        kind: &str,
        data: &str,
    ) -> Result<(i64, String)> {
        let at = now();
        let transaction = self.connection.unchecked_transaction()?;
        transaction.execute(
            "UPDATE steps SET status = ?3, reason = ?4, finished_at = ?5 WHERE run_id = ?1 AND step_id = ?2",
            params![run, step, StepStatus::Skipped, reason, at],
        )?;
        let seq: i64 =
            transaction
                .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = ?1", [run], |row| row.get(0))?;
        events::insert(
            &transaction,
            &NewEvent { run: Some(run), seq: Some(seq), at: &at, kind, step: Some(step), data, ..NewEvent::default() },
        )?;
        transaction.commit()?;
        Ok((seq, at))
    }

    /// The steps named by events of one kind in a run (the steps the user skipped, say).
    /// Every submitted attempt of the run and its wait in the queue, from the events of those two
    /// kinds (`submitted` with `data.attempt` and `data.job_id`, `running` with `data.attempt`).
    pub fn queue_waits(&self, run: RunId, submitted: &str, running: &str) -> Result<Vec<QueueWait>> {
        let mut statement = self.connection.prepare(
            "SELECT s.step_id, json_extract(s.data, '$.job_id'),
                    CAST(ROUND((julianday(COALESCE(r.at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(s.at)) * 86400000) AS INTEGER),
                    r.at IS NULL
             FROM events s
             LEFT JOIN (SELECT step_id, json_extract(data, '$.attempt') AS attempt, MIN(at) AS at FROM events
                        WHERE run_id = ?1 AND kind = ?3 GROUP BY step_id, attempt) r
                    ON r.step_id = s.step_id AND r.attempt = json_extract(s.data, '$.attempt')
             WHERE s.run_id = ?1 AND s.kind = ?2 AND s.step_id IS NOT NULL
             ORDER BY s.seq",
        )?;
        let rows = statement.query_map(params![run, submitted, running], |row| {
            Ok(QueueWait {
                step_id: row.get(0)?,
                job_id: row.get(1)?,
                waited_ms: row.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0),
                waiting: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The data of the run's latest event of either kind.
    pub fn latest_event_data(&self, run: RunId, kinds: [&str; 2]) -> Result<Option<String>> {
        let mut statement = self
            .connection
            .prepare("SELECT data FROM events WHERE run_id = ?1 AND kind IN (?2, ?3) ORDER BY seq DESC LIMIT 1")?;
        let mut rows = statement.query_map(params![run, kinds[0], kinds[1]], |row| row.get::<_, String>(0))?;
        Ok(rows.next().transpose()?)
    }

    pub fn steps_with_event(&self, run: RunId, kind: &str) -> Result<std::collections::HashSet<String>> {
        let mut statement = self
            .connection
            .prepare("SELECT DISTINCT step_id FROM events WHERE run_id = ?1 AND kind = ?2 AND step_id IS NOT NULL")?;
        let rows = statement.query_map(params![run, kind], |row| row.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a decision on a step of a run, from any process: the first decision wins, and a
    /// later one gets back the decision already recorded (`Ok(Err(first))`).
    pub fn record_decision(
        &self,
        run: RunId,
        step: &str,
        approved: bool,
        reason: Option<&str>,
        by: &str,
    ) -> Result<std::result::Result<Decision, Decision>> {
        let at = now();
        let decision = if approved { "approved" } else { "rejected" };
        let added = self.connection.execute(
            "INSERT OR IGNORE INTO decisions (run_id, step_id, decision, reason, by, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run, step, decision, reason, by, at],
        )?;
        let recorded = self.decision(run, step)?.ok_or_else(|| StoreError("the decision was not recorded".into()))?;
        Ok(if added == 1 { Ok(recorded) } else { Err(recorded) })
    }

    /// The decision recorded on a step of a run, if any.
    pub fn decision(&self, run: RunId, step: &str) -> Result<Option<Decision>> {
        let row = self
            .connection
            .prepare_cached("SELECT decision, reason, by, at FROM decisions WHERE run_id = ?1 AND step_id = ?2")?
            .query_row(params![run, step], |row| Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .optional()?;
        match row {
            None => Ok(None),
            Some((decision, reason, by, at)) => {
                let approved = match decision.as_str() {
                    "approved" => true,
                    "rejected" => false,
                    other => return Err(StoreError(format!("unknown decision `{}`", other.escape_debug()))),
                };
                Ok(Some(Decision { approved, reason, by, at }))
            }
        }
    }

    /// Forgets the rejections (and only those) of steps that have already ended by them, before a
    /// run is resumed: such a step waits for a new decision. An approval stays: the step it
    /// approved does not ask again.
    pub fn forget_applied_rejections(&self, run: RunId) -> Result<usize> {
        Ok(self.connection.execute(
            "DELETE FROM decisions WHERE run_id = ?1 AND decision = 'rejected' AND step_id IN
             (SELECT step_id FROM steps WHERE run_id = ?1 AND status NOT IN (?2, ?3, ?4))",
            params![run, StepStatus::Waiting, StepStatus::Pending, StepStatus::Running],
        )?)
    }

    /// SQLite's integrity check, then the search indexes' own against the tables they index:
    /// "ok", or what is wrong.
    pub fn integrity_check(&self) -> Result<String> {
        // Events recorded and not yet indexed (a run killed between two index passes) are no
        // fault: they are indexed here, as a search would.
        if let Err(error) = self.index_pending() {
            return Ok(format!("events_search: {error}"));
        }
        let pages: String = self.connection.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
        if pages != "ok" {
            return Ok(pages);
        }
        for index in ["events_search", "outputs_search"] {
            let check = format!("INSERT INTO {index} ({index}, rank) VALUES ('integrity-check', 1)");
            if let Err(error) = self.connection.execute(&check, []) {
                return Ok(format!("{index}: {error}"));
            }
        }
        Ok(pages)
    }
}

const RUN_COLUMNS: &str =
    "SELECT id, file, path, workflow_id, status, started_at, finished_at, owner_pid, plan_text, plan_hash, token FROM runs";

fn run_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        file: row.get(1)?,
        path: row.get(2)?,
        workflow_id: row.get(3)?,
        status: row.get(4)?,
        started_at: row.get(5)?,
        finished_at: row.get(6)?,
        owner_pid: row.get(7)?,
        plan_text: row.get(8)?,
        plan_hash: row.get(9)?,
        token: row.get(10)?,
    })
}

/// 128 random bits as hex: unique across runs, machines and databases.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer we own.
    let filled = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if filled != bytes.len() as isize {
        bytes = fastrand::u128(..).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The current time as RFC 3339 UTC with milliseconds, which sorts as text.
pub fn now() -> String {
    format_time(std::time::SystemTime::now())
}

pub fn format_time(time: std::time::SystemTime) -> String {
    let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() as i64;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_000_000_123);
        assert_eq!(format_time(time), "2026-11-18T11:06:40.123Z");
        assert_eq!(format_time(std::time::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
