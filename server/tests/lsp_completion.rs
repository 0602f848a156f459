//! Completion through the real protocol: which items, in which order, and what each replaces.
//!
//! Every case is a fixture with a `$0` cursor. The snapshot shows the cursor's line, then the items
//! in the order an editor lists them (by `sortText`), each with the text its `textEdit` replaces.

mod common;
mod lsp_support;

use std::path::PathBuf;

use common::lsp_client::{cursor, LspClient, TempProject};
use lsp_support::{at, completion_labels, render_completion};
use serde_json::{json, Value};

const CONFIG: &str = "\
plugins:
  fetch_tool:
    description: Fetches the sources
    command: git
    args: [fetch]
  build_tool:
    description: Builds the project
    command: make
    outputs: [binary]
  test_tool:
    command: make
    args: [test]
";

/// A workflow where `test` is the stage the cursor is in: `build` and `fetch` are upstream of it,
/// `package` and `publish` downstream, `lint` beside it. `TEST_STAGE` is replaced by each case.
const WORKFLOW: &str = "\
workflow_id: demo
env:
  RUST_LOG: info
  CI: \"1\"
stages:
  - id: fetch
    script: fetch_tool
    provides: [source]
  - id: build
    script: build_tool
    depends_on: [fetch]
    provides: [artifact]
  - id: lint
    script: test_tool
    depends_on: [fetch]
TEST_STAGE
  - id: package
    script: build_tool
    depends_on: [test]
  - id: publish
    script: build_tool
    depends_on: [package]
";

/// One file of an open session, changed to each case in turn.
struct Session {
    client: LspClient,
    path: PathBuf,
    version: i64,
    _project: TempProject,
}

impl Session {
    fn start(name: &str, file: &str) -> Session {
        let project = TempProject::new(name);
        project.write("weft.yaml", CONFIG);
        let path = project.path.join(file);
        let mut client = LspClient::start(&project.path);
        client.registration();
        Session { client, path, version: 0, _project: project }
    }

    /// Puts the marked text in the editor and asks for completion at its `$0`; the snapshot text is
    /// the cursor's line followed by the items.
    fn complete(&mut self, marked: &str) -> (String, Value) {
        let (text, position) = cursor(marked);
        self.version += 1;
        if self.version == 1 {
            self.client.open(&self.path, &text);
        } else {
            self.client.change_full(&self.path, self.version, &text);
        }
        let result = self.client.request("textDocument/completion", at(&self.path, &position));
        let published = self.client.diagnostics(&self.path);
        assert_eq!(published["version"], self.version, "diagnostics are published for the text just sent");
        let line = marked.lines().find(|line| line.contains("$0")).expect("a cursor line");
        (format!("{}\n---\n{}", line.trim_start(), render_completion(&text, &result)), result)
    }
}

fn workflow(test_stage: &str) -> String {
    WORKFLOW.replace("TEST_STAGE", test_stage.trim_end_matches('\n'))
}

