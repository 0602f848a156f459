//! Every place a file names a step, a plugin or a hook point: the one index behind hover, go to
//! definition, find references and rename.

use crate::model::expr;
use crate::model::{FileKind, Pipeline, ProjectConfig, Validation};
use crate::syntax::{Node, Span};

use crate::analysis::Document;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Symbol {
    /// A stage or step, by id; ids are local to their file.
    Step(String),
    /// A plugin of the project's `weft.yaml`.
    Plugin(String),
    HookPoint(String),
    /// A phase of a phase template, by id; ids are local to their file.
    Phase(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Definition,
    Reference,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub symbol: Symbol,
    pub span: Span,
    pub role: Role,
    /// For a step named inside an expression as a dotted path segment (`steps.build.status`): a
    /// rename to an id with a `.` must switch to the bracket form.
    pub in_dotted_path: bool,
}

/// Every occurrence in one document, in source order.
pub fn occurrences(document: &Document) -> Vec<Occurrence> {
    let mut found = Vec::new();
    let text = document.source.text.as_str();
    let push = |found: &mut Vec<Occurrence>, symbol: Symbol, span: Span, role: Role| {
        found.push(Occurrence { symbol, span, role, in_dotted_path: false });
    };
    match document.kind {
        Some(FileKind::Workflow | FileKind::Plan) => {
            let Some(pipeline) = document.pipeline() else { return found };
            for step in &pipeline.steps {
                if let Some(id) = step.id {
                    push(&mut found, Symbol::Step(id.text.to_owned()), id.span, Role::Definition);
                }
                for name in step.depends_on.iter().chain(step.fallback.iter()) {
                    push(&mut found, Symbol::Step(name.text.to_owned()), name.span, Role::Reference);
                }
                if let Some(script) = step.script {
                    push(&mut found, Symbol::Plugin(script.text.to_owned()), script.span, Role::Reference);
                }
                for node in &step.expressions {
                    expression_steps(text, node, &pipeline, &mut found);
                }
            }
        }
        Some(FileKind::ProjectConfig) => {
            let config = ProjectConfig::read(document.parse.root.as_ref());
            for plugin in &config.plugins {
                push(&mut found, Symbol::Plugin(plugin.id.text.to_owned()), plugin.id.span, Role::Definition);
            }
            for hook in &config.hooks {
                if let Some(on) = hook.on {
                    push(&mut found, Symbol::HookPoint(on.text.to_owned()), on.span, Role::Reference);
                }
            }
        }
        Some(FileKind::PhaseTemplate) => {
            let Some(template) = document.phase_template() else { return found };
            let ids: std::collections::HashSet<&str> = template.ids().collect();
            for phase in &template.phases {
                if let Some(id) = phase.id {
                    push(&mut found, Symbol::Phase(id.text.to_owned()), id.span, Role::Definition);
                }
                for entry in &phase.validation {
                    if let Validation::Expr { node, .. } = entry {
                        expression_ids(text, node, "phases", |id| ids.contains(id), Symbol::Phase, &mut found);
                    }
                }
            }
        }
        None => {}
    }
    found.sort_by_key(|occurrence| occurrence.span);
    found
}

/// `steps.<id>` segments of an expression, where their place in the source is exact.
fn expression_steps(text: &str, node: &Node, pipeline: &Pipeline<'_>, found: &mut Vec<Occurrence>) {
    expression_ids(text, node, "steps", |id| pipeline.step(id).is_some(), Symbol::Step, found);
}

/// `<root>.<id>` segments of an expression that name an id that `exists`, as `symbol`s, where
/// their place in the source is exact.
fn expression_ids(
    text: &str,
    node: &Node,
    root_name: &str,
    exists: impl Fn(&str) -> bool,
    symbol: fn(String) -> Symbol,
    found: &mut Vec<Occurrence>,
) {
    let Some(source) = node.as_str() else { return };
    let Ok(parsed) = expr::parse(source) else { return };
    for path in parsed.paths() {
        let (Some(root), Some(id)) = (path.first(), path.get(1)) else { continue };
        if root.name != root_name || !exists(&id.name) {
            continue;
        }
        let raw = &source[id.span.start..id.span.end];
        let quoted = raw.starts_with(['\'', '"']);
        // For a bracket segment the span holds the quotes; the id is inside them.
        let (start, end) = if quoted { (id.span.start + 1, id.span.end - 1) } else { (id.span.start, id.span.end) };
        let (Some(start), Some(end)) =
            (node.value_offset_in_source(text, start), node.value_offset_in_source(text, end))
        else {
            continue;
        };
        found.push(Occurrence {
            symbol: symbol(id.name.clone()),
            span: Span::new(start, end),
            role: Role::Reference,
            in_dotted_path: !quoted,
        });
    }
}

/// The occurrence under a cursor (touching its start or end counts).
pub fn occurrence_at(document: &Document, offset: usize) -> Option<Occurrence> {
    occurrences(document).into_iter().find(|occurrence| occurrence.span.touches(offset))
}
