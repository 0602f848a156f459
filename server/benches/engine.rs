//! The engine against ninja and make on the same DAG of no-op steps (`command: "true"`, 1–3
//! dependencies each) at two jobs, every attempt recorded in SQLite as in a normal run.
//!
//! `cargo bench --bench engine` (sizes: `WEFT_BENCH_SIZES=1000,10000`, folder: `WEFT_BENCH_DIR`,
//! default the system temp dir). ninja and make are used when they are installed
//! (`apt-get install ninja-build make`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A deterministic pseudo-random DAG: step `i` depends on 1–3 earlier steps.
fn dag(size: usize) -> Vec<Vec<usize>> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    (0..size)
        .map(|i| {
            if i == 0 {
                return Vec::new();
            }
            let count = 1 + next() % 3;
            let mut deps: Vec<usize> = (0..count).map(|_| next() % i).collect();
            deps.sort_unstable();
            deps.dedup();
            deps
        })
        .collect()
}

fn write_inputs(dir: &Path, deps: &[Vec<usize>]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut plan = String::from("plan_id: bench\nglobals:\n  max_concurrency: 2\nsteps:\n");
    let mut ninja = String::from("rule run\n  command = true\n");
    let mut make = String::from(".PHONY: all");
    for i in 0..deps.len() {
        let _ = write!(make, " s{i}");
    }
    make.push_str("\nall:");
    for i in 0..deps.len() {
        let _ = write!(make, " s{i}");
    }
    make.push('\n');
    for (i, list) in deps.iter().enumerate() {
        let names: Vec<String> = list.iter().map(|d| format!("s{d}")).collect();
        let _ = writeln!(plan, "  - {{ id: s{i}, command: \"true\", depends_on: [{}] }}", names.join(", "));
        let _ = writeln!(
            ninja,
            "build s{i}: run{}",
            if names.is_empty() { String::new() } else { format!(" | {}", names.join(" ")) }
        );
        let _ = writeln!(make, "s{i}: {}\n\t@true", names.join(" "));
    }
    std::fs::write(dir.join("bench.plan.yaml"), plan).unwrap();
    std::fs::write(dir.join("build.ninja"), ninja).unwrap();
    std::fs::write(dir.join("Makefile"), make).unwrap();
}

fn installed(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

fn time(mut command: Command) -> Duration {
    let start = Instant::now();
    let status = command.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("the command starts");
    assert!(status.success(), "{command:?} failed");
    start.elapsed()
}

fn weft_run(dir: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(dir.join(".weft"));
    let start = Instant::now();
    let run = weft::engine::start(
        &dir.join("bench.plan.yaml"),
        weft::engine::StartOptions { selection: Default::default(), allow_concurrent: false, sink: None },
    )
    .expect("the run starts");
    let status = run.wait().expect("the run finishes");
    let elapsed = start.elapsed();
    assert_eq!(status, "succeeded");
    elapsed
}

/// The raw cost of starting and reaping `/bin/true` two at a time.
fn spawn_floor(count: usize) -> Duration {
    let start = Instant::now();
    let mut running = Vec::new();
    for _ in 0..count {
        if running.len() == 2 {
            let mut child: std::process::Child = running.remove(0);
            child.wait().unwrap();
        }
        running.push(Command::new("true").spawn().unwrap());
    }
    for mut child in running {
        child.wait().unwrap();
    }
    start.elapsed()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    // `cargo test` runs benches with `--bench` absent; only measure when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("WEFT_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let base = std::env::var_os("WEFT_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let rounds = 3;
    println!("engine vs ninja -j2 vs make -j2, median of {rounds} rounds, folder {}", base.display());
    println!(
        "{:>7}  {:>12}  {:>12}  {:>12}  {:>12}  {:>11}",
        "steps", "weft", "ninja -j2", "make -j2", "spawn floor", "weft/ninja"
    );
    for size in sizes {
        let dir = base.join(format!("weft-engine-bench-{size}"));
        write_inputs(&dir, &dag(size));
        let weft = median((0..rounds).map(|_| weft_run(&dir)).collect());
        let ninja = installed("ninja").then(|| {
            median(
                (0..rounds)
                    .map(|_| {
                        let _ = std::fs::remove_file(dir.join(".ninja_log"));
                        let mut command = Command::new("ninja");
                        command.args(["-j2", "-C"]).arg(&dir);
                        time(command)
                    })
                    .collect(),
            )
        });
        let make = installed("make").then(|| {
            median(
                (0..rounds)
                    .map(|_| {
                        let mut command = Command::new("make");
                        command.args(["-j2", "-s", "-C"]).arg(&dir);
                        time(command)
                    })
                    .collect(),
            )
        });
        let floor = median((0..rounds).map(|_| spawn_floor(size)).collect());
        let per_step = |d: Duration| format!("{:.0} µs/step", d.as_secs_f64() * 1e6 / size as f64);
        let show = |d: Option<Duration>| d.map_or_else(|| "n/a".to_owned(), per_step);
        let ratio = ninja.map_or_else(|| "n/a".to_owned(), |n| format!("{:.2}", weft.as_secs_f64() / n.as_secs_f64()));
        println!(
            "{size:>7}  {:>12}  {:>12}  {:>12}  {:>12}  {ratio:>11}",
            per_step(weft),
            show(ninja),
            show(make),
            per_step(floor)
        );
        // The history holds every attempt of the last round.
        let store = weft::store::Store::open(&dir).unwrap();
        let run = store.runs(None, 1).unwrap().remove(0);
        assert_eq!(store.attempts(run.id, None).unwrap().len(), size);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
