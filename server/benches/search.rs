//! Search over a large history (SPEC §7): a generated `.weft/weft.db` of 1,000,000 events across
//! 1,000 runs and 200 sessions, with failed attempts' output tails and phase notes, then
//! `weft search` timed in process (the store's query) and end to end (the `weft` binary, as a user
//! runs it): p50 and p95 per query, the store's size on disk, and what the full-text index adds to
//! recording an event.
//!
//! `cargo bench --bench search` (folder: `WEFT_BENCH_DIR`, default the system temp folder; events:
//! `WEFT_BENCH_EVENTS`, default 1,000,000; repetitions per query: `WEFT_BENCH_REPEAT`, default 30).
//! The history is generated once per folder and event count and kept for the next run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::params;
use weft::store::events::{index_pending, insert_unindexed, search_text_of, NewEvent};
use weft::store::{Query, Scope, Store};

const RUNS: usize = 1_000;
const SESSIONS: usize = 200;
const ATTEMPTS_WITH_TAILS_PER_RUN: usize = 20;

/// A deterministic generator (an LCG), so every history of one size is the same.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A Zipf-like pick: small indexes far more often than large ones.
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
    }
}

/// Words of generated reasons and output: a vocabulary of 5,000 made-up words, picked Zipf-like,
/// so a few are everywhere and most are rare, as in real logs.
fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ne", "su", "ra", "to", "vi", "de", "po", "qu", "an", "el", "or", "ti", "ba", "ze", "fu",
        "gi", "ho", "ju", "ly", "xe", "wa",
    ];
    (0..5_000)
        .map(|i| {
            let mut word = String::new();
            let mut n = i + 24;
            while n > 0 {
                word.push_str(SYLLABLES[n % 24]);
                n /= 24;
            }
            word
        })
        .collect()
}

/// Real error lines that recur in histories, each with its share of failures.
const ERRORS: [&str; 8] = [
    "psql: error: connection to server at \"db-7\" (10.0.0.7), port 5432 failed: Connection refused",
    "error[E0308]: mismatched types: expected `u32`, found `i64`",
    "curl: (6) Could not resolve host: artifacts.internal",
    "PermissionError: [Errno 13] Permission denied: '/var/lib/app/cache'",
    "thread 'main' panicked at src/main.rs:42:5: index out of bounds",
    "npm ERR! code ETIMEDOUT network request to registry timed out",
    "Killed (out of memory: oom-kill constraint=CONSTRAINT_MEMCG)",
    "quota exceeded for project billing-prod: compute instances",
];

const KINDS: [&str; 8] = [
    "step_started",
    "step_succeeded",
    "step_started",
    "step_succeeded",
    "step_failed",
    "step_retry_scheduled",
    "hook_finished",
    "step_skipped",
];

fn sentence(random: &mut Random, words: &[String], length: usize) -> String {
    (0..length).map(|_| words[random.zipf(words.len())].as_str()).collect::<Vec<_>>().join(" ")
}

