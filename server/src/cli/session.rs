//! `weft session start|status|list|end` and `weft phase complete|note` (SPEC §7): argument
//! handling and rendering; the work is `crate::session`'s.
//!
//! Exit status: 0 done; 1 a completion was refused (a check failed, the phase's run failed); 2 the
//! command could not be carried out (usage, no session, a template with errors, another
//! `weft phase complete` of the task running).

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use serde_json::json;

use super::run::workspace_here;
use crate::engine::{self, EventKind, RunEvent};
use crate::session::{self, CompleteOptions, HookReport, Outcome, PhaseInfo, Progress, SessionStatus, Which};
use crate::store::PhaseStatus;

/// `println!` that never panics on a closed pipe.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn fail(error: &str) -> u8 {
    eprintln!("error: {error}");
    2
}

/// `weft session start TASK [--template FILE]`.
pub fn start(task: &str, template: Option<&Path>, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let started = match session::start(&workspace, task, template, &engine::who_am_i()) {
        Ok(started) => started,
        Err(error) => return fail(&error),
    };
    let record = &started.session;
    let template = crate::fs::display_for(Path::new(&record.template));
    if started.resumed {
        say!(
            "session {} of {} resumed (active since {}, template {} · {})",
            record.id,
            record.task,
            short_time(&record.started_at),
            record.template_id,
            template.display()
        );
    } else {
        say!("session {} · task {} · template {} ({})", record.id, record.task, record.template_id, template.display());
    }
    print_hooks(&started.hooks);
    match &started.phase {
        Some(phase) => print_phase("▶", phase),
        None => say!("all phases complete — `weft session end {}`", record.task),
    }
    0
}

/// `weft phase complete TASK [--override --reason TEXT]`.
pub fn complete(task: &str, override_reason: Option<String>, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let options = CompleteOptions {
        override_reason,
        by: engine::who_am_i(),
        run_sink: Some(run_sink()),
        cancel_on_interrupt: true,
        on_run: None,
    };
    // On a terminal, a check that takes time (a `run:` entry) shows while it runs; the next line
    // replaces it.
    let terminal = std::io::stdout().is_terminal();
    let mut showing = false;
    let mut progress = |event: &Progress| {
        if std::mem::take(&mut showing) {
            let _ = write!(std::io::stdout(), "\r\x1b[K");
        }
        show_progress(event, terminal, &mut showing)
    };
    let outcome = match session::complete(&workspace, task, options, &mut progress) {
        Ok(outcome) => outcome,
        Err(error) => return fail(&error),
    };
    finish_completion(task, outcome)
}

fn show_progress(event: &Progress, terminal: bool, showing: &mut bool) {
    match event {
        Progress::CheckPassed { check } => say!("  ✓ {check}"),
        Progress::CheckStarted { check } => {
            if terminal {
                let _ = write!(std::io::stdout(), "  ⏳ {check} …");
                let _ = std::io::stdout().flush();
                *showing = true;
            }
        }
        Progress::CheckFailed(failure) => {
            say!("  ✗ {}", failure.line());
            if let (Some(seen), Some(fingerprint)) = (&failure.seen, &failure.fingerprint) {
                say!("      {}", engine::describe_seen(seen, fingerprint));
            }
        }
        Progress::RunStarted { run, file } => {
            say!("run {run} · {} (the phase's workflow)", crate::fs::display_for(file).display())
        }
        Progress::Hook(hook) => print_hook(hook),
    }
}

