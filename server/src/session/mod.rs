//! Sessions (SPEC §7): one task walked through the phases of a template. A session starts on the
//! template's first phase; completing a phase checks its required artifacts and validation
//! entries, runs its `workflow:` on the engine, runs its hooks, and makes the next phase active.
//! State lives in the workspace's history (`store::sessions`); every action is an event there.
//!
//! The command line (`cli/session.rs`) and the editor call the functions of this module; they
//! know nothing of either. Sessions act only when asked: nothing here runs on its own.
//!
//! Invariants:
//! - a task has at most one active session: a second start resumes it (the store's transaction);
//! - a phase completes once: the completion holds the session's lock file while it checks, so a
//!   second `weft phase complete` is told at once, and the store's conditional update is the
//!   final guard (of two processes that get past the lock, one completes, one is told);
//! - a phase with `workflow:` completes only when its run succeeds.
//!
//! Hook failures are reported and recorded (`phase_hook_finished` with `success: false`) but do
//! not block: the checks are the gate, hooks are what happens around it. `on_end` hooks run once
//! the completion is recorded (so only the process that completed the phase runs them), then the
//! next phase's `on_start` hooks.
//!
//! Events recorded (the `data` of each is a JSON object; README.md, "Sessions", lists them too):
//! - `session_started` `{task, template, by}`, `phase_started` `{task}` (the store's);
//! - `phase_check_failed` `{task, failures: [{check, kind, index, message, detail?, fingerprint?}]}`
//!   on a refused completion ([`CheckFailure`]);
//! - `phase_checks_passed` `{task, passed}` when every check passed (so a refusal before is over);
//! - `phase_run_failed` `{task, run, status}` when the phase's workflow run did not succeed;
//! - `phase_completed` / `phase_overridden` `{task, passed, run?, next?, reason?, by?,
//!   failed_checks?}` and the phase's `events:` names (the store's);
//! - `phase_hook_finished` `{task, hook, command, success, detail}`;
//! - `phase_note` `{task, text}`; `session_ended` `{by, at_phase}` (the store's).

pub mod artifacts;
mod checks;
mod template;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::engine::{self, git, EventSink, SessionLink, StartOptions};
use crate::store::{
    self, Commit, GitSnapshot, NewEvent, NewFailure, PhaseRecord, PhaseStatus, RunId, RunLock, RunStatus, SessionId,
    SessionRecord, Store,
};

pub use checks::{CheckFailure, HookReport, DEFAULT_CHECK_TIMEOUT, DEFAULT_HOOK_TIMEOUT};
pub use template::{find as find_template, load as load_template, LoadedTemplate, PhaseInfo};

/// What happens while a phase is being completed, as it happens (for a terminal or an editor's
/// progress).
#[derive(Debug)]
pub enum Progress<'a> {
    /// A check that takes time (a `run:` entry) has started.
    CheckStarted {
        check: &'a str,
    },
    CheckPassed {
        check: &'a str,
    },
    CheckFailed(&'a CheckFailure),
    /// The phase's workflow run has started (its events go to `CompleteOptions::run_sink`).
    RunStarted {
        run: RunId,
        file: &'a Path,
    },
    Hook(&'a HookReport),
}

/// A task id: `[A-Za-z0-9_.-]+`.
pub fn valid_task(task: &str) -> Result<(), String> {
    if !task.is_empty() && task.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a task id: use letters, digits, `_`, `.` and `-` (like T-42 or login_page)",
            task.escape_debug()
        ))
    }
}

/// A session just started or resumed.
#[derive(Debug)]
pub struct Started {
    pub session: SessionRecord,
    /// True when the task already had an active session (it is returned, not duplicated).
    pub resumed: bool,
    /// The active phase, `None` when every phase is complete.
    pub phase: Option<PhaseInfo>,
    /// The `on_start` hooks of the first phase (none when resumed).
    pub hooks: Vec<HookReport>,
}

