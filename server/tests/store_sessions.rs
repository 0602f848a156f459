//! The session store (SPEC §7) against a real SQLite file: one active session per task, a phase
//! completes once however many processes try at once, events are searchable, failures counted.

use std::sync::{Arc, Barrier};

use weft::store::{Completion, NewEvent, NewFailure, Override, PhaseStatus, Query, Scope, Store};

fn workspace(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-store-sessions-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const PHASES: [&str; 3] = ["intake", "plan", "close"];

#[test]
fn a_second_start_of_a_task_resumes_its_session_even_when_racing() {
    let dir = workspace("start");
    let barrier = Arc::new(Barrier::new(8));
    let starters: Vec<_> = (0..8)
        .map(|_| {
            let (dir, barrier) = (dir.clone(), barrier.clone());
            std::thread::spawn(move || {
                let store = Store::open(&dir).unwrap();
                barrier.wait();
                store.start_session("T-1", "/t.phases.yaml", "t", &PHASES, "me").unwrap()
            })
        })
        .collect();
    let results: Vec<_> = starters.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|(_, resumed)| !resumed).count(), 1, "exactly one start creates");
    assert!(results.windows(2).all(|w| w[0].0.id == w[1].0.id));
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.sessions(false, 10).unwrap().len(), 1);
    let phases = store.session_phases(results[0].0.id).unwrap();
    let states: Vec<_> = phases.iter().map(|p| (p.id.as_str(), p.status)).collect();
    assert_eq!(
        states,
        [("intake", PhaseStatus::Active), ("plan", PhaseStatus::Pending), ("close", PhaseStatus::Pending)]
    );
    // Ended, the task can start again: a new session.
    assert!(store.end_session(results[0].0.id, "me").unwrap());
    assert!(!store.end_session(results[0].0.id, "me").unwrap());
    let (again, resumed) = store.start_session("T-1", "/t.phases.yaml", "t", &PHASES, "me").unwrap();
    assert!(!resumed);
    assert_ne!(again.id, results[0].0.id);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn of_processes_completing_one_phase_at_once_exactly_one_succeeds() {
    let dir = workspace("complete");
    let store = Store::open(&dir).unwrap();
    let (session, _) = store.start_session("T-2", "/t.phases.yaml", "t", &PHASES, "me").unwrap();
    let barrier = Arc::new(Barrier::new(6));
    let completers: Vec<_> = (0..6)
        .map(|_| {
            let (dir, barrier) = (dir.clone(), barrier.clone());
            std::thread::spawn(move || {
                let store = Store::open(&dir).unwrap();
                barrier.wait();
                let completion = Completion { next: Some("plan"), ..Completion::default() };
                store.complete_phase(session.id, "intake", &completion).unwrap()
            })
        })
        .collect();
    let won = completers.into_iter().map(|t| t.join().unwrap()).filter(|&won| won).count();
    assert_eq!(won, 1);
    let kinds: Vec<String> = store.session_events(session.id).unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["session_started", "phase_started", "phase_completed", "phase_started"]);
    // An override records who, why and what failed.
    let overridden = Override { reason: "reviewed by hand", by: "ana", failed_checks: vec!["artifact plan.md".into()] };
    let completion = Completion {
        overridden: Some(overridden),
        next: Some("close"),
        events: &["planned".to_string()],
        ..Completion::default()
    };
    assert!(store.complete_phase(session.id, "plan", &completion).unwrap());
    let plan = &store.session_phases(session.id).unwrap()[1];
    assert_eq!(plan.status, PhaseStatus::Overridden);
    assert_eq!(plan.override_reason.as_deref(), Some("reviewed by hand"));
    assert_eq!(plan.failed_checks, ["artifact plan.md"]);
    let hits = store
        .search(&Query { text: "by hand", scope: Scope::Task("T-2".into()), since: None, kind: None, limit: 10 })
        .unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].kind, "phase_overridden");
    assert_eq!(hits[0].task.as_deref(), Some("T-2"));
    assert!(hits[0].snippet.contains("[by] [hand]"), "{}", hits[0].snippet);
    let elsewhere = store
        .search(&Query { text: "by hand", scope: Scope::Task("T-3".into()), since: None, kind: None, limit: 10 })
        .unwrap();
    assert!(elsewhere.is_empty());
    assert!(
        store
            .search(&Query {
                text: "planned",
                scope: Scope::Session(session.id),
                since: None,
                kind: Some("planned"),
                limit: 5
            })
            .unwrap()
            .len()
            == 1
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn notes_and_failures_are_recorded_and_counted() {
    let dir = workspace("failures");
    let store = Store::open(&dir).unwrap();
    let (session, _) = store.start_session("T-4", "/t.phases.yaml", "t", &PHASES, "me").unwrap();
    store
        .record_event(&NewEvent {
            session: Some(session.id),
            phase: Some("intake"),
            at: &weft::store::now(),
            kind: "phase_note",
            data: r#"{"text": "the flaky resolver again"}"#,
            ..NewEvent::default()
        })
        .unwrap();
    for at in ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"] {
        store
            .record_failure(&NewFailure {
                fingerprint: "v1:0123456789abcdef".into(),
                class: "network".into(),
                at: at.into(),
                subject: "phase:intake:check 1".into(),
                normalized: "could not resolve host".into(),
                run: None,
                step: None,
                attempt: None,
                session: Some(session.id),
                phase: Some("intake".into()),
            })
            .unwrap();
    }
    let seen = store.failure_seen("v1:0123456789abcdef", Some("2026-01-02T12:00:00.000Z"), None).unwrap().unwrap();
    assert_eq!((seen.count, seen.first_at.as_str()), (2, "2026-01-01T00:00:00.000Z"));
    assert_eq!(store.failure_seen("v1:0123456789abcdef", None, None).unwrap().unwrap().count, 3);
    assert!(store.failure_seen("v1:ffffffffffffffff", None, None).unwrap().is_none());
    let failures = store.failures(Some("2026-01-02T00:00:00.000Z")).unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].count, failures[0].tasks.clone()), (2, vec!["T-4".to_string()]));
    let hits =
        store.search(&Query { text: "resolver", scope: Scope::Project, since: None, kind: None, limit: 5 }).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].phase.as_deref(), Some("intake"));
}

