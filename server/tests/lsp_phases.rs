//! A phase template (`*.phases.yaml`) in the editor, through the real protocol: diagnostics,
//! completion of keys, of the validation namespace, of phase ids and of a new validation entry,
//! hover on a phase id, go to definition and rename of a phase, the outline, the sequence as inlay
//! hints and the `workflow` as a link.

mod common;
mod lsp_support;

use std::path::{Path, PathBuf};

use common::lsp_client::{cursor, LspClient, TempProject};
use lsp_support::{apply_edits, at, codes, completion_labels, describe_range, text_document, Columns};
use serde_json::{json, Value};

const TEMPLATE: &str = "\
template_id: feature
description: From request to release.
phases:
  - id: intake
    goal: Understand the request
    artifacts:
      required: [\"docs/tasks/{task}/intake.md\"]
    validation:
      - \"artifacts.required.all_exist\"
    next_step: Research prior art; write research.md
  - id: research
    goal: Know what exists
    validation:
      - \"phases.intake.status == 'completed'\"
  - id: release
    goal: Ship it
    workflow: release/release.plan.yaml
";

const PLAN: &str = "plan_id: release\nsteps:\n  - id: build\n    command: \"true\"\n";

struct Session {
    client: LspClient,
    path: PathBuf,
    version: i64,
    project: TempProject,
}

impl Session {
    /// A project with the template and the plan it names, the template open (and clean).
    fn start(name: &str) -> Session {
        let project = TempProject::new(name);
        project.write("release/release.plan.yaml", PLAN);
        let path = project.write("feature.phases.yaml", TEMPLATE);
        let mut client = LspClient::start(&project.path);
        client.registration();
        client.open(&path, TEMPLATE);
        let published = client.diagnostics(&path);
        assert_eq!(published["diagnostics"], json!([]), "the fixture is clean: {published}");
        Session { client, path, version: 1, project }
    }

    /// Replaces the text; returns the codes of the diagnostics published for it.
    fn change(&mut self, text: &str) -> Vec<String> {
        self.version += 1;
        self.client.change_full(&self.path, self.version, text);
        let published = self.client.diagnostics(&self.path);
        assert_eq!(published["version"], self.version);
        codes(&published)
    }

    /// Puts the marked text in the editor and asks for completion at its `$0`.
    fn complete(&mut self, marked: &str) -> (String, Value) {
        let (text, position) = cursor(marked);
        self.change(&text);
        let result = self.client.request("textDocument/completion", at(&self.path, &position));
        (text, result)
    }

    fn request_at(&mut self, method: &str, needle: &str) -> Value {
        let position = marker(TEMPLATE, needle);
        self.client.request(method, at(&self.path, &position))
    }
}

/// The position of the `$0` in `text` where `needle` (with a `$0` in it) occurs once.
fn marker(text: &str, needle: &str) -> Value {
    let plain = needle.replace("$0", "");
    assert_eq!(text.matches(&plain).count(), 1, "{plain:?} occurs once");
    cursor(&text.replacen(&plain, needle, 1)).1
}

fn new_text(result: &Value, label: &str) -> String {
    let items = result["items"].as_array().expect("a completion list");
    let item = items.iter().find(|item| item["label"] == label).unwrap_or_else(|| panic!("no {label}: {result}"));
    item["textEdit"]["newText"].as_str().unwrap().to_owned()
}

#[test]
fn diagnostics_are_published_for_a_phase_template() {
    let mut session = Session::start("phases-diagnostics");
    assert_eq!(session.change("template_id: t\nphases: 42\n"), ["schema"]);
    let misspelt = TEMPLATE.replace("{task}", "{taks}").replace("phases.intake", "phases.intak");
    assert_eq!(session.change(&misspelt), ["unknown-placeholder", "invalid-expression"]);
    let missing = TEMPLATE.replace("release/release.plan.yaml", "release/nothing.plan.yaml");
    assert_eq!(session.change(&missing), ["unknown-file"]);
    session.client.shutdown();
}

/// The quick fix of a misspelt `{task}` replaces the placeholder, and only it; so does the fix of a
/// misspelt phase id in an expression.
#[test]
fn quick_fixes_replace_a_misspelt_placeholder_and_phase_id() {
    let mut session = Session::start("phases-fixes");
    let misspelt = TEMPLATE.replace("{task}", "{Task}").replace("phases.intake", "phases.intak");
    assert_eq!(session.change(&misspelt), ["unknown-placeholder", "invalid-expression"]);
    let end = json!({ "line": misspelt.lines().count(), "character": 0 });
    let actions = session.client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": text_document(&session.path),
            "range": { "start": { "line": 0, "character": 0 }, "end": end },
            "context": { "diagnostics": [] }
        }),
    );
    let titles: Vec<&str> = actions.as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Replace with `{task}`", "Replace with `intake`"]);
    let mut fixed = misspelt.clone();
    for action in actions.as_array().unwrap() {
        let edits = action["edit"]["changes"].as_object().unwrap().values().next().unwrap().as_array().unwrap();
        fixed = apply_edits(&fixed, edits, Columns::Utf16);
    }
    assert_eq!(fixed, TEMPLATE);
    session.client.shutdown();
}

