//! Hooks from `weft.yaml`: run at each hook point in priority order, filtered by `when`, with the
//! context as JSON on stdin and as `WEFT_*` variables.

use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::analysis::Document;
use crate::model::expr::{self, Expr};
use crate::model::ProjectConfig;
use crate::syntax::Node;

use super::children::Tail;
use super::plan::Action;
use super::process::{self, Waited};
use super::scope::JsonScope;

pub struct Hook {
    pub point: String,
    pub priority: i64,
    pub action: Action,
    pub when: Option<Expr>,
    pub blocking: bool,
    pub timeout: Duration,
}

/// The hooks of a project, sorted by priority (lower first; equal priorities keep file order).
pub struct Hooks {
    hooks: Vec<Hook>,
    folder: PathBuf,
    /// The run's token, given to every hook as `WEFT_RUN_TOKEN` (see `super::leftovers`).
    run_token: String,
}

/// What a hook run reports.
pub struct HookOutcome {
    pub point: String,
    pub command: String,
    pub success: bool,
    pub blocking: bool,
    pub detail: String,
}

impl Hooks {
    pub fn none() -> Hooks {
        Hooks { hooks: Vec::new(), folder: PathBuf::new(), run_token: String::new() }
    }

    pub fn from_config(config: Option<(&Path, &Document)>) -> Hooks {
        let Some((path, document)) = config else { return Hooks::none() };
        let config = ProjectConfig::read(document.parse.root.as_ref());
        let mut hooks: Vec<Hook> = config
            .hooks
            .iter()
            .filter_map(|hook| {
                let point = hook.on?.text.to_owned();
                let node = hook.node;
                let action = if let Some(program) = node.get("command").and_then(Node::as_str) {
                    let args = node
                        .get("args")
                        .map(|a| a.items().iter().filter_map(Node::as_str).map(str::to_owned).collect())
                        .unwrap_or_default();
                    Action::Exec { program: program.to_owned(), args }
                } else {
                    let shell = node.get("shell").and_then(Node::as_str).unwrap_or("sh").to_owned();
                    Action::Shell { shell, script: node.get("run").and_then(Node::as_str)?.to_owned() }
                };
                Some(Hook {
                    point,
                    priority: node.get("priority").and_then(Node::as_i64).unwrap_or(0),
                    action,
                    when: hook.when.and_then(Node::as_str).and_then(|text| expr::parse(text).ok()),
                    blocking: node.get("blocking").and_then(Node::as_bool).unwrap_or(false),
                    timeout: Duration::from_secs_f64(node.get("timeout_sec").and_then(Node::as_f64).unwrap_or(60.0)),
                })
            })
            .collect();
        hooks.sort_by_key(|hook| hook.priority);
        Hooks { hooks, folder: path.parent().map(Path::to_path_buf).unwrap_or_default(), run_token: String::new() }
    }

    /// Sets the token of the run the hooks fire for.
    pub fn set_run_token(&mut self, token: &str) {
        token.clone_into(&mut self.run_token);
    }

    /// The hook points configured, each once, in priority order (`weft export` refuses them by name).
    pub fn points(&self) -> Vec<&str> {
        let mut points: Vec<&str> = Vec::new();
        for hook in &self.hooks {
            if !points.contains(&hook.point.as_str()) {
                points.push(&hook.point);
            }
        }
        points
    }

    pub fn has(&self, point: &str) -> bool {
        self.hooks.iter().any(|hook| hook.point == point)
    }

    /// Runs the hooks of one point. `context` is the JSON every hook gets; `env` the process
    /// environment for `when` conditions. A hook running when `stop` turns true (the run was
    /// canceled) is killed, and the hooks after it do not run. `tick` is called every few
    /// milliseconds while a hook runs (the engine keeps its steps going meanwhile).
    pub fn fire(
        &self,
        point: &str,
        context: &Value,
        stop: &dyn Fn() -> bool,
        tick: &mut dyn FnMut(),
    ) -> Vec<HookOutcome> {
        let mut outcomes = Vec::new();
        for hook in self.hooks.iter().filter(|hook| hook.point == point) {
            if stop() {
                break;
            }
            if let Some(when) = &hook.when {
                let scope = JsonScope(hook_scope(context));
                match expr::evaluate(when, &scope) {
                    Ok(value) if expr::is_truthy(&value) => {}
                    Ok(_) => continue,
                    Err(error) => {
                        outcomes.push(HookOutcome {
                            point: point.into(),
                            command: hook.action.label(),
                            success: false,
                            blocking: hook.blocking,
                            detail: format!("`when` failed: {}", error.message),
                        });
                        continue;
                    }
                }
            }
            let (success, detail) = self.run_one(hook, context, stop, tick);
            outcomes.push(HookOutcome {
                point: point.into(),
                command: hook.action.label(),
                success,
                blocking: hook.blocking,
                detail,
            });
        }
        outcomes
    }

