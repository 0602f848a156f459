//! Document and workspace symbols, folding ranges, inlay hints and document links.

use std::path::{Path, PathBuf};

use crate::analysis::graph::StepGraph;
use crate::analysis::{Document, Workspace};
use crate::model::{FileKind, PhaseTemplate, ProjectConfig};
use crate::syntax::{Node, NodeKind, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    Workflow,
    Step,
    Plugin,
    Hook,
    Group,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentSymbol {
    pub name: String,
    pub detail: Option<String>,
    pub kind: SymbolKind,
    /// The whole element.
    pub span: Span,
    /// The name to select (an id).
    pub selection: Span,
    pub children: Vec<DocumentSymbol>,
}

impl DocumentSymbol {
    /// A symbol for an element of the text. Invariant: its span holds its selection and its
    /// children's spans (editors drop an outline where a selection lies outside its symbol), even
    /// when a value comes from elsewhere in the text (an alias, a merge key) or a broken file left
    /// an element without its end.
    fn new(
        name: String,
        detail: Option<String>,
        kind: SymbolKind,
        element: Span,
        selection: Span,
        children: Vec<DocumentSymbol>,
    ) -> DocumentSymbol {
        let span = children.iter().fold(element.cover(selection), |span, child| span.cover(child.span));
        DocumentSymbol { name, detail, kind, span, selection, children }
    }
}

/// The outline of a file: a workflow with its stages, or a config's plugins and hooks.
pub fn document_symbols(document: &Document) -> Vec<DocumentSymbol> {
    let Some(root) = document.parse.root.as_ref() else { return Vec::new() };
    match document.kind {
        Some(FileKind::Workflow | FileKind::Plan) => {
            let Some(pipeline) = document.pipeline() else { return Vec::new() };
            let children = pipeline
                .steps
                .iter()
                .filter_map(|step| {
                    let id = step.id?;
                    let detail = step
                        .node
                        .get("name")
                        .and_then(Node::as_str)
                        .or(step.script.map(|s| s.text))
                        .or(step.command.or(step.run).map(|c| c.text));
                    Some(DocumentSymbol::new(
                        id.text.to_owned(),
                        detail.map(str::to_owned),
                        SymbolKind::Step,
                        step.node.span,
                        id.span,
                        Vec::new(),
                    ))
                })
                .collect();
            let (name, selection) = pipeline
                .id
                .map_or(("(no id)".to_owned(), Span::empty(root.span.start)), |id| (id.text.to_owned(), id.span));
            let detail = root.get("name").and_then(Node::as_str).map(str::to_owned);
            vec![DocumentSymbol::new(name, detail, SymbolKind::Workflow, root.span, selection, children)]
        }
        Some(FileKind::ProjectConfig) => {
            let config = ProjectConfig::read(Some(root));
            let mut symbols = Vec::new();
            if let Some((key, plugins)) = root.entry("plugins") {
                let children = config
                    .plugins
                    .iter()
                    .map(|plugin| {
                        DocumentSymbol::new(
                            plugin.id.text.to_owned(),
                            plugin.description.map(str::to_owned),
                            SymbolKind::Plugin,
                            plugin.node.span,
                            plugin.id.span,
                            Vec::new(),
                        )
                    })
                    .collect();
                symbols.push(DocumentSymbol::new(
                    "plugins".into(),
                    None,
                    SymbolKind::Group,
                    plugins.span,
                    key.span,
                    children,
                ));
            }
            if let Some((key, hooks)) = root.entry("hooks") {
                let children = config
                    .hooks
                    .iter()
                    .filter_map(|hook| {
                        let on = hook.on?;
                        Some(DocumentSymbol::new(
                            on.text.to_owned(),
                            hook.node.get("run").and_then(Node::as_str).map(str::to_owned),
                            SymbolKind::Hook,
                            hook.node.span,
                            on.span,
                            Vec::new(),
                        ))
                    })
                    .collect();
                symbols.push(DocumentSymbol::new(
                    "hooks".into(),
                    None,
                    SymbolKind::Group,
                    hooks.span,
                    key.span,
                    children,
                ));
            }
            symbols
        }
        Some(FileKind::PhaseTemplate) => {
            // A template is shown as a workflow is, its phases as its steps, in order.
            let template = PhaseTemplate::read(root);
            let children = template
                .phases
                .iter()
                .filter_map(|phase| {
                    let id = phase.id?;
                    Some(DocumentSymbol::new(
                        id.text.to_owned(),
                        phase.goal.map(|goal| goal.text.to_owned()),
                        SymbolKind::Step,
                        phase.node.span,
                        id.span,
                        Vec::new(),
                    ))
                })
                .collect();
            let (name, selection) = template
                .template_id
                .map_or(("(no id)".to_owned(), Span::empty(root.span.start)), |id| (id.text.to_owned(), id.span));
            let detail = template.description.map(|description| description.text.to_owned());
            vec![DocumentSymbol::new(name, detail, SymbolKind::Workflow, root.span, selection, children)]
        }
        None => Vec::new(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceSymbol {
    pub name: String,
    pub kind: SymbolKind,
    pub key: PathBuf,
    pub span: Span,
    /// The workflow or plan it belongs to.
    pub container: Option<String>,
}

/// Steps, workflows and plugins of every indexed file whose name contains `query` (ignoring case).
pub fn workspace_symbols(workspace: &Workspace, query: &str) -> Vec<WorkspaceSymbol> {
    let query = query.to_lowercase();
    let matches = |name: &str| query.is_empty() || name.to_lowercase().contains(&query);
    let mut found = Vec::new();
    for (key, document) in workspace.documents() {
        for symbol in document_symbols(document) {
            let container = (symbol.kind == SymbolKind::Workflow).then(|| symbol.name.clone());
            if symbol.kind == SymbolKind::Workflow && matches(&symbol.name) {
                found.push(WorkspaceSymbol {
                    name: symbol.name.clone(),
                    kind: symbol.kind,
                    key: key.clone(),
                    span: symbol.selection,
                    container: None,
                });
            }
            for child in symbol.children {
                if child.kind != SymbolKind::Hook && matches(&child.name) {
                    found.push(WorkspaceSymbol {
                        name: child.name,
                        kind: child.kind,
                        key: key.clone(),
                        span: child.selection,
                        container: container.clone(),
                    });
                }
            }
        }
        if found.len() > 2_000 {
            break;
        }
    }
    found
}

/// Line ranges (zero-based, inclusive) of every mapping and list that spans lines.
pub fn folding_ranges(document: &Document) -> Vec<(u32, u32)> {
    let Some(root) = document.parse.root.as_ref() else { return Vec::new() };
    let index = &document.source.line_index;
    let text = &document.source.text;
    let mut ranges = Vec::new();
    // Each node with the offset its fold starts at: a mapping's value folds from the line of its
    // key, so `stages:` stays visible and the first item keeps a fold of its own on its line.
    let mut stack = vec![(root, root.span.start)];
    while let Some((node, fold_start)) = stack.pop() {
        let children: Vec<(&Node, usize)> = match &node.kind {
            NodeKind::Mapping(entries) => entries.iter().map(|(key, value)| (value, key.span.start)).collect(),
            NodeKind::Sequence(items) => items.iter().map(|item| (item, item.span.start)).collect(),
            _ => continue,
        };
        let start = index.position(fold_start, crate::syntax::ColumnEncoding::Utf8).line;
        // A block collection's span ends at the start of the next line: fold up to the line before.
        let end_offset = text[..node.span.end.min(text.len())].trim_end().len();
        let end = index.position(end_offset, crate::syntax::ColumnEncoding::Utf8).line;
        if end > start && node != root {
            ranges.push((start, end));
        }
        stack.extend(children);
    }
    ranges.sort_unstable();
    ranges.dedup();
    ranges
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlayHint {
    pub offset: usize,
    pub label: String,
}

/// `wave N` after each step id; in a phase template, the phase's place in the sequence (`2/6`)
/// after each phase id.
pub fn inlay_hints(document: &Document) -> Vec<InlayHint> {
    if let Some(template) = document.phase_template() {
        let total = template.phases.len();
        return template
            .phases
            .iter()
            .enumerate()
            .filter_map(|(position, phase)| {
                Some(InlayHint { offset: phase.id?.span.end, label: format!("{}/{total}", position + 1) })
            })
            .collect();
    }
    let Some(pipeline) = document.pipeline() else { return Vec::new() };
    let graph = StepGraph::build(&pipeline);
    let waves = graph.waves();
    pipeline
        .steps
        .iter()
        .enumerate()
        .filter(|(position, step)| step.id.is_some_and(|id| graph.lookup(id.text) == Some(*position)))
        .filter_map(|(position, step)| {
            Some(InlayHint { offset: step.id?.span.end, label: format!("wave {}", waves[position]? + 1) })
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentLink {
    pub span: Span,
    pub target: PathBuf,
}

/// Paths in `args`, `cwd` and `requires.files` that exist on disk, relative to the file's folder
/// (or the step's `cwd`), and the `workflow` of each phase of a template.
pub fn document_links(key: &Path, document: &Document) -> Vec<DocumentLink> {
    let Some(root) = document.parse.root.as_ref() else { return Vec::new() };
    let Some(folder) = key.parent() else { return Vec::new() };
    let mut owners: Vec<&Node> = Vec::new();
    for list in ["stages", "steps"] {
        owners.extend(root.get(list).and_then(Node::as_sequence).unwrap_or_default());
    }
    owners.extend(root.get("plugins").and_then(Node::as_mapping).unwrap_or_default().iter().map(|(_, plugin)| plugin));
    let mut links = Vec::new();
    // A phase's `workflow`, relative to the template's folder.
    if let Some(template) = document.phase_template() {
        for phase in template.phases {
            let Some(workflow) = phase.workflow.filter(|w| !w.text.is_empty() && !w.text.contains('{')) else {
                continue;
            };
            let target = folder.join(workflow.text);
            if target.is_file() {
                links.push(DocumentLink { span: workflow.span, target });
            }
        }
    }
    for owner in owners {
        let base = owner.get("cwd").and_then(Node::as_str).map_or(folder.to_path_buf(), |cwd| folder.join(cwd));
        let mut candidates: Vec<(&Node, PathBuf)> = Vec::new();
        if let Some(cwd) = owner.get("cwd").filter(|c| c.as_str().is_some()) {
            candidates.push((cwd, base.clone()));
        }
        for list in [owner.get("args"), owner.get("requires").and_then(|r| r.get("files"))].into_iter().flatten() {
            for item in list.as_sequence().unwrap_or_default() {
                if let Some(text) = item.as_str().filter(|t| !t.starts_with('-') && !t.is_empty() && t.len() < 1024) {
                    candidates.push((item, base.join(text)));
                }
            }
        }
        for (node, target) in candidates {
            if target.exists() {
                links.push(DocumentLink { span: node.span, target });
            }
        }
    }
    links
}