/// The plan a phase names appears on disk, then goes: the open template's `unknown-file` goes and
/// comes back without an edit of the template.
#[test]
fn a_workflow_created_or_deleted_on_disk_updates_the_open_template() {
    let mut session = Session::start("phases-watched");
    let named = TEMPLATE.replace("release/release.plan.yaml", "later/later.plan.yaml");
    assert_eq!(session.change(&named), ["unknown-file"]);
    let later = session.project.write("later/later.plan.yaml", PLAN);
    let changed = |kind: u8| json!({ "changes": [{ "uri": common::lsp_client::uri(&later), "type": kind }] });
    session.client.notify("workspace/didChangeWatchedFiles", changed(1));
    let published = session.client.diagnostics(&session.path);
    assert_eq!(codes(&published), Vec::<String>::new(), "{published}");
    std::fs::remove_file(&later).unwrap();
    session.client.notify("workspace/didChangeWatchedFiles", changed(3));
    let published = session.client.diagnostics(&session.path);
    assert_eq!(codes(&published), ["unknown-file"], "{published}");
    session.client.shutdown();
}

#[test]
fn completion_in_a_phase_template() {
    let mut session = Session::start("phases-completion");

    // Keys of a phase, from the schema, without those already written.
    let (_, result) = session.complete(&TEMPLATE.replace("    goal: Ship it\n", "    goal: Ship it\n    $0\n"));
    let labels = completion_labels(&result);
    for key in ["artifacts", "validation", "hooks", "events", "next_step", "description"] {
        assert!(labels.contains(&key.to_owned()), "{key} in {labels:?}");
    }
    assert!(!labels.contains(&"goal".to_owned()) && !labels.contains(&"workflow".to_owned()), "{labels:?}");

    // A new validation entry: the forms an entry takes, the phase ids offered in the snippet.
    let (_, result) = session.complete(&TEMPLATE.replace(
        "      - \"phases.intake.status == 'completed'\"\n",
        "      - \"phases.intake.status == 'completed'\"\n      - $0\n",
    ));
    assert_eq!(
        completion_labels(&result),
        [
            "artifacts.required.all_exist",
            "artifacts.optional.any_exist",
            "phases.<id>.status == 'completed'",
            "{ run, message }"
        ]
    );
    assert_eq!(new_text(&result, "artifacts.required.all_exist"), "\"artifacts.required.all_exist\"");
    assert_eq!(new_text(&result, "{ run, message }"), "{ run: \"$1\", message: \"$2\" }");
    assert_eq!(
        new_text(&result, "phases.<id>.status == 'completed'"),
        "\"phases.${1|intake,research,release|}.status == '${2|completed,overridden,active,pending|}'\""
    );

    // The namespace, segment by segment.
    let in_research =
        |expression: &str| TEMPLATE.replace("\"phases.intake.status == 'completed'\"", &format!("\"{expression}\""));
    let (_, result) = session.complete(&in_research("$0"));
    assert_eq!(completion_labels(&result), ["artifacts", "env", "phases", "task"]);
    let (_, result) = session.complete(&in_research("artifacts.$0"));
    assert_eq!(completion_labels(&result), ["optional", "required"]);
    let (_, result) = session.complete(&in_research("artifacts.required.$0"));
    assert_eq!(completion_labels(&result), ["all_exist", "missing"]);
    let (_, result) = session.complete(&in_research("artifacts.optional.$0"));
    assert_eq!(completion_labels(&result), ["all_exist", "any_exist", "missing"]);
    // Phase ids in the template's order, with their place in it and their goal.
    let (text, result) = session.complete(&in_research("phases.$0"));
    assert_eq!(completion_labels(&result), ["intake", "research", "release"]);
    let intake = &result["items"][0];
    assert_eq!(intake["detail"], "phase 1 of 3");
    assert_eq!(intake["documentation"]["value"], "Understand the request");
    assert_eq!(
        describe_range(&text, &intake["textEdit"]["range"], Columns::Utf16).split(' ').next(),
        Some("13:16-13:16")
    );
    let (_, result) = session.complete(&in_research("phases.intake.$0"));
    assert_eq!(completion_labels(&result), ["status"]);
    let (_, result) = session.complete(&in_research("phases.intake.status == '$0'"));
    assert_eq!(completion_labels(&result), ["active", "completed", "overridden", "pending"]);
    let (_, result) = session.complete(&in_research("task.$0"));
    assert_eq!(completion_labels(&result), ["id"]);

    // A phase's workflow: the workflows and plans of the workspace, relative to the template.
    let (_, result) = session.complete(&TEMPLATE.replace("workflow: release/release.plan.yaml", "workflow: $0"));
    assert_eq!(completion_labels(&result), ["release/release.plan.yaml"]);
    assert_eq!(result["items"][0]["detail"], "plan");

    // `{task}` where a `{` is typed in a path or a command; the `}` already there is replaced too.
    let (text, result) =
        session.complete(&TEMPLATE.replace("\"docs/tasks/{task}/intake.md\"", "\"docs/tasks/{ta$0}/intake.md\""));
    assert_eq!(completion_labels(&result), ["{task}"]);
    let range = describe_range(&text, &result["items"][0]["textEdit"]["range"], Columns::Utf16);
    assert!(range.ends_with("\"{ta}\""), "{range}");
    let (_, result) = session.complete(
        &TEMPLATE.replace("Ship it\n", "Ship it\n    hooks:\n      on_start:\n        - run: \"mkdir -p docs/{$0\"\n"),
    );
    assert_eq!(completion_labels(&result), ["{task}"]);

    // In a command entry's braces: its keys.
    let (_, result) = session.complete(&TEMPLATE.replace(
        "      - \"phases.intake.status == 'completed'\"\n",
        "      - \"phases.intake.status == 'completed'\"\n      - { $0\n",
    ));
    assert_eq!(completion_labels(&result), ["run", "message", "timeout_sec"]);
    session.client.shutdown();
}

