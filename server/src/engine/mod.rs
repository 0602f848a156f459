//! The embedded run engine (SPEC §6): scheduling, processes, timeouts, retries, failure policies,
//! gates, outputs, hooks, rollback, checkpoints, resume and the lock. It knows nothing of LSP; the
//! command line and the language server drive it through [`Run`].

mod children;
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
mod clone_spawn;
pub mod command;
pub mod executor;
pub mod fingerprint;
pub mod git;
pub mod hooks;
mod leftovers;
pub mod metrics;
pub mod plan;
pub mod process;
pub mod run;
mod scope;
pub mod signals;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analysis::Workspace;
use crate::store::{self, RunId, RunLock, RunStatus, Store, StoreWriter};

pub use plan::{build_plan, ExecPlan};
pub use run::{CancelHandle, Coordinator, RunContext};

/// Statuses of a step as the coordinator tracks them (SPEC §5): the recorded ones
/// ([`store::StepStatus`]), `Waiting`, a failed attempt waiting for its retry, recorded as
/// running, and `AwaitingApproval`, a step waiting for a human's decision, recorded as `waiting`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepStatus {
    Pending,
    Running,
    Waiting,
    AwaitingApproval,
    Succeeded,
    Failed,
    Skipped,
    Canceled,
    TimedOut,
}

impl StepStatus {
    /// The status the history records (and expressions and hooks see) for this one.
    pub fn recorded(self) -> store::StepStatus {
        match self {
            StepStatus::Pending => store::StepStatus::Pending,
            StepStatus::Running | StepStatus::Waiting => store::StepStatus::Running,
            StepStatus::AwaitingApproval => store::StepStatus::Waiting,
            StepStatus::Succeeded => store::StepStatus::Succeeded,
            StepStatus::Failed => store::StepStatus::Failed,
            StepStatus::Skipped => store::StepStatus::Skipped,
            StepStatus::Canceled => store::StepStatus::Canceled,
            StepStatus::TimedOut => store::StepStatus::TimedOut,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.recorded().as_str()
    }

    /// The status a resumed run starts a step from, given what the history recorded: a step that
    /// was interrupted has not ended, and starts again as pending.
    pub fn from_recorded(status: store::StepStatus) -> StepStatus {
        match status {
            // A step rolled back is undone: it runs again. A step that waited for a decision
            // waits again; one already recorded is found as soon as it does.
            store::StepStatus::Pending
            | store::StepStatus::Interrupted
            | store::StepStatus::RolledBack
            | store::StepStatus::Waiting => StepStatus::Pending,
            store::StepStatus::Running => StepStatus::Running,
            store::StepStatus::Succeeded => StepStatus::Succeeded,
            store::StepStatus::Failed => StepStatus::Failed,
            store::StepStatus::Skipped => StepStatus::Skipped,
            store::StepStatus::Canceled => StepStatus::Canceled,
            store::StepStatus::TimedOut => StepStatus::TimedOut,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Skipped
                | StepStatus::Canceled
                | StepStatus::TimedOut
        )
    }
}

/// Where a run's events go as they happen (the terminal, the editor).
pub type EventSink = Box<dyn FnMut(&RunEvent) + Send>;

/// What a run event says happened. Its text (`as_str`) is what the history stores, `--events`
/// writes and `weft/runEvent` sends, so the text of a kind never changes once it has shipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    RunStarted,
    RunResumed,
    StepStarted,
    /// The step's time limit passed: its process group was sent SIGTERM (`StepTimedOut` follows
    /// when it has ended).
    StepTimeout,
    StepRetryScheduled,
    StepSucceeded,
    StepFailed,
    StepTimedOut,
    StepSkipped,
    StepCanceled,
    /// A step set to a status that is not final; the coordinator sets only final ones.
    StepState,
    /// A fallback succeeded for the step of the event.
    StepRecovered,
    CircuitOpened,
    FallbackStarted,
    RunCancelRequested,
    HookFinished,
    RollbackStarted,
    RollbackStep,
    RollbackCompleted,
    RunFinished,
    /// `weft resume RUN --skip STEP`: the user recorded a step that had not succeeded as skipped
    /// (who, when, why, and the status it had).
    StepOverridden,
    /// A step with `approval` waits for a human's decision (its prompt and `timeout_sec`).
    StepWaiting,
    /// The decision on a waiting step, as the engine found it (who, when, why).
    StepApproved,
    StepRejected,
    /// A cluster accepted a step's attempt (`data.executor`, `data.job_id`).
    StepSubmitted,
    /// A resumed engine watches again an attempt a dead engine left to a cluster (`data.job_id`).
    StepReattached,
    /// A step's job left the cluster's queue and runs (`data.job_id`).
    StepJobRunning,
}

