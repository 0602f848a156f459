//! One events model for runs and sessions (SPEC §7), and full-text search over events, phase notes
//! and attempts' output tails (SQLite FTS5).
//!
//! Invariant: the events up to `search_progress.indexed_through` have their `text` in
//! `events_search` (an external-content FTS5 table: the text is stored once), in id order, and none
//! after it; every ended attempt whose tails are not empty has them in `outputs_search` (a table of
//! its own, keyed by run, step and attempt: an attempt's row exists, empty, from its start, and a
//! crash can leave it so). Triggers are off on every connection (see `schema::harden`), so the
//! indexes are kept by the code that writes those rows: [`insert`] indexes what is pending with
//! the event it records; the engine's writer records a run's events unindexed and indexes them in
//! batches ([`index_pending`], at most a second apart and at every flush); a search, and the
//! integrity check, index what is pending first.

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

/// Records an event and indexes it, with every event recorded before it and not yet indexed, on
/// `connection` (the caller's transaction, if any). An event of a run whose sequence number is
/// already taken is dropped: the first record of it stands.
pub fn insert(connection: &Connection, event: &NewEvent<'_>) -> rusqlite::Result<Option<i64>> {
    let text = search_text(event.kind, event.step, event.phase, event.data);
    let id = insert_unindexed(connection, event, &text)?;
    index_pending(connection)?;
    Ok(id)
}

/// Records an event without indexing it: the engine's writer records a run's events so, and
/// indexes them in batches with [`index_pending`] (one index entry per event as it comes would
/// cost FTS5 a segment per commit, and the run a tenth of its speed). `text` is the event's
/// [`search_text_of`], made from the data before it was serialised.
pub fn insert_unindexed(connection: &Connection, event: &NewEvent<'_>, text: &str) -> rusqlite::Result<Option<i64>> {
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
    Ok((added > 0).then(|| connection.last_insert_rowid()))
}

/// Indexes, in the order of their ids, the events recorded since the last time: the invariant is
/// that every event up to `search_progress.indexed_through` is in `events_search` and none after
/// it. Run inside a write transaction, so two processes never index one event twice. Returns how
/// many were indexed.
pub fn index_pending(connection: &Connection) -> rusqlite::Result<usize> {
    let through: i64 = connection
        .prepare_cached("SELECT indexed_through FROM search_progress WHERE name = 'events'")?
        .query_row([], |row| row.get(0))?;
    let last: i64 =
        connection.prepare_cached("SELECT COALESCE(max(id), 0) FROM events")?.query_row([], |row| row.get(0))?;
    if last <= through {
        return Ok(0);
    }
    let indexed = connection
        .prepare_cached(
            "INSERT INTO events_search (rowid, text) SELECT id, text FROM events WHERE id > ?1 AND id <= ?2",
        )?
        .execute(params![through, last])?;
    connection
        .prepare_cached("UPDATE search_progress SET indexed_through = ?1 WHERE name = 'events'")?
        .execute([last])?;
    Ok(indexed)
}

/// Indexes the output tails of an attempt that has just been recorded as finished.
pub fn index_tails(
    connection: &Connection,
    run: RunId,
    step: &str,
    attempt: i64,
    stdout_tail: &str,
    stderr_tail: &str,
) -> rusqlite::Result<()> {
    // An attempt that wrote nothing costs no statement: a write to an FTS5 table, even of no row,
    // loads the index's structure (most steps of a big run write nothing).
    if stdout_tail.is_empty() && stderr_tail.is_empty() {
        return Ok(());
    }
    connection
        .prepare_cached(
            "INSERT INTO outputs_search (stdout_tail, stderr_tail, run_id, step_id, attempt) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![stdout_tail, stderr_tail, run, step, attempt])?;
    Ok(())
}

/// What search indexes of an event: the words of its data (string and number values, at any depth;
/// not the keys, which every event of a kind shares), then its kind, step and phase. The data comes
/// first because a snippet shows the text around the match, and it is what a reader wants to see.
pub fn search_text(kind: &str, step: Option<&str>, phase: Option<&str>, data: &str) -> String {
    let value = serde_json::from_str::<serde_json::Value>(data).unwrap_or(serde_json::Value::Null);
    search_text_of(kind, step, phase, &value)
}

/// [`search_text`] of data not yet serialised.
pub fn search_text_of(kind: &str, step: Option<&str>, phase: Option<&str>, data: &serde_json::Value) -> String {
    let mut text = String::with_capacity(kind.len() + 48);
    push_values(data, &mut text);
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
    /// The same text with each matched word between [`MARK_START`] and [`MARK_END`], which no
    /// text holds, for a renderer that marks matches its own way: a `[` in the text itself (`[Errno
    /// 111]`) is no mark.
    #[serde(skip)]
    pub marked: String,
    /// FTS5's bm25 rank: lower is better.
    pub rank: f64,
}

/// The marks placed around matched words by the queries' `snippet()`: control characters that
/// [`Hit::marked`] keeps and [`Hit::snippet`] turns into `[` and `]`.
pub const MARK_START: char = '\u{2}';
pub const MARK_END: char = '\u{3}';

/// How many of the most recent matches (of events, and of output tails) are ranked.
pub const SEARCH_WINDOW: usize = 2_000;

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

/// A kind (`phase_note`) as an FTS5 phrase of its words (`"phase note"`), as the tokenizer splits
/// it in an event's text.
fn kind_phrase(kind: &str) -> Option<String> {
    let words: Vec<&str> = kind.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).collect();
    (!words.is_empty()).then(|| format!("\"{}\"", words.join(" ")))
}

