//! Hover, go to definition, find references, symbols, folding ranges, inlay hints and document links
//! through the real protocol, on a small project kept on disk (`weft.yaml` is never opened: the
//! server knows it from indexing the workspace at `initialize`).

mod common;
mod lsp_support;

use std::path::{Path, PathBuf};

use common::lsp_client::{cursor, uri, LspClient, TempProject};
use lsp_support::{at, describe_range, render_locations, text_document, Columns};
use serde_json::{json, Value};

const CONFIG: &str = "\
plugins:
  fetch_tool:
    description: Fetches the sources
    command: git
    args: [fetch, --all]
  build_tool:
    description: Builds the project
    command: make
    args: [-f, tools/build.sh]
    outputs: [binary]
  test_tool:
    run: ./tools/test.sh
hooks:
  - on: before_stage_execute
    run: echo starting
";

const WORKFLOW: &str = "\
workflow_id: demo
name: Demo pipeline
stages:
  - id: fetch
    script: fetch_tool
    cwd: src
    requires: { files: [Makefile, missing.txt] }
  - id: build
    name: Build it
    script: build_tool
    depends_on: [fetch]
    provides: [artifact]
  - id: test
    script: test_tool
    depends_on: [build]
    condition: \"steps.build.status == 'succeeded'\"
    retries: 2
    on_failure: fallback
    fallback: manual_test
  - id: manual_test
    script: test_tool
    depends_on: [build]
  - id: report
    script: build_tool
    depends_on: [test, manual_test]
";

/// A second workflow that uses `build_tool` too, never opened.
const OTHER: &str = "workflow_id: other\nstages:\n  - id: nightly\n    script: build_tool\n";

struct Project {
    project: TempProject,
    client: LspClient,
    workflow: PathBuf,
}

/// The project on disk, a server indexing it, and the workflow open (its diagnostics read: none).
fn start(name: &str) -> Project {
    let project = TempProject::new(name);
    project.write("weft.yaml", CONFIG);
    project.write("tools/build.sh", "#!/bin/sh\n");
    project.write("src/Makefile", "all:\n");
    project.write("nested/other.workflow.yaml", OTHER);
    let workflow = project.write("demo.workflow.yaml", WORKFLOW);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&workflow, WORKFLOW);
    let published = client.diagnostics(&workflow);
    assert_eq!(published["diagnostics"], json!([]), "the fixture is clean");
    Project { project, client, workflow }
}

/// The position of the `$0` in a copy of `text` where `needle` (with a `$0` in it) occurs once.
fn marker(text: &str, needle: &str) -> Value {
    let plain = needle.replace("$0", "");
    assert_eq!(text.matches(&plain).count(), 1, "{plain:?} occurs once");
    cursor(&text.replacen(&plain, needle, 1)).1
}

fn hover_text(client: &mut LspClient, path: &Path, text: &str, position: Value) -> String {
    let hover = client.request("textDocument/hover", at(path, &position));
    if hover.is_null() {
        return "(no hover)".into();
    }
    assert_eq!(hover["contents"]["kind"], "markdown");
    format!(
        "range: {}\n{}",
        describe_range(text, &hover["range"], Columns::Utf16),
        hover["contents"]["value"].as_str().unwrap()
    )
}

#[test]
fn hover() {
    let Project { project, mut client, workflow } = start("hover");
    let mut shown = String::new();
    for needle in ["id: bu$0ild", "depends_on: [fe$0tch]", "steps.bu$0ild.status", "re$0tries: 2", "fall$0back: manual"]
    {
        let position = marker(WORKFLOW, needle);
        shown.push_str(&format!("## {needle}\n{}\n\n", hover_text(&mut client, &workflow, WORKFLOW, position)));
    }
    // In `weft.yaml`, which is not open: a hook point and a plugin.
    let config = project.path.join("weft.yaml");
    for needle in ["on: before_$0stage_execute", "build_$0tool:"] {
        let position = marker(CONFIG, needle);
        shown.push_str(&format!("## {needle}\n{}\n\n", hover_text(&mut client, &config, CONFIG, position)));
    }
    insta::assert_snapshot!("hover", shown);
    client.shutdown();
}

#[test]
fn definition_and_references() {
    let Project { project, mut client, workflow } = start("definition");
    let root = project.path.clone();
    let mut shown = String::new();
    for needle in [
        "depends_on: [fe$0tch]",
        "fallback: manual$0_test",
        "steps.bu$0ild.status",
        "depends_on: [test, manual_test$0]",
        "script: build$0_tool\n    depends_on: [fetch]",
    ] {
        let position = marker(WORKFLOW, needle);
        let found = client.request("textDocument/definition", at(&workflow, &position));
        shown.push_str(&format!("definition at {needle:?}\n{}\n", render_locations(&root, &found)));
    }
    // Nothing to go to on a plain value.
    let position = marker(WORKFLOW, "retries: $02");
    assert!(client.request("textDocument/definition", at(&workflow, &position)).is_null());

    for (needle, include_declaration) in
        [("id: bu$0ild", true), ("id: bu$0ild", false), ("script: build$0_tool\n    depends_on: [fetch]", true)]
    {
        let position = marker(WORKFLOW, needle);
        let mut params = at(&workflow, &position);
        params["context"] = json!({ "includeDeclaration": include_declaration });
        let found = client.request("textDocument/references", params);
        shown.push_str(&format!(
            "references at {needle:?} (includeDeclaration: {include_declaration})\n{}\n",
            render_locations(&root, &found)
        ));
    }
    insta::assert_snapshot!("definition_and_references", shown);
    client.shutdown();
}

