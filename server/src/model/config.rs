//! The project config, `weft.yaml`: plugins, hooks and defaults (SPEC §4).

use crate::syntax::Node;

use super::pipeline::Name;

/// Hook points with what they are for (SPEC §4), in the order a run meets them.
pub const HOOK_POINTS: [(&str, &str); 11] = [
    ("workflow_started", "Fires once when a run starts, before any stage."),
    (
        "before_stage_execute",
        "Fires before each stage's process starts. A failing `blocking` hook here fails the stage.",
    ),
    ("after_stage_execute", "Fires after each stage's process ends, whatever its result."),
    ("stage_retry", "Fires before each retry of a failed stage."),
    ("stage_skipped", "Fires when a stage is skipped (condition false, `skip_if` true, or a dependency failed)."),
    ("checkpoint_created", "Fires after a checkpoint (a state change) is written to the run history."),
    ("run_resumed", "Fires when `weft resume` continues an interrupted or failed run."),
    ("rollback_started", "Fires before a failed run rolls back its completed stages."),
    ("rollback_completed", "Fires after the rollback of a failed run."),
    (
        "workflow_completed",
        "Fires once when a run ends successfully. Its `status`, `error` and `duration_ms` are the run's; `steps_run` counts the steps that ran (`run.*` in `when`).",
    ),
    (
        "workflow_failed",
        "Fires once when a run ends failed, canceled or quarantined. Its `status`, `error` and `duration_ms` are the run's; `failed_step` names the step that failed it and `steps_run` counts the steps that ran (`run.*` in `when`).",
    ),
];

/// The context fields every hook receives as JSON on stdin and as `WEFT_*` variables.
pub const HOOK_CONTEXT_FIELDS: [&str; 7] =
    ["workflow_id", "run_id", "stage_id", "attempt", "status", "duration_ms", "error"];

#[derive(Debug)]
pub struct ProjectConfig<'t> {
    pub root: &'t Node,
    pub plugins: Vec<Plugin<'t>>,
    pub hooks: Vec<Hook<'t>>,
    /// The `plugins` mapping, where new plugins go.
    pub plugins_node: Option<&'t Node>,
}

#[derive(Debug)]
pub struct Plugin<'t> {
    /// The plugin id: its key in `plugins`.
    pub id: Name<'t>,
    pub node: &'t Node,
    pub description: Option<&'t str>,
    pub command: Option<&'t str>,
    pub run: Option<&'t str>,
    pub inputs: Option<&'t Node>,
    pub outputs: Vec<Name<'t>>,
}

#[derive(Debug)]
pub struct Hook<'t> {
    pub node: &'t Node,
    pub on: Option<Name<'t>>,
    pub when: Option<&'t Node>,
}

impl<'t> ProjectConfig<'t> {
    /// Reads a project config from its root node. An empty file is an empty config.
    pub fn read(root: Option<&'t Node>) -> ProjectConfig<'t> {
        static EMPTY: Node =
            Node { kind: crate::syntax::NodeKind::Null, span: crate::syntax::Span { start: 0, end: 0 } };
        let root = root.unwrap_or(&EMPTY);
        let plugins_node = root.get("plugins");
        let plugins = plugins_node
            .and_then(Node::as_mapping)
            .unwrap_or_default()
            .iter()
            .filter_map(|(key, node)| {
                let id = Name { text: key.as_str()?, span: key.span };
                let text = |field: &str| node.get(field).and_then(Node::as_str);
                Some(Plugin {
                    id,
                    node,
                    description: text("description"),
                    command: text("command"),
                    run: text("run"),
                    inputs: node.get("inputs"),
                    outputs: node
                        .get("outputs")
                        .map(|list| {
                            list.items()
                                .iter()
                                .filter_map(|item| Some(Name { text: item.as_str()?, span: item.span }))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })
            .collect();
        let hooks = root
            .get("hooks")
            .and_then(Node::as_sequence)
            .unwrap_or_default()
            .iter()
            .filter(|node| node.as_mapping().is_some())
            .map(|node| Hook {
                node,
                on: node.get("on").and_then(|on| Some(Name { text: on.as_str()?, span: on.span })),
                when: node.get("when").filter(|when| when.as_str().is_some()),
            })
            .collect();
        ProjectConfig { root, plugins, hooks, plugins_node }
    }

    pub fn plugin(&self, id: &str) -> Option<&Plugin<'t>> {
        self.plugins.iter().find(|plugin| plugin.id.text == id)
    }
}

pub fn hook_point(name: &str) -> Option<&'static str> {
    HOOK_POINTS.iter().find(|(point, _)| *point == name).map(|(_, doc)| *doc)
}
