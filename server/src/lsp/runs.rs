//! Runs from the editor: code lenses, `workspace/executeCommand`, progress, run diagnostics and the
//! `weft/runEvent` notification. Runs go through the engine on their own threads; their events come
//! back to the event loop through a channel, so typing is never blocked by a run.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, Sender};
use lsp_types::{CodeLens, Command, Diagnostic, DiagnosticSeverity, NumberOrString, Range, Url};
use serde_json::{json, Value};

use crate::analysis::Document;
use crate::engine::{self, CancelHandle, EventKind, RunEvent, Selection, StartOptions};
use crate::store::{self, RunId, RunStatus, StepStatus, Store};
use crate::syntax::Span;

pub const COMMANDS: [&str; 6] =
    ["weft.runWorkflow", "weft.runStage", "weft.runStageWithDeps", "weft.resume", "weft.cancel", "weft.showLog"];

/// What a run thread reports to the event loop.
pub enum RunMessage {
    Event { key: PathBuf, event: RunEvent },
    Finished { key: PathBuf, run: RunId, result: Result<String, String> },
}

/// A step of an active run, as the lenses show it.
#[derive(Clone, Debug)]
pub struct LiveStep {
    pub status: &'static str,
    pub attempt: u32,
    pub since: Instant,
}

pub struct ActiveRun {
    pub id: RunId,
    pub cancel: CancelHandle,
    pub token: String,
    pub total: usize,
    pub finished: usize,
    pub steps: HashMap<String, LiveStep>,
}

pub struct Runs {
    pub enabled: bool,
    pub sender: Sender<RunMessage>,
    pub receiver: Receiver<RunMessage>,
    /// Active runs by file key.
    pub active: HashMap<PathBuf, ActiveRun>,
    /// Diagnostics from the last run of each file, kept apart from the static ones, with the step
    /// each belongs to: its range follows the step's id as the file is edited.
    pub diagnostics: HashMap<PathBuf, Vec<(String, Diagnostic)>>,
}

impl Runs {
    pub fn new(enabled: bool) -> Runs {
        let (sender, receiver) = unbounded();
        Runs { enabled, sender, receiver, active: HashMap::new(), diagnostics: HashMap::new() }
    }

    /// Starts a run of `key` on a thread of its own.
    pub fn start(&mut self, key: &Path, selection: Selection, resume: Option<RunId>) -> Result<RunId, String> {
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
        let run = match resume {
            Some(run_id) => engine::resume(&engine::workspace_of(key), run_id, Some(sink))?,
            None => engine::start(key, StartOptions { selection, allow_concurrent: false, sink: Some(sink) })?,
        };
        let id = run.id;
        let total = run.step_count();
        self.active.insert(
            key.to_path_buf(),
            ActiveRun {
                id,
                cancel: run.cancel_handle(),
                token: format!("weft-run-{id}-{}", std::process::id()),
                total,
                finished: 0,
                steps: HashMap::new(),
            },
        );
        self.diagnostics.remove(key);
        let sender = self.sender.clone();
        let done_key = key.to_path_buf();
        std::thread::Builder::new()
            .name(format!("weft-run-{id}"))
            .spawn(move || {
                let result = run.wait().map(|status| status.to_string());
                let _ = sender.send(RunMessage::Finished { key: done_key, run: id, result });
            })
            .map_err(|error| format!("cannot start the run's thread: {error}"))?;
        Ok(id)
    }

    /// Applies an event to the live state; returns the progress message to show.
    pub fn apply(&mut self, key: &Path, event: &RunEvent) -> Option<String> {
        let active = self.active.get_mut(key)?;
        let step = event.step.clone();
        match event.kind {
            EventKind::StepStarted => {
                let attempt = event.data["attempt"].as_u64().unwrap_or(1) as u32;
                active.steps.insert(step?, LiveStep { status: "running", attempt, since: Instant::now() });
            }
            EventKind::StepRetryScheduled => {
                let attempt = event.data["attempt"].as_u64().unwrap_or(1) as u32;
                active.steps.insert(step?, LiveStep { status: "retrying", attempt, since: Instant::now() });
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
                active.steps.remove(step.as_deref()?);
                active.finished += 1;
            }
            _ => return None,
        }
        let running: Vec<&str> =
            active.steps.iter().filter(|(_, s)| s.status == "running").map(|(id, _)| id.as_str()).collect();
        let mut message = format!("{}/{} steps", active.finished, active.total);
        if !running.is_empty() {
            message.push_str(&format!(" · {} running", running.join(", ")));
        }
        Some(message)
    }
}

