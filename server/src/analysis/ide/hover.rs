//! Hover: what a step, plugin, hook point or key is.

use std::fmt::Write as _;
use std::path::Path;

use crate::analysis::graph::StepGraph;
use crate::analysis::schema::schema_for;
use crate::analysis::Workspace;
use crate::model::{hook_point, PhaseTemplate, ProjectConfig, Validation, HOOK_CONTEXT_FIELDS};
use crate::syntax::{Node, Span};

use super::occurrences::{occurrence_at, Symbol};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hover {
    pub markdown: String,
    pub span: Span,
}

pub fn hover(workspace: &Workspace, key: &Path, offset: usize) -> Option<Hover> {
    let document = workspace.document(key)?;
    if let Some(occurrence) = occurrence_at(document, offset) {
        let config_document = workspace.config_for(key).map(|(_, d)| d.clone());
        let markdown = match &occurrence.symbol {
            Symbol::Step(id) => {
                let pipeline = document.pipeline()?;
                let graph = StepGraph::build(&pipeline);
                let position = graph.lookup(id)?;
                let step = &pipeline.steps[position];
                let noun = pipeline.kind.step_noun();
                let mut text = format!("**{noun}** `{id}`");
                if let Some(name) = step.node.get("name").and_then(Node::as_str) {
                    let _ = write!(text, " — {name}");
                }
                text.push_str("\n\n");
                if let Some(description) = step.node.get("description").and_then(Node::as_str) {
                    let _ = write!(text, "{description}\n\n");
                }
                if let Some(script) = step.script {
                    let config = config_document.as_ref().map(|d| ProjectConfig::read(d.parse.root.as_ref()));
                    let plugin = config.as_ref().and_then(|c| c.plugin(script.text).map(|p| (p.description, p.command.or(p.run))));
                    let _ = write!(text, "plugin `{}`", script.text);
                    match plugin {
                        Some((description, action)) => {
                            if let Some(description) = description {
                                let _ = write!(text, ": {description}");
                            }
                            if let Some(action) = action {
                                let _ = write!(text, "  \n`{action}`");
                            }
                        }
                        None => text.push_str(" (not found in weft.yaml)"),
                    }
                    text.push_str("\n\n");
                } else if let Some(action) = step.command.or(step.run) {
                    let _ = write!(text, "runs `{}`\n\n", action.text);
                }
                let list = |ids: Vec<&str>| if ids.is_empty() { "nothing".to_owned() } else { ids.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ") };
                let dependencies: Vec<&str> = graph.dependencies(position).iter().filter_map(|e| pipeline.steps[e.dependency].id.map(|i| i.text)).collect();
                let dependents: Vec<&str> = graph.dependents(position).iter().filter_map(|&d| pipeline.steps[d].id.map(|i| i.text)).collect();
                let _ = write!(text, "depends on: {}  \nneeded by: {}", list(dependencies), list(dependents));
                if let Some(wave) = graph.waves()[position] {
                    let _ = write!(text, "  \nwave {}", wave + 1);
                }
                text
            }
            Symbol::Plugin(id) => {
                let config_document = if document.kind == Some(crate::model::FileKind::ProjectConfig) { Some(document.clone()) } else { config_document };
                let config = config_document.as_ref().map(|d| ProjectConfig::read(d.parse.root.as_ref()));
                let plugin = config.as_ref().and_then(|c| c.plugin(id));
                let mut text = format!("**plugin** `{id}`\n\n");
                match plugin {
                    Some(plugin) => {
                        if let Some(description) = plugin.description {
                            let _ = write!(text, "{description}\n\n");
                        }
                        if let Some(command) = plugin.command {
                            let args = plugin.node.get("args").map(|a| a.items().iter().filter_map(Node::as_str).collect::<Vec<_>>().join(" ")).unwrap_or_default();
                            let _ = write!(text, "`{command} {args}`\n\n");
                        } else if let Some(run) = plugin.run {
                            let _ = write!(text, "`{run}`\n\n");
                        }
                        if !plugin.outputs.is_empty() {
                            let outputs: Vec<String> = plugin.outputs.iter().map(|o| format!("`{}`", o.text)).collect();
                            let _ = write!(text, "outputs: {}", outputs.join(", "));
                        }
                    }
                    None => text.push_str("not defined in weft.yaml"),
                }
                text
            }
            Symbol::Phase(id) => phase_hover(&document.phase_template()?, id)?,
            Symbol::HookPoint(point) => match hook_point(point) {
                Some(doc) => format!(
                    "**hook point** `{point}`\n\n{doc}\n\nThe hook gets its context as JSON on stdin and as `WEFT_*` variables: {}.",
                    HOOK_CONTEXT_FIELDS.map(|f| format!("`{f}`")).join(", ")
                ),
                None => format!("`{point}` is not a hook point"),
            },
        };
        return Some(Hover { markdown, span: occurrence.span });
    }
    if let Some(hover) = validation_hover(document, offset) {
        return Some(hover);
    }
    key_hover(document, offset)
}

/// A name of the validation namespace under the cursor, in a validation expression of a phase
/// template: what it holds (and for `artifacts.<list>.<test>`, the phase's paths it tests).
fn validation_hover(document: &crate::analysis::Document, offset: usize) -> Option<Hover> {
    use crate::model::phases::{ARTIFACT_TESTS, PHASE_STATUSES};
    let text = document.source.text.as_str();
    let template = document.phase_template()?;
    let phase = template.phases.iter().find(|phase| phase.node.span.touches(offset))?;
    let node = phase.validation.iter().find_map(|entry| match entry {
        Validation::Expr { node, .. } if node.span.touches(offset) => Some(*node),
        _ => None,
    })?;
    let parsed = crate::model::expr::parse(node.as_str()?).ok()?;
    let in_source = |span: Span| {
        Some(Span::new(node.value_offset_in_source(text, span.start)?, node.value_offset_in_source(text, span.end)?))
    };
    let path = parsed.paths().into_iter().find(|path| {
        let whole = path[0].span.cover(path[path.len() - 1].span);
        in_source(whole).is_some_and(|span| span.touches(offset))
    })?;
    let span = in_source(path[0].span.cover(path[path.len() - 1].span))?;
    let names: Vec<&str> = path.iter().map(|segment| segment.name.as_str()).collect();
    let markdown = match names.as_slice() {
        ["artifacts", list, test] => {
            let (_, _, doc) = ARTIFACT_TESTS.iter().find(|(name, lists, _)| name == test && lists.contains(list))?;
            let paths = if *list == "required" { &phase.required } else { &phase.optional };
            let listed: Vec<String> = paths.iter().map(|path| format!("`{}`", path.text)).collect();
            let listed = if listed.is_empty() { "none".to_owned() } else { listed.join(", ") };
            format!("**artifacts.{list}.{test}**\n\n{doc}.\n\n{list} artifacts of this phase: {listed}")
        }
        ["phases", id, "status"] => format!(
            "**phases.{id}.status**\n\nThe status of phase `{id}` in the task's session: {}.",
            PHASE_STATUSES.join(", ")
        ),
        ["task", "id"] => "**task.id**\n\nThe id of the task the session walks (what `{task}` stands for).".to_owned(),
        ["env", name] => format!("**env.{name}**\n\nThe environment variable `{name}` (null when it is not set)."),
        _ => return None,
    };
    Some(Hover { markdown, span })
}

/// A phase: where it stands in the sequence, its goal, what it must leave and what comes next.
fn phase_hover(template: &PhaseTemplate<'_>, id: &str) -> Option<String> {
    let (position, phase) = template.phase(id)?;
    let total = template.phases.len();
    let mut text = format!("**phase** `{id}` — phase {} of {total}", position + 1);
    if let Some(goal) = phase.goal {
        let _ = write!(text, "\n\n**goal:** {}", goal.text);
    }
    if let Some(description) = phase.description {
        let _ = write!(text, "\n\n{}", description.text);
    }
    let quoted = |names: &[crate::model::Name<'_>]| names.iter().map(|n| format!("`{}`", n.text)).collect::<Vec<_>>();
    if !phase.required.is_empty() {
        let _ = write!(text, "\n\nrequired artifacts: {}", quoted(&phase.required).join(", "));
    }
    if !phase.validation.is_empty() {
        let commands = phase.validation.iter().filter(|entry| matches!(entry, Validation::Run { .. })).count();
        let checks = phase.validation.len();
        let _ = write!(
            text,
            "  \n{checks} validation check{} ({commands} command{})",
            if checks == 1 { "" } else { "s" },
            if commands == 1 { "" } else { "s" }
        );
    }
    if let Some(workflow) = phase.workflow {
        let _ = write!(text, "  \ncompleting it runs `{}`", workflow.text);
    }
    if let Some(next_step) = phase.next_step {
        let _ = write!(text, "\n\n**next step:** {}", next_step.text);
    }
    let neighbour =
        |index: Option<usize>| index.and_then(|i| template.phases.get(i)).and_then(|p| p.id).map(|id| id.text);
    match (neighbour(position.checked_sub(1)), neighbour(Some(position + 1))) {
        (None, None) => {}
        (before, after) => {
            let _ = write!(
                text,
                "\n\nafter: {} · before: {}",
                before.map_or("(first)".to_owned(), |id| format!("`{id}`")),
                after.map_or("(last)".to_owned(), |id| format!("`{id}`"))
            );
        }
    }
    Some(text)
}

/// The schema description of the key under the cursor.
fn key_hover(document: &crate::analysis::Document, offset: usize) -> Option<Hover> {
    let root = document.parse.root.as_ref()?;
    let (path, span) = key_path_at(root, offset)?;
    let schema = schema_for(document.kind?)?;
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    let description = super::schema_description(schema, &segments)?;
    let name = path.last()?;
    Some(Hover { markdown: format!("**{name}**\n\n{description}"), span })
}

/// The path of instance keys to the key under the cursor, and the key's span.
pub fn key_path_at(root: &Node, offset: usize) -> Option<(Vec<String>, Span)> {
    let mut path = Vec::new();
    let mut node = root;
    loop {
        match &node.kind {
            crate::syntax::NodeKind::Mapping(entries) => {
                let mut next = None;
                for (key, value) in entries {
                    if key.span.touches(offset) {
                        path.push(key.key_text());
                        return Some((path, key.span));
                    }
                    if value.span.touches(offset) && !value.span.is_empty() {
                        path.push(key.key_text());
                        next = Some(value);
                        break;
                    }
                }
                node = next?;
            }
            crate::syntax::NodeKind::Sequence(items) => {
                let (index, item) = items.iter().enumerate().find(|(_, item)| item.span.touches(offset))?;
                path.push(index.to_string());
                node = item;
            }
            _ => return None,
        }
    }
}
