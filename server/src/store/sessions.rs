//! Sessions (SPEC §7): one task walked through a phase template, its phases' states, and the
//! repository snapshots taken along the way.
//!
//! Invariants, each kept by one transaction that takes the write lock first (`IMMEDIATE`):
//! - a task has at most one active session (a unique partial index; a second start resumes it);
//! - a phase completes once: completing moves it from `active` only if it is still `active`, so of
//!   two processes completing it at once exactly one succeeds;
//! - a state change and its event commit together.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use super::events::{insert, NewEvent, SessionId};
use super::{now, Result, RunId, Store, StoreError};

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub task: String,
    /// The phase template's absolute path.
    pub template: String,
    pub template_id: String,
    /// `active` or `ended`.
    pub status: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub started_by: String,
}

impl SessionRecord {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    Pending,
    Active,
    Completed,
    /// Completed with `--override` although checks failed.
    Overridden,
}

impl PhaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Pending => "pending",
            PhaseStatus::Active => "active",
            PhaseStatus::Completed => "completed",
            PhaseStatus::Overridden => "overridden",
        }
    }

    pub fn parse(text: &str) -> Option<PhaseStatus> {
        [PhaseStatus::Pending, PhaseStatus::Active, PhaseStatus::Completed, PhaseStatus::Overridden]
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// Done with: completed, with or without an override.
    pub fn is_done(self) -> bool {
        matches!(self, PhaseStatus::Completed | PhaseStatus::Overridden)
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PhaseRecord {
    pub id: String,
    pub position: i64,
    pub status: PhaseStatus,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The run of the phase's workflow that completed it.
    pub run: Option<RunId>,
    pub override_reason: Option<String>,
    pub override_by: Option<String>,
    /// The checks that failed when the phase was completed with an override.
    pub failed_checks: Vec<String>,
}

/// How a phase was completed.
#[derive(Clone, Debug, Default)]
pub struct Completion<'a> {
    /// Set when completed with `--override`: who, why, and the checks that failed.
    pub overridden: Option<Override<'a>>,
    /// The run of the phase's workflow, when it has one.
    pub run: Option<RunId>,
    /// The extra event names of the phase (`events:`), recorded on completion.
    pub events: &'a [String],
    /// The next phase, which becomes active; `None` after the last.
    pub next: Option<&'a str>,
    /// More of the completion event's data (a JSON object's members: the checks that passed, say).
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug)]
pub struct Override<'a> {
    pub reason: &'a str,
    pub by: &'a str,
    pub failed_checks: Vec<String>,
}

/// The repository at one moment: HEAD, branch, dirty flag, and for a phase's end the commits made
/// since it started.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Default)]
pub struct GitSnapshot {
    pub at: String,
    /// `session_started`, `phase_completed`, `session_ended`, `run_started` or `run_finished`.
    pub moment: String,
    pub session: Option<SessionId>,
    pub phase: Option<String>,
    pub run: Option<RunId>,
    pub head: Option<String>,
    pub branch: Option<String>,
    pub dirty: bool,
    pub commits: Vec<Commit>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub subject: String,
    pub author: String,
    pub at: String,
}

/// The lock file that `weft phase complete` holds on a session while it checks and completes its
/// active phase, so that a second terminal is told at once instead of running the checks twice
/// (the conditional update of [`Store::complete_phase`] is the final guard).
pub fn session_lock_path(workspace: &std::path::Path, session: SessionId) -> std::path::PathBuf {
    super::state_dir(workspace).join("locks").join(format!("session-{session}.lock"))
}

/// Where the logs of a session's commands go (its validation entries and hooks).
pub fn session_dir(workspace: &std::path::Path, session: SessionId) -> std::path::PathBuf {
    super::state_dir(workspace).join("sessions").join(session.to_string())
}

const SESSION_COLUMNS: &str =
    "SELECT id, task, template, template_id, status, started_at, ended_at, started_by FROM sessions";

