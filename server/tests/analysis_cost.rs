//! Analysis cost is a property of every text, not only of the ones a bench measures: whatever a user
//! types (or a file a repository ships), analysing it costs time and memory linear in its size.
//!
//! Each adversarial text is measured against a *normal* file of the same size (a workflow of plain
//! stages, built by [`normal_workflow`]) analysed in the same process, so the budgets hold in debug
//! and release builds alike:
//! - Invariant: an analysis of any text takes at most [`TIME_FACTOR`] times a whole analysis of a
//!   normal file of its size, plus [`TIME_SLACK`] for fixed costs.
//! - Invariant: its peak heap is at most [`MEMORY_FACTOR`] times that of the normal file, plus
//!   [`MEMORY_SLACK`].
//! - A keystroke (an edit analysed after the file was analysed once) is held to the same budget: it
//!   must never cost more than a whole analysis of a same-size normal file.
//!
//! Heap is measured by this binary's own global allocator (counting, over the system allocator), so
//! the cases run one at a time under [`MEASURE`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use weft::analysis::{Code, Diagnostic, Workspace};

const ROOT: &str = "/weft-analysis-cost";
const CONFIG: &str = "plugins:\n  p:\n    command: \"true\"\n";

/// An adversarial text may take this many times a normal file of its size.
const TIME_FACTOR: u32 = 4;
/// Fixed costs (the schema validators are compiled once per process and warmed before measuring).
const TIME_SLACK: Duration = Duration::from_millis(100);
/// An adversarial text may need this many times the peak heap of a normal file of its size. Not 4 as
/// for time: saphyr's scanner keeps every token of a flow collection that starts a document until it
/// closes (it might be a key, `{…}: v`), about 100 bytes per byte of a one-line megabyte mapping
/// against 20 for a normal file. That is linear, and the largest constant here.
const MEMORY_FACTOR: usize = 8;
const MEMORY_SLACK: usize = 16 << 20;

struct CountingAllocator;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only observe.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        moved
    }
}

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Held while a case is measured, so that no other test of this binary allocates meanwhile.
static MEASURE: Mutex<()> = Mutex::new(());

/// What analysing one text cost.
struct Cost {
    time: Duration,
    peak_heap: usize,
    diagnostics: Vec<Diagnostic>,
}

fn key(name: &str) -> PathBuf {
    Path::new(ROOT).join(name)
}

/// A workspace with the project config, ready for `name`.
fn workspace() -> Workspace {
    let mut workspace = Workspace::new();
    let config = key("weft.yaml");
    workspace.set(config.clone(), config, CONFIG.to_owned());
    workspace
}

/// Analyses `text` as the file `name` from scratch: parse, model, schema and semantic checks.
fn analyse(name: &str, text: &str) -> Cost {
    let file = key(name);
    let mut workspace = workspace();
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let started = Instant::now();
    workspace.set(file.clone(), file.clone(), text.to_owned());
    let diagnostics = workspace.check(&file);
    let time = started.elapsed();
    let peak_heap = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    drop(workspace);
    Cost { time, peak_heap, diagnostics }
}

/// Analyses `before`, then `after` as an edit of it (the language server's path), and measures the
/// edit alone.
fn keystroke(name: &str, before: &str, after: &str) -> Cost {
    let file = key(name);
    let mut workspace = workspace();
    workspace.set(file.clone(), file.clone(), before.to_owned());
    workspace.check(&file);
    let start = CURRENT.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    let started = Instant::now();
    let (_, old) = workspace.replace(file.clone(), file.clone(), after.to_owned());
    let diagnostics = workspace.check(&file);
    let time = started.elapsed();
    let peak_heap = PEAK.load(Ordering::Relaxed).saturating_sub(start);
    drop(old);
    Cost { time, peak_heap, diagnostics }
}

/// A workflow of plain stages, each depending on the one before, of at least `bytes` bytes.
fn normal_workflow(bytes: usize) -> String {
    let mut text = String::from("workflow_id: normal\nstages:\n");
    let mut index = 0;
    while text.len() < bytes {
        text.push_str(&format!("  - id: stage{index}\n    script: p\n    timeout_sec: 30\n"));
        if index > 0 {
            text.push_str(&format!("    depends_on: [stage{}]\n", index - 1));
        }
        index += 1;
    }
    text
}

