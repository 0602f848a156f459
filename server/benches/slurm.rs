//! weft on Slurm against a plain shell on the same cluster: 200 no-op steps (`true`) at 8 jobs in
//! flight, weft (`executor: slurm`, `max_concurrency: 8`) against a bash loop that keeps eight
//! `sbatch --wait` in flight, alternated in the same run. Also the latency from a job's end (the
//! last thing its script does is write the time) to weft knowing it (the attempt's `finished_at`).
//!
//! `cargo bench --bench slurm` with the project's cluster running (`tests/slurm/cluster.sh start`;
//! `SLURM_CONF` is taken from `/tmp/weft-slurm` when unset). Steps: `WEFT_BENCH_STEPS` (200),
//! rounds: `WEFT_BENCH_ROUNDS` (3), folder: `WEFT_BENCH_DIR` (the system temp dir, which the
//! cluster's node must see: it is this machine).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 8;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cluster_answers() -> bool {
    Command::new("sinfo")
        .args(["--noheader", "--format=%T"])
        .output()
        .is_ok_and(|out| out.status.success() && !out.stdout.is_empty())
}

/// The plan weft runs: every step a job whose script ends by writing the time (ns) to its output.
fn write_plan(dir: &Path, steps: usize) -> PathBuf {
    let mut plan =
        format!("plan_id: slurm_bench\nglobals:\n  executor: slurm\n  max_concurrency: {CONCURRENCY}\nsteps:\n");
    for i in 0..steps {
        let _ = writeln!(plan, "  - {{ id: s{i}, run: 'echo \"end=$(date +%s%N)\" >> \"$WEFT_OUTPUT\"' }}");
    }
    let path = dir.join("bench.plan.yaml");
    std::fs::write(&path, plan).unwrap();
    path
}

/// The baseline: a shell keeping `CONCURRENCY` `sbatch --wait` in flight until `steps` have run.
fn baseline_script(steps: usize) -> String {
    format!(
        "set -e\nfor i in $(seq {steps}); do\n  while [ \"$(jobs -rp | wc -l)\" -ge {CONCURRENCY} ]; do wait -n; done\n  sbatch --wait -Q -o /dev/null -e /dev/null -J bench-shell --wrap true &\ndone\nwait\n"
    )
}

fn time_weft(dir: &Path, plan: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(dir.join(".weft"));
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("run")
        .arg(plan)
        .current_dir(dir)
        .stdout(Stdio::null())
        .output()
        .expect("run weft");
    let elapsed = started.elapsed();
    assert!(out.status.success(), "weft failed: {}", String::from_utf8_lossy(&out.stderr));
    elapsed
}

fn time_shell(dir: &Path, steps: usize) -> Duration {
    let started = Instant::now();
    let status = Command::new("bash")
        .args(["-c", &baseline_script(steps)])
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .expect("run bash");
    assert!(status.success(), "the shell baseline failed");
    started.elapsed()
}

/// For each step of the last weft run: ms from the end its script wrote to the attempt's
/// recorded end.
fn latencies(dir: &Path) -> Vec<f64> {
    let db = rusqlite::Connection::open(dir.join(".weft/weft.db")).expect("the history");
    let mut statement = db.prepare("SELECT step_id, finished_at FROM attempts WHERE run_id = 1").unwrap();
    let rows: Vec<(String, String)> =
        statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect();
    let mut found = Vec::new();
    for (step, finished) in rows {
        let output = std::fs::read_to_string(dir.join(format!(".weft/runs/1/{step}.1.output"))).unwrap_or_default();
        let Some(end_ns) = output.trim().strip_prefix("end=").and_then(|n| n.parse::<i128>().ok()) else { continue };
        let Some(known_ms) = rfc3339_ms(&finished) else { continue };
        found.push((i128::from(known_ms) * 1_000_000 - end_ns) as f64 / 1e6);
    }
    found.sort_by(f64::total_cmp);
    found
}

/// Milliseconds since the epoch of `2026-12-07T06:10:11.123Z`.
fn rfc3339_ms(text: &str) -> Option<i64> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, ms) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms.parse::<i64>().ok()?)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os("SLURM_CONF").is_none() && Path::new("/tmp/weft-slurm/slurm.conf").is_file() {
        std::env::set_var("SLURM_CONF", "/tmp/weft-slurm/slurm.conf");
    }
    if !cluster_answers() {
        println!("slurm bench skipped: no Slurm cluster answers (tests/slurm/cluster.sh start)");
        return;
    }
    let steps = env_number("WEFT_BENCH_STEPS", 200);
    let rounds = env_number("WEFT_BENCH_ROUNDS", 3);
    let base = std::env::var_os("WEFT_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("weft-slurm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = write_plan(&dir, steps);
    println!("{steps} no-op steps on Slurm, {CONCURRENCY} in flight, {rounds} rounds alternated");
    let (mut weft, mut shell) = (Vec::new(), Vec::new());
    let mut all_latencies = Vec::new();
    for round in 0..rounds {
        let w = time_weft(&dir, &plan);
        all_latencies.extend(latencies(&dir));
        let s = time_shell(&dir, steps);
        println!("  round {}: weft {:.2} s, shell {:.2} s", round + 1, w.as_secs_f64(), s.as_secs_f64());
        weft.push(w);
        shell.push(s);
    }
    let (w, s) = (median(weft), median(shell));
    println!(
        "median: weft {:.2} s, shell (8 × sbatch --wait) {:.2} s, ratio {:.3} (target ≤ 1.1)",
        w.as_secs_f64(),
        s.as_secs_f64(),
        w.as_secs_f64() / s.as_secs_f64()
    );
    all_latencies.sort_by(f64::total_cmp);
    println!(
        "job ended → weft knows ({} steps): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms (target ≤ 1000 ms)",
        all_latencies.len(),
        percentile(&all_latencies, 0.5),
        percentile(&all_latencies, 0.95),
        all_latencies.last().copied().unwrap_or(f64::NAN)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
