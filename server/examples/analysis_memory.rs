//! Peak memory of one full analysis (`Workspace::set` + `Workspace::check`) of the generated
//! workflows of 1,000 and 10,000 stages that `cargo bench --bench analysis` times.
//!
//! `cargo run --release --example analysis_memory`
//!
//! A counting global allocator tracks the live heap and its peak. The headline figure is the peak
//! of the live heap during `set` + `check` above what was live before the workflow's text was made,
//! so it counts the text itself (the workspace owns it), its tree, the model, the graph, the
//! schema cache and everything the checks allocate; it is also split into what
//! the parsed document keeps and how far `check` rises above that. Peak RSS (VmHWM) is read from
//! /proc/self/status, reset before each size through /proc/self/clear_refs where allowed. The time
//! printed is one cold run under the counting allocator, not the benchmark figure.

use std::alloc::{GlobalAlloc, Layout};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use weft::analysis::Workspace;

#[path = "../benches/generate.rs"]
mod generate;

/// Counts around the allocator the `weft` binary uses (see `src/main.rs`), so RSS is comparable.
struct Counting;

static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn grew(by: usize) {
        let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrank(by: usize) {
        CURRENT.fetch_sub(by, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { INNER.alloc(layout) };
        if !pointer.is_null() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            Counting::grew(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { INNER.alloc_zeroed(layout) };
        if !pointer.is_null() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            Counting::grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { INNER.dealloc(pointer, layout) };
        Counting::shrank(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { INNER.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            if new_size >= layout.size() {
                Counting::grew(new_size - layout.size());
            } else {
                Counting::shrank(layout.size() - new_size);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;
weft::configure_allocator!();

/// Starts a new peak at the current live heap.
fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// A `Vm*:` field of /proc/self/status, in bytes.
fn proc_status(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kb: usize = line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); false when not allowed.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn main() {
    let dir = PathBuf::from("/bench");
    let config_key = dir.join("weft.yaml");
    let workflow_key = dir.join("big.workflow.yaml");

    // Warm-up: the bundled schemas and the plugins' `inputs` validators are compiled once per
    // process (statics and a cache); that one-time cost is not part of a keystroke.
    {
        let mut ws = Workspace::new();
        ws.set(config_key.clone(), "weft.yaml".into(), generate::config());
        ws.set(workflow_key.clone(), "big.workflow.yaml".into(), generate::workflow(100));
        for key in [&workflow_key, &config_key] {
            let diagnostics = ws.check(key);
            assert!(diagnostics.is_empty(), "{}: {diagnostics:?}", key.display());
        }
    }
    let config = generate::config();

    println!(
        "{:>7} | {:>8} | {:>10} | {:>6} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>6} | {:>9} | {:>8}",
        "stages",
        "file",
        "peak heap",
        "× file",
        "after set",
        "check +",
        "RSS before",
        "VmHWM",
        "RSS +",
        "× file",
        "allocs",
        "time"
    );
    for stages in [1_000, 10_000] {
        let mut ws = Workspace::new();
        ws.set(config_key.clone(), "weft.yaml".into(), config.clone());

        let before_text = CURRENT.load(Ordering::Relaxed);
        let text = generate::workflow(stages);
        let file = text.len();
        // The generator over-allocates a little; the text is shrunk so it counts as its length.
        let text = text.into_boxed_str().into_string();
        let hwm_reset = reset_hwm();
        let rss_before = proc_status("VmRSS:").unwrap_or(0);
        let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);

        let started = Instant::now();
        reset_peak();
        ws.set(workflow_key.clone(), "big.workflow.yaml".into(), text);
        let peak_set = PEAK.load(Ordering::Relaxed) - before_text;
        // What the workspace keeps for this file: the text and its tree.
        let after_set = CURRENT.load(Ordering::Relaxed) - before_text;
        let check_base = reset_peak();
        let diagnostics = ws.check(&workflow_key);
        let check_peak = PEAK.load(Ordering::Relaxed) - check_base;
        let elapsed = started.elapsed();

        let peak = peak_set.max(after_set + check_peak);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
        assert!(diagnostics.is_empty(), "{stages} stages: {} diagnostics", diagnostics.len());
        let hwm = proc_status("VmHWM:").unwrap_or(0);
        println!(
            "{:>7} | {:>8} | {:>10} | {:>5.1}× | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>5.1}× | {:>9} | {:>5.1} ms{}",
            stages,
            format!("{:.0} KB", file as f64 / 1000.0),
            mib(peak),
            peak as f64 / file as f64,
            mib(after_set),
            mib(check_peak),
            mib(rss_before),
            mib(hwm),
            mib(hwm.saturating_sub(rss_before)),
            hwm.saturating_sub(rss_before) as f64 / file as f64,
            allocations,
            elapsed.as_secs_f64() * 1e3,
            if hwm_reset { "" } else { " (VmHWM not reset)" },
        );
        drop(diagnostics);
        drop(ws);
    }
    println!(
        "peak heap: highest live heap during set + check, above the heap before the text existed (so it\n\
         counts the text, which the workspace owns); after set: live heap for the document once parsed\n\
         (text + tree); check +: the highest the heap rose above that during check; RSS before / VmHWM:\n\
         resident set before the analysis and its peak during it (whole process: binary, allocator caches);\n\
         RSS +: VmHWM - RSS before, what the analysis added to the resident set; time: one cold run under\n\
         the counting allocator, not a benchmark figure."
    );
}
