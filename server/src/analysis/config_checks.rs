//! The checks of a project config (`weft.yaml`): hook points, hook conditions, plugin input schemas
//! and unused plugins.

use std::collections::HashSet;

use crate::model::{ProjectConfig, HOOK_POINTS};
use crate::syntax::Parse;

use super::expressions::{check_expression, Scope};
use super::held_back::follower;
use super::inputs::inputs_schema_error;
use super::suggest::did_you_mean_help;
use super::{Code, Diagnostic};

/// Which plugins the workflows of a project use. `complete` is false when a workflow could not be
/// read whole, so an apparently unused plugin may be used in the part that was lost.
pub struct PluginUsage {
    pub used: HashSet<String>,
    pub complete: bool,
}

/// `parse` is the config's parse: a plugin's `inputs` that may have lost values to a syntax error is
/// not judged as a schema.
pub fn check_project_config(
    source: &str,
    parse: &Parse,
    config: &ProjectConfig<'_>,
    usage: &PluginUsage,
    out: &mut Vec<Diagnostic>,
) {
    let points = HOOK_POINTS.map(|(point, _)| point);
    for hook in &config.hooks {
        if let Some(on) = hook.on {
            if !points.contains(&on.text) {
                out.push(
                    Diagnostic::new(Code::UnknownHook, on.span, format!("`{}` is not a hook point", on.text))
                        .with_help(
                            did_you_mean_help(on.text, points)
                                .unwrap_or_else(|| format!("hook points are {}", points.join(", "))),
                        ),
                );
            }
        }
        if let Some(when) = hook.when {
            check_expression(source, when, &Scope::Hook, out);
        }
    }
    let plugins_end = config.plugins_node.map_or(usize::MAX, |plugins| follower(config.root, plugins));
    for (index, plugin) in config.plugins.iter().enumerate() {
        let end = config.plugins.get(index + 1).map_or(plugins_end, |next| next.id.span.start);
        if let Some(inputs) = plugin.inputs.filter(|inputs| !parse.lost_between(inputs.span.start, end)) {
            if let Some(error) = inputs_schema_error(inputs) {
                out.push(Diagnostic::new(
                    Code::Schema,
                    inputs.span,
                    format!("`inputs` of `{}` is not a valid JSON Schema: {error}", plugin.id.text),
                ));
            }
        }
        if usage.complete && !usage.used.contains(plugin.id.text) {
            out.push(
                Diagnostic::new(
                    Code::UnusedPlugin,
                    plugin.id.span,
                    format!("plugin `{}` is not used by any workflow", plugin.id.text),
                )
                .with_help("remove it, or use it as a stage's `script`"),
            );
        }
    }
}
