//! The workspace as the server sees it: files indexed at `initialize`, watched files, `weft.yaml`
//! edits that change the diagnostics of the workflows below it, files that are none of weft's
//! business, and several workspace folders.

mod common;
mod lsp_support;

use std::path::Path;

use common::lsp_client::{uri, LspClient, TempProject};
use lsp_support::{at, barrier, codes, position_at, render_locations, text_document};
use serde_json::{json, Value};

const CONFIG: &str =
    "plugins:\n  build_tool:\n    description: Builds\n    command: make\n  test_tool:\n    command: make\n";
const WORKFLOW: &str = "\
workflow_id: main
stages:
  - id: build
    script: build_tool
  - id: test
    script: test_tool
    depends_on: [build]
";

fn watched(client: &mut LspClient, path: &Path, kind: u8) {
    client.notify("workspace/didChangeWatchedFiles", json!({ "changes": [{ "uri": uri(path), "type": kind }] }));
}

fn symbol_names(client: &mut LspClient, query: &str) -> Vec<String> {
    let found = client.request("workspace/symbol", json!({ "query": query }));
    let mut names: Vec<String> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|symbol| {
            // The file as `folder/name`.
            let mut parts = symbol["location"]["uri"].as_str().unwrap().rsplit('/');
            let (name, folder) = (parts.next().unwrap(), parts.next().unwrap());
            format!("{}@{folder}/{name}", symbol["name"].as_str().unwrap())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn files_are_indexed_at_initialize_and_watched_files_are_registered() {
    let project = TempProject::new("indexed");
    project.write("weft.yaml", CONFIG);
    project.write(
        "pipelines/nightly.workflow.yaml",
        "workflow_id: nightly\nstages:\n  - id: nightly_build\n    script: build_tool\n",
    );
    // Files weft does not read, and one it skips by folder.
    project
        .write("node_modules/dep/x.workflow.yaml", "workflow_id: dep\nstages:\n  - id: hidden_stage\n    script: x\n");
    project.write("package.json", "{ \"name\": \"x\", \"steps\": 1 }");
    let mut client = LspClient::start(&project.path);

    let registration = client.registration();
    let registered = &registration["registrations"][0];
    assert_eq!(registered["method"], "workspace/didChangeWatchedFiles");
    let globs: Vec<&str> = registered["registerOptions"]["watchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["globPattern"].as_str().unwrap())
        .collect();
    assert!(globs.contains(&"**/*.yaml") && globs.contains(&"**/*.yml") && globs.contains(&"**/*.json"), "{globs:?}");

    // Stages of files nobody opened.
    assert_eq!(
        symbol_names(&mut client, "build"),
        [
            format!("build_tool@{}/weft.yaml", project.path.file_name().unwrap().to_string_lossy()),
            "nightly_build@pipelines/nightly.workflow.yaml".to_owned()
        ]
    );

    // Go to definition from a new file into `weft.yaml`, which was never opened.
    let path = project.path.join("main.workflow.yaml");
    client.open(&path, WORKFLOW);
    assert_eq!(client.diagnostics(&path)["diagnostics"], json!([]));
    let found = client.request("textDocument/definition", at(&path, &position_at(WORKFLOW, "build_tool", 3)));
    assert_eq!(render_locations(&project.path, &found), "weft.yaml 1:2-1:12 \"build_tool\"\n");

    // A new workflow written to disk shows up once the client says so.
    let added = project.write(
        "pipelines/added.workflow.yaml",
        "workflow_id: added\nstages:\n  - id: added_build\n    script: build_tool\n",
    );
    watched(&mut client, &added, 1);
    assert_eq!(symbol_names(&mut client, "added_"), ["added_build@pipelines/added.workflow.yaml"]);
    std::fs::remove_file(&added).unwrap();
    watched(&mut client, &added, 3);
    assert_eq!(symbol_names(&mut client, "added_"), Vec::<String>::new());
    client.shutdown();
}

#[test]
fn a_watched_weft_yaml_clears_and_brings_back_missing_plugins() {
    let project = TempProject::new("watched");
    let mut client = LspClient::start(&project.path);
    client.registration();
    let path = project.write("main.workflow.yaml", WORKFLOW);
    client.open(&path, WORKFLOW);
    let published = client.diagnostics(&path);
    assert_eq!(codes(&published), ["missing-plugin"], "no weft.yaml yet: {published}");

    let config = project.write("weft.yaml", CONFIG);
    watched(&mut client, &config, 1);
    let published = client.diagnostics(&path);
    assert_eq!(published["diagnostics"], json!([]), "{published}");
    assert_eq!(published["version"], 1);

    // Changed on disk: a plugin is gone.
    std::fs::write(&config, "plugins:\n  build_tool:\n    command: make\n").unwrap();
    watched(&mut client, &config, 2);
    let published = client.diagnostics(&path);
    assert_eq!(codes(&published), ["missing-plugin"], "{published}");

    std::fs::remove_file(&config).unwrap();
    watched(&mut client, &config, 3);
    let published = client.diagnostics(&path);
    assert_eq!(codes(&published), ["missing-plugin"]);
    assert!(published["diagnostics"][0]["message"].as_str().unwrap().starts_with("no weft.yaml at or above"));
    client.shutdown();
}

#[test]
fn editing_an_open_weft_yaml_rechecks_the_open_workflows_that_use_it() {
    let project = TempProject::new("config-edit");
    let config = project.write("weft.yaml", CONFIG);
    let path = project.write("sub/main.workflow.yaml", WORKFLOW);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, WORKFLOW);
    assert_eq!(client.diagnostics(&path)["diagnostics"], json!([]));
    client.open(&config, CONFIG);
    assert_eq!(client.diagnostics(&config)["diagnostics"], json!([]));
    // Opening the config re-checks the workflow; the server does not repeat an unchanged publish.
    barrier(&mut client);
    assert_eq!(client.drain_diagnostics(&path), Vec::<Value>::new());

    // Rename a plugin in the config buffer (unsaved): the workflow's use of it breaks at once.
    let edited = CONFIG.replace("test_tool", "unit_tool");
    client.change_full(&config, 2, &edited);
    let published = client.diagnostics(&path);
    assert_eq!(codes(&published), ["missing-plugin"], "{published}");
    assert_eq!(published["version"], 1, "the workflow itself did not change");
    let published = client.diagnostics(&config);
    assert_eq!(codes(&published), ["unused-plugin"], "{published}");
    assert_eq!(published["version"], 2);

    // Closing the config without saving: the disk version counts again.
    client.notify("textDocument/didClose", json!({ "textDocument": text_document(&config) }));
    let cleared = client.diagnostics(&config);
    assert_eq!(cleared["diagnostics"], json!([]));
    assert_eq!(client.diagnostics(&path)["diagnostics"], json!([]));
    client.shutdown();
}

#[test]
fn yaml_and_json_files_that_are_not_weft_files_get_no_diagnostics() {
    let project = TempProject::new("foreign");
    project.write("weft.yaml", CONFIG);
    let mut client = LspClient::start(&project.path);
    client.registration();
    let compose = "services:\n  web:\n    image: nginx\n    ports: [\"80:80\"\n    depends_on: [db, db]\n";
    let package = "{ \"name\": \"app\", \"scripts\": { \"build\": \"tsc\" }, \"dependencies\": {} ";
    let actions = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n";
    let files = [
        (project.write("docker-compose.yml", compose), compose),
        (project.write("package.json", package), package),
        (project.write(".github/workflows/ci.yml", actions), actions),
    ];
    for (path, text) in &files {
        client.open(path, text);
        client.change_full(path, 2, &format!("{text}\n# edited\n"));
    }
    // Requests on them answer, with nothing.
    for (path, _) in &files {
        let completion = client.request("textDocument/completion", at(path, &json!({ "line": 1, "character": 2 })));
        assert!(completion.is_null() || completion["items"] == json!([]), "{completion}");
        let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": text_document(path) }));
        assert!(symbols.is_null() || symbols == json!([]), "{symbols}");
        let hover = client.request("textDocument/hover", at(path, &json!({ "line": 0, "character": 1 })));
        assert!(hover.is_null(), "{hover}");
        client.notify("textDocument/didClose", json!({ "textDocument": text_document(path) }));
    }
    // The client fails on any message it did not read: no publishDiagnostics may have come.
    client.assert_all_read();
    client.shutdown();
}

#[test]
fn several_workspace_folders() {
    let first = TempProject::new("root-one");
    let second = TempProject::new("root-two");
    first.write("weft.yaml", CONFIG);
    first.write("one.workflow.yaml", "workflow_id: one\nstages:\n  - id: first_stage\n    script: build_tool\n");
    second.write("weft.yaml", "plugins:\n  deploy_tool:\n    command: ./deploy\n");
    let two = "workflow_id: two\nstages:\n  - id: second_stage\n    script: deploy_tool\n";
    let two_path = second.write("two.workflow.yaml", two);
    let mut client = LspClient::start_with_folders(&[&first.path, &second.path], json!({}));
    client.registration();

    let names = symbol_names(&mut client, "_stage");
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with("first_stage@weft-test-root-one")
            && names[1].starts_with("second_stage@weft-test-root-two")
    );

    // Each workflow resolves plugins against the `weft.yaml` of its own folder.
    client.open(&two_path, two);
    assert_eq!(client.diagnostics(&two_path)["diagnostics"], json!([]));
    let found = client.request("textDocument/definition", at(&two_path, &position_at(two, "deploy_tool", 2)));
    assert_eq!(found["uri"], Value::String(uri(&second.path.join("weft.yaml"))));

    // Folders come and go.
    let third = TempProject::new("root-three");
    third.write("three.workflow.yaml", "workflow_id: three\nstages:\n  - id: third_stage\n    script: build_tool\n");
    client.notify(
        "workspace/didChangeWorkspaceFolders",
        json!({ "event": {
            "added": [{ "uri": uri(&third.path), "name": "three" }],
            "removed": [{ "uri": uri(&first.path), "name": "folder0" }]
        } }),
    );
    let names = symbol_names(&mut client, "_stage");
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("second_stage@") && names[1].starts_with("third_stage@"), "{names:?}");
    // Open files are checked again when folders change (and stay clean: nothing new to publish).
    barrier(&mut client);
    for published in client.drain_diagnostics(&two_path) {
        assert_eq!(published["diagnostics"], json!([]));
    }
    client.shutdown();
}
