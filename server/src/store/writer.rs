//! The writer thread: state changes, attempts and events, committed in order and in batches.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use super::{schema, RunId, RunStatus, StepStatus, Store, StoreError};

/// One change to the history.
#[derive(Clone, Debug)]
pub enum Write {
    RunStatus {
        run: RunId,
        status: RunStatus,
        finished: bool,
    },
    StepStarted {
        run: RunId,
        step: String,
        attempt: i64,
        at: String,
        log_dir: String,
        /// The attempt's process group; `None` when it could not start, or ran elsewhere.
        pid: Option<u32>,
        /// Where it runs (`local`, `slurm`), and the executor's id of it when known already (for
        /// a local attempt, its `pid`).
        executor: &'static str,
        executor_id: Option<String>,
    },
    /// A cluster accepted an attempt: its job id (see `engine::executor`).
    AttemptSubmitted {
        run: RunId,
        step: String,
        attempt: i64,
        executor_id: String,
    },
    StepState {
        run: RunId,
        step: String,
        status: StepStatus,
        attempts: i64,
        exit_code: Option<i64>,
        duration_ms: Option<i64>,
        reason: Option<String>,
        at: String,
    },
    /// A step that has not ended changes status (it starts waiting for approval, or is approved
    /// and waits for a slot): its status and reason, and it has no end.
    StepUnfinished {
        run: RunId,
        step: String,
        status: StepStatus,
        reason: Option<String>,
    },
    /// A succeeded step undone by its rollback action: only its status changes.
    StepRolledBack {
        run: RunId,
        step: String,
        at: String,
    },
    AttemptFinished {
        run: RunId,
        step: String,
        attempt: i64,
        status: StepStatus,
        exit_code: Option<i64>,
        at: String,
        duration_ms: i64,
        stdout_tail: String,
        stderr_tail: String,
    },
    Event {
        run: RunId,
        seq: i64,
        at: String,
        /// The engine's name of the event (`engine::EventKind::as_str`): the store records it as
        /// it is and never reads it back to decide anything.
        kind: &'static str,
        step: Option<String>,
        /// A JSON object, serialised here, on the writer's thread, with its search text.
        data: serde_json::Value,
    },
    /// A failed attempt's fingerprint (SPEC §7), counted in `failures`.
    Failure(super::NewFailure),
}

/// How long the writer gathers changes into one transaction while they keep coming. A commit
/// rewrites every page it touched, so one per step would cost more than the step. A change after a
/// quiet spell is committed at once; otherwise a change, or a flush, waits at most this long.
const COMMIT_INTERVAL: Duration = Duration::from_millis(20);

/// What goes to the writer thread.
enum ToWriter {
    Writes(Vec<Write>),
    /// Answers once everything before it is committed.
    Flush(Sender<()>),
}

/// The handle the engine writes through. Changes are handed over with [`StoreWriter::submit`],
/// one message for all the changes of a turn of the engine's loop.
pub struct StoreWriter {
    sender: Sender<ToWriter>,
    pending: Vec<Write>,
    thread: Option<JoinHandle<Result<(), StoreError>>>,
}

impl StoreWriter {
    pub fn start(store: &Store) -> Result<StoreWriter, StoreError> {
        let connection = Connection::open(super::state_dir(&store.workspace).join("weft.db"))?;
        schema::prepare(&connection)?;
        let (sender, receiver) = channel();
        let thread =
            std::thread::Builder::new().name("weft-store".into()).spawn(move || write_loop(connection, receiver))?;
        Ok(StoreWriter { sender, pending: Vec::new(), thread: Some(thread) })
    }

    /// Queues a change; it goes to the writer thread at the next [`StoreWriter::submit`].
    pub fn send(&mut self, write: Write) {
        self.pending.push(write);
    }

