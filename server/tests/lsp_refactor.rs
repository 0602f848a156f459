//! Rename and quick fixes through the real protocol. Every workspace edit the server returns is
//! applied to the test's own copy of the files, and the result is sent back to the server, which
//! must then not report what the edit was meant to fix.

mod common;
mod lsp_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::lsp_client::{cursor, uri, LspClient, TempProject};
use lsp_support::{
    apply_edits, at, barrier, codes, describe_range, render_diagnostics, settled_diagnostics, uri_path, Columns,
};
use serde_json::{json, Value};

const CONFIG: &str = "\
plugins:
  build_tool:
    description: Builds the project
    command: make
  test_tool:
    command: make
    args: [test]
hooks:
  - on: workflow_started
    run: echo start
";

const WORKFLOW: &str = "\
workflow_id: demo
stages:
  - id: build
    script: build_tool
    provides: [artifact]
  - id: test
    script: test_tool
    depends_on: [build]
    condition: \"steps.build.status == 'succeeded' && steps['build'].outputs.artifact != ''\"
    on_failure: fallback
    fallback: rebuild
  - id: rebuild
    script: build_tool
  - id: deploy
    script: build_tool
    depends_on:
      - test
      - build
";

/// A second workflow, on disk only, that uses `build_tool` too.
const OTHER: &str = "workflow_id: other\nstages:\n  - id: nightly\n    script: build_tool\n";

/// Files by path as the test (the "editor") has them, and which of them are open in the server.
struct Editor {
    client: LspClient,
    project: TempProject,
    texts: BTreeMap<PathBuf, String>,
    versions: BTreeMap<PathBuf, i64>,
}

impl Editor {
    fn start(name: &str, workflow: &str) -> (Editor, PathBuf) {
        Editor::start_with(name, CONFIG, workflow)
    }

    fn start_with(name: &str, config: &str, workflow: &str) -> (Editor, PathBuf) {
        let project = TempProject::new(name);
        let mut texts = BTreeMap::new();
        for (relative, text) in
            [("weft.yaml", config), ("demo.workflow.yaml", workflow), ("ci/other.workflow.yaml", OTHER)]
        {
            texts.insert(project.write(relative, text), text.to_owned());
        }
        let mut client = LspClient::start(&project.path);
        client.registration();
        let path = project.path.join("demo.workflow.yaml");
        let mut editor = Editor { client, project, texts, versions: BTreeMap::new() };
        editor.open(&path);
        (editor, path)
    }

    fn open(&mut self, path: &Path) {
        self.client.open(path, &self.texts[path]);
        self.versions.insert(path.to_path_buf(), 1);
    }

    fn text(&self, path: &Path) -> &str {
        &self.texts[path]
    }

    /// Applies a `WorkspaceEdit` (`changes` form): open files get a `didChange` with the new text,
    /// files on disk are rewritten and announced as a watched change, as an editor does.
    fn apply(&mut self, edit: &Value) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        for (file_uri, edits) in edit["changes"].as_object().expect("a `changes` workspace edit") {
            let path = uri_path(file_uri);
            let new_text = apply_edits(&self.texts[&path], edits.as_array().unwrap(), Columns::Utf16);
            self.texts.insert(path.clone(), new_text.clone());
            match self.versions.get_mut(&path) {
                Some(version) => {
                    *version += 1;
                    let version = *version;
                    self.client.change_full(&path, version, &new_text);
                }
                None => {
                    std::fs::write(&path, &new_text).unwrap();
                    self.client.notify(
                        "workspace/didChangeWatchedFiles",
                        json!({ "changes": [{ "uri": uri(&path), "type": 2 }] }),
                    );
                }
            }
            changed.push(path);
        }
        changed
    }

    /// The diagnostics of an open file, checked to be for its latest version.
    fn diagnostics(&mut self, path: &Path) -> Value {
        let published = self.client.diagnostics(path);
        assert_eq!(published["version"], self.versions[path], "{published}");
        published
    }

    fn position(&self, path: &Path, needle: &str) -> Value {
        let plain = needle.replace("$0", "");
        let text = self.text(path);
        assert_eq!(text.matches(&plain).count(), 1, "{plain:?} occurs once");
        cursor(&text.replacen(&plain, needle, 1)).1
    }

    /// The quick fixes for the first diagnostic with `code`, asked for on its range.
    fn quick_fixes(&mut self, path: &Path, published: &Value, code: &str) -> Vec<Value> {
        let diagnostic = published["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["code"] == code)
            .unwrap_or_else(|| panic!("a {code} diagnostic in {published}"))
            .clone();
        let actions = self.client.request(
            "textDocument/codeAction",
            json!({
                "textDocument": { "uri": uri(path) },
                "range": diagnostic["range"],
                "context": { "diagnostics": [diagnostic], "only": ["quickfix"] }
            }),
        );
        actions.as_array().unwrap().iter().filter(|action| action["diagnostics"][0]["code"] == code).cloned().collect()
    }
}

