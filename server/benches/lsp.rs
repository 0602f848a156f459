//! `weft lsp` driven over stdio like an editor: time from `didOpen` to the first
//! `publishDiagnostics`, from each single-character `didChange` to the next `publishDiagnostics`,
//! completion latency inside `depends_on: [`, and the server's peak RSS, on generated workflows of
//! 1,000 and 10,000 stages.
//!
//! Then the run views: `codeLens` and `inlayHint` latency on plans of 100 and 1,000 no-op steps
//! with a real history (the plan run 10 times with `weft run` first), as the editor asks for them
//! after every keystroke and every run event.
//!
//! `cargo bench --bench lsp` (sizes: `WEFT_BENCH_SIZES=1000,10000`; keystrokes: `WEFT_BENCH_EDITS`;
//! run views: `WEFT_BENCH_LENS_SIZES=100,1000`, `WEFT_BENCH_LENS_RUNS=10`; another build of `weft`
//! to measure: `WEFT_BENCH_BIN`).

#[path = "generate.rs"]
#[allow(dead_code)]
mod generate;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
}

impl Server {
    fn start(root: &std::path::Path) -> Server {
        let mut child = Command::new(weft_binary())
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("weft lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut server = Server { child, stdin, stdout, next_id: 0 };
        let uri = format!("file://{}", root.display());
        server.request("initialize", json!({ "processId": null, "rootUri": uri, "capabilities": {} }));
        server.notify("initialized", json!({}));
        server
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{}", body.len(), body).unwrap();
        self.stdin.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("Content-Length: ") {
                length = value.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.read();
            if message["id"] == id && message.get("method").is_none() {
                return message["result"].clone();
            }
        }
    }

    /// Waits for the diagnostics of `uri` at `version`.
    fn diagnostics(&mut self, uri: &str, version: i64) -> Value {
        loop {
            let message = self.read();
            if message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == uri
                && message["params"]["version"] == version
            {
                return message["params"].clone();
            }
        }
    }

    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

/// The `weft` under test: this build's, or `WEFT_BENCH_BIN` (to compare two builds in one run).
fn weft_binary() -> std::path::PathBuf {
    std::env::var_os("WEFT_BENCH_BIN").map_or_else(|| env!("CARGO_BIN_EXE_weft").into(), Into::into)
}

fn percentile(values: &mut [Duration], fraction: f64) -> Duration {
    values.sort();
    values[((values.len() as f64 - 1.0) * fraction).round() as usize]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Line and UTF-16 column of a byte offset (the generated text is ASCII).
fn position(text: &str, offset: usize) -> Value {
    let line = text[..offset].matches('\n').count();
    let column = offset - text[..offset].rfind('\n').map_or(0, |n| n + 1);
    json!({ "line": line, "character": column })
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    editing();
    run_views();
}

/// `codeLens` and `inlayHint` on a plan with a history: each request's latency, p50 / p95.
fn run_views() {
    let sizes: Vec<usize> = std::env::var("WEFT_BENCH_LENS_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1_000]);
    let runs: usize = std::env::var("WEFT_BENCH_LENS_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(10);
    let requests: usize = std::env::var("WEFT_BENCH_EDITS").ok().and_then(|n| n.parse().ok()).unwrap_or(60);
    println!();
    println!("run views over stdio: {requests} requests each, on a plan run {runs} times (p50 / p95)");
    println!("{:>7}  {:>9}  {:>21}  {:>21}", "steps", "attempts", "codeLens", "inlayHint");
    for size in sizes {
        let root = std::env::temp_dir().join(format!("weft-lsp-lens-bench-{size}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut plan = String::from("plan_id: lens_bench\nglobals:\n  max_concurrency: 2\nsteps:\n");
        for i in 0..size {
            let deps = if i == 0 { String::new() } else { format!("s{}", i / 2) };
            plan.push_str(&format!("  - {{ id: s{i}, command: \"true\", depends_on: [{deps}] }}\n"));
        }
        let path = root.join("bench.plan.yaml");
        std::fs::write(&path, &plan).unwrap();
        for _ in 0..runs {
            let status = Command::new(weft_binary())
                .args(["run", "bench.plan.yaml"])
                .current_dir(&root)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("weft run starts");
            assert!(status.success(), "the bench plan runs");
        }
        let uri = format!("file://{}", path.display());
        let mut server = Server::start(&root);
        server.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "yaml", "version": 1, "text": plan } }),
        );
        server.diagnostics(&uri, 1);
        let mut lenses = Vec::new();
        let mut hints = Vec::new();
        for _ in 0..requests {
            let start = Instant::now();
            let result = server.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri } }));
            lenses.push(start.elapsed());
            // A run button and a last result for every step, at least.
            assert!(result.as_array().unwrap().len() > 2 * size, "lenses show the history");
            let start = Instant::now();
            let end = position(&plan, plan.len());
            let result = server.request(
                "textDocument/inlayHint",
                json!({ "textDocument": { "uri": uri }, "range": { "start": { "line": 0, "character": 0 }, "end": end } }),
            );
            hints.push(start.elapsed());
            assert!(result.as_array().unwrap().iter().any(|h| h["label"].as_str().unwrap_or("").contains('✓')));
        }
        server.request("shutdown", Value::Null);
        server.notify("exit", Value::Null);
        let _ = server.child.wait();
        let _ = std::fs::remove_dir_all(&root);
        println!(
            "{size:>7}  {:>9}  {:>9} / {:>9}  {:>9} / {:>9}",
            size * runs,
            ms(percentile(&mut lenses, 0.5)),
            ms(percentile(&mut lenses, 0.95)),
            ms(percentile(&mut hints, 0.5)),
            ms(percentile(&mut hints, 0.95)),
        );
    }
}

