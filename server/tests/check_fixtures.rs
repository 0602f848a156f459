//! Fixture tests for every diagnostic code.
//!
//! Each folder under `tests/fixtures/check/` is a project. A YAML file states the diagnostics it
//! expects as comments on the offending line — `# error: [unknown-dependency]`, or with the 1-based
//! column where it matters, `# error: 18 [unknown-dependency]`. JSON files, which have no comments,
//! put the same expectations in a `<file>.expect` file as `LINE: error: COL [code]` lines. One
//! `check` function compares what weft reports with what the files expect, both ways.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use weft::cli::check::load;
use weft::syntax::ColumnEncoding;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    file: String,
    line: u32,
    severity: String,
    code: String,
    column: Option<u32>,
}

fn fixtures() -> PathBuf {
    weft::cli::files::absolute(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/check"))
}

/// Parses the expectation markers in one line of text.
fn markers(file: &str, line: u32, text: &str) -> Vec<Expected> {
    let mut found = Vec::new();
    for severity in ["error", "warning", "info", "hint"] {
        let tag = format!("{severity}:");
        let mut rest = text;
        while let Some(at) = rest.find(&tag) {
            rest = &rest[at + tag.len()..];
            let trimmed = rest.trim_start();
            let (column, after) = match trimmed.split_once('[') {
                Some((before, after)) if before.trim().chars().all(|c| c.is_ascii_digit()) => {
                    (before.trim().parse().ok(), after)
                }
                _ => continue,
            };
            let Some((code, _)) = after.split_once(']') else { continue };
            found.push(Expected {
                file: file.to_owned(),
                line,
                severity: severity.to_owned(),
                code: code.to_owned(),
                column,
            });
        }
    }
    found
}

fn expectations(root: &Path, files: &[PathBuf]) -> BTreeSet<Expected> {
    let mut expected = BTreeSet::new();
    for file in files {
        let name = file.strip_prefix(root).unwrap().display().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        if file.extension().is_some_and(|e| e == "json") {
            let sidecar = PathBuf::from(format!("{}.expect", file.display()));
            let Ok(lines) = std::fs::read_to_string(&sidecar) else { continue };
            for line in lines.lines().filter(|l| !l.trim().is_empty()) {
                let (number, rest) = line.split_once(':').expect("LINE: severity: [code]");
                expected.extend(markers(&name, number.trim().parse().unwrap(), rest));
            }
        } else {
            for (index, line) in text.lines().enumerate() {
                if let Some(comment) = line.find('#') {
                    expected.extend(markers(&name, index as u32 + 1, &line[comment..]));
                }
            }
        }
    }
    expected
}

/// Checks a project folder and compares every reported diagnostic with the expectations.
fn check(folder: &Path) {
    let loaded = load(&[folder.to_path_buf()]);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let report = loaded.report();
    let files: Vec<PathBuf> = loaded.targets.iter().map(|t| t.key.clone()).collect();
    let root = weft::cli::files::absolute(folder);
    let expected = expectations(&root, &files);
    let mut actual = BTreeSet::new();
    let mut described = Vec::new();
    for (file, diagnostic) in report.diagnostics() {
        let name = weft::cli::files::absolute(&file.path).strip_prefix(&root).unwrap().display().to_string();
        let start = file.line_index.position(diagnostic.span.start, ColumnEncoding::Chars);
        let entry = Expected {
            file: name,
            line: start.line + 1,
            severity: diagnostic.severity.as_str().to_owned(),
            code: diagnostic.code.as_str().to_owned(),
            column: Some(start.column + 1),
        };
        described.push(format!(
            "{}:{}:{} {}[{}] {}",
            entry.file,
            entry.line,
            start.column + 1,
            entry.severity,
            entry.code,
            diagnostic.message
        ));
        actual.insert(entry);
    }
    let mut problems = Vec::new();
    for want in &expected {
        let found = actual.iter().any(|got| {
            got.file == want.file
                && got.line == want.line
                && got.code == want.code
                && got.severity == want.severity
                && (want.column.is_none() || got.column == want.column)
        });
        if !found {
            problems.push(format!(
                "missing: {}:{} {}: {:?} [{}]",
                want.file, want.line, want.severity, want.column, want.code
            ));
        }
    }
    for got in &actual {
        let wanted = expected.iter().any(|want| {
            got.file == want.file
                && got.line == want.line
                && got.code == want.code
                && got.severity == want.severity
                && (want.column.is_none() || got.column == want.column)
        });
        if !wanted {
            problems.push(format!(
                "unexpected: {}:{} {}: {:?} [{}]",
                got.file, got.line, got.severity, got.column, got.code
            ));
        }
    }
    assert!(problems.is_empty(), "{}\n\nreported:\n{}", problems.join("\n"), described.join("\n"));
}

#[test]
fn graph_checks() {
    check(&fixtures().join("graph"));
}

#[test]
fn plugin_and_hook_checks() {
    check(&fixtures().join("plugins"));
}

#[test]
fn expression_checks() {
    check(&fixtures().join("expressions"));
}

#[test]
fn schema_checks() {
    check(&fixtures().join("schema"));
}

/// A step or stage with `approval` needs no action; a malformed `approval` is a schema error.
#[test]
fn approval_checks() {
    check(&fixtures().join("approval"));
}

/// Phase templates: schema, duplicate phase ids, validation expressions and commands, `{task}`
/// placeholders and the files `workflow` names; a valid template beside them checks clean.
#[test]
fn phase_template_checks() {
    check(&fixtures().join("phases"));
}

#[test]
fn syntax_errors_hold_back_whole_file_checks() {
    check(&fixtures().join("syntax"));
}

#[test]
fn a_workflow_without_weft_yaml_is_told_once() {
    check(&fixtures().join("no-config"));
}

#[test]
fn examples_check_clean() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let good: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir() && !path.ends_with("broken"))
        .collect();
    assert!(good.len() >= 4, "at least four example projects");
    let loaded = load(&good);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let report = loaded.report();
    let found: Vec<String> = report
        .diagnostics()
        .map(|(file, d)| format!("{}: {}[{}] {}", file.path.display(), d.severity.as_str(), d.code.as_str(), d.message))
        .collect();
    assert!(found.is_empty(), "examples must check clean:\n{}", found.join("\n"));
    assert!(report.files.len() >= 8, "every example's workflow/plan and weft.yaml is checked: {}", report.files.len());
}