#[test]
fn hover_on_a_phase_id_tells_its_place_goal_and_next_step() {
    let mut session = Session::start("phases-hover");
    for needle in ["id: int$0ake", "phases.int$0ake.status"] {
        let hover = session.request_at("textDocument/hover", needle);
        let markdown = hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("{needle}: {hover}"));
        assert!(markdown.starts_with("**phase** `intake` — phase 1 of 3"), "{markdown}");
        assert!(markdown.contains("**goal:** Understand the request"), "{markdown}");
        assert!(markdown.contains("**next step:** Research prior art; write research.md"), "{markdown}");
        assert!(markdown.contains("after: (first) · before: `research`"), "{markdown}");
        assert_eq!(describe_range(TEMPLATE, &hover["range"], Columns::Utf16).split(' ').nth(1), Some("\"intake\""));
    }
    let hover = session.request_at("textDocument/hover", "id: rel$0ease");
    let markdown = hover["contents"]["value"].as_str().unwrap();
    assert!(markdown.contains("phase 3 of 3") && markdown.contains("completing it runs `release/release.plan.yaml`"));
    // A name of the validation namespace: what it holds, and the paths it tests.
    let hover = session.request_at("textDocument/hover", "artifacts.required.all_$0exist");
    let markdown = hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("{hover}"));
    assert!(markdown.starts_with("**artifacts.required.all_exist**"), "{markdown}");
    assert!(markdown.contains("`docs/tasks/{task}/intake.md`"), "{markdown}");
    assert_eq!(
        describe_range(TEMPLATE, &hover["range"], Columns::Utf16).split(' ').nth(1),
        Some("\"artifacts.required.all_exist\"")
    );
    let hover = session.request_at("textDocument/hover", "intake.sta$0tus");
    assert!(hover["contents"]["value"].as_str().unwrap().starts_with("**phases.intake.status**"), "{hover}");
    // A key is described by the schema.
    let hover = session.request_at("textDocument/hover", "next_st$0ep:");
    assert!(hover["contents"]["value"].as_str().unwrap().starts_with("**next_step**\n\nWhat to do next"), "{hover}");
    session.client.shutdown();
}

