//! The run history (SPEC §6 Persistence, Events): the SQLite schema, the plan stored with its hash,
//! every transition recorded as an event, and `--events FILE` exporting the same events as JSON lines.

mod engine_support;

use std::collections::BTreeSet;

use engine_support::{sha256_hex, Project};
use serde_json::Value;

const MIXED_PLAN: &str = r#"plan_id: mixed
globals: { max_concurrency: 1, on_failure: continue }
steps:
  - id: flaky
    run: 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; [ $n -ge 2 ]'
    retries: 1
  - { id: broken, run: "exit 4", required: false }
  - { id: gated, run: "true", requires: { files: [absent.txt] }, required: false, depends_on: [broken] }
  - { id: skipped, run: "true", depends_on: [flaky], condition: "steps.flaky.status == 'failed'" }
  - { id: last, run: "true", depends_on: [flaky] }
"#;

#[test]
fn the_history_has_its_tables_and_stores_the_plan_with_its_hash() {
    let project = Project::new("schema");
    project.write("mixed.plan.yaml", MIXED_PLAN);
    let out = project.weft(&["run", "mixed.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();

    let db = project.db();
    let tables: BTreeSet<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in ["runs", "steps", "attempts", "events"] {
        assert!(tables.contains(table), "no table {table}: {tables:?}");
    }
    let columns = |table: &str| -> BTreeSet<String> {
        db.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for (table, wanted) in [
        ("runs", &["id", "file", "workflow_id", "status", "started_at", "finished_at", "plan_text", "plan_hash"][..]),
        ("steps", &["run_id", "step_id", "status", "attempts", "exit_code", "duration_ms", "reason"][..]),
        (
            "attempts",
            &[
                "run_id",
                "step_id",
                "attempt",
                "status",
                "exit_code",
                "started_at",
                "finished_at",
                "duration_ms",
                "stdout_tail",
                "stderr_tail",
                "log_dir",
            ][..],
        ),
        ("events", &["run_id", "seq", "at", "kind", "step_id", "data"][..]),
    ] {
        let have = columns(table);
        for column in wanted {
            assert!(have.contains(*column), "{table} has no column {column}: {have:?}");
        }
    }
    let version: i64 = db.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
    assert!(version >= 1);
    let journal: String = db.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(journal, "wal");

    let record = project.run_record(run);
    assert_eq!(record.plan_text, MIXED_PLAN);
    assert_eq!(record.plan_hash, sha256_hex(MIXED_PLAN));
    assert_eq!(record.workflow_id, "mixed");
    assert_eq!(record.file, "mixed.plan.yaml");
    // Attempts keep their stdout/stderr tails and point at the full logs, which exist for the
    // streams that wrote something (these steps write nothing: an empty output has no file).
    for attempt in project.attempts(run, None) {
        assert!(std::path::Path::new(&attempt.log_dir).is_dir(), "{attempt:?}");
        for (stream, tail) in [("stdout", &attempt.stdout_tail), ("stderr", &attempt.stderr_tail)] {
            let log = weft::store::attempt_file(
                std::path::Path::new(&attempt.log_dir),
                &attempt.step_id,
                attempt.attempt,
                stream,
            );
            assert_eq!(log.is_file(), !tail.is_empty(), "{stream} of {attempt:?}");
        }
        assert!(attempt.finished_at.is_some() && attempt.duration_ms.is_some(), "{attempt:?}");
    }
    project.assert_integrity();
}

#[test]
fn every_transition_is_an_event() {
    let project = Project::new("events");
    project.write("mixed.plan.yaml", MIXED_PLAN);
    let out = project.weft(&["run", "mixed.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    let events = project.events(run);

    // Numbered 1, 2, 3, … in the order they happened.
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at), "timestamps go backwards");
    assert_eq!(events.first().map(|e| e.kind.as_str()), Some("run_started"));
    let last = events.last().unwrap();
    assert_eq!(last.kind, "run_finished");
    assert_eq!(serde_json::from_str::<Value>(&last.data).unwrap()["status"], "succeeded");

    // Every attempt has its start event, every step its final state, in that order.
    for attempt in project.attempts(run, None) {
        let started = project.events_of(run, "step_started", Some(&attempt.step_id));
        assert!(
            started.iter().any(|data| data["attempt"] == attempt.attempt),
            "no step_started for {} #{}",
            attempt.step_id,
            attempt.attempt
        );
    }
    let kind_of = |status: &str| match status {
        "succeeded" => "step_succeeded",
        "failed" => "step_failed",
        "skipped" => "step_skipped",
        "canceled" => "step_canceled",
        "timed_out" => "step_timed_out",
        other => panic!("step left {other}"),
    };
    for step in project.steps(run) {
        let finals: Vec<&engine_support::EventRecord> = events
            .iter()
            .filter(|e| e.step_id.as_deref() == Some(step.id.as_str()))
            .filter(|e| e.kind.starts_with("step_") && e.kind != "step_started" && e.kind != "step_retry_scheduled")
            .collect();
        assert_eq!(finals.len(), 1, "`{}` has final events {finals:?}", step.id);
        assert_eq!(finals[0].kind, kind_of(step.status.as_str()), "{}", step.id);
        let data: Value = serde_json::from_str(&finals[0].data).unwrap();
        assert_eq!(data["reason"].as_str(), step.reason.as_deref(), "{}", step.id);
        assert_eq!(data["attempt"], step.attempts, "{}", step.id);
    }
    let statuses: Vec<(String, String)> =
        project.steps(run).into_iter().map(|s| (s.id, s.status.to_string())).collect();
    assert_eq!(
        statuses,
        [
            ("flaky".to_owned(), "succeeded".to_owned()),
            ("broken".to_owned(), "failed".to_owned()),
            ("gated".to_owned(), "failed".to_owned()),
            ("skipped".to_owned(), "skipped".to_owned()),
            ("last".to_owned(), "succeeded".to_owned()),
        ]
    );
    // The retry in between.
    assert_eq!(project.events_of(run, "step_retry_scheduled", Some("flaky")).len(), 1);
}

#[test]
fn the_events_file_matches_the_events_table() {
    let project = Project::new("events-file");
    project.write("mixed.plan.yaml", MIXED_PLAN);
    let out = project.weft(&["run", "mixed.plan.yaml", "--events", "events.jsonl"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    let lines: Vec<Value> = project
        .read("events.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let events = project.events(run);
    assert_eq!(lines.len(), events.len());
    for (line, event) in lines.iter().zip(&events) {
        assert_eq!(line["run"], run);
        assert_eq!(line["seq"], event.seq);
        assert_eq!(line["at"], event.at.as_str());
        assert_eq!(line["kind"], event.kind.as_str());
        assert_eq!(line["step"].as_str(), event.step_id.as_deref());
        assert_eq!(line["data"], serde_json::from_str::<Value>(&event.data).unwrap());
    }
    // An events file that cannot be written is a usage error, before anything runs.
    let refused = project.weft(&["run", "mixed.plan.yaml", "--events", "no/such/folder/e.jsonl"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert_eq!(project.store().runs(None, 10).unwrap().len(), 1);
}

#[test]
fn many_runs_in_parallel_share_one_history() {
    let project = Project::new("parallel-runs");
    for n in 0..4 {
        project.write(
            &format!("p{n}.plan.yaml"),
            &format!("plan_id: p{n}\nsteps:\n  - {{ id: a, run: 'true' }}\n  - {{ id: b, run: 'true', depends_on: [a] }}\n  - {{ id: c, run: 'true', depends_on: [a] }}\n"),
        );
    }
    let runs: Vec<_> = (0..4).map(|n| project.spawn(&["run", &format!("p{n}.plan.yaml")])).collect();
    let outs: Vec<_> = runs.into_iter().map(|r| r.wait()).collect();
    let mut ids = BTreeSet::new();
    for out in &outs {
        assert_eq!(out.code, 0, "{out}");
        ids.insert(out.run_id());
    }
    assert_eq!(ids.len(), 4, "run ids are unique");
    for id in ids {
        assert_eq!(project.run_record(id).status, "succeeded");
        assert!(project.steps(id).iter().all(|s| s.status == "succeeded"));
        let kinds = project.event_kinds(id);
        assert_eq!(kinds.first().map(|(k, _)| k.as_str()), Some("run_started"));
        assert_eq!(kinds.last().map(|(k, _)| k.as_str()), Some("run_finished"));
    }
    project.assert_integrity();
}

/// Schema version 1 as weft wrote it before `runs.path` existed (commit fc021f9).
const SCHEMA_V1_WITHOUT_PATH: &str = "
    CREATE TABLE runs (id INTEGER PRIMARY KEY, file TEXT NOT NULL, workflow_id TEXT NOT NULL,
        status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, owner_pid INTEGER,
        plan_text TEXT NOT NULL, plan_hash TEXT NOT NULL);
    CREATE INDEX runs_by_file ON runs (file, id);
    CREATE TABLE steps (run_id INTEGER NOT NULL REFERENCES runs (id), step_id TEXT NOT NULL,
        position INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        exit_code INTEGER, duration_ms INTEGER, reason TEXT, started_at TEXT, finished_at TEXT,
        definition_hash TEXT NOT NULL, PRIMARY KEY (run_id, step_id));
    CREATE TABLE attempts (run_id INTEGER NOT NULL REFERENCES runs (id), step_id TEXT NOT NULL,
        attempt INTEGER NOT NULL, status TEXT NOT NULL, exit_code INTEGER, started_at TEXT NOT NULL,
        finished_at TEXT, duration_ms INTEGER, stdout_tail TEXT NOT NULL DEFAULT '',
        stderr_tail TEXT NOT NULL DEFAULT '', log_dir TEXT NOT NULL,
        PRIMARY KEY (run_id, step_id, attempt));
    CREATE TABLE events (run_id INTEGER NOT NULL REFERENCES runs (id), seq INTEGER NOT NULL,
        at TEXT NOT NULL, kind TEXT NOT NULL, step_id TEXT, data TEXT NOT NULL, PRIMARY KEY (run_id, seq));
    PRAGMA user_version = 1;
";

#[test]
fn a_history_from_an_earlier_weft_is_migrated() {
    let project = Project::new("old-history");
    std::fs::create_dir_all(project.path(".weft")).unwrap();
    rusqlite::Connection::open(project.path(".weft/weft.db")).unwrap().execute_batch(SCHEMA_V1_WITHOUT_PATH).unwrap();
    project.write("m.plan.yaml", "plan_id: m\nsteps:\n  - { id: a, run: 'true' }\n");
    let out = project.weft(&["run", "m.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(project.run_record(out.run_id()).status, "succeeded");
    project.assert_integrity();
}

/// A history of schema version 1, with a run and its events, gets every table since (approvals'
/// `decisions`, sessions, failures) and its events move to the one events model, indexed for search.
#[test]
fn a_history_from_before_approvals_and_sessions_is_migrated() {
    let project = Project::new("v1-history-events");
    std::fs::create_dir_all(project.path(".weft")).unwrap();
    rusqlite::Connection::open(project.path(".weft/weft.db"))
        .unwrap()
        .execute_batch(&format!(
            "{SCHEMA_V1_WITHOUT_PATH}
             INSERT INTO runs VALUES (1, 'old.plan.yaml', 'old', 'failed', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', NULL, '', '');
             INSERT INTO events VALUES (1, 1, '2026-01-01T00:00:00.000Z', 'run_started', NULL, '{{}}');
             INSERT INTO events VALUES (1, 2, '2026-01-01T00:00:01.000Z', 'step_failed', 'deploy', '{{\"reason\": \"quota exhausted\"}}');"
        ))
        .unwrap();
    project.write("m.plan.yaml", "plan_id: m\nsteps:\n  - { id: a, run: 'true' }\n");
    let out = project.weft(&["run", "m.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let db = project.db();
    let version: i64 = db.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
    assert_eq!(version, 6);
    let columns = |table: &str| -> BTreeSet<String> {
        db.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for column in ["run_id", "step_id", "decision", "reason", "by", "at"] {
        assert!(columns("decisions").contains(column), "decisions has no column {column}");
    }
    for table in ["sessions", "session_phases", "failures", "git_snapshots"] {
        assert!(!columns(table).is_empty(), "no table {table}");
    }
    for column in ["executor", "executor_id"] {
        assert!(columns("attempts").contains(column), "attempts has no column {column}");
    }
    // The new run's local attempt names its executor, and its process group as the executor's id.
    let (executor, id, pid): (String, Option<String>, Option<i64>) = db
        .query_row("SELECT executor, executor_id, pid FROM attempts WHERE run_id = ?1", [out.run_id()], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
    assert_eq!((executor.as_str(), id), ("local", pid.map(|p| p.to_string())));
    assert!(pid.is_some());
    let old: Vec<(i64, String, String)> = db
        .prepare("SELECT seq, kind, text FROM events WHERE run_id = 1 ORDER BY seq")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        old,
        vec![
            (1, "run_started".into(), "run_started".into()),
            (2, "step_failed".into(), "quota exhausted step_failed deploy".into())
        ]
    );
    let found: i64 = db
        .query_row("SELECT count(*) FROM events_search WHERE events_search MATCH 'quota'", [], |row| row.get(0))
        .unwrap();
    assert_eq!(found, 1);
    assert_eq!(project.run_record(1).status, "failed");
    assert_eq!(project.run_record(out.run_id()).status, "succeeded");
    project.assert_integrity();
}

#[test]
fn once_a_run_ends_its_history_is_the_database_file_alone() {
    let project = Project::new("one-file");
    project.write(
        "m.plan.yaml",
        "plan_id: m\nsteps:\n  - { id: a, run: 'true' }\n  - { id: b, run: 'true', depends_on: [a] }\n",
    );
    let out = project.weft(&["run", "m.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    // Copied without its write-ahead log (a CI artifact, a backup), weft.db has the whole run.
    let copy = project.path("copy.db");
    std::fs::copy(project.path(".weft/weft.db"), &copy).unwrap();
    let db = rusqlite::Connection::open(&copy).unwrap();
    let status: String =
        db.query_row("SELECT status FROM runs WHERE id = ?1", [out.run_id()], |row| row.get(0)).unwrap();
    assert_eq!(status, "succeeded");
    let attempts: i64 = db
        .query_row("SELECT count(*) FROM attempts WHERE run_id = ?1 AND status = 'succeeded'", [out.run_id()], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(attempts, 2);
}