/// The lenses of a workflow or plan: run buttons, live state and last results.
pub fn code_lenses(
    runs: &Runs,
    key: &Path,
    uri: &Url,
    document: &Document,
    range_of: &dyn Fn(Span) -> Range,
) -> Vec<CodeLens> {
    let Some(pipeline) = document.pipeline() else { return Vec::new() };
    let mut lenses = Vec::new();
    let lens = |span: Span, title: String, command: &str, arguments: Vec<Value>| CodeLens {
        range: range_of(span),
        command: Some(Command { title, command: command.into(), arguments: Some(arguments) }),
        data: None,
    };
    let header =
        pipeline.root.as_mapping().and_then(|entries| entries.first()).map_or(Span::empty(0), |(key, _)| key.span);
    let header = pipeline
        .root
        .key_of(if pipeline.kind == crate::model::PipelineKind::Workflow { "workflow_id" } else { "plan_id" })
        .map_or(header, |k| k.span);
    let workspace = engine::workspace_of(key);
    let store = open_existing(&workspace);
    let active = runs.active.get(key);
    let noun = pipeline.kind.step_noun();
    if let Some(active) = active {
        // A status, not a button: an empty command makes editors show it as plain text.
        lenses.push(lens(
            header,
            format!("⏳ run {} · {}/{} {noun}s", active.id, active.finished, active.total),
            "",
            vec![],
        ));
        lenses.push(lens(header, "■ Cancel".into(), "weft.cancel", vec![json!(uri), json!(active.id)]));
    } else if runs.enabled {
        let title =
            if pipeline.kind == crate::model::PipelineKind::Workflow { "▶ Run workflow" } else { "▶ Run plan" };
        lenses.push(lens(header, title.into(), "weft.runWorkflow", vec![json!(uri)]));
        if let Some((run, done, total)) = store.as_ref().and_then(|store| resumable(store, &workspace, key)) {
            lenses.push(lens(
                header,
                format!("⟳ Resume run {run} ({done}/{total} done)"),
                "weft.resume",
                vec![json!(uri), json!(run)],
            ));
        }
    }
    let results: HashMap<String, (RunId, store::StepRecord)> = store
        .as_ref()
        .and_then(|store| store.latest_step_results(key).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|(run, step)| (step.id.clone(), (run, step)))
        .collect();
    for step in &pipeline.steps {
        let Some(id) = step.id else { continue };
        let span = id.span;
        if let Some(live) = active.and_then(|a| a.steps.get(id.text)) {
            let seconds = live.since.elapsed().as_secs();
            let title = match live.status {
                "retrying" => format!("⟳ retry {} · waiting", live.attempt + 1),
                _ if live.attempt > 1 => format!("⟳ retry {} · running {seconds} s", live.attempt),
                _ => format!("⏳ running {seconds} s"),
            };
            // A status, not a button: an empty command makes editors show it as plain text.
            lenses.push(lens(span, title, "", vec![]));
            continue;
        }
        if runs.enabled && active.is_none() {
            lenses.push(lens(span, format!("▶ Run {noun}"), "weft.runStage", vec![json!(uri), json!(id.text)]));
            if !step.depends_on.is_empty() {
                lenses.push(lens(
                    span,
                    "▶ Run with dependencies".into(),
                    "weft.runStageWithDeps",
                    vec![json!(uri), json!(id.text)],
                ));
            }
        }
        if let Some((run, record)) = results.get(id.text) {
            lenses.push(lens(span, result_title(record), "weft.showLog", vec![json!(uri), json!(id.text), json!(run)]));
            if record.attempts > 0 && record.status != StepStatus::Succeeded {
                lenses.push(lens(
                    span,
                    "Show log".into(),
                    "weft.showLog",
                    vec![json!(uri), json!(id.text), json!(run)],
                ));
            }
        }
    }
    lenses
}

/// "✓ 1.2 s", "✗ exit 2 · 3.4 s", "⊘ skipped: condition false".
pub fn result_title(record: &store::StepRecord) -> String {
    let duration = record.duration_ms.map(|ms| format!(" · {}", engine::format_duration(ms))).unwrap_or_default();
    match record.status {
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
        other @ (StepStatus::Pending | StepStatus::Running | StepStatus::Interrupted) => other.as_str().to_owned(),
    }
}