    /// Hands the queued changes to the writer thread, which commits them in order, soon.
    pub fn submit(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.sender.send(ToWriter::Writes(std::mem::take(&mut self.pending)));
        }
    }

    /// Waits until everything sent so far is committed.
    pub fn flush(&mut self) {
        self.submit();
        let (done, wait) = channel();
        if self.sender.send(ToWriter::Flush(done)).is_ok() {
            self.wake();
            let _ = wait.recv();
        }
    }

    /// Ends the writer thread's wait for the commit interval.
    fn wake(&self) {
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
    }

    /// Commits what is left and stops the thread.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.flush();
        let thread = self.thread.take();
        drop(self);
        match thread.map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError("the store writer panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        self.submit();
        if let Some(thread) = self.thread.take() {
            let (sender, _) = channel();
            self.sender = sender;
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// How often the writer indexes the events it recorded for search, at most (and at every flush:
/// the end of a run, a wait for approval). Indexing in batches keeps the cost of search off each
/// step; a search indexes what is pending itself, so it never misses a committed event.
const INDEX_INTERVAL: Duration = Duration::from_secs(1);

fn write_loop(mut connection: Connection, receiver: Receiver<ToWriter>) -> Result<(), StoreError> {
    crate::engine::process::block_child_signal();
    let mut last_commit: Option<Instant> = None;
    let mut last_index = Instant::now();
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        batch.extend(receiver.try_iter());
        // Group commit: while changes keep coming, at most one commit per interval. The thread
        // is parked rather than waiting on the channel, so the engine's sends wake nobody
        // meanwhile; a flush unparks it (the end of a run waits for no interval).
        let flush = |batch: &[ToWriter]| batch.iter().any(|m| matches!(m, ToWriter::Flush(_)));
        if let Some(deadline) = last_commit.map(|at| at + COMMIT_INTERVAL) {
            while !flush(&batch) {
                let Some(wait) = deadline.checked_duration_since(Instant::now()) else { break };
                std::thread::park_timeout(wait);
                batch.extend(receiver.try_iter());
            }
        }
        let mut flushes = Vec::new();
        let transaction = connection.transaction()?;
        for message in batch {
            match message {
                ToWriter::Flush(done) => flushes.push(done),
                ToWriter::Writes(writes) => {
                    for write in writes {
                        apply(&transaction, write)?;
                    }
                }
            }
        }
        if !flushes.is_empty() || last_index.elapsed() >= INDEX_INTERVAL {
            super::events::index_pending(&transaction)?;
            last_index = Instant::now();
        }
        transaction.commit()?;
        last_commit = Some(Instant::now());
        for done in flushes {
            let _ = done.send(());
        }
    }
    Ok(())
}

fn apply(connection: &Connection, write: Write) -> rusqlite::Result<()> {
    match write {
        Write::RunStatus { run, status, finished } => {
            let finished_at = finished.then(super::now);
            connection
                .prepare_cached("UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1")?
                .execute(params![run, status, finished_at])?;
        }
        Write::StepStarted { run, step, attempt, at, log_dir, pid, executor, executor_id } => {
            connection
                .prepare_cached("UPDATE steps SET status = ?5, attempts = ?3, started_at = ?4, finished_at = NULL, reason = NULL WHERE run_id = ?1 AND step_id = ?2")?
                .execute(params![run, step, attempt, at, StepStatus::Running])?;
            connection
                .prepare_cached("INSERT OR REPLACE INTO attempts (run_id, step_id, attempt, status, started_at, log_dir, pid, executor, executor_id) VALUES (?1, ?2, ?3, ?7, ?4, ?5, ?6, ?8, COALESCE(?9, CAST(?6 AS TEXT)))")?
                .execute(params![run, step, attempt, at, log_dir, pid, StepStatus::Running, executor, executor_id])?;
        }
        Write::AttemptSubmitted { run, step, attempt, executor_id } => {
            connection
                .prepare_cached(
                    "UPDATE attempts SET executor_id = ?4 WHERE run_id = ?1 AND step_id = ?2 AND attempt = ?3",
                )?
                .execute(params![run, step, attempt, executor_id])?;
        }
        Write::StepState { run, step, status, attempts, exit_code, duration_ms, reason, at } => {
            connection
                .prepare_cached(
                    "UPDATE steps SET status = ?3, attempts = ?4, exit_code = ?5, duration_ms = ?6, reason = ?7, finished_at = ?8 WHERE run_id = ?1 AND step_id = ?2",
                )?
                .execute(params![run, step, status, attempts, exit_code, duration_ms, reason, at])?;
        }
        Write::StepUnfinished { run, step, status, reason } => {
            connection
                .prepare_cached(
                    "UPDATE steps SET status = ?3, reason = ?4, finished_at = NULL WHERE run_id = ?1 AND step_id = ?2",
                )?
                .execute(params![run, step, status, reason])?;
        }
        Write::StepRolledBack { run, step, at } => {
            connection
                .prepare_cached("UPDATE steps SET status = ?3, finished_at = ?4 WHERE run_id = ?1 AND step_id = ?2")?
                .execute(params![run, step, StepStatus::RolledBack, at])?;
        }
        Write::AttemptFinished { run, step, attempt, status, exit_code, at, duration_ms, stdout_tail, stderr_tail } => {
            connection
                .prepare_cached(
                    "UPDATE attempts SET status = ?4, exit_code = ?5, finished_at = ?6, duration_ms = ?7, stdout_tail = ?8, stderr_tail = ?9
                     WHERE run_id = ?1 AND step_id = ?2 AND attempt = ?3",
                )?
                .execute(params![run, step, attempt, status, exit_code, at, duration_ms, stdout_tail, stderr_tail])?;
            super::events::index_tails(connection, run, &step, attempt, &stdout_tail, &stderr_tail)?;
        }
        Write::Event { run, seq, at, kind, step, data } => {
            let text = super::events::search_text_of(kind, step.as_deref(), None, &data);
            let data = data.to_string();
            let event = super::NewEvent {
                run: Some(run),
                seq: Some(seq),
                at: &at,
                kind,
                step: step.as_deref(),
                data: &data,
                ..super::NewEvent::default()
            };
            super::events::insert_unindexed(connection, &event, &text)?;
        }
        Write::Failure(failure) => super::failures::insert_failure(connection, &failure)?,
    }
    Ok(())
}
