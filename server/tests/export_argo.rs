//! `weft export argo`: every example exports (or is refused by name, then exports with the `--drop`
//! the refusal names), and every export validates against Argo's own JSON Schema
//! (`tests/fixtures/argo/`, see its PROVENANCE.md) and a strict check for keys the schema does not
//! define, which the schema itself lets through.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::LazyLock;

use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn weft_export(file: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("export")
        .arg("argo")
        .arg(file)
        .args(extra)
        .current_dir(repo())
        .output()
        .expect("weft starts")
}

static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/argo/argo-workflows.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
});

fn definitions() -> &'static serde_json::Map<String, Value> {
    SCHEMA["definitions"].as_object().unwrap()
}

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema = json!({
        "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow",
        "definitions": SCHEMA["definitions"].clone(),
    });
    jsonschema::options()
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(&schema)
        .expect("Argo's schema compiles")
});

/// Every problem of `workflow` against Argo's schema and the strict key check, one line each.
fn problems(workflow: &Value) -> Vec<String> {
    let mut problems: Vec<String> =
        VALIDATOR.iter_errors(workflow).map(|error| format!("{}: {error}", error.instance_path())).collect();
    let root = json!({ "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow" });
    unknown_keys(workflow, &root, "", &mut problems);
    problems
}

/// Walks the value beside its schema and reports every object key the schema does not define.
fn unknown_keys(value: &Value, schema: &Value, path: &str, problems: &mut Vec<String>) {
    let mut schema = schema;
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/definitions/").expect("local references only");
        schema = &definitions()[name];
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map {
                let path = format!("{path}/{key}");
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(child_schema), _) | (None, Some(child_schema)) => {
                        unknown_keys(child, child_schema, &path, problems)
                    }
                    (None, None) if properties.is_some() => {
                        problems.push(format!("{path}: `{key}` is not a field Argo's schema defines"))
                    }
                    // A free-form object (no properties named): anything goes.
                    (None, None) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    unknown_keys(item, item_schema, &format!("{path}/{index}"), problems);
                }
            }
        }
        _ => {}
    }
}