#[test]
fn definition_and_rename_of_a_phase() {
    let mut session = Session::start("phases-rename");
    let definition = session.request_at("textDocument/definition", "phases.int$0ake.status");
    let range = &definition["range"];
    assert_eq!(describe_range(TEMPLATE, range, Columns::Utf16).split(' ').nth(1), Some("\"intake\""));
    assert_eq!(range["start"]["line"], 3);
    let position = marker(TEMPLATE, "id: int$0ake");
    let mut params = at(&session.path, &position);
    params["newName"] = json!("triage");
    let edit = session.client.request("textDocument/rename", params);
    let edits = edit["changes"].as_object().unwrap().values().next().unwrap().as_array().unwrap().clone();
    let renamed = apply_edits(TEMPLATE, &edits, Columns::Utf16);
    assert_eq!(
        renamed,
        TEMPLATE.replace("intake", "triage").replace("docs/tasks/{task}/triage.md", "docs/tasks/{task}/intake.md")
    );
    session.client.shutdown();
}

#[test]
fn outline_inlay_hints_and_workflow_link() {
    let mut session = Session::start("phases-outline");
    let path = session.path.clone();
    let symbols =
        session.client.request("textDocument/documentSymbol", json!({ "textDocument": text_document(&path) }));
    let template = &symbols[0];
    assert_eq!(template["name"], "feature");
    assert_eq!(template["detail"], "From request to release.");
    let phases: Vec<(&str, &str)> = template["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|phase| (phase["name"].as_str().unwrap(), phase["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        phases,
        [("intake", "Understand the request"), ("research", "Know what exists"), ("release", "Ship it")]
    );

    let end = json!({ "line": TEMPLATE.lines().count(), "character": 0 });
    let hints = session.client.request(
        "textDocument/inlayHint",
        json!({ "textDocument": text_document(&path), "range": { "start": { "line": 0, "character": 0 }, "end": end } }),
    );
    let lines: Vec<&str> = TEMPLATE.lines().collect();
    let shown: Vec<String> = hints
        .as_array()
        .unwrap()
        .iter()
        .map(|hint| {
            let line = lines[hint["position"]["line"].as_u64().unwrap() as usize];
            let column = hint["position"]["character"].as_u64().unwrap() as usize;
            format!("{}‸ {}", &line[..column], hint["label"].as_str().unwrap())
        })
        .collect();
    assert_eq!(shown, ["  - id: intake‸ 1/3", "  - id: research‸ 2/3", "  - id: release‸ 3/3"]);

    let links = session.client.request("textDocument/documentLink", json!({ "textDocument": text_document(&path) }));
    let links = links.as_array().unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    let target = lsp_support::uri_path(links[0]["target"].as_str().unwrap());
    assert_eq!(target, session.project.path.join("release/release.plan.yaml"));
    assert!(Path::new(&target).is_file());
    session.client.shutdown();
}
