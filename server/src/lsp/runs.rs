//! Runs from the editor: the runs going on, their progress, the diagnostics of failed steps and the
//! `weft/runEvent` notification. Runs go through the engine on their own threads; their events come
//! back to the event loop through a channel, so typing is never blocked by a run. What the lenses
//! show of past runs is in [`super::history`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, Sender};
use lsp_types::notification::{Progress, ShowMessage};
use lsp_types::request::{CodeLensRefresh, InlayHintRefreshRequest, WorkDoneProgressCreate};
use lsp_types::*;

use crate::analysis::Document;
use crate::engine::{self, CancelHandle, EventKind, RunEvent, Selection, StartOptions};
use crate::store::{self, RunId, RunStatus, StepStatus};
use crate::syntax::Span;

use super::ext;
use super::history::History;
use super::server::{Outgoing, Server};
use super::to_proto;

/// What a run thread reports to the event loop.
pub enum RunMessage {
    Event {
        key: PathBuf,
        event: RunEvent,
    },
    Finished {
        key: PathBuf,
        run: RunId,
        result: Result<Ended, String>,
    },
    /// A run started by a session's phase completion (`weft.completePhase` of a phase with
    /// `workflow:`): shown like a run from a lens, and cancelled from its lens or progress.
    Adopt {
        key: PathBuf,
        run: RunId,
        cancel: CancelHandle,
    },
}

/// How the work of a run thread ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// A run (started, resumed, or resumed skipping a step) ended with this status.
    Run(RunStatus),
    /// A rollback undid these steps.
    RolledBack(Vec<String>),
}

/// Waits, on a run's own thread, for the work to end.
type Waiter = Box<dyn FnOnce() -> Result<Ended, String> + Send>;

/// What a command from the editor asks the engine to do with a file.
pub enum Work {
    Run(Selection),
    Resume(RunId),
    /// Resume a run, recording a failed step as skipped first (`weft resume RUN --skip STEP`).
    Skip(RunId, engine::Override),
    /// Undo the completed stages of a run (`weft rollback RUN`).
    Rollback(RunId),
}

/// What a step of an active run is doing, as its lens shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveStatus {
    Running,
    /// A failed attempt waits for its retry.
    Retrying,
    /// The step waits for a person's approval (`approval:`).
    AwaitingApproval,
    /// Its job waits in a cluster's queue.
    Queued,
}

#[derive(Clone, Debug)]
pub struct LiveStep {
    pub status: LiveStatus,
    pub attempt: u32,
    pub since: Instant,
    /// The cluster and job its attempt runs as, when not on this machine.
    pub job: Option<(String, String)>,
}

impl LiveStep {
    fn new(status: LiveStatus, attempt: u32) -> LiveStep {
        LiveStep { status, attempt, since: Instant::now(), job: None }
    }

    /// Where its job is, in words (`pending in slurm (job 1234)`), when it runs on a cluster.
    pub fn job_text(&self) -> Option<String> {
        let (executor, job) = self.job.as_ref()?;
        let state = if self.status == LiveStatus::Queued { "pending" } else { "running" };
        Some(format!("{state} in {executor} (job {job})"))
    }
}

/// Where a run's `$/progress` is: the client is asked to create its token first, and the progress
/// begins once it has answered that it did (a client that refuses gets none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// The client shows no progress, or refused the token.
    Off,
    Creating,
    Shown,
}

pub struct ActiveRun {
    pub id: RunId,
    pub cancel: CancelHandle,
    pub token: String,
    pub total: usize,
    pub finished: usize,
    pub steps: HashMap<String, LiveStep>,
    pub progress: ProgressState,
}

impl ActiveRun {
    /// "2/7 steps · build running".
    fn progress_message(&self) -> String {
        let mut running: Vec<&str> =
            self.steps.iter().filter(|(_, s)| s.status == LiveStatus::Running).map(|(id, _)| id.as_str()).collect();
        running.sort_unstable();
        let mut message = format!("{}/{} steps", self.finished, self.total);
        if !running.is_empty() {
            message.push_str(&format!(" · {} running", running.join(", ")));
        }
        message
    }

    fn percentage(&self) -> u32 {
        (self.finished * 100 / self.total.max(1)) as u32
    }
}