#[test]
fn stage_ids_in_depends_on_and_fallback() {
    let mut session = Session::start("completion-ids", "demo.workflow.yaml");

    // The stage itself and the stages downstream of it (a cycle) are never offered; nearer stages
    // come first.
    let (shown, result) = session.complete(&workflow("  - id: test\n    script: test_tool\n    depends_on: [$0]\n"));
    assert_eq!(completion_labels(&result), ["lint", "build", "fetch"]);
    insta::assert_snapshot!("depends_on_empty_flow_list", shown);

    // Half-typed: the list is not closed yet.
    let (shown, result) = session.complete(&workflow("  - id: test\n    script: test_tool\n    depends_on: [$0\n"));
    assert_eq!(completion_labels(&result), ["lint", "build", "fetch"]);
    insta::assert_snapshot!("depends_on_unclosed_flow_list", shown);

    // Mid-word, only ids with the typed characters in order (as editors filter): a file of
    // thousands of stages sends a short list.
    let (shown, result) = session.complete(&workflow("  - id: test\n    script: test_tool\n    depends_on: [bu$0]\n"));
    assert_eq!(completion_labels(&result), ["build"]);
    insta::assert_snapshot!("depends_on_mid_word", shown);

    // Inside a list, between items: ids already listed are left out.
    let (shown, result) =
        session.complete(&workflow("  - id: test\n    script: test_tool\n    depends_on: [fetch, b$0]\n"));
    assert_eq!(completion_labels(&result), ["build"]);
    insta::assert_snapshot!("depends_on_inside_flow_list", shown);

    let (shown, result) = session
        .complete(&workflow("  - id: test\n    script: test_tool\n    depends_on:\n      - fetch\n      - $0\n"));
    assert_eq!(completion_labels(&result), ["lint", "build"]);
    insta::assert_snapshot!("depends_on_block_list", shown);

    // A fallback must be neither upstream nor downstream of the stage.
    let (shown, result) = session.complete(&workflow(
        "  - id: test\n    script: test_tool\n    depends_on: [build]\n    on_failure: fallback\n    fallback: $0\n",
    ));
    assert_eq!(completion_labels(&result), ["lint"]);
    insta::assert_snapshot!("fallback", shown);
    session.client.shutdown();
}

#[test]
fn plugins_hook_points_enum_values_and_keys() {
    let mut session = Session::start("completion-values", "demo.workflow.yaml");
    let (shown, result) = session.complete(&workflow("  - id: test\n    script: $0\n    depends_on: [build]\n"));
    assert_eq!(completion_labels(&result), ["build_tool", "fetch_tool", "test_tool"]);
    insta::assert_snapshot!("script_plugins", shown);

    let (shown, result) = session
        .complete(&workflow("  - id: test\n    script: test_tool\n    on_failure: $0\n    depends_on: [build]\n"));
    assert_eq!(completion_labels(&result), ["abort", "skip_dependents", "continue", "fallback"]);
    insta::assert_snapshot!("on_failure_values", shown);

    // Keys of a stage: from the schema, minus those the stage already has (above and below).
    let (shown, result) =
        session.complete(&workflow("  - id: test\n    script: test_tool\n    re$0\n    depends_on: [build]\n"));
    let labels = completion_labels(&result);
    for present in ["id", "script", "depends_on"] {
        assert!(!labels.contains(&present.to_owned()), "{present} is already there: {labels:?}");
    }
    assert!(labels.contains(&"retries".to_owned()) && labels.contains(&"requires".to_owned()), "{labels:?}");
    insta::assert_snapshot!("stage_keys", shown);

    // A key whose value is a list of objects with required keys completes to a snippet with them.
    let (shown, result) = session.complete("workflow_id: demo\nst$0\n");
    let stages = result["items"].as_array().unwrap().iter().find(|item| item["label"] == "stages").unwrap();
    assert_eq!(stages["textEdit"]["newText"], "stages:\n  - id: $1\n    script: $2");
    assert_eq!(stages["insertTextFormat"], 2);
    assert_eq!(stages["insertTextMode"], 2, "the client indents the snippet's lines like the cursor's");
    insta::assert_snapshot!("top_level_keys", shown);
    session.client.shutdown();
}

#[test]
fn a_client_without_snippet_support_gets_plain_text() {
    let project = TempProject::new("completion-no-snippets");
    project.write("weft.yaml", CONFIG);
    let capabilities = json!({ "textDocument": { "completion": { "completionItem": { "snippetSupport": false } } } });
    let mut client = LspClient::start_with(&project.path, capabilities);
    client.registration();
    let path = project.path.join("demo.workflow.yaml");
    let (text, position) = cursor("workflow_id: demo\nst$0\n");
    client.open(&path, &text);
    let result = client.request("textDocument/completion", at(&path, &position));
    client.diagnostics(&path);
    for item in result["items"].as_array().unwrap() {
        assert_eq!(item["insertTextFormat"], 1, "{item}");
        assert!(!item["textEdit"]["newText"].as_str().unwrap().contains('$'), "{item}");
    }
    let stages = result["items"].as_array().unwrap().iter().find(|item| item["label"] == "stages").unwrap();
    assert_eq!(stages["textEdit"]["newText"], "stages:\n  - id: \n    script: ");
    client.shutdown();
}

