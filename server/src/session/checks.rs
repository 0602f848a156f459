//! The checks that gate a phase's completion (its required artifacts and its `validation`
//! entries), and the phase's hooks. Every check is run and every failure is reported by name: a
//! person fixing a phase wants the whole list at once, not one failure per attempt.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::engine::command::{run_command, CommandOutcome, CommandSpec};
use crate::engine::process::Exit;
use crate::model::expr::{self, Value};
use crate::model::phases::{substitute_task, Command, Phase, Validation};
use crate::store::PhaseStatus;

use super::artifacts;
use super::Progress;

/// The time limit of a `run:` validation entry without `timeout_sec`.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(300);
/// The time limit of a hook without `timeout_sec` (as `weft.yaml` hooks).
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);
/// Between SIGTERM and SIGKILL when a check or hook passes its time limit (the engine's default
/// `kill_grace_sec`).
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// One failing check, as `phase_check_failed` records it (`data.failures[]`) and the editor shows
/// it: a diagnostic on the phase, on the artifact or validation entry at `index`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CheckFailure {
    /// How reports name it: `artifact docs/tasks/T-1/intake.md` or `validation 2` (from 1).
    pub check: String,
    /// `artifact` (a required artifact) or `validation` (an entry of `validation`).
    pub kind: String,
    /// The position in `artifacts.required` or in `validation`, from 0.
    pub index: usize,
    /// What is wrong, in words: `is missing (or empty)`, the entry's `message` with how its
    /// command ended (`intake lists no questions (exit 1)`), `` `expr` is false ``.
    pub message: String,
    /// The end of a failing command's stderr (else of its stdout), for the curious; may be empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The failure's fingerprint (`v1:…`), when one was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How often the same failure was seen before this one.
    #[serde(skip)]
    pub seen: Option<crate::store::Seen>,
    #[serde(skip)]
    pub(super) exit: crate::engine::fingerprint::ExitKind,
}

impl CheckFailure {
    /// The line a report prints (without the mark): `artifact docs/x.md is missing (or empty)`,
    /// `validation 2: intake lists no questions (exit 1)`.
    pub fn line(&self) -> String {
        if self.kind == "artifact" {
            format!("{} {}", self.check, self.message)
        } else {
            format!("{}: {}", self.check, self.message)
        }
    }
}

/// What a check or a hook sees of its session.
pub(super) struct CheckContext<'a> {
    pub workspace: &'a Path,
    pub session: crate::store::SessionId,
    pub task: &'a str,
    pub phase: &'a str,
    pub template: &'a Path,
    /// Each phase of the session and its status, for `phases.<id>.status`.
    pub statuses: Vec<(String, PhaseStatus)>,
    /// Where this attempt's logs go.
    pub log_dir: PathBuf,
}

impl CheckContext<'_> {
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("WEFT_TASK".into(), self.task.into()),
            ("WEFT_PHASE".into(), self.phase.into()),
            ("WEFT_SESSION".into(), self.session.to_string()),
            ("WEFT_TEMPLATE".into(), self.template.display().to_string()),
            ("WEFT_WORKSPACE".into(), self.workspace.display().to_string()),
        ]
    }
}

