//! What the engine runs: a workflow or plan resolved into executable steps (plugins looked up,
//! environments merged, expressions parsed, paths made absolute).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::analysis::Document;
use crate::model::expr::{self, Expr};
use crate::model::{PipelineKind, ProjectConfig};
use crate::syntax::{Node, NodeKind};

/// How a step's process is started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A program with arguments, executed directly: no shell, no word splitting.
    Exec { program: String, args: Vec<String> },
    /// A script given to a shell (`sh -c`, `bash -c`, `pwsh -Command`).
    Shell { shell: String, script: String },
}

impl Action {
    /// What the circuit breaker counts failures by: the program, or the shell script's first word.
    pub fn label(&self) -> String {
        match self {
            Action::Exec { program, args } => {
                std::iter::once(program.as_str()).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
            }
            Action::Shell { script, .. } => script.clone(),
        }
    }

    /// The program that is started: the command, or the shell.
    pub fn program(&self) -> &str {
        match self {
            Action::Exec { program, .. } => program,
            Action::Shell { shell, .. } => shell,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    Abort,
    SkipDependents,
    Continue,
    Fallback,
}

pub use crate::model::ExecutorKind;

/// `executor_options`: what a cluster executor asks its scheduler for. Unset fields are left to
/// the scheduler's defaults; a step's own options win over the file's, field by field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutorOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub cpus: Option<u32>,
    /// As the scheduler takes it (`512M`, `4G`).
    pub memory: Option<String>,
    /// Given to the submit command as they are (`sbatch --qos=high`), before weft's own.
    pub extra_args: Vec<String>,
}

impl ExecutorOptions {
    /// Reads `executor_options` from a mapping, on top of `base`.
    fn read(node: Option<&Node>, base: &ExecutorOptions) -> ExecutorOptions {
        let Some(node) = node else { return base.clone() };
        let text = |key: &str| node.get(key).map(scalar_text).filter(|t| !t.is_empty());
        ExecutorOptions {
            partition: text("partition").or_else(|| base.partition.clone()),
            account: text("account").or_else(|| base.account.clone()),
            cpus: node.get("cpus").and_then(Node::as_f64).map(|n| n.max(1.0) as u32).or(base.cpus),
            memory: text("memory").or_else(|| base.memory.clone()),
            extra_args: node.get("extra_args").map_or_else(|| base.extra_args.clone(), |list| string_list(Some(list))),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requires {
    pub files: Vec<String>,
    pub env: Vec<String>,
    pub commands: Vec<String>,
}

/// A step's `approval`: it waits for a human's decision before its action (if any) runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Approval {
    pub prompt: String,
    /// How long to wait for a decision; `None` waits for ever.
    pub timeout: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct ExecStep {
    pub id: String,
    pub name: Option<String>,
    pub dependencies: Vec<usize>,
    /// What the step runs; `None` only for an approval step without an action of its own, whose
    /// approval is its success (it is never spawned).
    pub action: Option<Action>,
    pub approval: Option<Approval>,
    /// The working folder: the step's `cwd` relative to the file's folder.
    pub cwd: PathBuf,
    /// Environment for the process, merged: globals < plugin < step.
    pub env: BTreeMap<String, String>,
    /// The step's time limit per attempt: the smaller of its timeout and `max_step_duration_sec`.
    pub timeout: Option<Duration>,
    /// Whether `timeout` is `max_step_duration_sec` (the hard limit), not the step's own timeout.
    pub timeout_is_limit: bool,
    pub retries: u32,
    pub on_failure: FailurePolicy,
    pub fallback: Option<usize>,
    /// A failure of a step that is not required does not fail the run.
    pub required: bool,
    pub condition: Option<Expr>,
    pub skip_if: Vec<Expr>,
    pub requires: Requires,
    pub expected_exit_codes: Vec<i64>,
    pub expected_outputs: Vec<String>,
    pub provides: Vec<String>,
    pub consumes: Vec<String>,
    /// The stage's `with:` values, as JSON, for `$WEFT_INPUTS` and `inputs.<name>`.
    pub inputs: serde_json::Value,
    pub plugin: Option<String>,
    pub rollback: Option<Action>,
    /// True for a step named as another step's fallback: it runs only in that role.
    pub fallback_only: bool,
    /// Where its attempts run.
    pub executor: ExecutorKind,
    pub executor_options: ExecutorOptions,
    /// A hash of the step's definition, to tell which steps changed when a run is resumed.
    pub definition_hash: String,
}

#[derive(Clone, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub factor: f64,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_secs(1), factor: 2.0, max: Duration::from_secs(60) }
    }
}

#[derive(Clone, Debug)]
pub struct ExecPlan {
    /// The file as given, for the history and messages.
    pub file: String,
    /// The file's absolute path.
    pub path: PathBuf,
    /// The file's folder: relative `cwd`s start here.
    pub folder: PathBuf,
    pub workflow_id: String,
    pub kind: PipelineKind,
    pub steps: Vec<ExecStep>,
    pub max_concurrency: usize,
    pub backoff: Backoff,
    pub kill_grace: Duration,
    pub circuit_breaker_threshold: u32,
    pub rollback: bool,
    /// The run deadline (`run_timeout_sec`), counted from when the engine starts or resumes it.
    pub run_timeout: Option<Duration>,
    /// The run-level `expect` (a top-level key): files that must exist, relative to the file's
    /// folder, and output keys some step must have written, once the last step has ended.
    pub expected_files: Vec<String>,
    pub expected_outputs: Vec<String>,
    /// Commit every state change to the history as it happens (`checkpoints`, default true);
    /// without, the run's steps reach the history when it ends.
    pub checkpoints: bool,
    /// Where Prometheus metrics are written (`metrics:`, or `weft run --metrics`), relative paths
    /// being relative to the file's folder.
    pub metrics: Option<PathBuf>,
    pub text: String,
    pub hash: String,
}

impl ExecPlan {
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|step| step.id == id)
    }
}