#[test]
fn symbols_folding_inlay_hints_and_links() {
    let Project { project, mut client, workflow } = start("symbols");
    let root = project.path.clone();

    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": text_document(&workflow) }));
    let mut shown = String::new();
    render_symbols(&symbols, WORKFLOW, 0, &mut shown);
    insta::assert_snapshot!("document_symbols", shown);

    // Workspace symbols come from every indexed file, opened or not.
    let found = client.request("workspace/symbol", json!({ "query": "T" }));
    let mut lines: Vec<String> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|symbol| {
            let location = render_locations(&root, &symbol["location"]);
            format!(
                "{} (kind {}, in {}) {}",
                symbol["name"].as_str().unwrap(),
                symbol["kind"],
                symbol["containerName"].as_str().unwrap_or("-"),
                location.trim_end()
            )
        })
        .collect();
    lines.sort();
    insta::assert_snapshot!("workspace_symbols", lines.join("\n"));

    let folding = client.request("textDocument/foldingRange", json!({ "textDocument": text_document(&workflow) }));
    let workflow_lines: Vec<&str> = WORKFLOW.lines().collect();
    let shown: Vec<String> = folding
        .as_array()
        .unwrap()
        .iter()
        .map(|range| {
            let (start, end) =
                (range["startLine"].as_u64().unwrap() as usize, range["endLine"].as_u64().unwrap() as usize);
            format!("{start}-{end}: {:?} … {:?}", workflow_lines[start], workflow_lines[end])
        })
        .collect();
    insta::assert_snapshot!("folding_ranges", shown.join("\n"));

    let end = json!({ "line": WORKFLOW.lines().count(), "character": 0 });
    let hints = client.request(
        "textDocument/inlayHint",
        json!({ "textDocument": text_document(&workflow), "range": { "start": { "line": 0, "character": 0 }, "end": end } }),
    );
    let shown: Vec<String> = hints
        .as_array()
        .unwrap()
        .iter()
        .map(|hint| {
            let line = workflow_lines[hint["position"]["line"].as_u64().unwrap() as usize];
            let column = hint["position"]["character"].as_u64().unwrap() as usize;
            format!("{}‸{}  ← {}", &line[..column], &line[column..], hint["label"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        hints.as_array().unwrap().iter().map(|h| h["label"].as_str().unwrap()).collect::<Vec<_>>(),
        ["wave 1", "wave 2", "wave 3", "wave 3", "wave 4"]
    );
    insta::assert_snapshot!("inlay_hints", shown.join("\n"));

    // Paths that exist are links (relative to the stage's `cwd`); `missing.txt` is not.
    let mut shown = String::new();
    for (path, text) in [(workflow.clone(), WORKFLOW), (root.join("weft.yaml"), CONFIG)] {
        let links = client.request("textDocument/documentLink", json!({ "textDocument": text_document(&path) }));
        for link in links.as_array().unwrap() {
            let target = lsp_support::uri_path(link["target"].as_str().unwrap());
            shown.push_str(&format!(
                "{} {} → {}\n",
                path.file_name().unwrap().to_string_lossy(),
                describe_range(text, &link["range"], Columns::Utf16),
                target.strip_prefix(&root).unwrap_or(&target).display()
            ));
        }
    }
    insta::assert_snapshot!("document_links", shown);
    assert_eq!(uri(&workflow), uri(&root.join("demo.workflow.yaml")));
    client.shutdown();
}

fn render_symbols(symbols: &Value, text: &str, depth: usize, out: &mut String) {
    for symbol in symbols.as_array().unwrap() {
        out.push_str(&format!(
            "{}{} (kind {}, detail {}) selection {} range {}\n",
            "  ".repeat(depth),
            symbol["name"].as_str().unwrap(),
            symbol["kind"],
            symbol["detail"].as_str().unwrap_or("-"),
            describe_range(text, &symbol["selectionRange"], Columns::Utf16),
            serde_json::to_string(&symbol["range"]).unwrap()
        ));
        if let Some(children) = symbol.get("children") {
            render_symbols(children, text, depth + 1, out);
        }
    }
}

/// A half-edited JSON plan (found by random edits) whose tree was left with a bracket's collection
/// ending before its values: every symbol's `selectionRange` still lies inside its `range`, and
/// each child inside its parent, or VS Code drops the whole outline.
#[test]
fn the_outline_of_a_broken_json_plan_keeps_selections_inside_symbols() {
    let project = TempProject::new("symbols-broken-json");
    let text = "{\n\"\"{\n,\n\"\"{\n,\n\"steps\": [{\"id\":x\n";
    let path = project.write("broken.plan.json", text);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, text);
    client.diagnostics(&path);
    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": text_document(&path) }));
    let inside = |outer: &Value, inner: &Value| {
        let at = |position: &Value| (position["line"].as_u64().unwrap(), position["character"].as_u64().unwrap());
        at(&outer["start"]) <= at(&inner["start"]) && at(&inner["end"]) <= at(&outer["end"])
    };
    let mut stack: Vec<Value> = symbols.as_array().expect("symbols").clone();
    let mut names = Vec::new();
    while let Some(symbol) = stack.pop() {
        names.push(symbol["name"].as_str().unwrap().to_owned());
        assert!(inside(&symbol["range"], &symbol["selectionRange"]), "{symbol}");
        for child in symbol["children"].as_array().into_iter().flatten() {
            assert!(inside(&symbol["range"], &child["range"]), "{child} in {symbol}");
            stack.push(child.clone());
        }
    }
    assert_eq!(names, ["(no id)", "x"]);
    client.shutdown();
}
