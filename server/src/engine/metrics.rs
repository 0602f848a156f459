//! Prometheus metrics of a run (`weft run --metrics FILE`, or `metrics:` in the file's settings),
//! written in the text format for node_exporter's textfile collector: at the end of each step and
//! of the run, atomically (written beside, then renamed).
//!
//! The coordinator hands every event of the run to [`Metrics::observe`]; what the file shows is
//! kept up to date from them, and written:
//!
//! - at the run's start, and when a step or an attempt ends, at most once a second: an update that
//!   comes sooner is held until [`Metrics::due`], when the coordinator calls [`Metrics::flush`] (or
//!   the next event after that instant writes it);
//! - at `run_finished`, at once, whatever was written just before.
//!
//! Invariant: once the run has finished, the file shows the run as it ended. A file that cannot be
//! written fails nothing: the first error is reported on standard error, and later writes are
//! tried all the same.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::plan::ExecPlan;
use super::EventKind;
use crate::store::{RunId, StepStatus};

/// The shortest time between two writes while the run goes on: a run of 10,000 short steps
/// rewrites the file about once a second, not 10,000 times.
pub const MIN_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// What a run's metrics file shows, kept up to date from the run's events.
pub struct Metrics {
    path: PathBuf,
    workflow: String,
    run: String,
    steps: Vec<StepMetrics>,
    run_status: &'static str,
    /// When the run started (or was resumed), as the engine's clock and as the wall clock.
    started: Instant,
    started_at: SystemTime,
    /// Set when the run has finished: its duration is then fixed.
    finished: Option<Duration>,
    last_write: Option<Instant>,
    /// When a held update is to be written; `None` when nothing waits.
    due: Option<Instant>,
    /// A write failed and was reported: later failures are not reported again.
    error_reported: bool,
}

/// How a step's attempts ended, in the order the file lists them.
const ATTEMPT_STATUSES: [StepStatus; 4] =
    [StepStatus::Succeeded, StepStatus::Failed, StepStatus::TimedOut, StepStatus::Canceled];

/// The step statuses `weft_run_steps` counts, every one listed (zero or not), so that a query of
/// one status always finds its series.
const STEP_STATUSES: [StepStatus; 9] = [
    StepStatus::Pending,
    StepStatus::Running,
    StepStatus::Waiting,
    StepStatus::Succeeded,
    StepStatus::Failed,
    StepStatus::TimedOut,
    StepStatus::Skipped,
    StepStatus::Canceled,
    StepStatus::RolledBack,
];

struct StepMetrics {
    id: String,
    executor: &'static str,
    status: StepStatus,
    /// How long its last attempt ran, once the step has finished.
    duration: Option<f64>,
    /// Attempts by how they ended, as [`ATTEMPT_STATUSES`].
    attempts: [u64; ATTEMPT_STATUSES.len()],
    /// The attempt that started and has not been counted yet.
    open_attempt: Option<u64>,
    /// The attempt whose time limit passed (a `step_timeout` event): it ends timed out.
    timed_out_attempt: Option<u64>,
}

impl Metrics {
    pub fn new(path: PathBuf, plan: &ExecPlan, run: RunId) -> Metrics {
        let steps = plan
            .steps
            .iter()
            .map(|step| StepMetrics {
                id: step.id.clone(),
                executor: step.executor.as_str(),
                status: StepStatus::Pending,
                duration: None,
                attempts: [0; ATTEMPT_STATUSES.len()],
                open_attempt: None,
                timed_out_attempt: None,
            })
            .collect();
        Metrics {
            path,
            workflow: plan.workflow_id.clone(),
            run: run.to_string(),
            steps,
            run_status: "running",
            started: Instant::now(),
            started_at: SystemTime::now(),
            finished: None,
            last_write: None,
            due: None,
            error_reported: false,
        }
    }

    /// Where the file is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets a step's status without an event: for a resumed run, the steps it carries from before
    /// (succeeded, or skipped by the user), which no event of this run reports.
    pub fn set_step_status(&mut self, step: usize, status: StepStatus) {
        if let Some(metrics) = self.steps.get_mut(step) {
            metrics.status = status;
        }
    }