/// A failed step of a file's last run from the editor: shown as a diagnostic on the step's id,
/// wherever that id is as the file is edited, until the file is run again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFailure {
    pub step: String,
    pub timed_out: bool,
    /// The reason and the last lines of the step's stderr.
    pub message: String,
}

pub struct Runs {
    pub enabled: bool,
    pub sender: Sender<RunMessage>,
    pub receiver: Receiver<RunMessage>,
    /// Active runs by file key.
    pub active: HashMap<PathBuf, ActiveRun>,
    /// The failed steps of the last run of each file, kept apart from the static diagnostics.
    pub failures: HashMap<PathBuf, Vec<RunFailure>>,
    /// Past runs, as the lenses and inlay hints show them.
    pub history: History,
    /// Runs that ended before they were adopted (their `run_finished` came first), so that a late
    /// [`RunMessage::Adopt`] does not show them as going forever.
    ended_before_adoption: Vec<(PathBuf, RunId)>,
}

impl Runs {
    pub fn new(enabled: bool) -> Runs {
        let (sender, receiver) = unbounded();
        Runs {
            enabled,
            sender,
            receiver,
            active: HashMap::new(),
            failures: HashMap::new(),
            history: History::default(),
            ended_before_adoption: Vec::new(),
        }
    }

    /// Starts `work` on `key` on a thread of its own.
    fn start(&mut self, key: &Path, work: Work) -> Result<RunId, String> {
        if !self.enabled {
            return Err(
                "runs are disabled in this editor (weft.runs.enabled is false, or the workspace is not trusted)".into(),
            );
        }
        if let Some(active) = self.active.get(key) {
            return Err(format!("run {} of this file is still going; cancel it first", active.id));
        }
        let sender = self.sender.clone();
        let sink_key = key.to_path_buf();
        let sink: engine::EventSink = Box::new(move |event: &RunEvent| {
            let _ = sender.send(RunMessage::Event { key: sink_key.clone(), event: event.clone() });
        });
        let workspace = engine::workspace_of(key);
        let (id, total, cancel, wait): (RunId, usize, CancelHandle, Waiter) = match work {
            Work::Run(selection) => {
                let options = StartOptions {
                    selection,
                    allow_concurrent: false,
                    sink: Some(sink),
                    session: None,
                    executor: None,
                    metrics: None,
                };
                let run = engine::start(key, options)?;
                (run.id, run.step_count(), run.cancel_handle(), Box::new(move || run.wait().map(Ended::Run)))
            }
            Work::Resume(run) => {
                let run = engine::resume(&workspace, run, Some(sink))?;
                (run.id, run.step_count(), run.cancel_handle(), Box::new(move || run.wait().map(Ended::Run)))
            }
            Work::Skip(run, skip) => {
                let run =
                    engine::resume_with(&workspace, run, Some(sink), Some(skip), engine::RunOverrides::default())?;
                (run.id, run.step_count(), run.cancel_handle(), Box::new(move || run.wait().map(Ended::Run)))
            }
            Work::Rollback(run) => {
                let rollback = engine::rollback(&workspace, run, None, Some(sink))?;
                let (id, total, cancel) = (rollback.id, rollback.steps.len(), rollback.cancel_handle());
                (id, total, cancel, Box::new(move || rollback.wait().map(Ended::RolledBack)))
            }
        };
        self.active.insert(
            key.to_path_buf(),
            ActiveRun {
                id,
                cancel,
                token: format!("weft-run-{id}-{}", std::process::id()),
                total,
                finished: 0,
                steps: HashMap::new(),
                progress: ProgressState::Off,
            },
        );
        self.failures.remove(key);
        let sender = self.sender.clone();
        let done_key = key.to_path_buf();
        std::thread::Builder::new()
            .name(format!("weft-run-{id}"))
            .spawn(move || {
                let result = wait();
                let _ = sender.send(RunMessage::Finished { key: done_key, run: id, result });
            })
            .map_err(|error| format!("cannot start the run's thread: {error}"))?;
        Ok(id)
    }

