//! Translation of a prepared run (`engine::prepare`) into an Argo Workflows `Workflow`: one DAG
//! template whose tasks are the steps, one container template per step. What has no Argo
//! equivalent is refused by name unless the caller drops it.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::engine::hooks::Hooks;
use crate::engine::plan::{Action, ExecPlan, FailurePolicy};
use crate::model::expr::{BinaryOp, Expr, ExprKind};

/// The image of every container unless the caller names another.
pub const DEFAULT_IMAGE: &str = "alpine:3.20";

/// The folder the containers work in; a step's `cwd` is taken relative to it.
pub const WORKING_ROOT: &str = "/workspace";

/// The constructs that do not translate, by the name `--drop` takes.
pub const DROPPABLE: &[&str] = &[
    "fallback",
    "approval",
    "hooks",
    "outputs",
    "skip_if",
    "on_failure",
    "required",
    "condition",
    "requires",
    "expect",
    "rollback",
    "executor_options",
];

pub struct ArgoOptions {
    pub image: String,
    /// Constructs to leave out (names from `DROPPABLE`) instead of refusing the file.
    pub drop: BTreeSet<String>,
}

/// The Workflow, and a warning for each construct that was left out.
pub struct ArgoExport {
    pub workflow: Value,
    pub warnings: Vec<String>,
}

/// Translates the plan. `Err` lists every construct that does not translate and was not dropped,
/// one line each, naming the construct and the step.
pub fn export(plan: &ExecPlan, hooks: &Hooks, options: &ArgoOptions) -> Result<ArgoExport, Vec<String>> {
    let mut refused = Vec::new();
    let mut warnings = Vec::new();
    let mut note = |construct: &str, message: String| {
        if options.drop.contains(construct) {
            warnings.push(format!("dropped {construct}: {message}"));
        } else {
            refused.push(format!("{construct}: {message} (--drop {construct} leaves it out)"));
        }
    };
    let points = hooks.points();
    if !points.is_empty() {
        note("hooks", format!("weft.yaml has hooks ({}); Argo runs none of them", points.join(", ")));
    }

    let mut names = Names::default();
    names.reserve(DAG_TEMPLATE);
    let task_names: Vec<String> = plan.steps.iter().map(|step| names.claim(&step.id)).collect();
    // Steps that exist only as another step's fallback are left out with the fallback.
    let kept: Vec<bool> = plan.steps.iter().map(|step| !step.fallback_only).collect();

    let mut tasks = Vec::new();
    let mut templates = Vec::new();
    for (index, step) in plan.steps.iter().enumerate() {
        let id = &step.id;
        if step.fallback_only {
            note("fallback", format!("`{id}` runs only as a fallback; it is left out of the DAG"));
            continue;
        }
        if let Some(fallback) = step.fallback {
            note("fallback", format!("`{id}` falls back to `{}`", plan.steps[fallback].id));
        }
        // A step that is not required, and lets its dependents go on (or has none), is Argo's
        // `continueOn`: the workflow neither stops nor fails for it. Any other mix has no Argo
        // equivalent.
        let has_dependents = plan.steps.iter().any(|other| !other.fallback_only && other.dependencies.contains(&index));
        let continues = !step.required && (step.on_failure == FailurePolicy::Continue || !has_dependents);
        match step.on_failure {
            _ if continues => {}
            FailurePolicy::Abort | FailurePolicy::Fallback => {}
            FailurePolicy::SkipDependents => note("on_failure", format!("`{id}` has on_failure: skip_dependents")),
            FailurePolicy::Continue => note(
                "on_failure",
                format!("`{id}` has on_failure: continue but is required (its failure still fails the run)"),
            ),
        }
        if !step.required && !continues {
            note(
                "required",
                format!(
                    "`{id}` is not required but its dependents do not run when it fails (Argo's continueOn lets them run: add on_failure: continue)"
                ),
            );
        }
        if step.approval.is_some() {
            note("approval", format!("`{id}` waits for an approval"));
        }
        if !step.skip_if.is_empty() {
            note("skip_if", format!("`{id}` has skip_if"));
        }
        if !step.provides.is_empty() || !step.consumes.is_empty() {
            note("outputs", format!("`{id}` passes outputs (provides/consumes); containers share no $WEFT_OUTPUT"));
        }
        let requires = &step.requires;
        if !requires.files.is_empty() || !requires.env.is_empty() || !requires.commands.is_empty() {
            note("requires", format!("`{id}` has requires"));
        }
        if step.expected_exit_codes != [0] || !step.expected_outputs.is_empty() {
            note("expect", format!("`{id}` has expect"));
        }
        if step.rollback.is_some() {
            note("rollback", format!("`{id}` has a rollback action"));
        }
        // `cpus` and `memory` become the container's resource requests; the rest is Slurm's own.
        let asked = &step.executor_options;
        let slurm_only: Vec<&str> = [
            ("partition", asked.partition.is_some()),
            ("account", asked.account.is_some()),
            ("extra_args", !asked.extra_args.is_empty()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if !slurm_only.is_empty() {
            note(
                "executor_options",
                format!("`{id}` has Slurm's {} (only cpus and memory translate)", slurm_only.join(", ")),
            );
        }
        let name = &task_names[index];
        let mut task = Map::new();
        task.insert("name".into(), json!(name));
        task.insert("template".into(), json!(name));
        let dependencies: Vec<&String> =
            step.dependencies.iter().filter(|&&d| kept[d]).map(|&d| &task_names[d]).collect();
        if !dependencies.is_empty() {
            task.insert("dependencies".into(), json!(dependencies));
        }
        if continues {
            task.insert("continueOn".into(), json!({ "failed": true, "error": true }));
        }
        if let Some(condition) = &step.condition {
            // Only steps in the DAG: a fallback-only step left out has no task status to test.
            let by_id: HashMap<&str, &str> = plan
                .steps
                .iter()
                .zip(&task_names)
                .filter(|(s, _)| !s.fallback_only)
                .map(|(s, n)| (s.id.as_str(), n.as_str()))
                .collect();
            match translate(condition, &by_id) {
                Ok(when) => {
                    task.insert("when".into(), json!(when));
                }
                Err(what) => note("condition", format!("`{id}`: the condition does not translate ({what})")),
            }
        }
        tasks.push(Value::Object(task));
        templates.push(container_template(plan, index, name, &options.image));
    }
    if !refused.is_empty() {
        return Err(refused);
    }

    let mut all_templates = vec![json!({ "name": DAG_TEMPLATE, "dag": { "tasks": tasks } })];
    all_templates.extend(templates);
    let mut spec = Map::new();
    spec.insert("entrypoint".into(), json!(DAG_TEMPLATE));
    if let Some(deadline) = plan.run_timeout {
        spec.insert("activeDeadlineSeconds".into(), json!(seconds(deadline)));
    }
    spec.insert("templates".into(), Value::Array(all_templates));
    let workflow = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": format!("{}-", dns_name(&plan.workflow_id)),
            "labels": { "weft.dev/workflow": label_value(&plan.workflow_id) },
        },
        "spec": spec,
    });
    Ok(ArgoExport { workflow, warnings })
}

