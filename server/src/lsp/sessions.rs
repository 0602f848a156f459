//! Sessions from the editor (SPEC §7, §9): starting a session and completing a phase from the
//! lenses of a phase template, the failing checks of a refused completion as diagnostics, and the
//! live refresh when a session changes, here or in a terminal.
//!
//! Invariants (tested in `tests/lsp_sessions.rs`):
//! - What the lenses, inlay hints and check diagnostics show of sessions is read from the history,
//!   read-only, through [`super::history::History::sessions`]; never git (`live_git` is false).
//! - A session starts and a phase completes only by `workspace/executeCommand`, on a thread of its
//!   own: the loop never waits for a check or a phase's workflow run. Their outcome comes back
//!   through a channel and is told with `window/showMessage`, and `$/progress` while it goes on.
//! - Another process's change to a watched workspace's history (the workspaces of open phase
//!   templates, and those the client asked `weft/sessions` about) is noticed within about a
//!   second: lenses and hints are refreshed, check diagnostics published again, and
//!   `weft/sessionsChanged` is sent.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use lsp_types::notification::{Progress, ShowMessage};
use lsp_types::request::WorkDoneProgressCreate;
use lsp_types::*;

use crate::analysis::Document;
use crate::engine;
use crate::model::{FileKind, PhaseTemplate};
use crate::session::{self, CheckFailure, CompleteOptions, Outcome, SessionStatus};
use crate::store::PhaseStatus;
use crate::syntax::Span;

use super::ext;
use super::runs::{ProgressState, RunMessage};
use super::server::{Outgoing, Server};

/// How often the histories of watched workspaces are looked at for changes made elsewhere.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// What a session thread reports to the event loop.
pub enum SessionMessage {
    /// Where a phase completion is ("checking artifact docs/x.md", "run 7 running").
    Progress {
        job: u64,
        message: String,
    },
    Done {
        job: u64,
        report: Result<Report, String>,
    },
}

/// What the user is told when a session command ends.
pub struct Report {
    pub typ: MessageType,
    pub message: String,
}

/// A start or completion going on.
struct Job {
    key: PathBuf,
    task: String,
    title: String,
    token: String,
    progress: ProgressState,
    last: Option<String>,
}

pub struct Sessions {
    pub sender: Sender<SessionMessage>,
    pub receiver: Receiver<SessionMessage>,
    jobs: HashMap<u64, Job>,
    next_job: u64,
    /// Workspaces the client asked `weft/sessions` about: watched even with no template open.
    pub asked: BTreeSet<PathBuf>,
    /// The history generation last seen of each watched workspace.
    seen: HashMap<PathBuf, u64>,
    last_poll: Option<Instant>,
}

impl Default for Sessions {
    fn default() -> Sessions {
        let (sender, receiver) = unbounded();
        Sessions {
            sender,
            receiver,
            jobs: HashMap::new(),
            next_job: 0,
            asked: BTreeSet::new(),
            seen: HashMap::new(),
            last_poll: None,
        }
    }
}

/// The task argument of a session command: checked here so a bad one is the command's error.
pub fn task_argument(task: Option<&str>) -> Result<String, String> {
    let task = task.map(str::trim).filter(|task| !task.is_empty()).ok_or(
        "the second argument is the task id (like T-42); VS Code asks for it, in Neovim pass it to the command",
    )?;
    session::valid_task(task)?;
    Ok(task.to_owned())
}

impl Server {
    /// Whether the loop should wake up to look at histories: a phase template is open, or a client
    /// asked about sessions.
    pub fn watches_sessions(&self) -> bool {
        !self.sessions.asked.is_empty() || self.open_templates().next().is_some()
    }

    fn open_templates(&self) -> impl Iterator<Item = &PathBuf> {
        self.open.keys().filter(|key| {
            self.workspace.document(key).is_some_and(|document| document.kind == Some(FileKind::PhaseTemplate))
        })
    }

