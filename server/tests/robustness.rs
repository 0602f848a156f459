//! Hostile and pathological inputs through the whole analysis.
//!
//! Every case is analysed twice in a [`Workspace`]: as a workflow (`x.workflow.yaml`, with a
//! `weft.yaml` beside it) and as a plan (`x.plan.yaml`, and `x.plan.json`, which is read as strict
//! JSON, so only its spans are checked). Each run must not panic, every span it
//! reports (the diagnostic's own, its related places and its fix edits) must lie inside the text of
//! the file it points into and on `char` boundaries, and the answer must make sense for the input.
//! Deep inputs run on a thread with the 2 MiB stack test threads get, to prove nothing recurses on
//! the depth of the input.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use weft::analysis::{Code, Diagnostic, Workspace};
use weft::syntax::Span;

const ROOT: &str = "/weft-robustness";
const CONFIG: &str = "plugins:\n  p:\n    command: \"true\"\n  q:\n    run: echo q\n";
const STACK: usize = 2 * 1024 * 1024;

/// What one analysis found, for the assertions of a case.
struct Checked {
    /// The file's own diagnostics.
    diagnostics: Vec<Diagnostic>,
    /// The diagnostics of the `weft.yaml` beside it (only set for workflows).
    config: Vec<Diagnostic>,
}

