//! `examples/recovery` as its README walks through it: a run that waits for a person's approval
//! before its deploy, which then fails and prints its options, the rollback of what it did, and a
//! resume that finishes once the target is ready.

mod engine_support;

use std::path::Path;
use std::process::Command;

use engine_support::Project;

fn weft(dir: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_weft")).args(args).current_dir(dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn the_recovery_example_fails_rolls_back_and_resumes_as_its_readme_says() {
    let project = Project::from_example("recovery");
    let dir = project.dir.clone();

    // The run waits for a person at `approve_deploy`; another terminal approves it.
    let run = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["run", "recovery.plan.yaml"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, status) = weft(&dir, &["status", "1"]);
        if status.contains("`weft approve 1 approve_deploy`") {
            assert!(!dir.join("out/live").exists(), "deploy ran before the approval");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the run never waited for its approval:\n{status}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, out) = weft(&dir, &["approve", "1", "approve_deploy"]);
    assert_eq!(code, 0, "{out}");
    let output = run.wait_with_output().unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("⏸ approve_deploy waiting for approval: Deploy app 1.4.0"), "{out}");
    for option in ["weft resume 1 ", "weft resume 1 --skip deploy --reason", "weft rollback 1 ", "weft logs 1 deploy"] {
        assert!(out.contains(option), "missing option {option:?}:\n{out}");
    }
    assert_eq!(std::fs::read_to_string(dir.join("out/schema.txt")).unwrap(), "schema v2\n");

    let (code, out) = weft(&dir, &["logs", "1", "deploy"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the deploy target is not ready"), "{out}");

    let (code, out) = weft(&dir, &["rollback", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("run 1: rolled back migrate, build"), "{out}");
    assert_eq!(std::fs::read_to_string(dir.join("out/schema.txt")).unwrap(), "schema v1\n");
    assert!(!dir.join("out/app.txt").exists());
    let audit = std::fs::read_to_string(dir.join("out/audit.log")).unwrap();
    assert_eq!(audit, "rollback of run 1 started\nrollback of run 1 completed\n");

    std::fs::write(dir.join("TARGET_READY"), "").unwrap();
    let (code, out) = weft(&dir, &["resume", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("run 1 succeeded"), "{out}");
    assert_eq!(std::fs::read_to_string(dir.join("out/live/app.txt")).unwrap(), "app 1.4.0\n");
}