    /// Looks at the watched histories (at most once a second): a change made by anyone refreshes
    /// lenses and hints, publishes the check diagnostics of the open templates again, and tells
    /// the client with `weft/sessionsChanged`.
    pub fn poll_sessions(&mut self, force: bool) {
        let templates: Vec<PathBuf> = self.open_templates().cloned().collect();
        let mut workspaces: BTreeSet<PathBuf> = templates.iter().map(|key| engine::workspace_of(key)).collect();
        workspaces.extend(self.sessions.asked.iter().cloned());
        // A workspace not looked at yet (a template just opened) is looked at now: its first look
        // is only noted, and what changes after it is told.
        let new = workspaces.iter().any(|workspace| !self.sessions.seen.contains_key(workspace));
        if !force && !new && self.sessions.last_poll.is_some_and(|last| last.elapsed() < POLL_EVERY) {
            return;
        }
        self.sessions.last_poll = Some(Instant::now());
        for workspace in workspaces {
            let generation = self.runs.history.generation(&workspace);
            let before = self.sessions.seen.insert(workspace.clone(), generation);
            if before.is_none_or(|before| before == generation) {
                continue;
            }
            for key in templates.iter().filter(|key| engine::workspace_of(key) == workspace) {
                self.dirty.insert(key.clone());
            }
            self.refresh_pending = true;
            self.notify::<ext::SessionsChanged>(ext::SessionsChangedParams {
                workspace: workspace.display().to_string(),
            });
        }
    }

    /// `weft.startSession`: starts (or resumes) `task`'s session on the template `key`.
    pub fn start_session(&mut self, key: &Path, task: String) -> Result<ext::CommandResult, String> {
        self.session_command_allowed(key)?;
        let workspace = engine::workspace_of(key);
        let template = key.to_path_buf();
        let title = format!("weft: starting the session of {task}");
        let job = self.new_job(key, &task, title)?;
        let sender = self.sessions.sender.clone();
        let thread_task = task.clone();
        spawn(job, &task, move || {
            let report = session::start(&workspace, &thread_task, Some(&template), &engine::who_am_i())
                .map(|started| started_report(&thread_task, &started));
            let _ = sender.send(SessionMessage::Done { job, report });
        })
        .inspect_err(|_| drop(self.sessions.jobs.remove(&job)))?;
        Ok(ext::CommandResult { task: Some(task), ..Default::default() })
    }