#[test]
fn broken_examples_show_every_code_exactly_once() {
    let broken = weft::cli::files::absolute(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/broken"));
    check(&broken);
    let report = load(&[broken]).report();
    let mut codes: Vec<&str> = report.diagnostics().map(|(_, d)| d.code.as_str()).collect();
    codes.sort();
    let mut all: Vec<&str> = weft::analysis::Code::ALL.iter().map(|c| c.as_str()).collect();
    all.sort();
    assert_eq!(codes, all);
}

#[test]
fn json_files_are_strict_json() {
    check(&fixtures().join("json"));
}

#[test]
fn one_root_cause_one_diagnostic() {
    check(&fixtures().join("cascade"));
    check(&fixtures().join("cascade-config"));
}

/// `executor` and `executor_options` (SPEC §11): values the schema refuses, and options no step
/// that would use them runs with (`unused-executor-options`), also when the executor comes from
/// `weft.yaml`.
#[test]
fn executor_checks() {
    check(&fixtures().join("executor"));
    check(&fixtures().join("executor-project"));
}

/// The exact ranges, messages and help of the executor diagnostics.
#[test]
fn executor_diagnostics_in_detail() {
    let folder = fixtures().join("executor");
    let report = load(std::slice::from_ref(&folder)).report();
    let root = weft::cli::files::absolute(&folder);
    let mut found = Vec::new();
    for (file, diagnostic) in report.diagnostics() {
        let name = weft::cli::files::absolute(&file.path).strip_prefix(&root).unwrap().display().to_string();
        let start = file.line_index.position(diagnostic.span.start, ColumnEncoding::Chars);
        let end = file.line_index.position(diagnostic.span.end, ColumnEncoding::Chars);
        let related: Vec<String> = diagnostic
            .related
            .iter()
            .map(|related| {
                let at = file.line_index.position(related.location.span.start, ColumnEncoding::Chars);
                format!("{}:{} {}", at.line + 1, at.column + 1, related.message)
            })
            .collect();
        found.push(format!(
            "{name}:{}:{}-{}:{} {}[{}] {} | help: {} | related: {}",
            start.line + 1,
            start.column + 1,
            end.line + 1,
            end.column + 1,
            diagnostic.severity.as_str(),
            diagnostic.code.as_str(),
            diagnostic.message,
            diagnostic.help.as_deref().unwrap_or("-"),
            related.join("; ")
        ));
    }
    let wanted = [
        "local.plan.yaml:3:3-3:19 warning[unused-executor-options] no step runs on `slurm`, so the `executor_options` of `globals` are not used | help: they are `sbatch` options for `executor: slurm`: set that in `globals` or on a step, or remove them (`weft run --executor slurm` would use them) | related: ",
        "local.plan.yaml:7:5-7:21 warning[unused-executor-options] step `build` runs locally, so its `executor_options` are not used | help: they are `sbatch` options for `executor: slurm`: set that on the step or in `globals`, or remove them (`weft run --executor slurm` would use them) | related: ",
        "local.plan.yaml:11:5-11:21 warning[unused-executor-options] step `test` runs locally, so its `executor_options` are not used | help: they are `sbatch` options for `executor: slurm`: set that on the step or in `globals`, or remove them (`weft run --executor slurm` would use them) | related: 10:15 `executor: local` is set here",
        "mixed.plan.yaml:14:5-14:21 warning[unused-executor-options] step `report` runs locally, so its `executor_options` are not used | help: they are `sbatch` options for `executor: slurm`: set that on the step or in `globals`, or remove them (`weft run --executor slurm` would use them) | related: 13:15 `executor: local` is set here",
        "values.workflow.yaml:3:13-3:18 error[schema] `slurn` is not one of: local, slurm | help: did you mean `slurm`? | related: ",
        "values.workflow.yaml:5:5-5:12 error[schema] unknown key `partion` | help: did you mean `partition`? | related: ",
        "values.workflow.yaml:6:11-6:12 error[schema] must be at least 1 | help: - | related: ",
        "values.workflow.yaml:7:13-7:17 error[schema] `4 GB` is not a memory size: a whole number with an optional unit K, M, G or T (`512M`, `4G`) | help: - | related: ",
        "values.workflow.yaml:8:17-8:27 error[schema] expected array, found string | help: - | related: ",
        "values.workflow.yaml:9:12-9:14 error[schema] expected string, found integer | help: - | related: ",
        "values.workflow.yaml:13:15-13:25 error[schema] `kubernetes` is not one of: local, slurm | help: - | related: ",
    ];
    assert_eq!(found, wanted, "\n{}", found.join("\n"));
}
