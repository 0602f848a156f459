//! Analyses one file as the language server would, and prints how long it took and what it found:
//! `cargo run --release --example analyse_file -- FILE [NAME]` (NAME, e.g. `x.plan.json`, sets the file
//! kind when the file's own name does not). For a profiler: `perf record -g target/release/examples/analyse_file FILE`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
weft::configure_allocator!();

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: analyse_file FILE [NAME]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        eprintln!("{path}: {error}");
        std::process::exit(2);
    });
    let name = args.next().unwrap_or_else(|| {
        std::path::Path::new(&path).file_name().map_or("x.workflow.yaml".into(), |n| n.to_string_lossy().into_owned())
    });
    let key = std::path::Path::new("/analyse").join(name);
    let mut workspace = weft::analysis::Workspace::new();
    let start = std::time::Instant::now();
    workspace.set(key.clone(), key.clone(), text);
    let diagnostics = workspace.check(&key);
    println!("{} diagnostics in {:.1} ms", diagnostics.len(), start.elapsed().as_secs_f64() * 1000.0);
    for diagnostic in diagnostics.iter().take(5) {
        println!("  [{}] {}", diagnostic.code.as_str(), diagnostic.message.chars().take(160).collect::<String>());
    }
}