/// Writes the history: sessions first (with their phase events and notes), then runs, a fifth of
/// them started by a session's phase, each with its events and some failed attempts' tails.
fn generate(dir: &Path, total_events: usize) -> Duration {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let start = Instant::now();
    let store = Store::open(dir).unwrap();
    let words = vocabulary();
    let mut random = Random(7);
    let phases = ["intake", "research", "plan", "execute", "review", "close"];
    let session_events = total_events / 100;
    let per_session = (session_events / SESSIONS).max(2);
    let mut sessions = Vec::new();
    for s in 0..SESSIONS {
        let task = format!("T-{s}");
        let (session, _) =
            store.start_session(&task, "/bench/feature.phases.yaml", "feature", &phases, "bench").unwrap();
        sessions.push(session.id);
        let transaction = store.connection.unchecked_transaction().unwrap();
        for e in 0..per_session.saturating_sub(2) {
            let phase = phases[e * phases.len() / per_session];
            let text = sentence(&mut random, &words, 12);
            let data = serde_json::json!({ "text": text }).to_string();
            let at = format!("2026-11-{:02}T{:02}:{:02}:00.000Z", 1 + s % 28, e % 24, e % 60);
            let kind = if e % 3 == 0 { "phase_note" } else { "phase_check_failed" };
            let event = NewEvent {
                session: Some(session.id),
                phase: Some(phase),
                at: &at,
                kind,
                data: &data,
                ..NewEvent::default()
            };
            let text = weft::store::events::search_text(kind, None, Some(phase), &data);
            insert_unindexed(&transaction, &event, &text).unwrap();
        }
        index_pending(&transaction).unwrap();
        transaction.commit().unwrap();
    }
    let run_events = total_events - SESSIONS * per_session;
    let per_run = run_events / RUNS;
    for r in 1..=RUNS {
        let transaction = store.connection.unchecked_transaction().unwrap();
        let session = (r % 5 == 0).then(|| sessions[random.below(sessions.len())]);
        let day = 1 + r * 28 / RUNS;
        let started = format!("2026-11-{day:02}T08:00:00.000Z");
        transaction
            .execute(
                "INSERT INTO runs (id, file, path, workflow_id, status, started_at, finished_at, plan_text, plan_hash, session_id, phase_id)
                 VALUES (?1, 'ci.plan.yaml', '/bench/ci.plan.yaml', 'ci', 'failed', ?2, ?2, '', '', ?3, ?4)",
                params![r as i64, started, session, session.map(|_| "execute")],
            )
            .unwrap();
        let limit = if r == RUNS { run_events - per_run * (RUNS - 1) } else { per_run };
        for seq in 1..=limit {
            let kind = KINDS[random.below(KINDS.len())];
            let step = format!("s{}", random.below(500));
            let reason = match kind {
                "step_failed" | "step_retry_scheduled" if random.below(4) == 0 => {
                    ERRORS[random.below(ERRORS.len())].to_owned()
                }
                "step_failed" | "step_retry_scheduled" | "step_skipped" => sentence(&mut random, &words, 8),
                _ => String::new(),
            };
            let data = serde_json::json!({ "attempt": 1, "exit_code": if kind == "step_failed" { 1 } else { 0 }, "reason": reason }).to_string();
            let at = format!("2026-11-{day:02}T{:02}:{:02}:{:02}.000Z", 8 + seq / 3600 % 12, seq / 60 % 60, seq % 60);
            let event = NewEvent {
                run: Some(r as i64),
                seq: Some(seq as i64),
                at: &at,
                kind,
                step: Some(&step),
                data: &data,
                ..NewEvent::default()
            };
            let text = weft::store::events::search_text(kind, Some(&step), None, &data);
            insert_unindexed(&transaction, &event, &text).unwrap();
        }
        index_pending(&transaction).unwrap();
        for a in 0..ATTEMPTS_WITH_TAILS_PER_RUN {
            let stderr = format!("{}\n{}", sentence(&mut random, &words, 20), ERRORS[random.zipf(ERRORS.len())]);
            let stdout = sentence(&mut random, &words, 30);
            transaction
                .execute(
                    "INSERT INTO attempts (run_id, step_id, attempt, status, exit_code, started_at, finished_at, stdout_tail, stderr_tail, log_dir)
                     VALUES (?1, ?2, 1, 'failed', 1, ?3, ?3, ?4, ?5, '')",
                    params![r as i64, format!("s{a}"), started, stdout, stderr],
                )
                .unwrap();
            weft::store::events::index_tails(&transaction, r as i64, &format!("s{a}"), 1, &stdout, &stderr).unwrap();
        }
        transaction.commit().unwrap();
    }
    store.connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;").unwrap();
    start.elapsed()
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn size_on_disk(dir: &Path) -> u64 {
    ["weft.db", "weft.db-wal", "weft.db-shm"]
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(".weft").join(name)).ok())
        .map(|m| m.len())
        .sum()
}

