//! One events model for runs and sessions (SPEC §7), and full-text search over events, phase notes
//! and attempts' output tails (SQLite FTS5).
//!
//! Invariant: every row of `events` has its `text` in `events_search` (an external-content FTS5
//! table: the text is stored once), and every ended attempt whose tails are not empty has them in
//! `outputs_search` (a table of its own, keyed by run, step and attempt: an attempt's row exists,
//! empty, from its start, and a crash can leave it so). Triggers are off on every connection (see
//! `schema::harden`), so the indexes are kept by the only code that writes those rows: [`insert`]
//! for events, the writer's `AttemptFinished` for tails.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::{Result, RunId, Store, StoreError};

pub type SessionId = i64;

/// An event to record. A run's event carries its sequence number in the run; a session's event its
/// session and phase; an event of a run started by a session's phase carries both.
#[derive(Clone, Debug, Default)]
pub struct NewEvent<'a> {
    pub run: Option<RunId>,
    pub seq: Option<i64>,
    pub session: Option<SessionId>,
    pub phase: Option<&'a str>,
    pub at: &'a str,
    pub kind: &'a str,
    pub step: Option<&'a str>,
    /// A JSON object.
    pub data: &'a str,
}

/// Records an event and indexes it, on `connection` (the caller's transaction, if any). An event of
/// a run whose sequence number is already taken is dropped: the first record of it stands.
pub fn insert(connection: &Connection, event: &NewEvent<'_>) -> rusqlite::Result<Option<i64>> {
    let text = search_text(event.kind, event.step, event.phase, event.data);
    let added = connection
        .prepare_cached(
            "INSERT INTO events (run_id, seq, session_id, phase_id, at, kind, step_id, data, text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (run_id, seq) DO NOTHING",
        )?
        .execute(params![
            event.run,
            event.seq,
            event.session,
            event.phase,
            event.at,
            event.kind,
            event.step,
            event.data,
            text
        ])?;
    if added == 0 {
        return Ok(None);
    }
    let id = connection.last_insert_rowid();
    connection.prepare_cached("INSERT INTO events_search (rowid, text) VALUES (?1, ?2)")?.execute(params![id, text])?;
    Ok(Some(id))
}

/// Indexes the output tails of an attempt that has just been recorded as finished.
pub fn index_tails(connection: &Connection, run: RunId, step: &str, attempt: i64) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO outputs_search (stdout_tail, stderr_tail, run_id, step_id, attempt)
             SELECT stdout_tail, stderr_tail, run_id, step_id, attempt FROM attempts
             WHERE run_id = ?1 AND step_id = ?2 AND attempt = ?3 AND (stdout_tail != '' OR stderr_tail != '')",
        )?
        .execute(params![run, step, attempt])?;
    Ok(())
}

/// What search indexes of an event: the words of its data (string and number values, at any depth;
/// not the keys, which every event of a kind shares), then its kind, step and phase. The data comes
/// first because a snippet shows the text around the match, and it is what a reader wants to see.
pub fn search_text(kind: &str, step: Option<&str>, phase: Option<&str>, data: &str) -> String {
    let mut text = String::with_capacity(kind.len() + data.len() / 2 + 16);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(data) {
        push_values(&value, &mut text);
    }
    for part in [Some(kind), step, phase].into_iter().flatten() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(part);
    }
    text
}

fn push_values(value: &serde_json::Value, text: &mut String) {
    use serde_json::Value;
    match value {
        Value::String(s) if !s.is_empty() => {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(s);
        }
        Value::Number(n) => {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&n.to_string());
        }
        Value::Array(items) => items.iter().for_each(|item| push_values(item, text)),
        Value::Object(map) => map.values().for_each(|item| push_values(item, text)),
        _ => {}
    }
}

/// Where to search (SPEC §7 `weft search --scope`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything in the workspace's history.
    Project,
    /// Every session of a task, and the runs its phases started.
    Task(String),
    /// One session, and the runs its phases started.
    Session(SessionId),
}