impl Checked {
    fn codes(&self) -> Vec<&'static str> {
        self.diagnostics.iter().map(|d| d.code.as_str()).collect()
    }

    fn has(&self, code: Code) -> bool {
        self.diagnostics.iter().any(|d| d.code == code)
    }

    fn count(&self, code: Code) -> usize {
        self.diagnostics.iter().filter(|d| d.code == code).count()
    }

    fn describe(&self) -> String {
        self.diagnostics
            .iter()
            .take(20)
            .map(|d| format!("{}@{}..{}: {}", d.code.as_str(), d.span.start, d.span.end, truncate(&d.message, 200)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

fn check_span(what: &str, text: &str, span: Span) {
    assert!(span.start <= span.end, "{what}: reversed span {span:?}");
    assert!(span.end <= text.len(), "{what}: span {span:?} is past the end of the text ({} bytes)", text.len());
    assert!(
        text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
        "{what}: span {span:?} is not on char boundaries"
    );
}

/// Every span of every diagnostic of `file` lies in the text of the file it points into.
fn check_spans(file: &Path, diagnostics: &[Diagnostic], texts: &HashMap<PathBuf, &str>) {
    let own = texts[file];
    for diagnostic in diagnostics {
        let what = format!("{} [{}] {}", file.display(), diagnostic.code.as_str(), truncate(&diagnostic.message, 120));
        check_span(&what, own, diagnostic.span);
        for related in &diagnostic.related {
            let text = match &related.location.file {
                None => own,
                Some(path) => *texts.get(path).unwrap_or_else(|| panic!("{what}: related file {path:?} is unknown")),
            };
            check_span(&format!("{what} (related: {})", related.message), text, related.location.span);
        }
        for fix in &diagnostic.fixes {
            for edit in &fix.edits {
                let text = match &edit.location.file {
                    None => own,
                    Some(path) => *texts.get(path).unwrap_or_else(|| panic!("{what}: edit file {path:?} is unknown")),
                };
                check_span(&format!("{what} (fix: {})", fix.title), text, edit.location.span);
            }
        }
        assert!(!diagnostic.message.trim().is_empty(), "{what}: empty message");
    }
}

fn key(name: &str) -> PathBuf {
    Path::new(ROOT).join(name)
}

/// Analyses `text` as a workflow with a `weft.yaml` beside it and checks every span.
fn as_workflow(text: &str) -> Checked {
    let mut workspace = Workspace::new();
    let (file, config) = (key("x.workflow.yaml"), key("weft.yaml"));
    workspace.set(config.clone(), config.clone(), CONFIG.to_owned());
    workspace.set(file.clone(), file.clone(), text.to_owned());
    let diagnostics = workspace.check(&file);
    let config_diagnostics = workspace.check(&config);
    let texts: HashMap<PathBuf, &str> = [(file.clone(), text), (config.clone(), CONFIG)].into_iter().collect();
    check_spans(&file, &diagnostics, &texts);
    check_spans(&config, &config_diagnostics, &texts);
    Checked { diagnostics, config: config_diagnostics }
}

/// Analyses `text` as a plan and checks every span.
fn as_plan(text: &str) -> Checked {
    let mut workspace = Workspace::new();
    let mut checked = Vec::new();
    for name in ["x.plan.json", "x.plan.yaml"] {
        let file = key(name);
        workspace.set(file.clone(), file.clone(), text.to_owned());
        let diagnostics = workspace.check(&file);
        let texts: HashMap<PathBuf, &str> = [(file.clone(), text)].into_iter().collect();
        check_spans(&file, &diagnostics, &texts);
        checked = diagnostics;
    }
    Checked { diagnostics: checked, config: Vec::new() }
}

/// Analyses `text` as a project config, with a workflow beside it that uses nothing.
fn as_config(text: &str) -> Checked {
    let mut workspace = Workspace::new();
    let (file, config) = (key("x.workflow.yaml"), key("weft.yaml"));
    let workflow = "workflow_id: w\nstages:\n  - id: a\n    script: p\n";
    workspace.set(file.clone(), file.clone(), workflow.to_owned());
    workspace.set(config.clone(), config.clone(), text.to_owned());
    let diagnostics = workspace.check(&config);
    let texts: HashMap<PathBuf, &str> = [(file.clone(), workflow), (config.clone(), text)].into_iter().collect();
    check_spans(&config, &diagnostics, &texts);
    let workflow_diagnostics = workspace.check(&file);
    check_spans(&file, &workflow_diagnostics, &texts);
    Checked { diagnostics, config: Vec::new() }
}

/// Both analyses at once: `(workflow, plan)`.
fn both(text: &str) -> (Checked, Checked) {
    (as_workflow(text), as_plan(text))
}

/// Runs `work` on a thread with a test thread's stack, so a recursion on the input's depth shows up
/// as a crash here rather than passing on a bigger main-thread stack.
fn on_small_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name("small-stack".into())
        .stack_size(STACK)
        .spawn(work)
        .expect("spawn a thread")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A small deterministic generator, so the generated inputs are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------------------
// Empty and near-empty files

#[test]
fn an_empty_file_is_reported_as_empty() {
    let (workflow, plan) = both("");
    assert_eq!(workflow.codes(), ["schema"], "{}", workflow.describe());
    assert!(workflow.diagnostics[0].message.contains("empty"), "{}", workflow.describe());
    assert!(workflow.diagnostics[0].message.contains("workflow_id"), "{}", workflow.describe());
    assert_eq!(workflow.diagnostics[0].span, Span::empty(0));
    assert_eq!(plan.codes(), ["schema"], "{}", plan.describe());
    assert!(plan.diagnostics[0].message.contains("plan_id"), "{}", plan.describe());
    // An empty weft.yaml is an empty config: nothing wrong with it.
    assert!(as_config("").diagnostics.is_empty());
}

#[test]
fn a_file_of_comments_only_is_empty_not_broken() {
    let text = "# a workflow, one day\n# TODO: stages\n   # indented comment\n#no space\n";
    let (workflow, plan) = both(text);
    assert_eq!(workflow.codes(), ["schema"], "{}", workflow.describe());
    assert!(workflow.diagnostics[0].message.contains("empty"));
    assert_eq!(plan.codes(), ["schema"], "{}", plan.describe());
    assert!(as_config(text).diagnostics.is_empty());
}

#[test]
fn a_file_of_white_space_only_is_empty_not_broken() {
    for text in ["\n", "\n\n\n\n", "   \n \n", "\r\n\r\n", "\t\n", " ", "\u{feff}", "\u{feff}\n\n"] {
        let (workflow, plan) = both(text);
        assert_eq!(workflow.codes(), ["schema"], "{text:?}: {}", workflow.describe());
        assert_eq!(plan.codes(), ["schema"], "{text:?}: {}", plan.describe());
        as_config(text);
    }
}

// ---------------------------------------------------------------------------------------------------
// Garbage

/// Random garbage of `rounds` texts; half lean towards the bytes YAML cares about. `ascii` keeps
/// every byte below 0x80, so the text has no multi-byte characters.
fn garbage(seed: u64, rounds: usize, ascii: bool) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..rounds)
        .map(|round| {
            let len = 1 + rng.below(3000);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let byte = if round % 2 == 0 && rng.below(3) == 0 {
                        let special = b"[]{}:-#'\"\t\n\r ,&*!|>%@`?\\";
                        special[rng.below(special.len())]
                    } else {
                        rng.next() as u8
                    };
                    if ascii {
                        byte & 0x7f
                    } else {
                        byte
                    }
                })
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect()
}

#[test]
fn random_ascii_garbage_never_panics_and_spans_stay_in_the_text() {
    for text in garbage(0x5eed_1234_abcd_ef01, 40, true) {
        both(&text);
        as_config(&text);
    }
}

#[test]
fn random_bytes_made_utf8_never_panic() {
    for text in garbage(0x5eed_1234_abcd_ef01, 40, false) {
        both(&text);
        as_config(&text);
    }
}

#[test]
fn text_with_nul_and_control_characters_never_panics() {
    let texts = [
        "\0",
        "workflow_id: w\0\nstages: []\n",
        "workflow_id: w\nstages:\n  - id: a\0b\n    script: p\n",
        "\u{1}\u{2}\u{7f}\u{85}\u{2028}\u{2029}",
        "a: \"\\0\\x00\\u0000\"\n",
        "{\"plan_id\": \"p\u{0}\", \"steps\": []}",
    ];
    for text in texts {
        both(text);
        as_config(text);
    }
}

fn weft_binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weft"))
}

