//! `weft run`, `weft resume`, `weft rollback`, `weft status`, `weft cancel`, `weft history`, `weft logs`,
//! `weft events`.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::engine::plan::ExecutorKind;
use crate::engine::{self, EventKind, RunEvent, Selection, StartOptions};
pub use crate::engine::{describe_reason, format_duration};
use crate::store::{RunId, RunRecord, RunStatus, StepRecord, StepStatus, Store};

/// `println!` that never panics: a closed pipe (`weft run | head`) must not kill a run.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that never panics.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// Where the history of the current folder lives: its workspace (nearest `weft.yaml` folder).
pub fn workspace_here(explicit: Option<&Path>) -> PathBuf {
    match explicit {
        Some(path) if path.is_dir() => crate::fs::absolute(path),
        Some(path) => engine::workspace_of(path),
        None => {
            let cwd = std::env::current_dir().unwrap_or_default();
            engine::workspace_of(&cwd.join("here"))
        }
    }
}

/// Live progress: what is running and for how long, redrawn on a terminal.
struct Progress {
    running: Vec<(String, Instant, u32)>,
    finished: usize,
    total: usize,
    lines_drawn: usize,
    terminal: bool,
    /// With `--follow`: the run's log folder, and how much of each attempt's output was shown.
    follow: Option<PathBuf>,
    shown: std::collections::HashMap<(String, u32, &'static str), u64>,
}

impl Progress {
    fn on_event(&mut self, event: &RunEvent, out: &mut dyn std::io::Write) {
        let step = event.step.clone().unwrap_or_default();
        let mut line = None;
        match event.kind {
            EventKind::StepStarted => {
                let attempt = event.data["attempt"].as_u64().unwrap_or(1) as u32;
                self.running.push((step.clone(), Instant::now(), attempt));
                if !self.terminal {
                    line = Some(if attempt > 1 {
                        format!("▶ {step} (attempt {attempt})")
                    } else {
                        format!("▶ {step}")
                    });
                }
            }
            EventKind::StepSucceeded
            | EventKind::StepFailed
            | EventKind::StepTimedOut
            | EventKind::StepSkipped
            | EventKind::StepCanceled => {
                if let Some(attempt) = event.data["attempt"].as_u64().filter(|a| *a > 0) {
                    self.clear(out);
                    self.running.retain(|(id, _, _)| *id != step);
                    self.stream_output(&step, attempt as u32, out);
                }
                self.running.retain(|(id, _, _)| *id != step);
                self.finished += 1;
                let duration = event.data["duration_ms"]
                    .as_i64()
                    .map(|ms| format!(" {}", format_duration(ms)))
                    .unwrap_or_default();
                let reason = describe_reason(&event.data).map(|r| format!(" · {r}")).unwrap_or_default();
                let mark = match event.kind {
                    EventKind::StepSucceeded => "✓",
                    EventKind::StepSkipped => "⊘",
                    EventKind::StepCanceled => "■",
                    _ => "✗",
                };
                if reason.contains("not selected") {
                    return;
                }
                line = Some(format!("{mark} {step}{duration}{reason}"));
            }
            EventKind::StepRetryScheduled => {
                self.running.retain(|(id, _, _)| *id != step);
                let delay = event.data["delay_ms"].as_u64().unwrap_or(0);
                let reason = describe_reason(&event.data).unwrap_or_else(|| "failed".into());
                line = Some(format!(
                    "⟳ {step}: {reason}; retry {} in {}",
                    event.data["next_attempt"],
                    format_duration(delay as i64)
                ));
            }
            EventKind::StepSubmitted if !self.terminal => {
                line = Some(format!(
                    "⏳ {step} queued in {} (job {})",
                    event.data["executor"].as_str().unwrap_or("a cluster"),
                    event.data["job_id"].as_str().unwrap_or("?")
                ));
            }
            EventKind::StepReattached => {
                line = Some(format!(
                    "⟲ {step} re-attached to {} job {} (attempt {})",
                    event.data["executor"].as_str().unwrap_or("a cluster"),
                    event.data["job_id"].as_str().unwrap_or("?"),
                    event.data["attempt"]
                ));
            }
            EventKind::CircuitOpened => {
                line = Some(format!(
                    "⚠ circuit open for `{}`: later uses fail fast",
                    event.data["key"].as_str().unwrap_or("")
                ))
            }
            EventKind::StepWaiting => {
                line = Some(format!(
                    "⏸ {step} waiting for approval: {} — weft approve {} {}",
                    event.data["prompt"].as_str().unwrap_or(""),
                    event.run,
                    shell_quote(&step)
                ))
            }
            EventKind::StepApproved | EventKind::StepRejected => {
                let reason = event.data["reason"].as_str().map(|r| format!(": {r}")).unwrap_or_default();
                let (mark, what) =
                    if event.kind == EventKind::StepApproved { ("✓", "approved") } else { ("✗", "rejected") };
                line =
                    Some(format!("{mark} {step} {what} by {}{reason}", event.data["by"].as_str().unwrap_or("someone")))
            }
            EventKind::RollbackStarted => line = Some("↺ rolling back".to_owned()),
            EventKind::RollbackStep => {
                line = Some(format!(
                    "↺ {step} rolled back{}",
                    if event.data["success"] == true { String::new() } else { format!(": {}", event.data["error"]) }
                ))
            }
            EventKind::HookFinished if event.data["success"] == false => {
                line = Some(format!(
                    "⚠ hook {} `{}` failed: {}",
                    event.data["point"].as_str().unwrap_or(""),
                    event.data["command"].as_str().unwrap_or(""),
                    event.data["detail"].as_str().unwrap_or("")
                ))
            }
            _ => {}
        }
        self.clear(out);
        if let Some(line) = line {
            let _ = writeln!(out, "{line}");
        }
        self.draw(out);
    }

