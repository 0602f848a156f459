//! The command line through the binary: exit statuses, the four `weft check` formats, file
//! discovery, `weft graph`, help and usage errors (SPEC §10).
//!
//! The JSON report is validated against `schemas/check-output.schema.json`, which documents its
//! shape for users, and its keys are compared with SPEC §10 directly as well.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::LazyLock;

use serde_json::Value;

fn repository() -> PathBuf {
    weft::cli::files::absolute(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// `weft ARGS`, run from the repository root so that `examples/...` paths are given as written.
fn weft(args: &[&str]) -> Output {
    weft_in(&repository(), args)
}

fn weft_in(folder: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .current_dir(folder)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run weft")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn status(output: &Output) -> i32 {
    output.status.code().expect("weft exited, it was not killed")
}

/// The example projects that must check clean: every folder of `examples/` but `broken`.
fn clean_examples() -> Vec<String> {
    let mut projects: Vec<String> = std::fs::read_dir(repository().join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir() && !path.ends_with("broken"))
        .map(|path| format!("examples/{}", path.file_name().unwrap().to_str().unwrap()))
        .collect();
    projects.sort();
    assert!(projects.len() >= 4, "{projects:?}");
    projects
}

/// A fresh folder under the system temp folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("weft-cli-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------------
// The JSON report and its schema

static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    let text = std::fs::read_to_string(repository().join("schemas/check-output.schema.json")).unwrap();
    serde_json::from_str(&text).expect("the schema is JSON")
});

static VALIDATOR: LazyLock<jsonschema::Validator> =
    LazyLock::new(|| jsonschema::validator_for(&SCHEMA).expect("the schema compiles"));

fn assert_valid_report(report: &Value) {
    let errors: Vec<String> =
        VALIDATOR.iter_errors(report).map(|error| format!("{} at {}", error, error.instance_path())).collect();
    assert!(errors.is_empty(), "the report breaks schemas/check-output.schema.json:\n{}\n{report}", errors.join("\n"));
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value.as_object().unwrap_or_else(|| panic!("an object: {value}")).keys().map(String::as_str).collect()
}

/// Checks the report's shape by hand too, exactly as SPEC §10 writes it.
fn assert_spec_shape(report: &Value) {
    assert_eq!(keys(report), BTreeSet::from(["files", "diagnostics"]));
    assert!(report["files"].is_u64());
    for diagnostic in report["diagnostics"].as_array().unwrap() {
        assert_eq!(
            keys(diagnostic),
            BTreeSet::from(["file", "code", "severity", "message", "range", "help", "fixes"]),
            "{diagnostic}"
        );
        assert!(diagnostic["help"].is_null() || diagnostic["help"].is_string(), "{diagnostic}");
        for fix in diagnostic["fixes"].as_array().unwrap() {
            assert_eq!(keys(fix), BTreeSet::from(["message", "edits"]), "{diagnostic}");
            for edit in fix["edits"].as_array().unwrap() {
                assert_eq!(keys(edit), BTreeSet::from(["file", "range", "text"]), "{diagnostic}");
            }
        }
        assert_eq!(keys(&diagnostic["range"]), BTreeSet::from(["start", "end"]));
        for end in ["start", "end"] {
            let position = &diagnostic["range"][end];
            assert_eq!(keys(position), BTreeSet::from(["line", "column"]));
            assert!(position["line"].as_u64().unwrap() >= 1 && position["column"].as_u64().unwrap() >= 1);
        }
        let (start, end) = (&diagnostic["range"]["start"], &diagnostic["range"]["end"]);
        let at = |p: &Value| (p["line"].as_u64().unwrap(), p["column"].as_u64().unwrap());
        assert!(at(start) <= at(end), "the range is not reversed: {diagnostic}");
        assert!(["error", "warning", "info", "hint"].contains(&diagnostic["severity"].as_str().unwrap()));
        assert!(weft::analysis::Code::parse(diagnostic["code"].as_str().unwrap()).is_some(), "{diagnostic}");
    }
}

fn json_report(args: &[&str]) -> (i32, Value) {
    let output = weft(args);
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "one JSON object on one line: {text}");
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_valid_report(&report);
    assert_spec_shape(&report);
    (status(&output), report)
}

