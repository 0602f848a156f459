//! Runs the full analysis of a generated 10,000-stage workflow in a loop, for a profiler:
//! `perf record -g cargo run --release --example analysis_profile`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(workspace.check(&dir.join("big.workflow.yaml")));
    }
    println!("  check alone: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0 / rounds as f64);
    let document = workspace.document(&dir.join("big.workflow.yaml")).unwrap().clone();
    let root = document.parse.root.as_ref().unwrap();
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(root.to_json());
    }
    println!("  to_json alone: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0 / rounds as f64);
}