/// The cost of recording events with and without the full-text index, as the engine's writer
/// records them: batches of 100 in one transaction (a commit every 20 ms), and with the index, the
/// pending events indexed every 50 batches (the writer's pass, at most a second apart). Each way in
/// a scratch history of its own, two rounds, the second measured.
fn recording_cost(dir: &Path) -> (Duration, Duration) {
    const COUNT: usize = 100_000;
    let data = serde_json::json!({ "attempt": 1, "exit_code": 0, "duration_ms": 3, "reason": null });
    let mut costs = [Duration::ZERO; 2];
    for (slot, indexed) in [true, false].into_iter().enumerate() {
        let scratch = dir.with_extension(format!("recording-{indexed}"));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).unwrap();
        let store = Store::open(&scratch).unwrap();
        store
            .connection
            .execute(
                "INSERT INTO runs (id, file, path, workflow_id, status, started_at, plan_text, plan_hash) VALUES (1, 'a', 'a', 'a', 'running', '', '', '')",
                [],
            )
            .unwrap();
        for round in 0..2 {
            let start = Instant::now();
            for batch in 0..COUNT / 100 {
                let transaction = store.connection.unchecked_transaction().unwrap();
                for i in 0..100 {
                    let seq = (round * COUNT + batch * 100 + i) as i64;
                    let step = format!("s{}", seq % 10_000);
                    if indexed {
                        let text = search_text_of("step_succeeded", Some(&step), None, &data);
                        let data = data.to_string();
                        let event = NewEvent {
                            run: Some(1),
                            seq: Some(seq),
                            at: "2026-12-07T00:00:00.000Z",
                            kind: "step_succeeded",
                            step: Some(&step),
                            data: &data,
                            ..NewEvent::default()
                        };
                        insert_unindexed(&transaction, &event, &text).unwrap();
                    } else {
                        // The same row as the events table held it before search.
                        transaction
                            .prepare_cached("INSERT INTO events (run_id, seq, at, kind, step_id, data) VALUES (1, ?1, '2026-12-07T00:00:00.000Z', 'step_succeeded', ?2, ?3)")
                            .unwrap()
                            .execute(params![seq, step, data.to_string()])
                            .unwrap();
                    }
                }
                if indexed && (batch % 50 == 49 || batch == COUNT / 100 - 1) {
                    index_pending(&transaction).unwrap();
                }
                transaction.commit().unwrap();
            }
            costs[slot] = start.elapsed() / COUNT as u32;
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&scratch);
    }
    (costs[0], costs[1])
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let total: usize = std::env::var("WEFT_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let repeat: usize = std::env::var("WEFT_BENCH_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(30).max(2);
    let base = std::env::var_os("WEFT_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("weft-search-bench-v3-{total}"));
    let marker = dir.join(".weft/generated");
    if marker.is_file() {
        println!("history: {} (kept from an earlier run)", dir.display());
    } else {
        let took = generate(&dir, total);
        std::fs::write(&marker, "").unwrap();
        println!("history: {} generated in {:.1} s", dir.display(), took.as_secs_f64());
    }
    let store = Store::open(&dir).unwrap();
    let events: i64 = store.connection.query_row("SELECT count(*) FROM events", [], |row| row.get(0)).unwrap();
    let runs: i64 = store.connection.query_row("SELECT count(*) FROM runs", [], |row| row.get(0)).unwrap();
    let sessions: i64 = store.connection.query_row("SELECT count(*) FROM sessions", [], |row| row.get(0)).unwrap();
    let size = size_on_disk(&dir);
    println!(
        "{events} events, {runs} runs, {sessions} sessions; store on disk {:.0} MB ({:.0} bytes per event)",
        size as f64 / 1e6,
        size as f64 / events as f64
    );

    let words = vocabulary();
    let (common, rare) = (words[0].clone(), words[3_000].clone());
    let queries: Vec<(&str, Query<'_>)> = vec![
        (
            "a phrase in 1% of events",
            Query { text: "connection refused", scope: Scope::Project, since: None, kind: None, limit: 20 },
        ),
        (
            "a word in 0.1% of events",
            Query { text: "billing", scope: Scope::Project, since: None, kind: None, limit: 20 },
        ),
        ("a rare made-up word", Query { text: &rare, scope: Scope::Project, since: None, kind: None, limit: 20 }),
        (
            "two common words",
            Query { text: "mismatched types", scope: Scope::Project, since: None, kind: None, limit: 20 },
        ),
        (
            "--task T-17",
            Query { text: "refused", scope: Scope::Task("T-17".into()), since: None, kind: None, limit: 20 },
        ),
        (
            "--kind phase_note",
            Query { text: &common, scope: Scope::Project, since: None, kind: Some("phase_note"), limit: 20 },
        ),
        (
            "--since (last 3 days)",
            Query { text: "refused", scope: Scope::Project, since: Some("2026-11-26".into()), kind: None, limit: 20 },
        ),
        (
            "--kind output (tails)",
            Query { text: "panicked", scope: Scope::Project, since: None, kind: Some("output"), limit: 20 },
        ),
        (
            "a word in every step event (worst case)",
            Query { text: "step", scope: Scope::Project, since: None, kind: None, limit: 20 },
        ),
    ];
    println!("\nin process (Store::search), {repeat} times each:");
    println!("{:<42} {:>8} {:>9} {:>9}", "query", "hits", "p50", "p95");
    for (name, query) in &queries {
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..repeat {
            let start = Instant::now();
            hits = store.search(query).unwrap().len();
            times.push(start.elapsed());
        }
        let p50 = percentile(&mut times, 0.5);
        let p95 = percentile(&mut times, 0.95);
        println!("{name:<42} {hits:>8} {:>7.1}ms {:>7.1}ms", p50.as_secs_f64() * 1e3, p95.as_secs_f64() * 1e3);
    }
    drop(store);

    println!("\nend to end (`weft search … --format json`, a new process each time), {repeat} times each:");
    let weft = env!("CARGO_BIN_EXE_weft");
    for (name, args) in [
        ("connection refused", vec!["connection refused"]),
        ("billing", vec!["billing"]),
        ("refused --task T-17", vec!["refused", "--task", "T-17"]),
    ] {
        let mut times = Vec::new();
        for _ in 0..repeat {
            let start = Instant::now();
            let status = Command::new(weft)
                .arg("search")
                .args(&args)
                .args(["--format", "json", "--workspace"])
                .arg(&dir)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            times.push(start.elapsed());
        }
        let p50 = percentile(&mut times, 0.5);
        let p95 = percentile(&mut times, 0.95);
        println!("{name:<42} {:>18.1}ms {:>7.1}ms", p50.as_secs_f64() * 1e3, p95.as_secs_f64() * 1e3);
    }

    let (with_index, without) = recording_cost(&dir);
    println!(
        "\nrecording an event (batches of 100 per transaction): {:.1} µs with the search index, {:.1} µs without (+{:.1} µs)",
        with_index.as_secs_f64() * 1e6,
        without.as_secs_f64() * 1e6,
        (with_index.as_secs_f64() - without.as_secs_f64()) * 1e6
    );
}