/// The text of every file a workspace edit touches, for snapshots.
fn render_edit(editor: &Editor, edit: &Value) -> String {
    let mut out = String::new();
    let files: BTreeMap<&String, &Value> = edit["changes"].as_object().unwrap().iter().collect();
    for (file_uri, edits) in files {
        let path = uri_path(file_uri);
        let name = path.strip_prefix(&editor.project.path).unwrap().display().to_string();
        let text = editor.text(&path);
        for edit in edits.as_array().unwrap() {
            out.push_str(&format!(
                "{name} {} → {:?}\n",
                describe_range(text, &edit["range"], Columns::Utf16),
                edit["newText"].as_str().unwrap()
            ));
        }
    }
    out
}

#[test]
fn rename_a_stage_everywhere_and_refuse_bad_names() {
    let (mut editor, path) = Editor::start("rename-stage", WORKFLOW);
    assert_eq!(codes(&editor.diagnostics(&path)), Vec::<String>::new());

    // prepareRename: the id's range and its text as the placeholder.
    let position = editor.position(&path, "depends_on: [bu$0ild]");
    let prepared = editor.client.request("textDocument/prepareRename", at(&path, &position));
    assert_eq!(prepared["placeholder"], "build");
    assert_eq!(describe_range(editor.text(&path), &prepared["range"], Columns::Utf16), "7:17-7:22 \"build\"");

    // Refused: not an id, and an invalid or taken new name. Each refusal says why; prepareRename
    // refuses as the protocol asks, with RequestFailed and a message the editor shows.
    let on_key = editor.position(&path, "on_fail$0ure");
    let id = editor.client.send_request("textDocument/prepareRename", at(&path, &on_key));
    let response = editor.client.response(id);
    assert_eq!(response["error"]["code"], -32803, "{response}");
    assert!(response["error"]["message"].as_str().unwrap().contains("can be renamed"), "{response}");
    // A rename asked there anyway is refused the same way: a valid request that cannot be done.
    let mut params = at(&path, &on_key);
    params["newName"] = json!("fine_name");
    let id = editor.client.send_request("textDocument/rename", params);
    let response = editor.client.response(id);
    assert_eq!(response["error"]["code"], -32803, "{response}");
    assert_eq!(response["error"]["message"], "nothing to rename here", "{response}");
    let mut refusals = String::new();
    for new_name in ["has space", "", "test", "ünïcode"] {
        let mut params = at(&path, &position);
        params["newName"] = json!(new_name);
        let id = editor.client.send_request("textDocument/rename", params);
        let response = editor.client.response(id);
        assert!(response.get("result").is_none(), "{response}");
        refusals.push_str(&format!("{new_name:?}: {} {}\n", response["error"]["code"], response["error"]["message"]));
    }
    insta::assert_snapshot!("rename_refusals", refusals);

    // From a use in `depends_on`: the definition, the other lists and both forms in the expression.
    let mut params = at(&path, &position);
    params["newName"] = json!("compile");
    let edit = editor.client.request("textDocument/rename", params);
    let shown = render_edit(&editor, &edit);
    editor.apply(&edit);
    insta::assert_snapshot!("rename_stage_edits", format!("{shown}\n{}", editor.text(&path)));
    assert_eq!(codes(&editor.diagnostics(&path)), Vec::<String>::new(), "the renamed file is clean");

    // The fallback target, renamed from the `fallback:` value, to an id with a dot.
    let position = editor.position(&path, "fallback: re$0build");
    let mut params = at(&path, &position);
    params["newName"] = json!("build.again");
    let edit = editor.client.request("textDocument/rename", params);
    editor.apply(&edit);
    assert!(editor.text(&path).contains("fallback: build.again\n  - id: build.again\n"), "{}", editor.text(&path));
    assert_eq!(codes(&editor.diagnostics(&path)), Vec::<String>::new());

    // An id with a dot cannot stay a dotted path segment in an expression: `steps.x.status`
    // becomes `steps['x.y'].status`.
    let position = editor.position(&path, "id: comp$0ile");
    let mut params = at(&path, &position);
    params["newName"] = json!("compile.v2");
    let edit = editor.client.request("textDocument/rename", params);
    editor.apply(&edit);
    assert!(
        editor.text(&path).contains(
            "condition: \"steps['compile.v2'].status == 'succeeded' && steps['compile.v2'].outputs.artifact != ''\""
        ),
        "{}",
        editor.text(&path)
    );
    assert_eq!(codes(&editor.diagnostics(&path)), Vec::<String>::new());
    editor.client.shutdown();
}

