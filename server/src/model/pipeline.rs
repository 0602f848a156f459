//! Workflows and plans as one model: a workflow stage is a step whose action is a plugin.

use crate::syntax::{Node, NodeKind, Span};

/// A string value and the span of its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name<'t> {
    pub text: &'t str,
    pub span: Span,
}

impl<'t> Name<'t> {
    fn of(node: &'t Node) -> Option<Name<'t>> {
        node.as_str().map(|text| Name { text, span: node.span })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineKind {
    Workflow,
    Plan,
}

impl PipelineKind {
    /// What one unit of work is called in this kind of file.
    pub fn step_noun(self) -> &'static str {
        match self {
            PipelineKind::Workflow => "stage",
            PipelineKind::Plan => "step",
        }
    }
}

/// Where a step's attempts run (SPEC §11): on this machine, or as Slurm batch jobs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExecutorKind {
    #[default]
    Local,
    Slurm,
    /// Scripted attempts for the engine's own tests (`engine::executor::fake`): no file and no
    /// command line selects it.
    #[doc(hidden)]
    Fake,
}

impl ExecutorKind {
    /// Every executor, by the name files and `--executor` give it.
    pub const ALL: [ExecutorKind; 2] = [ExecutorKind::Local, ExecutorKind::Slurm];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorKind::Local => "local",
            ExecutorKind::Slurm => "slurm",
            ExecutorKind::Fake => "fake",
        }
    }

    pub fn parse(name: &str) -> Option<ExecutorKind> {
        ExecutorKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// A workflow or plan, read leniently: whatever has the right shape is taken, the rest is left to
/// the schema check.
#[derive(Debug)]
pub struct Pipeline<'t> {
    pub kind: PipelineKind,
    pub root: &'t Node,
    pub id: Option<Name<'t>>,
    pub steps: Vec<Step<'t>>,
    /// The `stages`/`steps` node, where new steps go.
    pub steps_node: Option<&'t Node>,
    /// `env` of a workflow or `globals.env` of a plan.
    pub env: Option<&'t Node>,
    /// `defaults.max_step_duration_sec` or `globals.max_step_duration_sec`.
    pub max_step_duration: Option<&'t Node>,
    /// `defaults.timeout_sec` or `globals.default_timeout_sec`.
    pub default_timeout: Option<&'t Node>,
    /// `defaults.executor` or `globals.executor`.
    pub default_executor: Option<&'t Node>,
    /// `defaults.executor_options` or `globals.executor_options`.
    pub default_executor_options: Option<&'t Node>,
}

#[derive(Debug)]
pub struct Step<'t> {
    pub node: &'t Node,
    pub id: Option<Name<'t>>,
    /// A workflow stage's plugin id.
    pub script: Option<Name<'t>>,
    pub with: Option<&'t Node>,
    pub command: Option<Name<'t>>,
    pub run: Option<Name<'t>>,
    pub depends_on: Vec<Name<'t>>,
    pub fallback: Option<Name<'t>>,
    pub provides: Vec<Name<'t>>,
    pub consumes: Vec<Name<'t>>,
    /// The string nodes of `condition` and every `skip_if` item.
    pub expressions: Vec<&'t Node>,
    pub timeout: Option<&'t Node>,
    pub executor: Option<&'t Node>,
    pub executor_options: Option<&'t Node>,
}