/// Opening, typing and completing in generated workflows of 1,000 and 10,000 stages.
fn editing() {
    let sizes: Vec<usize> = std::env::var("WEFT_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let edits: usize = std::env::var("WEFT_BENCH_EDITS").ok().and_then(|n| n.parse().ok()).unwrap_or(60);
    println!("weft lsp over stdio: {edits} keystrokes and completions per size (p50 / p95)");
    println!(
        "{:>7}  {:>9}  {:>10}  {:>21}  {:>21}  {:>9}",
        "stages", "file", "open→diag", "keystroke→diag", "completion", "peak RSS"
    );
    for size in sizes {
        let root = std::env::temp_dir().join(format!("weft-lsp-bench-{size}-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("weft.yaml"), generate::config()).unwrap();
        let mut text = generate::workflow(size);
        let path = root.join("big.workflow.yaml");
        std::fs::write(&path, &text).unwrap();
        let uri = format!("file://{}", path.display());
        let mut server = Server::start(&root);

        let start = Instant::now();
        server.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "yaml", "version": 1, "text": text } }),
        );
        let first = server.diagnostics(&uri, 1);
        let open = start.elapsed();
        assert_eq!(first["diagnostics"], json!([]), "the generated workflow is clean");

        // Keystrokes in the name of a stage in the middle of the file: type a character, delete it.
        let anchor = text.find(&"name: ".to_string()).unwrap() + "name: ".len();
        let middle = text[text.len() / 2..].find("name: ").unwrap() + text.len() / 2 + "name: ".len();
        let at = if size > 1 { middle } else { anchor };
        let mut keystrokes = Vec::new();
        for edit in 0..edits {
            let version = 2 + edit as i64;
            let (range, new_text) = if edit % 2 == 0 {
                (json!({ "start": position(&text, at), "end": position(&text, at) }), "x")
            } else {
                (json!({ "start": position(&text, at), "end": position(&text, at + 1) }), "")
            };
            if new_text.is_empty() {
                text.replace_range(at..at + 1, "");
            } else {
                text.insert_str(at, new_text);
            }
            let start = Instant::now();
            server.notify(
                "textDocument/didChange",
                json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "range": range, "text": new_text }] }),
            );
            server.diagnostics(&uri, version);
            keystrokes.push(start.elapsed());
        }

        // Completion right after `depends_on: [` of a stage near the end.
        let list = text.rfind("depends_on: [").unwrap() + "depends_on: [".len();
        let mut completions = Vec::new();
        for _ in 0..edits {
            let start = Instant::now();
            let result = server.request(
                "textDocument/completion",
                json!({ "textDocument": { "uri": uri }, "position": position(&text, list) }),
            );
            completions.push(start.elapsed());
            assert!(!result["items"].as_array().unwrap().is_empty());
        }
        let rss = server.peak_rss_mb();
        server.request("shutdown", Value::Null);
        server.notify("exit", Value::Null);
        let _ = server.child.wait();
        let _ = std::fs::remove_dir_all(&root);
        println!(
            "{size:>7}  {:>6} KB  {:>10}  {:>9} / {:>9}  {:>9} / {:>9}  {:>6.0} MB",
            text.len() / 1024,
            ms(open),
            ms(percentile(&mut keystrokes, 0.5)),
            ms(percentile(&mut keystrokes, 0.95)),
            ms(percentile(&mut completions, 0.5)),
            ms(percentile(&mut completions, 0.95)),
            rss
        );
    }
}