#[test]
fn the_output_schema_is_a_valid_documented_closed_2020_12_schema() {
    assert_eq!(SCHEMA["$schema"], "https://json-schema.org/draft/2020-12/schema");
    jsonschema::meta::validate(&SCHEMA).expect("valid against the 2020-12 meta-schema");
    // Every object is closed and every property is described.
    let mut pending = vec![("#".to_owned(), &*SCHEMA)];
    let mut objects = 0;
    while let Some((path, schema)) = pending.pop() {
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            objects += 1;
            assert_eq!(schema["type"], "object", "{path}");
            assert_eq!(schema["additionalProperties"], false, "{path} must not allow other keys");
            let required: BTreeSet<&str> =
                schema["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            assert_eq!(required, properties.keys().map(String::as_str).collect(), "{path}: every key is required");
            for (name, property) in properties {
                let description = property.get("description").and_then(Value::as_str).unwrap_or_default();
                assert!(description.len() > 10, "{path}/{name} needs a description");
                pending.push((format!("{path}/properties/{name}"), property));
            }
        }
        for (name, definition) in schema.get("$defs").and_then(Value::as_object).into_iter().flatten() {
            assert!(definition.get("description").is_some(), "$defs/{name} needs a description");
            pending.push((format!("{path}/$defs/{name}"), definition));
        }
        if let Some(items) = schema.get("items") {
            pending.push((format!("{path}/items"), items));
        }
    }
    assert_eq!(objects, 6, "the report, a diagnostic, a fix, an edit, a range and a position");
    // The codes the schema lists are exactly weft's codes.
    let listed: BTreeSet<&str> = SCHEMA["$defs"]["diagnostic"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let codes: BTreeSet<&str> = weft::analysis::Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, codes);
}

#[test]
fn the_output_schema_rejects_what_the_spec_does_not_allow() {
    let range = serde_json::json!({"start": {"line": 1, "column": 1}, "end": {"line": 1, "column": 9}});
    let good = serde_json::json!({"files": 1, "diagnostics": [{"file": "a.workflow.yaml", "code": "cycle",
        "severity": "error", "message": "m", "range": range, "help": null, "fixes": []}]});
    assert!(VALIDATOR.is_valid(&good));
    let mut with_fix = good.clone();
    with_fix["diagnostics"][0]["help"] = "did you mean `build`?".into();
    with_fix["diagnostics"][0]["fixes"] = serde_json::json!([{"message": "Replace with `build`",
        "edits": [{"file": "a.workflow.yaml", "range": range, "text": "build"}]}]);
    assert!(VALIDATOR.is_valid(&with_fix));
    let mut bad = Vec::new();
    let mut extra = good.clone();
    extra["version"] = 1.into();
    bad.push(extra);
    let mut extra = good.clone();
    extra["diagnostics"][0]["hint"] = "h".into();
    bad.push(extra);
    let mut missing = good.clone();
    missing["diagnostics"][0].as_object_mut().unwrap().remove("help");
    bad.push(missing);
    let mut extra = with_fix.clone();
    extra["diagnostics"][0]["fixes"][0]["edits"][0]["offset"] = 0.into();
    bad.push(extra);
    let mut no_edits = with_fix.clone();
    no_edits["diagnostics"][0]["fixes"][0]["edits"] = serde_json::json!([]);
    bad.push(no_edits);
    let mut extra = good.clone();
    extra["diagnostics"][0]["range"]["start"]["offset"] = 0.into();
    bad.push(extra);
    let mut zero = good.clone();
    zero["diagnostics"][0]["range"]["start"]["column"] = 0.into();
    bad.push(zero);
    let mut severity = good.clone();
    severity["diagnostics"][0]["severity"] = "fatal".into();
    bad.push(severity);
    let mut code = good.clone();
    code["diagnostics"][0]["code"] = "E001".into();
    bad.push(code);
    let mut missing = good.clone();
    missing["diagnostics"][0].as_object_mut().unwrap().remove("range");
    bad.push(missing);
    for report in bad {
        assert!(!VALIDATOR.is_valid(&report), "{report}");
    }
}