/// Starts a session of `task` on `template` (default: the only `*.phases.yaml` of the
/// workspace), or resumes the task's active session. A different template than the active
/// session's is an error naming it. Runs the first phase's `on_start` hooks.
pub fn start(workspace: &Path, task: &str, template: Option<&Path>, by: &str) -> Result<Started, String> {
    valid_task(task)?;
    let store = Store::open(workspace).map_err(|e| e.to_string())?;
    if let Some(active) = store.active_session(task).map_err(|e| e.to_string())? {
        return resumed(&store, active, template);
    }
    let path = match template {
        Some(path) => crate::fs::absolute(path),
        None => template::find(workspace)?,
    };
    let loaded = template::load(&path)?;
    let parsed = loaded.template();
    let ids: Vec<&str> = parsed.ids().collect();
    let (session, was_active) = store
        .start_session(task, &loaded.path.display().to_string(), &loaded.template_id(), &ids, by)
        .map_err(|e| e.to_string())?;
    if was_active {
        // Another process started it between our look and our start.
        return resumed(&store, session, template);
    }
    record_git_snapshot(&store, workspace, session.id, Some(ids[0]), "session_started", None);
    let first =
        &parsed.phases.iter().find(|p| p.id.is_some_and(|id| id.text == ids[0])).expect("the first id is a phase's");
    let statuses = statuses(&store, session.id)?;
    let context = context(workspace, &session, ids[0], &loaded.path, statuses);
    let hooks = checks::run_hooks(&context, "on_start", &first.on_start);
    record_hooks(&store, &session, &hooks);
    Ok(Started { phase: Some(PhaseInfo::of(&parsed, first, task)), session, resumed: false, hooks })
}

fn resumed(store: &Store, active: SessionRecord, template: Option<&Path>) -> Result<Started, String> {
    if let Some(wanted) = template {
        let wanted = crate::fs::absolute(wanted);
        if Path::new(&active.template) != wanted {
            return Err(format!(
                "task {} has an active session (#{}) on another template, {}; end it first (`weft session end {}`) or omit --template",
                active.task, active.id, active.template, active.task
            ));
        }
    }
    let phase = match store.active_phase(active.id).map_err(|e| e.to_string())? {
        Some(record) => template::load(Path::new(&active.template)).ok().and_then(|loaded| {
            let parsed = loaded.template();
            parsed.phase(&record.id).map(|(_, phase)| PhaseInfo::of(&parsed, phase, &active.task))
        }),
        None => None,
    };
    Ok(Started { session: active, resumed: true, phase, hooks: Vec::new() })
}

/// How `weft phase complete` goes.
pub struct CompleteOptions {
    /// `--override --reason TEXT`: complete even when checks fail (the reason must not be empty).
    pub override_reason: Option<String>,
    /// Who completes (see `engine::who_am_i`).
    pub by: String,
    /// Where the events of the phase's workflow run go, as for `weft run`.
    pub run_sink: Option<EventSink>,
    /// Ctrl-C and SIGTERM cancel the phase's workflow run (the command line) instead of ending the
    /// process and leaving the run's steps behind.
    pub cancel_on_interrupt: bool,
    /// Given the run's cancel handle as soon as the phase's workflow run is created (the editor
    /// keeps it to cancel the run).
    pub on_run: Option<Box<dyn FnOnce(engine::CancelHandle) + Send>>,
}

/// How a completion ended.
#[derive(Debug)]
pub enum Outcome {
    /// Checks failed: the phase stays active (`phase_check_failed` recorded).
    Refused {
        phase: String,
        failures: Vec<CheckFailure>,
    },
    /// The phase's workflow run did not succeed: the phase stays active (`phase_run_failed`).
    RunFailed {
        phase: String,
        run: RunId,
        status: RunStatus,
        failures: Vec<CheckFailure>,
    },
    Completed(Box<Completed>),
}

#[derive(Debug)]
pub struct Completed {
    pub session: SessionRecord,
    pub phase: String,
    /// The checks that failed and were overridden (empty without an override).
    pub overridden: Vec<CheckFailure>,
    pub passed: usize,
    pub run: Option<RunId>,
    /// The next phase, now active; `None` after the last.
    pub next: Option<PhaseInfo>,
    /// `on_end` of the phase, then `on_start` of the next.
    pub hooks: Vec<HookReport>,
    /// The commits made while the phase was active.
    pub commits: Vec<Commit>,
}

