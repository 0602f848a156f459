//! Human approval (SPEC §6): a step with `approval` waits in status `waiting` until `weft approve`
//! or `weft reject` from another process; the wait takes no `max_concurrency` slot, can time out,
//! is canceled with the run, and survives the engine's death (`weft resume` goes on waiting).
//! Real processes, the real SQLite history.

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{wait_until, Project};

/// `build`, then `sign_off` (an approval with no action of its own), then `deploy` (an approval,
/// then its command), then `after`; `side` is an independent branch. One slot: the waits take none.
const PLAN: &str = r#"plan_id: approval
globals: { max_concurrency: 1 }
steps:
  - id: build
    run: "echo built >> build.log"
  - id: sign_off
    depends_on: [build]
    approval: { prompt: "Ship release 1.2?" }
  - id: deploy
    depends_on: [sign_off]
    run: "echo deployed >> deploy.log"
    approval: { prompt: "Deploy to production now?" }
  - id: after
    depends_on: [deploy]
    run: "touch after.done"
  - id: side
    run: "touch side.done"
"#;

fn start(project: &Project) -> (engine_support::Background, i64) {
    project.write("approval.plan.yaml", PLAN);
    let background = project.spawn(&["run", "approval.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "sign_off", "waiting");
    (background, run)
}

#[test]
fn approvals_from_another_process_let_the_run_go_on() {
    let project = Project::new("approval-approve");
    let (background, run) = start(&project);
    let id = run.to_string();
    // The independent branch ran while `sign_off` waits, though only one slot exists.
    project.wait_for_step(run, "side", "succeeded");
    assert!(project.exists("side.done"));
    assert_eq!(project.status_of(run, "sign_off"), "waiting");
    assert_eq!(project.status_of(run, "deploy"), "pending");

    // What the run waits for shows in `weft status` and `weft history`.
    let status = project.weft(&["status", &id]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("waiting"), "{status}");
    assert!(status.stdout.contains("Ship release 1.2?"), "{status}");
    assert!(status.stdout.contains(&format!("weft approve {run} sign_off")), "{status}");
    let json = project.weft(&["status", &id, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(json.stdout.trim()).expect("status JSON");
    let sign_off = value["steps"].as_array().unwrap().iter().find(|s| s["id"] == "sign_off").unwrap().clone();
    assert_eq!(sign_off["status"], "waiting", "{json}");
    assert!(sign_off["reason"].as_str().unwrap().contains("Ship release 1.2?"), "{json}");
    let history = project.weft(&["history"]);
    assert!(history.stdout.contains("Ship release 1.2?"), "{history}");
    assert!(history.stdout.contains(&format!("weft approve {run} sign_off")), "{history}");

    // A step that is not waiting, an unknown step, an unknown run: exit 2, nothing recorded.
    let early = project.weft(&["approve", &id, "deploy"]);
    assert_eq!(early.code, 2, "{early}");
    assert!(early.stderr.contains("not waiting"), "{early}");
    let unknown = project.weft(&["approve", &id, "sign_of"]);
    assert_eq!(unknown.code, 2, "{unknown}");
    assert!(unknown.stderr.contains("did you mean `sign_off`"), "{unknown}");
    let no_run = project.weft(&["approve", "99", "sign_off"]);
    assert_eq!(no_run.code, 2, "{no_run}");
    assert!(no_run.stderr.contains("no run 99"), "{no_run}");

    let approved = project.weft(&["approve", &id, "sign_off", "--reason", "release notes checked"]);
    assert_eq!(approved.code, 0, "{approved}");
    // The approval-only step succeeds on its approval; the next one waits.
    project.wait_for_step(run, "deploy", "waiting");
    assert_eq!(project.status_of(run, "sign_off"), "succeeded");
    assert!(!project.exists("deploy.log"), "deploy ran before its approval");
    let approved = project.weft(&["approve", &id, "deploy"]);
    assert_eq!(approved.code, 0, "{approved}");

    let out = background.wait();
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains(&format!("⏸ sign_off waiting for approval: Ship release 1.2? — weft approve {run} sign_off")),
        "{out}"
    );
    assert_eq!(project.read("deploy.log"), "deployed\n", "the approved action ran once");
    assert!(project.exists("after.done"), "the dependent of the approved step ran");
    assert_eq!(project.run_record(run).status, "succeeded");
    assert_eq!(project.step(run, "sign_off").attempts, 0, "an approval-only step starts no process");
    let user = weft::engine::who_am_i();
    assert_eq!(
        project.step(run, "sign_off").reason.as_deref(),
        Some(format!("approved by {user}: release notes checked").as_str()),
        "its result says whose decision it was"
    );
    // A step with an action of its own is its action's result.
    assert_eq!(project.step(run, "deploy").reason, None);

    // The decisions are events with who, when and why.
    let decisions = project.events_of(run, "step_approved", Some("sign_off"));
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0]["by"], user.as_str());
    assert_eq!(decisions[0]["reason"], "release notes checked");
    assert!(decisions[0]["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{decisions:?}");
    let waits = project.events_of(run, "step_waiting", Some("deploy"));
    assert_eq!(waits[0]["prompt"], "Deploy to production now?");
    // Decided once: a second decision is refused.
    let again = project.weft(&["reject", &id, "deploy", "--reason", "too late"]);
    assert_eq!(again.code, 2, "{again}");
    project.assert_integrity();
}

#[test]
fn a_rejected_step_fails_with_the_reason_and_its_dependents_do_not_run() {
    let project = Project::new("approval-reject");
    let (background, run) = start(&project);
    let id = run.to_string();
    // A rejection needs a reason.
    let bare = project.weft(&["reject", &id, "sign_off"]);
    assert_eq!(bare.code, 2, "{bare}");
    assert_eq!(project.status_of(run, "sign_off"), "waiting");
    let rejected = project.weft(&["reject", &id, "sign_off", "--reason", "not during the freeze"]);
    assert_eq!(rejected.code, 0, "{rejected}");
    let out = background.wait();
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(project.run_record(run).status, "failed");
    let step = project.step(run, "sign_off");
    assert_eq!(step.status, "failed");
    let reason = step.reason.unwrap_or_default();
    assert!(reason.contains("rejected by") && reason.contains("not during the freeze"), "{reason}");
    assert!(!project.exists("deploy.log") && !project.exists("after.done"), "a dependent ran: {out}");
    assert_ne!(project.status_of(run, "deploy"), "succeeded");
    let events = project.events_of(run, "step_rejected", Some("sign_off"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["reason"], "not during the freeze");
    // Not retried: one failure, no retry scheduled.
    assert!(project.events_of(run, "step_retry_scheduled", None).is_empty());
}

#[test]
fn an_approval_that_does_not_come_in_time_fails_the_step() {
    let project = Project::new("approval-timeout");
    project.write(
        "t.plan.yaml",
        "plan_id: t\nsteps:\n  - id: gate\n    approval: { prompt: \"go?\", timeout_sec: 0.5 }\n  - { id: next, run: 'touch next.done', depends_on: [gate] }\n",
    );
    let started = Instant::now();
    let out = project.weft(&["run", "t.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    let run = out.run_id();
    let step = project.step(run, "gate");
    assert_eq!(step.status, "failed");
    assert_eq!(step.reason.as_deref(), Some("no approval within 0.5 s"));
    assert!(!project.exists("next.done"));
}

#[test]
fn canceling_a_run_ends_its_waiting_step_as_canceled() {
    let project = Project::new("approval-cancel");
    let (background, run) = start(&project);
    let canceled = project.weft(&["cancel", &run.to_string()]);
    assert_eq!(canceled.code, 0, "{canceled}");
    let out = background.wait();
    assert_eq!(project.run_record(run).status, "canceled", "{out}");
    assert_eq!(project.status_of(run, "sign_off"), "canceled");
    assert!(!project.exists("deploy.log"));
}

#[test]
fn the_wait_survives_the_engine_and_resume_goes_on() {
    let project = Project::new("approval-resume");
    let (background, run) = start(&project);
    let id = run.to_string();
    background.signal(libc::SIGKILL);
    let killed = background.wait();
    assert_eq!(killed.code, 128 + libc::SIGKILL, "{killed}");
    assert_eq!(project.run_record(run).status, "interrupted");
    // Still waiting, and shown as such, with what to do.
    let status = project.weft(&["status", &id]);
    assert!(status.stdout.contains("Ship release 1.2?"), "{status}");
    assert!(status.stdout.contains(&format!("weft resume {run}")), "{status}");
    // Decided while no engine runs; the resumed run finds the decision at once.
    let approved = project.weft(&["approve", &id, "sign_off"]);
    assert_eq!(approved.code, 0, "{approved}");
    let resumed = project.spawn(&["resume", &id]);
    project.wait_for_step(run, "deploy", "waiting");
    assert_eq!(project.status_of(run, "sign_off"), "succeeded");
    let approved = project.weft(&["approve", &id, "deploy"]);
    assert_eq!(approved.code, 0, "{approved}");
    let out = resumed.wait();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(project.run_record(run).status, "succeeded");
    assert_eq!(project.read("build.log"), "built\n", "a succeeded step ran again");
    assert_eq!(project.read("deploy.log"), "deployed\n");
    assert!(project.exists("after.done"));
    assert_eq!(project.events_of(run, "step_approved", Some("sign_off")).len(), 1);
    project.assert_integrity();
}

#[test]
fn a_rejected_step_asks_again_when_its_run_is_resumed() {
    let project = Project::new("approval-reject-resume");
    project.write(
        "g.plan.yaml",
        "plan_id: g\nsteps:\n  - id: gate\n    approval: { prompt: \"go?\" }\n    run: 'touch gate.done'\n",
    );
    let background = project.spawn(&["run", "g.plan.yaml"]);
    let run = background.run_id();
    let id = run.to_string();
    project.wait_for_step(run, "gate", "waiting");
    assert_eq!(project.weft(&["reject", &id, "gate", "--reason", "no"]).code, 0);
    assert_eq!(background.wait().code, 1);
    let resumed = project.spawn(&["resume", &id]);
    project.wait_for_step(run, "gate", "waiting");
    assert_eq!(project.weft(&["approve", &id, "gate"]).code, 0);
    let out = resumed.wait();
    assert_eq!(out.code, 0, "{out}");
    assert!(project.exists("gate.done"));
}

#[test]
fn a_workflow_stage_can_wait_for_approval() {
    let project = Project::with_config(
        "approval-workflow",
        &format!("{}plugins:\n  shipper:\n    run: 'touch shipped'\n", engine_support::FAST_DEFAULTS),
    );
    project.write(
        "w.workflow.yaml",
        "workflow_id: w\nstages:\n  - id: sign_off\n    approval: { prompt: \"ok?\" }\n  - id: ship\n    script: shipper\n    depends_on: [sign_off]\n",
    );
    let background = project.spawn(&["run", "w.workflow.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "sign_off", "waiting");
    let approved = project.weft(&["approve", &run.to_string(), "sign_off"]);
    assert_eq!(approved.code, 0, "{approved}");
    let out = background.wait();
    assert_eq!(out.code, 0, "{out}");
    wait_until(Duration::from_secs(5), "the shipped file", || project.exists("shipped"));
}

/// All slots busy: a step that is to wait for approval starts waiting anyway (the wait takes no
/// slot), so the person asked can decide while the slot is still taken.
#[test]
fn a_step_starts_waiting_while_every_slot_is_busy() {
    let project = Project::new("approval-busy");
    project.write(
        "busy.plan.yaml",
        "plan_id: busy\nglobals: { max_concurrency: 1 }\nsteps:\n  - id: slow\n    run: 'while [ ! -f go ]; do sleep 0.05; done'\n  - id: gate\n    approval: { prompt: \"ok?\" }\n    run: 'touch gate.done'\n",
    );
    let background = project.spawn(&["run", "busy.plan.yaml"]);
    let run = background.run_id();
    project.wait_for_step(run, "gate", "waiting");
    project.wait_for_step(run, "slow", "running");
    assert_eq!(project.weft(&["approve", &run.to_string(), "gate"]).code, 0);
    // Approved, its action still waits for the slot.
    std::thread::sleep(Duration::from_millis(700));
    assert!(!project.exists("gate.done"), "the approved step took a second slot");
    project.write("go", "");
    let out = background.wait();
    assert_eq!(out.code, 0, "{out}");
    assert!(project.exists("gate.done"));
}

/// The run deadline does not wait for a person: the waiting step ends canceled and the run fails.
#[test]
fn the_run_deadline_ends_a_wait_for_approval() {
    let project = Project::new("approval-deadline");
    project.write(
        "d.plan.yaml",
        "plan_id: d\nglobals: { run_timeout_sec: 1 }\nsteps:\n  - id: gate\n    approval: { prompt: \"ok?\" }\n",
    );
    let out = project.weft(&["run", "d.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    assert_eq!(project.run_record(run).status, "failed");
    let step = project.step(run, "gate");
    assert_eq!(step.status, "canceled");
    assert_eq!(step.reason.as_deref(), Some("run deadline"));
}