    /// Takes one of the run's events (`step` indexes the plan's steps).
    pub fn observe(&mut self, kind: EventKind, step: Option<usize>, data: &Value) {
        let now = Instant::now();
        let attempt = data.get("attempt").and_then(Value::as_u64);
        let mut changed = false;
        match (kind, step.and_then(|index| self.steps.get_mut(index))) {
            (EventKind::RunStarted | EventKind::RunResumed, _) => {
                self.started = now;
                self.started_at = SystemTime::now();
                self.run_status = "running";
                changed = true;
            }
            // A resumed engine watching a cluster job again: that attempt ends in this run.
            (EventKind::StepStarted | EventKind::StepReattached, Some(step)) => {
                step.status = StepStatus::Running;
                step.open_attempt = attempt;
            }
            (EventKind::StepTimeout, Some(step)) => step.timed_out_attempt = attempt,
            (EventKind::StepRetryScheduled, Some(step)) => {
                // The attempt ended in a failure or a timeout, and another follows.
                let status = data
                    .get("status")
                    .and_then(Value::as_str)
                    .and_then(StepStatus::parse)
                    .filter(|status| ATTEMPT_STATUSES.contains(status))
                    .unwrap_or(if attempt.is_some() && step.timed_out_attempt == attempt {
                        StepStatus::TimedOut
                    } else {
                        StepStatus::Failed
                    });
                step.count_attempt(attempt, status);
                step.status = StepStatus::Running;
                changed = true;
            }
            (
                EventKind::StepSucceeded
                | EventKind::StepFailed
                | EventKind::StepTimedOut
                | EventKind::StepSkipped
                | EventKind::StepCanceled,
                Some(step),
            ) => {
                let status = match kind {
                    EventKind::StepSucceeded => StepStatus::Succeeded,
                    EventKind::StepFailed => StepStatus::Failed,
                    EventKind::StepTimedOut => StepStatus::TimedOut,
                    EventKind::StepSkipped => StepStatus::Skipped,
                    _ => StepStatus::Canceled,
                };
                // Only an attempt that started in this run ended with this event: a step skipped or
                // canceled while it waited for a retry counted its last attempt already.
                step.count_attempt(attempt, status);
                step.status = status;
                if let Some(ms) = data.get("duration_ms").and_then(Value::as_f64) {
                    step.duration = Some(ms / 1000.0);
                }
                changed = true;
            }
            (EventKind::StepWaiting, Some(step)) => step.status = StepStatus::Waiting,
            (EventKind::StepOverridden, Some(step)) => step.status = StepStatus::Skipped,
            (EventKind::RollbackStep, Some(step)) if data.get("success").and_then(Value::as_bool) == Some(true) => {
                step.status = StepStatus::RolledBack;
                changed = true;
            }
            (EventKind::RunFinished, _) => {
                self.run_status = data.get("status").and_then(Value::as_str).map_or("failed", run_status_name);
                self.finished = Some(now.saturating_duration_since(self.started));
                // The run's end is written at once, whatever was written just before.
                self.write(now);
                return;
            }
            _ => {}
        }
        if self.finished.is_some() {
            return;
        }
        if changed {
            match self.last_write {
                Some(last) if now < last + MIN_WRITE_INTERVAL => {
                    self.due.get_or_insert(last + MIN_WRITE_INTERVAL);
                }
                _ => self.write(now),
            }
        }
        if self.due.is_some_and(|due| now >= due) {
            self.write(now);
        }
    }

    /// When an update held back by the once-a-second limit is to be written: the coordinator's
    /// wait should end then, and call [`Metrics::flush`]. `None` when nothing waits.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Writes the held update if its time has come (`due()` has passed); does nothing otherwise,
    /// so calling it more often than needed is harmless.
    pub fn flush(&mut self) {
        let now = Instant::now();
        if self.due.is_some_and(|due| now >= due) {
            self.write(now);
        }
    }