    /// Prints what an attempt wrote since last time, each line prefixed with its step (`--follow`).
    fn stream_output(&mut self, step: &str, attempt: u32, out: &mut dyn std::io::Write) {
        use std::io::{Read, Seek, SeekFrom};
        let Some(dir) = self.follow.clone() else { return };
        // Only whole lines while the step runs; the rest too once it has ended.
        let running = self.running.iter().any(|(id, _, a)| id == step && *a == attempt);
        for stream in ["stdout", "stderr"] {
            let path = crate::store::attempt_file(&dir, step, attempt, stream);
            let shown = self.shown.entry((step.to_owned(), attempt, stream)).or_insert(0);
            let Ok(mut file) = std::fs::File::open(&path) else { continue };
            if file.seek(SeekFrom::Start(*shown)).is_err() {
                continue;
            }
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            let end = if running { bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) } else { bytes.len() };
            *shown += end as u64;
            let mark = if stream == "stderr" { "!" } else { "|" };
            for line in String::from_utf8_lossy(&bytes[..end]).lines() {
                let _ = writeln!(out, "{step} {mark} {line}");
            }
        }
    }

    fn clear(&mut self, out: &mut dyn std::io::Write) {
        if self.terminal && self.lines_drawn > 0 {
            let _ = write!(out, "\x1b[{}A\x1b[J", self.lines_drawn);
            self.lines_drawn = 0;
        }
    }

    fn draw(&mut self, out: &mut dyn std::io::Write) {
        if !self.terminal {
            return;
        }
        for (step, started, attempt) in &self.running {
            let retry = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
            let _ = writeln!(out, "  ⏳ {step} {}{retry}", format_duration(started.elapsed().as_millis() as i64));
            self.lines_drawn += 1;
        }
        let _ = writeln!(out, "  {}/{} steps", self.finished, self.total);
        self.lines_drawn += 1;
        let _ = out.flush();
    }
}

/// How a run is shown and recorded while it goes on.
fn sink(total: usize, events_file: Option<&Path>) -> Result<(engine::EventSink, Arc<Mutex<Progress>>), String> {
    let terminal = std::io::stdout().is_terminal();
    let progress = Arc::new(Mutex::new(Progress {
        running: Vec::new(),
        finished: 0,
        total,
        lines_drawn: 0,
        terminal,
        follow: None,
        shown: std::collections::HashMap::new(),
    }));
    let mut events = match events_file {
        Some(path) => {
            Some(std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?))
        }
        None => None,
    };
    let shared = progress.clone();
    let sink = Box::new(move |event: &RunEvent| {
        if let Some(file) = events.as_mut() {
            let _ = write_event_line(&mut *file, event);
            let _ = file.flush();
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if let Ok(mut progress) = shared.lock() {
            progress.on_event(event, &mut out);
        }
    });
    Ok((sink, progress))
}