fn finish_completion(task: &str, outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Refused { phase, failures } => {
            say!(
                "✗ phase {phase} of {task} not completed: {} failed — fix {} and run `weft phase complete {task}` again (or add --override --reason TEXT)",
                count(failures.len(), "check", "checks"),
                if failures.len() == 1 { "it" } else { "them" },
            );
            1
        }
        Outcome::RunFailed { phase, run, status, .. } => {
            say!("✗ run {run} {status}: phase {phase} of {task} stays active — see `weft status {run}`, then complete it again");
            1
        }
        Outcome::Completed(done) => {
            if done.overridden.is_empty() && done.passed == 0 {
                say!("✓ phase {} of {task} completed (it has no checks)", done.phase);
            } else if done.overridden.is_empty() {
                say!("✓ phase {} of {task} completed ({} passed)", done.phase, count(done.passed, "check", "checks"));
            } else {
                let failed: Vec<&str> = done.overridden.iter().map(|f| f.check.as_str()).collect();
                say!(
                    "⚠ phase {} of {task} completed with an override by {} (failed: {})",
                    done.phase,
                    engine::who_am_i(),
                    failed.join(", ")
                );
            }
            if let Some(run) = done.run {
                say!("  run {run} succeeded");
            }
            if !done.commits.is_empty() {
                say!("  {} during the phase:", count(done.commits.len(), "commit", "commits"));
                for commit in done.commits.iter().take(10) {
                    say!("    {} {}", &commit.sha[..commit.sha.len().min(10)], commit.subject);
                }
            }
            match &done.next {
                Some(next) => print_phase("▶ next:", next),
                None => say!("all phases complete — `weft session end {task}`"),
            }
            0
        }
    }
}

/// `weft phase note TASK TEXT`.
pub fn note(task: &str, text: &str, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    match session::note(&workspace, task, text) {
        Ok(Some(phase)) => {
            say!("noted on phase {phase} of {task}");
            0
        }
        Ok(None) => {
            say!("noted on the session of {task}");
            0
        }
        Err(error) => fail(&error),
    }
}

/// `weft session end TASK`.
pub fn end(task: &str, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    match session::end(&workspace, task, &engine::who_am_i()) {
        Ok(record) => {
            say!("session {} of {} ended", record.id, record.task);
            0
        }
        Err(error) => fail(&error),
    }
}

/// `weft session list`: one line per session, newest first.
pub fn list(json_output: bool, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let sessions = match session::list(&workspace, 10_000) {
        Ok(sessions) => sessions,
        Err(error) => return fail(&error),
    };
    if json_output {
        say!("{}", json!({ "sessions": sessions }));
        return 0;
    }
    if sessions.is_empty() {
        say!("no sessions in {} (start one: `weft session start TASK`)", workspace.display());
        return 0;
    }
    let store = crate::store::Store::open_existing(&workspace).ok().flatten();
    for record in sessions {
        let ended = record.ended_at.as_deref().map(|at| format!(" · ended {}", short_time(at))).unwrap_or_default();
        let phases = store.as_ref().and_then(|store| store.session_phases(record.id).ok()).unwrap_or_default();
        say!(
            "{:>4}  {:<16} {:<12} {:<7} {:<22} started {}{ended}",
            record.id,
            record.task,
            record.template_id,
            record.status,
            progress(&phases, record.is_active()),
            short_time(&record.started_at)
        );
    }
    0
}

/// Where a session stands: `▶ 3/6 plan` (its active phase), `✓ 6/6` (every phase done), or for
/// one that ended before its last phase, where it stopped (`at 3/6 plan`).
fn progress(phases: &[crate::store::PhaseRecord], active: bool) -> String {
    let total = phases.len();
    let done = phases.iter().filter(|phase| phase.status.is_done()).count();
    match phases.iter().position(|phase| phase.status == crate::store::PhaseStatus::Active) {
        _ if total == 0 => String::new(),
        Some(index) => format!("{} {}/{total} {}", if active { "▶" } else { "at" }, index + 1, phases[index].id),
        None if done == total => format!("✓ {total}/{total}"),
        None => format!("{done}/{total} done"),
    }
}

/// `weft session status [TASK] [--format json]`.
pub fn status(task: Option<&str>, json_output: bool, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let which = match task {
        Some(task) => Which::Task(task),
        None => Which::Active,
    };
    let sessions = match session::status(&workspace, which, true) {
        Ok(sessions) => sessions,
        Err(error) => return fail(&error),
    };
    if json_output {
        say!("{}", json!({ "sessions": sessions }));
        return 0;
    }
    if sessions.is_empty() {
        say!("no active session (start one: `weft session start TASK`; all sessions: `weft session list`)");
    }
    for (index, status) in sessions.iter().enumerate() {
        if index > 0 {
            say!("");
        }
        print_status(status);
    }
    0
}