const DAG_TEMPLATE: &str = "main";

fn container_template(plan: &ExecPlan, index: usize, name: &str, image: &str) -> Value {
    let step = &plan.steps[index];
    let command: Vec<String> = match &step.action {
        Some(Action::Shell { shell, script }) => {
            let flag = if shell.starts_with("pwsh") || shell.starts_with("powershell") { "-Command" } else { "-c" };
            vec![shell.clone(), flag.to_owned(), script.clone()]
        }
        Some(Action::Exec { program, args }) => std::iter::once(program.clone()).chain(args.iter().cloned()).collect(),
        // An approval step without an action of its own succeeds once approved: with the approval
        // dropped there is nothing left to do.
        None => vec!["true".to_owned()],
    };
    let mut container = Map::new();
    container.insert("image".into(), json!(image));
    container.insert("command".into(), json!(command));
    if !step.env.is_empty() {
        let env: Vec<Value> = step.env.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect();
        container.insert("env".into(), Value::Array(env));
    }
    if let Ok(relative) = step.cwd.strip_prefix(&plan.folder) {
        let relative = relative.to_string_lossy();
        if !relative.is_empty() {
            container.insert("workingDir".into(), json!(format!("{WORKING_ROOT}/{}", relative.trim_end_matches('/'))));
        }
    }
    let mut requests = Map::new();
    if let Some(cpus) = step.executor_options.cpus {
        requests.insert("cpu".into(), json!(cpus.to_string()));
    }
    if let Some(memory) = step.executor_options.memory.as_deref().and_then(kubernetes_memory) {
        requests.insert("memory".into(), json!(memory));
    }
    if !requests.is_empty() {
        container.insert("resources".into(), json!({ "requests": requests }));
    }
    let mut template = Map::new();
    template.insert("name".into(), json!(name));
    template.insert("container".into(), Value::Object(container));
    if let Some(timeout) = step.timeout {
        // IntOrString in Argo's schema; a string, as Argo's own examples write it.
        template.insert("activeDeadlineSeconds".into(), json!(seconds(timeout).to_string()));
    }
    if step.retries > 0 {
        let backoff = &plan.backoff;
        template.insert(
            "retryStrategy".into(),
            json!({
                "limit": step.retries.to_string(),
                "retryPolicy": "Always",
                "backoff": {
                    "duration": format!("{}s", seconds(backoff.base)),
                    "factor": trim_number(backoff.factor),
                    "cap": format!("{}s", seconds(backoff.max)),
                },
            }),
        );
    }
    Value::Object(template)
}