/// Events an engine recorded without indexing them yet (it indexes in batches, and may be killed
/// between two) are found by a search, which indexes what is pending first, and are never indexed
/// twice.
#[test]
fn events_recorded_and_not_yet_indexed_are_found_and_indexed_once() {
    use weft::store::events::{index_pending, insert_unindexed, search_text};
    let dir = workspace("pending");
    let store = Store::open(&dir).unwrap();
    store
        .connection
        .execute(
            "INSERT INTO runs (id, file, path, workflow_id, status, started_at, plan_text, plan_hash) VALUES (1, 'a', 'a', 'a', 'running', '', '', '')",
            [],
        )
        .unwrap();
    for seq in 1..=3 {
        let data = format!(r#"{{"reason": "disk quota {seq}"}}"#);
        let text = search_text("step_failed", Some("build"), None, &data);
        let event = NewEvent {
            run: Some(1),
            seq: Some(seq),
            at: "2026-12-07T00:00:00.000Z",
            kind: "step_failed",
            step: Some("build"),
            data: &data,
            ..NewEvent::default()
        };
        insert_unindexed(&store.connection, &event, &text).unwrap();
    }
    let query = Query { text: "quota", scope: Scope::Project, since: None, kind: None, limit: 10 };
    assert_eq!(store.search(&query).unwrap().len(), 3);
    assert_eq!(index_pending(&store.connection).unwrap(), 0, "nothing is indexed twice");
    // A session's event indexes what is pending with it.
    let data = r#"{"reason": "disk quota 4"}"#;
    let text = search_text("step_failed", Some("build"), None, data);
    let event = NewEvent {
        run: Some(1),
        seq: Some(4),
        at: "2026-12-07T00:00:01.000Z",
        kind: "step_failed",
        step: Some("build"),
        data,
        ..NewEvent::default()
    };
    insert_unindexed(&store.connection, &event, &text).unwrap();
    let (session, _) = store.start_session("T-9", "/t.phases.yaml", "t", &PHASES, "me").unwrap();
    assert!(session.id > 0);
    assert_eq!(index_pending(&store.connection).unwrap(), 0);
    assert_eq!(store.search(&query).unwrap().len(), 4);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}
