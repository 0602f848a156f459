//! Failures seen, by fingerprint (SPEC §7): one row per failed attempt or failing phase check, so a
//! failure seen before is counted, not filed afresh.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::events::SessionId;
use super::{Result, RunId, Store};

/// A failure to record. The fingerprint is computed by the engine or the session
/// (`engine::fingerprint`); the store only counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFailure {
    /// `v1:…`
    pub fingerprint: String,
    /// `syntax`, `runtime`, `timeout`, `permission`, `network`, `missing command` or `resource`.
    pub class: String,
    pub at: String,
    /// The step or plugin; for a phase check, `phase:<phase>:<check>`.
    pub subject: String,
    /// The normalised error text that was hashed.
    pub normalized: String,
    pub run: Option<RunId>,
    pub step: Option<String>,
    pub attempt: Option<i64>,
    pub session: Option<SessionId>,
    pub phase: Option<String>,
}

pub fn insert_failure(connection: &Connection, failure: &NewFailure) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO failures (fingerprint, class, at, subject, normalized, run_id, step_id, attempt, session_id, phase_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            failure.fingerprint,
            failure.class,
            failure.at,
            failure.subject,
            failure.normalized,
            failure.run,
            failure.step,
            failure.attempt,
            failure.session,
            failure.phase
        ])?;
    Ok(())
}

/// How often a fingerprint has been seen.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Seen {
    pub count: i64,
    pub first_at: String,
    /// The run of the first sighting, if it was a run's.
    pub first_run: Option<RunId>,
    pub last_at: String,
}

/// One line of `weft failures`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FailureSummary {
    pub fingerprint: String,
    pub class: String,
    pub subject: String,
    /// The normalised text of the latest sighting.
    pub normalized: String,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub runs: Vec<RunId>,
    pub tasks: Vec<String>,
}

impl Store {
    pub fn record_failure(&self, failure: &NewFailure) -> Result<()> {
        insert_failure(&self.connection, failure)?;
        Ok(())
    }

    /// How often `fingerprint` was seen before: sightings at or before `before` (all when `None`),
    /// other than the attempt `except` itself (run, step, attempt), which may or may not be
    /// recorded yet. `None` when never.
    pub fn failure_seen(
        &self,
        fingerprint: &str,
        before: Option<&str>,
        except: Option<(RunId, &str, i64)>,
    ) -> Result<Option<Seen>> {
        let (run, step, attempt) = match except {
            Some((run, step, attempt)) => (Some(run), Some(step), Some(attempt)),
            None => (None, None, None),
        };
        // Counted by SQLite over the fingerprint's index: a failure seen a hundred thousand times
        // is not read row by row (the editor asks this on its loop thread).
        let row = self
            .connection
            .prepare_cached(
                "WITH seen AS (
                     SELECT id, at, run_id FROM failures
                     WHERE fingerprint = ?1 AND (?2 IS NULL OR at <= ?2)
                       AND NOT (run_id IS ?3 AND step_id IS ?4 AND attempt IS ?5 AND ?3 IS NOT NULL))
                 SELECT count(*), min(at), max(at), (SELECT run_id FROM seen ORDER BY at, id LIMIT 1) FROM seen",
            )?
            .query_row(params![fingerprint, before, run, step, attempt], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<RunId>>(3)?,
                ))
            })?;
        Ok(match row {
            (count, Some(first_at), Some(last_at), first_run) if count > 0 => {
                Some(Seen { count, first_at, first_run, last_at })
            }
            _ => None,
        })
    }

    /// The fingerprint recorded for an attempt, if it failed.
    pub fn attempt_fingerprint(&self, run: RunId, step: &str, attempt: i64) -> Result<Option<(String, String)>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT fingerprint, at FROM failures WHERE run_id = ?1 AND step_id = ?2 AND attempt = ?3 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![run, step, attempt], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?)
    }

    /// Every fingerprint seen since `since` (all when `None`), most recently seen first.
    pub fn failures(&self, since: Option<&str>) -> Result<Vec<FailureSummary>> {
        let mut statement = self.connection.prepare(
            "SELECT f.fingerprint, count(*), min(f.at), max(f.at),
                    (SELECT class FROM failures g WHERE g.fingerprint = f.fingerprint ORDER BY g.id DESC LIMIT 1),
                    (SELECT subject FROM failures g WHERE g.fingerprint = f.fingerprint ORDER BY g.id DESC LIMIT 1),
                    (SELECT normalized FROM failures g WHERE g.fingerprint = f.fingerprint ORDER BY g.id DESC LIMIT 1),
                    json_group_array(DISTINCT f.run_id),
                    json_group_array(DISTINCT s.task)
             FROM failures f
             LEFT JOIN runs r ON r.id = f.run_id
             LEFT JOIN sessions s ON s.id = COALESCE(f.session_id, r.session_id)
             WHERE ?1 IS NULL OR f.at >= ?1
             GROUP BY f.fingerprint
             ORDER BY max(f.at) DESC",
        )?;
        let rows = statement.query_map([since], |row| {
            let runs: String = row.get(7)?;
            let tasks: String = row.get(8)?;
            let runs: Vec<Option<RunId>> = serde_json::from_str(&runs).unwrap_or_default();
            let tasks: Vec<Option<String>> = serde_json::from_str(&tasks).unwrap_or_default();
            Ok(FailureSummary {
                fingerprint: row.get(0)?,
                count: row.get(1)?,
                first_seen: row.get(2)?,
                last_seen: row.get(3)?,
                class: row.get(4)?,
                subject: row.get(5)?,
                normalized: row.get(6)?,
                runs: runs.into_iter().flatten().collect(),
                tasks: tasks.into_iter().flatten().collect(),
            })
        })?;
        let mut failures: Vec<FailureSummary> = rows.collect::<rusqlite::Result<_>>()?;
        for failure in &mut failures {
            failure.runs.sort_unstable();
            failure.tasks.sort();
        }
        Ok(failures)
    }
}