/// The history of a workspace, if it has one it can read (looking never creates, migrates or writes
/// it: a workspace can be any folder, and its `.weft/weft.db` may come with a cloned repository).
/// One that cannot be read counts as no history; the first time, the reason is queued for the user
/// ([`take_history_notices`]).
pub fn open_existing(workspace: &Path) -> Option<Store> {
    match Store::open_existing(workspace) {
        Ok(store) => store,
        Err(error) => {
            let mut notices = HISTORY_NOTICES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if notices.0.insert(workspace.to_path_buf()) {
                tracing::warn!("{}: {error}", workspace.display());
                notices.1.push(format!(
                    "weft: {error}; the editor shows no run history for {} (the file is left as it is)",
                    workspace.display()
                ));
            }
            None
        }
    }
}

/// Workspaces whose history could not be read and was reported, and the messages not yet shown.
static HISTORY_NOTICES: std::sync::Mutex<(BTreeSet<PathBuf>, Vec<String>)> =
    std::sync::Mutex::new((BTreeSet::new(), Vec::new()));

/// The messages about unreadable histories not yet shown to the user: each workspace's once.
pub fn take_history_notices() -> Vec<String> {
    std::mem::take(&mut HISTORY_NOTICES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1)
}

/// The latest run of a file that can be resumed: failed, canceled, quarantined, or interrupted. A
/// later run of only some stages does not hide it; a later full run that succeeded does.
pub fn resumable(store: &Store, workspace: &Path, key: &Path) -> Option<(RunId, usize, usize)> {
    for run in store.runs(Some(key), 20).ok()? {
        let steps = store.steps(run.id).ok()?;
        let partial = steps.iter().any(|s| s.reason.as_deref() == Some("not selected"));
        let resumable = match run.status {
            RunStatus::Failed | RunStatus::Canceled | RunStatus::Quarantined | RunStatus::Interrupted => true,
            RunStatus::Running => engine::owner_is_dead(workspace, key),
            RunStatus::Succeeded => false,
        };
        if resumable {
            let done = steps.iter().filter(|s| s.status == StepStatus::Succeeded).count();
            return Some((run.id, done, steps.len()));
        }
        if !partial {
            return None;
        }
    }
    None
}

/// A diagnostic on a failed step's id: exit code, reason and the end of its stderr.
pub fn failure_diagnostic(range: Range, step: &str, event: &RunEvent, stderr_tail: &str) -> Diagnostic {
    let reason = engine::describe_reason(&event.data).unwrap_or_else(|| "failed".into());
    let mut message =
        format!("`{step}` {}: {reason}", if event.kind == EventKind::StepTimedOut { "timed out" } else { "failed" });
    let lines: Vec<&str> = stderr_tail.lines().filter(|l| !l.trim().is_empty()).collect();
    if !lines.is_empty() {
        message.push('\n');
        message.push_str(&lines[lines.len().saturating_sub(8)..].join("\n"));
    }
    Diagnostic {
        range,
        severity: Some(DiagnosticSeverity::ERROR),
        code: Some(NumberOrString::String(if event.kind == EventKind::StepTimedOut {
            "step-timed-out".into()
        } else {
            "step-failed".into()
        })),
        source: Some("weft run".into()),
        message,
        ..Default::default()
    }
}

/// The position of a step's id in a document, for run diagnostics.
pub fn step_span(document: &Document, step: &str) -> Option<Span> {
    document.pipeline()?.step(step)?.id.map(|id| id.span)
}

/// The log file to open for a step: stderr when it has something, else stdout.
pub fn log_file(workspace: &Path, run: RunId, step: &str) -> Option<PathBuf> {
    let store = open_existing(workspace)?;
    let attempt = store.attempts(run, Some(step)).ok()?.into_iter().max_by_key(|a| a.attempt)?;
    Some(store::log_to_show(Path::new(&attempt.log_dir), step, attempt.attempt))
}

/// Recent runs with their steps, for `weft/runs`.
pub fn recent_runs(workspace: &Path, key: Option<&Path>, limit: usize) -> Value {
    let Some(store) = open_existing(workspace) else { return json!([]) };
    let runs = store.runs(key, limit).unwrap_or_default();
    Value::Array(
        runs.into_iter()
            .map(|run| {
                let steps = store.steps(run.id).unwrap_or_default();
                json!({
                    "id": run.id, "file": run.path, "status": run.status, "started_at": run.started_at, "finished_at": run.finished_at,
                    "steps": steps.iter().map(|s| json!({ "id": s.id, "status": s.status, "attempts": s.attempts, "exit_code": s.exit_code, "duration_ms": s.duration_ms, "reason": s.reason })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}