/// A fresh folder under the system temp folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "weft-robustness-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_cli_refuses_a_file_with_nul_bytes_with_exit_2() {
    let dir = TempDir::new("nul");
    let mut bytes = b"workflow_id: w\nstages:\n  - id: a\n    script: p\n".to_vec();
    bytes.extend_from_slice(&[0, 0, 0xff, 0x13, 0]);
    let file = dir.write("bin.workflow.yaml", &bytes);
    for format in ["human", "json", "github", "sarif"] {
        let output = weft_binary().args(["check", "--format", format]).arg(&file).output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{format}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains("bin.workflow.yaml"), "the message names the file: {err}");
        assert!(err.contains("binary") || err.contains("NUL"), "the message says why: {err}");
    }
    // Found while walking a folder, the same file is an error too (it is named like a workflow).
    let output = weft_binary().arg("check").arg(&dir.0).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // Pure random bytes with NUL in them.
    let mut rng = Rng(42);
    let noise: Vec<u8> = (0..4096).map(|_| rng.next() as u8).chain([0]).collect();
    let file = dir.write("noise.plan.json", &noise);
    let output = weft_binary().arg("check").arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"));
}

#[test]
fn the_cli_refuses_a_non_utf8_file_with_exit_2() {
    let dir = TempDir::new("latin1");
    // "name: café" in Latin-1.
    let file = dir.write("latin1.workflow.yaml", b"workflow_id: w\nname: caf\xe9\nstages: []\n");
    let output = weft_binary().arg("check").arg(&file).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("latin1.workflow.yaml"), "{err}");
    assert!(err.contains("not UTF-8"), "the message says the file is not UTF-8: {err}");
    assert!(!err.contains("panicked"), "{err}");
    // UTF-16 with a byte order mark, as some Windows editors save.
    let utf16: Vec<u8> =
        [0xff, 0xfe].into_iter().chain("plan_id: p\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let file = dir.write("wide.plan.yaml", &utf16);
    let output = weft_binary().arg("check").arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"));
}

// ---------------------------------------------------------------------------------------------------
// Depth

fn assert_too_deep(checked: &Checked, what: &str) {
    assert!(checked.has(Code::Syntax), "{what}: {}", checked.describe());
    assert!(
        checked.diagnostics.iter().any(|d| d.code == Code::Syntax && d.message.contains("nested too deeply")),
        "{what}: the syntax error says the nesting is the problem: {}",
        checked.describe()
    );
}

#[test]
fn twenty_thousand_open_brackets_do_not_overflow_the_stack() {
    on_small_stack(|| {
        let text = "[".repeat(20_000);
        let (workflow, plan) = both(&text);
        assert_too_deep(&workflow, "workflow");
        assert_too_deep(&plan, "plan");
        // Closed, and inside a real workflow.
        let text = format!("workflow_id: w\nstages: {}{}\n", "[".repeat(20_000), "]".repeat(20_000));
        let (workflow, plan) = both(&text);
        assert_too_deep(&workflow, "closed workflow");
        assert_too_deep(&plan, "closed plan");
        as_config(&text);
    });
}

#[test]
fn twenty_thousand_levels_of_block_sequences_do_not_overflow_the_stack() {
    on_small_stack(|| {
        let text = "- ".repeat(20_000);
        let (workflow, plan) = both(&text);
        assert_too_deep(&workflow, "workflow");
        assert_too_deep(&plan, "plan");
        // One level per line, each indented one more (2,000 levels: 20,000 would be 200 MB of spaces).
        let mut text = String::from("workflow_id: w\nstages:\n");
        for depth in 0..2_000 {
            text.push_str(&" ".repeat(depth));
            text.push_str("-\n");
        }
        let workflow = as_workflow(&text);
        assert!(workflow.has(Code::Syntax), "{}", workflow.describe());
    });
}