/// A Slurm memory size (`512`, `512M`, `4G`: binary units, megabytes without one) as Kubernetes
/// writes it (`512Mi`, `4Gi`).
fn kubernetes_memory(slurm: &str) -> Option<String> {
    let slurm = slurm.trim();
    let (number, unit) = match slurm.char_indices().last()? {
        (at, unit) if unit.is_ascii_alphabetic() => (&slurm[..at], unit.to_ascii_uppercase()),
        _ => (slurm, 'M'),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let suffix = match unit {
        'K' => "Ki",
        'M' => "Mi",
        'G' => "Gi",
        'T' => "Ti",
        _ => return None,
    };
    Some(format!("{number}{suffix}"))
}

/// Whole seconds, rounded up so that a limit is never shorter than weft's.
fn seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn trim_number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Translates a condition into Argo's `when` syntax (govaluate over substituted `{{tasks.X.status}}`).
/// `Err` says what part does not translate.
fn translate(expr: &Expr, names: &HashMap<&str, &str>) -> Result<String, String> {
    match &expr.kind {
        ExprKind::Not(inner) => Ok(format!("!({})", translate(inner, names)?)),
        ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs, .. } => {
            Ok(format!("({}) {} ({})", translate(lhs, names)?, op.as_str(), translate(rhs, names)?))
        }
        ExprKind::Binary { op: op @ (BinaryOp::Eq | BinaryOp::Ne), lhs, rhs, .. } => {
            let (path, value) = match (&lhs.kind, &rhs.kind) {
                (ExprKind::Path(path), ExprKind::String(value)) | (ExprKind::String(value), ExprKind::Path(path)) => {
                    (path, value)
                }
                _ => return Err("only `steps.X.status == '...'` comparisons translate".to_owned()),
            };
            let segments: Vec<&str> = path.iter().map(|s| s.name.as_str()).collect();
            let ["steps", step, "status"] = segments[..] else {
                return Err(format!("`{}` has no Argo equivalent", segments.join(".")));
            };
            let name = names.get(step).ok_or_else(|| format!("`{step}` is not a task of the DAG"))?;
            let phase = match value.as_str() {
                "succeeded" => "Succeeded",
                "failed" => "Failed",
                "skipped" => "Skipped",
                other => return Err(format!("status `{other}` has no Argo equivalent")),
            };
            Ok(format!("{{{{tasks.{name}.status}}}} {} {phase}", op.as_str()))
        }
        _ => Err("only comparisons of `steps.X.status`, `&&`, `||` and `!` translate".to_owned()),
    }
}

/// A name Argo accepts for a task or template: lower-case letters, digits and `-`, starting with a
/// letter or digit, at most 63 characters.
pub fn dns_name(id: &str) -> String {
    let mut name = String::new();
    for c in id.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let mut name = name.trim_matches('-').to_owned();
    name.truncate(63);
    let name = name.trim_end_matches('-').to_owned();
    if name.is_empty() {
        "step".to_owned()
    } else {
        name
    }
}

fn label_value(id: &str) -> String {
    let mut value: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    value.truncate(63);
    value.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned()
}

/// Sanitised names, unique: two ids that sanitise alike get `-2`, `-3`… suffixes.
#[derive(Default)]
struct Names {
    used: BTreeSet<String>,
}

impl Names {
    fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_owned());
    }

    fn claim(&mut self, id: &str) -> String {
        let base = dns_name(id);
        let mut name = base.clone();
        let mut n = 2;
        while self.used.contains(&name) {
            let suffix = format!("-{n}");
            let mut stem = base.clone();
            stem.truncate(63 - suffix.len());
            name = format!("{}{suffix}", stem.trim_end_matches('-'));
            n += 1;
        }
        self.used.insert(name.clone());
        name
    }
}
