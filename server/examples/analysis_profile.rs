//! Runs the full analysis of a generated 10,000-stage workflow in a loop, for a profiler:
//! `perf record -g cargo run --release --example analysis_profile`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
weft::configure_allocator!();

#[path = "../benches/generate.rs"]
#[allow(dead_code)]
mod generate;

fn main() {
    let stages: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = std::path::PathBuf::from("/bench");
    let text = generate::workflow(stages);
    let mut workspace = weft::analysis::Workspace::new();
    workspace.set(dir.join("weft.yaml"), "weft.yaml".into(), generate::config());
    // As the language server does it: the previous tree is dropped on another thread.
    let (dropper, old_documents) = std::sync::mpsc::channel();
    std::thread::spawn(move || old_documents.iter().for_each(drop::<Option<std::sync::Arc<weft::analysis::Document>>>));
    let mut elapsed = std::time::Duration::ZERO;
    for _ in 0..rounds {
        let copy = text.clone();
        // Each round is a first analysis: no stage's schema diagnostics are cached.
        workspace.clear_schema_caches();
        let start = std::time::Instant::now();
        // Removed first, so the whole file is parsed (an edit inside one stage would reparse that
        // stage alone).
        let old = workspace.remove(&dir.join("big.workflow.yaml"));
        let _ = dropper.send(old);
        workspace.set(dir.join("big.workflow.yaml"), "big.workflow.yaml".into(), copy);
        let diagnostics = workspace.check(&dir.join("big.workflow.yaml"));
        elapsed += start.elapsed();
        assert!(diagnostics.is_empty(), "{:?}", diagnostics.first());
    }
    println!(
        "{stages} stages: {:.1} ms per analysis (parse, line index, check)",
        elapsed.as_secs_f64() * 1000.0 / rounds as f64
    );
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(weft::syntax::parse(&text));
    }
    println!("  parse alone: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0 / rounds as f64);
    let mut elapsed = std::time::Duration::ZERO;
    for _ in 0..rounds {
        workspace.clear_schema_caches();
        let start = std::time::Instant::now();
        std::hint::black_box(workspace.check(&dir.join("big.workflow.yaml")));
        elapsed += start.elapsed();
    }
    println!("  check alone: {:.1} ms", elapsed.as_secs_f64() * 1000.0 / rounds as f64);
    // A keystroke: one character more in the name of the middle stage, the cache warm from the
    // version before, so that stage alone is validated against the schema again.
    let marker = format!("  - id: stage_{:05}\n    name: ", stages / 2);
    let at = text.find(&marker).map_or(0, |at| at + marker.len());
    workspace.check(&dir.join("big.workflow.yaml"));
    let (mut set, mut check) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for round in 0..rounds {
        let edited = format!("{}{round}{}", &text[..at], &text[at..]);
        let start = std::time::Instant::now();
        let (_, old) = workspace.replace(dir.join("big.workflow.yaml"), "big.workflow.yaml".into(), edited);
        let _ = dropper.send(old);
        let parsed = std::time::Instant::now();
        std::hint::black_box(workspace.check(&dir.join("big.workflow.yaml")));
        set += parsed - start;
        check += parsed.elapsed();
    }
    println!(
        "  keystroke (warm cache): {:.1} ms, of which check {:.1} ms",
        (set + check).as_secs_f64() * 1000.0 / rounds as f64,
        check.as_secs_f64() * 1000.0 / rounds as f64
    );
    let document = workspace.document(&dir.join("big.workflow.yaml")).unwrap().clone();
    let root = document.parse.root.as_ref().unwrap();
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(root.to_json());
    }
    println!("  to_json alone: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0 / rounds as f64);
}