    /// `weft.completePhase`: completes the active phase of `task`'s session (with an override when
    /// `reason` is given).
    pub fn complete_phase(
        &mut self,
        key: &Path,
        task: String,
        reason: Option<String>,
    ) -> Result<ext::CommandResult, String> {
        self.session_command_allowed(key)?;
        let workspace = engine::workspace_of(key);
        // Only a session of this template: a command typed in another template's buffer must not
        // complete a phase the user is not looking at.
        let sessions = self.runs.history.sessions(key);
        let Some(status) = sessions.iter().find(|status| status.task == task) else {
            return Err(format!(
                "{task} has no active session on {}; start one with ▶ Start session",
                key.file_name().map_or_else(|| key.display().to_string(), |name| name.to_string_lossy().into_owned())
            ));
        };
        let phase = active_phase(status).map(|phase| phase.id.clone());
        // The phase's workflow, as the session layer will find it (the template on disk is the
        // open one: see `session_command_allowed`).
        let workflow = phase.as_deref().and_then(|phase| {
            let document = self.workspace.document(key)?;
            let template = PhaseTemplate::read(document.parse.root.as_ref()?);
            let workflow = template.phase(phase)?.1.workflow?;
            let relative = crate::model::phases::substitute_task(workflow.text, &task);
            Some(crate::fs::absolute(&key.parent()?.join(relative)))
        });
        let what = phase.map_or_else(|| "the active phase".to_owned(), |phase| format!("phase {phase}"));
        let title = format!("weft: completing {what} of {task}");
        let job = self.new_job(key, &task, title)?;
        let sender = self.sessions.sender.clone();
        let runs = self.runs.sender.clone();
        let thread_task = task.clone();
        spawn(job, &task, move || {
            // A phase's workflow run goes like a run from a lens: its events reach the loop, which
            // sends them as `weft/runEvent` and shows its failed steps in the workflow's file.
            type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;
            let run_file: Shared<Option<PathBuf>> = std::sync::Arc::new(std::sync::Mutex::new(workflow));
            let run_id: Shared<Option<crate::store::RunId>> = Default::default();
            let sink_file = run_file.clone();
            let sink_runs = runs.clone();
            let sink: engine::EventSink = Box::new(move |event: &engine::RunEvent| {
                let known = sink_file.lock().ok().and_then(|file| file.clone());
                let from_event = || event.data["file"].as_str().map(|file| crate::fs::absolute(Path::new(file)));
                if let Some(key) = known.or_else(from_event) {
                    let _ = sink_runs.send(RunMessage::Event { key, event: event.clone() });
                }
            });
            // Once the run exists, the loop shows it like a run from a lens (and can cancel it).
            let (adopt_file, adopt_id) = (run_file.clone(), run_id.clone());
            let on_run: Box<dyn FnOnce(engine::CancelHandle) + Send> = Box::new(move |cancel| {
                let key = adopt_file.lock().ok().and_then(|file| file.clone());
                let run = adopt_id.lock().ok().and_then(|id| *id);
                if let (Some(key), Some(run)) = (key, run) {
                    let _ = runs.send(RunMessage::Adopt { key, run, cancel });
                }
            });
            let options = CompleteOptions {
                override_reason: reason,
                by: engine::who_am_i(),
                run_sink: Some(sink),
                cancel_on_interrupt: false,
                on_run: Some(on_run),
            };
            let progress_sender = sender.clone();
            let mut progress = |progress: &session::Progress| {
                let message = match progress {
                    session::Progress::CheckStarted { check } => format!("checking {check}"),
                    session::Progress::CheckPassed { check } => format!("✓ {check}"),
                    session::Progress::CheckFailed(failure) => format!("✗ {}", failure.line()),
                    session::Progress::RunStarted { run, file } => {
                        if let Ok(mut known) = run_file.lock() {
                            *known = Some(crate::fs::absolute(file));
                        }
                        if let Ok(mut id) = run_id.lock() {
                            *id = Some(*run);
                        }
                        format!("run {run} of {} going", file.display())
                    }
                    session::Progress::Hook(hook) => format!("hook {}: {}", hook.hook, hook.command),
                };
                let _ = progress_sender.send(SessionMessage::Progress { job, message });
            };
            let report = session::complete(&workspace, &thread_task, options, &mut progress)
                .map(|outcome| outcome_report(&thread_task, &outcome));
            let _ = sender.send(SessionMessage::Done { job, report });
        })
        .inspect_err(|_| drop(self.sessions.jobs.remove(&job)))?;
        Ok(ext::CommandResult { task: Some(task), ..Default::default() })
    }

    /// Session commands are runs as far as trust goes (hooks, checks and workflows run commands),
    /// and use the template on disk.
    fn session_command_allowed(&self, key: &Path) -> Result<(), String> {
        if !self.runs.enabled {
            return Err("sessions are disabled in this editor (weft.runs.enabled is false, or the workspace is not \
                        trusted)"
                .into());
        }
        if let Some(open) = self.open.get(key) {
            let on_disk = crate::fs::read_text(key).unwrap_or_default();
            if open.text != on_disk {
                return Err(format!("save {} first: the session uses the template on disk", key.display()));
            }
        }
        Ok(())
    }