/// The budgets for a text of `bytes` bytes: the time and peak heap of a whole analysis of a normal
/// workflow of that size, times the factors, plus the slack. The slowest of three runs is taken, so
/// that a busy machine makes the budget looser, never tighter.
fn budget(bytes: usize) -> (Duration, usize) {
    let text = normal_workflow(bytes);
    let runs: Vec<Cost> = (0..3).map(|_| analyse("normal.workflow.yaml", &text)).collect();
    let time = runs.iter().map(|cost| cost.time).max().expect("three runs");
    let heap = runs.iter().map(|cost| cost.peak_heap).max().expect("three runs");
    (time * TIME_FACTOR + TIME_SLACK, heap * MEMORY_FACTOR + MEMORY_SLACK)
}

/// Checks one text against the budgets, as a workflow and as a JSON plan.
fn assert_within_budget(what: &str, text: &str) {
    let _guard = MEASURE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Compiles the validators and warms the allocator before anything is measured.
    analyse("warm.workflow.yaml", "workflow_id: w\nstages: []\n");
    analyse("warm.plan.json", "{\"plan_id\": \"p\", \"steps\": []}");
    let (budget, memory) = budget(text.len());
    for name in ["x.workflow.yaml", "x.plan.json"] {
        let cost = analyse(name, text);
        assert!(
            cost.time <= budget,
            "{what} as {name}: analysis took {:?}, over the budget of {budget:?} ({} bytes)",
            cost.time,
            text.len()
        );
        assert!(
            cost.peak_heap <= memory,
            "{what} as {name}: peak heap {} bytes, over the budget of {memory} ({} bytes of text)",
            cost.peak_heap,
            text.len()
        );
        for diagnostic in &cost.diagnostics {
            assert!(diagnostic.span.end <= text.len(), "{what}: a span past the end");
            assert!(diagnostic.message.len() <= 4 * 1024, "{what}: a message of {} bytes", diagnostic.message.len());
        }
    }
}

/// `open` repeated `depth` times, then `tail`: what typing brackets produces.
fn nested(open: &str, depth: usize, tail: &str) -> String {
    format!("{}{tail}", open.repeat(depth))
}

#[test]
fn brackets_typed_into_a_file_cost_what_the_file_costs() {
    let workflow =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/release/release.plan.yaml"))
            .expect("the release example");
    for typed in [nested("{", 25, "\""), nested("[{", 25, ""), nested("{", 199, "\""), nested("[{", 120, "x")] {
        // Typed at the end of the file, and in the middle of a line of it.
        let at_end = format!("{workflow}{typed}");
        let middle = workflow.len() / 2;
        let middle = (0..=middle).rev().find(|&i| workflow.is_char_boundary(i)).unwrap_or(0);
        let inside = format!("{}{typed}{}", &workflow[..middle], &workflow[middle..]);
        for after in [&at_end, &inside] {
            let _guard = MEASURE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            analyse("warm.plan.yaml", &workflow);
            let (budget, memory) = budget(after.len());
            let cost = keystroke("release.plan.yaml", &workflow, after);
            assert!(
                cost.time <= budget,
                "typing {:?}: the keystroke took {:?}, over {budget:?}",
                &typed[..typed.len().min(40)],
                cost.time
            );
            assert!(
                cost.peak_heap <= memory,
                "typing {:?}: the keystroke's peak heap was {} bytes",
                &typed[..typed.len().min(40)],
                cost.peak_heap
            );
            if std::ptr::eq(after, &at_end) {
                assert!(cost.diagnostics.iter().any(|d| d.code == Code::Syntax), "a syntax error is reported");
            }
        }
    }
}

#[test]
fn nesting_up_to_the_limit_is_linear() {
    for open in ["{", "[{", "{a: ", "[", "{[", "- "] {
        for depth in [10, 50, 150, 199, 250] {
            assert_within_budget(&format!("{open:?} × {depth}"), &nested(open, depth, "\""));
            // Closed again: a complete value nested as deep.
            let closed: String = open
                .chars()
                .rev()
                .filter_map(|c| match c {
                    '{' => Some('}'),
                    '[' => Some(']'),
                    _ => None,
                })
                .collect();
            assert_within_budget(
                &format!("{open:?} × {depth}, closed"),
                &format!("{}1{}", open.repeat(depth), closed.repeat(depth)),
            );
        }
    }
}