    /// The file's text: every metric with its `# HELP` and `# TYPE`, in the text exposition format.
    pub fn render(&self, now: Instant) -> String {
        let mut text = String::with_capacity(256 + self.steps.len() * 160);
        let workflow = escape_label(&self.workflow);
        let run = escape_label(&self.run);

        header(&mut text, "weft_run_status", "gauge", "The run's status: 1 for the status it is in.");
        let _ =
            writeln!(text, "weft_run_status{{workflow=\"{workflow}\",run=\"{run}\",status=\"{}\"}} 1", self.run_status);

        header(
            &mut text,
            "weft_run_duration_seconds",
            "gauge",
            "How long the run has run (or ran, once finished), in seconds.",
        );
        let duration = self.finished.unwrap_or_else(|| now.saturating_duration_since(self.started));
        let _ = writeln!(
            text,
            "weft_run_duration_seconds{{workflow=\"{workflow}\",run=\"{run}\"}} {}",
            seconds(duration.as_secs_f64())
        );

        header(
            &mut text,
            "weft_run_start_time_seconds",
            "gauge",
            "When the run started (or was resumed), in seconds since the Unix epoch.",
        );
        let start = self.started_at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let _ = writeln!(
            text,
            "weft_run_start_time_seconds{{workflow=\"{workflow}\",run=\"{run}\"}} {}",
            seconds(start.as_secs_f64())
        );

        header(&mut text, "weft_run_steps", "gauge", "The run's steps in each status.");
        let mut counts = [0u64; STEP_STATUSES.len()];
        for step in &self.steps {
            if let Some(position) = STEP_STATUSES.iter().position(|status| *status == step.status) {
                counts[position] += 1;
            }
        }
        for (status, count) in STEP_STATUSES.iter().zip(counts) {
            let _ = writeln!(
                text,
                "weft_run_steps{{workflow=\"{workflow}\",run=\"{run}\",status=\"{}\"}} {count}",
                status.as_str()
            );
        }

        header(
            &mut text,
            "weft_step_duration_seconds",
            "gauge",
            "How long each finished step's last attempt ran, in seconds.",
        );
        for step in &self.steps {
            if let Some(duration) = step.duration {
                let _ = writeln!(
                    text,
                    "weft_step_duration_seconds{{workflow=\"{workflow}\",step=\"{}\",executor=\"{}\"}} {}",
                    escape_label(&step.id),
                    step.executor,
                    seconds(duration)
                );
            }
        }

        header(
            &mut text,
            "weft_step_attempts_total",
            "counter",
            "Attempts of each step by how they ended; a failed or timed-out attempt that was retried counts too.",
        );
        for step in &self.steps {
            for (status, count) in ATTEMPT_STATUSES.iter().zip(step.attempts) {
                if count > 0 {
                    let _ = writeln!(
                        text,
                        "weft_step_attempts_total{{workflow=\"{workflow}\",step=\"{}\",executor=\"{}\",status=\"{}\"}} {count}",
                        escape_label(&step.id),
                        step.executor,
                        status.as_str()
                    );
                }
            }
        }
        text
    }

    /// Writes the file now (atomically: a temporary file in the same folder, renamed over it).
    fn write(&mut self, now: Instant) {
        self.last_write = Some(now);
        self.due = None;
        let text = self.render(now);
        if let Err(error) = write_atomically(&self.path, text.as_bytes()) {
            if !std::mem::replace(&mut self.error_reported, true) {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: cannot write the metrics file {}: {error} (the run goes on; later writes are tried all the same)",
                    self.path.display()
                );
            }
        }
    }
}

impl StepMetrics {
    /// Counts the attempt that started in this run and has not been counted yet.
    fn count_attempt(&mut self, attempt: Option<u64>, status: StepStatus) {
        let Some(attempt) = attempt.filter(|attempt| *attempt > 0) else { return };
        if self.open_attempt != Some(attempt) {
            return;
        }
        self.open_attempt = None;
        if let Some(position) = ATTEMPT_STATUSES.iter().position(|candidate| *candidate == status) {
            self.attempts[position] += 1;
        }
    }
}

/// A label value as the text format takes it: backslash, double quote and line feed escaped.
pub fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn header(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} {kind}");
}