#[derive(Clone, Debug)]
pub struct Query<'a> {
    /// What the user typed: words, each matched as a prefix-free token; quotes and FTS operators
    /// are taken as plain words (see [`match_expression`]).
    pub text: &'a str,
    pub scope: Scope,
    /// Only what happened at or after this time (RFC 3339 text, compared as text).
    pub since: Option<String>,
    /// Only events of this kind (`step_failed`, `phase_note`, …); `output` means attempts' tails.
    pub kind: Option<&'a str>,
    pub limit: usize,
}

/// One search result, best first.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Hit {
    /// `event` or `output`.
    pub source: &'static str,
    pub at: String,
    pub kind: String,
    pub run: Option<RunId>,
    pub session: Option<SessionId>,
    pub task: Option<String>,
    pub phase: Option<String>,
    pub step: Option<String>,
    pub attempt: Option<i64>,
    /// The text around the match, each matched word between `[` and `]`.
    pub snippet: String,
    /// FTS5's bm25 rank: lower is better.
    pub rank: f64,
}

/// The marks placed around matched words in snippets.
pub const MARK_START: &str = "[";
pub const MARK_END: &str = "]";

/// Turns what the user typed into an FTS5 query that matches every word: each word is quoted, so
/// `"`, `*`, `-`, `OR`, `NEAR` and column filters are plain text and no input is a syntax error.
/// `None` when there is no word to search for.
pub fn match_expression(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|word| !word.is_empty())
        .map(|word| format!("\"{word}\""))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

impl Store {
    /// Records an event of a session (or a run) outside the engine's writer, in one statement.
    pub fn record_event(&self, event: &NewEvent<'_>) -> Result<()> {
        let transaction = self.connection.unchecked_transaction()?;
        insert(&transaction, event)?;
        transaction.commit()?;
        Ok(())
    }

    /// Full-text search over events (phase notes among them) and attempts' output tails, ranked.
    pub fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>> {
        let Some(expression) = match_expression(query.text) else {
            return Err(StoreError("nothing to search for: give at least one word".into()));
        };
        let (scope_task, scope_session) = match &query.scope {
            Scope::Project => (None, None),
            Scope::Task(task) => (Some(task.clone()), None),
            Scope::Session(id) => (None, Some(*id)),
        };
        let mut hits = Vec::new();
        let want_events = query.kind.is_none_or(|kind| kind != "output");
        let want_outputs = query.kind.is_none_or(|kind| kind == "output");
        let limit = query.limit.max(1) as i64;
        if want_events {
            let sql = format!(
                "SELECT e.at, e.kind, e.run_id, COALESCE(e.session_id, r.session_id), s.task,
                        COALESCE(e.phase_id, r.phase_id), e.step_id,
                        snippet(events_search, 0, '{MARK_START}', '{MARK_END}', '…', 16), events_search.rank
                 FROM events_search
                 JOIN events e ON e.id = events_search.rowid
                 LEFT JOIN runs r ON r.id = e.run_id
                 LEFT JOIN sessions s ON s.id = COALESCE(e.session_id, r.session_id)
                 WHERE events_search MATCH ?1 AND (?2 IS NULL OR e.at >= ?2) AND (?5 IS NULL OR e.kind = ?5)
                   AND (?3 IS NULL OR s.task = ?3) AND (?4 IS NULL OR s.id = ?4)
                 ORDER BY events_search.rank LIMIT ?6"
            );
            let mut statement = self.connection.prepare(&sql)?;
            let rows = statement.query_map(
                params![expression, query.since, scope_task, scope_session, query.kind, limit],
                |row| {
                    Ok(Hit {
                        source: "event",
                        at: row.get(0)?,
                        kind: row.get(1)?,
                        run: row.get(2)?,
                        session: row.get(3)?,
                        task: row.get(4)?,
                        phase: row.get(5)?,
                        step: row.get(6)?,
                        attempt: None,
                        snippet: row.get(7)?,
                        rank: row.get(8)?,
                    })
                },
            )?;
            for row in rows {
                hits.push(row?);
            }
        }
        if want_outputs {
            let sql = format!(
                "SELECT COALESCE(a.finished_at, a.started_at), a.run_id, r.session_id, s.task, r.phase_id, a.step_id, a.attempt,
                        snippet(outputs_search, -1, '{MARK_START}', '{MARK_END}', '…', 16), outputs_search.rank
                 FROM outputs_search
                 JOIN attempts a ON a.run_id = outputs_search.run_id AND a.step_id = outputs_search.step_id AND a.attempt = outputs_search.attempt
                 JOIN runs r ON r.id = a.run_id
                 LEFT JOIN sessions s ON s.id = r.session_id
                 WHERE outputs_search MATCH ?1 AND (?2 IS NULL OR COALESCE(a.finished_at, a.started_at) >= ?2)
                   AND (?3 IS NULL OR s.task = ?3) AND (?4 IS NULL OR s.id = ?4)
                 ORDER BY outputs_search.rank LIMIT ?5"
            );
            let mut statement = self.connection.prepare(&sql)?;
            let rows =
                statement.query_map(params![expression, query.since, scope_task, scope_session, limit], |row| {
                    Ok(Hit {
                        source: "output",
                        at: row.get(0)?,
                        kind: "output".into(),
                        run: row.get(1)?,
                        session: row.get(2)?,
                        task: row.get(3)?,
                        phase: row.get(4)?,
                        step: row.get(5)?,
                        attempt: row.get(6)?,
                        snippet: row.get(7)?,
                        rank: row.get(8)?,
                    })
                })?;
            for row in rows {
                hits.push(row?);
            }
        }
        hits.sort_by(|a, b| a.rank.total_cmp(&b.rank).then_with(|| b.at.cmp(&a.at)));
        hits.truncate(query.limit.max(1));
        Ok(hits)
    }