/// One event as one JSON line: what `--events FILE` writes live and `weft events RUN` afterwards.
fn write_event_line(out: &mut dyn std::io::Write, event: &RunEvent) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}

/// `weft rollback RUN [--to STEP]`: exit 0 when every stage was undone, 1 when one was not, 2 when
/// it could not start.
pub fn rollback(run: RunId, to: Option<&str>, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let (sink, progress) = match sink(0, None) {
        Ok(parts) => parts,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let rollback = match engine::rollback(&workspace, run, to, Some(sink)) {
        Ok(rollback) => rollback,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    say!("run {run} · rolling back {}", rollback.steps.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "));
    let wanted = rollback.steps.clone();
    let signal_handle = engine::signals::cancel_on_interrupt(rollback.cancel_handle());
    let result = rollback.wait();
    if let Some(handle) = signal_handle {
        handle.close();
    }
    if let Ok(mut progress) = progress.lock() {
        progress.clear(&mut std::io::stdout());
    }
    match result {
        Ok(done) => {
            print_summary(&workspace, run);
            let left: Vec<&String> = wanted.iter().filter(|s| !done.contains(s)).collect();
            if left.is_empty() {
                say!("run {run}: rolled back {}", done.join(", "));
                0
            } else {
                say!(
                    "run {run}: not rolled back: {} (see `weft events {run}`)",
                    left.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                );
                1
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            1
        }
    }
}

/// `weft approve RUN STEP [--reason TEXT]` and `weft reject RUN STEP --reason TEXT`: exit 0 when
/// the decision is recorded, 2 when it cannot be.
pub fn decide(run: RunId, step: &str, approve: bool, reason: Option<&str>, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let by = engine::who_am_i();
    match engine::decide(&workspace, run, step, approve, reason, &by) {
        Ok(()) => {
            let what = if approve { "approved" } else { "rejected" };
            let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
            say!("run {run}: step `{step}` {what} by {by}{reason}");
            0
        }
        Err(error) => {
            eprintln!("error: {error}");
            2
        }
    }
}

/// `weft events RUN`: the events a run recorded, as JSON lines.
pub fn events(run: RunId, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let (store, record) = match load_run(&workspace, Some(run)) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let events = match engine::recorded_events(&store, record.id) {
        Ok(events) => events,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for event in &events {
        if write_event_line(&mut out, event).is_err() {
            return 1;
        }
    }
    u8::from(out.flush().is_err())
}

/// Redraws the elapsed times on a terminal until the run ends.
fn ticker(
    progress: Arc<Mutex<Progress>>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    let follow = progress.lock().is_ok_and(|p| p.follow.is_some());
    if !std::io::stdout().is_terminal() && !follow {
        return None;
    }
    Some(std::thread::spawn(move || {
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(if follow { 100 } else { 250 }));
            if let Ok(mut progress) = progress.lock() {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                progress.clear(&mut out);
                let running: Vec<(String, u32)> = progress.running.iter().map(|(id, _, a)| (id.clone(), *a)).collect();
                for (step, attempt) in running {
                    progress.stream_output(&step, attempt, &mut out);
                }
                progress.draw(&mut out);
            }
        }
    }))
}

pub struct RunArgs<'a> {
    pub file: &'a Path,
    pub stage: Option<String>,
    pub with_deps: bool,
    pub events: Option<&'a Path>,
    pub allow_concurrent: bool,
    /// Stream each step's output to the terminal as it runs.
    pub follow: bool,
    /// Runs every step on this executor, whatever the file says.
    pub executor: Option<ExecutorKind>,
    /// Where Prometheus metrics are written (relative to the current folder).
    pub metrics: Option<&'a Path>,
}

/// `--executor NAME`: the names are the ones files use; anything else is refused by clap with the
/// valid ones listed (and the close one suggested).
impl clap::ValueEnum for ExecutorKind {
    fn value_variants<'a>() -> &'a [Self] {
        &ExecutorKind::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            ExecutorKind::Local => "processes on this machine",
            ExecutorKind::Slurm => "a Slurm batch job per attempt (sbatch)",
            // Not among `value_variants`: the engine's tests select it, never the command line.
            ExecutorKind::Fake => return None,
        };
        Some(clap::builder::PossibleValue::new(self.as_str()).help(help))
    }
}

/// `weft run`: exit 0 when the run succeeded, 1 when it did not, 2 when it could not start.
pub fn run(args: RunArgs<'_>) -> u8 {
    // The step count is known once the run has started; the sink sees no event before.
    let (sink, progress) = match sink(0, args.events) {
        Ok(parts) => parts,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let selection = Selection { stage: args.stage, with_dependencies: args.with_deps };
    let run = match engine::start(
        args.file,
        StartOptions {
            selection,
            allow_concurrent: args.allow_concurrent,
            sink: Some(sink),
            session: None,
            executor: args.executor,
            metrics: args.metrics.map(crate::fs::absolute),
        },
    ) {
        Ok(run) => run,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    if let Ok(mut progress) = progress.lock() {
        progress.total = run.step_count();
    }
    say!(
        "run {} · {} · history in {}",
        run.id,
        args.file.display(),
        crate::store::state_dir(&run.workspace).join("weft.db").display()
    );
    match engine::interrupted_runs_of(&run.workspace, args.file, run.id).as_slice() {
        [] => {}
        [earlier] => eprintln!(
            "note: run {earlier} of {} was interrupted (its engine is gone); `weft resume {earlier}` continues it",
            args.file.display()
        ),
        all @ [latest, ..] => eprintln!(
            "note: runs {} of {} were interrupted (their engines are gone); `weft resume {latest}` continues the latest",
            all.iter().map(RunId::to_string).collect::<Vec<_>>().join(", "),
            args.file.display()
        ),
    }
    if args.follow {
        if let Ok(mut progress) = progress.lock() {
            progress.follow = Some(crate::store::run_dir(&run.workspace, run.id));
        }
    }
    finish(run, progress)
}

fn finish(run: engine::Run, progress: Arc<Mutex<Progress>>) -> u8 {
    let id = run.id;
    let workspace = run.workspace.clone();
    let cancel = run.cancel_handle();
    let signal_handle = engine::signals::cancel_on_interrupt(cancel);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = ticker(progress.clone(), done.clone());
    let result = run.wait();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(ticker) = ticker {
        let _ = ticker.join();
    }
    if let Ok(mut progress) = progress.lock() {
        progress.clear(&mut std::io::stdout());
    }
    if let Some(handle) = signal_handle {
        handle.close();
    }
    match result {
        Ok(status) => {
            print_summary(&workspace, id);
            say!("run {id} {status}");
            if let Ok((store, record)) = load_run(&workspace, Some(id)) {
                print_options(&recovery_options(&workspace, &record, &store.steps(id).unwrap_or_default()));
            }
            u8::from(status != RunStatus::Succeeded)
        }
        Err(error) => {
            eprintln!("error: {error}");
            1
        }
    }
}

/// The queue waits of a run's cluster attempts (none when the history cannot say). A run with
/// no step on a cluster does not ask.
fn queue_waits(store: &Store, run: RunId, steps: &[StepRecord]) -> Vec<crate::store::QueueWait> {
    if steps.iter().all(|step| step.job_id.is_none()) {
        return Vec::new();
    }
    let kinds = (EventKind::StepSubmitted.as_str(), EventKind::StepJobRunning.as_str());
    store.queue_waits(run, kinds.0, kinds.1).unwrap_or_default()
}

/// How long the step's latest attempt waited in its cluster's queue, and whether it still waits
/// there; `None` for a step that did not run on a cluster, or whose job ran and ended between two
/// of weft's looks (its wait is not known). A step whose engine is gone reads `interrupted`, not
/// running, so it is never shown as still waiting.
fn queue_of(waits: &[crate::store::QueueWait], step: &StepRecord) -> Option<(i64, bool)> {
    let job = step.job_id.as_deref()?;
    let wait = waits.iter().rev().find(|w| w.step_id == step.id && w.job_id.as_deref() == Some(job))?;
    match (wait.waiting, step.status) {
        (false, _) => Some((wait.waited_ms, false)),
        (true, StepStatus::Running) => Some((wait.waited_ms, true)),
        (true, _) => None,
    }
}

fn print_summary(workspace: &Path, run: RunId) {
    let Ok(store) = Store::open(workspace) else { return };
    let Ok(steps) = store.steps(run) else { return };
    let waits = queue_waits(&store, run, &steps);
    let overridden = overridden_steps(&store, run);
    let shown = |step: &StepRecord| {
        if overridden.contains(&step.id) && step.status == StepStatus::Skipped {
            format!("{} (override)", step.status)
        } else {
            step.status.to_string()
        }
    };
    let width = steps.iter().map(|s| s.id.chars().count()).max().unwrap_or(4).max(4);
    let status_width = steps.iter().map(|s| shown(s).chars().count()).max().unwrap_or(10).max(10);
    // A run with steps on a cluster shows each one's (latest) job; others keep their four columns.
    let job_width = steps.iter().filter_map(|s| s.job_id.as_ref()).map(|j| j.chars().count()).max();
    let job_column = |job: &str| job_width.map(|w| format!("{job:>w$}  ", w = w.max(3))).unwrap_or_default();
    say!(
        "\n{:<width$}  {:<status_width$}  {:>8}  {:>10}  {}reason",
        "step",
        "status",
        "attempts",
        "duration",
        job_column("job")
    );
    for step in &steps {
        let duration = step.duration_ms.map(format_duration).unwrap_or_default();
        say!(
            "{:<width$}  {:<status_width$}  {:>8}  {:>10}  {}{}",
            step.id,
            shown(step),
            step.attempts,
            duration,
            job_column(step.job_id.as_deref().unwrap_or("")),
            // A row is one line, whatever a reason holds. A job still in its queue says so.
            match queue_of(&waits, step) {
                Some((waited, true)) => format!("pending in {} for {}", step.executor, format_duration(waited)),
                _ => step.reason.as_deref().unwrap_or_default().lines().map(str::trim).collect::<Vec<_>>().join("; "),
            }
        );
    }
    for step in steps.iter().filter(|s| matches!(s.status, StepStatus::Failed | StepStatus::TimedOut)) {
        if let Some(seen) = seen_before(&store, run, &step.id, step.attempts) {
            say!("{}: {seen}", step.id);
        }
    }
}

/// "seen 3 times since 2026-12-01 10:00 (first in run 4)" for a failed attempt whose fingerprint
/// was seen before it (SPEC §7); `None` for a failure seen for the first time.
pub fn seen_before(store: &Store, run: RunId, step: &str, attempt: i64) -> Option<String> {
    let (fingerprint, at) = store.attempt_fingerprint(run, step, attempt).ok()??;
    let seen = store.failure_seen(&fingerprint, Some(&at), Some((run, step, attempt))).ok()??;
    Some(crate::engine::describe_seen(&seen, &fingerprint))
}

/// What a run waits for: a line per step waiting for approval, with its prompt and the commands
/// that decide it (and, when the run's engine is gone, the resume that goes on).
fn waiting_lines(record: &RunRecord, steps: &[StepRecord]) -> Vec<String> {
    let run = record.id;
    steps
        .iter()
        .filter(|step| step.status == StepStatus::Waiting)
        .map(|step| {
            let reason = step.reason.as_deref().unwrap_or_default();
            let prompt = reason.strip_prefix("waiting for approval: ").unwrap_or(reason);
            let id = shell_quote(&step.id);
            let then = if record.status == RunStatus::Interrupted {
                format!(", then `weft resume {run}`")
            } else {
                String::new()
            };
            format!(
                "run {run}: `{}` waits for approval: {prompt} — `weft approve {run} {id}` or `weft reject {run} {id} --reason \"…\"`{then}",
                step.id
            )
        })
        .collect()
}

/// The steps of a run the user recorded as skipped (`weft resume --skip`).
fn overridden_steps(store: &Store, run: RunId) -> std::collections::HashSet<String> {
    store.steps_with_event(run, EventKind::StepOverridden.as_str()).unwrap_or_default()
}

/// One way to go on after a run that did not succeed, as a command the user can paste.
struct RecoveryOption {
    /// `resume`, `skip`, `rollback` or `logs`.
    action: &'static str,
    step: Option<String>,
    command: String,
    what: String,
}

/// What a user can do about a run that failed, was canceled, quarantined or interrupted (SPEC §6):
/// resume it, resume it skipping a step that failed, and read that step's output. Nothing for a
/// run that succeeded or is still running.
fn recovery_options(workspace: &Path, record: &RunRecord, steps: &[StepRecord]) -> Vec<RecoveryOption> {
    match record.status {
        RunStatus::Failed | RunStatus::Canceled | RunStatus::Quarantined | RunStatus::Interrupted => {}
        RunStatus::Succeeded | RunStatus::Running => return Vec::new(),
    }
    let run = record.id;
    // The commands must find this history from the folder the user is in.
    let here = workspace_here(None);
    let same = std::fs::canonicalize(&here).ok() == std::fs::canonicalize(workspace).ok();
    let flag =
        if same { String::new() } else { format!(" --workspace {}", shell_quote(&workspace.display().to_string())) };
    let mut options = vec![RecoveryOption {
        action: "resume",
        step: None,
        command: format!("weft resume {run}{flag}"),
        what: "run again what did not succeed".to_owned(),
    }];
    let failed: Vec<&StepRecord> = steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted))
        .collect();
    for step in &failed {
        options.push(RecoveryOption {
            action: "skip",
            step: Some(step.id.clone()),
            command: format!("weft resume {run}{flag} --skip {} --reason \"…\"", shell_quote(&step.id)),
            what: format!("record `{}` as skipped and go on", step.id),
        });
    }
    // A run whose engine is gone is resumed or canceled first; `weft rollback` refuses it.
    if record.status != RunStatus::Interrupted {
        let undone = engine::rollback_candidates(workspace, record);
        if !undone.is_empty() {
            options.push(RecoveryOption {
                action: "rollback",
                step: None,
                command: format!("weft rollback {run}{flag}"),
                what: format!("undo {}", undone.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")),
            });
        }
    }
    for step in failed.iter().filter(|s| s.attempts > 0) {
        options.push(RecoveryOption {
            action: "logs",
            step: Some(step.id.clone()),
            command: format!("weft logs {run} {}{flag}", shell_quote(&step.id)),
            what: format!("the output of `{}`", step.id),
        });
    }
    options
}

fn print_options(options: &[RecoveryOption]) {
    if options.is_empty() {
        return;
    }
    let width = options.iter().map(|o| o.command.chars().count()).max().unwrap_or(0);
    say!("\noptions:");
    for option in options {
        say!("  {:<width$}  # {}", option.command, option.what);
    }
}

/// A word as the shell reads it: as it is when it is safe, else in single quotes.
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:@+,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

pub struct ResumeArgs<'a> {
    pub target: Option<&'a str>,
    pub workspace: Option<&'a Path>,
    pub events: Option<&'a Path>,
    /// `--skip STEP`: record STEP as skipped by the user before going on.
    pub skip: Option<String>,
    pub reason: Option<String>,
    /// Replace what the run was started (or last resumed) with.
    pub executor: Option<ExecutorKind>,
    pub metrics: Option<&'a Path>,
}

/// `weft resume [RUN | FILE] [--skip STEP [--reason TEXT]] [--events FILE] [--executor E] [--metrics FILE]`.
pub fn resume(args: ResumeArgs<'_>) -> u8 {
    let ResumeArgs { target, workspace, events, skip, reason, executor, metrics } = args;
    let given = engine::RunOverrides { executor, metrics: metrics.map(crate::fs::absolute) };
    let (workspace, run_id) = match find_resumable(target, workspace) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let total = Store::open(&workspace).ok().and_then(|s| s.steps(run_id).ok()).map_or(0, |s| s.len());
    let (sink, progress) = match sink(total, events) {
        Ok(parts) => parts,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let (skipped, reason_text) = (skip.clone(), reason.clone());
    let skip = skip.map(|step| engine::Override { step, reason, by: engine::who_am_i() });
    let run = match engine::resume_with(&workspace, run_id, Some(sink), skip, given) {
        Ok(run) => run,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    say!("run {run_id} resumed (steps that succeeded are not run again; steps that were running run again)");
    if let Some(step) = &skipped {
        say!(
            "step `{step}` recorded as skipped ({})",
            engine::override_reason(&engine::who_am_i(), reason_text.as_deref())
        );
    }
    if run.stopped_leftovers > 0 {
        say!("stopped {} left running by its dead engine", processes(run.stopped_leftovers));
    }
    if !run.changed_but_done.is_empty() {
        say!(
            "changed since the run started, but already succeeded (not run again): {}",
            run.changed_but_done.join(", ")
        );
    }
    if !run.changed_steps.is_empty() {
        say!("changed since the run started: {} (their new definitions run)", run.changed_steps.join(", "));
    }
    finish(run, progress)
}

fn processes(count: usize) -> String {
    if count == 1 {
        "1 process".to_owned()
    } else {
        format!("{count} processes")
    }
}

/// `; stopped N processes it had left running`, or nothing.
fn leftovers_note(stopped: usize) -> String {
    if stopped == 0 {
        String::new()
    } else {
        format!("; stopped {} it had left running", processes(stopped))
    }
}

fn find_resumable(target: Option<&str>, workspace: Option<&Path>) -> Result<(PathBuf, RunId), String> {
    if let Some(id) = target.and_then(|t| t.parse::<RunId>().ok()) {
        return Ok((workspace_here(workspace), id));
    }
    let file = target.map(PathBuf::from);
    let workspace = match (&file, workspace) {
        (_, Some(dir)) => workspace_here(Some(dir)),
        (Some(file), None) => engine::workspace_of(file),
        (None, None) => workspace_here(None),
    };
    let store = Store::open(&workspace).map_err(|e| e.to_string())?;
    let runs = store.runs(None, 200).map_err(|e| e.to_string())?;
    let wanted = file.as_ref().map(|f| crate::fs::absolute(f));
    runs.into_iter()
        .filter(|run| !matches!(run.status, RunStatus::Succeeded | RunStatus::Running))
        .find(|run| wanted.as_ref().is_none_or(|w| Path::new(&run.path) == w.as_path()))
        .map(|run| (workspace.clone(), run.id))
        .ok_or_else(|| "no unfinished run to resume".to_owned())
}

fn load_run(workspace: &Path, run: Option<RunId>) -> Result<(Store, RunRecord), String> {
    let store = Store::open(workspace).map_err(|e| e.to_string())?;
    let record = match run {
        Some(id) => store
            .run(id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no run {id} in {}", workspace.display()))?,
        None => store
            .runs(None, 1)
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .ok_or_else(|| format!("no runs yet in {}", workspace.display()))?,
    };
    Ok((store, record))
}

/// `weft status [RUN] [--format json]`.
pub fn status(run: Option<RunId>, json_format: bool, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let (store, record) = match load_run(&workspace, run) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let steps = store.steps(record.id).unwrap_or_default();
    let options = recovery_options(&workspace, &record, &steps);
    if json_format {
        let waits = queue_waits(&store, record.id, &steps);
        let step_json = |s: &StepRecord| {
            let queued_ms = queue_of(&waits, s).map(|(waited_ms, _)| waited_ms);
            json!({ "id": s.id, "status": s.status, "attempts": s.attempts, "exit_code": s.exit_code, "duration_ms": s.duration_ms, "reason": s.reason, "executor": s.executor, "job_id": s.job_id, "queued_ms": queued_ms })
        };
        let mut value = json!({
            "run": { "id": record.id, "file": record.file, "status": record.status, "started_at": record.started_at, "finished_at": record.finished_at },
            "steps": steps.iter().map(step_json).collect::<Vec<_>>(),
        });
        // Only a run that did not succeed has options: the documented shape otherwise.
        if !options.is_empty() {
            value["options"] =
                options.iter().map(|o| json!({ "action": o.action, "step": o.step, "command": o.command })).collect();
        }
        say!("{value}");
        return 0;
    }
    let note = if record.status == RunStatus::Interrupted {
        format!(" (its engine is gone; `weft resume {}` continues it)", record.id)
    } else {
        String::new()
    };
    say!("run {} · {} · {}{note}", record.id, record.file, record.status);
    say!(
        "started {}{}",
        record.started_at,
        record.finished_at.as_ref().map(|f| format!(", finished {f}")).unwrap_or_default()
    );
    print_summary(&workspace, record.id);
    let waiting = waiting_lines(&record, &steps);
    if !waiting.is_empty() {
        say!("");
        for line in waiting {
            say!("{line}");
        }
    }
    print_options(&options);
    0
}

/// `weft history [FILE]`.
pub fn history(file: Option<&Path>, workspace: Option<&Path>) -> u8 {
    let workspace = match (workspace, file) {
        (Some(dir), _) => workspace_here(Some(dir)),
        (None, Some(file)) => engine::workspace_of(file),
        (None, None) => workspace_here(None),
    };
    let store = match Store::open(&workspace) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let runs = store.runs(None, 200).unwrap_or_default();
    let wanted = file.map(crate::fs::absolute);
    say!("{:>5}  {:<12}  {:<24}  file", "run", "status", "started");
    let shown: Vec<&RunRecord> =
        runs.iter().filter(|run| wanted.as_ref().is_none_or(|w| Path::new(&run.path) == w.as_path())).collect();
    for run in &shown {
        say!("{:>5}  {:<12}  {:<24}  {}", run.id, run.status, run.started_at, run.file);
    }
    // What recovery changed, which the run's status does not show: steps the user skipped, and
    // steps rolled back.
    let mut notes = Vec::new();
    for run in &shown {
        let skipped = overridden_steps(&store, run.id);
        let steps = store.steps(run.id).unwrap_or_default();
        for step in steps.iter().filter(|s| skipped.contains(&s.id) && s.status == StepStatus::Skipped) {
            let reason = step.reason.clone().unwrap_or_else(|| "override".to_owned());
            notes.push(format!("run {}: `{}` skipped ({reason})", run.id, step.id));
        }
        let undone: Vec<String> =
            steps.iter().filter(|s| s.status == StepStatus::RolledBack).map(|s| format!("`{}`", s.id)).collect();
        if !undone.is_empty() {
            notes.push(format!("run {}: {} rolled_back", run.id, undone.join(", ")));
        }
    }
    if !notes.is_empty() {
        say!("");
        for note in notes {
            say!("{note}");
        }
    }
    let waiting: Vec<String> = shown
        .iter()
        .filter(|run| matches!(run.status, RunStatus::Running | RunStatus::Interrupted))
        .flat_map(|run| waiting_lines(run, &store.steps(run.id).unwrap_or_default()))
        .collect();
    if !waiting.is_empty() {
        say!("");
        for line in waiting {
            say!("{line}");
        }
    }
    let interrupted: Vec<&&RunRecord> = shown.iter().filter(|run| run.status == RunStatus::Interrupted).collect();
    if !interrupted.is_empty() {
        say!("");
        for run in interrupted {
            say!("run {} was interrupted (its engine is gone): `weft resume {}` continues it", run.id, run.id);
        }
    }
    0
}

/// `weft logs RUN STEP [--attempt N]`.
pub fn logs(run: RunId, step: &str, attempt: Option<i64>, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let (store, _) = match load_run(&workspace, Some(run)) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let attempts = store.attempts(run, Some(step)).unwrap_or_default();
    let chosen = match attempt {
        Some(n) => attempts.iter().find(|a| a.attempt == n),
        None => attempts.iter().max_by_key(|a| a.attempt),
    };
    let Some(chosen) = chosen else {
        eprintln!(
            "error: run {run} has no attempt{} of step `{step}`",
            attempt.map(|n| format!(" {n}")).unwrap_or_default()
        );
        return 2;
    };
    let dir = PathBuf::from(&chosen.log_dir);
    for stream in ["stdout", "stderr"] {
        let path = crate::store::attempt_file(&dir, step, chosen.attempt, stream);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        say!("── {stream} ({}) ──", path.display());
        say_raw!("{text}");
        if !text.is_empty() && !text.ends_with('\n') {
            say!("");
        }
    }
    0
}

/// `weft cancel RUN`: asks the run's process to stop, and waits until it has.
pub fn cancel(run: RunId, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let (store, record) = match load_run(&workspace, Some(run)) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    match record.status {
        RunStatus::Running => {}
        RunStatus::Interrupted => match engine::cancel_interrupted(&workspace, run) {
            Ok(stopped) => {
                say!("run {run} canceled (its engine was already gone){}", leftovers_note(stopped));
                return 0;
            }
            Err(error) => {
                eprintln!("error: {error}");
                return 2;
            }
        },
        RunStatus::Succeeded | RunStatus::Failed | RunStatus::Canceled | RunStatus::Quarantined => {
            eprintln!("run {run} is not running (it is {})", record.status);
            return 1;
        }
    }
    if let Some(pid) = record.owner_pid {
        engine::signals::ask_owner_to_cancel(pid);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(now)) = store.run(run) {
            if now.status != RunStatus::Running {
                say!("run {run} {}", now.status);
                return 0;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("error: run {run} did not stop within 60 s");
    1
}
