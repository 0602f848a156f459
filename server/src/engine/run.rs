//! The coordinator: one thread owns the state of a run and decides everything. It waits in one
//! `poll` for its children to end or write output (see [`super::children`]), for a message from
//! another thread (cancel), or for the next timer (timeouts, kill escalation, retry backoff).
//!
//! Invariant: the engine never starts a step whose dependencies have not finished.
//! Invariant: at most `max_concurrency` step processes run at once.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::model::expr;
use crate::store::{self, RunId, RunStatus, Store, StoreWriter, Write};

use super::children::{Children, Ended, Launch, Waker};
use super::executor::fake::Fake;
use super::executor::slurm::Slurm;
use super::executor::{self, AttemptStart, Executor, Report, Stop};
use super::fingerprint;
use super::hooks::Hooks;
use super::plan::ExecutorKind;
use super::plan::{Action, ExecPlan, ExecStep, FailurePolicy};
use super::process::{self, Exit, Waited};
use super::scope::JsonScope;
use super::{EventKind, RunEvent, StepStatus};

/// Messages to the coordinator from other threads.
pub enum Message {
    Cancel,
}

/// A way to stop a run from another thread (Ctrl-C, `weft cancel`, the editor).
#[derive(Clone)]
pub struct CancelHandle {
    sender: Sender<Message>,
    waker: Waker,
    /// Counts requests, so that a hook or rollback action the coordinator waits for sees one.
    requests: Arc<AtomicU64>,
}