    fn run_one(&self, hook: &Hook, context: &Value, stop: &dyn Fn() -> bool, tick: &mut dyn FnMut()) -> (bool, String) {
        let mut command = process::command(&hook.action);
        command
            .current_dir(&self.folder)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let fields = [
            ("workflow_id", "WEFT_WORKFLOW_ID"),
            ("run_id", "WEFT_RUN_ID"),
            ("stage_id", "WEFT_STAGE_ID"),
            ("attempt", "WEFT_ATTEMPT"),
            ("status", "WEFT_STATUS"),
            ("duration_ms", "WEFT_DURATION_MS"),
            ("error", "WEFT_ERROR"),
            ("run_status", "WEFT_RUN_STATUS"),
            // Only at the end of a run (`workflow_completed`, `workflow_failed`).
            ("failed_step", "WEFT_FAILED_STEP"),
            ("steps_run", "WEFT_STEPS_RUN"),
        ];
        for (field, variable) in fields {
            // A field only some hook points have is set only for them.
            let Some(value) = context.get(field) else { continue };
            let value = match value {
                Value::Null => String::new(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            command.env(variable, value);
        }
        command.env("WEFT_HOOK", &hook.point).env("WEFT_RUN_TOKEN", &self.run_token);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => return (false, format!("cannot start: {error}")),
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(context.to_string().as_bytes());
        }
        // The hook's stderr is read as it comes (its last bytes kept), so that a hook that writes
        // much cannot fill the pipe and stall until its time limit.
        let mut stderr = child.stderr.take();
        if let Some(pipe) = &stderr {
            process::set_nonblocking(pipe.as_raw_fd());
        }
        let mut tail = Tail::default();
        let mut drain = || {
            let Some(pipe) = stderr.as_mut() else { return };
            let mut buffer = [0u8; 8192];
            loop {
                match pipe.read(&mut buffer) {
                    Ok(0) => {
                        stderr = None;
                        return;
                    }
                    Ok(n) => tail.push(&buffer[..n]),
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        };
        let waited = process::wait_or_stop(&mut child, Some(hook.timeout), stop, &mut || {
            drain();
            tick();
        });
        let stderr = String::from_utf8_lossy(tail.bytes());
        match waited {
            Waited::Exited(status) if status.success() => (true, String::new()),
            Waited::Exited(status) => (false, format!("exit {}: {}", status.code().unwrap_or(-1), stderr.trim())),
            Waited::TimedOut => (false, format!("timed out after {} s", hook.timeout.as_secs_f64())),
            Waited::Stopped => (false, "stopped: the run was canceled".into()),
            Waited::Failed(error) => (false, format!("cannot wait for it: {error}")),
        }
    }
}

use std::os::unix::process::CommandExt as _;

/// The names a hook's `when` can use: `stage.*`, `workflow.*`, `run.*`, `env.*` (the fields the
/// checker knows are in `analysis::expressions`).
fn hook_scope(context: &Value) -> Value {
    let env: serde_json::Map<String, Value> = std::env::vars().map(|(k, v)| (k, Value::String(v))).collect();
    // A hook of the run, not of a stage: its `error` and `duration_ms` are the run's.
    let of_run = |field: &str| if context["stage_id"].is_null() { context[field].clone() } else { Value::Null };
    json!({
        "stage": { "id": context["stage_id"], "name": context["stage_name"], "status": context["status"], "attempt": context["attempt"], "duration_ms": context["duration_ms"], "error": context["error"] },
        "workflow": { "id": context["workflow_id"], "status": context["run_status"] },
        "run": {
            "id": context["run_id"],
            "status": context["run_status"],
            "error": of_run("error"),
            "failed_step": context["failed_step"],
            "duration_ms": of_run("duration_ms"),
            "steps_run": context["steps_run"],
        },
        "env": env,
    })
}
