//! One root cause, one diagnostic (SPEC §1): what the checks of a workflow or plan hold back from,
//! because its only cause is an error reported elsewhere.
//!
//! - **Values the parser lost.** A step next to text that could not be read (see
//!   [`Parse::lost_between`]) may have lost some of its keys or values there: its `depends_on`, its
//!   `with`, and so on. Nothing is concluded from what it seems to lack.
//! - **An upstream graph that is not known.** A step whose `depends_on` names an id that is not in
//!   the file (reported as `unknown-dependency`, or held back because the file is incomplete), or an
//!   id two steps share (reported as `duplicate-id`), or that lost values, has an unknown set of
//!   steps upstream of it, and so does every step downstream of
//!   it. Checks that need that set ("is the provider upstream?", "is the step an expression names
//!   upstream?") hold back for those steps. Checks that need only what is written (an id that exists
//!   nowhere, a key that no step provides) still report.

use std::collections::HashSet;

use crate::model::{Pipeline, ProjectConfig};
use crate::syntax::{Node, Parse};

use super::graph::{StepGraph, StepIndex};

pub struct HeldBack {
    /// Per step: its text may have lost values.
    lost: Vec<bool>,
    /// Per step: the steps upstream of it are not all known.
    upstream_unknown: Vec<bool>,
    /// The plugins of the project config whose text may have lost values.
    lost_plugins: HashSet<Box<str>>,
    /// The project config was read whole, so a plugin's `outputs` are all known.
    config_complete: bool,
}

impl HeldBack {
    /// `config` is the project config of a workflow and its parse, if it has one.
    pub fn new(
        pipeline: &Pipeline<'_>,
        graph: &StepGraph,
        parse: &Parse,
        config: Option<(&ProjectConfig<'_>, &Parse)>,
    ) -> HeldBack {
        let steps = &pipeline.steps;
        let mut lost = vec![false; steps.len()];
        if !parse.lost.is_empty() {
            let list_end = pipeline.steps_node.map_or(usize::MAX, |list| follower(pipeline.root, list));
            for (position, step) in steps.iter().enumerate() {
                let end = steps.get(position + 1).map_or(list_end, |next| next.node.span.start);
                lost[position] = parse.lost_between(step.node.span.start, end);
            }
        }
        // Seeds: steps that lost values, name an id that is not in the file, or name an id that
        // two steps share (reported as `duplicate-id`: which of them is meant is not known); then
        // everything downstream of them, in one walk.
        let mut seen = HashSet::new();
        let duplicated: HashSet<&str> =
            steps.iter().filter_map(|step| step.id.map(|id| id.text)).filter(|id| !seen.insert(*id)).collect();
        let mut upstream_unknown = lost.clone();
        for (position, unknown) in upstream_unknown.iter_mut().enumerate() {
            *unknown |= graph.has_unknown_dependency(position)
                || (!duplicated.is_empty()
                    && steps[position].depends_on.iter().any(|name| duplicated.contains(name.text)));
        }
        let mut stack: Vec<StepIndex> = (0..steps.len()).filter(|&step| upstream_unknown[step]).collect();
        while let Some(step) = stack.pop() {
            for &dependent in graph.dependents(step) {
                if !std::mem::replace(&mut upstream_unknown[dependent], true) {
                    stack.push(dependent);
                }
            }
        }
        let mut lost_plugins = HashSet::new();
        let mut config_complete = true;
        if let Some((config, config_parse)) = config {
            config_complete = config_parse.complete;
            if !config_parse.lost.is_empty() {
                let plugins_end = config.plugins_node.map_or(usize::MAX, |plugins| follower(config.root, plugins));
                for (index, plugin) in config.plugins.iter().enumerate() {
                    let end = config.plugins.get(index + 1).map_or(plugins_end, |next| next.id.span.start);
                    if config_parse.lost_between(plugin.id.span.start, end) {
                        lost_plugins.insert(Box::from(plugin.id.text));
                    }
                }
            }
        }
        HeldBack { lost, upstream_unknown, lost_plugins, config_complete }
    }

    /// True when the step's text may have lost values to a syntax error.
    pub fn lost_values(&self, step: StepIndex) -> bool {
        self.lost.get(step).copied().unwrap_or(false)
    }

    /// True when the steps upstream of `step` are not all known.
    pub fn upstream_unknown(&self, step: StepIndex) -> bool {
        self.upstream_unknown.get(step).copied().unwrap_or(false)
    }

    /// True when the plugin's entry in the project config may have lost values to a syntax error.
    pub fn plugin_lost(&self, plugin: &str) -> bool {
        self.lost_plugins.contains(plugin)
    }

    /// True when every plugin's `outputs` are known.
    pub fn config_complete(&self) -> bool {
        self.config_complete
    }
}

/// Where the text that may belong to `value`, a value of the mapping `parent`, ends: at the next key
/// of `parent`, or nowhere (the end of the text) when it is the last.
pub fn follower(parent: &Node, value: &Node) -> usize {
    let entries = parent.as_mapping().unwrap_or_default();
    entries
        .iter()
        .position(|(_, candidate)| std::ptr::eq(candidate, value))
        .and_then(|index| entries.get(index + 1))
        .map_or(usize::MAX, |(key, _)| key.span.start)
}