#[test]
fn examples_check_clean() {
    for project in clean_examples() {
        let output = weft(&["check", &project]);
        assert_eq!(status(&output), 0, "{project}:\n{}{}", stdout(&output), stderr(&output));
        let text = stdout(&output);
        assert!(text.starts_with("No problems found in ") && text.lines().count() == 1, "{project}:\n{text}");
        assert!(stderr(&output).is_empty(), "{}", stderr(&output));
        let (code, report) = json_report(&["check", &project, "--format", "json"]);
        assert_eq!(code, 0);
        assert_eq!(report["diagnostics"], serde_json::json!([]), "{project}");
        assert!(report["files"].as_u64().unwrap() >= 2, "{project}: its workflow or plan and weft.yaml");
    }
    // All of them at once.
    let projects = clean_examples();
    let mut args = vec!["check", "--format", "json"];
    args.extend(projects.iter().map(String::as_str));
    let (code, report) = json_report(&args);
    assert_eq!((code, report["diagnostics"].as_array().unwrap().len()), (0, 0));
}

/// `examples/` holds `examples/broken`, whose files are broken on purpose; `examples/.weftignore`
/// leaves it out when the folder is walked, so `weft check examples/` is clean, while naming the
/// folder checks it.
#[test]
fn examples_check_clean_and_weftignore_only_applies_while_walking() {
    let (code, whole) = json_report(&["check", "examples/", "--format", "json"]);
    assert_eq!(code, 0, "{whole}");
    assert_eq!(whole["diagnostics"], serde_json::json!([]));
    assert!(whole["files"].as_u64().unwrap() >= 8);
    let (code, broken) = json_report(&["check", "examples/broken", "--format", "json"]);
    assert_eq!(code, 1);
    assert!(!broken["diagnostics"].as_array().unwrap().is_empty());
}

#[test]
fn broken_examples_exit_1_with_every_code_once() {
    let output = weft(&["check", "examples/broken"]);
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.trim_end().ends_with("in 6 files."), "{text}");
    assert!(text.contains("error[cycle]: dependency cycle: package → docs → package"), "{text}");

    let (code, report) = json_report(&["check", "examples/broken", "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(report["files"], 6, "two weft.yaml, two workflows, a plan and a phase template");
    let diagnostics = report["diagnostics"].as_array().unwrap();
    let mut codes: Vec<&str> = diagnostics.iter().map(|d| d["code"].as_str().unwrap()).collect();
    codes.sort_unstable();
    let mut all: Vec<&str> = weft::analysis::Code::ALL.iter().map(|c| c.as_str()).collect();
    all.sort_unstable();
    assert_eq!(codes, all);
    // Paths as given, sorted; each file's diagnostics by position.
    let files: Vec<&str> = diagnostics.iter().map(|d| d["file"].as_str().unwrap()).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
    assert!(files.contains(&"examples/broken/pipeline.workflow.yaml"), "{files:?}");
    assert!(files.contains(&"examples/broken/syntax/syntax.workflow.yaml"), "{files:?}");
    let severities: BTreeSet<&str> = diagnostics.iter().map(|d| d["severity"].as_str().unwrap()).collect();
    assert_eq!(severities, BTreeSet::from(["error", "warning", "hint"]));
    let unknown = diagnostics.iter().find(|d| d["code"] == "unknown-dependency").unwrap();
    assert_eq!(
        unknown["range"],
        serde_json::json!({"start": {"line": 10, "column": 18}, "end": {"line": 10, "column": 23}})
    );

    // The same through a `./` prefix and an absolute path: the file is named as given.
    let (_, report) = json_report(&["check", "./examples/broken/limits.plan.yaml", "--format", "json"]);
    assert_eq!(report["diagnostics"][0]["file"], "./examples/broken/limits.plan.yaml");
    let absolute = repository().join("examples/broken/limits.plan.yaml");
    let (code, report) = json_report(&["check", absolute.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "a warning alone does not fail the check");
    assert_eq!(report["diagnostics"][0]["file"], absolute.to_str().unwrap());
    assert_eq!(report["diagnostics"][0]["severity"], "warning");
}

// ---------------------------------------------------------------------------------------------------
// github and sarif

/// `::error file=F,line=N,col=N,endLine=N,endColumn=N,title=T::MESSAGE`, taken apart.
#[derive(Debug, PartialEq)]
struct Annotation {
    command: String,
    file: String,
    numbers: [u64; 4],
    title: String,
    message: String,
}

fn parse_annotation(line: &str) -> Annotation {
    let rest = line.strip_prefix("::").unwrap_or_else(|| panic!("starts with `::`: {line}"));
    let (command, rest) = rest.split_once(' ').unwrap_or_else(|| panic!("a command then a space: {line}"));
    assert!(["error", "warning", "notice"].contains(&command), "{line}");
    let (properties, message) = rest.split_once("::").unwrap_or_else(|| panic!("`::` before the message: {line}"));
    let properties: Vec<(&str, &str)> =
        properties.split(',').map(|p| p.split_once('=').unwrap_or_else(|| panic!("{p:?} in {line}"))).collect();
    let names: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["file", "line", "col", "endLine", "endColumn", "title"], "{line}");
    let number = |index: usize| -> u64 {
        let value = properties[index].1;
        assert!(!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()), "{value:?} in {line}");
        value.parse().unwrap()
    };
    assert!(!message.is_empty() && !message.contains('\n'), "{line}");
    Annotation {
        command: command.to_owned(),
        file: properties[0].1.to_owned(),
        numbers: [number(1), number(2), number(3), number(4)],
        title: properties[5].1.to_owned(),
        message: message.to_owned(),
    }
}