fn session_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.get(0)?,
        task: row.get(1)?,
        template: row.get(2)?,
        template_id: row.get(3)?,
        status: row.get(4)?,
        started_at: row.get(5)?,
        ended_at: row.get(6)?,
        started_by: row.get(7)?,
    })
}

impl Store {
    fn immediate(&self) -> Result<Transaction<'_>> {
        Ok(Transaction::new_unchecked(&self.connection, TransactionBehavior::Immediate)?)
    }

    /// Starts a session of `task` on a template whose phases are `phases` (in order; the first
    /// becomes active), or returns the task's active session: `(session, true)` when it was
    /// resumed. Either way in one transaction, so two starts of one task make one session.
    pub fn start_session(
        &self,
        task: &str,
        template: &str,
        template_id: &str,
        phases: &[&str],
        by: &str,
    ) -> Result<(SessionRecord, bool)> {
        if phases.is_empty() {
            return Err(StoreError("the template has no phases".into()));
        }
        let transaction = self.immediate()?;
        if let Some(active) = active_session(&transaction, task)? {
            transaction.commit()?;
            return Ok((active, true));
        }
        let at = now();
        transaction.execute(
            "INSERT INTO sessions (task, template, template_id, status, started_at, started_by) VALUES (?1, ?2, ?3, 'active', ?4, ?5)",
            params![task, template, template_id, at, by],
        )?;
        let id = transaction.last_insert_rowid();
        for (position, phase) in phases.iter().enumerate() {
            let (status, started) =
                if position == 0 { (PhaseStatus::Active, Some(&at)) } else { (PhaseStatus::Pending, None) };
            transaction.execute(
                "INSERT INTO session_phases (session_id, phase_id, position, status, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, phase, position as i64, status.as_str(), started],
            )?;
        }
        let data = serde_json::json!({ "task": task, "template": template_id, "by": by }).to_string();
        insert(
            &transaction,
            &NewEvent { session: Some(id), at: &at, kind: "session_started", data: &data, ..NewEvent::default() },
        )?;
        let data = serde_json::json!({ "task": task }).to_string();
        insert(
            &transaction,
            &NewEvent {
                session: Some(id),
                phase: Some(phases[0]),
                at: &at,
                kind: "phase_started",
                data: &data,
                ..NewEvent::default()
            },
        )?;
        let session =
            session_by_id(&transaction, id)?.ok_or_else(|| StoreError("the session was not recorded".into()))?;
        transaction.commit()?;
        Ok((session, false))
    }

    /// The active session of a task, if any.
    pub fn active_session(&self, task: &str) -> Result<Option<SessionRecord>> {
        active_session(&self.connection, task)
    }

    pub fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        session_by_id(&self.connection, id)
    }

    /// The latest session of a task, active or not.
    pub fn latest_session(&self, task: &str) -> Result<Option<SessionRecord>> {
        Ok(self
            .connection
            .query_row(&format!("{SESSION_COLUMNS} WHERE task = ?1 ORDER BY id DESC LIMIT 1"), [task], session_record)
            .optional()?)
    }

    /// Sessions, newest first; only the active ones when `active_only`.
    pub fn sessions(&self, active_only: bool, limit: usize) -> Result<Vec<SessionRecord>> {
        let filter = if active_only { "WHERE status = 'active'" } else { "" };
        let mut statement =
            self.connection.prepare(&format!("{SESSION_COLUMNS} {filter} ORDER BY id DESC LIMIT ?1"))?;
        let rows = statement.query_map([limit as i64], session_record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The active sessions whose template is `template` (an absolute path).
    pub fn active_sessions_of_template(&self, template: &str) -> Result<Vec<SessionRecord>> {
        let mut statement = self
            .connection
            .prepare_cached(&format!("{SESSION_COLUMNS} WHERE status = 'active' AND template = ?1 ORDER BY id"))?;
        let rows = statement.query_map([template], session_record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A session's phases, in template order.
    pub fn session_phases(&self, session: SessionId) -> Result<Vec<PhaseRecord>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT phase_id, position, status, started_at, finished_at, run_id, override_reason, override_by, failed_checks
             FROM session_phases WHERE session_id = ?1 ORDER BY position",
        )?;
        let rows = statement.query_map([session], |row| {
            let status: String = row.get(2)?;
            let failed: Option<String> = row.get(8)?;
            Ok((
                PhaseRecord {
                    id: row.get(0)?,
                    position: row.get(1)?,
                    status: PhaseStatus::Pending,
                    started_at: row.get(3)?,
                    finished_at: row.get(4)?,
                    run: row.get(5)?,
                    override_reason: row.get(6)?,
                    override_by: row.get(7)?,
                    failed_checks: failed.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default(),
                },
                status,
            ))
        })?;
        let mut phases = Vec::new();
        for row in rows {
            let (mut phase, status) = row?;
            phase.status = PhaseStatus::parse(&status)
                .ok_or_else(|| StoreError(format!("unknown phase status `{}`", status.escape_debug())))?;
            phases.push(phase);
        }
        Ok(phases)
    }

    /// The active phase of a session, if any (none once the last is completed).
    pub fn active_phase(&self, session: SessionId) -> Result<Option<PhaseRecord>> {
        Ok(self.session_phases(session)?.into_iter().find(|phase| phase.status == PhaseStatus::Active))
    }

    /// Completes the active phase `phase` of `session` and makes `completion.next` active, with
    /// their events, in one transaction. `Ok(false)` when the phase was no longer active (another
    /// process completed it first, or the session ended): nothing is changed.
    pub fn complete_phase(&self, session: SessionId, phase: &str, completion: &Completion<'_>) -> Result<bool> {
        let transaction = self.immediate()?;
        let ended: Option<String> = transaction
            .query_row("SELECT status FROM sessions WHERE id = ?1", [session], |row| row.get(0))
            .optional()?;
        if ended.as_deref() != Some("active") {
            return Ok(false);
        }
        let at = now();
        let (status, reason, by, failed) = match &completion.overridden {
            Some(o) => (
                PhaseStatus::Overridden,
                Some(o.reason),
                Some(o.by),
                Some(serde_json::to_string(&o.failed_checks).unwrap_or_default()),
            ),
            None => (PhaseStatus::Completed, None, None, None),
        };
        let changed = transaction.execute(
            "UPDATE session_phases SET status = ?3, finished_at = ?4, run_id = COALESCE(?5, run_id), override_reason = ?6, override_by = ?7, failed_checks = ?8
             WHERE session_id = ?1 AND phase_id = ?2 AND status = 'active'",
            params![session, phase, status.as_str(), at, completion.run, reason, by, failed],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        let mut data = completion.data.clone();
        if let Some(run) = completion.run {
            data.insert("run".into(), run.into());
        }
        if let Some(next) = completion.next {
            data.insert("next".into(), next.into());
        }
        if let Some(o) = &completion.overridden {
            data.insert("reason".into(), o.reason.into());
            data.insert("by".into(), o.by.into());
            data.insert("failed_checks".into(), o.failed_checks.clone().into());
        }
        let data = serde_json::Value::Object(data).to_string();
        let kind = if completion.overridden.is_some() { "phase_overridden" } else { "phase_completed" };
        let event =
            NewEvent { session: Some(session), phase: Some(phase), at: &at, kind, data: &data, ..NewEvent::default() };
        insert(&transaction, &event)?;
        for name in completion.events {
            insert(&transaction, &NewEvent { kind: name, data: "{}", ..event.clone() })?;
        }
        if let Some(next) = completion.next {
            transaction.execute(
                "UPDATE session_phases SET status = 'active', started_at = ?3 WHERE session_id = ?1 AND phase_id = ?2 AND status = 'pending'",
                params![session, next, at],
            )?;
            // Like the first phase's, with the task when the caller gave it.
            let task = completion.data.get("task").cloned().unwrap_or(serde_json::Value::Null);
            let data = if task.is_null() { "{}".to_owned() } else { serde_json::json!({ "task": task }).to_string() };
            insert(&transaction, &NewEvent { phase: Some(next), kind: "phase_started", data: &data, ..event.clone() })?;
        }
        transaction.commit()?;
        Ok(true)
    }

    /// Ends an active session: `Ok(false)` when it had already ended.
    pub fn end_session(&self, session: SessionId, by: &str) -> Result<bool> {
        let transaction = self.immediate()?;
        let at = now();
        let changed = transaction.execute(
            "UPDATE sessions SET status = 'ended', ended_at = ?2 WHERE id = ?1 AND status = 'active'",
            params![session, at],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        let phase: Option<String> = transaction
            .query_row(
                "SELECT phase_id FROM session_phases WHERE session_id = ?1 AND status = 'active'",
                [session],
                |row| row.get(0),
            )
            .optional()?;
        let data = serde_json::json!({ "by": by, "at_phase": phase }).to_string();
        insert(
            &transaction,
            &NewEvent { session: Some(session), at: &at, kind: "session_ended", data: &data, ..NewEvent::default() },
        )?;
        transaction.commit()?;
        Ok(true)
    }

    /// Marks a run as started by a session's phase (before it starts, so its events are the
    /// session's from the first).
    pub fn link_run(&self, run: RunId, session: SessionId, phase: &str) -> Result<()> {
        self.connection
            .execute("UPDATE runs SET session_id = ?2, phase_id = ?3 WHERE id = ?1", params![run, session, phase])?;
        Ok(())
    }

    /// The session and phase that started a run, if one did.
    pub fn run_session(&self, run: RunId) -> Result<Option<(SessionId, String)>> {
        Ok(self
            .connection
            .query_row("SELECT session_id, phase_id FROM runs WHERE id = ?1 AND session_id IS NOT NULL", [run], |row| {
                Ok((row.get(0)?, row.get::<_, Option<String>>(1)?.unwrap_or_default()))
            })
            .optional()?)
    }

    pub fn record_git(&self, snapshot: &GitSnapshot) -> Result<()> {
        let commits =
            (!snapshot.commits.is_empty()).then(|| serde_json::to_string(&snapshot.commits).unwrap_or_default());
        self.connection.execute(
            "INSERT INTO git_snapshots (at, moment, session_id, phase_id, run_id, head, branch, dirty, commits) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                snapshot.at,
                snapshot.moment,
                snapshot.session,
                snapshot.phase,
                snapshot.run,
                snapshot.head,
                snapshot.branch,
                snapshot.dirty,
                commits
            ],
        )?;
        Ok(())
    }

    /// The snapshots of a session (or of a run, with `run`), in the order they were taken.
    pub fn git_snapshots(&self, session: Option<SessionId>, run: Option<RunId>) -> Result<Vec<GitSnapshot>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT at, moment, session_id, phase_id, run_id, head, branch, dirty, commits FROM git_snapshots
             WHERE (?1 IS NOT NULL AND session_id = ?1) OR (?2 IS NOT NULL AND run_id = ?2) ORDER BY id",
        )?;
        let rows = statement.query_map(params![session, run], |row| {
            let commits: Option<String> = row.get(8)?;
            Ok(GitSnapshot {
                at: row.get(0)?,
                moment: row.get(1)?,
                session: row.get(2)?,
                phase: row.get(3)?,
                run: row.get(4)?,
                head: row.get(5)?,
                branch: row.get(6)?,
                dirty: row.get(7)?,
                commits: commits.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn active_session(connection: &rusqlite::Connection, task: &str) -> Result<Option<SessionRecord>> {
    Ok(connection
        .prepare_cached(&format!("{SESSION_COLUMNS} WHERE task = ?1 AND status = 'active'"))?
        .query_row([task], session_record)
        .optional()?)
}

fn session_by_id(connection: &rusqlite::Connection, id: SessionId) -> Result<Option<SessionRecord>> {
    Ok(connection
        .prepare_cached(&format!("{SESSION_COLUMNS} WHERE id = ?1"))?
        .query_row([id], session_record)
        .optional()?)
}