#[test]
fn twenty_thousand_levels_of_json_objects_do_not_overflow_the_stack() {
    on_small_stack(|| {
        let text = "{\"a\":".repeat(20_000);
        let (workflow, plan) = both(&text);
        assert_too_deep(&workflow, "workflow");
        assert_too_deep(&plan, "plan");
        let text = format!("{}1{}", "{\"a\":".repeat(20_000), "}".repeat(20_000));
        let (workflow, plan) = both(&text);
        assert_too_deep(&workflow, "closed workflow");
        assert_too_deep(&plan, "closed plan");
        // Block mappings, one level per line (2,000 levels: 20,000 would be 200 MB of spaces).
        let mut text = String::new();
        for depth in 0..2_000 {
            text.push_str(&" ".repeat(depth));
            text.push_str("a:\n");
        }
        let (workflow, _) = both(&text);
        assert_too_deep(&workflow, "block mappings");
    });
}

#[test]
fn a_nesting_just_under_the_limit_is_accepted() {
    on_small_stack(|| {
        // A workflow with a stage whose `with:` nests 150 levels: legal, and only the schema speaks.
        let text = format!(
            "workflow_id: w\nstages:\n  - id: a\n    script: p\n    with: {{x: {}1{}}}\n",
            "[".repeat(150),
            "]".repeat(150)
        );
        let workflow = as_workflow(&text);
        assert!(!workflow.has(Code::Syntax), "{}", workflow.describe());
        assert!(workflow.diagnostics.is_empty(), "{}", workflow.describe());
    });
}

