//! A run on Slurm started from a code lens, over real JSON-RPC: while its job waits in the queue
//! the step's lens and hover say "⏳ pending in slurm (job N)", and the run goes on once the job is
//! let go. Needs the project's cluster (see `slurm_support`).

mod common;
mod slurm_support;

use std::process::Command;
use std::time::{Duration, Instant};

use common::lsp_client::{uri, LspClient, TempProject};
use serde_json::{json, Value};
use slurm_support::{cluster, job_state};

fn step_lens(client: &mut LspClient, path: &std::path::Path, line: u64) -> Vec<String> {
    let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(path) } }));
    lenses
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["range"]["start"]["line"] == line)
        .map(|l| l["command"]["title"].as_str().unwrap().to_owned())
        .collect()
}

/// The next `weft/runEvent` of this kind, the others read on the way.
fn event_of(client: &mut LspClient, kind: &str) -> Value {
    loop {
        let event = client.notification("weft/runEvent");
        if event["event"]["kind"] == kind {
            return event["event"].clone();
        }
    }
}

#[test]
fn a_lens_run_on_slurm_shows_the_job_pending_then_finishes() {
    if !cluster() {
        return;
    }
    // `--hold` keeps the job in the queue until the test lets it go.
    let text = "plan_id: cluster\nglobals:\n  executor: slurm\nsteps:\n  - id: held\n    executor_options: { extra_args: [--hold] }\n    run: echo \"ran as $SLURM_JOB_ID\"\n";
    let project = TempProject::new("lsp-slurm");
    let path = project.write("cluster.plan.yaml", text);
    let mut client = LspClient::start(&project.path);
    client.registration();
    client.open(&path, text);
    let diagnostics = client.diagnostics(&path);
    assert_eq!(diagnostics["diagnostics"], json!([]), "{diagnostics}");

    let result =
        client.request("workspace/executeCommand", json!({ "command": "weft.runWorkflow", "arguments": [uri(&path)] }));
    let run = result["runId"].as_i64().expect("a run id");
    let submitted = event_of(&mut client, "step_submitted");
    assert_eq!(submitted["step"], "held");
    let job = submitted["data"]["job_id"].as_str().expect("a job id").to_owned();
    assert_eq!(job_state(&job).0, "PENDING");

    let pending = format!("⏳ pending in slurm (job {job})");
    assert_eq!(step_lens(&mut client, &path, 4), std::slice::from_ref(&pending));
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri(&path) }, "position": { "line": 4, "character": 10 } }),
    );
    let markdown = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(markdown.ends_with(&format!("\n\n---\n{pending}")), "{markdown}");

    // Let the job go: it runs, and the run ends as it would locally.
    let released = Command::new("scontrol").args(["release", &job]).status().expect("scontrol");
    assert!(released.success());
    let finished = event_of(&mut client, "run_finished");
    assert_eq!(finished["data"]["status"], "succeeded", "{finished}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let titles = step_lens(&mut client, &path, 4);
        if titles.iter().any(|t| t.starts_with("✓")) {
            break;
        }
        assert!(Instant::now() < deadline, "the lens shows the result: {titles:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = project.path.join(format!(".weft/runs/{run}/held.1.stdout"));
    assert_eq!(std::fs::read_to_string(log).unwrap(), format!("ran as {job}\n"));
    assert_eq!(job_state(&job), ("COMPLETED".to_owned(), 0));
    client.take_unread();
    client.shutdown();
}