impl CancelHandle {
    pub fn cancel(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.sender.send(Message::Cancel).is_ok() {
            self.waker.wake();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Timeout {
        step: usize,
        attempt: u32,
    },
    Kill {
        step: usize,
        attempt: u32,
    },
    Retry {
        step: usize,
    },
    /// The run deadline (`run_timeout_sec`).
    Deadline,
    /// A step's wait for approval ends without a decision (`approval.timeout_sec`).
    ApprovalTimeout {
        step: usize,
    },
    /// Look for decisions on the steps that wait for approval, made by any process.
    Decisions,
}

/// How often the coordinator looks for decisions while a step waits for approval.
const DECISION_POLL: Duration = Duration::from_millis(300);

struct StepState {
    status: StepStatus,
    attempt: u32,
    started: Option<Instant>,
    timed_out: bool,
    outputs: BTreeMap<String, String>,
    reason: Option<String>,
    exit_code: Option<i64>,
    duration_ms: Option<i64>,
    /// Failed, but its fallback succeeded: dependents go on.
    recovered: bool,
    /// Failed, and its fallback has not finished yet.
    awaiting_fallback: bool,
    /// The step this one stands in for, while it runs as a fallback.
    standing_in_for: Option<usize>,
    selected: bool,
    /// Recorded as skipped by the user (`weft resume --skip`): its dependents go on.
    overridden: bool,
    /// Its approval was given: it no longer waits for one.
    approved: bool,
    /// Finished in the run before it was resumed, with this status, while a step upstream of it
    /// runs again (one rolled back, say): it waits for them as a pending step would, then takes
    /// its status again without running, so nothing downstream starts before its upstream has
    /// finished again.
    carried: Option<StepStatus>,
    /// Failed by a human's rejection or a wait for approval that timed out: not a failure of its
    /// command, so the circuit breaker does not count it.
    not_run: bool,
    /// The fingerprint of its last failed attempt (SPEC §7), given with its final event.
    fingerprint: Option<String>,
}

impl StepState {
    fn new(selected: bool) -> StepState {
        StepState {
            status: StepStatus::Pending,
            attempt: 0,
            started: None,
            timed_out: false,
            outputs: BTreeMap::new(),
            reason: None,
            exit_code: None,
            duration_ms: None,
            recovered: false,
            awaiting_fallback: false,
            standing_in_for: None,
            selected,
            fingerprint: None,
            overridden: false,
            approved: false,
            not_run: false,
            carried: None,
        }
    }

    fn finished(&self) -> bool {
        self.status.is_final() && !self.awaiting_fallback
    }
}

/// What a run needs besides its plan.
pub struct RunContext {
    pub run: RunId,
    pub workspace: PathBuf,
    pub writer: StoreWriter,
    pub hooks: Hooks,
    pub sink: Option<super::EventSink>,
    /// Steps to run; `None` runs all.
    pub selection: Option<Vec<bool>>,
    /// State carried over from an earlier attempt of this run (resume): succeeded steps with their
    /// outputs, and attempt counts.
    pub carried: HashMap<String, (StepStatus, u32, BTreeMap<String, String>)>,
    pub first_event_seq: i64,
    pub resumed: bool,
    /// The run's token (see [`super::leftovers`]), given to every process the run starts.
    pub token: String,
    /// Attempts a dead engine left to a cluster, watched again instead of started again (step,
    /// attempt, job id): still running there, or ended meanwhile (their result is read).
    pub reattach: Vec<(String, u32, String)>,
    /// What the command line set over the file, recorded in the run's first event.
    pub overrides: super::RunOverrides,
}

pub struct Coordinator {
    /// Shared so a step can be read while the coordinator changes its own state.
    plan: std::sync::Arc<ExecPlan>,
    context: RunContext,
    states: Vec<StepState>,
    sender: Sender<Message>,
    receiver: Receiver<Message>,
    /// Cancel requests so far (see [`CancelHandle`]).
    cancel_requests: Arc<AtomicU64>,
    /// The local executor: step processes on this machine, watched in the coordinator's `poll`.
    children: Children,
    /// The Slurm executor, from the first step that runs on Slurm.
    slurm: Option<Slurm>,
    /// The scripted executor of the engine's scheduling tests.
    fake: Option<Fake>,
    /// What executors reported, handled on this thread.
    reports: Vec<Report>,
    /// Attempts that could not start, handled on the next turn of the loop like an exit.
    not_started: Vec<(usize, u32, String)>,
    /// Steps that ended while a hook ran, handled once it is done.
    ended_during_hooks: Vec<Ended>,
    timers: Vec<(Instant, Timer)>,
    running: usize,
    canceled: bool,
    aborted: bool,
    quarantined: bool,
    /// Consecutive final failures by plugin or command, for the circuit breaker.
    failures_in_a_row: HashMap<String, u32>,
    open_circuits: Vec<String>,
    /// The step whose failure opened the first circuit, and why: the error of a quarantined run.
    circuit_opened_by: Option<(usize, String)>,
    /// When this engine started (or resumed) the run, for the duration the end hooks see.
    run_started: Instant,
    /// Why the run fails whatever its steps did (its requirements, its deadline, its `expect`),
    /// and the step it names, if one.
    run_failure: Option<(String, Option<usize>)>,
    /// The run deadline passed: nothing starts or is retried any more.
    deadline_passed: bool,
    /// When the run deadline passes, if it has one.
    deadline_at: Option<Instant>,
    finish_order: Vec<usize>,
    seq: i64,
    run_dir: PathBuf,
    /// The run's attempt journal, open once the run's folder exists.
    journal: Option<store::Journal>,
    /// For each step, how many of its dependencies have not finished yet.
    unfinished_dependencies: Vec<usize>,
    /// For each step, the steps that depend on it.
    dependents: Vec<Vec<usize>>,
    /// Pending steps whose dependencies have all finished, in declaration order.
    ready: std::collections::BTreeSet<usize>,
    /// The same for steps that are to wait for approval, which need no slot to start waiting.
    ready_to_wait: std::collections::BTreeSet<usize>,
    /// Whether any step reads other steps' outputs (`consumes`, `condition`, `skip_if`); if none
    /// does, a step's output file is read only when it must provide keys.
    outputs_read: bool,
    /// How many steps wait for approval now (they take no `max_concurrency` slot).
    awaiting: usize,
    /// A read connection to the history, opened when a step first waits for approval: where
    /// `weft approve` and `weft reject` leave their decisions.
    decisions: Option<Store>,
    /// The history's `data_version` when decisions were last read: unchanged, nothing to read.
    decisions_seen: Option<i64>,
    /// Prometheus metrics, when the run writes them.
    metrics: Option<super::metrics::Metrics>,
}

impl Coordinator {
    pub fn new(plan: ExecPlan, context: RunContext) -> std::io::Result<Coordinator> {
        let (sender, receiver) = channel();
        let children = Children::new()?;
        let selection = context.selection.clone();
        let mut states: Vec<StepState> =
            (0..plan.steps.len()).map(|i| StepState::new(selection.as_ref().is_none_or(|s| s[i]))).collect();
        for (index, step) in plan.steps.iter().enumerate() {
            if let Some((status, attempts, outputs)) = context.carried.get(&step.id) {
                states[index].attempt = *attempts;
                if *status == StepStatus::Succeeded {
                    states[index].status = StepStatus::Succeeded;
                    states[index].outputs = outputs.clone();
                }
                // Only a step the user skipped is carried as skipped (`engine::resume_with`).
                if *status == StepStatus::Skipped {
                    states[index].status = StepStatus::Skipped;
                    states[index].overridden = true;
                }
            }
        }
        // A failure its (succeeded) fallback recovered stays recovered when the run is resumed:
        // running it again would leave it failed, with no fallback left to stand in.
        for (index, step) in plan.steps.iter().enumerate() {
            let carried = context.carried.get(&step.id).map(|(status, _, _)| *status);
            let fallback_succeeded = step.fallback.is_some_and(|f| states[f].status == StepStatus::Succeeded);
            if let Some(status @ (StepStatus::Failed | StepStatus::TimedOut)) = carried.filter(|_| fallback_succeeded) {
                states[index].status = status;
                states[index].recovered = true;
            }
        }
        // Invariant: no step starts before every step upstream of it, however far, has finished in
        // this run. A step that finished before the run was resumed but has a step upstream that
        // runs again waits for it, and so do the steps after it
        // (`tests/engine_resume.rs`, `a_resumed_run_never_starts_a_step_before_its_upstream`).
        // Held: a step carried from before the resume with a dependency that has not finished;
        // then every carried step downstream of a held one, in one walk.
        let carried = |state: &StepState| {
            state.status == StepStatus::Succeeded || (state.status == StepStatus::Skipped && state.overridden)
        };
        let mut downstream = vec![Vec::new(); plan.steps.len()];
        for (index, step) in plan.steps.iter().enumerate() {
            for &dependency in &step.dependencies {
                downstream[dependency].push(index);
            }
        }
        let mut held: Vec<usize> = (0..plan.steps.len())
            .filter(|&index| carried(&states[index]))
            .filter(|&index| plan.steps[index].dependencies.iter().any(|&d| !states[d].finished()))
            .collect();
        for &index in &held {
            states[index].carried = Some(states[index].status);
        }
        while let Some(index) = held.pop() {
            states[index].status = StepStatus::Pending;
            for &dependent in &downstream[index] {
                if states[dependent].carried.is_none() && carried(&states[dependent]) {
                    states[dependent].carried = Some(states[dependent].status);
                    held.push(dependent);
                }
            }
        }
        let run_dir = store::run_dir(&context.workspace, context.run);
        let plan_reads_outputs = !plan.expected_outputs.is_empty()
            || plan.steps.iter().any(|s| !s.consumes.is_empty() || s.condition.is_some() || !s.skip_if.is_empty());
        let seq = context.first_event_seq;
        let mut dependents = vec![Vec::new(); plan.steps.len()];
        let mut unfinished_dependencies = vec![0; plan.steps.len()];
        let mut ready = std::collections::BTreeSet::new();
        for (index, step) in plan.steps.iter().enumerate() {
            let mut dependencies = step.dependencies.clone();
            dependencies.sort_unstable();
            dependencies.dedup();
            for dependency in dependencies {
                dependents[dependency].push(index);
                if !states[dependency].finished() {
                    unfinished_dependencies[index] += 1;
                }
            }
            if unfinished_dependencies[index] == 0 {
                ready.insert(index);
            }
        }
        // Steps that are to wait for approval need no slot to start waiting.
        let (ready_to_wait, ready): (std::collections::BTreeSet<usize>, _) =
            ready.into_iter().partition(|&index| plan.steps[index].approval.is_some());
        let mut metrics = plan.metrics.clone().map(|path| super::metrics::Metrics::new(path, &plan, context.run));
        // A resumed run's steps carried from before are in its metrics from the start.
        if let Some(metrics) = metrics.as_mut() {
            for (index, state) in states.iter().enumerate() {
                if state.status != StepStatus::Pending {
                    metrics.set_step_status(index, state.status.recorded());
                }
            }
        }
        Ok(Coordinator {
            plan: std::sync::Arc::new(plan),
            context,
            states,
            sender,
            receiver,
            cancel_requests: Arc::new(AtomicU64::new(0)),
            children,
            slurm: None,
            fake: None,
            reports: Vec::new(),
            not_started: Vec::new(),
            ended_during_hooks: Vec::new(),
            timers: Vec::new(),
            running: 0,
            canceled: false,
            aborted: false,
            quarantined: false,
            failures_in_a_row: HashMap::new(),
            open_circuits: Vec::new(),
            circuit_opened_by: None,
            run_started: Instant::now(),
            run_failure: None,
            deadline_passed: false,
            deadline_at: None,
            finish_order: Vec::new(),
            seq,
            run_dir,
            journal: None,
            unfinished_dependencies,
            dependents,
            ready_to_wait,
            ready,
            outputs_read: plan_reads_outputs,
            awaiting: 0,
            decisions: None,
            decisions_seen: None,
            metrics,
        })
    }

    pub fn step_count(&self) -> usize {
        self.plan.steps.len()
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            sender: self.sender.clone(),
            waker: self.children.waker(),
            requests: self.cancel_requests.clone(),
        }
    }

    /// Runs to the end and returns the run's final status.
    pub fn run(mut self) -> (RunStatus, StoreWriter) {
        process::prefer_short_time_slices();
        self.run_started = Instant::now();
        let start_point = if self.context.resumed { "run_resumed" } else { "workflow_started" };
        let mut data = json!({ "file": self.plan.file, "workflow_id": self.plan.workflow_id });
        self.context.overrides.record(&mut data);
        self.event(if self.context.resumed { EventKind::RunResumed } else { EventKind::RunStarted }, None, data);
        self.reattach();
        // The gate at the run's edge (SPEC §6): what is missing for any step that is known now is
        // reported at once, and nothing runs, not even a hook.
        let missing = self.missing_before_the_run();
        if !missing.is_empty() {
            self.context.hooks = Hooks::none();
            self.mark_unselected();
            self.stop_before_the_run(missing);
            return self.finish();
        }
        self.fire_hooks(start_point, None, None);
        self.mark_unselected();
        if let Some(deadline) = self.plan.run_timeout {
            self.deadline_at = Some(self.run_started + deadline);
            self.timers.push((self.run_started + deadline, Timer::Deadline));
        }
        loop {
            self.start_ready();
            let mut handled = self.take_cancel_requests();
            for (step, attempt, error) in std::mem::take(&mut self.not_started) {
                self.exited(step, attempt, Err(error), Default::default(), Instant::now());
                handled = true;
            }
            for ended in std::mem::take(&mut self.ended_during_hooks) {
                self.ended(ended);
                handled = true;
            }
            if handled {
                continue;
            }
            if self.running == 0
                && self.awaiting == 0
                && !self.timers.iter().any(|(_, t)| matches!(t, Timer::Retry { .. }))
            {
                break;
            }
            // What this turn changed goes to the store before the wait: a checkpoint per transition.
            self.checkpoint();
            // The metrics file's held update (once a second at most) is a timer too.
            let metrics_due = self.metrics.as_ref().and_then(super::metrics::Metrics::due);
            let timeout = self
                .timers
                .iter()
                .map(|(at, _)| *at)
                .chain(metrics_due)
                .min()
                .map(|at| at.saturating_duration_since(Instant::now()));
            for ended in self.children.wait(timeout) {
                self.ended(ended);
            }
            for ended in self.collect_reports() {
                self.ended(ended);
            }
            if let Some(metrics) = self.metrics.as_mut() {
                metrics.flush();
            }
            if self.timers.iter().any(|(at, _)| *at <= Instant::now()) {
                self.fire_due_timers(true);
            }
        }
        self.finish()
    }

    fn mark_unselected(&mut self) {
        for index in 0..self.states.len() {
            if !self.states[index].selected
                && self.states[index].status == StepStatus::Pending
                && self.states[index].carried.is_none()
            {
                self.set_final(index, StepStatus::Skipped, Some("not selected".into()));
            }
        }
    }

    /// Starts (or skips, or fails) ready steps in declaration order while there is room; steps
    /// that are to wait for approval start waiting whether or not there is room.
    fn start_ready(&mut self) {
        loop {
            let index = match self.ready_to_wait.pop_first() {
                Some(index) => index,
                None if self.running < self.plan.max_concurrency => match self.ready.pop_first() {
                    Some(index) => index,
                    None => return,
                },
                None => return,
            };
            if self.states[index].status != StepStatus::Pending {
                continue;
            }
            // Its upstream has finished again: it keeps what it recorded, without running.
            if let Some(status) = self.states[index].carried.take() {
                self.states[index].status = status;
                self.dependency_finished(index);
                continue;
            }
            // A fallback runs only in that role; it is made ready again when it is needed.
            if self.plan.steps[index].fallback_only && self.states[index].standing_in_for.is_none() {
                continue;
            }
            if self.canceled || self.aborted {
                self.set_final(index, StepStatus::Canceled, Some(self.stop_reason().into()));
                continue;
            }
            match self.gate(index) {
                Gate::Skip(reason) => self.set_final(index, StepStatus::Skipped, Some(reason)),
                Gate::Cancel(reason) => self.set_final(index, StepStatus::Canceled, Some(reason)),
                Gate::Fail(reason) => self.fail_final(index, StepStatus::Failed, Some(reason)),
                Gate::Go if self.plan.steps[index].approval.is_some() && !self.states[index].approved => {
                    self.wait_for_approval(index)
                }
                // An approval step with no action of its own: its approval is its success.
                Gate::Go if self.plan.steps[index].action.is_none() => {
                    self.set_final(index, StepStatus::Succeeded, None)
                }
                Gate::Go => self.start(index),
            }
        }
    }

    /// A step may start (or start waiting for approval) once the gate lets it.
    fn make_ready(&mut self, index: usize) {
        if self.plan.steps[index].approval.is_some() && !self.states[index].approved {
            self.ready_to_wait.insert(index);
        } else {
            self.ready.insert(index);
        }
    }

    /// A step is done as far as its dependents are concerned: count it off, and make the steps
    /// that were waiting only for it ready.
    fn dependency_finished(&mut self, index: usize) {
        for position in 0..self.dependents[index].len() {
            let dependent = self.dependents[index][position];
            self.unfinished_dependencies[dependent] -= 1;
            if self.unfinished_dependencies[dependent] == 0 {
                self.make_ready(dependent);
            }
        }
    }

    /// Whether a pending step may start, and if not, whether it ever will.
    fn gate(&mut self, index: usize) -> Gate {
        let step = &self.plan.steps[index];
        for &dependency in &step.dependencies {
            let state = &self.states[dependency];
            if !state.selected && self.context.selection.is_some() {
                continue; // `--stage` without `--with-deps`: unselected dependencies count as done.
            }
            if !state.finished() {
                // Not reached: a step is ready only when every dependency has finished.
                return Gate::Cancel(format!("dependency `{}` has not finished", self.plan.steps[dependency].id));
            }
            let dependency_step = &self.plan.steps[dependency];
            match state.status {
                StepStatus::Succeeded => {}
                StepStatus::Failed | StepStatus::TimedOut
                    if state.recovered || dependency_step.on_failure == FailurePolicy::Continue => {}
                StepStatus::Failed | StepStatus::TimedOut => {
                    return Gate::Skip(format!("dependency `{}` failed", dependency_step.id))
                }
                StepStatus::Skipped if state.overridden => {}
                StepStatus::Skipped => return Gate::Skip(format!("dependency `{}` was skipped", dependency_step.id)),
                StepStatus::Canceled => {
                    return Gate::Cancel(format!("dependency `{}` was canceled", dependency_step.id))
                }
                StepStatus::Pending | StepStatus::Running | StepStatus::Waiting | StepStatus::AwaitingApproval => {
                    return Gate::Cancel(format!("dependency `{}` has not finished", dependency_step.id))
                }
            }
        }
        // Building the scope costs a walk over every step: only steps with expressions pay it.
        let scope = if step.condition.is_some() || !step.skip_if.is_empty() {
            JsonScope(self.expression_scope(index))
        } else {
            JsonScope(Value::Null)
        };
        if let Some(condition) = &step.condition {
            match expr::evaluate(condition, &scope) {
                Ok(value) if expr::is_truthy(&value) => {}
                Ok(_) => return Gate::Skip(format!("condition false: {condition}")),
                Err(error) => return Gate::Fail(format!("condition could not be evaluated: {}", error.message)),
            }
        }
        for skip_if in &step.skip_if {
            match expr::evaluate(skip_if, &scope) {
                Ok(value) if expr::is_truthy(&value) => return Gate::Skip(format!("skip_if true: {skip_if}")),
                Ok(_) => {}
                Err(error) => return Gate::Fail(format!("skip_if could not be evaluated: {}", error.message)),
            }
        }
        if let Some(circuit) = self.open_circuits.iter().find(|key| **key == circuit_key(step)) {
            return Gate::Fail(format!(
                "circuit open: `{circuit}` failed {} times in a row",
                self.plan.circuit_breaker_threshold
            ));
        }
        let missing = missing_requirements(step, true);
        if !missing.is_empty() {
            return Gate::Fail(format!("requires: missing {}", missing.join(", ")));
        }
        Gate::Go
    }

    /// What the steps that will run miss that can be known before any runs (SPEC §6): the
    /// environment variables and commands of every one, and the files of those with nothing
    /// upstream that runs (a step upstream may make a file).
    fn missing_before_the_run(&self) -> Vec<(usize, Vec<String>)> {
        let mut missing = Vec::new();
        for (index, step) in self.plan.steps.iter().enumerate() {
            let requires = &step.requires;
            if requires.files.is_empty() && requires.env.is_empty() && requires.commands.is_empty() {
                continue;
            }
            let state = &self.states[index];
            if !state.selected || state.status != StepStatus::Pending {
                continue;
            }
            let nothing_upstream_runs = step.dependencies.iter().all(|&dependency| {
                let upstream = &self.states[dependency];
                (self.context.selection.is_some() && !upstream.selected) || upstream.finished()
            });
            let things = missing_requirements(step, nothing_upstream_runs);
            if !things.is_empty() {
                missing.push((index, things));
            }
        }
        // Steps set to run on a cluster need one that answers: asked once, before anything runs,
        // rather than each attempt failing at its submission.
        let on_slurm: Vec<usize> = (0..self.plan.steps.len())
            .filter(|&index| {
                let state = &self.states[index];
                self.plan.steps[index].executor == ExecutorKind::Slurm
                    && state.selected
                    && state.status == StepStatus::Pending
            })
            .collect();
        if !on_slurm.is_empty() {
            if let Err(error) = executor::slurm::cluster_answers() {
                let thing = format!("a Slurm cluster that answers ({error})");
                for index in on_slurm {
                    match missing.iter_mut().find(|(other, _)| *other == index) {
                        Some((_, things)) => things.push(thing.clone()),
                        None => missing.push((index, vec![thing.clone()])),
                    }
                }
                missing.sort_by_key(|(index, _)| *index);
            }
        }
        missing
    }

    /// Ends a run before its first step: the steps that miss something fail with what they miss,
    /// the others do not start, and the run fails naming every step and thing.
    fn stop_before_the_run(&mut self, missing: Vec<(usize, Vec<String>)>) {
        let mut parts = Vec::with_capacity(missing.len());
        for (index, things) in &missing {
            parts.push(format!("`{}` is missing {}", self.plan.steps[*index].id, things.join(", ")));
            self.set_final(*index, StepStatus::Failed, Some(format!("requires: missing {}", things.join(", "))));
        }
        for index in 0..self.states.len() {
            if self.states[index].status == StepStatus::Pending {
                let reason = "not started: the run's requirements are missing";
                self.set_final(index, StepStatus::Skipped, Some(reason.into()));
            }
        }
        self.run_failure = Some((format!("requires: {}", parts.join("; ")), missing.first().map(|(index, _)| *index)));
    }

    /// The run deadline passed: the running steps are stopped (SIGTERM, then SIGKILL after the
    /// grace period), the waiting ones canceled, and nothing starts any more; the run fails.
    fn deadline(&mut self) {
        if self.canceled || self.deadline_passed {
            return;
        }
        self.deadline_passed = true;
        self.aborted = true;
        self.run_failure.get_or_insert_with(|| ("run deadline".to_owned(), None));
        self.terminate_running();
        self.cancel_waiting("run deadline");
    }

    /// Ends the steps that wait, for a retry or for approval, as canceled.
    fn cancel_waiting(&mut self, reason: &str) {
        for index in 0..self.states.len() {
            if matches!(self.states[index].status, StepStatus::Waiting | StepStatus::AwaitingApproval) {
                self.set_final(index, StepStatus::Canceled, Some(reason.into()));
            }
        }
        self.timers.retain(|(_, timer)| {
            !matches!(timer, Timer::Retry { .. } | Timer::ApprovalTimeout { .. } | Timer::Decisions)
        });
    }

    /// A step whose dependencies allow it starts waiting for a human's decision (SPEC §6). It
    /// takes no slot; the wait is in the history at once (even with `checkpoints: false`: a
    /// person must see it to decide), and a decision already recorded (a resumed run) is found
    /// at once.
    fn wait_for_approval(&mut self, index: usize) {
        let plan = self.plan.clone();
        let step = &plan.steps[index];
        let Some(approval) = &step.approval else { return };
        let reason = format!("waiting for approval: {}", approval.prompt);
        self.states[index].status = StepStatus::AwaitingApproval;
        self.states[index].reason = Some(reason.clone());
        self.awaiting += 1;
        self.context.writer.send(Write::StepUnfinished {
            run: self.context.run,
            step: step.id.clone(),
            status: store::StepStatus::Waiting,
            reason: Some(reason),
        });
        // Committed before anyone is told: whoever sees `step_waiting` (a lens, a terminal) and
        // decides at once finds the step waiting in the history (`tests/lsp_run_views.rs`).
        self.context.writer.flush();
        let timeout_sec = approval.timeout.map(|t| t.as_secs_f64());
        self.event(
            EventKind::StepWaiting,
            Some(index),
            json!({ "prompt": approval.prompt, "timeout_sec": timeout_sec }),
        );
        if let Some(timeout) = approval.timeout {
            self.timers.push((Instant::now() + timeout, Timer::ApprovalTimeout { step: index }));
        }
        // Looked for at once, then every `DECISION_POLL` while a step waits.
        self.timers.retain(|(_, timer)| !matches!(timer, Timer::Decisions));
        self.timers.push((Instant::now(), Timer::Decisions));
        self.decisions_seen = None;
    }

    /// Reads the decisions on the steps that wait for approval, and acts on those it finds.
    fn poll_decisions(&mut self) {
        if self.awaiting == 0 {
            return;
        }
        self.timers.push((Instant::now() + DECISION_POLL, Timer::Decisions));
        if self.decisions.is_none() {
            self.decisions = Store::open_existing(&self.context.workspace).ok().flatten();
        }
        let Some(store) = &self.decisions else { return };
        // Nothing was committed by anyone since the last look: no decision to find.
        let version = store.data_version().ok();
        if version.is_some() && version == self.decisions_seen {
            return;
        }
        self.decisions_seen = version;
        let found: Vec<(usize, store::Decision)> = (0..self.states.len())
            .filter(|&index| self.states[index].status == StepStatus::AwaitingApproval)
            .filter_map(|index| {
                let decision = store.decision(self.context.run, &self.plan.steps[index].id).ok().flatten()?;
                Some((index, decision))
            })
            .collect();
        for (index, decision) in found {
            self.apply_decision(index, decision);
        }
    }

    /// The decision on a waiting step: approved, its action starts when a slot is free (or, with
    /// none, it has succeeded); rejected, it fails with the reason, and is not retried.
    fn apply_decision(&mut self, index: usize, decision: store::Decision) {
        if self.states[index].status != StepStatus::AwaitingApproval {
            return;
        }
        self.timers.retain(|(_, timer)| !matches!(timer, Timer::ApprovalTimeout { step } if *step == index));
        let data = json!({ "by": decision.by, "at": decision.at, "reason": decision.reason });
        if decision.approved {
            self.event(EventKind::StepApproved, Some(index), data);
            if self.plan.steps[index].action.is_none() {
                // The decision is all the step is: its reason says whose it was.
                let reason = match &decision.reason {
                    Some(reason) => format!("approved by {}: {reason}", decision.by),
                    None => format!("approved by {}", decision.by),
                };
                self.set_final(index, StepStatus::Succeeded, Some(reason));
                return;
            }
            self.awaiting -= 1;
            let state = &mut self.states[index];
            state.status = StepStatus::Pending;
            state.approved = true;
            state.reason = None;
            self.context.writer.send(Write::StepUnfinished {
                run: self.context.run,
                step: self.plan.steps[index].id.clone(),
                status: store::StepStatus::Pending,
                reason: None,
            });
            self.ready.insert(index);
        } else {
            self.event(EventKind::StepRejected, Some(index), data);
            let reason = match &decision.reason {
                Some(reason) => format!("rejected by {}: {reason}", decision.by),
                None => format!("rejected by {}", decision.by),
            };
            self.states[index].not_run = true;
            self.fail_final(index, StepStatus::Failed, Some(reason));
        }
    }

    /// A step's wait for approval ran out: a decision that came just in time wins, else it fails.
    fn approval_timed_out(&mut self, index: usize) {
        if self.states[index].status != StepStatus::AwaitingApproval {
            return;
        }
        let decision = self
            .decisions
            .as_ref()
            .and_then(|store| store.decision(self.context.run, &self.plan.steps[index].id).ok().flatten());
        if let Some(decision) = decision {
            self.apply_decision(index, decision);
            return;
        }
        let seconds = self.plan.steps[index].approval.as_ref().and_then(|a| a.timeout).map_or(0.0, |t| t.as_secs_f64());
        self.states[index].not_run = true;
        self.fail_final(index, StepStatus::Failed, Some(format!("no approval within {seconds} s")));
    }

    /// Why steps that did not start, or were stopped, did not run to their end.
    fn stop_reason(&self) -> &'static str {
        if self.canceled {
            "run canceled"
        } else if self.deadline_passed {
            "run deadline"
        } else {
            "run aborted"
        }
    }