/// Completes the active phase of `task`'s session (see the module's invariants).
pub fn complete(
    workspace: &Path,
    task: &str,
    options: CompleteOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Outcome, String> {
    valid_task(task)?;
    let reason = match options.override_reason.as_deref().map(str::trim) {
        Some("") => return Err("--override needs a reason (--reason TEXT)".into()),
        other => other.map(str::to_owned),
    };
    let store = Store::open(workspace).map_err(|e| e.to_string())?;
    let session = active_session_of(&store, task)?;
    let lock_path = store::session_lock_path(workspace, session.id);
    let _lock = match RunLock::try_take_path(lock_path) {
        Ok(Some(lock)) => lock,
        Ok(None) => return Err(format!("another `weft phase complete {task}` is running; wait for it")),
        Err(error) => return Err(format!("cannot take the lock of session {}: {error}", session.id)),
    };
    // Read again under the lock: the phase may have been completed meanwhile.
    let Some(active) = store.active_phase(session.id).map_err(|e| e.to_string())? else {
        return Err(format!("every phase of {task} is complete — `weft session end {task}`"));
    };
    let loaded = template::load(Path::new(&session.template))?;
    let parsed = loaded.template();
    let Some((_, phase)) = parsed.phase(&active.id) else {
        return Err(format!(
            "phase `{}` of {task} is no longer in {}; restore it, or end the session",
            active.id, session.template
        ));
    };
    let statuses = statuses(&store, session.id)?;
    let context = context(workspace, &session, &active.id, &loaded.path, statuses);
    let (mut failures, passed) = checks::run_checks(&context, phase, progress);
    record_failures(&store, &session, &active.id, &mut failures);
    for failure in &failures {
        progress(&Progress::CheckFailed(failure));
    }
    let event = |kind: &str, data: serde_json::Value| {
        let data = data.to_string();
        let at = store::now();
        let _ = store.record_event(&NewEvent {
            session: Some(session.id),
            phase: Some(&active.id),
            at: &at,
            kind,
            data: &data,
            ..NewEvent::default()
        });
    };
    if failures.is_empty() {
        event("phase_checks_passed", json!({ "task": task, "passed": passed }));
    } else if reason.is_none() {
        event("phase_check_failed", json!({ "task": task, "failures": failures }));
        return Ok(Outcome::Refused { phase: active.id, failures });
    }
    let mut run = None;
    if let Some(workflow) = phase.workflow {
        let file = loaded.folder().join(crate::model::phases::substitute_task(workflow.text, task));
        let link = SessionLink { session: session.id, phase: active.id.clone() };
        let started = engine::start(
            &file,
            StartOptions {
                selection: Default::default(),
                allow_concurrent: false,
                sink: options.run_sink,
                session: Some(link),
                executor: None,
                metrics: None,
            },
        )
        .map_err(|error| format!("phase `{}` runs {}, which cannot start: {error}", active.id, file.display()))?;
        let id = started.id;
        progress(&Progress::RunStarted { run: id, file: &file });
        if let Some(on_run) = options.on_run {
            on_run(started.cancel_handle());
        }
        let listening = options
            .cancel_on_interrupt
            .then(|| engine::signals::cancel_on_interrupt(started.cancel_handle()))
            .flatten();
        let status = started.wait();
        if let Some(listening) = listening {
            listening.close();
        }
        let status = status?;
        if status != RunStatus::Succeeded {
            event("phase_run_failed", json!({ "task": task, "run": id, "status": status.as_str() }));
            return Ok(Outcome::RunFailed { phase: active.id, run: id, status, failures });
        }
        run = Some(id);
    }
    // The next phase is the session's, as recorded when it started: a template edited since (a
    // phase added, removed or moved) does not change the sequence a running session walks.
    let recorded = store.session_phases(session.id).map_err(|e| e.to_string())?;
    let next_id: Option<String> = recorded
        .iter()
        .find(|p| p.position > active.position && p.status == PhaseStatus::Pending)
        .map(|p| p.id.clone());
    let next_id = next_id.as_deref();
    let next = next_id.and_then(|id| parsed.phase(id)).map(|(_, phase)| phase);
    let events: Vec<String> = phase.events.iter().map(|name| name.text.to_owned()).collect();
    let failed_checks: Vec<String> = failures.iter().map(|f| f.check.clone()).collect();
    let overridden = reason.as_deref().filter(|_| !failures.is_empty()).map(|reason| store::Override {
        reason,
        by: &options.by,
        failed_checks: failed_checks.clone(),
    });
    let mut data = serde_json::Map::new();
    data.insert("task".into(), task.into());
    data.insert("passed".into(), passed.into());
    let completion = store::Completion { overridden, run, events: &events, next: next_id, data };
    if !store.complete_phase(session.id, &active.id, &completion).map_err(|e| e.to_string())? {
        return Err(format!("phase `{}` of {task} was completed by another process", active.id));
    }
    let commits =
        record_git_snapshot(&store, workspace, session.id, Some(&active.id), "phase_completed", Some(&active));
    let mut hooks = checks::run_hooks(&context, "on_end", &phase.on_end);
    if let Some(next) = next {
        let statuses = statuses_of(&store, session.id)?;
        let next_context = self::context(workspace, &session, next_id.unwrap_or_default(), &loaded.path, statuses);
        hooks.extend(checks::run_hooks(&next_context, "on_start", &next.on_start));
    }
    for hook in &hooks {
        progress(&Progress::Hook(hook));
    }
    record_hooks(&store, &session, &hooks);
    let overridden = if reason.is_some() { failures } else { Vec::new() };
    Ok(Outcome::Completed(Box::new(Completed {
        session: session.clone(),
        phase: active.id,
        overridden,
        passed,
        run,
        next: next_id.map(|id| match next {
            Some(next) => PhaseInfo::of(&parsed, next, task),
            // Recorded in the session but gone from the template: its id is all there is to say.
            None => PhaseInfo {
                id: id.to_owned(),
                position: recorded.iter().position(|p| p.id == id).map_or(0, |i| i + 1),
                of: recorded.len(),
                goal: None,
                description: None,
                required: Vec::new(),
                optional: Vec::new(),
                next_step: None,
                workflow: None,
            },
        }),
        hooks,
        commits,
    })))
}

/// Ends the active session of `task` (a git snapshot and `session_ended` are recorded).
pub fn end(workspace: &Path, task: &str, by: &str) -> Result<SessionRecord, String> {
    valid_task(task)?;
    let store = Store::open(workspace).map_err(|e| e.to_string())?;
    let session = active_session_of(&store, task)?;
    let phase = store.active_phase(session.id).map_err(|e| e.to_string())?;
    if !store.end_session(session.id, by).map_err(|e| e.to_string())? {
        return Err(format!("the session of {task} was ended by another process"));
    }
    record_git_snapshot(&store, workspace, session.id, phase.as_ref().map(|p| p.id.as_str()), "session_ended", None);
    store.session(session.id).map_err(|e| e.to_string())?.ok_or_else(|| "the session vanished".to_owned())
}

/// Records a note on the active phase of `task`'s session (`phase_note`, found by `weft search`).
/// Returns the phase it was recorded on (none once every phase is complete).
pub fn note(workspace: &Path, task: &str, text: &str) -> Result<Option<String>, String> {
    valid_task(task)?;
    if text.trim().is_empty() {
        return Err("a note needs some text".into());
    }
    let store = Store::open(workspace).map_err(|e| e.to_string())?;
    let session = active_session_of(&store, task)?;
    let phase = store.active_phase(session.id).map_err(|e| e.to_string())?.map(|p| p.id);
    let data = json!({ "task": task, "text": text }).to_string();
    let at = store::now();
    store
        .record_event(&NewEvent {
            session: Some(session.id),
            phase: phase.as_deref(),
            at: &at,
            kind: "phase_note",
            data: &data,
            ..NewEvent::default()
        })
        .map_err(|e| e.to_string())?;
    Ok(phase)
}

/// Every session, active and ended, newest first (at most `limit`). Never creates a history.
pub fn list(workspace: &Path, limit: usize) -> Result<Vec<SessionRecord>, String> {
    match Store::open_existing(workspace).map_err(|e| e.to_string())? {
        Some(store) => store.sessions(false, limit).map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    }
}

/// A session as `weft session status` shows it (the JSON shape of `--format json`; see README).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SessionStatus {
    pub id: SessionId,
    pub task: String,
    /// The template's absolute path.
    pub template: String,
    pub template_id: String,
    /// `active` or `ended`.
    pub status: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub started_by: String,
    pub phases: Vec<PhaseState>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PhaseState {
    pub id: String,
    /// `pending`, `active`, `completed` or `overridden`.
    pub status: PhaseStatus,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The run of its workflow: the one that completed it, or for the active phase the last that
    /// failed.
    pub run: Option<RunId>,
    #[serde(rename = "override")]
    pub override_: Option<OverrideState>,
    /// The commits made while the phase was active, newest first.
    pub commits: Vec<Commit>,
    /// For the active phase: the failures of its last refused completion, if no attempt since
    /// passed its checks. Empty otherwise.
    pub failing_checks: Vec<CheckFailure>,
    /// The phase's goal and next step from the template as it is now (`{task}` substituted);
    /// `None` when the template cannot be read.
    pub goal: Option<String>,
    pub next_step: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OverrideState {
    pub reason: String,
    pub by: String,
    pub at: Option<String>,
    pub failed_checks: Vec<String>,
}

/// Which sessions [`status`] shows.
pub enum Which<'a> {
    /// Every active session.
    Active,
    /// The task's active session, else its latest.
    Task(&'a str),
    /// The active sessions on a template (the editor's lenses on a phases file).
    Template(&'a Path),
}

/// The sessions asked for, with their phases. The history is opened read-only and never created.
/// With `live_git`, the active phase's commits so far are read from the repository (a command
/// the user runs; the editor passes false, and never starts git).
pub fn status(workspace: &Path, which: Which<'_>, live_git: bool) -> Result<Vec<SessionStatus>, String> {
    let Some(store) = Store::open_existing(workspace).map_err(|e| e.to_string())? else {
        return match which {
            Which::Task(task) => Err(format!("no session of {task} (start one: `weft session start {task}`)")),
            _ => Ok(Vec::new()),
        };
    };
    let sessions = match which {
        Which::Active => store.sessions(true, 1000).map_err(|e| e.to_string())?,
        Which::Task(task) => {
            valid_task(task)?;
            let found = match store.active_session(task).map_err(|e| e.to_string())? {
                Some(active) => Some(active),
                None => store.latest_session(task).map_err(|e| e.to_string())?,
            };
            vec![found.ok_or_else(|| format!("no session of {task} (start one: `weft session start {task}`)"))?]
        }
        Which::Template(path) => store
            .active_sessions_of_template(&crate::fs::absolute(path).display().to_string())
            .map_err(|e| e.to_string())?,
    };
    sessions.into_iter().map(|session| session_status(&store, workspace, session, live_git)).collect()
}

fn session_status(
    store: &Store,
    workspace: &Path,
    session: SessionRecord,
    live_git: bool,
) -> Result<SessionStatus, String> {
    let phases = store.session_phases(session.id).map_err(|e| e.to_string())?;
    let snapshots = store.git_snapshots(Some(session.id), None).map_err(|e| e.to_string())?;
    let events = store.session_events(session.id).map_err(|e| e.to_string())?;
    let loaded = template::load(Path::new(&session.template)).ok();
    let parsed = loaded.as_ref().map(|loaded| loaded.template());
    let mut states = Vec::new();
    for phase in phases {
        let info = parsed.as_ref().and_then(|t| t.phase(&phase.id).map(|(_, p)| PhaseInfo::of(t, p, &session.task)));
        let mut commits = snapshots
            .iter()
            .rev()
            .find(|s| s.moment == "phase_completed" && s.phase.as_deref() == Some(&phase.id))
            .map(|s| s.commits.clone())
            .unwrap_or_default();
        let mut failing_checks = Vec::new();
        let mut run = phase.run;
        if phase.status == PhaseStatus::Active {
            let of_phase = |kind: &str| {
                events.iter().rev().find(|e| e.phase.as_deref() == Some(&phase.id) && e.kind == kind).map(|e| e.id)
            };
            let refused = events.iter().rev().find(|e| {
                e.phase.as_deref() == Some(&phase.id)
                    && matches!(e.kind.as_str(), "phase_check_failed" | "phase_checks_passed")
            });
            if let Some(event) = refused.filter(|e| e.kind == "phase_check_failed") {
                let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
                failing_checks = serde_json::from_value::<Vec<FailureRecord>>(data["failures"].clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(FailureRecord::into_failure)
                    .collect();
            }
            if let (Some(failed), passed) = (of_phase("phase_run_failed"), of_phase("phase_checks_passed")) {
                if passed.is_none_or(|passed| passed < failed) || run.is_none() {
                    let data = events.iter().find(|e| e.id == failed).map(|e| e.data.clone()).unwrap_or_default();
                    let data: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                    run = data["run"].as_i64().or(run);
                }
            }
            if live_git && session.is_active() {
                if let Some(start) = phase_start(&snapshots, &phase.id) {
                    if let Some(now) = git::capture(workspace).and_then(|state| state.head) {
                        commits = git::commits_between(workspace, start.head.as_deref(), &now);
                    }
                }
            }
        }
        let override_ = match (&phase.override_reason, phase.status) {
            (Some(reason), PhaseStatus::Overridden) => Some(OverrideState {
                reason: reason.clone(),
                by: phase.override_by.clone().unwrap_or_default(),
                at: phase.finished_at.clone(),
                failed_checks: phase.failed_checks.clone(),
            }),
            _ => None,
        };
        states.push(PhaseState {
            id: phase.id,
            status: phase.status,
            started_at: phase.started_at,
            finished_at: phase.finished_at,
            run,
            override_,
            commits,
            failing_checks,
            goal: info.as_ref().and_then(|i| i.goal.clone()),
            next_step: info.and_then(|i| i.next_step),
        });
    }
    Ok(SessionStatus {
        id: session.id,
        task: session.task,
        template: session.template,
        template_id: session.template_id,
        status: session.status,
        started_at: session.started_at,
        ended_at: session.ended_at,
        started_by: session.started_by,
        phases: states,
    })
}

/// A failure as `phase_check_failed` recorded it.
#[derive(serde::Deserialize, Default)]
struct FailureRecord {
    check: String,
    kind: String,
    index: usize,
    message: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    fingerprint: Option<String>,
}

impl FailureRecord {
    fn into_failure(self) -> CheckFailure {
        CheckFailure {
            check: self.check,
            kind: self.kind,
            index: self.index,
            message: self.message,
            detail: self.detail,
            fingerprint: self.fingerprint,
            seen: None,
            exit: crate::engine::fingerprint::ExitKind::Code(1),
        }
    }
}

fn active_session_of(store: &Store, task: &str) -> Result<SessionRecord, String> {
    if let Some(session) = store.active_session(task).map_err(|e| e.to_string())? {
        return Ok(session);
    }
    Err(match store.latest_session(task).map_err(|e| e.to_string())? {
        Some(ended) => format!(
            "the session of {task} ended at {}; start a new one: `weft session start {task}`",
            ended.ended_at.unwrap_or_default()
        ),
        None => format!("no active session of {task}; start one: `weft session start {task}`"),
    })
}

fn statuses_of(store: &Store, session: SessionId) -> Result<Vec<(String, PhaseStatus)>, String> {
    statuses(store, session)
}

fn statuses(store: &Store, session: SessionId) -> Result<Vec<(String, PhaseStatus)>, String> {
    Ok(store
        .session_phases(session)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|phase: PhaseRecord| (phase.id, phase.status))
        .collect())
}

fn context<'a>(
    workspace: &'a Path,
    session: &'a SessionRecord,
    phase: &'a str,
    template: &'a Path,
    statuses: Vec<(String, PhaseStatus)>,
) -> checks::CheckContext<'a> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let log_dir: PathBuf = store::session_dir(workspace, session.id).join(phase).join(stamp.to_string());
    checks::CheckContext { workspace, session: session.id, task: &session.task, phase, template, statuses, log_dir }
}

fn record_hooks(store: &Store, session: &SessionRecord, hooks: &[HookReport]) {
    for hook in hooks {
        let data = json!({
            "task": session.task,
            "hook": hook.hook,
            "command": hook.command,
            "success": hook.success,
            "detail": hook.detail,
        })
        .to_string();
        let at = store::now();
        let _ = store.record_event(&NewEvent {
            session: Some(session.id),
            phase: Some(&hook.phase),
            at: &at,
            kind: "phase_hook_finished",
            data: &data,
            ..NewEvent::default()
        });
    }
}

/// Gives each failure its fingerprint, says whether it was seen before, and records it. The subject
/// names the check by its place in the template (`phase:intake:artifact 1`, `phase:intake:validation
/// 2`), not by its text for this task (`artifact docs/tasks/T-7/intake.md`): the same check failing
/// the same way for another task is the same failure.
fn record_failures(store: &Store, session: &SessionRecord, phase: &str, failures: &mut [CheckFailure]) {
    for failure in failures {
        let subject = format!("phase:{phase}:{} {}", failure.kind, failure.index + 1);
        let text = if failure.detail.is_empty() {
            failure.message.clone()
        } else {
            format!("{}\n{}", failure.message, failure.detail)
        };
        let print = engine::fingerprint::fingerprint(&subject, failure.exit, &text);
        let at = store::now();
        failure.seen = store.failure_seen(&print.id, Some(&at), None).ok().flatten();
        let _ = store.record_failure(&NewFailure {
            fingerprint: print.id.clone(),
            class: print.class.as_str().to_owned(),
            at,
            subject,
            normalized: print.normalized,
            run: None,
            step: None,
            attempt: None,
            session: Some(session.id),
            phase: Some(phase.to_owned()),
        });
        failure.fingerprint = Some(print.id);
    }
}

/// The snapshot taken when `phase` became active: the one of the session's start or of the
/// completion before it. `None` when none was taken (the session started outside a repository).
fn phase_start(snapshots: &[GitSnapshot], phase: &str) -> Option<GitSnapshot> {
    // Snapshots come in order; the phase started at the last session snapshot before the one of
    // its own completion (or before now, for the active phase).
    let own_end = snapshots
        .iter()
        .position(|s| s.moment == "phase_completed" && s.phase.as_deref() == Some(phase))
        .unwrap_or(snapshots.len());
    snapshots[..own_end]
        .iter()
        .rev()
        .find(|s| matches!(s.moment.as_str(), "session_started" | "phase_completed"))
        .cloned()
}

/// Records the repository's state at a moment of a session (nothing outside a repository); for a
/// phase's completion, with the commits made since it started, which it returns.
fn record_git_snapshot(
    store: &Store,
    workspace: &Path,
    session: SessionId,
    phase: Option<&str>,
    moment: &str,
    completed: Option<&PhaseRecord>,
) -> Vec<Commit> {
    if git::repository_of(workspace).is_none() {
        return Vec::new();
    }
    let Some(state) = git::capture(workspace) else { return Vec::new() };
    let mut commits = Vec::new();
    if let (Some(completed), Some(now)) = (completed, state.head.as_deref()) {
        let snapshots = store.git_snapshots(Some(session), None).unwrap_or_default();
        if let Some(start) = phase_start(&snapshots, &completed.id) {
            commits = git::commits_between(workspace, start.head.as_deref(), now);
        }
    }
    let snapshot = GitSnapshot {
        at: store::now(),
        moment: moment.to_owned(),
        session: Some(session),
        phase: phase.map(str::to_owned),
        run: None,
        head: state.head,
        branch: state.branch,
        dirty: state.dirty,
        commits: commits.clone(),
    };
    if let Err(error) = store.record_git(&snapshot) {
        tracing::warn!("session {session}: cannot record the repository's state: {error}");
    }
    commits
}