#[test]
fn github_annotations_have_the_workflow_command_shape_and_agree_with_json() {
    let output = weft(&["check", "examples/broken", "--format", "github"]);
    assert_eq!(status(&output), 1);
    let annotations: Vec<Annotation> = stdout(&output).lines().map(parse_annotation).collect();
    let (_, report) = json_report(&["check", "examples/broken", "--format", "json"]);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(annotations.len(), diagnostics.len());
    for (annotation, diagnostic) in annotations.iter().zip(diagnostics) {
        let expected_command = match diagnostic["severity"].as_str().unwrap() {
            "error" => "error",
            "warning" => "warning",
            _ => "notice",
        };
        assert_eq!(annotation.command, expected_command);
        assert_eq!(annotation.file, diagnostic["file"].as_str().unwrap());
        let range = &diagnostic["range"];
        let numbers =
            [&range["start"]["line"], &range["start"]["column"], &range["end"]["line"], &range["end"]["column"]]
                .map(|n| n.as_u64().unwrap());
        assert_eq!(annotation.numbers, numbers, "{annotation:?}");
        assert_eq!(annotation.title, format!("weft {}", diagnostic["code"].as_str().unwrap()));
        assert!(annotation.message.starts_with(diagnostic["message"].as_str().unwrap()), "{annotation:?}");
    }
    // Clean examples print nothing at all.
    let output = weft(&["check", "examples/release", "--format", "github"]);
    assert_eq!((status(&output), stdout(&output)), (0, String::new()));
}

#[test]
fn sarif_is_2_1_0_with_one_result_per_diagnostic() {
    let output = weft(&["check", "examples/broken", "--format", "sarif"]);
    assert_eq!(status(&output), 1);
    let sarif: Value = serde_json::from_str(&stdout(&output)).expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif"), "{}", sarif["$schema"]);
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["tool"]["driver"]["name"], "weft");
    let rules: Vec<&str> =
        runs[0]["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    let results = runs[0]["results"].as_array().unwrap();
    let (_, report) = json_report(&["check", "examples/broken", "--format", "json"]);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(results.len(), diagnostics.len());
    for (result, diagnostic) in results.iter().zip(diagnostics) {
        assert_eq!(result["ruleId"], diagnostic["code"]);
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index], diagnostic["code"].as_str().unwrap());
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], diagnostic["file"]);
        let region = &location["region"];
        assert_eq!(region["startLine"], diagnostic["range"]["start"]["line"]);
        assert_eq!(region["startColumn"], diagnostic["range"]["start"]["column"]);
        assert_eq!(region["endLine"], diagnostic["range"]["end"]["line"]);
        assert_eq!(region["endColumn"], diagnostic["range"]["end"]["column"]);
    }
    let cycle = results.iter().find(|r| r["ruleId"] == "cycle").unwrap();
    assert_eq!(cycle["relatedLocations"].as_array().unwrap().len(), 2, "one related location per edge");
    // A clean run is a valid SARIF log with no results.
    let output = weft(&["check", "examples/release", "--format", "sarif"]);
    assert_eq!(status(&output), 0);
    let sarif: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(sarif["runs"][0]["results"], serde_json::json!([]));
}

// ---------------------------------------------------------------------------------------------------
// Which files are read