fn print_status(status: &SessionStatus) {
    let ended = status.ended_at.as_deref().map(|at| format!(", ended {}", short_time(at))).unwrap_or_default();
    say!(
        "session {} · task {} · template {} ({}) · {} (started {} by {}{ended})",
        status.id,
        status.task,
        status.template_id,
        crate::fs::display_for(Path::new(&status.template)).display(),
        status.status,
        short_time(&status.started_at),
        status.started_by
    );
    let width = status.phases.iter().map(|p| p.id.chars().count()).max().unwrap_or(0);
    for phase in &status.phases {
        let (mark, what) = match phase.status {
            PhaseStatus::Completed => {
                ("✓", format!("completed {}", phase.finished_at.as_deref().map(short_time).unwrap_or_default()))
            }
            PhaseStatus::Overridden => {
                ("⚠", format!("overridden {}", phase.finished_at.as_deref().map(short_time).unwrap_or_default()))
            }
            PhaseStatus::Active if status.status != "active" => (
                "■",
                format!(
                    "was active when the session ended (since {})",
                    phase.started_at.as_deref().map(short_time).unwrap_or_default()
                ),
            ),
            PhaseStatus::Active => {
                ("▶", format!("active since {}", phase.started_at.as_deref().map(short_time).unwrap_or_default()))
            }
            PhaseStatus::Pending => ("·", "pending".to_owned()),
        };
        let run = phase.run.map(|run| format!(" · run {run}")).unwrap_or_default();
        say!("  {mark} {:<width$}  {what}{run}", phase.id);
        if let Some(o) = &phase.override_ {
            say!("      override by {}: {}", o.by, o.reason);
            if !o.failed_checks.is_empty() {
                say!("      failed checks: {}", o.failed_checks.join(", "));
            }
        }
        if phase.status == PhaseStatus::Active {
            if let Some(goal) = &phase.goal {
                say!("      goal: {goal}");
            }
            if !phase.failing_checks.is_empty() {
                say!("      last completion refused:");
                for failure in &phase.failing_checks {
                    say!("        ✗ {}", failure.line());
                }
            }
        }
        for commit in &phase.commits {
            say!(
                "      {} {} ({}, {})",
                &commit.sha[..commit.sha.len().min(10)],
                commit.subject,
                commit.author,
                short_time(&commit.at)
            );
        }
    }
}

fn print_phase(mark: &str, phase: &PhaseInfo) {
    let goal = phase.goal.as_deref().map(|goal| format!(": {goal}")).unwrap_or_default();
    say!("{mark} phase {}/{} {}{goal}", phase.position, phase.of, phase.id);
    if let Some(description) = &phase.description {
        for line in description.trim().lines() {
            say!("  {line}");
        }
    }
    if !phase.required.is_empty() {
        say!("  required: {}", phase.required.join(", "));
    }
    if let Some(workflow) = &phase.workflow {
        say!("  completing it runs {workflow}");
    }
    if let Some(next) = &phase.next_step {
        say!("  next step: {next}");
    }
}

fn print_hooks(hooks: &[HookReport]) {
    for hook in hooks {
        print_hook(hook);
    }
}

fn print_hook(hook: &HookReport) {
    if hook.success {
        say!("  ✓ hook {} of {}: `{}`", hook.hook, hook.phase, hook.command);
    } else {
        say!("  ⚠ hook {} of {} `{}` failed: {}", hook.hook, hook.phase, hook.command, hook.detail);
    }
}

/// What a phase's workflow run shows while it goes: one line per step that ends.
fn run_sink() -> engine::EventSink {
    Box::new(|event: &RunEvent| {
        let step = event.step.as_deref().unwrap_or_default();
        let reason = engine::describe_reason(&event.data).map(|r| format!(" · {r}")).unwrap_or_default();
        match event.kind {
            EventKind::StepStarted => say!("  ▶ {step}"),
            EventKind::StepSucceeded => say!("  ✓ {step}"),
            EventKind::StepFailed | EventKind::StepTimedOut => say!("  ✗ {step}{reason}"),
            EventKind::StepSkipped if !reason.contains("not selected") => say!("  ⊘ {step}{reason}"),
            _ => {}
        }
    })
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `2026-12-07T03:39:20.123Z` → `2026-12-07 03:39`.
fn short_time(at: &str) -> String {
    at.get(..16).unwrap_or(at).replace('T', " ")
}