#[test]
fn mappings_used_as_keys_nested_to_the_limit() {
    // `{{{…: 1}: 1}: 1}`: every key is itself a mapping whose key is a mapping.
    for depth in [20, 100, 199] {
        let text = format!("workflow_id: w\nstages: []\nx: {}1{}\n", "{".repeat(depth), ": 1}".repeat(depth));
        assert_within_budget(&format!("mapping keys × {depth}"), &text);
        let text = format!("workflow_id: w\nstages: []\nx: {}1{}\n", "{[".repeat(depth / 2), "]: 1}".repeat(depth / 2));
        assert_within_budget(&format!("sequence keys × {depth}"), &text);
    }
}

#[test]
fn a_megabyte_single_line_flow_mapping() {
    for (what, entry) in [
        ("string keys", &(|i: usize| format!("key{i}: value{i}")) as &dyn Fn(usize) -> String),
        ("integer keys", &|i: usize| format!("{i}: {i}")),
        ("quoted keys", &|i: usize| format!("\"k{i}\": [{i}, {{a: b}}]")),
        ("mapping keys", &|i: usize| format!("{{k{i}: v}}: {i}")),
        ("one key repeated", &|_| "same: 1".to_owned()),
    ] {
        let mut text = String::from("{");
        let mut index = 0;
        while text.len() < 1_000_000 {
            if index > 0 {
                text.push_str(", ");
            }
            text.push_str(&entry(index));
            index += 1;
        }
        text.push('}');
        assert_within_budget(&format!("a flow mapping of {index} entries with {what}"), &text);
        // The same mapping as a stage's `with:` and as a top-level key of a workflow.
        let text = format!("workflow_id: w\nstages:\n  - id: a\n    script: p\n    with: {text}\n");
        assert_within_budget(&format!("a `with:` of {index} entries with {what}"), &text);
    }
}

#[test]
fn a_megabyte_key() {
    let big: String = (0..50_000).map(|i| format!("k{i}: [v], ")).collect();
    for key in [format!("{{{big}}}"), "k".repeat(1_000_000), format!("[{}]", "{a: b}, ".repeat(100_000))] {
        let text = format!("workflow_id: w\nstages: []\n{key}: 1\n? {key}\n: 2\n");
        assert_within_budget(&format!("a key of {} bytes", key.len()), &text);
    }
}

#[test]
fn long_lines_of_every_kind() {
    for line in [
        format!("# {}", "comment ".repeat(120_000)),
        format!("description: {}", "word ".repeat(200_000)),
        format!("description: \"{}\"", "\\u00e9\\n".repeat(150_000)),
        format!("description: '{}'", "it''s ".repeat(150_000)),
        format!("description: {}", "🦀漢é\u{301}".repeat(80_000)),
        format!("depends_on: [{}]", (0..120_000).map(|i| format!("s{i}")).collect::<Vec<_>>().join(", ")),
        format!("stages: [{}]", "{id: a, script: p}, ".repeat(50_000)),
    ] {
        let text = format!("workflow_id: w\n{line}\nstages: []\n");
        assert_within_budget(&format!("a line of {} bytes starting {:?}", line.len(), &line[..20]), &text);
    }
}

