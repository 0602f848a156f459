//! The advice of `weft check` in the reports programs read, and `weft check --fix` (SPEC §10): the
//! json and sarif formats carry each diagnostic's help and quick fixes, and `--fix` applies the safe
//! ones (a misspelt id with exactly one close match, a self-dependency removed) to the files, prints
//! what it changed and reports what remains.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn repository() -> PathBuf {
    weft::cli::files::absolute(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
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

/// A fresh folder under the system temp folder with a `weft.yaml` declaring the plugin `sh`,
/// removed when dropped.
struct Project(PathBuf);

impl Project {
    fn new(name: &str) -> Project {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("weft-check-fix-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let project = Project(path);
        project.write("weft.yaml", "plugins:\n  sh:\n    command: \"true\"\n");
        project
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap()
    }

    fn weft(&self, args: &[&str]) -> Output {
        weft_in(&self.0, args)
    }

    /// The codes `weft check --format json` reports for the file.
    fn codes(&self, name: &str) -> Vec<String> {
        let output = self.weft(&["check", name, "--format", "json"]);
        let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
        report["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap().to_owned()).collect()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------------
// help and fixes in json and sarif

const BROKEN: &str = "examples/broken/pipeline.workflow.yaml";

#[test]
fn json_gives_the_help_and_the_fix_of_a_misspelt_id() {
    let output = weft_in(&repository(), &["check", BROKEN, "--format", "json"]);
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let diagnostics = report["diagnostics"].as_array().unwrap();
    let unknown = diagnostics.iter().find(|d| d["code"] == "unknown-dependency").expect("the misspelt `biuld`");
    let range = json!({"start": {"line": 10, "column": 18}, "end": {"line": 10, "column": 23}});
    assert_eq!(
        unknown,
        &json!({
            "file": BROKEN,
            "code": "unknown-dependency",
            "severity": "error",
            "message": "`depends_on` names `biuld`, which is not a stage in this file",
            "range": range,
            "help": "did you mean `build`?",
            "fixes": [{"message": "Replace with `build`", "edits": [{"file": BROKEN, "range": range, "text": "build"}]}],
        })
    );
    // A self-dependency's fix removes the item with its separator: `[build, lint]` becomes `[build]`.
    let itself = diagnostics.iter().find(|d| d["code"] == "self-dependency").unwrap();
    assert_eq!(itself["help"], "a stage cannot wait for itself; remove it from `depends_on`");
    assert_eq!(
        itself["fixes"][0]["edits"][0],
        json!({"file": BROKEN, "range": {"start": {"line": 14, "column": 23}, "end": {"line": 14, "column": 29}}, "text": ""})
    );
    // No advice is null, and every diagnostic has its list of fixes, empty or not.
    assert!(diagnostics.iter().all(|d| d["fixes"].is_array() && (d["help"].is_null() || d["help"].is_string())));
    assert!(diagnostics.iter().any(|d| d["help"].is_null()), "{diagnostics:?}");
}

#[test]
fn sarif_gives_the_fix_of_a_misspelt_id_as_artifact_changes() {
    let output = weft_in(&repository(), &["check", BROKEN, "--format", "sarif"]);
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    let sarif: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let unknown = results.iter().find(|r| r["ruleId"] == "unknown-dependency").unwrap();
    assert_eq!(
        unknown["message"]["text"],
        "`depends_on` names `biuld`, which is not a stage in this file (did you mean `build`?)"
    );
    assert_eq!(
        unknown["fixes"],
        json!([{
            "description": {"text": "Replace with `build`"},
            "artifactChanges": [{
                "artifactLocation": {"uri": BROKEN},
                "replacements": [{
                    "deletedRegion": {"startLine": 10, "startColumn": 18, "endLine": 10, "endColumn": 23},
                    "insertedContent": {"text": "build"},
                }],
            }],
        }])
    );
    // A result without fixes has no `fixes` key.
    assert!(results.iter().any(|r| r.get("fixes").is_none()));
}

// ---------------------------------------------------------------------------------------------------
// --fix

const MISSPELT_AND_SELF: &str = "\
workflow_id: demo
stages:
  - id: build
    script: sh
  - id: test
    script: sh
    depends_on: [biuld, test]
  - id: deploy
    script: sh
    depends_on:
      - deploy
      - tset
";

const FIXED: &str = "\
workflow_id: demo
stages:
  - id: build
    script: sh
  - id: test
    script: sh
    depends_on: [build]
  - id: deploy
    script: sh
    depends_on:
      - test
";

#[test]
fn fix_applies_the_safe_fixes_prints_them_and_leaves_a_clean_file() {
    let project = Project::new("safe");
    project.write("a.workflow.yaml", MISSPELT_AND_SELF);
    assert_eq!(
        project.codes("a.workflow.yaml"),
        ["unknown-dependency", "self-dependency", "self-dependency", "unknown-dependency"]
    );

    let output = project.weft(&["check", "--fix", "a.workflow.yaml"]);
    assert_eq!(project.read("a.workflow.yaml"), FIXED);
    assert_eq!(
        stdout(&output),
        "\
fixed[unknown-dependency, self-dependency]: a.workflow.yaml:7: `depends_on: [biuld, test]` → `depends_on: [build]`
fixed[self-dependency]: a.workflow.yaml:11: `- deploy` → (removed)
fixed[unknown-dependency]: a.workflow.yaml:12: `- tset` → `- test`
Applied 4 fixes in 1 file.

No problems found in 1 file.
"
    );
    assert_eq!(status(&output), 0, "nothing is left: {}", stderr(&output));
    assert_eq!(stderr(&output), "");

    // A second check is clean; a second --fix has nothing to do and changes nothing.
    assert_eq!(project.codes("a.workflow.yaml"), Vec::<String>::new());
    let again = project.weft(&["check", "--fix", "a.workflow.yaml"]);
    assert_eq!((status(&again), stdout(&again)), (0, "No problems found in 1 file.\n".to_owned()));
    assert_eq!(project.read("a.workflow.yaml"), FIXED);
}

#[test]
fn fix_leaves_an_ambiguous_id_alone_and_exits_by_what_remains() {
    let project = Project::new("ambiguous");
    let text = "\
workflow_id: demo
stages:
  - id: build1
    script: sh
  - id: build2
    script: sh
  - id: test
    script: sh
    depends_on: [build3, test]
";
    project.write("a.workflow.yaml", text);
    let output = project.weft(&["check", "--fix", "a.workflow.yaml"]);
    assert_eq!(status(&output), 1, "the ambiguous id is still an error");
    assert_eq!(project.read("a.workflow.yaml"), text.replace("[build3, test]", "[build3]"));
    let out = stdout(&output);
    assert!(out.starts_with("fixed[self-dependency]: a.workflow.yaml:9: "), "{out}");
    assert!(out.contains("= help: did you mean `build1` or `build2`?"), "{out}");
    assert!(out.ends_with("Found 1 error in 1 file.\n"), "{out}");

    // The report offers both readings, neither of which --fix takes.
    let output = project.weft(&["check", "a.workflow.yaml", "--format", "json"]);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let fixes: Vec<&str> =
        report["diagnostics"][0]["fixes"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert_eq!(fixes, ["Replace with `build1`", "Replace with `build2`"]);
    let again = project.weft(&["check", "--fix", "a.workflow.yaml"]);
    assert_eq!(status(&again), 1);
    assert!(!stdout(&again).contains("fixed"), "{}", stdout(&again));
    assert_eq!(project.read("a.workflow.yaml"), text.replace("[build3, test]", "[build3]"));
}

#[test]
fn fix_handles_overlapping_fixes_over_passes_and_keeps_json_quotes_and_line_endings() {
    let project = Project::new("passes");
    // Removing either `test` changes the separator the other's removal takes: one per pass.
    project.write(
        "a.workflow.yaml",
        "workflow_id: demo\nstages:\n  - id: test\n    script: sh\n    depends_on: [test, test]\n",
    );
    let output = project.weft(&["check", "--fix", "a.workflow.yaml"]);
    assert_eq!(status(&output), 0, "{}", stdout(&output));
    assert_eq!(
        project.read("a.workflow.yaml"),
        "workflow_id: demo\nstages:\n  - id: test\n    script: sh\n    depends_on: []\n"
    );
    assert!(stdout(&output).contains("Applied 2 fixes in 1 file."), "{}", stdout(&output));

    let plan = "{\r\n  \"plan_id\": \"p\",\r\n  \"steps\": [\r\n    {\"id\": \"one\", \"run\": \"true\"},\r\n    \
        {\"id\": \"two\", \"run\": \"true\", \"depends_on\": [\"oen\", \"two\"]}\r\n  ]\r\n}\r\n";
    project.write("p.plan.json", plan);
    let output = project.weft(&["check", "--fix", "p.plan.json"]);
    assert_eq!(status(&output), 0, "{}", stdout(&output));
    assert_eq!(project.read("p.plan.json"), plan.replace("[\"oen\", \"two\"]", "[\"one\"]"));
}

#[test]
fn fix_holds_back_a_fix_that_would_close_a_cycle() {
    let project = Project::new("cycle");
    let text = "\
workflow_id: demo
stages:
  - id: alpha
    script: sh
    depends_on: [beta]
  - id: beta
    script: sh
    depends_on: [alpah]
";
    project.write("a.workflow.yaml", text);
    let output = project.weft(&["check", "--fix", "a.workflow.yaml"]);
    assert_eq!(status(&output), 1);
    assert_eq!(project.read("a.workflow.yaml"), text);
    let out = stdout(&output);
    assert!(
        out.starts_with(
            "note: a.workflow.yaml:8: not fixed: `depends_on: [alpah]` → `depends_on: [alpha]` would add a `cycle` error\n"
        ),
        "{out}"
    );
}

#[test]
fn fix_with_a_machine_format_prints_the_changes_on_stderr_and_the_fixed_report_on_stdout() {
    let project = Project::new("json");
    project.write("a.workflow.yaml", MISSPELT_AND_SELF);
    let output = project.weft(&["check", "--fix", "--format", "json", "a.workflow.yaml"]);
    assert_eq!(status(&output), 0);
    assert_eq!(stdout(&output), "{\"files\":1,\"diagnostics\":[]}\n");
    assert!(stderr(&output).starts_with("fixed[unknown-dependency, self-dependency]: a.workflow.yaml:7: "));
    assert_eq!(project.read("a.workflow.yaml"), FIXED);
}

#[test]
fn fix_leaves_a_file_with_syntax_errors_alone() {
    let project = Project::new("syntax");
    let text = "workflow_id: demo\nstages:\n  - id: test\n    script: sh\n    depends_on: [test]\n  - id: [\n";
    project.write("a.workflow.yaml", text);
    let output = project.weft(&["check", "--fix", "a.workflow.yaml"]);
    assert_eq!(status(&output), 1);
    assert_eq!(project.read("a.workflow.yaml"), text);
    assert!(stdout(&output).starts_with("note: a.workflow.yaml: not fixed: the file has syntax errors\n"));
}

#[test]
fn fix_of_a_folder_fixes_each_file_and_a_misspelt_plugin_too() {
    let project = Project::new("folder");
    project.write("a.workflow.yaml", MISSPELT_AND_SELF);
    project.write("b.workflow.yaml", "workflow_id: b\nstages:\n  - id: only\n    script: hs\n");
    let output = project.weft(&["check", "--fix", "."]);
    assert_eq!(status(&output), 0, "{}", stdout(&output));
    let out = stdout(&output);
    assert!(out.contains("fixed[missing-plugin]: b.workflow.yaml:4: `script: hs` → `script: sh`\n"), "{out}");
    assert!(out.contains("Applied 5 fixes in 2 files.\n"), "{out}");
    assert!(out.ends_with("No problems found in 3 files.\n"), "{out}");
    assert_eq!(project.read("a.workflow.yaml"), FIXED);
    assert_eq!(project.read("b.workflow.yaml"), "workflow_id: b\nstages:\n  - id: only\n    script: sh\n");
}

/// In a phase template, a misspelt `{task}` is fixed where it is (inside a path, inside a command),
/// and so is a misspelt phase id in an expression; a `{…}` that is no misspelling of `{task}` is
/// reported and left for a person.
#[test]
fn fix_replaces_a_misspelt_task_placeholder_in_a_phase_template() {
    let project = Project::new("phases");
    let template = "\
template_id: t
phases:
  - id: intake
    artifacts:
      required: [\"docs/{taks}/intake.md\", \"{name}.md\"]
    validation:
      - { run: \"test -s docs/{ Task }/intake.md\" }
  - id: plan
    validation:
      - \"phases.intak.status == 'completed'\"
";
    project.write("t.phases.yaml", template);
    let output = project.weft(&["check", "--fix", "t.phases.yaml"]);
    assert_eq!(status(&output), 1, "`{{name}}` remains: {}{}", stdout(&output), stderr(&output));
    assert_eq!(
        project.read("t.phases.yaml"),
        template.replace("{taks}", "{task}").replace("{ Task }", "{task}").replace("intak.", "intake."),
        "{}",
        stdout(&output)
    );
    assert_eq!(project.codes("t.phases.yaml"), ["unknown-placeholder"]);
}