fn examples() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for folder in std::fs::read_dir(repo().join("examples")).unwrap() {
        let folder = folder.unwrap().path();
        if !folder.is_dir() || folder.ends_with("broken") {
            continue;
        }
        for file in std::fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if [".workflow.yaml", ".workflow.json", ".plan.yaml", ".plan.json"].iter().any(|end| name.ends_with(end)) {
                files.push(file.strip_prefix(repo()).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// The constructs a refusal names (`  fallback: ...` lines).
fn refused_constructs(stderr: &str) -> Vec<String> {
    let mut constructs: Vec<String> = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter_map(|line| line.split_once(": ").map(|(construct, _)| construct.to_owned()))
        .collect();
    constructs.sort();
    constructs.dedup();
    constructs
}

fn parsed(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("the export is JSON")
}

#[test]
fn every_example_exports_or_is_refused_by_name_and_validates_against_argo() {
    let files = examples();
    assert!(files.len() >= 6, "the examples are found: {files:?}");
    for file in files {
        let first = weft_export(&file, &[]);
        let stderr = String::from_utf8_lossy(&first.stderr);
        let output = if first.status.success() {
            first
        } else {
            assert_eq!(first.status.code(), Some(2), "{}: {stderr}", file.display());
            assert!(stderr.contains("does not translate to Argo Workflows"), "{}: {stderr}", file.display());
            let constructs = refused_constructs(&stderr);
            assert!(!constructs.is_empty(), "{}: a refusal names what: {stderr}", file.display());
            let mut args = Vec::new();
            for construct in &constructs {
                args.push("--drop");
                args.push(construct.as_str());
            }
            let second = weft_export(&file, &args);
            let warnings = String::from_utf8_lossy(&second.stderr);
            assert!(second.status.success(), "{} with {args:?}: {warnings}", file.display());
            for construct in &constructs {
                assert!(warnings.contains(&format!("warning: dropped {construct}:")), "{warnings}");
            }
            second
        };
        let workflow = parsed(&output);
        let problems = problems(&workflow);
        assert!(problems.is_empty(), "{}:\n{}", file.display(), problems.join("\n"));
        let tasks = workflow["spec"]["templates"][0]["dag"]["tasks"].as_array().unwrap();
        assert!(!tasks.is_empty(), "{}", file.display());
        // Every task has a container template of its own name.
        for task in tasks {
            let template = &task["template"];
            assert!(
                workflow["spec"]["templates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| &t["name"] == template && t["container"]["image"] == "alpine:3.20"),
                "{}: {template}",
                file.display()
            );
        }
    }
}

fn small() -> PathBuf {
    PathBuf::from("tests/fixtures/argo/small/ci.workflow.yaml")
}

#[test]
fn a_fallback_is_refused_by_name_with_the_step() {
    let output = weft_export(&small(), &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fallback: `publish` falls back to `cleanup`"), "{stderr}");
    assert!(stderr.contains("--drop fallback"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing is written when the file is refused");
}

#[test]
fn an_unknown_drop_is_a_usage_error() {
    let output = weft_export(&small(), &["--drop", "fallbacks"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--drop fallbacks"));
}

#[test]
fn the_small_workflow_translates_dependencies_retries_deadlines_env_and_when() {
    let output = weft_export(&small(), &["--drop", "fallback", "--image", "debian:12"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("warning: dropped fallback: `publish` falls back to `cleanup`"), "{stderr}");
    let workflow = parsed(&output);
    assert_eq!(problems(&workflow), Vec::<String>::new());
    assert_eq!(workflow["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(workflow["kind"], "Workflow");
    assert_eq!(workflow["metadata"]["generateName"], "small-ci-");
    let spec = &workflow["spec"];
    assert_eq!(spec["entrypoint"], "main");
    assert_eq!(spec["activeDeadlineSeconds"], 3600);
    let templates = spec["templates"].as_array().unwrap();
    let template = |name: &str| templates.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name}"));
    let tasks = template("main")["dag"]["tasks"].as_array().unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    // The fallback-only step is left out with the fallback; `unit_tests` is sanitised.
    assert_eq!(names, ["build", "unit-tests", "publish"]);
    assert_eq!(tasks[0].get("dependencies"), None);
    assert_eq!(tasks[1]["dependencies"], json!(["build"]));
    assert_eq!(tasks[2]["dependencies"], json!(["build", "unit-tests"]));
    assert_eq!(tasks[2]["when"], "({{tasks.unit-tests.status}} == Succeeded) && ({{tasks.build.status}} != Failed)");

    let build = template("build");
    assert_eq!(build["container"]["image"], "debian:12");
    assert_eq!(build["container"]["command"], json!(["sh", "-c", "make build"]));
    assert_eq!(
        build["container"]["env"],
        json!([{ "name": "LANG", "value": "C.UTF-8" }, { "name": "TARGET", "value": "release" }])
    );
    assert_eq!(build["container"]["workingDir"], "/workspace/app");
    assert_eq!(build["activeDeadlineSeconds"], "300");
    assert_eq!(
        build["retryStrategy"],
        json!({ "limit": "3", "retryPolicy": "Always", "backoff": { "duration": "5s", "factor": "3", "cap": "120s" } })
    );
    let tests = template("unit-tests");
    assert_eq!(tests["container"]["command"], json!(["make", "test"]));
    assert_eq!(tests["retryStrategy"]["limit"], "1");
    assert_eq!(tests.get("activeDeadlineSeconds"), None);
    let publish = template("publish");
    assert_eq!(
        publish["container"]["env"],
        json!([{ "name": "CHANNEL", "value": "stable" }, { "name": "LANG", "value": "C.UTF-8" }])
    );
}

#[test]
fn output_goes_to_the_file_named_by_o() {
    let out = std::env::temp_dir().join(format!("weft-export-argo-{}.json", std::process::id()));
    let output = weft_export(&small(), &["--drop", "fallback", "-o", out.to_str().unwrap()]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    let workflow: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).ok();
    assert_eq!(workflow["kind"], "Workflow");
}

#[test]
fn the_strict_check_catches_a_misspelt_field_the_schema_lets_through() {
    let output = weft_export(&small(), &["--drop", "fallback"]);
    let mut workflow = parsed(&output);
    workflow["spec"]["templates"][1]["retryStratgy"] = json!({ "limit": "1" });
    assert_eq!(VALIDATOR.iter_errors(&workflow).count(), 0, "the schema alone does not see it");
    let problems = problems(&workflow);
    assert_eq!(problems, ["/spec/templates/1/retryStratgy: `retryStratgy` is not a field Argo's schema defines"]);
    // And the schema catches a wrong type.
    workflow["spec"]["templates"][1].as_object_mut().unwrap().remove("retryStratgy");
    workflow["spec"]["activeDeadlineSeconds"] = json!("soon");
    assert!(VALIDATOR.iter_errors(&workflow).count() > 0);
}

#[test]
fn cpus_and_memory_become_resource_requests_and_slurms_own_options_are_refused_by_name() {
    let file = PathBuf::from("tests/fixtures/argo/cluster/jobs.plan.yaml");
    let refused = weft_export(&file, &[]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused_constructs(&stderr), ["executor_options"]);
    assert!(
        stderr.contains("executor_options: `summarise` has Slurm's partition (only cpus and memory translate)"),
        "{stderr}"
    );
    let output = weft_export(&file, &["--drop", "executor_options"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let workflow = parsed(&output);
    assert_eq!(problems(&workflow), Vec::<String>::new());
    let templates = workflow["spec"]["templates"].as_array().unwrap();
    let template = |name: &str| templates.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name}"));
    assert_eq!(template("simulate")["container"]["resources"], json!({ "requests": { "cpu": "8", "memory": "4Gi" } }));
    assert_eq!(template("summarise")["container"]["resources"], json!({ "requests": { "memory": "512Mi" } }));
}

#[test]
fn steps_whose_failure_does_not_fail_the_run_continue_on_failure_in_argo() {
    let file = PathBuf::from("tests/fixtures/argo/optional/optional.plan.yaml");
    let refused = weft_export(&file, &[]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    // Only the mix Argo cannot say: not required, yet its dependents are skipped when it fails.
    assert_eq!(refused_constructs(&stderr), ["required"], "{stderr}");
    assert!(
        stderr.contains("required: `docs` is not required but its dependents do not run when it fails"),
        "{stderr}"
    );
    let output = weft_export(&file, &["--drop", "required"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let workflow = parsed(&output);
    assert_eq!(problems(&workflow), Vec::<String>::new());
    let continue_on: Vec<(String, Value)> = workflow["spec"]["templates"][0]["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| (task["name"].as_str().unwrap().to_owned(), task["continueOn"].clone()))
        .collect();
    let on = json!({ "failed": true, "error": true });
    assert_eq!(
        continue_on,
        [
            ("build".to_owned(), Value::Null),
            ("lint".to_owned(), on.clone()),
            ("package".to_owned(), Value::Null),
            ("report".to_owned(), on),
            ("docs".to_owned(), Value::Null),
            ("publish-docs".to_owned(), Value::Null),
        ]
    );
}