    /// Applies an event to the live state; says whether the run's progress moved.
    fn apply(&mut self, key: &Path, event: &RunEvent) -> bool {
        let Some(active) = self.active.get_mut(key) else { return false };
        let step = event.step.clone();
        let attempt = || event.data["attempt"].as_u64().unwrap_or(1) as u32;
        match event.kind {
            EventKind::StepStarted => {
                let Some(step) = step else { return false };
                active.steps.insert(step, LiveStep::new(LiveStatus::Running, attempt()));
            }
            EventKind::StepSubmitted | EventKind::StepReattached | EventKind::StepJobRunning => {
                let Some(step) = step else { return false };
                let queued = event.kind == EventKind::StepSubmitted;
                let live = active.steps.entry(step).or_insert_with(|| LiveStep::new(LiveStatus::Running, attempt()));
                live.status = if queued { LiveStatus::Queued } else { LiveStatus::Running };
                live.since = Instant::now();
                let executor = event.data["executor"].as_str().unwrap_or("slurm").to_owned();
                if let Some(job) = event.data["job_id"].as_str() {
                    live.job = Some((executor, job.to_owned()));
                }
            }
            EventKind::StepWaiting => {
                let Some(step) = step else { return false };
                active.steps.insert(step, LiveStep::new(LiveStatus::AwaitingApproval, 0));
            }
            // Approved, the step starts (or, without an action of its own, succeeds): until then
            // it shows as not started.
            EventKind::StepApproved => {
                let Some(step) = step else { return false };
                active.steps.remove(&step);
            }
            EventKind::StepRetryScheduled => {
                let Some(step) = step else { return false };
                active.steps.insert(step, LiveStep::new(LiveStatus::Retrying, attempt()));
            }
            // A step a stage run did not select is not part of this run's count.
            EventKind::StepSkipped if event.data["reason"] == "not selected" => {
                active.total = active.total.saturating_sub(1);
            }
            EventKind::StepSucceeded
            | EventKind::StepFailed
            | EventKind::StepTimedOut
            | EventKind::StepSkipped
            | EventKind::StepCanceled => {
                let Some(step) = step else { return false };
                active.steps.remove(&step);
                active.finished += 1;
            }
            _ => return false,
        }
        true
    }
}

impl Server {
    /// Starts a run for `workspace/executeCommand`; refuses unsaved and broken files.
    pub fn start_run(&mut self, key: &Path, work: Work) -> Result<ext::CommandResult, String> {
        if let Some(open) = self.open.get(key) {
            let on_disk = crate::fs::read_text(key).unwrap_or_default();
            if open.text != on_disk {
                return Err(format!("save {} before running it: the run uses the file on disk", key.display()));
            }
        }
        let id = self.runs.start(key, work)?;
        self.run_started(key, id);
        Ok(ext::CommandResult { run_id: Some(id), ..Default::default() })
    }

    /// A run of `key` is now active: its progress is asked for, its lenses and diagnostics change.
    fn run_started(&mut self, key: &Path, id: RunId) {
        if self.client.work_done_progress {
            if let Some(active) = self.runs.active.get_mut(key) {
                active.progress = ProgressState::Creating;
                let token = NumberOrString::String(active.token.clone());
                let outgoing = Outgoing::RunProgress { key: key.to_path_buf(), run: id };
                self.send_request::<WorkDoneProgressCreate>(WorkDoneProgressCreateParams { token }, outgoing);
            }
        }
        self.dirty.insert(key.to_path_buf());
        self.refresh_pending = true;
    }

    /// A phase's workflow run, started by a session thread, is shown like a run from a lens (unless
    /// it is over already, or another run of the file is shown).
    fn adopt_run(&mut self, key: &Path, id: RunId, cancel: CancelHandle) {
        let ended = self.runs.ended_before_adoption.iter().any(|(of, run)| of == key && *run == id);
        if ended || self.runs.active.contains_key(key) {
            return;
        }
        let total = self.workspace.document(key).and_then(|document| document.pipeline().map(|p| p.steps.len()));
        self.runs.active.insert(
            key.to_path_buf(),
            ActiveRun {
                id,
                cancel,
                token: format!("weft-run-{id}-{}", std::process::id()),
                total: total.unwrap_or_default(),
                finished: 0,
                steps: HashMap::new(),
                progress: ProgressState::Off,
            },
        );
        self.runs.failures.remove(key);
        self.run_started(key, id);
    }