#[test]
fn hook_points_in_weft_yaml_and_values_in_a_plan() {
    let project = TempProject::new("completion-config");
    project.write("weft.yaml", CONFIG);
    let mut client = LspClient::start(&project.path);
    client.registration();

    // `weft.yaml` itself, with a hook being written.
    let config = project.path.join("weft.yaml");
    let (text, position) = cursor(&format!("{CONFIG}hooks:\n  - on: $0\n"));
    client.open(&config, &text);
    let result = client.request("textDocument/completion", at(&config, &position));
    let labels = completion_labels(&result);
    assert_eq!(labels.len(), 11, "{labels:?}");
    insta::assert_snapshot!("hook_points", render_completion(&text, &result));
    client.diagnostics(&config);

    let plan = project.path.join("release.plan.yaml");
    let (text, position) = cursor("plan_id: release\nsteps:\n  - id: build\n    run: make\n    shell: $0\n");
    client.open(&plan, &text);
    let result = client.request("textDocument/completion", at(&plan, &position));
    assert_eq!(completion_labels(&result), ["sh", "bash", "pwsh"]);
    insta::assert_snapshot!("plan_shell_values", render_completion(&text, &result));
    client.diagnostics(&plan);

    // A JSON plan as an editor that closes brackets and quotes has it: the quote typed already is
    // kept; with no quote typed, the id is inserted with its quotes.
    let json_plan = project.path.join("merge.plan.json");
    let json = |list: &str| {
        format!(
            "{{\n  \"plan_id\": \"merge\",\n  \"steps\": [\n    {{ \"id\": \"snapshot\", \"command\": \"git\" }},\n    {{ \"id\": \"merge\", \"run\": \"git merge\", \"depends_on\": {list} }}\n  ]\n}}\n"
        )
    };
    let (text, position) = cursor(&json("[\"$0\"]"));
    client.open(&json_plan, &text);
    let result = client.request("textDocument/completion", at(&json_plan, &position));
    assert_eq!(completion_labels(&result), ["snapshot"]);
    let mut shown = render_completion(&text, &result);
    client.diagnostics(&json_plan);
    let (text, position) = cursor(&json("[$0]"));
    client.change_full(&json_plan, 2, &text);
    let result = client.request("textDocument/completion", at(&json_plan, &position));
    shown.push_str(&render_completion(&text, &result));
    insta::assert_snapshot!("json_plan_depends_on", shown);
    client.diagnostics(&json_plan);
    client.shutdown();
}

/// A hook's `when` in `weft.yaml` offers what a hook can test: `run` and `workflow` with their
/// fields, and run statuses after `run.status ==` (step statuses after `stage.status ==`).
#[test]
fn hook_conditions_offer_the_run_and_its_statuses() {
    let project = TempProject::new("completion-hook-when");
    project.write("weft.yaml", CONFIG);
    let mut client = LspClient::start(&project.path);
    client.registration();
    let config = project.path.join("weft.yaml");
    let cases: [(&str, &[&str]); 5] = [
        ("$0", &["stage", "workflow", "run", "env"]),
        ("run.$0", &["id", "status", "error", "failed_step", "duration_ms", "steps_run"]),
        ("workflow.$0", &["id", "status"]),
        ("run.status == '$0'", &["running", "succeeded", "failed", "canceled", "quarantined"]),
        ("stage.status != '$0'", &["pending", "running", "succeeded", "failed", "skipped", "canceled", "timed_out"]),
    ];
    for (version, (when, expected)) in cases.into_iter().enumerate() {
        let (text, position) =
            cursor(&format!("{CONFIG}hooks:\n  - on: workflow_completed\n    run: echo done\n    when: \"{when}\"\n"));
        if version == 0 {
            client.open(&config, &text);
        } else {
            client.change_full(&config, version as i64 + 1, &text);
        }
        let result = client.request("textDocument/completion", at(&config, &position));
        let mut labels = completion_labels(&result);
        labels.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(labels, expected, "{when}");
        client.diagnostics(&config);
    }
    client.shutdown();
}

