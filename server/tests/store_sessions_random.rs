//! The session store's invariants under random concurrent use (SPEC §7), over thousands of
//! operations from several connections at once, as several terminals would: a task never has two
//! active sessions; a phase completes at most once; a session's phases are a completed prefix, at
//! most one active phase, then pending ones; every completion has its event; the search index
//! holds every event. `WEFT_SESSIONS_SEED` picks another seed, `WEFT_SESSIONS_OPS` the operations
//! per thread.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use weft::store::{Completion, Override, PhaseStatus, Store};

const PHASES: [&str; 4] = ["intake", "plan", "execute", "close"];
const TASKS: [&str; 3] = ["T-1", "T-2", "T-3"];
const THREADS: usize = 4;

#[test]
fn random_concurrent_sessions_keep_their_invariants() {
    let seed: u64 = std::env::var("WEFT_SESSIONS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261207);
    let ops: usize = std::env::var("WEFT_SESSIONS_OPS").ok().and_then(|s| s.parse().ok()).unwrap_or(1500);
    let dir = std::env::temp_dir().join(format!("weft-sessions-random-{seed}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    drop(Store::open(&dir).unwrap());
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|worker| {
            let (dir, start) = (dir.clone(), start.clone());
            std::thread::spawn(move || {
                let mut random = fastrand::Rng::with_seed(seed.wrapping_add(worker as u64));
                let store = Store::open(&dir).unwrap();
                // What this worker saw succeed: (session, phase) completions.
                let mut completed: Vec<(i64, String)> = Vec::new();
                start.wait();
                for _ in 0..ops {
                    let task = TASKS[random.usize(..TASKS.len())];
                    match random.u8(..10) {
                        0..=2 => {
                            store.start_session(task, "/t.phases.yaml", "t", &PHASES, "w").unwrap();
                        }
                        3..=7 => {
                            let Some(session) = store.active_session(task).unwrap() else { continue };
                            let Some(phase) = store.active_phase(session.id).unwrap() else { continue };
                            let next = PHASES.get(phase.position as usize + 1).copied();
                            let failed = vec![format!("artifact {}", phase.id)];
                            let overridden =
                                random.bool().then_some(Override { reason: "random", by: "w", failed_checks: failed });
                            let events = ["done".to_string()];
                            let completion = Completion { overridden, next, events: &events, ..Completion::default() };
                            if store.complete_phase(session.id, &phase.id, &completion).unwrap() {
                                completed.push((session.id, phase.id.clone()));
                            }
                        }
                        8 => {
                            if let Some(session) = store.active_session(task).unwrap() {
                                store.end_session(session.id, "w").unwrap();
                            }
                        }
                        _ => {
                            let query = weft::store::Query {
                                text: "random",
                                scope: weft::store::Scope::Task(task.into()),
                                since: None,
                                kind: None,
                                limit: 5,
                            };
                            store.search(&query).unwrap();
                        }
                    }
                }
                completed
            })
        })
        .collect();
    let mut completions: HashMap<(i64, String), usize> = HashMap::new();
    for worker in workers {
        for done in worker.join().expect("no worker panicked") {
            *completions.entry(done).or_default() += 1;
        }
    }
    let store = Store::open(&dir).unwrap();
    let twice: Vec<_> = completions.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "phases completed more than once: {twice:?}");
    let sessions = store.sessions(false, 100_000).unwrap();
    assert!(sessions.len() >= TASKS.len(), "too few sessions to mean anything: {}", sessions.len());
    for task in TASKS {
        let active = sessions.iter().filter(|s| s.task == task && s.is_active()).count();
        assert!(active <= 1, "{task} has {active} active sessions");
    }
    let mut checked_completions = 0;
    for session in &sessions {
        let phases = store.session_phases(session.id).unwrap();
        let statuses: Vec<PhaseStatus> = phases.iter().map(|p| p.status).collect();
        let done = statuses.iter().take_while(|s| s.is_done()).count();
        let rest = &statuses[done..];
        let shape_ok = match rest {
            [] => true,
            [PhaseStatus::Active, pending @ ..] => pending.iter().all(|s| *s == PhaseStatus::Pending),
            _ => false,
        };
        assert!(shape_ok, "session {} has phases {statuses:?}", session.id);
        let events = store.session_events(session.id).unwrap();
        let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
        assert_eq!(count("phase_completed") + count("phase_overridden"), done, "session {}", session.id);
        assert_eq!(count("done"), done, "session {}: one `events:` name per completion", session.id);
        assert_eq!(count("phase_started"), done + usize::from(rest.first() == Some(&PhaseStatus::Active)));
        for phase in phases.iter().filter(|p| p.status.is_done()) {
            assert_eq!(
                completions.get(&(session.id, phase.id.clone())),
                Some(&1),
                "session {} {}",
                session.id,
                phase.id
            );
            checked_completions += 1;
        }
        for phase in phases.iter().filter(|p| p.status == PhaseStatus::Overridden) {
            assert_eq!(phase.override_reason.as_deref(), Some("random"));
            assert_eq!(phase.failed_checks, [format!("artifact {}", phase.id)]);
        }
    }
    assert_eq!(checked_completions, completions.len(), "every completion seen by a worker is recorded");
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let _ = std::fs::remove_dir_all(&dir);
}