    /// Whether a session command of `task` in `workspace` is going.
    pub fn session_busy(&self, workspace: &Path, task: &str) -> bool {
        self.sessions.jobs.values().any(|job| job.task == task && engine::workspace_of(&job.key) == workspace)
    }

    fn new_job(&mut self, key: &Path, task: &str, title: String) -> Result<u64, String> {
        // The history as it is before the command: its change is then told (a workspace seen for
        // the first time is only noted).
        self.poll_sessions(true);
        if self.session_busy(&engine::workspace_of(key), task) {
            return Err(format!("a session command of {task} is still going; wait for it"));
        }
        self.sessions.next_job += 1;
        let id = self.sessions.next_job;
        let mut job = Job {
            key: key.to_path_buf(),
            task: task.to_owned(),
            title,
            token: format!("weft-session-{id}-{}", std::process::id()),
            progress: ProgressState::Off,
            last: None,
        };
        if self.client.work_done_progress {
            job.progress = ProgressState::Creating;
            let token = NumberOrString::String(job.token.clone());
            self.send_request::<WorkDoneProgressCreate>(
                WorkDoneProgressCreateParams { token },
                Outgoing::SessionProgress(id),
            );
        }
        self.sessions.jobs.insert(id, job);
        Ok(id)
    }

    /// The client answered the creation of a session command's progress token.
    pub fn session_progress_created(&mut self, id: u64, created: bool) {
        let Some(job) = self.sessions.jobs.get_mut(&id).filter(|job| job.progress == ProgressState::Creating) else {
            return;
        };
        if !created {
            job.progress = ProgressState::Off;
            return;
        }
        job.progress = ProgressState::Shown;
        let begin = WorkDoneProgressBegin {
            title: job.title.clone(),
            cancellable: Some(false),
            message: job.last.clone(),
            percentage: None,
        };
        let token = NumberOrString::String(job.token.clone());
        self.notify::<Progress>(ProgressParams {
            token,
            value: ProgressParamsValue::WorkDone(WorkDoneProgress::Begin(begin)),
        });
    }

    pub fn session_message(&mut self, message: SessionMessage) {
        match message {
            SessionMessage::Progress { job, message } => {
                let Some(job) = self.sessions.jobs.get_mut(&job) else { return };
                job.last = Some(message.clone());
                if job.progress == ProgressState::Shown {
                    let report = WorkDoneProgressReport { cancellable: None, message: Some(message), percentage: None };
                    let token = NumberOrString::String(job.token.clone());
                    self.notify::<Progress>(ProgressParams {
                        token,
                        value: ProgressParamsValue::WorkDone(WorkDoneProgress::Report(report)),
                    });
                }
            }
            SessionMessage::Done { job, report } => {
                let Some(job) = self.sessions.jobs.remove(&job) else { return };
                let report = report.unwrap_or_else(|error| Report {
                    typ: MessageType::ERROR,
                    message: format!("weft: {}: {error}", job.task),
                });
                if job.progress == ProgressState::Shown {
                    let end = WorkDoneProgressEnd { message: Some(report.message.clone()) };
                    self.notify::<Progress>(ProgressParams {
                        token: NumberOrString::String(job.token),
                        value: ProgressParamsValue::WorkDone(WorkDoneProgress::End(end)),
                    });
                }
                self.notify::<ShowMessage>(ShowMessageParams { typ: report.typ, message: report.message });
                // The history changed: what shows it is read again now, not at the next poll.
                self.poll_sessions(true);
                self.dirty.insert(job.key);
                self.refresh_pending = true;
            }
        }
    }
}

fn spawn(job: u64, task: &str, work: impl FnOnce() + Send + 'static) -> Result<(), String> {
    std::thread::Builder::new()
        .name(format!("weft-session-{task}-{job}"))
        .spawn(work)
        .map(drop)
        .map_err(|error| format!("cannot start the session's thread: {error}"))
}

