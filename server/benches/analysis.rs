//! Full analysis of generated workflows of 100, 1,000 and 10,000 stages.
//!
//! `cargo bench --bench analysis` (add `-- full/` etc. to filter). The groups:
//!
//! - `full`: `Workspace::set` (parse) + `Workspace::check` (schema, graph, all checks) of the
//!   workflow in a workspace that already holds its `weft.yaml`: the whole file analysed from
//!   scratch. The previous version of the document is removed and dropped inside the timing, which
//!   also drops its cache of stages' schema diagnostics, so nothing is reused.
//! - `keystroke`: `set` + `check` after a one-character edit in the `name` of one stage in the
//!   middle of the file: only that stage is parsed again, and with the cache warm from the previous
//!   version only that stage is validated against the schema: what a keystroke in the editor costs.
//!   Each iteration types a different text there, so that stage is never in the cache.
//! - `parse`: `weft::syntax::parse` of the text alone.
//! - `check`: `Workspace::check` of an already-parsed workflow, from scratch (cache emptied before
//!   each iteration, outside the timing).
//! - `phases` (1,000 and 10,000 stages): the public steps inside `check`, timed alone, so that
//!   `docs/PERFORMANCE.md` can say where the time goes: the tree's JSON copy (`to_json`), the schema
//!   validation (`schema`, which includes its `to_json`), the model (`model`), the dependency graph
//!   (`graph`) and dropping a parsed tree (`drop_tree`, part of `full`, which drops the document it
//!   replaces). The pipeline checks are not public; their cost is `check` minus `schema`, `model`
//!   and `graph`.
//!
//! Generated files and the targets are described in `docs/PERFORMANCE.md`.

use std::cell::Cell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use weft::analysis::graph::StepGraph;
use weft::analysis::schema::check_schema;
use weft::analysis::Workspace;
use weft::model::{FileKind, Pipeline, PipelineKind};

mod generate;

// The same allocator as the `weft` binary (see `src/main.rs`), so the figures are what the
// language server pays.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
weft::configure_allocator!();

const SIZES: [usize; 3] = [100, 1_000, 10_000];

struct Case {
    stages: usize,
    config: String,
    workflow: String,
}

fn dir() -> PathBuf {
    PathBuf::from("/bench")
}

fn workflow_key() -> PathBuf {
    dir().join("big.workflow.yaml")
}

fn workspace(case: &Case) -> Workspace {
    let mut ws = Workspace::new();
    ws.set(dir().join("weft.yaml"), "weft.yaml".into(), case.config.clone());
    ws.set(workflow_key(), "big.workflow.yaml".into(), case.workflow.clone());
    ws
}

/// Generates a case and asserts that both files analyse cleanly, so the bench measures the path
/// a correct file takes and not error reporting.
fn case(stages: usize) -> Case {
    let case = Case { stages, config: generate::config(), workflow: generate::workflow(stages) };
    let ws = workspace(&case);
    for key in [workflow_key(), dir().join("weft.yaml")] {
        let diagnostics = ws.check(&key);
        assert!(
            diagnostics.is_empty(),
            "{} of the {stages}-stage case has {} diagnostics, first: {:?}",
            key.display(),
            diagnostics.len(),
            diagnostics.first()
        );
    }
    eprintln!(
        "{stages:>6} stages: workflow {:>9} bytes ({:.0} bytes/stage), weft.yaml {} bytes, 0 diagnostics",
        case.workflow.len(),
        case.workflow.len() as f64 / stages as f64,
        case.config.len()
    );
    case
}

/// The workflow's text cut inside the `name` of its middle stage, where the keystroke bench types.
fn split_at_middle_stage_name(case: &Case) -> (&str, &str) {
    let stage = format!("  - id: stage_{:05}\n    name: ", case.stages / 2);
    let at = case.workflow.find(&stage).expect("the middle stage") + stage.len();
    case.workflow.split_at(at)
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, case: &Case) {
    group.throughput(Throughput::Bytes(case.workflow.len() as u64));
    if case.stages >= 10_000 {
        group.sample_size(20);
    }
}

