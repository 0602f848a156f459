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
        let steps = steps_node.and_then(Node::as_sequence).unwrap_or_default().iter().filter_map(Step::read).collect();
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
        node.as_mapping()?;
        let names = |key: &str| -> Vec<Name<'t>> {
            // Only a real list counts: the schema reports `depends_on: build`, and guessing here too
            // would report the same mistake twice.
            node.get(key)
                .and_then(Node::as_sequence)
                .map(|list| list.iter().filter_map(Name::of).collect())
                .unwrap_or_default()
        };
        let name = |key: &str| node.get(key).and_then(Name::of);
        let mut expressions: Vec<&Node> = Vec::new();
        if let Some(condition) = node.get("condition").filter(|c| matches!(c.kind, NodeKind::String(..))) {
            expressions.push(condition);
        }
        if let Some(skip_if) = node.get("skip_if") {
            expressions.extend(skip_if.items().iter().filter(|item| matches!(item.kind, NodeKind::String(..))));
        }
        Some(Step {
            node,
            id: name("id"),
            script: name("script"),
            with: node.get("with"),
            command: name("command"),
            run: name("run"),
            depends_on: names("depends_on"),
            fallback: name("fallback"),
            provides: names("provides"),
            consumes: names("consumes"),
            expressions,
            timeout: node.get("timeout_sec"),
        })
    }
}