/// Runs every check of `phase`; returns the failures and how many checks passed.
pub(super) fn run_checks(
    context: &CheckContext<'_>,
    phase: &Phase<'_>,
    progress: &mut dyn FnMut(&Progress),
) -> (Vec<CheckFailure>, usize) {
    let mut failures = Vec::new();
    let mut passed = 0;
    let present = |list: &[crate::model::Name<'_>]| -> Vec<(String, bool)> {
        list.iter()
            .map(|name| {
                let path = substitute_task(name.text, context.task);
                let found = artifacts::present(context.workspace, &path);
                (path, found)
            })
            .collect()
    };
    let required = present(&phase.required);
    let optional = present(&phase.optional);
    for (index, (path, found)) in required.iter().enumerate() {
        let check = format!("artifact {path}");
        if *found {
            passed += 1;
            progress(&Progress::CheckPassed { check: &check });
            continue;
        }
        let message = if artifacts::is_glob(path) {
            "matches no file (or only empty ones)".to_owned()
        } else {
            "is missing (or empty)".to_owned()
        };
        failures.push(failure(check, "artifact", index, message, String::new(), ExitKindFor::Missing));
    }
    for (index, entry) in phase.validation.iter().enumerate() {
        let check = format!("validation {}", index + 1);
        let outcome = match entry {
            Validation::Expr { source, .. } => expression(source.text, context, &required, &optional),
            Validation::Run { run, message, timeout_sec, .. } => {
                progress(&Progress::CheckStarted { check: &check });
                let timeout = timeout_sec.map_or(DEFAULT_CHECK_TIMEOUT, |s| Duration::from_secs_f64(s.value));
                let script = substitute_task(run.text, context.task);
                let name = format!("validation-{}", index + 1);
                let outcome = run_logged(context, &name, &script, timeout, &[]);
                if outcome.succeeded() {
                    Ok(())
                } else {
                    let how = outcome.describe(timeout);
                    let what = match message {
                        Some(message) => message.text.to_owned(),
                        None => format!("`{script}` failed"),
                    };
                    let detail = if outcome.stderr_tail.trim().is_empty() {
                        outcome.stdout_tail.trim().to_owned()
                    } else {
                        outcome.stderr_tail.trim().to_owned()
                    };
                    let exit = if outcome.timed_out {
                        ExitKindFor::TimedOut
                    } else {
                        match outcome.exit {
                            Some(Exit::Code(code)) => ExitKindFor::Code(code),
                            Some(Exit::Signal(signal)) => ExitKindFor::Signal(signal),
                            None => ExitKindFor::DidNotStart,
                        }
                    };
                    Err((format!("{what} ({how})"), detail, exit))
                }
            }
            Validation::Invalid { .. } => {
                Err(("is not an expression or a `run:` entry".to_owned(), String::new(), ExitKindFor::Missing))
            }
        };
        match outcome {
            Ok(()) => {
                passed += 1;
                progress(&Progress::CheckPassed { check: &check });
            }
            Err((message, detail, exit)) => {
                failures.push(failure(check, "validation", index, message, detail, exit));
            }
        }
    }
    (failures, passed)
}

/// How a failing check ended, for its fingerprint's class.
enum ExitKindFor {
    Missing,
    Code(i32),
    Signal(i32),
    TimedOut,
    DidNotStart,
}

fn failure(
    check: String,
    kind: &str,
    index: usize,
    message: String,
    detail: String,
    exit: ExitKindFor,
) -> CheckFailure {
    use crate::engine::fingerprint::ExitKind;
    let exit = match exit {
        // A missing artifact or a false expression is a check that said no: exit 1 to the classifier.
        ExitKindFor::Missing => ExitKind::Code(1),
        ExitKindFor::Code(code) => ExitKind::Code(code),
        ExitKindFor::Signal(signal) => ExitKind::Signal(signal),
        ExitKindFor::TimedOut => ExitKind::TimedOut,
        ExitKindFor::DidNotStart => ExitKind::DidNotStart,
    };
    CheckFailure { check, kind: kind.to_owned(), index, message, detail, fingerprint: None, seen: None, exit }
}