    /// The events of a session, in the order they were recorded (the events of the runs its phases
    /// started are the runs' own: `weft events RUN`).
    pub fn session_events(&self, session: SessionId) -> Result<Vec<SessionEvent>> {
        let mut statement = self.connection.prepare(
            "SELECT id, at, kind, phase_id, run_id, data FROM events WHERE session_id = ?1 AND seq IS NULL ORDER BY id",
        )?;
        let rows = statement.query_map([session], |row| {
            Ok(SessionEvent {
                id: row.get(0)?,
                at: row.get(1)?,
                kind: row.get(2)?,
                phase: row.get(3)?,
                run: row.get(4)?,
                data: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The latest event of a kind in a session, if any.
    pub fn last_session_event(&self, session: SessionId, kind: &str) -> Result<Option<SessionEvent>> {
        Ok(self
            .connection
            .query_row(
                "SELECT id, at, kind, phase_id, run_id, data FROM events WHERE session_id = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1",
                params![session, kind],
                |row| {
                    Ok(SessionEvent {
                        id: row.get(0)?,
                        at: row.get(1)?,
                        kind: row.get(2)?,
                        phase: row.get(3)?,
                        run: row.get(4)?,
                        data: row.get(5)?,
                    })
                },
            )
            .optional()?)
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SessionEvent {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub phase: Option<String>,
    pub run: Option<RunId>,
    /// A JSON object.
    pub data: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_keeps_values_not_keys() {
        let text = search_text(
            "step_failed",
            Some("build"),
            None,
            r#"{"exit_code": 2, "reason": "cargo: linker `cc` not found", "nested": {"list": ["a", 1.5]}}"#,
        );
        assert_eq!(text, "2 cargo: linker `cc` not found a 1.5 step_failed build");
    }

    #[test]
    fn every_input_is_a_valid_match_expression() {
        assert_eq!(match_expression("  "), None);
        assert_eq!(match_expression("\"*-"), None);
        assert_eq!(match_expression("linker OR cc*"), Some("\"linker\" \"OR\" \"cc\"".into()));
        assert_eq!(match_expression("naïve café"), Some("\"naïve\" \"café\"".into()));
    }
}