#[test]
fn deeply_nested_expressions_are_refused_without_overflow() {
    on_small_stack(|| {
        for expression in [
            format!("{}true{}", "(".repeat(20_000), ")".repeat(20_000)),
            format!("{}true", "!".repeat(20_000)),
            format!("{}1{}", "[".repeat(20_000), "]".repeat(20_000)),
            vec!["env.A == '1'"; 5_000].join(" && "),
            "(".repeat(20_000),
        ] {
            let text = format!(
                "workflow_id: w\nstages:\n  - id: a\n    script: p\n    condition: \"{expression}\"\n    skip_if: [\"{expression}\"]\n"
            );
            let workflow = as_workflow(&text);
            assert_eq!(
                workflow.count(Code::InvalidExpression),
                2,
                "{}: {}",
                truncate(&expression, 40),
                workflow.describe()
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// Size

/// A workflow of `count` stages; stage i > 0 depends on 1-3 earlier stages.
fn big_workflow(count: usize) -> String {
    let mut rng = Rng(7);
    let mut text = String::from(
        "workflow_id: big\nname: A big generated workflow\ndefaults:\n  max_concurrency: 8\n  retries: 1\nstages:\n",
    );
    for i in 0..count {
        text.push_str(&format!("  - id: s{i}\n    name: Stage number {i}\n"));
        text.push_str(if i % 2 == 0 { "    script: p\n" } else { "    script: q\n" });
        if i > 0 {
            let mut deps: Vec<usize> = (0..1 + rng.below(3)).map(|_| i - 1 - rng.below(i.min(50))).collect();
            deps.sort_unstable();
            deps.dedup();
            let deps: Vec<String> = deps.iter().map(|d| format!("s{d}")).collect();
            text.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
        }
        if i % 3 == 0 {
            text.push_str("    timeout_sec: 600\n    retries: 2\n");
        }
        if i % 7 == 0 {
            text.push_str("    on_failure: continue\n    required: false\n");
        }
    }
    text
}

#[test]
fn ten_thousand_stages_check_clean() {
    let text = big_workflow(10_000);
    let started = Instant::now();
    let workflow = on_small_stack(move || as_workflow(&text));
    assert!(workflow.diagnostics.is_empty(), "{}", workflow.describe());
    assert!(workflow.config.is_empty(), "both plugins are used: {:?}", workflow.config);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn a_three_thousand_stage_cycle_is_one_diagnostic_naming_every_stage() {
    const N: usize = 3_000;
    let mut text = String::from("workflow_id: ring\nstages:\n");
    for i in 0..N {
        let dependency = if i == 0 { N - 1 } else { i - 1 };
        text.push_str(&format!("  - id: s{i}\n    script: p\n    depends_on: [s{dependency}]\n"));
    }
    let workflow = on_small_stack(move || {
        let checked = as_workflow(&text);
        (checked, text)
    });
    let (workflow, text) = workflow;
    assert_eq!(workflow.codes(), ["cycle"], "{}", workflow.describe());
    let cycle = &workflow.diagnostics[0];
    let path: Vec<String> = (0..N).map(|i| format!("s{i}")).chain(["s0".to_owned()]).collect();
    assert_eq!(cycle.message, format!("dependency cycle: {}", path.join(" → ")));
    assert_eq!(cycle.related.len(), N);
    // Every edge appears once, on the dependency it names.
    for related in &cycle.related {
        let named = &text[related.location.span.start..related.location.span.end];
        assert!(named.starts_with('s'), "{named:?}");
        assert!(related.message.ends_with(&format!("depends on `{named}`")), "{}", related.message);
    }
    let mut spans: Vec<Span> = cycle.related.iter().map(|r| r.location.span).collect();
    spans.sort();
    spans.dedup();
    assert_eq!(spans.len(), N, "each edge is related once");
    // The diagnostic sits on `s2999` in the `depends_on` of `s0`, the edge that closes the cycle.
    assert_eq!(&text[cycle.span.start..cycle.span.end], format!("s{}", N - 1));
    assert!(cycle.span.start < text.find("id: s1\n").unwrap());
}

#[test]
fn a_ten_thousand_stage_chain_with_a_condition_on_its_first_stage() {
    const N: usize = 10_000;
    let mut text = String::from("workflow_id: chain\nstages:\n  - id: s0\n    script: p\n    provides: [seed]\n");
    for i in 1..N {
        text.push_str(&format!("  - id: s{i}\n    script: p\n    depends_on: [s{}]\n", i - 1));
    }
    text.push_str(&format!(
        "    condition: \"steps.s0.status == 'succeeded' && steps.s{}.outputs.x != ''\"\n    skip_if: [\"steps.s1.status == 'failed'\"]\n    consumes: [seed]\n",
        N - 2
    ));
    let workflow = on_small_stack(move || as_workflow(&text));
    assert!(workflow.diagnostics.is_empty(), "{}", workflow.describe());

    // The same chain with a condition on a stage that is not upstream is caught, and the chain read
    // backwards (dependencies declared after their dependents) too.
    let mut text = String::from("workflow_id: chain\nstages:\n");
    for i in 0..N {
        text.push_str(&format!("  - id: s{i}\n    script: p\n"));
        if i + 1 < N {
            text.push_str(&format!("    depends_on: [s{}]\n", i + 1));
        }
    }
    text.push_str("    condition: \"steps.s0.status == 'succeeded'\"\n");
    let checked = on_small_stack(move || as_workflow(&text));
    assert_eq!(checked.codes(), ["invalid-expression"], "{}", checked.describe());
    assert!(checked.diagnostics[0].message.contains("not upstream"), "{}", checked.describe());
}

#[test]
fn a_billion_laughs_is_refused_quickly() {
    let mut text = String::from("workflow_id: lol\nstages: []\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let mut previous = 'a';
    for level in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] {
        let aliases = vec![format!("*{previous}"); 9].join(",");
        text.push_str(&format!("{level}: &{level} [{aliases}]\n"));
        previous = level;
    }
    let started = Instant::now();
    let (workflow, plan) = on_small_stack(move || both(&text));
    let elapsed = started.elapsed();
    for checked in [&workflow, &plan] {
        assert!(
            checked.diagnostics.iter().any(|d| d.code == Code::Syntax && d.message.contains("alias")),
            "{}",
            checked.describe()
        );
    }
    assert!(elapsed < Duration::from_secs(10), "refusing the bomb took {elapsed:?}");
}

#[test]
fn five_thousand_anchors_and_aliases_resolve() {
    const N: usize = 5_000;
    let mut text = String::from("workflow_id: anchors\nstages:\n");
    for i in 0..N {
        text.push_str(&format!("  - id: &id{i} s{i}\n    script: p\n"));
        if i > 0 {
            text.push_str(&format!("    depends_on: [*id{}]\n", i - 1));
        }
    }
    let workflow = on_small_stack(move || as_workflow(&text));
    assert!(workflow.diagnostics.is_empty(), "{}", workflow.describe());

    // Whole stages reused through merge keys, and an unknown alias among them.
    let mut text = String::from("workflow_id: merged\nstages:\n  - &base\n    id: s0\n    script: p\n    retries: 1\n");
    for i in 1..N {
        text.push_str(&format!("  - <<: *base\n    id: s{i}\n    depends_on: [s{}]\n", i - 1));
    }
    text.push_str("  - id: last\n    script: *nowhere\n");
    let workflow = on_small_stack(move || as_workflow(&text));
    assert!(workflow.has(Code::Syntax), "the unknown alias is reported: {}", workflow.describe());
    assert!(!workflow.has(Code::DuplicateId), "{}", workflow.describe());
}

#[test]
fn a_file_of_one_megabyte_line() {
    // A whole plan on one line, as minified JSON.
    let mut steps = Vec::new();
    let mut length = 0;
    let mut i = 0;
    while length < 1_000_000 {
        let depends = if i == 0 { String::new() } else { format!("\"s{}\"", i - 1) };
        let step = format!(
            "{{\"id\":\"s{i}\",\"command\":\"echo\",\"args\":[\"{}\"],\"depends_on\":[{depends}]}}",
            "x".repeat(400)
        );
        length += step.len() + 1;
        steps.push(step);
        i += 1;
    }
    let last = steps.len();
    steps.push(format!("{{\"id\":\"end\",\"run\":\"true\",\"depends_on\":[\"s{last}x\"]}}"));
    let text = format!("{{\"plan_id\":\"wide\",\"steps\":[{}]}}", steps.join(","));
    assert!(text.len() > 1_000_000 && !text.contains('\n'));
    let started = Instant::now();
    let plan = as_plan(&text);
    assert_eq!(plan.codes(), ["unknown-dependency"], "{}", plan.describe());
    assert_eq!(&text[plan.diagnostics[0].span.start..plan.diagnostics[0].span.end], format!("\"s{last}x\""));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());

    // One scalar of a megabyte, and the same with non-ASCII text so offsets are not characters.
    for filler in ["a", "漢🦀"] {
        let text = format!(
            "workflow_id: w\ndescription: \"{}\"\nstages:\n  - id: a\n    script: p\n    depends_on: [b]\n",
            filler.repeat(1_000_000 / filler.len())
        );
        let workflow = as_workflow(&text);
        assert_eq!(workflow.codes(), ["unknown-dependency"], "{}", workflow.describe());
        let span = workflow.diagnostics[0].span;
        assert_eq!(&text[span.start..span.end], "b");
    }
    // A megabyte of garbage on one line.
    let text = "[{: ,-#'\"".repeat(120_000);
    let (workflow, plan) = both(&text);
    assert!(workflow.has(Code::Syntax) && plan.has(Code::Syntax));
}

// ---------------------------------------------------------------------------------------------------
// Line endings and shapes

#[test]
fn lone_carriage_returns_as_line_endings() {
    let text = "workflow_id: w\rstages:\r  - id: a\r    script: p\r  - id: b\r    script: p\r    depends_on: [a, c]\r";
    let (workflow, plan) = both(text);
    // YAML counts a lone `\r` as a line break, so this is a workflow with one unknown dependency.
    assert!(!workflow.has(Code::Syntax), "{}", workflow.describe());
    assert_eq!(workflow.codes(), ["unknown-dependency"], "{}", workflow.describe());
    let span = workflow.diagnostics[0].span;
    assert_eq!(&text[span.start..span.end], "c");
    assert!(plan.has(Code::Schema), "{}", plan.describe());
    // Mixed with CRLF and LF, and broken.
    let text = "workflow_id: w\r\nstages:\r  - id: a\n    script: p\r    depends_on: [a\r  - id: b\r";
    both(text);
}

#[test]
fn a_single_scalar_or_a_list_instead_of_a_mapping() {
    for text in ["hello", "42", "true", "~", "\"just a string\"", "- a\n- b\n", "[1, 2, 3]", "- id: a\n  script: p\n"] {
        let (workflow, plan) = both(text);
        for (kind, checked) in [("workflow", &workflow), ("plan", &plan)] {
            assert!(
                checked.diagnostics.iter().any(|d| d.code == Code::Schema && d.message.contains("object")),
                "{kind} {text:?}: a schema error says an object was expected: {}",
                checked.describe()
            );
            assert!(!checked.has(Code::Syntax), "{kind} {text:?}: {}", checked.describe());
        }
        as_config(text);
    }
}

#[test]
fn stages_of_the_wrong_type() {
    for (stages, found) in
        [("{a: {id: a, script: p}}", "object"), ("build", "string"), ("", "null"), ("~", "null"), ("42", "integer")]
    {
        let text = format!("workflow_id: w\nstages: {stages}\n");
        let workflow = as_workflow(&text);
        assert_eq!(workflow.codes(), ["schema"], "{stages:?}: {}", workflow.describe());
        let diagnostic = &workflow.diagnostics[0];
        assert!(
            diagnostic.message.contains("array") && diagnostic.message.contains(found),
            "{stages:?}: {}",
            diagnostic.message
        );
        // On the value, or on the key when there is no value.
        let at = &text[diagnostic.span.start..diagnostic.span.end];
        assert!(at == stages || (stages.is_empty() && at.is_empty()) || at == "stages", "{stages:?}: on {at:?}");
        let plan = as_plan(&text.replace("workflow_id", "plan_id").replace("stages", "steps"));
        assert_eq!(plan.codes(), ["schema"], "{stages:?}: {}", plan.describe());
    }
}

#[test]
fn stages_that_are_strings_numbers_and_lists() {
    let text = "workflow_id: w\nstages:\n  - build\n  - 42\n  - 1.5\n  - true\n  - ~\n  - [a, b]\n  - id: ok\n    script: p\n    depends_on: [build]\n";
    let workflow = as_workflow(text);
    assert!(workflow.count(Code::Schema) >= 6, "one schema error per wrong stage: {}", workflow.describe());
    // `build` is a string, not a stage, so depending on it is unknown.
    assert!(workflow.has(Code::UnknownDependency), "{}", workflow.describe());
    let plan = as_plan(&text.replace("workflow_id", "plan_id").replace("stages", "steps"));
    assert!(plan.count(Code::Schema) >= 6, "{}", plan.describe());
}

#[test]
fn ids_that_are_numbers_booleans_or_null() {
    let text = "workflow_id: 12\nstages:\n  - id: 1\n    script: p\n  - id: 2\n    script: p\n    depends_on: [1]\n  - id: true\n    script: 3\n  - id: ~\n    script: p\n    fallback: 2\n";
    let workflow = as_workflow(text);
    assert!(workflow.count(Code::Schema) >= 5, "{}", workflow.describe());
    for diagnostic in &workflow.diagnostics {
        assert!(!diagnostic.span.is_empty(), "every problem here has text to point at: {}", workflow.describe());
    }
    // Quoted numeric ids are ids.
    let text = "workflow_id: \"12\"\nstages:\n  - id: \"1\"\n    script: p\n  - id: \"2\"\n    script: p\n    depends_on: [\"1\"]\n";
    let workflow = as_workflow(text);
    assert!(workflow.diagnostics.is_empty(), "{}", workflow.describe());
    let (workflow, plan) = both("{\"plan_id\": 1, \"steps\": [{\"id\": 1, \"run\": \"x\"}, {\"id\": 1, \"run\": 2}]}");
    assert!(workflow.has(Code::Schema) && plan.has(Code::Schema));
}

#[test]
fn unicode_ids_are_reported_with_exact_spans() {
    let text = "workflow_id: 工作流\nstages:\n  - id: 構築🦀\n    script: p\n  - id: test\n    script: p\n    depends_on: [構築🦀, テスト, \"é\u{301}\"]\n  - id: Ωmega\n    script: p\n    fallback: 構築\n";
    let workflow = as_workflow(text);
    let texts: Vec<(&str, &str)> =
        workflow.diagnostics.iter().map(|d| (d.code.as_str(), &text[d.span.start..d.span.end])).collect();
    // Non-ASCII ids break the id pattern; ids that exist resolve, the others are unknown.
    assert!(texts.contains(&("schema", "工作流")), "{texts:?}");
    assert!(texts.contains(&("schema", "構築🦀")), "{texts:?}");
    assert!(texts.contains(&("unknown-dependency", "テスト")), "{texts:?}");
    assert!(texts.contains(&("unknown-dependency", "\"é\u{301}\"")), "{texts:?}");
    assert!(texts.contains(&("unknown-dependency", "構築")), "{texts:?}");
    assert!(!texts.contains(&("unknown-dependency", "構築🦀")), "{texts:?}");
    let plan = as_plan(text);
    assert!(plan.has(Code::Schema), "{}", plan.describe());
    // A cycle through unicode ids.
    let text = "workflow_id: w\nstages:\n  - id: 甲\n    script: p\n    depends_on: [乙]\n  - id: 乙\n    script: p\n    depends_on: [甲]\n";
    let workflow = as_workflow(text);
    let cycle = workflow.diagnostics.iter().find(|d| d.code == Code::Cycle).expect("a cycle");
    assert_eq!(cycle.message, "dependency cycle: 甲 → 乙 → 甲");
}

#[test]
fn broken_text_gets_a_syntax_diagnostic_and_the_rest_is_still_read() {
    let cases = [
        "workflow_id: w\nstages:\n  - id: a\n    script: p\n    depends_on: [a\n  - id: b\n    script: p\n",
        "workflow_id: w\nstages:\n  - id: \"unterminated\n    script: p\n",
        "workflow_id: w\nstages:\n  - id: a\n   script: p\n",
        "workflow_id: w\n\tstages: []\n",
        "workflow_id: w\nstages: [}\n",
        "{\"plan_id\": \"p\", \"steps\": [{\"id\": \"a\", \"run\": \"x\",}]",
        "workflow_id: w\n---\nworkflow_id: again\n",
        "workflow_id: w\nworkflow_id: v\nstages: []\n",
        "a: *missing\n",
        "key: [a, b\n# no closing bracket\nother: c",
    ];
    for text in cases {
        let (workflow, plan) = both(text);
        assert!(workflow.has(Code::Syntax), "{text:?}: {}", workflow.describe());
        assert!(plan.has(Code::Syntax), "{text:?}: {}", plan.describe());
        as_config(text);
    }
}

// ---------------------------------------------------------------------------------------------------
// Bugs found by the cases above, each reduced to its smallest input

/// `syntax::yaml::blank_line` replaces the erroneous line with `chars().count()` spaces, so a line
/// holding multi-byte text gets shorter: the next parse's offsets no longer match the file.
#[test]
fn a_recovered_syntax_error_on_a_multibyte_line_keeps_later_spans_exact() {
    let text =
        "workflow_id: w\nstages:\n  - id: a\n    name: x\n\tdescription: 漢字漢字漢字\n    script: p\n    retry: 3\n";
    let workflow = as_workflow(text);
    let texts: Vec<(&str, &str)> = workflow
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str(), text.get(d.span.start..d.span.end).unwrap_or("<not on a boundary>")))
        .collect();
    // Today the unknown key is reported on `ript:`, 12 bytes (6 CJK characters × 2) too early.
    assert_eq!(texts, [("syntax", "\t"), ("schema", "retry")]);
}

/// The shifted spans of the bug above reach `edits::remove_from_list`, whose `line_start` slices
/// the real source at the shifted offset: `weft check` on this file exits 101 with
/// "end byte index 97 is not a char boundary; it is inside '漢'" (edits.rs `line_start`).
#[test]
fn a_recovered_syntax_error_on_a_multibyte_line_then_a_self_dependency_panics() {
    let text =
        "workflow_id: w\nstages:\n  - id: a\n    script: p\n\tname: 漢漢漢漢漢\n    depends_on:  # 漢漢漢\n      - a\n";
    let workflow = on_small_stack(move || as_workflow(text));
    assert!(workflow.has(Code::Syntax) && workflow.has(Code::SelfDependency), "{}", workflow.describe());
}

/// `TreeBuilder::check_depth` reports `start..start + 1` bytes, which splits a multi-byte key that
/// opens the mapping one level too deep.
#[test]
fn the_too_deep_error_on_a_multibyte_key_is_on_char_boundaries() {
    let mut text = String::from("workflow_id: w\nstages: []\nx:\n");
    for depth in 1..=250 {
        text.push_str(&" ".repeat(depth));
        text.push_str("漢:\n");
    }
    let workflow = as_workflow(&text);
    assert_too_deep(&workflow, "multi-byte keys");
}

/// The "second document" error is `start..start + 3` bytes, meant for `---`; a second document that
/// starts implicitly (after `...`) with a 4-byte character gets a span inside that character.
#[test]
fn the_second_document_error_is_on_char_boundaries() {
    let workflow = as_workflow("workflow_id: w\nstages: []\n...\n🦀\n");
    assert_eq!(workflow.codes(), ["syntax"], "{}", workflow.describe());
}

#[test]
fn the_second_document_error_covers_its_marker() {
    let text = "workflow_id: w\nstages: []\n---\nworkflow_id: again\n";
    let workflow = as_workflow(text);
    assert_eq!(workflow.codes(), ["syntax"], "{}", workflow.describe());
    let span = workflow.diagnostics[0].span;
    assert_eq!(&text[span.start..span.end], "---");
}

/// Recovery blanks the line of a syntax error, so the keys of a stage whose `- id:` line broke are
/// read as more keys of the stage before it: a bogus "duplicate key" and, worse, a false
/// `self-dependency` on the previous stage (here `a`, while it is `b` that depends on `a`).
#[test]
#[ignore = "bug: syntax/yaml.rs recovery merges the stage after a blanked `- id:` line into the previous \
            stage, giving a false `duplicate key` syntax error and a false self-dependency on `a`"]
fn a_broken_stage_line_does_not_merge_its_keys_into_the_stage_before() {
    for broken in ["  - id: b: c", "  - id: \"b"] {
        let text = format!(
            "workflow_id: w\nstages:\n  - id: a\n    script: p\n{broken}\n    script: p\n    depends_on: [a]\n"
        );
        let workflow = as_workflow(&text);
        assert!(!workflow.has(Code::SelfDependency), "{broken:?}: {}", workflow.describe());
        assert_eq!(workflow.codes(), ["syntax"], "{broken:?}: {}", workflow.describe());
    }
}