/// "T-1: session started — phase intake (1/6): Understand the request".
fn started_report(task: &str, started: &session::Started) -> Report {
    let verb = if started.resumed { "resumed" } else { "started" };
    let phase = match &started.phase {
        Some(phase) => {
            let goal = phase.goal.as_ref().map(|goal| format!(": {goal}")).unwrap_or_default();
            format!(" — phase {} ({}/{}){goal}", phase.id, phase.position, phase.of)
        }
        None => " — every phase is complete".into(),
    };
    let failed_hooks = started.hooks.iter().filter(|hook| !hook.success).count();
    let hooks = if failed_hooks > 0 { format!(" ({failed_hooks} on_start hook(s) failed)") } else { String::new() };
    Report {
        typ: if failed_hooks > 0 { MessageType::WARNING } else { MessageType::INFO },
        message: format!("{task}: session {verb}{phase}{hooks}"),
    }
}

/// "intake completed — next: research: Research prior art", "intake refused: 2 checks failed: …".
fn outcome_report(task: &str, outcome: &Outcome) -> Report {
    match outcome {
        Outcome::Refused { phase, failures } => Report {
            typ: MessageType::WARNING,
            message: format!("{task}: {phase} refused: {}", failed_checks(failures)),
        },
        Outcome::RunFailed { phase, run, status, .. } => Report {
            typ: MessageType::ERROR,
            message: format!("{task}: {phase} not completed: its workflow run {run} {}", status.as_str()),
        },
        Outcome::Completed(completed) => {
            let how = if completed.overridden.is_empty() {
                "completed".to_owned()
            } else {
                format!("completed with override ({})", failed_checks(&completed.overridden))
            };
            let next = match &completed.next {
                Some(next) => {
                    let goal = next.goal.as_ref().map(|goal| format!(": {goal}")).unwrap_or_default();
                    let step = next.next_step.as_ref().map(|step| format!(" (next step: {step})")).unwrap_or_default();
                    format!(" — next: {}{goal}{step}", next.id)
                }
                None => format!(" — every phase is complete; end the session with `weft session end {task}`"),
            };
            Report { typ: MessageType::INFO, message: format!("{task}: {} {how}{next}", completed.phase) }
        }
    }
}

/// "2 checks failed: artifact docs/x.md is missing (or empty); validation 1: …".
fn failed_checks(failures: &[CheckFailure]) -> String {
    let lines: Vec<String> = failures.iter().map(CheckFailure::line).collect();
    let noun = if failures.len() == 1 { "check" } else { "checks" };
    format!("{} {noun} failed: {}", failures.len(), lines.join("; "))
}

/// The active phase of a session, if any is.
pub fn active_phase(status: &SessionStatus) -> Option<&session::PhaseState> {
    status.phases.iter().find(|phase| phase.status == PhaseStatus::Active)
}

/// The span of a phase's id in a template document.
pub fn phase_span(document: &Document, phase: &str) -> Option<Span> {
    let root = document.parse.root.as_ref()?;
    let template = PhaseTemplate::read(root);
    template.phase(phase).and_then(|(_, phase)| phase.id.map(|id| id.span))
}

/// A failing check of a session's active phase, as the diagnostic on the phase's id shows it.
pub struct CheckDiagnostic {
    pub span: Span,
    pub message: String,
}

/// The failing checks of the active phase of every active session of the template: one each.
pub fn check_diagnostics(server: &Server, key: &Path, document: &Document) -> Vec<CheckDiagnostic> {
    if document.kind != Some(FileKind::PhaseTemplate) {
        return Vec::new();
    }
    let sessions = server.runs.history.sessions(key);
    let mut out = Vec::new();
    for status in sessions.iter() {
        let Some(phase) = active_phase(status) else { continue };
        let Some(span) = phase_span(document, &phase.id) else { continue };
        for failure in &phase.failing_checks {
            out.push(CheckDiagnostic { span, message: format!("{}: {}", status.task, failure.line()) });
        }
    }
    out
}