/// Builds the plan of a checked document. The caller has made sure the file has no errors.
pub fn build_plan(file: &str, path: &Path, document: &Document, config: Option<&Document>) -> Result<ExecPlan, String> {
    let pipeline = document.pipeline().ok_or_else(|| format!("{file} is not a workflow or plan"))?;
    let config_folder = config.and_then(|config| config.source.path.parent()).map(Path::to_path_buf);
    let config = config.map(|config| ProjectConfig::read(config.parse.root.as_ref()));
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = pipeline.root;
    let (settings_key, timeout_key) = match pipeline.kind {
        PipelineKind::Workflow => ("defaults", "timeout_sec"),
        PipelineKind::Plan => ("globals", "default_timeout_sec"),
    };
    let settings = root.get(settings_key);
    let config_defaults = config.as_ref().and_then(|c| c.root.get("defaults"));
    // A setting of the file wins over the project's default.
    let setting = |key: &str| settings.and_then(|s| s.get(key)).or_else(|| config_defaults.and_then(|d| d.get(key)));
    let number = |key: &str| setting(key).and_then(Node::as_f64);
    let flag = |key: &str| setting(key).and_then(Node::as_bool);
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let max_concurrency = number("max_concurrency").map_or(cpus, |n| n.max(1.0) as usize);
    let default_timeout =
        number(timeout_key).or_else(|| config_defaults.and_then(|d| d.get("timeout_sec")).and_then(Node::as_f64));
    // A hard limit (SPEC §6): every step stops at it, whatever its own timeout.
    let max_step_duration = number("max_step_duration_sec");
    let default_retries = number("retries").unwrap_or(0.0) as u32;
    let default_policy = setting("on_failure").and_then(Node::as_str).and_then(policy).unwrap_or(FailurePolicy::Abort);
    let backoff_node = setting("retry_backoff");
    let backoff_value = |key: &str| backoff_node.and_then(|b| b.get(key)).and_then(Node::as_f64);
    let defaults = Backoff::default();
    let backoff = Backoff {
        base: backoff_value("base_sec").map_or(defaults.base, Duration::from_secs_f64),
        factor: backoff_value("factor").unwrap_or(defaults.factor),
        max: backoff_value("max_sec").map_or(defaults.max, Duration::from_secs_f64),
    };
    let global_env = string_map(pipeline.env);
    let shell_default = setting("shell").and_then(Node::as_str).unwrap_or("sh").to_owned();
    let default_executor = setting("executor").and_then(Node::as_str).and_then(ExecutorKind::parse).unwrap_or_default();
    let default_executor_options = ExecutorOptions::read(setting("executor_options"), &ExecutorOptions::default());

    let mut steps = Vec::with_capacity(pipeline.steps.len());
    for step in &pipeline.steps {
        let id = step.id.map(|id| id.text.to_owned()).ok_or("a step has no id")?;
        let plugin = step.script.and_then(|script| config.as_ref().and_then(|c| c.plugin(script.text)));
        if step.script.is_some() && plugin.is_none() {
            return Err(format!("`{id}`: plugin `{}` is not in weft.yaml", step.script.map_or("", |s| s.text)));
        }
        let action_of = |node: &Node| -> Option<Action> {
            if let Some(program) = node.get("command").and_then(Node::as_str) {
                let args = node.get("args").map(|a| a.items().iter().map(scalar_text).collect()).unwrap_or_default();
                Some(Action::Exec { program: program.to_owned(), args })
            } else {
                let script = node.get("run").and_then(Node::as_str)?;
                let shell = node.get("shell").and_then(Node::as_str).unwrap_or(&shell_default).to_owned();
                Some(Action::Shell { shell, script: script.to_owned() })
            }
        };
        let approval = step.node.get("approval").map(|node| Approval {
            prompt: node.get("prompt").and_then(Node::as_str).unwrap_or_default().to_owned(),
            timeout: node
                .get("timeout_sec")
                .and_then(Node::as_f64)
                .filter(|seconds| *seconds > 0.0)
                .map(Duration::from_secs_f64),
        });
        let action = match plugin {
            Some(plugin) => action_of(plugin.node),
            None => action_of(step.node),
        };
        if action.is_none() && approval.is_none() {
            return Err(format!("`{id}` has nothing to run"));
        }
        // Every relative path, a plugin's included, is relative to the folder of the file being run.
        let cwd_text = step.node.get("cwd").or_else(|| plugin.and_then(|p| p.node.get("cwd"))).and_then(Node::as_str);
        let cwd = cwd_text.map_or(folder.clone(), |cwd| folder.join(cwd));
        let mut env = global_env.clone();
        if let Some(plugin) = plugin {
            env.extend(string_map(plugin.node.get("env")));
        }
        env.extend(string_map(step.node.get("env")));
        let timeout = step
            .timeout
            .and_then(Node::as_f64)
            .or_else(|| plugin.and_then(|p| p.node.get("timeout_sec")).and_then(Node::as_f64))
            .or(default_timeout);
        let (timeout, timeout_is_limit) = match (timeout, max_step_duration) {
            (Some(own), Some(limit)) if limit < own => (Some(limit), true),
            (None, Some(limit)) => (Some(limit), true),
            (own, _) => (own, false),
        };
        let required =
            step.node.get("required").or_else(|| step.node.get("critical")).and_then(Node::as_bool).unwrap_or(true);
        let parse = |node: &Node| -> Result<Expr, String> {
            let text = node.as_str().unwrap_or_default();
            expr::parse(text).map_err(|error| format!("`{id}`: invalid expression `{text}`: {}", error.message))
        };
        let condition = step.node.get("condition").map(parse).transpose()?;
        let skip_if = step
            .node
            .get("skip_if")
            .map(|s| s.items().iter().map(parse).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        let requires_node = step.node.get("requires");
        let strings = |node: Option<&Node>| -> Vec<String> {
            node.map(|n| n.items().iter().map(scalar_text).collect()).unwrap_or_default()
        };
        let requires = Requires {
            files: strings(requires_node.and_then(|r| r.get("files"))),
            env: strings(requires_node.and_then(|r| r.get("env"))),
            commands: strings(requires_node.and_then(|r| r.get("commands"))),
        };
        let expect = step.node.get("expect");
        let expected_exit_codes = expect
            .and_then(|e| e.get("exit_code"))
            .map(|codes| codes.items().iter().filter_map(Node::as_i64).collect())
            .unwrap_or_else(|| vec![0]);
        let mut provides: Vec<String> = step.provides.iter().map(|p| p.text.to_owned()).collect();
        if let Some(plugin) = plugin {
            for output in &plugin.outputs {
                if !provides.iter().any(|p| p == output.text) {
                    provides.push(output.text.to_owned());
                }
            }
        }
        let rollback =
            step.node.get("rollback").or_else(|| plugin.and_then(|p| p.node.get("rollback"))).and_then(action_of);
        let definition_hash = hash(&format!(
            "{}|{}",
            step.node.to_json(),
            plugin.map(|p| p.node.to_json().to_string()).unwrap_or_default()
        ));
        steps.push(ExecStep {
            id,
            name: step.node.get("name").and_then(Node::as_str).map(str::to_owned),
            dependencies: Vec::new(),
            action,
            approval,
            cwd,
            env,
            timeout: timeout.map(Duration::from_secs_f64),
            timeout_is_limit,
            retries: step.node.get("retries").and_then(Node::as_f64).map_or(default_retries, |r| r.max(0.0) as u32),
            on_failure: step
                .node
                .get("on_failure")
                .and_then(Node::as_str)
                .and_then(policy)
                .unwrap_or(if step.fallback.is_some() { FailurePolicy::Fallback } else { default_policy }),
            fallback: None,
            required,
            condition,
            skip_if,
            requires,
            expected_exit_codes,
            expected_outputs: strings(expect.and_then(|e| e.get("outputs"))),
            provides,
            consumes: step.consumes.iter().map(|c| c.text.to_owned()).collect(),
            inputs: step.with.map(Node::to_json).unwrap_or(serde_json::Value::Null),
            plugin: step.script.map(|s| s.text.to_owned()),
            rollback,
            fallback_only: false,
            executor: step
                .node
                .get("executor")
                .and_then(Node::as_str)
                .and_then(ExecutorKind::parse)
                .unwrap_or(default_executor),
            executor_options: ExecutorOptions::read(step.node.get("executor_options"), &default_executor_options),
            definition_hash,
        });
    }
    // A map, not a search per dependency: a plan of 10,000 steps would cost 10⁸ comparisons.
    let mut positions: std::collections::HashMap<&str, usize> = std::collections::HashMap::with_capacity(steps.len());
    for (position, step) in steps.iter().enumerate() {
        positions.entry(step.id.as_str()).or_insert(position);
    }
    let index = |id: &str| positions.get(id).copied();
    let mut links = Vec::new();
    for (position, step) in pipeline.steps.iter().enumerate() {
        let dependencies: Vec<usize> = step.depends_on.iter().filter_map(|d| index(d.text)).collect();
        let fallback = step.fallback.and_then(|f| index(f.text));
        links.push((position, dependencies, fallback));
    }
    for (position, dependencies, fallback) in links {
        steps[position].dependencies = dependencies;
        steps[position].fallback = fallback;
        if let Some(fallback) = fallback {
            steps[fallback].fallback_only = true;
        }
    }
    // A relative `metrics` path is relative to the file that sets it: this one, or `weft.yaml`.
    let metrics = match settings.and_then(|s| s.get("metrics")) {
        Some(own) => own.as_str().filter(|p| !p.is_empty()).map(|p| folder.join(p)),
        None => config_defaults
            .and_then(|d| d.get("metrics"))
            .and_then(Node::as_str)
            .filter(|p| !p.is_empty())
            .map(|p| config_folder.as_deref().unwrap_or(&folder).join(p)),
    };
    Ok(ExecPlan {
        file: file.to_owned(),
        path: path.to_path_buf(),
        folder,
        workflow_id: pipeline.id.map_or_else(|| "workflow".to_owned(), |id| id.text.to_owned()),
        kind: pipeline.kind,
        steps,
        max_concurrency,
        backoff,
        kill_grace: Duration::from_secs_f64(number("kill_grace_sec").unwrap_or(5.0).max(0.0)),
        circuit_breaker_threshold: number("circuit_breaker_threshold").map_or(3, |n| n.max(1.0) as u32),
        rollback: flag("rollback").unwrap_or(false),
        checkpoints: flag("checkpoints").unwrap_or(true),
        run_timeout: number("run_timeout_sec").map(|seconds| Duration::from_secs_f64(seconds.max(0.0))),
        expected_files: string_list(root.get("expect").and_then(|e| e.get("files"))),
        expected_outputs: string_list(root.get("expect").and_then(|e| e.get("outputs"))),
        metrics,
        text: document.source.text.clone(),
        hash: hash(&document.source.text),
    })
}

fn policy(name: &str) -> Option<FailurePolicy> {
    match name {
        "abort" => Some(FailurePolicy::Abort),
        "skip_dependents" => Some(FailurePolicy::SkipDependents),
        "continue" => Some(FailurePolicy::Continue),
        "fallback" => Some(FailurePolicy::Fallback),
        _ => None,
    }
}

fn scalar_text(node: &Node) -> String {
    match &node.kind {
        NodeKind::String(text, _) => text.to_string(),
        NodeKind::Null => String::new(),
        _ => node.to_json().to_string(),
    }
}

fn string_list(node: Option<&Node>) -> Vec<String> {
    node.map(|list| list.items().iter().map(scalar_text).collect()).unwrap_or_default()
}

fn string_map(node: Option<&Node>) -> BTreeMap<String, String> {
    node.and_then(Node::as_mapping)
        .unwrap_or_default()
        .iter()
        .map(|(key, value)| (key.key_text(), scalar_text(value)))
        .collect()
}

pub fn hash(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(2 * digest.len());
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}