impl Store {
    /// Indexes the events recorded and not yet indexed (by an engine's writer since its last pass,
    /// or by one that was killed before it).
    pub fn index_pending(&self) -> Result<usize> {
        let transaction =
            rusqlite::Transaction::new_unchecked(&self.connection, rusqlite::TransactionBehavior::Immediate)?;
        let indexed = index_pending(&transaction)?;
        transaction.commit()?;
        Ok(indexed)
    }

    /// Records an event of a session (or a run) outside the engine's writer, in one statement.
    pub fn record_event(&self, event: &NewEvent<'_>) -> Result<()> {
        let transaction = self.connection.unchecked_transaction()?;
        insert(&transaction, event)?;
        transaction.commit()?;
        Ok(())
    }

    /// Full-text search over events (phase notes among them) and attempts' output tails: the best
    /// `limit` by FTS5's bm25 among the [`SEARCH_WINDOW`] most recent matches of each, best first.
    ///
    /// Ranking every match would cost a bm25 score per match: about a second for a word in every
    /// step event of a million. The window keeps a search of any word bounded (FTS5 walks the
    /// matches newest first and stops), and a history search wants the recent first anyway; a word
    /// with fewer matches than the window is ranked over all of them.
    pub fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>> {
        let Some(expression) = match_expression(query.text) else {
            return Err(StoreError("nothing to search for: give at least one word".into()));
        };
        // What a running engine recorded since its last index pass is found too.
        self.index_pending()?;
        let (scope_task, scope_session) = match &query.scope {
            Scope::Project => (None, None),
            Scope::Task(task) => (Some(task.clone()), None),
            Scope::Session(id) => (None, Some(*id)),
        };
        let limit = query.limit.max(1);
        let want_events = query.kind.is_none_or(|kind| kind != "output");
        let want_outputs = query.kind.is_none_or(|kind| kind == "output");
        // (rank, source, rowid in its index), over both indexes.
        let mut ranked: Vec<(f64, &'static str, i64)> = Vec::new();
        let window = SEARCH_WINDOW as i64;
        if want_events {
            // The kind's words are in every event's text: as a phrase in the match, FTS5 narrows to
            // the events of the kind itself, instead of walking every match of a common word for
            // the few of that kind (the `e.kind` test below stays the exact one).
            let events_expression = match query.kind.and_then(kind_phrase) {
                Some(phrase) => format!("{expression} {phrase}"),
                None => expression.clone(),
            };
            let mut statement = self.connection.prepare_cached(
                "SELECT events_search.rowid, events_search.rank
                 FROM events_search
                 JOIN events e ON e.id = events_search.rowid
                 LEFT JOIN runs r ON r.id = e.run_id
                 LEFT JOIN sessions s ON s.id = COALESCE(e.session_id, r.session_id)
                 WHERE events_search MATCH ?1 AND (?2 IS NULL OR e.at >= ?2) AND (?5 IS NULL OR e.kind = ?5)
                   AND (?3 IS NULL OR s.task = ?3) AND (?4 IS NULL OR s.id = ?4)
                 ORDER BY events_search.rowid DESC LIMIT ?6",
            )?;
            let rows = statement.query_map(
                params![events_expression, query.since, scope_task, scope_session, query.kind, window],
                |row| Ok((row.get::<_, f64>(1)?, "event", row.get::<_, i64>(0)?)),
            )?;
            for row in rows {
                ranked.push(row?);
            }
        }
        if want_outputs {
            let mut statement = self.connection.prepare_cached(
                "SELECT outputs_search.rowid, outputs_search.rank
                 FROM outputs_search
                 JOIN attempts a ON a.run_id = outputs_search.run_id AND a.step_id = outputs_search.step_id AND a.attempt = outputs_search.attempt
                 JOIN runs r ON r.id = a.run_id
                 LEFT JOIN sessions s ON s.id = r.session_id
                 WHERE outputs_search MATCH ?1 AND (?2 IS NULL OR COALESCE(a.finished_at, a.started_at) >= ?2)
                   AND (?3 IS NULL OR s.task = ?3) AND (?4 IS NULL OR s.id = ?4)
                 ORDER BY outputs_search.rowid DESC LIMIT ?5",
            )?;
            let rows = statement
                .query_map(params![expression, query.since, scope_task, scope_session, window], |row| {
                    Ok((row.get::<_, f64>(1)?, "output", row.get::<_, i64>(0)?))
                })?;
            for row in rows {
                ranked.push(row?);
            }
        }
        // Best rank first; among equals, the newer (a larger rowid) first.
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.2.cmp(&a.2)));
        ranked.truncate(limit);
        let mut hits = Vec::with_capacity(ranked.len());
        for (rank, source, rowid) in ranked {
            if let Some(mut hit) = self.hit(&expression, source, rowid)? {
                hit.rank = rank;
                hits.push(hit);
            }
        }
        Ok(hits)
    }

    /// One result, with its snippet: a snippet is made only for the results shown.
    fn hit(&self, expression: &str, source: &'static str, rowid: i64) -> Result<Option<Hit>> {
        let sql = if source == "event" {
            const EVENT: &str = "SELECT e.at, e.kind, e.run_id, COALESCE(e.session_id, r.session_id), s.task,
                        COALESCE(e.phase_id, r.phase_id), e.step_id, NULL,
                        snippet(events_search, 0, char(2), char(3), '…', 16)
                 FROM events_search
                 JOIN events e ON e.id = events_search.rowid
                 LEFT JOIN runs r ON r.id = e.run_id
                 LEFT JOIN sessions s ON s.id = COALESCE(e.session_id, r.session_id)
                 WHERE events_search MATCH ?1 AND events_search.rowid = ?2";
            EVENT
        } else {
            const OUTPUT: &str = "SELECT COALESCE(a.finished_at, a.started_at), 'output', a.run_id, r.session_id, s.task,
                        r.phase_id, a.step_id, a.attempt,
                        snippet(outputs_search, -1, char(2), char(3), '…', 16)
                 FROM outputs_search
                 JOIN attempts a ON a.run_id = outputs_search.run_id AND a.step_id = outputs_search.step_id AND a.attempt = outputs_search.attempt
                 JOIN runs r ON r.id = a.run_id
                 LEFT JOIN sessions s ON s.id = r.session_id
                 WHERE outputs_search MATCH ?1 AND outputs_search.rowid = ?2";
            OUTPUT
        };
        Ok(self
            .connection
            .prepare_cached(sql)?
            .query_row(params![expression, rowid], |row| {
                Ok(Hit {
                    source,
                    at: row.get(0)?,
                    kind: row.get(1)?,
                    run: row.get(2)?,
                    session: row.get(3)?,
                    task: row.get(4)?,
                    phase: row.get(5)?,
                    step: row.get(6)?,
                    attempt: row.get(7)?,
                    snippet: String::new(),
                    marked: row.get(8)?,
                    rank: 0.0,
                })
            })
            .optional()?
            .map(|hit| Hit { snippet: hit.marked.replace(MARK_START, "[").replace(MARK_END, "]"), ..hit }))
    }

    /// The events of a session, in the order they were recorded (the events of the runs its phases
    /// started are the runs' own: `weft events RUN`).
    pub fn session_events(&self, session: SessionId) -> Result<Vec<SessionEvent>> {
        let mut statement = self.connection.prepare(
            "SELECT id, at, kind, phase_id, run_id, data FROM events WHERE session_id = ?1 AND seq IS NULL ORDER BY id",
        )?;
        let rows = statement.query_map([session], session_event)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The latest event of a kind in a session, if any.
    pub fn last_session_event(&self, session: SessionId, kind: &str) -> Result<Option<SessionEvent>> {
        Ok(self
            .connection
            .query_row(
                "SELECT id, at, kind, phase_id, run_id, data FROM events WHERE session_id = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1",
                params![session, kind],
                session_event,
            )
            .optional()?)
    }
}

/// A row of `SELECT id, at, kind, phase_id, run_id, data FROM events`.
fn session_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionEvent> {
    Ok(SessionEvent {
        id: row.get(0)?,
        at: row.get(1)?,
        kind: row.get(2)?,
        phase: row.get(3)?,
        run: row.get(4)?,
        data: row.get(5)?,
    })
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