impl EventKind {
    pub const ALL: [EventKind; 27] = [
        EventKind::RunStarted,
        EventKind::RunResumed,
        EventKind::StepStarted,
        EventKind::StepTimeout,
        EventKind::StepRetryScheduled,
        EventKind::StepSucceeded,
        EventKind::StepFailed,
        EventKind::StepTimedOut,
        EventKind::StepSkipped,
        EventKind::StepCanceled,
        EventKind::StepState,
        EventKind::StepRecovered,
        EventKind::CircuitOpened,
        EventKind::FallbackStarted,
        EventKind::RunCancelRequested,
        EventKind::HookFinished,
        EventKind::RollbackStarted,
        EventKind::RollbackStep,
        EventKind::RollbackCompleted,
        EventKind::RunFinished,
        EventKind::StepOverridden,
        EventKind::StepWaiting,
        EventKind::StepApproved,
        EventKind::StepRejected,
        EventKind::StepSubmitted,
        EventKind::StepReattached,
        EventKind::StepJobRunning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RunStarted => "run_started",
            EventKind::RunResumed => "run_resumed",
            EventKind::StepStarted => "step_started",
            EventKind::StepTimeout => "step_timeout",
            EventKind::StepRetryScheduled => "step_retry_scheduled",
            EventKind::StepSucceeded => "step_succeeded",
            EventKind::StepFailed => "step_failed",
            EventKind::StepTimedOut => "step_timed_out",
            EventKind::StepSkipped => "step_skipped",
            EventKind::StepCanceled => "step_canceled",
            EventKind::StepState => "step_state",
            EventKind::StepRecovered => "step_recovered",
            EventKind::CircuitOpened => "circuit_opened",
            EventKind::FallbackStarted => "fallback_started",
            EventKind::RunCancelRequested => "run_cancel_requested",
            EventKind::HookFinished => "hook_finished",
            EventKind::RollbackStarted => "rollback_started",
            EventKind::RollbackStep => "rollback_step",
            EventKind::RollbackCompleted => "rollback_completed",
            EventKind::RunFinished => "run_finished",
            EventKind::StepOverridden => "step_overridden",
            EventKind::StepWaiting => "step_waiting",
            EventKind::StepApproved => "step_approved",
            EventKind::StepRejected => "step_rejected",
            EventKind::StepSubmitted => "step_submitted",
            EventKind::StepReattached => "step_reattached",
            EventKind::StepJobRunning => "step_job_running",
        }
    }

    /// The kind a text names, or `None` for a text this weft never writes.
    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|candidate| candidate.as_str() == text)
    }

    /// The event of a step set to `status`.
    pub fn of_step_status(status: StepStatus) -> EventKind {
        match status {
            StepStatus::Succeeded => EventKind::StepSucceeded,
            StepStatus::Failed => EventKind::StepFailed,
            StepStatus::TimedOut => EventKind::StepTimedOut,
            StepStatus::Skipped => EventKind::StepSkipped,
            StepStatus::Canceled => EventKind::StepCanceled,
            StepStatus::Pending | StepStatus::Running | StepStatus::Waiting | StepStatus::AwaitingApproval => {
                EventKind::StepState
            }
        }
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One run event (every transition), as stored and as exported with `--events`.
#[derive(Clone, Debug, Serialize)]
pub struct RunEvent {
    pub run: RunId,
    pub seq: i64,
    pub at: String,
    pub kind: EventKind,
    pub step: Option<String>,
    pub data: serde_json::Value,
}

/// The events a run recorded, oldest first: the same records `--events` wrote while it went on.
pub fn recorded_events(store: &Store, run: RunId) -> Result<Vec<RunEvent>, String> {
    let records = store.events(run).map_err(|e| e.to_string())?;
    records
        .into_iter()
        .map(|record| {
            let kind = EventKind::parse(&record.kind)
                .ok_or_else(|| format!("run {run}: unknown event kind `{}`", record.kind.escape_debug()))?;
            let data = serde_json::from_str(&record.data)
                .map_err(|error| format!("run {run}: event {} holds no JSON ({error})", record.seq))?;
            Ok(RunEvent { run, seq: record.seq, at: record.at, kind, step: record.step_id, data })
        })
        .collect()
}

/// Which steps to run.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub stage: Option<String>,
    pub with_dependencies: bool,
}

/// A run ready to go: created in the store, locked, with its coordinator.
pub struct Run {
    pub id: RunId,
    pub workspace: PathBuf,
    pub coordinator: Coordinator,
    /// Steps whose definition changed since the run started and that will run with the new one.
    pub changed_steps: Vec<String>,
    /// Steps whose definition changed but that had already succeeded: they are not run again.
    pub changed_but_done: Vec<String>,
    /// Processes a dead engine of the run had left running, stopped before the run went on.
    pub stopped_leftovers: usize,
    _lock: Option<Vec<File>>,
    /// Held until the run's end is committed (see `store::lock`). Declared after the coordinator,
    /// so it is released after the coordinator's writer has finished.
    _run_lock: RunLock,
}

impl Run {
    pub fn cancel_handle(&self) -> CancelHandle {
        self.coordinator.cancel_handle()
    }

    /// How many steps the plan has (a stage run counts every step; those not selected are
    /// reported skipped).
    pub fn step_count(&self) -> usize {
        self.coordinator.step_count()
    }

    /// Runs to the end; returns the run's final status. The repository's state is recorded as the
    /// run starts and after it ends (nothing is spawned outside a repository; see [`git`]).
    pub fn wait(self) -> Result<RunStatus, String> {
        let run = self.id;
        let workspace = self.workspace.clone();
        record_git(&workspace, run, "run_started");
        let (status, writer) = self.coordinator.run();
        writer.finish().map_err(|error| error.to_string())?;
        record_git(&workspace, run, "run_finished");
        Ok(status)
    }
}

/// Records the repository's HEAD, branch and dirty flag at a moment of a run (with the session and
/// phase that started it, if one did). Nothing outside a repository; a failure to record is not
/// the run's failure.
fn record_git(workspace: &Path, run: RunId, moment: &str) {
    if git::repository_of(workspace).is_none() {
        return;
    }
    let Some(state) = git::capture(workspace) else { return };
    let Ok(store) = Store::open(workspace) else { return };
    let link = store.run_session(run).ok().flatten();
    let snapshot = store::GitSnapshot {
        at: store::now(),
        moment: moment.to_owned(),
        session: link.as_ref().map(|(session, _)| *session),
        phase: link.map(|(_, phase)| phase),
        run: Some(run),
        head: state.head,
        branch: state.branch,
        dirty: state.dirty,
        commits: Vec::new(),
    };
    if let Err(error) = store.record_git(&snapshot) {
        tracing::warn!("run {run}: cannot record the repository's state: {error}");
    }
}

/// How a failure was seen before, in words for the CLI and the editor: "seen 3 times since
/// 2026-12-01 10:00 (first in run 4) · v1:…".
pub fn describe_seen(seen: &store::Seen, fingerprint: &str) -> String {
    let times = if seen.count == 1 { "once".to_owned() } else { format!("{} times", seen.count) };
    let since = seen.first_at.get(..16).unwrap_or(&seen.first_at).replace('T', " ");
    let first = seen.first_run.map(|run| format!(" (first in run {run})")).unwrap_or_default();
    format!("this failure was seen {times} before, since {since}{first} · {fingerprint}")
}

