//! The engine against ninja and make on the same DAG of no-op steps (`command: "true"`, 1–3
//! dependencies each) at two jobs, every attempt recorded in SQLite as in a normal run.
//!
//! `cargo bench --bench engine` (sizes: `WEFT_BENCH_SIZES=1000,10000`, folder: `WEFT_BENCH_DIR`,
//! default the system temp dir, rounds: `WEFT_BENCH_ROUNDS`, default 3). ninja and make are used
//! when they are installed (`apt-get install ninja-build make`). Besides wall time it reports CPU
//! time per step, the tool's own and its children's, which a busy machine disturbs far less.

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

/// What one measured run cost: wall time, and CPU time of the tool itself and of the processes it
/// started.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: Duration,
    own_cpu: Duration,
    children_cpu: Duration,
}

/// CPU time (user + system) of this process (`RUSAGE_SELF`, every thread) or of its reaped
/// children (`RUSAGE_CHILDREN`).
fn cpu(who: i32) -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs a tool to its end. Its own CPU time and its children's are read from `/proc/<pid>/stat`
/// once it has exited and before it is reaped (clock ticks: 10 ms here, fine for runs of seconds).
fn time(mut command: Command) -> Cost {
    let start = Instant::now();
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("the command starts");
    // SAFETY: waits for our own child without reaping it; `info` is a valid out-parameter.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(libc::P_PID, child.id(), &mut info, libc::WEXITED | libc::WNOWAIT);
    }
    let wall = start.elapsed();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
    let status = child.wait().expect("the command ends");
    assert!(status.success(), "{command:?} failed");
    // Fields after the command name in parentheses: utime, stime, cutime, cstime are 14–17.
    let fields: Vec<u64> =
        stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let seconds = |a: usize, b: usize| {
        Duration::from_secs_f64(
            (fields.get(a).copied().unwrap_or(0) + fields.get(b).copied().unwrap_or(0)) as f64 / ticks,
        )
    };
    // `fields[0]` is the state (field 3), so field N is at N - 3.
    Cost { wall, own_cpu: seconds(11, 12), children_cpu: seconds(13, 14) }
}

fn weft_run(dir: &Path) -> Cost {
    let _ = std::fs::remove_dir_all(dir.join(".weft"));
    let (own, children) = (cpu(libc::RUSAGE_SELF), cpu(libc::RUSAGE_CHILDREN));
    let start = Instant::now();
    let run = weft::engine::start(
        &dir.join("bench.plan.yaml"),
        weft::engine::StartOptions {
            selection: Default::default(),
            allow_concurrent: false,
            sink: None,
            session: None,
            executor: None,
            metrics: None,
        },
    )
    .expect("the run starts");
    let status = run.wait().expect("the run finishes");
    let wall = start.elapsed();
    assert_eq!(status, "succeeded");
    Cost { wall, own_cpu: cpu(libc::RUSAGE_SELF) - own, children_cpu: cpu(libc::RUSAGE_CHILDREN) - children }
}

/// The raw cost of starting and reaping `/bin/true` two at a time.
fn spawn_floor(count: usize) -> Cost {
    let (own, children) = (cpu(libc::RUSAGE_SELF), cpu(libc::RUSAGE_CHILDREN));
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
    Cost {
        wall: start.elapsed(),
        own_cpu: cpu(libc::RUSAGE_SELF) - own,
        children_cpu: cpu(libc::RUSAGE_CHILDREN) - children,
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
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
    let rounds: usize = std::env::var("WEFT_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let load =
        || std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').next().unwrap_or("?").to_owned();
    println!(
        "engine vs ninja -j2 vs make -j2, {rounds} rounds (one of each tool per round), folder {}",
        base.display()
    );
    println!("wall time per step, median over rounds; weft/ninja is the median of each round's ratio (lowest–highest)");
    println!(
        "{:>7}  {:>12}  {:>12}  {:>12}  {:>12}  {:>17}  {:>9}",
        "steps", "weft", "ninja -j2", "make -j2", "spawn floor", "weft/ninja", "load"
    );
    let mut cpu_rows = Vec::new();
    for size in sizes {
        let dir = base.join(format!("weft-engine-bench-{size}"));
        write_inputs(&dir, &dag(size));
        let load_before = load();
        let (mut weft, mut ninja, mut make, mut floor, mut ratios) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // Interleaved, so a change of load on this shared machine falls on every tool alike.
        for _ in 0..rounds {
            let w = weft_run(&dir);
            weft.push(w);
            if installed("ninja") {
                let _ = std::fs::remove_file(dir.join(".ninja_log"));
                let mut command = Command::new("ninja");
                command.args(["-j2", "-C"]).arg(&dir);
                let n = time(command);
                ratios.push(w.wall.as_secs_f64() / n.wall.as_secs_f64());
                ninja.push(n);
            }
            if installed("make") {
                let mut command = Command::new("make");
                command.args(["-j2", "-s", "-C"]).arg(&dir);
                make.push(time(command));
            }
            floor.push(spawn_floor(size));
        }
        let per_step = |d: Duration| format!("{:.0} µs/step", d.as_secs_f64() * 1e6 / size as f64);
        let wall = |costs: &[Cost]| {
            if costs.is_empty() {
                "n/a".to_owned()
            } else {
                per_step(median(costs.iter().map(|c| c.wall).collect()))
            }
        };
        let ratio = if ratios.is_empty() {
            "n/a".to_owned()
        } else {
            let lowest = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let highest = ratios.iter().copied().fold(0.0, f64::max);
            format!("{:.2} ({lowest:.2}–{highest:.2})", median_f64(ratios))
        };
        println!(
            "{size:>7}  {:>12}  {:>12}  {:>12}  {:>12}  {ratio:>17}  {:>9}",
            wall(&weft),
            wall(&ninja),
            wall(&make),
            wall(&floor),
            format!("{load_before}→{}", load())
        );
        let cpu = |costs: &[Cost]| {
            if costs.is_empty() {
                "n/a".to_owned()
            } else {
                format!(
                    "{:>4.0} + {:>4.0}",
                    median(costs.iter().map(|c| c.own_cpu).collect()).as_secs_f64() * 1e6 / size as f64,
                    median(costs.iter().map(|c| c.children_cpu).collect()).as_secs_f64() * 1e6 / size as f64
                )
            }
        };
        cpu_rows.push(format!(
            "{size:>7}  {:>12}  {:>12}  {:>12}  {:>12}",
            cpu(&weft),
            cpu(&ninja),
            cpu(&make),
            cpu(&floor)
        ));
        // The history holds every attempt of the last round.
        let store = weft::store::Store::open(&dir).unwrap();
        let run = store.runs(None, 1).unwrap().remove(0);
        assert_eq!(store.attempts(run.id, None).unwrap().len(), size);
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("CPU time per step in µs, median: the tool's own + its child processes'");
    println!("{:>7}  {:>12}  {:>12}  {:>12}  {:>12}", "steps", "weft", "ninja -j2", "make -j2", "spawn floor");
    for row in cpu_rows {
        println!("{row}");
    }
}