/// Seconds with millisecond precision, without trailing zeros (`1.5`, `0.012`, `3`).
fn seconds(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

/// A run status as the event gives it (`"succeeded"`), as a static name.
fn run_status_name(status: &str) -> &'static str {
    crate::store::RunStatus::parse(status).map_or("failed", crate::store::RunStatus::as_str)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so that a reader
/// (node_exporter) sees the old file or the new one, never half of one. The temporary name does
/// not end in `.prom`, so the textfile collector never reads it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let written = std::fs::File::create(&temporary).and_then(|mut file| file.write_all(bytes));
    let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan_of(steps: &[&str]) -> ExecPlan {
        let dir = std::env::temp_dir();
        let text = format!(
            "plan_id: demo\nsteps:\n{}",
            steps.iter().map(|id| format!("  - id: {id}\n    run: \"true\"\n")).collect::<String>()
        );
        let key = dir.join("metrics-unit.plan.yaml");
        let document = crate::analysis::Document::new(key.clone(), text, &key);
        super::super::plan::build_plan("metrics-unit.plan.yaml", &key, &document, None).expect("a plan")
    }

    fn metrics(steps: &[&str], path: PathBuf) -> Metrics {
        Metrics::new(path, &plan_of(steps), 7)
    }

    fn lines_of<'t>(text: &'t str, name: &str) -> Vec<&'t str> {
        text.lines().filter(|line| line.starts_with(&format!("{name}{{"))).collect()
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_label("plain-id_1.2"), "plain-id_1.2");
    }

    #[test]
    fn a_workflow_id_with_quotes_is_escaped_in_every_series() {
        let mut metrics = metrics(&["a"], PathBuf::from("/nonexistent/weft.prom"));
        metrics.workflow = "say \"hi\"\\now".to_owned();
        let text = metrics.render(Instant::now());
        assert!(text.contains(r#"weft_run_status{workflow="say \"hi\"\\now",run="7",status="running"} 1"#), "{text}");
    }

    #[test]
    fn retried_attempts_count_by_how_they_ended() {
        let mut metrics = metrics(&["flaky", "slow", "fine"], std::env::temp_dir().join("weft-metrics-unit-a.prom"));
        metrics.observe(EventKind::RunStarted, None, &json!({}));
        // `flaky` fails once, then succeeds.
        metrics.observe(EventKind::StepStarted, Some(0), &json!({"attempt": 1}));
        metrics.observe(EventKind::StepRetryScheduled, Some(0), &json!({"attempt": 1, "exit_code": 1}));
        metrics.observe(EventKind::StepStarted, Some(0), &json!({"attempt": 2}));
        metrics.observe(EventKind::StepSucceeded, Some(0), &json!({"attempt": 2, "duration_ms": 1500}));
        // `slow` times out, is retried, times out again, and is out of retries.
        metrics.observe(EventKind::StepStarted, Some(1), &json!({"attempt": 1}));
        metrics.observe(EventKind::StepTimeout, Some(1), &json!({"attempt": 1}));
        metrics.observe(EventKind::StepRetryScheduled, Some(1), &json!({"attempt": 1, "exit_code": null}));
        metrics.observe(EventKind::StepStarted, Some(1), &json!({"attempt": 2}));
        metrics.observe(EventKind::StepTimeout, Some(1), &json!({"attempt": 2}));
        metrics.observe(EventKind::StepTimedOut, Some(1), &json!({"attempt": 2, "duration_ms": 12}));
        // `fine` never ran: canceled while pending.
        metrics.observe(EventKind::StepCanceled, Some(2), &json!({"attempt": 0, "duration_ms": null}));
        let text = metrics.render(Instant::now());
        assert_eq!(
            lines_of(&text, "weft_step_attempts_total"),
            [
                r#"weft_step_attempts_total{workflow="demo",step="flaky",executor="local",status="succeeded"} 1"#,
                r#"weft_step_attempts_total{workflow="demo",step="flaky",executor="local",status="failed"} 1"#,
                r#"weft_step_attempts_total{workflow="demo",step="slow",executor="local",status="timed_out"} 2"#,
            ]
        );
        assert_eq!(
            lines_of(&text, "weft_step_duration_seconds"),
            [
                r#"weft_step_duration_seconds{workflow="demo",step="flaky",executor="local"} 1.5"#,
                r#"weft_step_duration_seconds{workflow="demo",step="slow",executor="local"} 0.012"#,
            ]
        );
        let steps = lines_of(&text, "weft_run_steps");
        assert!(steps.contains(&r#"weft_run_steps{workflow="demo",run="7",status="succeeded"} 1"#), "{text}");
        assert!(steps.contains(&r#"weft_run_steps{workflow="demo",run="7",status="timed_out"} 1"#), "{text}");
        assert!(steps.contains(&r#"weft_run_steps{workflow="demo",run="7",status="canceled"} 1"#), "{text}");
        assert!(steps.contains(&r#"weft_run_steps{workflow="demo",run="7",status="pending"} 0"#), "{text}");
        assert_eq!(steps.len(), STEP_STATUSES.len());
        let _ = std::fs::remove_file(metrics.path());
    }

    #[test]
    fn an_attempt_is_counted_once_even_when_the_step_ends_while_it_waits_for_a_retry() {
        let mut metrics = metrics(&["a"], std::env::temp_dir().join("weft-metrics-unit-b.prom"));
        metrics.observe(EventKind::StepStarted, Some(0), &json!({"attempt": 1}));
        metrics.observe(EventKind::StepRetryScheduled, Some(0), &json!({"attempt": 1}));
        // Canceled while waiting: the event repeats the last attempt's number.
        metrics.observe(EventKind::StepCanceled, Some(0), &json!({"attempt": 1, "duration_ms": 5}));
        let text = metrics.render(Instant::now());
        assert_eq!(
            lines_of(&text, "weft_step_attempts_total"),
            [r#"weft_step_attempts_total{workflow="demo",step="a",executor="local",status="failed"} 1"#]
        );
        let _ = std::fs::remove_file(metrics.path());
    }

    #[test]
    fn an_attempt_reattached_after_a_resume_counts_when_it_ends() {
        let mut metrics = metrics(&["a"], std::env::temp_dir().join("weft-metrics-unit-c.prom"));
        metrics.observe(EventKind::RunResumed, None, &json!({}));
        metrics.observe(EventKind::StepReattached, Some(0), &json!({"attempt": 2, "executor": "slurm", "job_id": "7"}));
        metrics.observe(EventKind::StepSucceeded, Some(0), &json!({"attempt": 2, "duration_ms": 40}));
        let text = metrics.render(Instant::now());
        assert_eq!(
            lines_of(&text, "weft_step_attempts_total"),
            [r#"weft_step_attempts_total{workflow="demo",step="a",executor="local",status="succeeded"} 1"#]
        );
        let _ = std::fs::remove_file(metrics.path());
    }

    #[test]
    fn every_metric_has_help_and_type_before_its_series() {
        let metrics = metrics(&["a"], PathBuf::from("unused.prom"));
        let text = metrics.render(Instant::now());
        for name in [
            "weft_run_status",
            "weft_run_duration_seconds",
            "weft_run_start_time_seconds",
            "weft_run_steps",
            "weft_step_duration_seconds",
            "weft_step_attempts_total",
        ] {
            let help = text.find(&format!("# HELP {name} ")).unwrap_or_else(|| panic!("HELP of {name}"));
            let kind = text.find(&format!("# TYPE {name} ")).unwrap_or_else(|| panic!("TYPE of {name}"));
            assert!(help < kind, "{name}");
            if let Some(series) = text.find(&format!("\n{name}{{")) {
                assert!(kind < series, "{name}");
            }
        }
        assert!(text.contains("# TYPE weft_step_attempts_total counter\n"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn writes_are_held_to_one_a_second_and_the_run_end_is_written_at_once() {
        let path = std::env::temp_dir().join(format!("weft-metrics-unit-{}.prom", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut metrics = metrics(&["a", "b"], path.clone());
        metrics.observe(EventKind::RunStarted, None, &json!({}));
        assert!(path.is_file(), "the run's start is written");
        assert_eq!(metrics.due(), None);
        metrics.observe(EventKind::StepStarted, Some(0), &json!({"attempt": 1}));
        metrics.observe(EventKind::StepSucceeded, Some(0), &json!({"attempt": 1, "duration_ms": 3}));
        let due = metrics.due().expect("the step's end waits for its second");
        assert!(!std::fs::read_to_string(&path).unwrap().contains("step=\"a\""));
        metrics.flush();
        assert_eq!(metrics.due(), Some(due), "flushed too early: still held");
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        metrics.flush();
        assert_eq!(metrics.due(), None);
        assert!(std::fs::read_to_string(&path).unwrap().contains("step=\"a\""));
        metrics.observe(EventKind::StepStarted, Some(1), &json!({"attempt": 1}));
        metrics.observe(EventKind::StepSucceeded, Some(1), &json!({"attempt": 1, "duration_ms": 4}));
        assert!(metrics.due().is_some());
        metrics.observe(EventKind::RunFinished, None, &json!({"status": "succeeded"}));
        assert_eq!(metrics.due(), None);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#"weft_run_status{workflow="demo",run="7",status="succeeded"} 1"#), "{text}");
        assert!(text.contains("step=\"b\""), "{text}");
        let folder_entries: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.contains(&format!("weft-metrics-unit-{}.prom.", std::process::id())))
            .collect();
        assert!(folder_entries.is_empty(), "no temporary file is left behind: {folder_entries:?}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_file_that_cannot_be_written_fails_nothing() {
        let mut metrics = metrics(&["a"], PathBuf::from("/nonexistent-folder-of-weft/metrics.prom"));
        metrics.observe(EventKind::RunStarted, None, &json!({}));
        assert!(metrics.error_reported);
        metrics.observe(EventKind::RunFinished, None, &json!({"status": "succeeded"}));
        assert_eq!(metrics.run_status, "succeeded");
    }
}