/// The workspace of a file: the folder of the nearest `weft.yaml`, else the file's folder.
pub fn workspace_of(path: &Path) -> PathBuf {
    let absolute = crate::fs::absolute(path);
    let mut folder = absolute.parent();
    while let Some(dir) = folder {
        if dir.join("weft.yaml").is_file() || dir.join("weft.yml").is_file() {
            return dir.to_path_buf();
        }
        folder = dir.parent();
    }
    absolute.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Reads and checks a file and its project, and builds its plan. A file with errors is refused
/// with the errors listed.
pub fn prepare(file: &Path) -> Result<(ExecPlan, hooks::Hooks, PathBuf), String> {
    let text = crate::fs::read_text(file).map_err(|error| format!("{}: {error}", file.display()))?;
    let key = crate::fs::absolute(file);
    let workspace_dir = workspace_of(file);
    let mut workspace = Workspace::new();
    let config_key = ["weft.yaml", "weft.yml"].iter().map(|name| workspace_dir.join(name)).find(|path| path.is_file());
    if let Some(config) = &config_key {
        let config_text = crate::fs::read_text(config).map_err(|error| format!("{}: {error}", config.display()))?;
        workspace.set(config.clone(), config.clone(), config_text);
    }
    let document = workspace.set(key.clone(), file.to_path_buf(), text);
    if document.pipeline().is_none() {
        return Err(format!("{}: not a workflow or plan", file.display()));
    }
    let errors = workspace.error_lines(&key, file);
    if !errors.is_empty() {
        return Err(format!(
            "{} has errors; fix them before running (see `weft check`):\n{}",
            file.display(),
            errors.join("\n")
        ));
    }
    let config_document = config_key.as_ref().and_then(|config| workspace.document(config).cloned());
    let plan = build_plan(&file.display().to_string(), &key, &document, config_document.as_deref())?;
    let hooks = hooks::Hooks::from_config(config_key.as_deref().zip(config_document.as_deref()));
    Ok((plan, hooks, workspace_dir))
}

/// What the command line sets over the file for a whole run: `--executor` and `--metrics`. Kept
/// in the run's `run_started` event (and each `run_resumed` one), so that a resume, from a terminal
/// or a lens, runs the rest where the run began, unless `weft resume` is given its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOverrides {
    pub executor: Option<plan::ExecutorKind>,
    pub metrics: Option<PathBuf>,
}

impl RunOverrides {
    fn apply(&self, plan: &mut ExecPlan) {
        if let Some(executor) = self.executor {
            for step in &mut plan.steps {
                step.executor = executor;
            }
        }
        if let Some(metrics) = &self.metrics {
            plan.metrics = Some(metrics.clone());
        }
    }

    /// Each one given here, else the one the run's latest start or resume recorded.
    fn or_recorded(self, store: &Store, run: RunId) -> Result<RunOverrides, String> {
        let latest = store
            .latest_event_data(run, [EventKind::RunStarted.as_str(), EventKind::RunResumed.as_str()])
            .map_err(|e| e.to_string())?;
        let data: serde_json::Value =
            latest.and_then(|data| serde_json::from_str(&data).ok()).unwrap_or(serde_json::Value::Null);
        let executor = data.get("executor").and_then(|v| v.as_str()).and_then(plan::ExecutorKind::parse);
        let metrics = data.get("metrics").and_then(|v| v.as_str()).map(PathBuf::from);
        Ok(RunOverrides { executor: self.executor.or(executor), metrics: self.metrics.or(metrics) })
    }

    /// Adds the ones that are set to an event's data.
    pub(crate) fn record(&self, data: &mut serde_json::Value) {
        if let Some(executor) = self.executor {
            data["executor"] = executor.as_str().into();
        }
        if let Some(metrics) = &self.metrics {
            data["metrics"] = metrics.display().to_string().into();
        }
    }
}

/// Options of a new run.
pub struct StartOptions {
    pub selection: Selection,
    pub allow_concurrent: bool,
    pub sink: Option<EventSink>,
    /// The session and phase the run is for (a phase's `workflow:`), linked before it starts, so
    /// that its events are the session's from the first.
    pub session: Option<SessionLink>,
    /// Runs every step on this executor, whatever the file says (`weft run --executor`).
    pub executor: Option<plan::ExecutorKind>,
    /// Writes Prometheus metrics here, instead of where the file's `metrics:` says
    /// (`weft run --metrics`).
    pub metrics: Option<PathBuf>,
}

/// A run started by a session's phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionLink {
    pub session: store::SessionId,
    pub phase: String,
}

/// Creates a run of a file, takes the lock, and returns it ready to go.
pub fn start(file: &Path, options: StartOptions) -> Result<Run, String> {
    let (mut plan, hooks, workspace) = prepare(file)?;
    let overrides = RunOverrides { executor: options.executor, metrics: options.metrics };
    overrides.apply(&mut plan);
    let lock = if options.allow_concurrent { None } else { Some(take_lock(&workspace, &plan)?) };
    let selection = select(&plan, &options.selection)?;
    let mut store = Store::open(&workspace).map_err(|e| e.to_string())?;
    let steps: Vec<(String, String)> = plan.steps.iter().map(|s| (s.id.clone(), s.definition_hash.clone())).collect();
    let store::NewRun { id: run, token, lock: run_lock } = store
        .create_run(&plan.file, &plan.path, &plan.workflow_id, &plan.text, &plan.hash, &steps)
        .map_err(|e| e.to_string())?;
    if let Some(link) = &options.session {
        store.link_run(run, link.session, &link.phase).map_err(|e| e.to_string())?;
    }
    let writer = StoreWriter::start(&store).map_err(|e| e.to_string())?;
    let mut hooks = hooks;
    hooks.set_run_token(&token);
    let context = RunContext {
        run,
        workspace: workspace.clone(),
        writer,
        hooks,
        sink: options.sink,
        selection,
        carried: HashMap::new(),
        first_event_seq: 0,
        resumed: false,
        token,
        reattach: Vec::new(),
        overrides,
    };
    Ok(Run {
        id: run,
        workspace,
        coordinator: Coordinator::new(plan, context)
            .map_err(|error| format!("cannot watch step processes: {error}"))?,
        changed_steps: Vec::new(),
        changed_but_done: Vec::new(),
        stopped_leftovers: 0,
        _lock: lock,
        _run_lock: run_lock,
    })
}

/// Earlier runs of the same file that were interrupted (their engine is gone), newest first; for
/// the note `weft run` prints when it starts a new run beside one.
pub fn interrupted_runs_of(workspace: &Path, file: &Path, except: RunId) -> Vec<RunId> {
    let Ok(store) = Store::open(workspace) else { return Vec::new() };
    let path = crate::fs::absolute(file);
    store
        .runs(Some(&path), 50)
        .unwrap_or_default()
        .into_iter()
        .filter(|run| run.id != except && run.status == RunStatus::Interrupted)
        .map(|run| run.id)
        .collect()
}