impl<'t> Pipeline<'t> {
    /// Reads a workflow or plan from its root node; `None` when the root is not a mapping.
    pub fn read(kind: PipelineKind, root: &'t Node) -> Option<Pipeline<'t>> {
        root.as_mapping()?;
        let (id_key, steps_key, settings_key, default_timeout_key) = match kind {
            PipelineKind::Workflow => ("workflow_id", "stages", "defaults", "timeout_sec"),
            PipelineKind::Plan => ("plan_id", "steps", "globals", "default_timeout_sec"),
        };
        let settings = root.get(settings_key);
        let steps_node = root.get(steps_key);
        let items = steps_node.and_then(Node::as_sequence).unwrap_or_default();
        let mut steps = Vec::with_capacity(items.len());
        steps.extend(items.iter().filter_map(Step::read));
        let env = match kind {
            PipelineKind::Workflow => root.get("env"),
            PipelineKind::Plan => settings.and_then(|globals| globals.get("env")),
        };
        Some(Pipeline {
            kind,
            root,
            id: root.get(id_key).and_then(Name::of),
            steps,
            steps_node,
            env,
            max_step_duration: settings.and_then(|s| s.get("max_step_duration_sec")),
            default_timeout: settings.and_then(|s| s.get(default_timeout_key)),
            default_executor: settings.and_then(|s| s.get("executor")),
            default_executor_options: settings.and_then(|s| s.get("executor_options")),
        })
    }

    /// The first step with this id.
    pub fn step(&self, id: &str) -> Option<&Step<'t>> {
        self.steps.iter().find(|step| step.id.is_some_and(|own| own.text == id))
    }

    /// Keys of the pipeline's environment, for completion and expression checks.
    pub fn env_keys(&self) -> impl Iterator<Item = &'t str> {
        self.env.and_then(Node::as_mapping).unwrap_or_default().iter().filter_map(|(key, _)| key.as_str())
    }
}

impl<'t> Step<'t> {
    fn read(node: &'t Node) -> Option<Step<'t>> {
        let entries = node.as_mapping()?;
        // One pass over the step's keys rather than a search per field (this runs for every step
        // on every keystroke). The first of a repeated key counts, as with `Node::get`.
        let mut fields = StepFields::default();
        for (key, value) in entries {
            let slot = match key.as_str() {
                Some("id") => &mut fields.id,
                Some("script") => &mut fields.script,
                Some("with") => &mut fields.with,
                Some("command") => &mut fields.command,
                Some("run") => &mut fields.run,
                Some("depends_on") => &mut fields.depends_on,
                Some("fallback") => &mut fields.fallback,
                Some("provides") => &mut fields.provides,
                Some("consumes") => &mut fields.consumes,
                Some("condition") => &mut fields.condition,
                Some("skip_if") => &mut fields.skip_if,
                Some("timeout_sec") => &mut fields.timeout_sec,
                Some("executor") => &mut fields.executor,
                Some("executor_options") => &mut fields.executor_options,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        let names = |list: Option<&'t Node>| -> Vec<Name<'t>> {
            // Only a real list counts: the schema reports `depends_on: build`, and guessing here too
            // would report the same mistake twice.
            list.and_then(Node::as_sequence).map(|list| list.iter().filter_map(Name::of).collect()).unwrap_or_default()
        };
        let name = |value: Option<&'t Node>| value.and_then(Name::of);
        let mut expressions: Vec<&Node> = Vec::new();
        if let Some(condition) = fields.condition.filter(|c| matches!(c.kind, NodeKind::String(..))) {
            expressions.push(condition);
        }
        if let Some(skip_if) = fields.skip_if {
            expressions.extend(skip_if.items().iter().filter(|item| matches!(item.kind, NodeKind::String(..))));
        }
        Some(Step {
            node,
            id: name(fields.id),
            script: name(fields.script),
            with: fields.with,
            command: name(fields.command),
            run: name(fields.run),
            depends_on: names(fields.depends_on),
            fallback: name(fields.fallback),
            provides: names(fields.provides),
            consumes: names(fields.consumes),
            expressions,
            timeout: fields.timeout_sec,
            executor: fields.executor,
            executor_options: fields.executor_options,
        })
    }
}

/// The values of the keys a step is read from.
#[derive(Default)]
struct StepFields<'t> {
    id: Option<&'t Node>,
    script: Option<&'t Node>,
    with: Option<&'t Node>,
    command: Option<&'t Node>,
    run: Option<&'t Node>,
    depends_on: Option<&'t Node>,
    fallback: Option<&'t Node>,
    provides: Option<&'t Node>,
    consumes: Option<&'t Node>,
    condition: Option<&'t Node>,
    skip_if: Option<&'t Node>,
    timeout_sec: Option<&'t Node>,
    executor: Option<&'t Node>,
    executor_options: Option<&'t Node>,
}
