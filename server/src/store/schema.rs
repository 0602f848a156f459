//! The database schema and its migrations, versioned with `PRAGMA user_version`.

use rusqlite::{Connection, OptionalExtension};

use super::Result;

/// Each entry migrates from version `index` to `index + 1`. Never edit one that has shipped: add one.
const MIGRATIONS: [&str; 6] = [
    "
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        file TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        owner_pid INTEGER,
        plan_text TEXT NOT NULL,
        plan_hash TEXT NOT NULL
    );
    CREATE INDEX runs_by_file ON runs (file, id);
    CREATE TABLE steps (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        step_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        exit_code INTEGER,
        duration_ms INTEGER,
        reason TEXT,
        started_at TEXT,
        finished_at TEXT,
        definition_hash TEXT NOT NULL,
        PRIMARY KEY (run_id, step_id)
    );
    CREATE TABLE attempts (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        step_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        exit_code INTEGER,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        duration_ms INTEGER,
        stdout_tail TEXT NOT NULL DEFAULT '',
        stderr_tail TEXT NOT NULL DEFAULT '',
        log_dir TEXT NOT NULL,
        PRIMARY KEY (run_id, step_id, attempt)
    );
    CREATE TABLE events (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        step_id TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
",
    "
    -- The absolute path identifies a file across runs started from different folders; runs recorded
    -- before it keep the path they were given.
    ALTER TABLE runs ADD COLUMN path TEXT NOT NULL DEFAULT '';
    UPDATE runs SET path = file;
    CREATE INDEX runs_by_path ON runs (path, id);
    -- The process group of a running attempt, so resume and cancel can stop what a dead engine left.
    ALTER TABLE attempts ADD COLUMN pid INTEGER;
",
    "
    -- A random token per run, in the environment of every process the run starts (WEFT_RUN_TOKEN),
    -- written before the first of them starts: resume and cancel find by it what a dead engine left
    -- running, whether or not the start of those processes reached the history.
    ALTER TABLE runs ADD COLUMN token TEXT;
",
    "
    -- Human approval (SPEC §6): the decision on a step that waits for one, made by `weft approve`
    -- or `weft reject` from any process. One per run and step: the first wins.
    CREATE TABLE decisions (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        step_id TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
        reason TEXT,
        by TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (run_id, step_id)
    );
",
    "
    -- Phase-driven sessions (SPEC §7): a task walked through a phase template. At most one active
    -- session per task: a second `weft session start` of the task resumes the first.
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        task TEXT NOT NULL,
        template TEXT NOT NULL,
        template_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'ended')),
        started_at TEXT NOT NULL,
        ended_at TEXT,
        started_by TEXT NOT NULL
    );
    CREATE UNIQUE INDEX sessions_active_task ON sessions (task) WHERE status = 'active';
    CREATE INDEX sessions_by_task ON sessions (task, id);
    CREATE TABLE session_phases (
        session_id INTEGER NOT NULL REFERENCES sessions (id),
        phase_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'completed', 'overridden')),
        started_at TEXT,
        finished_at TEXT,
        run_id INTEGER REFERENCES runs (id),
        override_reason TEXT,
        override_by TEXT,
        failed_checks TEXT,
        PRIMARY KEY (session_id, phase_id)
    );
    -- A run started by a session's phase belongs to it.
    ALTER TABLE runs ADD COLUMN session_id INTEGER REFERENCES sessions (id);
    ALTER TABLE runs ADD COLUMN phase_id TEXT;
    -- The repository as it was at a moment of a session or a run (nothing outside a repository).
    CREATE TABLE git_snapshots (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        moment TEXT NOT NULL,
        session_id INTEGER REFERENCES sessions (id),
        phase_id TEXT,
        run_id INTEGER REFERENCES runs (id),
        head TEXT,
        branch TEXT,
        dirty INTEGER NOT NULL,
        commits TEXT
    );
    CREATE INDEX git_snapshots_by_session ON git_snapshots (session_id, id);
    -- One row per failure seen: a failed attempt or a failing phase check, with its fingerprint.
    CREATE TABLE failures (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        class TEXT NOT NULL,
        at TEXT NOT NULL,
        subject TEXT NOT NULL,
        normalized TEXT NOT NULL,
        run_id INTEGER REFERENCES runs (id),
        step_id TEXT,
        attempt INTEGER,
        session_id INTEGER REFERENCES sessions (id),
        phase_id TEXT
    );
    CREATE INDEX failures_by_fingerprint ON failures (fingerprint, at);
    CREATE INDEX failures_by_time ON failures (at);
    CREATE INDEX failures_by_attempt ON failures (run_id, step_id, attempt) WHERE run_id IS NOT NULL;
    -- One events model for runs and sessions: an event belongs to a run (numbered in it by `seq`),
    -- to a session, or to both; `text` is what search indexes.
    CREATE TABLE events_v5 (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs (id),
        seq INTEGER,
        session_id INTEGER REFERENCES sessions (id),
        phase_id TEXT,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        step_id TEXT,
        data TEXT NOT NULL,
        text TEXT NOT NULL DEFAULT ''
    );
    INSERT INTO events_v5 (run_id, seq, at, kind, step_id, data, text)
        SELECT run_id, seq, at, kind, step_id, data,
               trim(COALESCE((SELECT group_concat(value, ' ') FROM json_tree(CASE WHEN json_valid(data) THEN data ELSE '{}' END)
                              WHERE type IN ('text', 'integer', 'real') AND value != ''), '') || ' ' ||
                    kind || ' ' || COALESCE(step_id, ''))
        FROM events ORDER BY run_id, seq;
    DROP TABLE events;
    ALTER TABLE events_v5 RENAME TO events;
    CREATE UNIQUE INDEX events_by_run ON events (run_id, seq);
    CREATE INDEX events_by_session ON events (session_id, id) WHERE session_id IS NOT NULL;
    -- Full-text search (FTS5), kept by the writers (triggers are off on every connection). Events:
    -- external content, indexed in batches (see search_progress). Output tails: a table of their own,
    -- filled once an attempt has ended with output, since an attempt's row exists (empty) from its
    -- start and a crash can leave it so.
    CREATE VIRTUAL TABLE events_search USING fts5 (text, content = 'events', content_rowid = 'id');
    INSERT INTO events_search (events_search) VALUES ('rebuild');
    -- Events are indexed in batches, in the order of their ids: every event up to
    -- `indexed_through` is in `events_search`, none after it.
    CREATE TABLE search_progress (name TEXT PRIMARY KEY, indexed_through INTEGER NOT NULL);
    INSERT INTO search_progress (name, indexed_through) SELECT 'events', COALESCE(max(id), 0) FROM events;
    CREATE VIRTUAL TABLE outputs_search USING fts5 (stdout_tail, stderr_tail, run_id UNINDEXED, step_id UNINDEXED, attempt UNINDEXED);
    INSERT INTO outputs_search (stdout_tail, stderr_tail, run_id, step_id, attempt)
        SELECT stdout_tail, stderr_tail, run_id, step_id, attempt FROM attempts
        WHERE finished_at IS NOT NULL AND (stdout_tail != '' OR stderr_tail != '');
