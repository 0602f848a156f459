//! `examples/phases` as its README walks through it: task T-7 through the six phases of
//! `feature.phases.yaml` in a git repository — a refused completion and its fix, an override, a
//! phase whose workflow fails and then succeeds, search, failures, status and end.

use std::path::{Path, PathBuf};
use std::process::Command;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if [".weft", "out", "docs", "src"].iter().any(|skip| name == *skip) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

fn weft(dir: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .current_dir(dir)
        .env("USER", "ana")
        .env_remove("GIT_DIR")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

fn sh(dir: &Path, script: &str) {
    let status = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Ana")
        .env("GIT_AUTHOR_EMAIL", "ana@example.com")
        .env("GIT_COMMITTER_NAME", "Ana")
        .env("GIT_COMMITTER_EMAIL", "ana@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success(), "{script}");
}

#[test]
fn the_phases_example_goes_as_its_readme_says() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/phases");
    let dir = std::env::temp_dir().join(format!("weft-example-phases-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&example, &dir);
    sh(&dir, "git init -q && git add -A && git commit -qm 'feature template'");

    let (code, out) = weft(&dir, &["session", "start", "T-7"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("▶ phase 1/6 intake: Understand the request"), "{out}");
    assert!(out.contains("required: docs/tasks/T-7/intake.md"), "{out}");

    // Refused: every failing check by name.
    let (code, out) = weft(&dir, &["phase", "complete", "T-7"]);
    assert_eq!(code, 1, "{out}");
    for line in [
        "✗ artifact docs/tasks/T-7/intake.md is missing (or empty)",
        "✗ validation 1: `artifacts.required.all_exist` is false",
        "✗ validation 2: intake.md lists no questions (a '## Questions' section)",
        "3 checks failed",
    ] {
        assert!(out.contains(line), "missing {line:?}:\n{out}");
    }

    // The fix, committed: completed, with its commit and the next phase.
    sh(
        &dir,
        "mkdir -p docs/tasks/T-7 && printf '# Rate-limit the login endpoint\\n\\n## Questions\\n- Per user or per IP?\\n' > docs/tasks/T-7/intake.md && git add -A && git commit -qm 'T-7: intake'",
    );
    let (code, out) = weft(&dir, &["phase", "complete", "T-7"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("✓ phase intake of T-7 completed (3 checks passed)"), "{out}");
    assert!(out.contains("1 commit during the phase:") && out.contains("T-7: intake"), "{out}");
    assert!(out.contains("▶ next: phase 2/6 research: Learn what exists before building"), "{out}");
    assert!(out.contains("next step: Write the plan: docs/tasks/T-7/plan.md"), "{out}");

    // A note, then an override.
    let (code, out) =
        weft(&dir, &["phase", "note", "T-7", "prior art: RFC 6585 (429 Too Many Requests) and nginx limit_req"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = weft(&dir, &["phase", "complete", "T-7", "--override", "--reason", "prior art is in the note"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("⚠ phase research of T-7 completed with an override by ana"), "{out}");

    sh(&dir, "printf '# Plan\\n\\n## Steps\\n1. Count failed logins per user\\n' > docs/tasks/T-7/plan.md");
    let (code, out) = weft(&dir, &["phase", "complete", "T-7"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("▶ next: phase 4/6 execute"), "{out}");

    // The execute phase runs build.plan.yaml: it fails, and the phase stays active.
    let (code, out) = weft(&dir, &["phase", "complete", "T-7"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("✗ run 1 failed: phase execute of T-7 stays active"), "{out}");
    let (_, logs) = weft(&dir, &["logs", "1", "lint"]);
    assert!(logs.contains("src/feature.txt is missing or empty"), "{logs}");
    sh(
        &dir,
        "mkdir -p src && echo 'login: rate limit 5/min per user' > src/feature.txt && git add -A && git commit -qm 'T-7: rate limit logins'",
    );
    let (code, out) = weft(&dir, &["phase", "complete", "T-7"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("run 2 succeeded") && out.contains("T-7: rate limit logins"), "{out}");

    sh(
        &dir,
        "echo 'Verdict: approved' > docs/tasks/T-7/review.md && echo 'Login attempts are rate limited.' > docs/tasks/T-7/summary.md",
    );
    let (code, out) = weft(&dir, &["phase", "complete", "T-7"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = weft(&dir, &["phase", "complete", "T-7"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("all phases complete — `weft session end T-7`"), "{out}");

    let (code, out) = weft(&dir, &["session", "status", "T-7", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let phases = status["sessions"][0]["phases"].as_array().unwrap();
    let states: Vec<&str> = phases.iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(states, ["completed", "overridden", "completed", "completed", "completed", "completed"]);
    assert_eq!(phases[1]["override"]["reason"], "prior art is in the note");
    assert_eq!(phases[3]["run"], 2);
    assert_eq!(phases[0]["commits"][0]["subject"], "T-7: intake");
    assert_eq!(phases[3]["commits"][0]["subject"], "T-7: rate limit logins");

    let (code, out) = weft(&dir, &["search", "429"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("phase_note  task T-7 · phase research") && out.contains("[429]"), "{out}");
    let (_, out) = weft(&dir, &["search", "missing", "--task", "T-7", "--kind", "phase_check_failed"]);
    assert!(out.contains("phase_check_failed  task T-7 · phase intake"), "{out}");

    let (code, out) = weft(&dir, &["failures", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let failures: serde_json::Value = serde_json::from_str(&out).unwrap();
    let subjects: Vec<&str> =
        failures["failures"].as_array().unwrap().iter().map(|f| f["subject"].as_str().unwrap()).collect();
    for subject in ["lint", "phase:intake:artifact 1", "phase:research:artifact 1"] {
        assert!(subjects.contains(&subject), "no failure of {subject}: {subjects:?}");
    }

    let (code, out) = weft(&dir, &["session", "end", "T-7"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read_to_string(dir.join("out/journal.log")).unwrap(), "T-7: intake started\nT-7: closed\n");
    let _ = std::fs::remove_dir_all(&dir);
}