#[test]
fn expressions() {
    let mut session = Session::start("completion-expressions", "demo.workflow.yaml");
    // Only stages upstream of `test` can be read by its condition.
    let (shown, result) = session.complete(&workflow(
        "  - id: test\n    script: test_tool\n    depends_on: [build]\n    condition: \"steps.$0\"\n",
    ));
    assert_eq!(completion_labels(&result), ["build", "fetch"]);
    insta::assert_snapshot!("expression_steps", shown);

    let (shown, result) = session.complete(&workflow(
        "  - id: test\n    script: test_tool\n    depends_on: [build]\n    condition: \"steps.build.$0\"\n",
    ));
    assert_eq!(completion_labels(&result), ["outputs", "status"]);
    insta::assert_snapshot!("expression_step_fields", shown);

    // `provides` of the stage and `outputs` of its plugin.
    let (shown, result) = session.complete(&workflow(
        "  - id: test\n    script: test_tool\n    depends_on: [build]\n    condition: \"steps.build.outputs.$0 == 'x'\"\n",
    ));
    assert_eq!(completion_labels(&result), ["artifact", "binary"]);
    insta::assert_snapshot!("expression_outputs", shown);

    let (shown, result) = session.complete(&workflow(
        "  - id: test\n    script: test_tool\n    depends_on: [build]\n    skip_if: [\"env.$0\"]\n",
    ));
    assert_eq!(completion_labels(&result), ["CI", "RUST_LOG"]);
    insta::assert_snapshot!("expression_env", shown);
    session.client.shutdown();
}

/// While a JSON plan is typed without an editor closing the brackets, the tree is lost and so are
/// the step ids to offer.
#[test]
fn half_typed_json_plan() {
    let project = TempProject::new("completion-json-half");
    let mut client = LspClient::start(&project.path);
    client.registration();
    let path = project.path.join("merge.plan.json");
    let (text, position) = cursor(
        "{\n  \"plan_id\": \"merge\",\n  \"steps\": [\n    { \"id\": \"snapshot\", \"command\": \"git\" },\n    { \"id\": \"merge\", \"run\": \"git merge\", \"depends_on\": [\"$0\n",
    );
    client.open(&path, &text);
    let result = client.request("textDocument/completion", at(&path, &position));
    client.diagnostics(&path);
    assert_eq!(completion_labels(&result), ["snapshot"]);
    client.shutdown();
}