/// Takes the lock of a run that may have been interrupted, or says who holds it.
fn take_run_lock(store: &Store, run: RunId) -> Result<RunLock, String> {
    match RunLock::try_take(&store.workspace, run) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => {
            let pid = store.run(run).ok().flatten().and_then(|r| r.owner_pid).unwrap_or(0);
            Err(format!(
                "run {run} is still running (its engine, pid {pid}, is alive); wait for it or `weft cancel {run}`"
            ))
        }
        Err(error) => Err(format!("cannot take the lock of run {run}: {error}")),
    }
}

/// Stops what dead engines of a run left running (see [`leftovers`]); the caller holds the run's
/// lock, so no live engine works on the run. Then records the attempts they left as interrupted.
/// Returns how many processes it stopped, and the journal read for it.
fn stop_leftovers(
    store: &Store,
    record: &store::RunRecord,
    kept: &[(String, i64, String)],
) -> Result<(usize, Vec<store::JournalEntry>), String> {
    let attempts = store.attempts(record.id, None).map_err(|e| e.to_string())?;
    let ended: HashSet<(String, i64)> =
        attempts.iter().filter(|a| a.status.is_final()).map(|a| (a.step_id.clone(), a.attempt)).collect();
    let legacy_groups = if record.token.is_none() {
        store.running_attempt_groups(record.id).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let stopped = leftovers::stop(record.token.as_deref(), &ended, &legacy_groups)?;
    let journal = store::read_journal(&store::run_dir(&store.workspace, record.id));
    let kept: Vec<(String, i64)> = kept.iter().map(|(step, attempt, _)| (step.clone(), *attempt)).collect();
    store.record_interrupted_attempts_except(record.id, &journal, &kept).map_err(|e| e.to_string())?;
    Ok((stopped, journal))
}

/// The attempts of a run that dead engines left to a cluster and that the cluster has a record
/// of (still pending or running, or ended since): found by the job id the history recorded, or,
/// for an attempt whose id was never committed, by its job's name (see `executor::job_name`).
/// `slurm_steps` says which steps run on Slurm now, for attempts the history lost entirely.
/// Asks the cluster only when the run has (or may have) an attempt there; an error when it cannot
/// ask, since starting such an attempt again could run it twice.
fn cluster_jobs(
    store: &Store,
    record: &store::RunRecord,
    slurm_steps: &HashSet<String>,
) -> Result<Vec<(String, i64, String)>, String> {
    let attempts = store.attempts(record.id, None).map_err(|e| e.to_string())?;
    let journal = store::read_journal(&store::run_dir(&store.workspace, record.id));
    let unfinished: Vec<&store::AttemptRecord> =
        attempts.iter().filter(|a| !a.status.is_final() && a.executor == "slurm").collect();
    let unrecorded: Vec<&store::JournalEntry> = journal
        .iter()
        .filter(|e| slurm_steps.contains(&e.step))
        .filter(|e| !attempts.iter().any(|a| a.step_id == e.step && a.attempt == e.attempt))
        .collect();
    if unfinished.is_empty() && unrecorded.is_empty() {
        return Ok(Vec::new());
    }
    let unreachable = |error: String| format!("cannot ask Slurm about the jobs run {} left: {error}", record.id);
    let mut found = Vec::new();
    let recorded: Vec<(String, i64, String)> =
        unfinished.iter().filter_map(|a| a.executor_id.clone().map(|id| (a.step_id.clone(), a.attempt, id))).collect();
    if !recorded.is_empty() {
        let ids: Vec<String> = recorded.iter().map(|(_, _, id)| id.clone()).collect();
        let states = executor::slurm::states(&ids).map_err(unreachable)?;
        found.extend(recorded.into_iter().filter(|(_, _, id)| states.contains_key(id)));
    }
    let Some(token) = record.token.as_deref() else { return Ok(found) };
    let named: Vec<(String, String, i64)> = unfinished
        .iter()
        .filter(|a| a.executor_id.is_none())
        .map(|a| (a.step_id.clone(), a.attempt))
        .chain(unrecorded.iter().map(|e| (e.step.clone(), e.attempt)))
        .map(|(step, attempt)| (executor::job_name(token, &step, attempt as u32), step, attempt))
        .collect();
    if !named.is_empty() {
        let names: Vec<String> = named.iter().map(|(name, _, _)| name.clone()).collect();
        let jobs = executor::slurm::find_jobs(&names).map_err(unreachable)?;
        for (name, step, attempt) in named {
            if let Some((id, _)) = jobs.get(&name) {
                store.record_reattached(record.id, &step, attempt, "slurm", id).map_err(|e| e.to_string())?;
                found.push((step, attempt, id.clone()));
            }
        }
    }
    Ok(found)
}

/// Ends an interrupted run as canceled (`weft cancel` when its engine is gone): takes its lock,
/// stops what its dead engines left running, and records the end. Returns how many processes it
/// stopped.
pub fn cancel_interrupted(workspace: &Path, run_id: RunId) -> Result<usize, String> {
    let store = Store::open(workspace).map_err(|e| e.to_string())?;
    let (_lock, record) = lock_run(&store, run_id)?;
    // Holding the lock, a run still recorded as running is one whose engine died.
    if record.status != RunStatus::Running {
        return Err(format!("run {run_id} is not running (it is {})", record.status));
    }
    // What it left to a cluster is cancelled there (whichever steps run there now).
    let slurm_steps = recorded_slurm_steps(&store, run_id)?;
    let jobs = cluster_jobs(&store, &record, &slurm_steps)?;
    let ids: Vec<String> = jobs.iter().map(|(_, _, id)| id.clone()).collect();
    executor::slurm::cancel(&ids).map_err(|error| format!("cannot cancel Slurm jobs {}: {error}", ids.join(", ")))?;
    let (stopped, _) = stop_leftovers(&store, &record, &[])?;
    store.finish_run(run_id, RunStatus::Canceled).map_err(|e| e.to_string())?;
    Ok(stopped + ids.len())
}

/// The steps of a run's recorded file that run on Slurm (for `weft cancel`, which has no plan).
fn recorded_slurm_steps(store: &Store, run: RunId) -> Result<HashSet<String>, String> {
    let attempts = store.attempts(run, None).map_err(|e| e.to_string())?;
    Ok(attempts.into_iter().filter(|a| a.executor == "slurm").map(|a| a.step_id).collect())
}

/// Takes a run's lock and reads the run once it is held (what was read before may have changed
/// under another engine: a resume that ran to the end meanwhile).
fn lock_run(store: &Store, run_id: RunId) -> Result<(RunLock, store::RunRecord), String> {
    let missing = || format!("no run {run_id} in {}", store.workspace.display());
    store.run(run_id).map_err(|e| e.to_string())?.ok_or_else(missing)?;
    let lock = take_run_lock(store, run_id)?;
    let record = store.run(run_id).map_err(|e| e.to_string())?.ok_or_else(missing)?;
    Ok((lock, record))
}

/// Continues an interrupted or failed run: succeeded steps keep their results and are never run
/// again; everything else runs again, with the file's current definitions.
pub fn resume(workspace: &Path, run_id: RunId, sink: Option<EventSink>) -> Result<Run, String> {
    resume_with(workspace, run_id, sink, None, RunOverrides::default())
}

/// A step the user records as skipped before a run goes on (`weft resume RUN --skip STEP`).
#[derive(Clone, Debug)]
pub struct Override {
    pub step: String,
    pub reason: Option<String>,
    /// Who asked for it (see [`who_am_i`]).
    pub by: String,
}

/// The user this process runs for: `$USER`, else the name of its uid, else `uid N`.
pub fn who_am_i() -> String {
    if let Some(user) = std::env::var("USER").ok().filter(|user| !user.is_empty()) {
        return user;
    }
    // SAFETY: getuid cannot fail; getpwuid_r writes into the buffers we own and pass with their size.
    unsafe {
        let uid = libc::getuid();
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut buffer = vec![0 as libc::c_char; 4096];
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut entry, buffer.as_mut_ptr(), buffer.len(), &mut found) == 0
            && !found.is_null()
            && !entry.pw_name.is_null()
        {
            return std::ffi::CStr::from_ptr(entry.pw_name).to_string_lossy().into_owned();
        }
        format!("uid {uid}")
    }
}