#[test]
fn a_missing_path_exits_2_and_is_named() {
    let output = weft(&["check", "examples/does-not-exist.workflow.yaml"]);
    assert_eq!(status(&output), 2, "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("examples/does-not-exist.workflow.yaml"), "{err}");
    assert!(err.contains("no such file"), "{err}");
    // Next to a good path: the good one is still reported, and the status is still 2.
    let (code, report) = json_report(&["check", "nowhere/", "examples/broken/limits.plan.yaml", "--format", "json"]);
    assert_eq!(code, 2);
    assert_eq!(report["files"], 1);
    assert_eq!(report["diagnostics"][0]["code"], "timeout-exceeds-limit");
}

const COMPOSE: &str = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"8080:80\"]\n    depends_on: [db]\n  db:\n    image: postgres:16\n";
const PACKAGE_JSON: &str =
    "{\n  \"name\": \"site\",\n  \"version\": \"1.0.0\",\n  \"scripts\": { \"build\": \"vite build\" }\n}\n";

#[test]
fn a_named_file_that_is_not_a_weft_file_exits_2() {
    let dir = TempDir::new("compose");
    let compose = dir.write("docker-compose.yml", COMPOSE);
    let output = weft(&["check", compose.to_str().unwrap()]);
    let err = stderr(&output);
    assert_eq!(status(&output), 2, "{err}");
    assert!(err.contains("docker-compose.yml") && err.contains("not a weft file"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // A GitHub Actions workflow has `steps` but no `plan_id`: not a plan either.
    let actions = dir.write(
        "ci.yml",
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n",
    );
    let output = weft(&["check", actions.to_str().unwrap()]);
    assert_eq!(status(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("not a weft file"));
}

#[test]
fn other_yaml_and_json_in_a_folder_are_ignored() {
    let dir = TempDir::new("mixed");
    dir.write("weft.yaml", "plugins:\n  p:\n    command: \"true\"\n");
    dir.write("app.workflow.yaml", "workflow_id: app\nstages:\n  - id: a\n    script: p\n");
    dir.write("docker-compose.yml", COMPOSE);
    dir.write("package.json", PACKAGE_JSON);
    dir.write("tsconfig.json", "{ \"compilerOptions\": { \"strict\": true } }\n");
    dir.write("config/settings.yaml", "stages: [dev, prod]\nsteps: 3\n");
    dir.write(".github/workflows/ci.yml", "on: push\njobs: {}\n");
    // Folders of dependencies and build output are not entered.
    dir.write("node_modules/pkg/broken.workflow.yaml", "workflow_id: [\n");
    dir.write("target/out.plan.json", "{");
    let output = weft_in(&dir.0, &["check", "--format", "json"]);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_valid_report(&report);
    assert_eq!(status(&output), 0, "{report}\n{}", stderr(&output));
    assert_eq!(report["files"], 2, "only the workflow and weft.yaml are checked: {report}");
    assert_eq!(report["diagnostics"], serde_json::json!([]));
    // A plan that is not named like one is found by its content.
    dir.write("release.yaml", "plan_id: rel\nsteps:\n  - id: a\n    run: \"true\"\n    depends_on: [b]\n");
    let output = weft_in(&dir.0, &["check", ".", "--format", "json"]);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(status(&output), 1, "{report}");
    assert_eq!(report["files"], 3, "{report}");
    assert_eq!(report["diagnostics"][0]["file"], "release.yaml", "`./` is not shown: {report}");
    assert_eq!(report["diagnostics"][0]["code"], "unknown-dependency");
}

// ---------------------------------------------------------------------------------------------------
// weft graph

fn step_ids(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repository().join(path)).unwrap();
    let parse = weft::syntax::parse(&text);
    let root = parse.root.unwrap();
    root.get("steps")
        .or_else(|| root.get("stages"))
        .unwrap()
        .items()
        .iter()
        .map(|step| step.get("id").unwrap().as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn graph_prints_every_step_in_dot_and_mermaid() {
    let plan = "examples/release/release.plan.yaml";
    let ids = step_ids(plan);
    assert!(ids.len() >= 5, "{ids:?}");
    let output = weft(&["graph", plan, "--format", "dot"]);
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    let dot = stdout(&output);
    assert!(dot.starts_with("digraph ") && dot.trim_end().ends_with('}'), "{dot}");
    for id in &ids {
        assert!(dot.contains(&format!("\"{id}\"")), "{id} is missing from\n{dot}");
    }
    assert!(dot.contains("\"version\" -> \"lint\""), "{dot}");
    let output = weft(&["graph", plan, "--format", "mermaid"]);
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    let mermaid = stdout(&output);
    assert!(mermaid.starts_with("flowchart"), "{mermaid}");
    for id in &ids {
        assert!(mermaid.contains(&format!("[\"{id}\"]")), "{id} is missing from\n{mermaid}");
    }
    assert!(mermaid.contains("-->"), "{mermaid}");
    // Every workflow and plan of the examples can be drawn.
    for file in [
        "examples/secure-feature/secure_feature.workflow.yaml",
        "examples/safe-merge/safe_merge.plan.json",
        "examples/hooks/deploy.workflow.yaml",
    ] {
        let output = weft(&["graph", file, "--format", "mermaid"]);
        assert_eq!(status(&output), 0, "{file}: {}", stderr(&output));
        for id in step_ids(file) {
            assert!(stdout(&output).contains(&format!("[\"{id}\"]")), "{file}: {id}");
        }
    }
}

#[test]
fn graph_of_a_cycle_exits_1_and_of_other_files_exits_2() {
    let dir = TempDir::new("graph");
    let cycle = dir.write(
        "ring.workflow.yaml",
        "workflow_id: ring\nstages:\n  - id: a\n    script: p\n    depends_on: [c]\n  - id: b\n    script: p\n    depends_on: [a]\n  - id: c\n    script: p\n    depends_on: [b]\n  - id: free\n    script: p\n",
    );
    for format in ["dot", "mermaid"] {
        let output = weft(&["graph", cycle.to_str().unwrap(), "--format", format]);
        assert_eq!(status(&output), 1, "{format}");
        assert!(stderr(&output).contains("cycle"), "{}", stderr(&output));
        for id in ["a", "b", "c", "free"] {
            assert!(stdout(&output).contains(&format!("\"{id}\"")), "{format}: {id} is still drawn");
        }
    }
    let output = weft(&["graph", "examples/release/weft.yaml"]);
    assert_eq!(status(&output), 2);
    assert!(stderr(&output).contains("not a workflow or plan"), "{}", stderr(&output));
    let output = weft(&["graph", "examples/nothing.plan.yaml"]);
    assert_eq!(status(&output), 2);
    assert!(stderr(&output).contains("examples/nothing.plan.yaml"), "{}", stderr(&output));
}

// ---------------------------------------------------------------------------------------------------
// Help and usage errors

#[test]
fn help_exits_0() {
    for args in [&["--help"][..], &["check", "--help"], &["graph", "--help"], &["help"], &["--version"]] {
        let output = weft(args);
        assert_eq!(status(&output), 0, "{args:?}: {}", stderr(&output));
        assert!(!stdout(&output).is_empty(), "{args:?} prints to stdout");
    }
    let help = stdout(&weft(&["--help"]));
    assert!(help.contains("check") && help.contains("graph"), "{help}");
    let check_help = stdout(&weft(&["check", "--help"]));
    for format in ["human", "json", "github", "sarif", "--fix"] {
        assert!(check_help.contains(format), "{format} in\n{check_help}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["check", "--bogus"][..],
        &["--bogus"],
        &["check", "--format", "xml", "examples/release"],
        &["frobnicate"],
        &["graph"],
        &["graph", "examples/release/release.plan.yaml", "--format", "png"],
        &[],
    ] {
        let output = weft(args);
        assert_eq!(status(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{args:?}: usage errors go to stderr");
        assert!(!stderr(&output).is_empty(), "{args:?}");
    }
    let err = stderr(&weft(&["check", "--bogus"]));
    assert!(err.contains("--bogus"), "{err}");
}

/// Like other command-line tools, `weft check` ends quietly, killed by SIGPIPE, when the reader of
/// its output goes away (`weft check | head`): no "Broken pipe" panic on stderr. Here the reader is
/// gone before weft starts, so its first write meets a closed pipe.
#[test]
fn weft_check_ends_quietly_when_its_reader_goes_away() {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = UnixStream::pair().expect("a socket pair");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .current_dir(repository())
        .args(["check", "examples/broken"])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::from(OwnedFd::from(writer)))
        .output()
        .expect("run weft");
    assert_eq!(output.status.signal(), Some(13), "{:?}; stderr: {}", output.status, stderr(&output));
    assert_eq!(stderr(&output), "");
}