/// Completion with the cursor inside a word of an expression replaces that segment of the path, on
/// the cursor's line, around the cursor: never the characters after the dotted path.
#[test]
fn expression_completion_replaces_the_segment_around_the_cursor() {
    let mut session = Session::start("completion-expression-middle", "demo.workflow.yaml");
    let cases = [
        ("condition: \"steps.build.sta$0tus == 'failed'\"", "status", "\"status\""),
        ("condition: \"steps.bu$0ild.status == 'failed'\"", "build", "\"build\""),
        ("condition: \"steps.build.status == 'fai$0led'\"", "failed", "\"failed\""),
        ("condition: \"steps.build.outputs.$0artifact == 'x'\"", "artifact", "\"artifact\""),
        ("skip_if: [\"e$0nv.CI\"]", "env", "\"env\""),
    ];
    for (condition, label, replaced) in cases {
        let marked =
            workflow(&format!("  - id: test\n    script: test_tool\n    depends_on: [build]\n    {condition}\n"));
        let (text, position) = cursor(&marked);
        let (_, result) = session.complete(&marked);
        let item = result["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["label"] == label)
            .unwrap_or_else(|| panic!("{label} is offered for {condition}: {result}"));
        let range = &item["textEdit"]["range"];
        let shown = lsp_support::describe_range(&text, range, lsp_support::Columns::Utf16);
        assert!(shown.ends_with(&format!(" {replaced}")), "{condition}: {label} replaces {shown}");
        assert_eq!(range["start"]["line"], position["line"], "{condition}");
        assert_eq!(range["end"]["line"], position["line"], "{condition}");
        assert!(range["start"]["character"].as_u64() <= position["character"].as_u64(), "{condition}: {shown}");
        assert!(range["end"]["character"].as_u64() >= position["character"].as_u64(), "{condition}: {shown}");
    }
    session.client.shutdown();
}

/// `executor` completes to the executors, in a stage and in a plan's `globals`; inside
/// `executor_options` the keys are offered; and a misspelt executor is a `schema` error on the
/// value with the close one suggested, published with the completion.
#[test]
fn executors_and_their_options() {
    let mut session = Session::start("completion-executor", "demo.workflow.yaml");
    let (shown, result) = session.complete(&workflow("  - id: test\n    script: test_tool\n    executor: $0\n"));
    assert_eq!(completion_labels(&result), ["local", "slurm"]);
    insta::assert_snapshot!("stage_executor_values", shown);

    let (shown, result) = session.complete(&workflow("  - id: test\n    script: test_tool\n    executor: sl$0\n"));
    // Both are offered (the editor filters), each replacing what was typed.
    assert_eq!(completion_labels(&result), ["local", "slurm"]);
    insta::assert_snapshot!("stage_executor_half_typed", shown);

    let (shown, result) = session.complete(&workflow(
        "  - id: test\n    script: test_tool\n    executor: slurm\n    executor_options:\n      cpus: 4\n      $0\n",
    ));
    assert_eq!(completion_labels(&result), ["partition", "account", "memory", "extra_args"]);
    insta::assert_snapshot!("stage_executor_option_keys", shown);

    let (shown, result) =
        session.complete("workflow_id: demo\ndefaults:\n  executor: slurm\n  executor_options:\n    a$0\nstages: []\n");
    assert_eq!(completion_labels(&result), ["partition", "account", "cpus", "memory", "extra_args"]);
    insta::assert_snapshot!("defaults_executor_option_keys", shown);
    session.client.shutdown();

    let project = TempProject::new("completion-executor-plan");
    let mut client = LspClient::start(&project.path);
    client.registration();
    let plan = project.path.join("cluster.plan.yaml");
    let (text, position) = cursor("plan_id: cluster\nglobals:\n  executor: $0\nsteps:\n  - id: a\n    run: make\n");
    client.open(&plan, &text);
    let result = client.request("textDocument/completion", at(&plan, &position));
    assert_eq!(completion_labels(&result), ["local", "slurm"]);
    client.diagnostics(&plan);

    let text = "plan_id: cluster\nglobals:\n  executor: slurn\nsteps:\n  - id: a\n    run: make\n";
    client.change_full(&plan, 2, text);
    let published = client.diagnostics(&plan);
    let diagnostics = published["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{published}");
    assert_eq!(diagnostics[0]["code"], "schema");
    assert_eq!(diagnostics[0]["severity"], 1);
    assert_eq!(
        diagnostics[0]["range"],
        json!({"start": {"line": 2, "character": 12}, "end": {"line": 2, "character": 17}})
    );
    let message = diagnostics[0]["message"].as_str().unwrap();
    assert!(
        message.contains("`slurn` is not one of: local, slurm") && message.contains("did you mean `slurm`?"),
        "{message}"
    );
    client.shutdown();
}