/// Evaluates a validation expression over the namespace of `model::phases::VALIDATION_NAMES`.
fn expression(
    text: &str,
    context: &CheckContext<'_>,
    required: &[(String, bool)],
    optional: &[(String, bool)],
) -> Result<(), (String, String, ExitKindFor)> {
    let parsed = expr::parse(text).map_err(|error| {
        (format!("`{text}` does not parse: {}", error.message), String::new(), ExitKindFor::Missing)
    })?;
    let list = |items: &[(String, bool)]| items.to_vec();
    let (required, optional) = (list(required), list(optional));
    let scope = move |path: &[&str]| -> Option<Value> {
        match path {
            ["artifacts", which, test] => {
                let items = match *which {
                    "required" => &required,
                    "optional" => &optional,
                    _ => return None,
                };
                match *test {
                    "all_exist" => Some(Value::Bool(items.iter().all(|(_, found)| *found))),
                    "any_exist" => Some(Value::Bool(items.iter().any(|(_, found)| *found))),
                    "missing" => Some(Value::List(
                        items.iter().filter(|(_, found)| !found).map(|(path, _)| Value::String(path.clone())).collect(),
                    )),
                    _ => None,
                }
            }
            ["phases", id, "status"] => context
                .statuses
                .iter()
                .find(|(phase, _)| phase == id)
                .map(|(_, status)| Value::String(status.as_str().to_owned())),
            ["task", "id"] => Some(Value::String(context.task.to_owned())),
            ["env", name] => Some(std::env::var(name).map_or(Value::Null, Value::String)),
            _ => None,
        }
    };
    match expr::evaluate(&parsed, &scope) {
        Ok(value) if expr::is_truthy(&value) => Ok(()),
        Ok(value) => {
            let shown = match value {
                Value::List(items) if !items.is_empty() => format!(
                    " ({})",
                    items
                        .iter()
                        .map(|item| match item {
                            Value::String(text) => text.clone(),
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => String::new(),
            };
            Err((format!("`{text}` is false{shown}"), String::new(), ExitKindFor::Missing))
        }
        Err(error) => {
            Err((format!("`{text}` cannot be evaluated: {}", error.message), String::new(), ExitKindFor::Missing))
        }
    }
}

/// One hook's run, as reported and recorded (`phase_hook_finished`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct HookReport {
    pub phase: String,
    /// `on_start` or `on_end`.
    pub hook: String,
    pub command: String,
    pub success: bool,
    /// How it ended when it failed (`exit 1: <stderr>`, `timed out after 60 s`); empty on success.
    pub detail: String,
}

/// Runs the hooks of one point of a phase, in order. A failing hook does not stop the ones after
/// it.
pub(super) fn run_hooks(context: &CheckContext<'_>, point: &str, commands: &[Command<'_>]) -> Vec<HookReport> {
    commands
        .iter()
        .enumerate()
        .map(|(index, command)| {
            let timeout = command.timeout_sec.map_or(DEFAULT_HOOK_TIMEOUT, |s| Duration::from_secs_f64(s.value));
            let script = substitute_task(command.run.text, context.task);
            let name = format!("{point}-{}", index + 1);
            let outcome = run_logged(context, &name, &script, timeout, &[("WEFT_HOOK".into(), point.into())]);
            let detail = if outcome.succeeded() {
                String::new()
            } else {
                let stderr = outcome.stderr_tail.trim();
                let how = outcome.describe(timeout);
                if stderr.is_empty() {
                    how
                } else {
                    format!("{how}: {}", stderr.lines().last().unwrap_or_default())
                }
            };
            HookReport {
                phase: context.phase.to_owned(),
                hook: point.to_owned(),
                command: script,
                success: outcome.succeeded(),
                detail,
            }
        })
        .collect()
}

fn run_logged(
    context: &CheckContext<'_>,
    name: &str,
    script: &str,
    timeout: Duration,
    extra: &[(String, String)],
) -> CommandOutcome {
    let mut env = context.env();
    env.extend(extra.iter().cloned());
    let stdout = context.log_dir.join(format!("{name}.stdout"));
    let stderr = context.log_dir.join(format!("{name}.stderr"));
    run_command(&CommandSpec {
        script,
        cwd: context.workspace,
        env: &env,
        timeout,
        grace: KILL_GRACE,
        stdout: &stdout,
        stderr: &stderr,
    })
}
