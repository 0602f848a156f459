//! Diagnostics as the user types: half-typed YAML keeps the diagnostics of the parts that parse,
//! and a publish is never for an older text than one the server has already published.

mod common;
mod lsp_support;

use common::lsp_client::{LspClient, TempProject};
use lsp_support::{codes, edit, range_is_inside, render_diagnostics, settled_diagnostics, Columns};
use serde_json::Value;

const CONFIG: &str = "plugins:\n  build_tool:\n    command: make\n  test_tool:\n    command: make\n";

/// A workflow with a duplicate id at the end, and `LINE` where each case puts its half-typed line.
const TYPING: &str = "\
workflow_id: typing
stages:
  - id: build
    script: build_tool
  - id: test
    script: test_tool
LINE
  - id: build
    script: build_tool
";

#[test]
fn half_typed_yaml_keeps_the_diagnostics_of_what_parses() {
    let project = TempProject::new("half-typed");
    project.write("weft.yaml", CONFIG);
    let path = project.path.join("typing.workflow.yaml");
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, &TYPING.replace("LINE\n", ""));
    assert_eq!(codes(&client.diagnostics(&path)), ["duplicate-id"]);

    let mut shown = String::new();
    let cases = [
        // An unclosed flow list, as typed before the `]`.
        "    depends_on: [build",
        "    depends_on: [build, ",
        // An unclosed quote in an expression.
        "    condition: \"steps.build.status == ",
        // A tab where YAML wants spaces.
        "\tretries: 2",
        // A flow mapping that is not closed.
        "    requires: { files: [a.txt]",
    ];
    for (index, line) in cases.iter().enumerate() {
        let text = TYPING.replace("LINE", line);
        let version = index as i64 + 2;
        client.change_full(&path, version, &text);
        let published = client.diagnostics(&path);
        assert_eq!(published["version"], version);
        let found = codes(&published);
        assert!(found.contains(&"syntax".to_owned()), "{line:?}: {found:?}");
        // The duplicate below the broken line is still found, on the right line.
        let duplicate = published["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "duplicate-id");
        assert_eq!(
            duplicate.map(|d| d["range"]["start"]["line"].clone()),
            Some(Value::from(7)),
            "{line:?}: {}",
            render_diagnostics(&text, &published)
        );
        for diagnostic in published["diagnostics"].as_array().unwrap() {
            assert!(range_is_inside(&text, &diagnostic["range"], Columns::Utf16), "{diagnostic}");
        }
        shown.push_str(&format!("## {line:?}\n{}\n", render_diagnostics(&text, &published)));
    }
    insta::assert_snapshot!("half_typed", shown);
    client.shutdown();
}

/// Forty versions sent back to back, each naming a different unknown stage. Whatever the server
/// publishes in between must describe the version it is labelled with, the versions must only go
/// up, and the last publish must be the last version.
#[test]
fn no_stale_version_is_ever_published() {
    let project = TempProject::new("stale");
    project.write("weft.yaml", CONFIG);
    let path = project.path.join("stale.workflow.yaml");
    let mut client = LspClient::start(&project.path);
    client.registration();
    let text_of = |version: i64| {
        format!("workflow_id: stale\nstages:\n  - id: build\n    script: build_tool\n    depends_on: [missing_v{version}]\n")
    };
    client.open(&path, &text_of(1));
    let mut text = text_of(1);
    let mut published = vec![client.diagnostics(&path)];
    let mut version = 1;
    for round in 0..40 {
        version += 1;
        if round % 2 == 0 {
            client.change_full(&path, version, &text_of(version));
            text = text_of(version);
        } else {
            // The same change as an incremental edit of the number only.
            let start = text.find("missing_v").unwrap() + "missing_v".len();
            let end = text[start..].find(']').unwrap() + start;
            edit(&mut client, &path, version, &mut text, start..end, &version.to_string(), Columns::Utf16);
            assert_eq!(text, text_of(version));
        }
        if round % 10 == 9 {
            // Now and then, read what has come so far, as an editor would while the user types.
            published.push(client.diagnostics(&path));
        }
    }
    let last = settled_diagnostics(&mut client, &path, version);
    published.push(last);
    let mut previous = 0;
    for publish in &published {
        let labelled = publish["version"].as_i64().unwrap();
        assert!(labelled >= previous, "versions only go up: {labelled} after {previous}");
        previous = labelled;
        let message = publish["diagnostics"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`missing_v{labelled}`")),
            "the publish labelled {labelled} describes that version's text: {message}"
        );
    }
    client.shutdown();
}

/// A key typed before its colon (`    depen`) is the most common half-typed line of all.
#[test]
fn a_key_without_its_colon_yet() {
    let project = TempProject::new("half-typed-key");
    project.write("weft.yaml", CONFIG);
    let path = project.path.join("typing.workflow.yaml");
    let mut client = LspClient::start(&project.path);
    client.registration();
    let text = TYPING.replace("LINE", "    depen");
    client.open(&path, &text);
    let published = client.diagnostics(&path);
    let shown = render_diagnostics(&text, &published);
    let lines: Vec<(String, Value)> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap().to_owned(), d["range"]["start"]["line"].clone()))
        .collect();
    assert!(lines.contains(&("syntax".to_owned(), Value::from(6))), "the error is on `depen`: {shown}");
    assert!(lines.contains(&("duplicate-id".to_owned(), Value::from(7))), "{shown}");
    client.shutdown();
}