",
    // 6: where an attempt ran (issue 15): the executor's name and its own opaque id of the
    // attempt (a process group for `local`, a job id for `slurm`). `pid` stays for what older
    // engines recorded.
    "
    ALTER TABLE attempts ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE attempts ADD COLUMN executor_id TEXT;
    UPDATE attempts SET executor_id = CAST(pid AS TEXT) WHERE pid IS NOT NULL;
",
];

/// The schema version this weft writes and reads.
pub const VERSION: usize = MIGRATIONS.len();

/// The tables every query reads; a history where one of them is not a table (a view, say) is not one
/// weft wrote.
const TABLES: [&str; 10] = [
    "runs",
    "steps",
    "attempts",
    "events",
    "decisions",
    "sessions",
    "session_phases",
    "git_snapshots",
    "failures",
    "search_progress",
];

/// Turns on SQLite's defenses for a database that may come from elsewhere (a history committed to a
/// repository and cloned): no SQL functions with side effects called from the schema (views,
/// triggers, defaults: `trusted_schema` off), no writes to the schema itself (defensive mode), no
/// views or triggers at all, extra checks of page contents, no memory mapping (a file changed
/// underneath cannot fault the process). Extension loading stays off: rusqlite is built without it
/// and `load_extension()` is disabled by default. See "Defense Against The Dark Arts",
/// sqlite.org/security.html.
pub fn harden(connection: &Connection) -> Result<()> {
    use rusqlite::config::DbConfig;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false)?;
    connection.pragma_update(None, "cell_size_check", "ON")?;
    connection.pragma_update(None, "mmap_size", 0)?;
    Ok(())
}