fn benches(c: &mut Criterion) {
    let cases: Vec<Case> = SIZES.iter().map(|&stages| case(stages)).collect();
    let key = workflow_key();

    let mut full = c.benchmark_group("full");
    for case in &cases {
        configure(&mut full, case);
        full.bench_with_input(BenchmarkId::from_parameter(case.stages), case, |b, case| {
            let mut ws = workspace(case);
            // The text is an owned `String` handed to `set`; copying it is not part of the timing.
            // The old document is removed first: `set` of a text it already holds (or one that
            // differs inside one stage) would reuse the tree instead of parsing the whole file, and
            // `remove` drops the file's schema cache, so every iteration is a first analysis.
            b.iter_batched(
                || case.workflow.clone(),
                |text| {
                    drop(ws.remove(&key));
                    ws.set(key.clone(), "big.workflow.yaml".into(), text);
                    black_box(ws.check(Path::new(&key)))
                },
                BatchSize::PerIteration,
            )
        });
    }
    full.finish();

    let mut keystroke = c.benchmark_group("keystroke");
    for case in &cases {
        configure(&mut keystroke, case);
        keystroke.bench_with_input(BenchmarkId::from_parameter(case.stages), case, |b, case| {
            let mut ws = workspace(case);
            let (before, after) = split_at_middle_stage_name(case);
            ws.set(key.clone(), "big.workflow.yaml".into(), format!("{before}0{after}"));
            assert!(ws.check(&key).is_empty(), "the edited workflow is clean");
            let typed = Cell::new(0_u64);
            b.iter_batched(
                || {
                    typed.set(typed.get() + 1);
                    format!("{before}{}{after}", typed.get())
                },
                |text| {
                    ws.set(key.clone(), "big.workflow.yaml".into(), text);
                    black_box(ws.check(Path::new(&key)))
                },
                BatchSize::PerIteration,
            )
        });
    }
    keystroke.finish();

    let mut parse = c.benchmark_group("parse");
    for case in &cases {
        configure(&mut parse, case);
        parse.bench_with_input(BenchmarkId::from_parameter(case.stages), case, |b, case| {
            b.iter(|| weft::syntax::parse(black_box(&case.workflow)))
        });
    }
    parse.finish();

    let mut check = c.benchmark_group("check");
    for case in &cases {
        configure(&mut check, case);
        check.bench_with_input(BenchmarkId::from_parameter(case.stages), case, |b, case| {
            let ws = workspace(case);
            b.iter_batched(|| ws.clear_schema_caches(), |()| ws.check(black_box(&key)), BatchSize::PerIteration)
        });
    }
    check.finish();

    let mut phases = c.benchmark_group("phases");
    for case in cases.iter().filter(|case| case.stages >= 1_000) {
        configure(&mut phases, case);
        let parse = weft::syntax::parse(&case.workflow);
        let root = parse.root.as_ref().expect("the generated workflow has a root");
        let stages = case.stages;
        phases.bench_function(BenchmarkId::new("to_json", stages), |b| b.iter(|| black_box(root).to_json()));
        phases.bench_function(BenchmarkId::new("schema", stages), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                check_schema(FileKind::Workflow, &case.workflow, black_box(&parse), &mut out);
                out
            })
        });
        phases.bench_function(BenchmarkId::new("model", stages), |b| {
            b.iter(|| Pipeline::read(PipelineKind::Workflow, black_box(root)).map(|p| p.steps.len()))
        });
        let pipeline = Pipeline::read(PipelineKind::Workflow, root).expect("a workflow");
        phases.bench_function(BenchmarkId::new("graph", stages), |b| {
            b.iter(|| StepGraph::build(black_box(&pipeline)).len())
        });
        phases.bench_function(BenchmarkId::new("drop_tree", stages), |b| {
            b.iter_batched(|| weft::syntax::parse(&case.workflow), drop, BatchSize::PerIteration)
        });
    }
    phases.finish();
}

criterion_group! {
    name = analysis;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(analysis);