#[test]
fn a_duplicated_id_is_not_renamed() {
    let workflow = "workflow_id: dup\nstages:\n  - id: build\n    script: build_tool\n  - id: build  # again\n    script: build_tool\n  - id: test\n    script: test_tool\n    depends_on: [build]\n";
    let (mut editor, path) = Editor::start("rename-duplicate", workflow);
    assert_eq!(codes(&editor.diagnostics(&path)), vec!["duplicate-id".to_owned()]);
    for needle in ["[bu$0ild]", "id: bu$0ild  # again"] {
        let position = editor.position(&path, needle);
        let id = editor.client.send_request("textDocument/prepareRename", at(&path, &position));
        let response = editor.client.response(id);
        assert_eq!(
            response["error"]["message"], "`build` is defined 2 times; remove the duplicates before renaming it",
            "{response}"
        );
        let mut params = at(&path, &position);
        params["newName"] = json!("compile");
        let id = editor.client.send_request("textDocument/rename", params);
        let response = editor.client.response(id);
        assert!(response.get("result").is_none(), "{response}");
        assert!(response["error"]["message"].as_str().unwrap().contains("defined 2 times"), "{response}");
    }
    // The other ids still rename.
    let position = editor.position(&path, "id: te$0st");
    let mut params = at(&path, &position);
    params["newName"] = json!("check");
    let edit = editor.client.request("textDocument/rename", params);
    editor.apply(&edit);
    assert!(editor.text(&path).contains("  - id: check\n"), "{}", editor.text(&path));
    assert_eq!(codes(&editor.diagnostics(&path)), vec!["duplicate-id".to_owned()]);
    editor.client.shutdown();
}

#[test]
fn rename_a_plugin_across_files() {
    let (mut editor, path) = Editor::start("rename-plugin", WORKFLOW);
    editor.diagnostics(&path);
    let config = editor.project.path.join("weft.yaml");
    let other = editor.project.path.join("ci/other.workflow.yaml");

    // A hook point is a fixed name.
    let hook = editor.position(&config, "on: workflow_$0started");
    let id = editor.client.send_request("textDocument/prepareRename", at(&config, &hook));
    let response = editor.client.response(id);
    assert_eq!(response["error"]["message"], "hook points are fixed names and cannot be renamed", "{response}");

    let position = editor.position(&path, "script: build_tool\n    provides$0");
    let position = json!({ "line": position["line"].as_u64().unwrap() - 1, "character": 14 });
    let prepared = editor.client.request("textDocument/prepareRename", at(&path, &position));
    assert_eq!(prepared["placeholder"], "build_tool");
    let mut params = at(&path, &position);
    params["newName"] = json!("test_tool");
    let id = editor.client.send_request("textDocument/rename", params.clone());
    let response = editor.client.response(id);
    assert_eq!(response["error"]["message"], "`test_tool` is already used; ids must be unique", "{response}");

    params["newName"] = json!("compiler");
    let edit = editor.client.request("textDocument/rename", params);
    insta::assert_snapshot!("rename_plugin_edits", render_edit(&editor, &edit));
    let changed = editor.apply(&edit);
    assert_eq!(changed.len(), 3, "weft.yaml and both workflows: {changed:?}");
    assert!(editor.text(&config).contains("\n  compiler:\n"));
    assert!(editor.text(&other).contains("script: compiler\n"));
    // The open workflow was changed and its config on disk was rewritten: whichever the server
    // handles first, its last word on the workflow is that it is clean.
    let published = settled_diagnostics(&mut editor.client, &path, editor.versions[&path]);
    assert_eq!(codes(&published), Vec::<String>::new(), "{}", render_diagnostics(editor.text(&path), &published));
    editor.client.shutdown();
}