#[test]
fn many_anchors_and_aliases() {
    // Ten thousand anchors, each aliased many times.
    let mut text = String::from("workflow_id: w\nstages:\n");
    for i in 0..10_000 {
        text.push_str(&format!("  - id: &a{i} s{i}\n    script: &p{i} p\n"));
        if i > 0 {
            text.push_str(&format!("    depends_on: [*a{}, *a{}, *a{}]\n", i - 1, i / 2, i / 3));
        }
    }
    assert_within_budget("ten thousand anchors", &text);

    // A large anchored mapping aliased hundreds of times: expansion is what a bomb exploits.
    let big: String = (0..2_000).map(|i| format!("k{i}: v{i}, ")).collect();
    let mut text = format!("workflow_id: w\nbase: &base {{{big}}}\nstages:\n");
    for i in 0..500 {
        text.push_str(&format!("  - id: s{i}\n    script: p\n    with: *base\n"));
    }
    assert_within_budget("a large mapping aliased 500 times", &text);

    // Anchors nested in anchors around a large value: each anchor would copy all that is inside it.
    let inner: String = (0..20_000).map(|i| format!("k{i}: [a, b], ")).collect();
    let text = format!(
        "workflow_id: w\nstages: []\nx: {}{{{inner}}}{}\n",
        "&n [".repeat(190).replace("&n", "&n0"),
        "]".repeat(190)
    );
    let text = (0..190).fold(text, |text, i| text.replacen("&n0 ", &format!("&n{i}x "), 1));
    assert_within_budget("190 anchors nested around a large mapping", &text);

    // Merge keys chained through every stage.
    let mut text = String::from("workflow_id: w\nstages:\n  - &s0\n    id: s0\n    script: p\n");
    for i in 1..5_000 {
        text.push_str(&format!("  - &s{i}\n    <<: *s{}\n    id: s{i}\n", i - 1));
    }
    assert_within_budget("merge keys chained 5,000 deep", &text);
}

#[test]
fn many_duplicate_and_unknown_keys() {
    let mut text = String::from("workflow_id: w\nstages:\n  - id: a\n    script: p\n");
    for i in 0..40_000 {
        text.push_str(&format!("    unknown{}: 1\n    unknown{}: 2\n", i % 500, i));
    }
    assert_within_budget("eighty thousand keys in one stage, many duplicated", &text);
}

/// A phase template of ten thousand phases, each naming the one before in a validation expression
/// (and a phase that does not exist), with placeholders right and misspelt and commands with open
/// quotes, costs what a workflow of its size costs: phase ids are looked up, never searched for.
#[test]
fn a_large_phase_template_costs_what_a_workflow_costs() {
    let mut text = String::from("template_id: large\nphases:\n");
    for index in 0..10_000usize {
        text.push_str(&format!(
            "  - id: phase{index}\n    goal: Phase {index}\n    artifacts:\n      required: [\"docs/{{task}}/{index}.md\", \"docs/{{taks}}/{index}.md\"]\n    validation:\n      - \"phases.phase{}.status == 'completed' && phases.nowhere{index}.status == 'done'\"\n      - {{ run: \"grep -q 'x docs/{{Task}}/{index}.md\", message: m }}\n    next_step: Go on\n",
            index.saturating_sub(1)
        ));
    }
    let _guard = MEASURE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    analyse("warm.workflow.yaml", "workflow_id: w\nstages: []\n");
    analyse("warm.phases.yaml", "template_id: w\nphases: [{id: a}]\n");
    let (budget, memory) = budget(text.len());
    let cost = analyse("x.phases.yaml", &text);
    assert!(cost.time <= budget, "analysis took {:?}, over the budget of {budget:?}", cost.time);
    assert!(cost.peak_heap <= memory, "peak heap {} bytes, over the budget of {memory}", cost.peak_heap);
    let count = |code: Code| cost.diagnostics.iter().filter(|d| d.code == code).count();
    assert_eq!(count(Code::UnknownPlaceholder), 20_000);
    assert_eq!(count(Code::InvalidExpression), 30_000, "an unknown phase, a bad status and an open quote each");
}

/// Ten thousand stages with `executor_options`, each running locally (so each is warned about),
/// cost what a workflow of their size costs: where a stage runs is settled in one pass.
#[test]
fn many_stages_with_unused_executor_options() {
    let mut text = String::from(
        "workflow_id: w\ndefaults:\n  executor: local\n  executor_options: { partition: batch }\nstages:\n",
    );
    for index in 0..10_000usize {
        text.push_str(&format!(
            "  - id: s{index}\n    script: p\n    executor: {}\n    executor_options: {{ cpus: 2, memory: 4G, extra_args: [\"--qos=high\"] }}\n",
            if index % 2 == 0 { "local" } else { "slurn" }
        ));
    }
    assert_within_budget("ten thousand stages with executor options", &text);
}