/// Checks, without changing anything, that `connection` holds a history this weft can read: the
/// file is an SQLite database of this weft's schema version, with its tables as tables, and (when
/// `whole` is set) it passes `quick_check`, which reads every page. The error says which, in words
/// for the user.
pub fn verify(connection: &Connection, whole: bool) -> Result<()> {
    let malformed = |detail: String| super::StoreError(format!("the run history is malformed ({detail})"));
    let version = connection
        .query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
        .map_err(|error| malformed(error.to_string()))?;
    if version < 0 || version as usize > VERSION {
        return Err(super::StoreError(format!(
            "the run history was written by a newer weft (schema version {version}, this weft knows {VERSION})"
        )));
    }
    if (version as usize) < VERSION {
        return Err(super::StoreError(format!(
            "the run history was written by an older weft (schema version {version}); the next `weft run` or `weft status` in this workspace updates it"
        )));
    }
    if whole {
        let check: String = connection
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
            .map_err(|error| malformed(error.to_string()))?;
        if check != "ok" {
            return Err(malformed(check));
        }
    }
    for table in TABLES {
        let kind: Option<String> = connection
            .query_row("SELECT type FROM sqlite_schema WHERE name = ?1", [table], |row| row.get(0))
            .optional()
            .map_err(|error| malformed(error.to_string()))?;
        if kind.as_deref() != Some("table") {
            return Err(malformed(format!("`{table}` is not a table")));
        }
    }
    Ok(())
}

/// Whether the database has no schema at all (version 0, no table, index or view): the state of a
/// history between its file's creation and the commit of its first migration.
pub fn is_being_created(connection: &Connection) -> bool {
    let version = connection.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0));
    let objects = connection.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0));
    matches!((version, objects), (Ok(0), Ok(0)))
}

/// Sets the connection up (WAL, foreign keys, a busy timeout for concurrent readers) and migrates.
pub fn prepare(connection: &Connection) -> Result<()> {
    harden(connection)?;
    let busy_timeout = std::time::Duration::from_secs(10);
    connection.busy_timeout(busy_timeout)?;
    // Switching a new history to WAL needs the file to itself, and while another connection is
    // switching it too SQLite answers SQLITE_BUSY at once instead of waiting for the busy timeout:
    // wait here instead, as long.
    let deadline = std::time::Instant::now() + busy_timeout;
    loop {
        match connection.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            result => break result?,
        }
    }
    // With WAL, NORMAL keeps the database consistent after a crash; a power loss may lose the last
    // commits, which resume then runs again (at-least-once).
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    let version: usize = connection.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        return Err(super::StoreError(format!(
            "the run history was written by a newer weft (schema version {version}, this weft knows {})",
            MIGRATIONS.len()
        )));
    }
    if version < MIGRATIONS.len() {
        // Invariant: each migration is applied once, however many processes open the history at
        // once. The version is read again under the write lock (an immediate transaction), and
        // migrations another process applied meanwhile are skipped; reading it before the lock
        // would let two processes apply one (guarded by
        // `concurrent_first_opens_migrate_the_history_once`, below).
        // Invariant: a reader never sees a history half-migrated. Every pending migration and the
        // new version commit together, so a reader (the language server) sees the schema before
        // or after, never a version in between that it would take for an older weft's
        // (`tests/lsp_run_views.rs`, a first run in a terminal while the editor looks).
        let transaction = rusqlite::Transaction::new_unchecked(connection, rusqlite::TransactionBehavior::Immediate)?;
        let current = transaction.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))? as usize;
        for migration in MIGRATIONS.iter().skip(current) {
            transaction.execute_batch(migration)?;
        }
        if current < MIGRATIONS.len() {
            transaction.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
        }
        transaction.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many connections open a new history at the same moment, in rounds: every one of them is
    /// prepared without error and the history ends at this weft's version, with its tables once.
    #[test]
    fn concurrent_first_opens_migrate_the_history_once() {
        let dir = std::env::temp_dir().join(format!("weft-schema-race-{}", std::process::id()));
        for round in 0..10 {
            let path = dir.join(format!("{round}.db"));
            std::fs::create_dir_all(&dir).unwrap();
            let _ = std::fs::remove_file(&path);
            let start = std::sync::Arc::new(std::sync::Barrier::new(6));
            let openers: Vec<_> = (0..6)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        let connection = Connection::open(&path).map_err(|e| e.to_string())?;
                        start.wait();
                        prepare(&connection).map_err(|e| e.to_string())
                    })
                })
                .collect();
            for opener in openers {
                opener.join().expect("no panic").unwrap_or_else(|error| panic!("round {round}: {error}"));
            }
            let connection = Connection::open(&path).unwrap();
            let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
            assert_eq!(version as usize, VERSION);
            verify(&connection, true).unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