    /// The client answered the creation of a run's progress token: the progress begins, with
    /// where the run is now, or never shows when the client refused.
    pub fn run_progress_created(&mut self, key: &Path, run: RunId, created: bool) {
        let Some(active) = self.runs.active.get_mut(key).filter(|active| active.id == run) else { return };
        if active.progress != ProgressState::Creating {
            return;
        }
        if !created {
            active.progress = ProgressState::Off;
            return;
        }
        active.progress = ProgressState::Shown;
        let begin = WorkDoneProgressBegin {
            title: format!("weft run {}", active.id),
            cancellable: Some(true),
            message: Some(active.progress_message()),
            percentage: Some(active.percentage()),
        };
        let token = NumberOrString::String(active.token.clone());
        self.notify::<Progress>(ProgressParams {
            token,
            value: ProgressParamsValue::WorkDone(WorkDoneProgress::Begin(begin)),
        });
    }

    pub fn run_message(&mut self, message: RunMessage) {
        match message {
            RunMessage::Event { key, event } => {
                let uri = self.open.get(&key).map(|o| o.uri.clone()).or_else(|| Url::from_file_path(&key).ok());
                if let Some(uri) = uri {
                    self.notify::<ext::RunEventNotification>(to_proto::run_event(uri, &event));
                }
                if self.runs.apply(&key, &event) {
                    self.refresh_pending = true;
                    if let Some(active) = self.runs.active.get(&key).filter(|a| a.progress == ProgressState::Shown) {
                        let report = WorkDoneProgressReport {
                            cancellable: Some(true),
                            message: Some(active.progress_message()),
                            percentage: Some(active.percentage()),
                        };
                        let token = NumberOrString::String(active.token.clone());
                        self.notify::<Progress>(ProgressParams {
                            token,
                            value: ProgressParamsValue::WorkDone(WorkDoneProgress::Report(report)),
                        });
                    }
                }
                if matches!(event.kind, EventKind::StepFailed | EventKind::StepTimedOut) {
                    self.add_run_failure(&key, &event);
                }
                if event.kind == EventKind::RunFinished {
                    // The run is over for the editor as soon as the engine says so, so lenses
                    // asked for after this event already show the results.
                    let status = event.data["status"].as_str().and_then(RunStatus::parse).map(Ended::Run);
                    self.end_run(&key, event.run, status.ok_or_else(|| "the run ended without a status".to_owned()));
                }
            }
            RunMessage::Finished { key, run, result } => self.end_run(&key, run, result),
            RunMessage::Adopt { key, run, cancel } => self.adopt_run(&key, run, cancel),
        }
    }

    fn end_run(&mut self, key: &Path, run: RunId, result: Result<Ended, String>) {
        // The engine's `run_finished` and the end of the run's thread both end it; a later run of
        // the same file started in between is not ended by the earlier one's thread.
        let ours = self.runs.active.get(key).is_some_and(|active| active.id == run);
        if !ours {
            let ended = &mut self.runs.ended_before_adoption;
            ended.push((key.to_path_buf(), run));
            let excess = ended.len().saturating_sub(16);
            ended.drain(..excess);
        }
        if let Some(active) = ours.then(|| self.runs.active.remove(key)).flatten() {
            if active.progress == ProgressState::Shown {
                let message = match &result {
                    Ok(Ended::Run(status)) => format!("run {run} {}", status.as_str()),
                    Ok(Ended::RolledBack(steps)) => format!("run {run} rolled back: {}", steps.join(", ")),
                    Err(error) => format!("run {run} failed: {error}"),
                };
                let end = WorkDoneProgressEnd { message: Some(message) };
                self.notify::<Progress>(ProgressParams {
                    token: NumberOrString::String(active.token),
                    value: ProgressParamsValue::WorkDone(WorkDoneProgress::End(end)),
                });
            }
        }
        if let Err(error) = result {
            self.notify::<ShowMessage>(ShowMessageParams {
                typ: MessageType::ERROR,
                message: format!("weft run {run}: {error}"),
            });
        }
        self.dirty.insert(key.to_path_buf());
        self.refresh_pending = true;
    }