    /// Creates the run's log folder and opens its journal, once; returns the journal.
    fn run_dir_and_journal(&mut self) -> Result<&mut store::Journal, String> {
        if self.journal.is_none() {
            std::fs::create_dir_all(&self.run_dir)
                .map_err(|error| format!("cannot create the log folder {}: {error}", self.run_dir.display()))?;
            let journal = store::Journal::open(&self.run_dir).map_err(|error| {
                format!("cannot open the journal {}: {error}", store::journal_path(&self.run_dir).display())
            })?;
            self.journal = Some(journal);
        }
        Ok(self.journal.as_mut().expect("opened above"))
    }

    /// `steps.<id>.status`, `steps.<id>.outputs.<key>`, `env.NAME`, `inputs.<name>`, `stage.id`.
    fn expression_scope(&self, index: usize) -> Value {
        let step = &self.plan.steps[index];
        let steps: serde_json::Map<String, Value> = self
            .plan
            .steps
            .iter()
            .zip(&self.states)
            .map(|(other, state)| {
                (other.id.clone(), json!({ "status": state.status.as_str(), "outputs": state.outputs }))
            })
            .collect();
        let mut env: serde_json::Map<String, Value> = std::env::vars().map(|(k, v)| (k, Value::String(v))).collect();
        env.extend(step.env.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))));
        json!({ "steps": steps, "env": env, "inputs": step.inputs, "stage": { "id": step.id } })
    }

    fn start(&mut self, index: usize) {
        // A blocking `before_stage_execute` hook that fails stops the stage.
        let canceled_meanwhile = self.canceled_from_now();
        let blocked = self.fire_hooks("before_stage_execute", Some(index), None);
        // The run was canceled while its hooks ran: the stage does not start.
        if canceled_meanwhile() {
            self.take_cancel_requests();
            self.set_final(index, StepStatus::Canceled, Some("run canceled".into()));
            return;
        }
        // Nor when the run deadline passed meanwhile.
        if self.deadline_at.is_some_and(|at| Instant::now() >= at) {
            self.deadline();
            self.set_final(index, StepStatus::Canceled, Some("run deadline".into()));
            return;
        }
        if let Some(reason) = blocked {
            self.fail_final(index, StepStatus::Failed, Some(reason));
            return;
        }
        let plan = self.plan.clone();
        let state = &mut self.states[index];
        state.attempt += 1;
        state.timed_out = false;
        let attempt = state.attempt;
        let step = &plan.steps[index];
        let dir = self.run_dir.clone();
        let file = |stream: &str| store::attempt_file(&dir, &step.id, attempt, stream);
        self.states[index].status = StepStatus::Running;
        self.states[index].started = Some(Instant::now());
        self.running += 1;
        let at = store::now();
        // The attempt is in the journal before its process exists (see `store::journal`).
        let journaled = self.run_dir_and_journal().and_then(|journal| {
            journal
                .record_start(&step.id, attempt, &at)
                .map_err(|error| format!("cannot record the attempt in the run's journal: {error}"))
        });
        let spawned = journaled.and_then(|()| {
            let action = step.action.as_ref().ok_or_else(|| format!("`{}` has nothing to run", step.id))?;
            let launch = Launch { action, env: self.environment(index, attempt, file("output")), cwd: &step.cwd };
            let start = AttemptStart {
                index,
                attempt,
                step,
                launch,
                logs: [file("stdout"), file("stderr")],
                scratch: file("job"),
                name: executor::job_name(&self.context.token, &step.id, attempt),
            };
            self.executor(step.executor)
                .start(start)
                .map_err(|error| format!("cannot start `{}`: {error}", action.program()))
        });
        let (pid, executor_id) = match spawned.as_ref() {
            Ok(executor::Started::Group(pid)) => (Some(*pid), None),
            Ok(executor::Started::Id(id)) => (None, Some(id.clone())),
            Ok(executor::Started::Later) | Err(_) => (None, None),
        };
        // One write records the start and the executor's id of it (a process group; a job id
        // comes later). It reaches the history up to a commit interval later; until then the
        // journal and the run's token (or the job's name) stand for it.
        self.context.writer.send(Write::StepStarted {
            run: self.context.run,
            step: step.id.clone(),
            attempt: i64::from(attempt),
            at,
            log_dir: dir.display().to_string(),
            pid,
            executor: step.executor.as_str(),
            executor_id,
        });
        self.event(EventKind::StepStarted, Some(index), json!({ "attempt": attempt }));
        match spawned {
            // A queued attempt's time limit counts from when it leaves the queue (`Report::Running`).
            Ok(_) if !self.executor(step.executor).queues() => self.arm_timeout(index, attempt),
            Ok(_) => {}
            Err(error) => self.not_started.push((index, attempt, error)),
        }
    }

    /// The variables a step's attempt gets on top of the engine's environment, in order (a later
    /// one wins): the step's `env`, then weft's own.
    fn environment(&self, index: usize, attempt: u32, output: PathBuf) -> Vec<(String, OsString)> {
        let step = &self.plan.steps[index];
        let mut env: Vec<(String, OsString)> = step.env.iter().map(|(k, v)| (k.clone(), v.into())).collect();
        env.push(("WEFT_RUN_ID".into(), self.context.run.to_string().into()));
        env.push(("WEFT_RUN_TOKEN".into(), (&self.context.token).into()));
        env.push(("WEFT_WORKFLOW_ID".into(), (&self.plan.workflow_id).into()));
        env.push(("WEFT_STAGE_ID".into(), (&step.id).into()));
        env.push(("WEFT_ATTEMPT".into(), attempt.to_string().into()));
        env.push(("WEFT_OUTPUT".into(), output.into()));
        if !step.inputs.is_null() {
            env.push(("WEFT_INPUTS".into(), step.inputs.to_string().into()));
            if let Value::Object(inputs) = &step.inputs {
                for (name, value) in inputs {
                    let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                    env.push((format!("WEFT_INPUT_{}", name.to_uppercase()), text.into()));
                }
            }
        }
        for key in &step.consumes {
            if let Some(value) = self.consumed_value(index, key) {
                env.push((format!("WEFT_IN_{}", key.to_uppercase()), value.into()));
            }
        }
        env
    }

    /// The value of a consumed key: from the nearest upstream step that provided it.
    fn consumed_value(&self, index: usize, key: &str) -> Option<String> {
        let mut stack = self.plan.steps[index].dependencies.clone();
        let mut seen = vec![false; self.plan.steps.len()];
        while let Some(current) = stack.pop() {
            if std::mem::replace(&mut seen[current], true) {
                continue;
            }
            if let Some(value) = self.states[current].outputs.get(key) {
                return Some(value.clone());
            }
            stack.extend(&self.plan.steps[current].dependencies);
        }
        // A fallback gets what the step it stands in for could have consumed.
        self.states[index].standing_in_for.and_then(|owner| self.consumed_value(owner, key))
    }

    /// An attempt ended (or could not start) at `ended`, with the last of its stdout and stderr.
    fn exited(
        &mut self,
        index: usize,
        attempt: u32,
        exit: Result<Exit, String>,
        tails: (String, String),
        ended: Instant,
    ) {
        let stop_reason = self.stop_reason();
        let state = &mut self.states[index];
        if state.attempt != attempt || state.status != StepStatus::Running {
            return;
        }
        self.running -= 1;
        self.timers.retain(
            |(_, timer)| !matches!(timer, Timer::Timeout { step, .. } | Timer::Kill { step, .. } if *step == index),
        );
        // Whatever the step left running went with it when its executor saw it end: no orphans.
        let duration_ms = state.started.map_or(0, |s| ended.saturating_duration_since(s).as_millis() as i64);
        state.duration_ms = Some(duration_ms);
        // The wall-clock time of the end, which may have been a while ago (during a hook).
        let ended_at = store::format_time(std::time::SystemTime::now() - ended.elapsed());
        let plan = self.plan.clone();
        let step = &plan.steps[index];
        let file = |stream: &str| store::attempt_file(&self.run_dir, &step.id, attempt, stream);
        let outputs = if self.outputs_read || !step.provides.is_empty() || !step.expected_outputs.is_empty() {
            read_outputs(&file("output"))
        } else {
            BTreeMap::new()
        };
        let exit_kind = match &exit {
            Ok(Exit::Code(code)) => Some(fingerprint::ExitKind::Code(*code)),
            Ok(Exit::Signal(signal)) => Some(fingerprint::ExitKind::Signal(*signal)),
            Err(_) => None,
        };
        let (status, exit_code, reason) = match exit {
            Err(error) => (StepStatus::Failed, None, Some(error)),
            Ok(_) if state.timed_out => {
                let seconds = step.timeout.map_or(0.0, |t| t.as_secs_f64());
                let reason = if step.timeout_is_limit {
                    format!("timed out at the limit `max_step_duration_sec` ({seconds} s)")
                } else {
                    format!("timed out after {seconds} s")
                };
                (StepStatus::TimedOut, None, Some(reason))
            }
            Ok(_) if self.canceled || self.aborted => (StepStatus::Canceled, None, Some(stop_reason.into())),
            Ok(Exit::Signal(signal)) => (StepStatus::Failed, None, Some(format!("killed by signal {signal}"))),
            Ok(Exit::Code(code)) if !step.expected_exit_codes.contains(&i64::from(code)) => {
                // A plain failure's exit code says it all: `reason` is for skips, timeouts and gates
                // (SPEC §10), and an `expect.exit_code` list is a gate.
                let reason = (step.expected_exit_codes != [0]).then(|| {
                    let codes: Vec<String> = step.expected_exit_codes.iter().map(i64::to_string).collect();
                    format!("expect: exit code {code} is not one of {}", codes.join(", "))
                });
                (StepStatus::Failed, Some(i64::from(code)), reason)
            }
            Ok(Exit::Code(code)) => {
                let missing: Vec<&String> = step
                    .provides
                    .iter()
                    .chain(&step.expected_outputs)
                    .filter(|key| !outputs.contains_key(*key))
                    .collect();
                if missing.is_empty() {
                    (StepStatus::Succeeded, Some(i64::from(code)), None)
                } else {
                    let names: Vec<String> = missing.iter().map(|k| format!("`{k}`")).collect();
                    (
                        StepStatus::Failed,
                        Some(i64::from(code)),
                        Some(format!("expect: did not write {} to $WEFT_OUTPUT", names.join(", "))),
                    )
                }
            }
        };
        state.outputs = outputs;
        state.exit_code = exit_code;
        state.reason = reason.clone();
        let (stdout_tail, stderr_tail) = tails;
        state.fingerprint = None;
        if matches!(status, StepStatus::Failed | StepStatus::TimedOut) {
            // A failure seen before is counted, not filed afresh (SPEC §7): by its step or plugin,
            // how it ended and its error text normalised.
            let exit_kind = match exit_kind {
                _ if status == StepStatus::TimedOut => fingerprint::ExitKind::TimedOut,
                Some(kind) => kind,
                None => fingerprint::ExitKind::DidNotStart,
            };
            let mut text = if stderr_tail.trim().is_empty() { stdout_tail.clone() } else { stderr_tail.clone() };
            if let Some(reason) = &reason {
                text.push('\n');
                text.push_str(reason);
            }
            let subject = step.plugin.as_deref().map_or_else(|| step.id.clone(), |plugin| format!("plugin {plugin}"));
            let found = fingerprint::fingerprint(&subject, exit_kind, &text);
            self.context.writer.send(Write::Failure(store::NewFailure {
                fingerprint: found.id.clone(),
                class: found.class.as_str().to_owned(),
                at: ended_at.clone(),
                subject,
                normalized: found.normalized,
                run: Some(self.context.run),
                step: Some(step.id.clone()),
                attempt: Some(i64::from(attempt)),
                session: None,
                phase: None,
            }));
            self.states[index].fingerprint = Some(found.id);
        }
        self.context.writer.send(Write::AttemptFinished {
            run: self.context.run,
            step: step.id.clone(),
            attempt: i64::from(attempt),
            status: status.recorded(),
            exit_code,
            at: ended_at,
            duration_ms,
            stdout_tail,
            stderr_tail,
        });
        self.fire_hooks("after_stage_execute", Some(index), Some(status));
        let retryable = matches!(status, StepStatus::Failed | StepStatus::TimedOut) && !self.canceled && !self.aborted;
        if retryable && attempt <= step.retries {
            let delay = self.backoff(attempt);
            self.states[index].status = StepStatus::Waiting;
            self.timers.push((Instant::now() + delay, Timer::Retry { step: index }));
            self.event(EventKind::StepRetryScheduled, Some(index), json!({ "attempt": attempt, "next_attempt": attempt + 1, "delay_ms": delay.as_millis() as u64, "exit_code": exit_code, "reason": reason }));
            self.fire_hooks("stage_retry", Some(index), Some(status));
            return;
        }
        if status == StepStatus::Succeeded {
            self.failures_in_a_row.remove(&circuit_key(step));
            self.set_final(index, status, None);
            if let Some(owner) = self.states[index].standing_in_for {
                self.states[owner].recovered = true;
                self.states[owner].awaiting_fallback = false;
                self.event(EventKind::StepRecovered, Some(owner), json!({ "fallback": self.plan.steps[index].id }));
                self.dependency_finished(owner);
            }
        } else {
            self.fail_final(index, status, reason);
        }
    }

    /// A final failure: count it for the circuit breaker and apply the step's failure policy.
    fn fail_final(&mut self, index: usize, status: StepStatus, reason: Option<String>) {
        let plan = self.plan.clone();
        let step = &plan.steps[index];
        let key = circuit_key(step);
        // A rejection, or no decision in time, is no failure of the step's command.
        let counted = !self.states[index].not_run;
        let count = if counted {
            let count = self.failures_in_a_row.entry(key.clone()).or_default();
            *count += 1;
            *count
        } else {
            0
        };
        if counted
            && count >= self.plan.circuit_breaker_threshold
            && !self.open_circuits.contains(&key)
            && status != StepStatus::Canceled
        {
            self.open_circuits.push(key.clone());
            self.quarantined = true;
            if self.circuit_opened_by.is_none() {
                let error = format!("circuit open: `{key}` failed {count} times in a row");
                self.circuit_opened_by = Some((index, error));
            }
            self.event(EventKind::CircuitOpened, Some(index), json!({ "key": key, "failures": count }));
        }
        // With a fallback to run, the step is not finished for its dependents until the fallback is.
        let fallback = (step.on_failure == FailurePolicy::Fallback && status != StepStatus::Canceled)
            .then_some(step.fallback)
            .flatten()
            .filter(|&f| self.states[f].status == StepStatus::Pending);
        self.states[index].awaiting_fallback = fallback.is_some();
        self.set_final(index, status, reason);
        if let Some(owner) = self.states[index].standing_in_for {
            // A fallback that failed leaves the step it stood in for failed.
            self.states[owner].awaiting_fallback = false;
            self.dependency_finished(owner);
        }
        if step.on_failure == FailurePolicy::Abort && step.required {
            self.aborted = true;
            self.terminate_running();
            // Nothing more starts: a step that waits for approval waits no longer.
            for other in 0..self.states.len() {
                if self.states[other].status == StepStatus::AwaitingApproval {
                    self.set_final(other, StepStatus::Canceled, Some("run aborted".into()));
                }
            }
        }
        if let Some(fallback) = fallback {
            self.states[fallback].standing_in_for = Some(index);
            self.event(EventKind::FallbackStarted, Some(fallback), json!({ "for": step.id }));
            if self.unfinished_dependencies[fallback] == 0 {
                self.make_ready(fallback);
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let backoff = &self.plan.backoff;
        let exponential = backoff.base.as_secs_f64() * backoff.factor.powi(attempt.saturating_sub(1) as i32);
        let capped = exponential.min(backoff.max.as_secs_f64());
        // Full jitter between half and all of the delay keeps retries of many steps apart.
        Duration::from_secs_f64(capped * (0.5 + fastrand::f64() * 0.5))
    }

    /// Fires the timers that are due; retries, and what acts on a wait for approval, only when
    /// `retries` (starting a step, or ending one, fires hooks: not while a hook runs).
    fn fire_due_timers(&mut self, retries: bool) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = self.timers.drain(..).partition(|(at, timer)| {
            *at <= now
                && (retries || !matches!(timer, Timer::Retry { .. } | Timer::ApprovalTimeout { .. } | Timer::Decisions))
        });
        self.timers = later;
        for (_, timer) in due {
            match timer {
                Timer::Timeout { step, attempt } => {
                    let state = &mut self.states[step];
                    if state.attempt == attempt && state.status == StepStatus::Running {
                        state.timed_out = true;
                        self.stop_attempt(step, attempt, Stop::Term);
                        self.timers.push((now + self.plan.kill_grace, Timer::Kill { step, attempt }));
                        self.event(EventKind::StepTimeout, Some(step), json!({ "attempt": attempt }));
                    }
                }
                Timer::Kill { step, attempt } => {
                    let state = &self.states[step];
                    if state.attempt == attempt && state.status == StepStatus::Running {
                        self.stop_attempt(step, attempt, Stop::Kill);
                    }
                }
                Timer::Deadline => self.deadline(),
                Timer::ApprovalTimeout { step } => self.approval_timed_out(step),
                Timer::Decisions => self.poll_decisions(),
                Timer::Retry { step } => {
                    if self.states[step].status == StepStatus::Waiting {
                        self.states[step].status = StepStatus::Pending;
                        if self.canceled || self.aborted {
                            self.set_final(step, StepStatus::Canceled, Some(self.stop_reason().into()));
                        } else if self.running >= self.plan.max_concurrency {
                            // A retry never exceeds max_concurrency: start_ready starts it when a slot frees.
                            self.ready.insert(step);
                        } else {
                            self.start(step);
                        }
                    }
                }
            }
        }
    }

    fn cancel_all(&mut self, reason: &str) {
        if self.canceled {
            return;
        }
        self.canceled = true;
        self.event(EventKind::RunCancelRequested, None, json!({ "reason": reason }));
        self.terminate_running();
        self.cancel_waiting("run canceled");
    }

    /// Asks every running attempt to stop (TERM); the kill timers follow after the grace.
    fn terminate_running(&mut self) {
        let now = Instant::now();
        for index in 0..self.states.len() {
            let state = &self.states[index];
            if state.status == StepStatus::Running {
                let attempt = state.attempt;
                self.stop_attempt(index, attempt, Stop::Term);
                self.timers.push((now + self.plan.kill_grace, Timer::Kill { step: index, attempt }));
            }
        }
    }

    /// Watches again the attempts a dead engine left to a cluster (`weft resume`): they run (or
    /// ended) there, so they are neither started again nor counted as lost.
    fn reattach(&mut self) {
        for (step, attempt, job) in std::mem::take(&mut self.context.reattach) {
            let Some(index) = self.plan.step_index(&step) else { continue };
            if self.states[index].status != StepStatus::Pending {
                continue;
            }
            self.ready.remove(&index);
            self.ready_to_wait.remove(&index);
            let state = &mut self.states[index];
            state.status = StepStatus::Running;
            state.attempt = attempt;
            state.timed_out = false;
            state.started = Some(Instant::now());
            self.running += 1;
            let file = |stream: &str| store::attempt_file(&self.run_dir, &step, attempt, stream);
            let logs = [file("stdout"), file("stderr")];
            let waker = self.children.waker();
            // Its time limit counts again from when the watch finds it running (the first poll, if
            // it already runs): the dead engine's timer is gone with it.
            self.slurm.get_or_insert_with(|| Slurm::new(waker)).reattach(index, attempt, job.clone(), logs);
            self.context.writer.send(Write::StepUnfinished {
                run: self.context.run,
                step: step.clone(),
                status: StepStatus::Running.recorded(),
                reason: None,
            });
            self.event(
                EventKind::StepReattached,
                Some(index),
                json!({ "attempt": attempt, "executor": "slurm", "job_id": job }),
            );
        }
    }

    /// The executor of steps that run on `kind`, started when first needed.
    fn executor(&mut self, kind: ExecutorKind) -> &mut dyn Executor {
        match kind {
            ExecutorKind::Local => &mut self.children,
            ExecutorKind::Slurm => {
                let waker = self.children.waker();
                self.slurm.get_or_insert_with(|| Slurm::new(waker))
            }
            ExecutorKind::Fake => {
                let waker = self.children.waker();
                self.fake.get_or_insert_with(|| Fake::new(waker))
            }
        }
    }

    /// Asks the executor of a step's attempt to stop it.
    fn stop_attempt(&mut self, index: usize, attempt: u32, how: Stop) {
        let kind = self.plan.steps[index].executor;
        self.executor(kind).stop(index, attempt, how);
    }

    /// Takes what remote executors reported: records the ids clusters gave, queues attempts that
    /// could not start, and returns the attempts that ended.
    /// Starts counting the attempt's `timeout_sec`.
    fn arm_timeout(&mut self, step: usize, attempt: u32) {
        if let Some(timeout) = self.plan.steps[step].timeout {
            self.timers.push((Instant::now() + timeout, Timer::Timeout { step, attempt }));
        }
    }

    fn collect_reports(&mut self) -> Vec<Ended> {
        if let Some(slurm) = self.slurm.as_mut() {
            slurm.collect(&mut self.reports);
        }
        if let Some(fake) = self.fake.as_mut() {
            fake.collect(&mut self.reports);
        }
        if self.reports.is_empty() {
            return Vec::new();
        }
        let mut ended = Vec::new();
        for report in std::mem::take(&mut self.reports) {
            match report {
                Report::Submitted { step, attempt, id } => {
                    self.context.writer.send(Write::AttemptSubmitted {
                        run: self.context.run,
                        step: self.plan.steps[step].id.clone(),
                        attempt: i64::from(attempt),
                        executor_id: id.clone(),
                    });
                    // The job id is in the history at the next commit, before anything else can
                    // happen to the attempt that a resumed engine would need it for.
                    self.context.writer.submit();
                    self.event(
                        EventKind::StepSubmitted,
                        Some(step),
                        json!({ "attempt": attempt, "executor": "slurm", "job_id": id }),
                    );
                }
                Report::Running { step, attempt, id } => {
                    if self.states[step].attempt == attempt && self.states[step].status == StepStatus::Running {
                        self.arm_timeout(step, attempt);
                        self.event(EventKind::StepJobRunning, Some(step), json!({ "attempt": attempt, "job_id": id }));
                    }
                }
                Report::NotStarted { step, attempt, error } => self.not_started.push((step, attempt, error)),
                Report::Ended(end) => ended.push(end),
            }
        }
        ended
    }

    /// An attempt ended, as its executor saw it.
    fn ended(&mut self, ended: Ended) {
        let Ended { step, attempt, exit, at, stdout_tail, stderr_tail, failure } = ended;
        let exit = match failure {
            Some(failure) => Err(failure),
            None => Ok(exit),
        };
        self.exited(step, attempt, exit, (stdout_tail, stderr_tail), at);
    }

    fn set_final(&mut self, index: usize, status: StepStatus, reason: Option<String>) {
        if self.states[index].status == StepStatus::AwaitingApproval {
            self.awaiting -= 1;
        }
        let state = &mut self.states[index];
        state.status = status;
        state.reason = reason.clone();
        let finished = !state.awaiting_fallback;
        self.finish_order.push(index);
        let step = &self.plan.steps[index];
        self.context.writer.send(Write::StepState {
            run: self.context.run,
            step: step.id.clone(),
            status: status.recorded(),
            attempts: i64::from(state.attempt),
            exit_code: state.exit_code,
            duration_ms: state.duration_ms,
            reason: reason.clone(),
            at: store::now(),
        });
        let kind = EventKind::of_step_status(status);
        let mut data = json!({ "attempt": state.attempt, "exit_code": state.exit_code, "duration_ms": state.duration_ms, "reason": reason });
        if let Some(fingerprint) =
            state.fingerprint.as_ref().filter(|_| matches!(status, StepStatus::Failed | StepStatus::TimedOut))
        {
            data["fingerprint"] = fingerprint.as_str().into();
        }
        self.event(kind, Some(index), data);
        if finished {
            self.dependency_finished(index);
        }
        if status == StepStatus::Skipped && reason.as_deref() != Some("not selected") {
            self.fire_hooks("stage_skipped", Some(index), Some(status));
        }
        if self.plan.checkpoints {
            self.fire_hooks("checkpoint_created", Some(index), Some(status));
        }
    }

    /// Hands what changed to the store, to be committed at once: unless the plan turned
    /// checkpoints off, in which case everything is committed when the run ends (`finish`).
    fn checkpoint(&mut self) {
        if self.plan.checkpoints {
            self.context.writer.submit();
        }
    }

    /// Runs the hooks of a point; returns why a blocking hook stopped the stage, if one did.
    fn fire_hooks(&mut self, point: &str, step: Option<usize>, status: Option<StepStatus>) -> Option<String> {
        if !self.context.hooks.has(point) {
            return None;
        }
        let state = step.map(|index| &self.states[index]);
        let context = json!({
            "hook": point,
            "workflow_id": self.plan.workflow_id,
            "run_id": self.context.run,
            "stage_id": step.map(|index| self.plan.steps[index].id.clone()),
            "stage_name": step.and_then(|index| self.plan.steps[index].name.clone()),
            // Before a stage starts, its context names the attempt about to begin.
            "attempt": state.map(|s| if point == "before_stage_execute" { s.attempt + 1 } else { s.attempt }),
            "status": status.or(state.map(|s| s.status)).map(StepStatus::as_str),
            "duration_ms": state.and_then(|s| s.duration_ms),
            "error": state.and_then(|s| s.reason.clone().or_else(|| s.exit_code.filter(|code| *code != 0).map(|code| format!("exit {code}")))),
            "run_status": self.provisional_status(),
        });
        self.fire_hooks_with(point, step, &context)
    }

    /// Runs the hooks of a point with this context; returns why a blocking hook stopped the stage.
    fn fire_hooks_with(&mut self, point: &str, step: Option<usize>, context: &Value) -> Option<String> {
        // A hook may read the history: what happened before it is handed to the store first.
        self.checkpoint();
        // A hook is stopped when the run is canceled, or when the run deadline passes while it runs
        // (the hooks at the run's end, after the deadline, still run).
        let canceled = self.canceled_from_now();
        let deadline = self.deadline_at.filter(|at| *at > Instant::now());
        let stop = move || canceled() || deadline.is_some_and(|at| Instant::now() >= at);
        let hooks = std::mem::replace(&mut self.context.hooks, Hooks::none());
        let outcomes = hooks.fire(point, context, &stop, &mut || self.tend_steps_during_hook());
        self.context.hooks = hooks;
        let mut blocked = None;
        let deadline_passed = deadline.is_some_and(|at| Instant::now() >= at);
        for mut outcome in outcomes {
            if deadline_passed && outcome.detail == "stopped: the run was canceled" && !self.canceled {
                outcome.detail = "stopped: the run deadline passed".into();
            }
            self.event(EventKind::HookFinished, step, json!({ "point": outcome.point, "command": outcome.command, "success": outcome.success, "detail": outcome.detail }));
            if !outcome.success && outcome.blocking && point == "before_stage_execute" && blocked.is_none() {
                blocked = Some(format!("blocked by hook `{}`: {}", outcome.command, outcome.detail));
            }
        }
        blocked
    }

    /// While a hook runs on this thread: the steps' output keeps flowing to their logs, steps that
    /// end are reaped (and handled once the hook is done), and time limits are enforced (SIGTERM,
    /// then SIGKILL after the grace period). Retries wait, as starting a step fires hooks.
    fn tend_steps_during_hook(&mut self) {
        if self.running == 0 {
            return;
        }
        let ended = self.children.wait(Some(Duration::ZERO));
        self.ended_during_hooks.extend(ended);
        let remote = self.collect_reports();
        self.ended_during_hooks.extend(remote);
        self.fire_due_timers(false);
    }

    /// A check that turns true once the run is canceled after this call (for a hook or rollback
    /// action the coordinator waits for, where no message can reach it).
    fn canceled_from_now(&self) -> impl Fn() -> bool + use<> {
        let requests = self.cancel_requests.clone();
        let seen = requests.load(Ordering::SeqCst);
        move || requests.load(Ordering::SeqCst) != seen
    }

    /// Acts on the cancel requests that came; whether there were any.
    fn take_cancel_requests(&mut self) -> bool {
        let mut any = false;
        while let Ok(Message::Cancel) = self.receiver.try_recv() {
            self.cancel_all("canceled");
            any = true;
        }
        any
    }

    fn provisional_status(&self) -> RunStatus {
        if self.canceled {
            RunStatus::Canceled
        } else if self.quarantined {
            RunStatus::Quarantined
        } else if self.aborted || self.run_failure.is_some() || self.failed_required() {
            RunStatus::Failed
        } else {
            RunStatus::Running
        }
    }

    fn failed_required(&self) -> bool {
        self.plan.steps.iter().zip(&self.states).any(|(step, state)| {
            matches!(state.status, StepStatus::Failed | StepStatus::TimedOut)
                && !state.recovered
                && step.required
                && state.standing_in_for.is_none()
        })
    }

    fn finish(mut self) -> (RunStatus, StoreWriter) {
        // Fallbacks that were never needed, and anything that could not start, end as skipped.
        for index in 0..self.states.len() {
            if self.states[index].status == StepStatus::Pending {
                let reason = if self.plan.steps[index].fallback_only { "fallback not needed" } else { "not reached" };
                self.set_final(index, StepStatus::Skipped, Some(reason.into()));
            }
        }
        // Everything has ended, so what would still be running is a success, if the run's own
        // `expect` holds.
        let status = match self.provisional_status() {
            RunStatus::Running => match self.unmet_run_expectations() {
                None => RunStatus::Succeeded,
                Some(error) => {
                    self.run_failure = Some((error, None));
                    RunStatus::Failed
                }
            },
            other => other,
        };
        // A run that failed undoes what succeeded (with `rollback: true`); one canceled does not.
        let (undo, point) = match status {
            RunStatus::Succeeded => (false, "workflow_completed"),
            RunStatus::Canceled => (false, "workflow_failed"),
            RunStatus::Failed | RunStatus::Quarantined | RunStatus::Running | RunStatus::Interrupted => {
                (true, "workflow_failed")
            }
        };
        if undo && self.plan.rollback {
            self.rollback();
        }
        self.context.writer.send(Write::RunStatus { run: self.context.run, status, finished: true });
        // Whoever reacts to `run_finished` (the editor's lenses) reads the history: commit first.
        self.context.writer.flush();
        let (error, failed_step) = self.run_error(status);
        let failed_step = failed_step.map(|index| self.plan.steps[index].id.clone());
        self.event(
            EventKind::RunFinished,
            None,
            json!({ "status": status, "error": error, "failed_step": failed_step }),
        );
        if self.context.hooks.has(point) {
            // The end hooks see the run as it ended (SPEC §6), in the fields every hook has
            // (`status`, `error`, `duration_ms`) and two of their own.
            let steps_run = self.states.iter().filter(|state| state.attempt > 0).count();
            let context = json!({
                "hook": point,
                "workflow_id": self.plan.workflow_id,
                "run_id": self.context.run,
                "stage_id": null,
                "attempt": null,
                "status": status,
                "duration_ms": self.run_started.elapsed().as_millis() as u64,
                "error": error,
                "failed_step": failed_step,
                "steps_run": steps_run,
                "run_status": status,
            });
            self.fire_hooks_with(point, None, &context);
        }
        self.context.writer.flush();
        (status, self.context.writer)
    }

    /// What the run-level `expect` misses once every step has ended: files (from the file's
    /// folder) and outputs no step wrote.
    fn unmet_run_expectations(&self) -> Option<String> {
        let mut missing: Vec<String> = Vec::new();
        for file in &self.plan.expected_files {
            if !self.plan.folder.join(file).exists() {
                missing.push(format!("file `{file}`"));
            }
        }
        for key in &self.plan.expected_outputs {
            if !self.states.iter().any(|state| state.outputs.contains_key(key)) {
                missing.push(format!("output `{key}`"));
            }
        }
        (!missing.is_empty()).then(|| format!("expect: missing {}", missing.join(", ")))
    }

    /// Why a run that did not succeed ended as it did, and the step whose failure ended it.
    fn run_error(&self, status: RunStatus) -> (Option<String>, Option<usize>) {
        match status {
            RunStatus::Succeeded | RunStatus::Running | RunStatus::Interrupted => (None, None),
            RunStatus::Canceled => (Some("canceled".to_owned()), None),
            RunStatus::Quarantined => match &self.circuit_opened_by {
                Some((index, error)) => (Some(error.clone()), Some(*index)),
                None => (Some("quarantined".to_owned()), None),
            },
            RunStatus::Failed if self.run_failure.is_some() => {
                self.run_failure.clone().map_or((None, None), |(error, step)| (Some(error), step))
            }
            RunStatus::Failed => {
                // The first step to fail the run, in the order steps finished.
                let failed = self.finish_order.iter().copied().find(|&index| {
                    let (step, state) = (&self.plan.steps[index], &self.states[index]);
                    matches!(state.status, StepStatus::Failed | StepStatus::TimedOut)
                        && !state.recovered
                        && step.required
                        && state.standing_in_for.is_none()
                });
                match failed {
                    Some(index) => {
                        let state = &self.states[index];
                        let step = format!("{} `{}`", self.plan.kind.step_noun(), self.plan.steps[index].id);
                        let error = match (&state.reason, state.exit_code) {
                            // "timed out after 1 s", "timed out at the limit …"
                            (Some(reason), _) if state.status == StepStatus::TimedOut => format!("{step} {reason}"),
                            (Some(reason), _) => format!("{step} failed: {reason}"),
                            (None, Some(code)) => format!("{step} failed: exit {code}"),
                            (None, None) => format!("{step} failed"),
                        };
                        (Some(error), Some(index))
                    }
                    None => (Some("failed".to_owned()), None),
                }
            }
        }
    }

    /// `weft rollback` (see `super::rollback`): undoes the given succeeded steps, listed in the
    /// order they completed, as a failed run with `rollback: true` does (reverse order, the same
    /// events and hooks). The run's status does not change.
    pub fn roll_back(mut self, completed: Vec<usize>) -> StoreWriter {
        // Nothing runs forward here: every step is as the history recorded it.
        for state in &mut self.states {
            if let Some(status) = state.carried.take() {
                state.status = status;
            }
        }
        self.finish_order = completed;
        self.rollback();
        self.context.writer.flush();
        self.context.writer
    }

    /// Undoes succeeded steps in reverse order of completion, with their `rollback` actions.
    fn rollback(&mut self) {
        let order: Vec<usize> = self
            .finish_order
            .iter()
            .rev()
            .copied()
            .filter(|&i| self.states[i].status == StepStatus::Succeeded && self.plan.steps[i].rollback.is_some())
            .collect();
        self.event(
            EventKind::RollbackStarted,
            None,
            json!({ "steps": order.iter().map(|&i| self.plan.steps[i].id.clone()).collect::<Vec<_>>() }),
        );
        self.fire_hooks("rollback_started", None, None);
        let mut stopped = false;
        for index in order {
            let step = &self.plan.steps[index];
            let Some(action) = &step.rollback else { continue };
            self.context.writer.submit();
            let file = |stream: &str| store::attempt_file(&self.run_dir, &step.id, "rollback", stream);
            let result = std::fs::create_dir_all(&self.run_dir)
                .and_then(|()| Ok((File::create(file("stdout"))?, File::create(file("stderr"))?)));
            let outcome = match result {
                Ok((stdout, stderr)) => {
                    let mut command = process::command(action);
                    command
                        .envs(&step.env)
                        .env("WEFT_RUN_ID", self.context.run.to_string())
                        .env("WEFT_RUN_TOKEN", &self.context.token)
                        .env("WEFT_STAGE_ID", &step.id);
                    let stop = self.canceled_from_now();
                    match process::spawn(command, &step.cwd, stdout, stderr)
                        .map(|mut child| process::wait_or_stop(&mut child, None, &stop, &mut || {}))
                    {
                        Ok(Waited::Exited(status)) if status.success() => Ok(()),
                        Ok(Waited::Exited(status)) => Err(format!("exit {}", status.code().unwrap_or(-1))),
                        Ok(Waited::Stopped) => {
                            stopped = true;
                            Err("stopped: the run was canceled".to_owned())
                        }
                        Ok(Waited::TimedOut) => Err("timed out".to_owned()),
                        Ok(Waited::Failed(error)) | Err(error) => Err(error.to_string()),
                    }
                }
                Err(error) => Err(error.to_string()),
            };
            let id = step.id.clone();
            // Undone: the history shows it `rolled_back`, and a resume runs it again.
            if outcome.is_ok() {
                let at = store::now();
                self.context.writer.send(Write::StepRolledBack { run: self.context.run, step: id.clone(), at });
            }
            self.event(
                EventKind::RollbackStep,
                Some(index),
                json!({ "step": id, "success": outcome.is_ok(), "error": outcome.err() }),
            );
            // Canceled during the rollback: what is left is not undone.
            if stopped {
                break;
            }
        }
        self.event(EventKind::RollbackCompleted, None, json!({}));
        self.fire_hooks("rollback_completed", None, None);
    }

    fn event(&mut self, kind: EventKind, step: Option<usize>, data: Value) {
        self.seq += 1;
        let at = store::now();
        let step_id = step.map(|index| self.plan.steps[index].id.clone());
        if let Some(metrics) = self.metrics.as_mut() {
            metrics.observe(kind, step, &data);
        }
        // A copy for the sink (the terminal's progress, the editor) only when there is one: the
        // writer takes the data itself, and serialises it on its own thread.
        let event = self.context.sink.is_some().then(|| RunEvent {
            run: self.context.run,
            seq: self.seq,
            at: at.clone(),
            kind,
            step: step_id.clone(),
            data: data.clone(),
        });
        self.context.writer.send(Write::Event {
            run: self.context.run,
            seq: self.seq,
            at,
            kind: kind.as_str(),
            step: step_id,
            data,
        });
        if let (Some(sink), Some(event)) = (self.context.sink.as_mut(), event) {
            sink(&event);
        }
    }
}