/// The reason a step skipped by the user records: who, and why.
pub fn override_reason(by: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("override by {by}: {reason}"),
        None => format!("override by {by}"),
    }
}

/// Whether the user can skip a step: it ran and did not succeed (a step canceled before it
/// started did not fail; it runs when the run is resumed).
fn can_be_overridden(step: &store::StepRecord) -> bool {
    match step.status {
        store::StepStatus::Failed
        | store::StepStatus::TimedOut
        | store::StepStatus::Interrupted
        // Recorded as running in a run whose engine is gone (we hold its lock): interrupted.
        | store::StepStatus::Running => true,
        store::StepStatus::Canceled => step.attempts > 0,
        // A step that waits for approval is decided with `weft approve` or `weft reject`.
        store::StepStatus::Pending
        | store::StepStatus::Waiting
        | store::StepStatus::Succeeded
        | store::StepStatus::Skipped
        | store::StepStatus::RolledBack => false,
    }
}

/// Checks an override against the run as recorded; returns the status the step had.
fn check_override(steps: &[store::StepRecord], run_id: RunId, wanted: &Override) -> Result<store::StepStatus, String> {
    let Some(step) = steps.iter().find(|s| s.id == wanted.step) else {
        let ids = steps.iter().map(|s| s.id.as_str());
        return Err(match crate::analysis::suggest::did_you_mean(&wanted.step, ids) {
            Some(suggestion) => format!("run {run_id} has no step `{}`; did you mean `{suggestion}`?", wanted.step),
            None => format!(
                "run {run_id} has no step `{}`; its steps: {}",
                wanted.step,
                steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        });
    };
    if !can_be_overridden(step) {
        let never_ran = if step.attempts == 0 { " (it never ran)" } else { "" };
        return Err(format!(
            "step `{}` of run {run_id} is {}{never_ran}, not failed: only a step that failed, timed out, was interrupted or canceled while it ran can be skipped",
            step.id, step.status
        ));
    }
    Ok(match step.status {
        store::StepStatus::Running => store::StepStatus::Interrupted,
        status => status,
    })
}

/// [`resume`], first recording `skip` (if given) as skipped by the user: an override event with
/// who, when, why and the step's previous status. The step is never run again, and its dependents
/// go on as after a success (the user said to go on without it); a dependent's `condition` sees
/// it as `skipped`. `given` (`weft resume --executor`, `--metrics`) replaces what the run was
/// started or last resumed with; what it leaves out is kept (see [`RunOverrides`]).
pub fn resume_with(
    workspace: &Path,
    run_id: RunId,
    mut sink: Option<EventSink>,
    skip: Option<Override>,
    given: RunOverrides,
) -> Result<Run, String> {
    let mut store = Store::open(workspace).map_err(|e| e.to_string())?;
    let (run_lock, record) = lock_run(&store, run_id)?;
    if record.status == RunStatus::Succeeded {
        return Err(format!("run {run_id} already succeeded; there is nothing to resume"));
    }
    let overridden = match &skip {
        Some(wanted) => {
            let steps = store.steps(run_id).map_err(|e| e.to_string())?;
            Some((wanted, check_override(&steps, run_id, wanted)?))
        }
        None => None,
    };
    let file =
        if Path::new(&record.path).is_file() { PathBuf::from(&record.path) } else { PathBuf::from(&record.file) };
    let (mut plan, mut hooks, _) = prepare(&file)?;
    let overrides = given.or_recorded(&store, run_id)?;
    overrides.apply(&mut plan);
    let lock = take_lock(workspace, &plan)?;
    // What dead engines left running is stopped before anything runs again, and attempt numbers
    // continue above every attempt that ever started: in the history, the journal, or on disk.
    let slurm_steps: HashSet<String> = plan
        .steps
        .iter()
        .filter(|s| s.executor == plan::ExecutorKind::Slurm)
        .map(|s| s.id.clone())
        .chain(recorded_slurm_steps(&store, run_id)?)
        .collect();
    let reattach = cluster_jobs(&store, &record, &slurm_steps)?;
    let (stopped_leftovers, journal) = stop_leftovers(&store, &record, &reattach)?;
    // A step its rejection (or its wait's timeout) ended waits for a new decision.
    store.forget_applied_rejections(run_id).map_err(|e| e.to_string())?;
    if let Some((wanted, previous)) = overridden {
        let reason = override_reason(&wanted.by, wanted.reason.as_deref());
        let data = serde_json::json!({
            "status": store::StepStatus::Skipped,
            "previous_status": previous,
            "by": wanted.by,
            "reason": wanted.reason,
        });
        let (seq, at) = store
            .record_override(run_id, &wanted.step, &reason, EventKind::StepOverridden.as_str(), &data.to_string())
            .map_err(|e| e.to_string())?;
        if let Some(sink) = sink.as_mut() {
            sink(&RunEvent {
                run: run_id,
                seq,
                at,
                kind: EventKind::StepOverridden,
                step: Some(wanted.step.clone()),
                data,
            });
        }
    }
    let on_disk = store::attempts_on_disk(&store::run_dir(workspace, run_id));
    let steps = store.steps(run_id).map_err(|e| e.to_string())?;
    let attempts = store.attempts(run_id, None).map_err(|e| e.to_string())?;
    let overridden_steps =
        store.steps_with_event(run_id, EventKind::StepOverridden.as_str()).map_err(|e| e.to_string())?;
    let mut carried = HashMap::new();
    let mut changed_steps = Vec::new();
    let mut changed_but_done = Vec::new();
    for step in &steps {
        let Some(current) = plan.steps.iter().find(|s| s.id == step.id) else { continue };
        if current.definition_hash != step.definition_hash {
            if step.status == store::StepStatus::Succeeded {
                changed_but_done.push(step.id.clone());
            } else {
                changed_steps.push(step.id.clone());
            }
        }
        let recorded = attempts.iter().filter(|a| a.step_id == step.id).map(|a| a.attempt).max().unwrap_or(0);
        let journaled = journal.iter().filter(|e| e.step == step.id).map(|e| e.attempt).max().unwrap_or(0);
        let attempt_count = recorded.max(journaled).max(on_disk.get(&step.id).copied().unwrap_or(0)) as u32;
        // Only a skip the user recorded carries over; a step skipped by the run's own rules is
        // decided again.
        let status = match StepStatus::from_recorded(step.status) {
            StepStatus::Skipped if !overridden_steps.contains(&step.id) => StepStatus::Pending,
            status => status,
        };
        let succeeded_attempt = attempts
            .iter()
            .filter(|a| a.step_id == step.id && a.status == store::StepStatus::Succeeded)
            .map(|a| a.attempt)
            .max();
        let outputs = if status == StepStatus::Succeeded {
            let attempt = succeeded_attempt.unwrap_or(i64::from(attempt_count));
            run::read_outputs(&store::attempt_file(&store::run_dir(workspace, run_id), &step.id, attempt, "output"))
        } else {
            BTreeMap::new()
        };
        carried.insert(step.id.clone(), (status, attempt_count, outputs));
    }
    for (position, step) in plan.steps.iter().enumerate() {
        store.upsert_step(run_id, position, &step.id, &step.definition_hash).map_err(|e| e.to_string())?;
    }
    let token = store.reopen_run(run_id, &plan.text, &plan.hash).map_err(|e| e.to_string())?;
    hooks.set_run_token(&token);
    let first_event_seq = store.events(run_id).map_err(|e| e.to_string())?.last().map_or(0, |e| e.seq);
    // A resumed `--stage` run keeps its selection: it never starts steps that were not selected.
    let unselected = |id: &str| {
        steps
            .iter()
            .find(|s| s.id == id)
            .is_none_or(|s| s.status == store::StepStatus::Skipped && s.reason.as_deref() == Some("not selected"))
    };
    let had_selection = steps.iter().any(|s| unselected(&s.id));
    let selection = had_selection.then(|| plan.steps.iter().map(|s| !unselected(&s.id)).collect());
    let writer = StoreWriter::start(&store).map_err(|e| e.to_string())?;
    let context = RunContext {
        run: run_id,
        workspace: workspace.to_path_buf(),
        writer,
        hooks,
        sink,
        selection,
        carried,
        first_event_seq,
        resumed: true,
        token,
        reattach: reattach.into_iter().map(|(step, attempt, id)| (step, attempt as u32, id)).collect(),
        overrides,
    };
    Ok(Run {
        id: run_id,
        workspace: workspace.to_path_buf(),
        coordinator: Coordinator::new(plan, context)
            .map_err(|error| format!("cannot watch step processes: {error}"))?,
        changed_steps,
        changed_but_done,
        stopped_leftovers,
        _lock: Some(lock),
        _run_lock: run_lock,
    })
}

/// A rollback of a past run, ready to go (`weft rollback RUN [--to STEP]`).
pub struct Rollback {
    pub id: RunId,
    pub workspace: PathBuf,
    /// The steps it undoes, in the order it undoes them.
    pub steps: Vec<String>,
    coordinator: Coordinator,
    completed: Vec<usize>,
    _lock: Vec<File>,
    _run_lock: RunLock,
}

impl Rollback {
    pub fn cancel_handle(&self) -> CancelHandle {
        self.coordinator.cancel_handle()
    }

    /// Runs the rollback actions; returns the steps that were rolled back.
    pub fn wait(self) -> Result<Vec<String>, String> {
        let writer = self.coordinator.roll_back(self.completed);
        writer.finish().map_err(|error| error.to_string())?;
        let store = Store::open(&self.workspace).map_err(|e| e.to_string())?;
        let steps = store.steps(self.id).map_err(|e| e.to_string())?;
        Ok(self
            .steps
            .into_iter()
            .filter(|id| steps.iter().any(|s| s.id == *id && s.status == store::StepStatus::RolledBack))
            .collect())
    }
}

/// The steps of a run that `weft rollback` would undo, in the order they completed: those that
/// succeeded and have a rollback action in the file as it is now.
fn completed_with_rollback(store: &Store, run_id: RunId, plan: &ExecPlan) -> Result<Vec<usize>, String> {
    let steps = store.steps(run_id).map_err(|e| e.to_string())?;
    let attempts = store.attempts(run_id, None).map_err(|e| e.to_string())?;
    let mut completed: Vec<(String, usize)> = steps
        .iter()
        .filter(|s| s.status == store::StepStatus::Succeeded)
        .filter_map(|s| {
            let index = plan.step_index(&s.id)?;
            let finished = attempts
                .iter()
                .filter(|a| a.step_id == s.id && a.status == store::StepStatus::Succeeded)
                .filter_map(|a| a.finished_at.clone())
                .max()
                .unwrap_or_default();
            Some((finished, index))
        })
        .collect();
    completed.sort();
    Ok(completed.into_iter().map(|(_, index)| index).filter(|&i| plan.steps[i].rollback.is_some()).collect())
}

/// The steps of a run that `weft rollback RUN` would undo, in the order it would undo them (for
/// the options a failed run ends with); empty when the file cannot be read or checked.
pub fn rollback_candidates(workspace: &Path, record: &store::RunRecord) -> Vec<String> {
    let file =
        if Path::new(&record.path).is_file() { PathBuf::from(&record.path) } else { PathBuf::from(&record.file) };
    let Ok((plan, _, _)) = prepare(&file) else { return Vec::new() };
    let Ok(store) = Store::open(workspace) else { return Vec::new() };
    let completed = completed_with_rollback(&store, record.id, &plan).unwrap_or_default();
    completed.into_iter().rev().map(|i| plan.steps[i].id.clone()).collect()
}

/// Prepares `weft rollback RUN [--to STEP]`: the rollback actions of the run's completed stages
/// (steps that succeeded and have one, in the file as it is now), run in reverse order of
/// completion by the same code that rolls back a failed run, with the rollback hooks; each step
/// undone is recorded `rolled_back`. With `to`, only the stages that completed after STEP are
/// undone (back to the checkpoint written when STEP completed). The run must not be running.
pub fn rollback(
    workspace: &Path,
    run_id: RunId,
    to: Option<&str>,
    sink: Option<EventSink>,
) -> Result<Rollback, String> {
    let store = Store::open(workspace).map_err(|e| e.to_string())?;
    let (run_lock, record) = lock_run(&store, run_id)?;
    if matches!(record.status, RunStatus::Running | RunStatus::Interrupted) {
        return Err(format!(
            "run {run_id} was interrupted (its engine is gone); `weft resume {run_id}` or `weft cancel {run_id}` it first"
        ));
    }
    let file =
        if Path::new(&record.path).is_file() { PathBuf::from(&record.path) } else { PathBuf::from(&record.file) };
    let (plan, mut hooks, _) = prepare(&file)?;
    let lock = take_lock(workspace, &plan)?;
    let mut completed = completed_with_rollback(&store, run_id, &plan)?;
    if let Some(to) = to {
        let steps = store.steps(run_id).map_err(|e| e.to_string())?;
        let Some(step) = steps.iter().find(|s| s.id == to) else {
            let ids = steps.iter().map(|s| s.id.as_str());
            return Err(match crate::analysis::suggest::did_you_mean(to, ids) {
                Some(suggestion) => format!("run {run_id} has no step `{to}`; did you mean `{suggestion}`?"),
                None => format!("run {run_id} has no step `{to}`"),
            });
        };
        if step.status != store::StepStatus::Succeeded {
            return Err(format!("step `{to}` of run {run_id} is {}: --to names a stage that completed", step.status));
        }
        let attempts = store.attempts(run_id, Some(to)).map_err(|e| e.to_string())?;
        let finished = |id: &str| {
            store
                .attempts(run_id, Some(id))
                .unwrap_or_default()
                .into_iter()
                .filter(|a| a.status == store::StepStatus::Succeeded)
                .filter_map(|a| a.finished_at)
                .max()
                .unwrap_or_default()
        };
        let mark = attempts
            .into_iter()
            .filter(|a| a.status == store::StepStatus::Succeeded)
            .filter_map(|a| a.finished_at)
            .max()
            .unwrap_or_default();
        completed.retain(|&i| plan.steps[i].id != to && finished(&plan.steps[i].id) > mark);
    }
    if completed.is_empty() {
        return Err(match to {
            Some(to) => {
                format!("nothing to roll back: no stage of run {run_id} with a rollback action completed after `{to}`")
            }
            None => format!("nothing to roll back: no completed stage of run {run_id} has a rollback action"),
        });
    }
    let token = record.token.clone().unwrap_or_default();
    hooks.set_run_token(&token);
    let first_event_seq = store.events(run_id).map_err(|e| e.to_string())?.last().map_or(0, |e| e.seq);
    let carried =
        completed.iter().map(|&i| (plan.steps[i].id.clone(), (StepStatus::Succeeded, 0, BTreeMap::new()))).collect();
    let writer = StoreWriter::start(&store).map_err(|e| e.to_string())?;
    let context = RunContext {
        run: run_id,
        workspace: workspace.to_path_buf(),
        writer,
        hooks,
        sink,
        selection: None,
        carried,
        first_event_seq,
        resumed: true,
        token,
        reattach: Vec::new(),
        overrides: RunOverrides::default(),
    };
    let steps = completed.iter().rev().map(|&i| plan.steps[i].id.clone()).collect();
    Ok(Rollback {
        id: run_id,
        workspace: workspace.to_path_buf(),
        steps,
        coordinator: Coordinator::new(plan, context)
            .map_err(|error| format!("cannot watch step processes: {error}"))?,
        completed,
        _lock: lock,
        _run_lock: run_lock,
    })
}

fn select(plan: &ExecPlan, selection: &Selection) -> Result<Option<Vec<bool>>, String> {
    let Some(stage) = &selection.stage else { return Ok(None) };
    let index = plan.step_index(stage).ok_or_else(|| {
        let ids: Vec<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
        match crate::analysis::suggest::did_you_mean(stage, ids.iter().copied()) {
            Some(suggestion) => format!("no stage `{stage}` in {}; did you mean `{suggestion}`?", plan.file),
            None => format!("no stage `{stage}` in {}; stages: {}", plan.file, ids.join(", ")),
        }
    })?;
    let mut selected = vec![false; plan.steps.len()];
    selected[index] = true;
    if selection.with_dependencies {
        let mut stack = vec![index];
        while let Some(current) = stack.pop() {
            for &dependency in &plan.steps[current].dependencies {
                if !std::mem::replace(&mut selected[dependency], true) {
                    stack.push(dependency);
                }
            }
        }
    }
    Ok(Some(selected))
}

/// The path of the lock of a file's runs (`file` absolute).
fn lock_path(workspace: &Path, file: &Path) -> PathBuf {
    store::state_dir(workspace).join("locks").join(format!("{}.lock", &plan::hash(&file.display().to_string())[..16]))
}

/// Takes the exclusive locks of a file's runs and of its workflow id (SPEC §6: two runs of the same
/// workflow in one workspace are refused, even from two files). The operating system releases them
/// when the process ends, however it ends, so a run whose owner died is never locked.
fn take_lock(workspace: &Path, plan: &ExecPlan) -> Result<Vec<File>, String> {
    let file_lock = lock_path(workspace, &plan.path);
    let workflow_lock = store::state_dir(workspace)
        .join("locks")
        .join(format!("workflow-{}.lock", &plan::hash(&plan.workflow_id)[..16]));
    let mut held = Vec::new();
    for path in [file_lock, workflow_lock] {
        std::fs::create_dir_all(path.parent().unwrap_or(workspace)).map_err(|e| e.to_string())?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !try_lock(&file) {
            let active = Store::open(workspace)
                .ok()
                .and_then(|store| store.runs(None, 50).ok())
                .and_then(|runs| {
                    runs.into_iter().find(|run| {
                        run.status == RunStatus::Running
                            && (Path::new(&run.path) == plan.path || run.workflow_id == plan.workflow_id)
                    })
                })
                .map_or_else(String::new, |run| {
                    format!(
                        " (run {} of {}, started {}, pid {})",
                        run.id,
                        run.file,
                        run.started_at,
                        run.owner_pid.unwrap_or(0)
                    )
                });
            return Err(format!(
                "workflow `{}` of {} is already running{active}; wait for it, `weft cancel` it, or pass --allow-concurrent",
                plan.workflow_id, plan.file
            ));
        }
        held.push(file);
    }
    Ok(held)
}

fn try_lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor we own; it only affects the lock state of that file.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// True when no run of `file` is running: none recorded as running, or each one's engine is gone
/// (it no longer holds the run's lock), so the latest can be resumed.
pub fn owner_is_dead(workspace: &Path, file: &Path) -> bool {
    // Read as the editor reads: never created or migrated here.
    let Ok(Some(store)) = Store::open_existing(workspace) else { return true };
    store.runs(Some(file), 20).is_ok_and(|runs| runs.iter().all(|run| run.status != RunStatus::Running))
}

/// Records a human's decision on a step that waits for approval (SPEC §6): `weft approve` and
/// `weft reject` from any terminal, and the editor. The step must be waiting, or be an approval
/// step of an interrupted run (its engine is gone; `weft resume` finds the decision at once); the
/// first decision wins. A rejection needs a reason. The running engine finds the decision in the
/// history and records it as an event.
pub fn decide(
    workspace: &Path,
    run_id: RunId,
    step: &str,
    approve: bool,
    reason: Option<&str>,
    by: &str,
) -> Result<(), String> {
    let reason = reason.map(str::trim).filter(|reason| !reason.is_empty());
    if !approve && reason.is_none() {
        return Err("a rejection needs a reason (--reason TEXT)".to_owned());
    }
    let store = Store::open(workspace).map_err(|e| e.to_string())?;
    let record = store
        .run(run_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no run {run_id} in {}", workspace.display()))?;
    let steps = store.steps(run_id).map_err(|e| e.to_string())?;
    let Some(found) = steps.iter().find(|s| s.id == step) else {
        let ids = steps.iter().map(|s| s.id.as_str());
        return Err(match crate::analysis::suggest::did_you_mean(step, ids) {
            Some(suggestion) => format!("run {run_id} has no step `{step}`; did you mean `{suggestion}`?"),
            None => format!(
                "run {run_id} has no step `{step}`; its steps: {}",
                steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        });
    };
    let waiting = found.status == store::StepStatus::Waiting
        || (record.status == RunStatus::Interrupted
            && matches!(
                found.status,
                store::StepStatus::Pending | store::StepStatus::Interrupted | store::StepStatus::Running
            )
            && is_approval_step(&record, step));
    if !waiting {
        let why = match record.status {
            RunStatus::Running | RunStatus::Interrupted => String::new(),
            status => format!("; the run is {status}"),
        };
        return Err(format!("step `{step}` of run {run_id} is not waiting for approval (it is {}{why})", found.status));
    }
    match store.record_decision(run_id, step, approve, reason, by).map_err(|e| e.to_string())? {
        Ok(_) => Ok(()),
        Err(first) => Err(format!(
            "step `{step}` of run {run_id} was already {} by {} at {}",
            if first.approved { "approved" } else { "rejected" },
            first.by,
            first.at
        )),
    }
}

/// Whether a step of a run has `approval` in the file as it is now (the file `weft resume` runs).
fn is_approval_step(record: &store::RunRecord, step: &str) -> bool {
    let file =
        if Path::new(&record.path).is_file() { PathBuf::from(&record.path) } else { PathBuf::from(&record.file) };
    prepare(&file).is_ok_and(|(plan, _, _)| plan.steps.iter().any(|s| s.id == step && s.approval.is_some()))
}

/// Why a step ended as it did: its reason, or for a plain failure its exit code.
pub fn describe_reason(data: &serde_json::Value) -> Option<String> {
    match (data["reason"].as_str(), data["exit_code"].as_i64()) {
        (Some(reason), _) => Some(reason.to_owned()),
        (None, Some(code)) if code != 0 => Some(format!("exit {code}")),
        _ => None,
    }
}

pub fn format_duration(ms: i64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1_000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_has_its_own_text() {
        let texts: HashSet<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(texts.len(), EventKind::ALL.len());
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(EventKind::parse("step_exploded"), None);
    }

    /// The statuses `steps.<id>.status` can have in an expression are the ones the checker knows.
    #[test]
    fn expressions_see_exactly_the_step_statuses_the_model_lists() {
        let seen: std::collections::BTreeSet<&str> =
            store::StepStatus::ALL.into_iter().map(|status| StepStatus::from_recorded(status).as_str()).collect();
        let listed: std::collections::BTreeSet<&str> = crate::model::STEP_STATUSES.into_iter().collect();
        assert_eq!(seen, listed);
    }
}