    fn add_run_failure(&mut self, key: &Path, event: &RunEvent) {
        let Some(step) = event.step.as_deref() else { return };
        let attempt = event.data["attempt"].as_u64().unwrap_or(1);
        let run_dir = store::run_dir(&engine::workspace_of(key), event.run);
        let stderr = store::attempt_file(&run_dir, step, attempt, "stderr");
        let tail = engine::process::tail(&stderr, 2_048);
        let mut failure = run_failure(step, event, &tail);
        // A failure seen before says so (SPEC §9): its fingerprint's earlier sightings, other
        // than this attempt's own, which the run's writer may or may not have committed yet.
        if let Some(fingerprint) = event.data["fingerprint"].as_str() {
            let workspace = engine::workspace_of(key);
            let except = Some((event.run, step, attempt as i64));
            let seen = self.runs.history.with_store(&workspace, |store| {
                store.failure_seen(fingerprint, Some(&event.at), except).ok().flatten()
            });
            if let Some(seen) = seen.flatten() {
                let line = engine::describe_seen(&seen, fingerprint);
                let first = failure.message.find('\n').unwrap_or(failure.message.len());
                failure.message.insert_str(first, &format!("\n{line}"));
            }
        }
        self.runs.failures.entry(key.to_path_buf()).or_default().push(failure);
        self.dirty.insert(key.to_path_buf());
    }

    /// Asks the client to ask again for lenses and inlay hints, when something they show changed.
    pub fn send_refresh(&mut self) {
        if !std::mem::take(&mut self.refresh_pending) {
            return;
        }
        if self.client.code_lens_refresh {
            self.send_request::<CodeLensRefresh>((), Outgoing::Refresh);
        }
        if self.client.inlay_hint_refresh {
            self.send_request::<InlayHintRefreshRequest>((), Outgoing::Refresh);
        }
    }
}

/// "✓ 1.2 s", "✓ approved by ana", "✗ exit 2 · 3.4 s", "⊘ skipped: condition false".
pub fn result_title(record: &store::StepRecord) -> String {
    let duration = record.duration_ms.map(|ms| format!(" · {}", engine::format_duration(ms))).unwrap_or_default();
    match record.status {
        // A step that is only an approval ran nothing: its reason says who approved it.
        StepStatus::Succeeded if record.attempts == 0 && record.reason.is_some() => {
            format!("✓ {}", record.reason.as_deref().unwrap_or_default())
        }
        StepStatus::Succeeded => format!("✓{}", duration.trim_start_matches(" ·")),
        StepStatus::Failed => match (record.exit_code, &record.reason) {
            (Some(code), _) if code != 0 => format!("✗ exit {code}{duration}"),
            (_, Some(reason)) => format!("✗ {reason}{duration}"),
            _ => format!("✗ failed{duration}"),
        },
        StepStatus::TimedOut => format!("✗ timed out{duration}"),
        StepStatus::Skipped => {
            format!("⊘ skipped{}", record.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())
        }
        StepStatus::Canceled => "■ canceled".into(),
        StepStatus::RolledBack => format!("↺ rolled back{duration}"),
        StepStatus::Waiting => "⏸ waiting for approval".into(),
        other @ (StepStatus::Pending | StepStatus::Running | StepStatus::Interrupted) => other.as_str().to_owned(),
    }
}

/// A failed step: its reason and the last lines of its stderr.
fn run_failure(step: &str, event: &RunEvent, stderr_tail: &str) -> RunFailure {
    let timed_out = event.kind == EventKind::StepTimedOut;
    let reason = engine::describe_reason(&event.data).unwrap_or_else(|| "failed".into());
    let mut message = format!("`{step}` {}: {reason}", if timed_out { "timed out" } else { "failed" });
    let lines: Vec<&str> = stderr_tail.lines().filter(|l| !l.trim().is_empty()).collect();
    if !lines.is_empty() {
        message.push('\n');
        message.push_str(&lines[lines.len().saturating_sub(8)..].join("\n"));
    }
    RunFailure { step: step.to_owned(), timed_out, message }
}

/// The position of a step's id in a document, for run diagnostics.
pub fn step_span(document: &Document, step: &str) -> Option<Span> {
    document.pipeline()?.step(step)?.id.map(|id| id.span)
}

/// The log file to open for a step: stderr when it has something, else stdout.
pub fn log_file(history: &History, workspace: &Path, run: RunId, step: &str) -> Option<PathBuf> {
    let attempt = history
        .with_store(workspace, |store| store.attempts(run, Some(step)).ok())??
        .into_iter()
        .max_by_key(|a| a.attempt)?;
    Some(store::log_to_show(Path::new(&attempt.log_dir), step, attempt.attempt))
}