const FIXES_WORKFLOW: &str = "\
workflow_id: fixes
stages:
  - id: build
    script: build_tool
    provides: [artifact]
  - id: test
    script: test_tool
    depends_on: [biuld, test]
  - id: deploy
    script: deploy_tool
    consumes: [artifact]
";

/// Applies the quick fix titled `title_start…` for each code in turn, checking after each that the
/// server no longer reports what it fixed; returns the fixes and the final texts for a snapshot.
fn apply_quick_fixes(editor: &mut Editor, path: &Path, fixes: &[(&str, &str)]) -> String {
    let config = editor.project.path.join("weft.yaml");
    let mut published = editor.diagnostics(path);
    let mut shown = render_diagnostics(editor.text(path), &published);
    for (code, title_start) in fixes {
        let offered = editor.quick_fixes(path, &published, code);
        let titles: Vec<&str> = offered.iter().map(|fix| fix["title"].as_str().unwrap()).collect();
        let fix = offered
            .iter()
            .find(|fix| fix["title"].as_str().unwrap().starts_with(title_start))
            .unwrap_or_else(|| panic!("a fix {title_start:?} for {code} among {titles:?}"));
        assert_eq!(fix["kind"], "quickfix");
        shown.push_str(&format!("\n## {code}: {titles:?}\n{}", render_edit(editor, &fix["edit"])));
        let before = codes(&published).iter().filter(|c| c == code).count();
        let changed = editor.apply(&fix["edit"]);
        published = editor.diagnostics(path);
        let after = codes(&published).iter().filter(|c| c == code).count();
        assert_eq!(
            after,
            before - 1,
            "the fix for {code} fixed it: {}",
            render_diagnostics(editor.text(path), &published)
        );
        if *code == "missing-plugin" {
            assert_eq!(
                changed.as_slice(),
                std::slice::from_ref(&config),
                "the stub goes into weft.yaml, the other file"
            );
        }
    }
    assert_eq!(codes(&published), Vec::<String>::new(), "{}", render_diagnostics(editor.text(path), &published));
    shown.push_str(&format!("\n# demo.workflow.yaml\n{}\n# weft.yaml\n{}", editor.text(path), editor.text(&config)));
    // Titles and messages name files by absolute path; snapshots must not depend on it.
    shown.replace(&editor.project.path.display().to_string(), "<project>")
}

#[test]
fn quick_fixes() {
    // `plugins:` is the last section of this `weft.yaml`.
    let config = "hooks:\n  - on: workflow_started\n    run: echo start\nplugins:\n  build_tool:\n    command: make\n  test_tool:\n    command: make\n";
    let (mut editor, path) = Editor::start_with("quick-fixes", config, FIXES_WORKFLOW);
    let shown = apply_quick_fixes(
        &mut editor,
        &path,
        &[
            ("unknown-dependency", "Replace with `build`"),
            ("self-dependency", "Remove `test`"),
            ("unprovided-resource", "Add `build` to depends_on"),
            ("missing-plugin", "Add a stub plugin"),
        ],
    );
    insta::assert_snapshot!("quick_fixes", shown);

    // The stub makes a valid `weft.yaml`: opened, it is clean (the new plugin is used), and the
    // workflow that uses it stays clean (an unchanged publish is not repeated).
    let config = editor.project.path.join("weft.yaml");
    editor.open(&config);
    assert_eq!(editor.diagnostics(&config)["diagnostics"], json!([]));
    barrier(&mut editor.client);
    for published in editor.client.drain_diagnostics(&path) {
        assert_eq!(published["diagnostics"], json!([]));
    }
    editor.client.shutdown();
}

/// The usual layout, `plugins:` followed by `hooks:`: the stub must go into `plugins`.
#[test]
fn stub_plugin_before_another_section() {
    let workflow = "workflow_id: stub\nstages:\n  - id: deploy\n    script: deploy_tool\n  - id: build\n    script: build_tool\n  - id: test\n    script: test_tool\n";
    let (mut editor, path) = Editor::start("quick-fix-stub", workflow);
    let shown = apply_quick_fixes(&mut editor, &path, &[("missing-plugin", "Add a stub plugin")]);
    let config = editor.project.path.join("weft.yaml");
    editor.open(&config);
    let published = editor.diagnostics(&config);
    assert_eq!(published["diagnostics"], json!([]), "{shown}");
    insta::assert_snapshot!("stub_plugin_before_another_section", shown);
    barrier(&mut editor.client);
    editor.client.drain_diagnostics(&path);
    editor.client.shutdown();
}