enum Gate {
    Go,
    Skip(String),
    Cancel(String),
    Fail(String),
}

/// What a step's `requires` misses now: its environment variables (set and non-empty, as its
/// process would see them: its `env` first), its commands (on its `PATH`) and, with `files`, its
/// files (from its working folder).
fn missing_requirements(step: &ExecStep, files: bool) -> Vec<String> {
    let mut missing = Vec::new();
    if files {
        for file in &step.requires.files {
            if !step.cwd.join(file).exists() {
                missing.push(format!("file `{file}`"));
            }
        }
    }
    for variable in &step.requires.env {
        let value = step.env.get(variable).cloned().or_else(|| std::env::var(variable).ok());
        if value.is_none_or(|value| value.is_empty()) {
            missing.push(format!("environment variable `{variable}`"));
        }
    }
    let path = step.env.get("PATH").map(std::ffi::OsStr::new);
    // A step that runs elsewhere has its commands looked for where it runs (its job script).
    let here = step.executor == ExecutorKind::Local;
    for command in step.requires.commands.iter().filter(|_| here) {
        if !process::command_exists(command, path, &step.cwd) {
            missing.push(format!("command `{command}`"));
        }
    }
    missing
}

/// What the circuit breaker counts by: the plugin, or the command.
fn circuit_key(step: &ExecStep) -> String {
    step.plugin
        .clone()
        .unwrap_or_else(|| step.action.as_ref().map_or_else(|| format!("approval of `{}`", step.id), Action::label))
}

/// `key=value` lines from a step's output file.
pub fn read_outputs(path: &std::path::Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeMap::new() };
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim_end_matches('\r').to_owned()))
        .filter(|(key, _)| !key.is_empty())
        .collect()
}
