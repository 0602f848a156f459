//! A `.json` plan is strict JSON (SPEC §1): `weft run` refuses one with a syntax error that the
//! YAML reader behind it would have accepted, before anything runs.

use std::path::PathBuf;
use std::process::Command;

struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_json_plan_with_a_trailing_comma_is_refused_before_anything_runs() {
    let folder = Folder(std::env::temp_dir().join(format!("weft-strict-json-{}", std::process::id())));
    std::fs::create_dir_all(&folder.0).unwrap();
    std::fs::write(
        folder.0.join("trailing.plan.json"),
        r#"{
  "plan_id": "trailing",
  "steps": [
    { "id": "a", "run": "touch ran-a" },
  ]
}
"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .current_dir(&folder.0)
        .args(["run", "trailing.plan.json"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run weft");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("trailing.plan.json:4:40: error[syntax] a trailing comma is not allowed in JSON"),
        "{stderr}"
    );
    assert!(!folder.0.join("ran-a").exists(), "the step ran");
    assert!(!folder.0.join(".weft/runs").exists(), "a run was started");
}
