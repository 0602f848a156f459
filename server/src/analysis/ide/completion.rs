//! Completion: stage ids, plugin ids, hook points, enum values, schema keys and expression paths;
//! in a phase template, the validation namespace, phase ids and the forms of a validation entry.

use std::path::Path;

use serde_json::Value;

use crate::analysis::graph::StepGraph;
use crate::analysis::schema::schema_for;
use crate::analysis::Workspace;
use crate::model::phases::{ARTIFACT_LISTS, ARTIFACT_TESTS, PHASE_STATUSES, TASK_PLACEHOLDER};
use crate::model::{FileKind, PhaseTemplate, Pipeline, ProjectConfig, HOOK_POINTS, STEP_STATUSES};
use crate::syntax::Span;

use super::context::{json_context, yaml_context, CursorContext, Segment, Slot};
use super::current_step;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Step,
    Plugin,
    HookPoint,
    Value,
    Key,
    Field,
    Variable,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionItem {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
    /// Markdown.
    pub documentation: Option<String>,
    /// The text the item replaces: the word being typed.
    pub replace: Span,
    pub insert_text: String,
    /// True when `insert_text` is an LSP snippet (`$1`, `$0`).
    pub snippet: bool,
    /// Orders items: nearer stages first.
    pub sort_text: Option<String>,
}

impl CompletionItem {
    fn plain(label: &str, kind: CompletionKind, replace: Span) -> CompletionItem {
        CompletionItem {
            label: label.to_owned(),
            kind,
            detail: None,
            documentation: None,
            replace,
            insert_text: label.to_owned(),
            snippet: false,
            sort_text: None,
        }
    }
}

const EXPRESSION_KEYS: [&str; 3] = ["condition", "skip_if", "when"];

/// Completions at a byte offset of a file in the workspace.
pub fn completions(workspace: &Workspace, key: &Path, offset: usize) -> Vec<CompletionItem> {
    let Some(document) = workspace.document(key) else { return Vec::new() };
    let Some(kind) = document.kind else { return Vec::new() };
    let text = document.source.text.as_str();
    let offset = floor_char_boundary(text, offset);
    let is_json = key.extension().is_some_and(|e| e == "json");
    let context = if is_json { json_context(text, offset) } else { yaml_context(text, offset) };
    let pipeline = document.pipeline();
    let graph = pipeline.as_ref().map(StepGraph::build);
    let step = pipeline.as_ref().and_then(|p| current_step(p, offset));
    let config_document = workspace.config_for(key).map(|(_, d)| d.clone());
    let config = match kind {
        FileKind::ProjectConfig => Some(ProjectConfig::read(document.parse.root.as_ref())),
        _ => config_document.as_ref().map(|d| ProjectConfig::read(d.parse.root.as_ref())),
    };
    let template = document.phase_template();
    let completer = Completer {
        workspace,
        key,
        text,
        context: &context,
        template: template.as_ref(),
        pipeline: pipeline.as_ref(),
        graph: graph.as_ref(),
        step,
        config: config.as_ref(),
        kind,
        is_json,
        cursor: offset,
    };
    completer.complete()
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

struct Completer<'a, 't> {
    workspace: &'a Workspace,
    key: &'a Path,
    text: &'a str,
    context: &'a CursorContext,
    template: Option<&'a PhaseTemplate<'t>>,
    pipeline: Option<&'a Pipeline<'t>>,
    graph: Option<&'a StepGraph>,
    step: Option<usize>,
    config: Option<&'a ProjectConfig<'t>>,
    kind: FileKind,
    is_json: bool,
    /// Where the cursor is: what is typed is the word up to here (editors filter the same way).
    cursor: usize,
}

impl Completer<'_, '_> {
    /// The part of the word under the cursor that stands before it.
    fn typed(&self, word: Span) -> &str {
        &self.text[word.start..self.cursor.clamp(word.start, word.end)]
    }

    fn complete(&self) -> Vec<CompletionItem> {
        let key = self.context.key();
        if self.context.slot == Slot::Value {
            if self.kind == FileKind::PhaseTemplate && key == Some("validation") {
                return self.validation_entry();
            }
            if key.is_some_and(|k| EXPRESSION_KEYS.contains(&k)) {
                return self.expression(&self.context.value_prefix);
            }
            if self.kind == FileKind::PhaseTemplate && matches!(key, Some("required" | "optional" | "run" | "workflow"))
            {
                if let Some(item) = self.task_placeholder() {
                    return vec![item];
                }
            }
            match key {
                // After the closing `]` nothing more belongs in the list.
                Some("depends_on") if self.context.value_prefix.contains(']') => return Vec::new(),
                Some("depends_on") if self.context.in_list || self.context.value_prefix.is_empty() => {
                    return self.step_ids(false);
                }
                Some("fallback") => return self.step_ids(true),
                Some("script") if self.kind == FileKind::Workflow => return self.plugins(),
                Some("workflow") if self.kind == FileKind::PhaseTemplate => return self.workflow_files(),
                Some("on") if self.kind == FileKind::ProjectConfig => return self.hook_points(),
                _ => {}
            }
            if let Some(values) = self.schema_values() {
                return values;
            }
            // `- |` in a list of mappings: the keys of a new item.
            if self.context.in_list && matches!(self.context.path.last(), Some(Segment::Item)) {
                return self.keys(&self.context.schema_path());
            }
            return Vec::new();
        }
        if self.is_json {
            return Vec::new();
        }
        self.keys(&self.context.schema_path())
    }

    /// The replace range and the quoting for an id in a value: JSON needs quotes unless typed.
    fn id_insert(&self, id: &str) -> String {
        let quote_typed = self.text[..self.context.word.start].ends_with(['"', '\'']);
        if self.is_json && !quote_typed {
            format!("\"{id}\"")
        } else {
            id.to_owned()
        }
    }

    fn step_ids(&self, fallback: bool) -> Vec<CompletionItem> {
        let (Some(pipeline), Some(graph)) = (self.pipeline, self.graph) else { return Vec::new() };
        let current = self.step;
        let listed: Vec<&str> = current
            .map(|step| pipeline.steps[step].depends_on.iter().map(|name| name.text).collect())
            .unwrap_or_default();
        let typed = self.typed(self.context.word);
        // The id being retyped is offered although it is listed.
        let retyped = &self.text[self.context.word.start..self.context.word.end];
        // One walk each way instead of a search per candidate: files have thousands of steps.
        let downstream = current.map(|current| graph.downstream_of(current));
        let upstream = current.filter(|_| fallback).map(|current| graph.upstream_of(current));
        let mut items = Vec::new();
        for (position, step) in pipeline.steps.iter().enumerate() {
            let Some(id) = step.id else { continue };
            if graph.lookup(id.text) != Some(position) || Some(position) == current {
                continue;
            }
            // Never offer a step that would close a cycle, one already listed, or (for a fallback)
            // one that runs before the step anyway.
            let closes_cycle = downstream.as_ref().is_some_and(|d| d[position]);
            let listed_already = listed.contains(&id.text) && id.text != retyped;
            if closes_cycle || listed_already || upstream.as_ref().is_some_and(|u| u[position]) {
                continue;
            }
            let distance = current.map_or(position, |current| current.abs_diff(position));
            let mut item = CompletionItem::plain(id.text, CompletionKind::Step, self.context.word);
            item.insert_text = self.id_insert(id.text);
            item.detail = Some(step_detail(step));
            item.sort_text = Some(format!("{distance:06}"));
            items.push(item);
        }
        nearest(items, typed)
    }

    fn plugins(&self) -> Vec<CompletionItem> {
        let Some(config) = self.config else { return Vec::new() };
        config
            .plugins
            .iter()
            .map(|plugin| {
                let mut item = CompletionItem::plain(plugin.id.text, CompletionKind::Plugin, self.context.word);
                item.insert_text = self.id_insert(plugin.id.text);
                item.detail = plugin.command.or(plugin.run).map(str::to_owned);
                item.documentation = plugin.description.map(str::to_owned);
                item
            })
            .collect()
    }

    fn hook_points(&self) -> Vec<CompletionItem> {
        HOOK_POINTS
            .iter()
            .enumerate()
            .map(|(order, (point, doc))| {
                let mut item = CompletionItem::plain(point, CompletionKind::HookPoint, self.context.word);
                item.documentation = Some((*doc).to_owned());
                item.sort_text = Some(format!("{order:02}"));
                item
            })
            .collect()
    }

    fn schema_values(&self) -> Option<Vec<CompletionItem>> {
        let schema = schema_for(self.kind)?;
        let subschema = schema.subschema_for_instance(&self.context.schema_path())?;
        let subschema = if self.context.in_list {
            subschema.get("items").map(|i| schema.resolve(i)).unwrap_or(subschema)
        } else {
            subschema
        };
        let values: Vec<String> = if let Some(options) = subschema.get("enum").and_then(Value::as_array) {
            options.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        } else if subschema.get("type").and_then(Value::as_str) == Some("boolean") {
            vec!["true".into(), "false".into()]
        } else {
            return None;
        };
        let key_path: Vec<&str> = self.context.schema_path();
        let documentation = super::schema_description(schema, &key_path).map(str::to_owned);
        Some(
            values
                .iter()
                .enumerate()
                .map(|(order, value)| {
                    let mut item = CompletionItem::plain(value, CompletionKind::Value, self.context.word);
                    item.documentation = documentation.clone();
                    // The schema lists the default first; without a sort text editors sort by label.
                    item.sort_text = Some(format!("{order:02}"));
                    if self.is_json && value != "true" && value != "false" {
                        item.insert_text = self.id_insert(value);
                    }
                    item
                })
                .collect(),
        )
    }

    /// Keys the schema allows in the mapping at `path`, minus those already written.
    fn keys(&self, path: &[&str]) -> Vec<CompletionItem> {
        let Some(schema) = schema_for(self.kind) else { return Vec::new() };
        let Some(subschema) = schema.subschema_for_instance(path) else { return Vec::new() };
        let Some(properties) = subschema.get("properties").and_then(Value::as_object) else { return Vec::new() };
        let required = required_keys(subschema);
        let required: Vec<&str> = required.iter().map(String::as_str).collect();
        let mut items = Vec::new();
        for (order, (name, property)) in properties.iter().enumerate() {
            if name == "$schema" || self.context.sibling_keys.iter().any(|sibling| sibling == name) {
                continue;
            }
            // The property's own description is more specific than the one of the `$ref` it names.
            let own_description = property.get("description");
            let property = schema.resolve(property);
            let mut item = CompletionItem::plain(name, CompletionKind::Key, self.context.word);
            item.documentation =
                own_description.or(property.get("description")).and_then(Value::as_str).map(str::to_owned);
            item.detail =
                Some(if required.contains(&name.as_str()) { "required".to_owned() } else { type_label(property) });
            item.insert_text = key_snippet(schema, name, property);
            item.snippet = true;
            item.sort_text = Some(format!("{}{order:03}", if required.contains(&name.as_str()) { 0 } else { 1 }));
            items.push(item);
        }
        items
    }

    /// An item of a phase's `validation` list: on a new item, the forms an entry takes; in a
    /// string, the validation namespace.
    fn validation_entry(&self) -> Vec<CompletionItem> {
        if !self.context.in_list {
            return Vec::new();
        }
        let item = current_flow_item(&self.context.value_prefix);
        // `- { |`: the keys of a command entry.
        if item.trim_start_matches(['-', ' ', '[']).starts_with('{') {
            return self.keys(&self.context.schema_path());
        }
        if !item.trim_start_matches(['-', ' ', '[']).is_empty() {
            return self.expression(item);
        }
        let quote = |text: &str| format!("\"{text}\"");
        let mut items = Vec::new();
        let mut push = |label: &str, insert_text: String, snippet: bool, doc: &str| {
            let mut item = CompletionItem::plain(label, CompletionKind::Value, self.context.word);
            item.insert_text = insert_text;
            item.snippet = snippet;
            item.documentation = Some(doc.to_owned());
            item.sort_text = Some(format!("{:02}", items.len()));
            items.push(item);
        };
        push(
            "artifacts.required.all_exist",
            quote("artifacts.required.all_exist"),
            false,
            "Holds when every required artifact exists (an expression).",
        );
        push(
            "artifacts.optional.any_exist",
            quote("artifacts.optional.any_exist"),
            false,
            "Holds when at least one optional artifact exists (an expression).",
        );
        let ids: Vec<&str> = self.template.map(|t| t.ids().collect()).unwrap_or_default();
        let id_choice = if ids.is_empty() { "${1:id}".to_owned() } else { format!("${{1|{}|}}", ids.join(",")) };
        let status_choice = format!("${{2|{}|}}", ["completed", "overridden", "active", "pending"].join(","));
        push(
            "phases.<id>.status == 'completed'",
            quote(&format!("phases.{id_choice}.status == '{status_choice}'")),
            true,
            "Holds when another phase has reached a status (an expression).",
        );
        let run =
            if self.is_json { "{ \"run\": \"$1\", \"message\": \"$2\" }" } else { "{ run: \"$1\", message: \"$2\" }" };
        push(
            "{ run, message }",
            run.to_owned(),
            true,
            "A shell command, run from the workspace root, that must exit 0; `message` says what its failure means. `{task}` is the task's id.",
        );
        items
    }

    /// Completion in an expression; `prefix` is the value written before the cursor.
    fn expression(&self, prefix: &str) -> Vec<CompletionItem> {
        let prefix = prefix.trim_start_matches(['-', ' ', '[']).trim_start_matches(['"', '\'']);
        // The path being typed.
        let start = trailing_path_start(prefix);
        let typed = &prefix[start..];
        let mut segments: Vec<&str> = typed.split('.').collect();
        // The segment being typed is replaced; the ones before it say what to offer.
        segments.pop();
        let replace = path_segment_at(self.text, self.cursor);
        let before = &prefix[..start];
        // A quoted word after a comparison (`== 'fai|'`, `in ['fai|'`) is a status.
        let before_quote = before.strip_suffix(['\'', '"']).map(str::trim_end);
        let compared = before_quote
            .is_some_and(|operator| operator.ends_with("==") || operator.ends_with("!=") || operator.contains(" in "));
        if self.kind == FileKind::PhaseTemplate {
            return self.phase_expression(&segments, compared, replace);
        }
        if segments.is_empty() && compared {
            // What is compared: the path before the last operator (`run.status == '|'`).
            let operand = ["==", "!=", " in "]
                .iter()
                .filter_map(|operator| before.rfind(operator))
                .max()
                .map_or("", |at| before[..at].trim_end());
            let path: Vec<&str> = operand[trailing_path_start(operand)..].split('.').collect();
            let statuses = crate::analysis::expressions::statuses_of(&path).unwrap_or(&STEP_STATUSES);
            return statuses
                .iter()
                .map(|status| CompletionItem::plain(status, CompletionKind::Value, replace))
                .collect();
        }
        let in_hook = self.kind == FileKind::ProjectConfig;
        let field = |label: &str, doc: &str| {
            let mut item = CompletionItem::plain(label, CompletionKind::Field, replace);
            item.documentation = Some(doc.to_owned());
            item
        };
        match segments.as_slice() {
            [] if in_hook => vec![
                field("stage", "The stage the hook fires for: `stage.id`, `stage.status`, `stage.attempt`."),
                field("workflow", "The workflow being run: `workflow.id`, `workflow.status`."),
                field(
                    "run",
                    "The run: `run.id`, `run.status`; at its end `run.error`, `run.failed_step`, `run.duration_ms`, `run.steps_run`.",
                ),
                field("env", "Environment variables: `env.NAME`."),
            ],
            [] => vec![
                field("steps", "Results of upstream steps: `steps.<id>.status`, `steps.<id>.outputs.<key>`."),
                field("env", "Environment variables: `env.NAME`."),
                field("inputs", "The stage's inputs: `inputs.<name>`."),
                field("stage", "This stage: `stage.id`."),
            ],
            ["steps"] => self.upstream_ids(replace),
            ["steps", _] => vec![
                field(
                    "status",
                    "The step's status: pending, running, succeeded, failed, skipped, canceled or timed_out.",
                ),
                field("outputs", "Values the step wrote to `$WEFT_OUTPUT`: `outputs.<key>`."),
            ],
            ["steps", id, "outputs"] => self.outputs_of(id, replace),
            ["env"] => self
                .pipeline
                .map(|pipeline| {
                    pipeline
                        .env_keys()
                        .map(|key| CompletionItem::plain(key, CompletionKind::Variable, replace))
                        .collect()
                })
                .unwrap_or_default(),
            ["stage"] if in_hook => ["id", "status", "attempt", "duration_ms", "error"]
                .iter()
                .map(|f| CompletionItem::plain(f, CompletionKind::Field, replace))
                .collect(),
            ["stage"] => vec![CompletionItem::plain("id", CompletionKind::Field, replace)],
            ["workflow"] if in_hook => ["id", "status"]
                .iter()
                .map(|f| CompletionItem::plain(f, CompletionKind::Field, replace))
                .collect(),
            ["run"] if in_hook => ["id", "status", "error", "failed_step", "duration_ms", "steps_run"]
                .iter()
                .map(|f| CompletionItem::plain(f, CompletionKind::Field, replace))
                .collect(),
            ["workflow"] => vec![CompletionItem::plain("id", CompletionKind::Field, replace)],
            _ => Vec::new(),
        }
    }

    /// `{task}` where a `{` was typed in a path or a command of a phase template (`docs/{ta|`).
    fn task_placeholder(&self) -> Option<CompletionItem> {
        let line_start = self.text[..self.cursor].rfind('\n').map_or(0, |newline| newline + 1);
        let before = &self.text[line_start..self.cursor];
        let open = line_start + before.rfind('{')?;
        let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ');
        if !self.text[open + 1..self.cursor].chars().all(is_name) || self.text[..open].ends_with('$') {
            return None;
        }
        let after = &self.text[self.cursor..];
        let name_end = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
        let end = self.cursor + name_end + usize::from(after[name_end..].starts_with('}'));
        let mut item = CompletionItem::plain(TASK_PLACEHOLDER, CompletionKind::Variable, Span::new(open, end));
        item.documentation = Some("The id of the task a session walks: the only placeholder of a template.".into());
        Some(item)
    }

    /// A phase's `workflow`: the workflows and plans the workspace knows, relative to the
    /// template's folder, nearest first.
    fn workflow_files(&self) -> Vec<CompletionItem> {
        let Some(folder) = self.key.parent() else { return Vec::new() };
        let mut items: Vec<CompletionItem> = self
            .workspace
            .documents()
            .filter(|(_, document)| matches!(document.kind, Some(FileKind::Workflow | FileKind::Plan)))
            .filter_map(|(other, document)| {
                let relative = relative_path(folder, other)?;
                let mut item = CompletionItem::plain(&relative, CompletionKind::Value, self.context.word);
                item.insert_text = self.id_insert(&relative);
                item.detail = document.kind.map(|kind| kind.as_str().to_owned());
                let ups = relative.matches("../").count();
                item.sort_text = Some(format!("{ups:03}{}", relative.matches('/').count()));
                Some(item)
            })
            .collect();
        if items.len() > MAX_STEP_ITEMS {
            items.sort_by(|a, b| a.sort_text.cmp(&b.sort_text));
            items.truncate(MAX_STEP_ITEMS);
        }
        items
    }

    /// Completion in a validation expression of a phase template: its namespace, phase ids and
    /// phase statuses.
    fn phase_expression(&self, segments: &[&str], compared: bool, replace: Span) -> Vec<CompletionItem> {
        let field = |label: &str, doc: &str| {
            let mut item = CompletionItem::plain(label, CompletionKind::Field, replace);
            item.documentation = Some(doc.to_owned());
            item
        };
        if segments.is_empty() && compared {
            return PHASE_STATUSES
                .iter()
                .map(|status| CompletionItem::plain(status, CompletionKind::Value, replace))
                .collect();
        }
        match segments {
            [] => vec![
                field("artifacts", "The phase's artifacts: `artifacts.required.all_exist`, `artifacts.optional.any_exist`, `artifacts.required.missing`."),
                field("phases", "Other phases of this template: `phases.<id>.status`."),
                field("task", "The task the session walks: `task.id`."),
                field("env", "Environment variables: `env.NAME`."),
            ],
            ["artifacts"] => ARTIFACT_LISTS
                .iter()
                .map(|list| field(list, &format!("The phase's `artifacts.{list}` paths.")))
                .collect(),
            ["artifacts", list] => ARTIFACT_TESTS
                .iter()
                .filter(|(_, lists, _)| lists.contains(list))
                .map(|(test, _, doc)| field(test, doc))
                .collect(),
            ["phases"] => {
                let Some(template) = self.template else { return Vec::new() };
                let total = template.phases.len();
                let items = template
                    .phases
                    .iter()
                    .enumerate()
                    .filter_map(|(position, phase)| {
                        let id = phase.id?;
                        let mut item = CompletionItem::plain(id.text, CompletionKind::Step, replace);
                        item.detail = Some(format!("phase {} of {total}", position + 1));
                        item.documentation = phase.goal.map(|goal| goal.text.to_owned());
                        item.sort_text = Some(format!("{position:06}"));
                        Some(item)
                    })
                    .collect();
                nearest(items, self.typed(replace))
            }
            ["phases", _] => vec![field("status", &format!("The phase's status: {}.", PHASE_STATUSES.join(", ")))],
            ["task"] => vec![field("id", "The id of the task the session walks.")],
            _ => Vec::new(),
        }
    }

    /// Steps whose results a condition of the current step may read: its upstream steps.
    fn upstream_ids(&self, replace: Span) -> Vec<CompletionItem> {
        let (Some(pipeline), Some(graph)) = (self.pipeline, self.graph) else { return Vec::new() };
        let upstream = self.step.map(|current| graph.upstream_of(current));
        let items: Vec<CompletionItem> = pipeline
            .steps
            .iter()
            .enumerate()
            .filter(|(position, step)| step.id.is_some() && upstream.as_ref().is_none_or(|u| u[*position]))
            .map(|(position, step)| {
                let id = step.id.map_or("", |id| id.text);
                let mut item = CompletionItem::plain(id, CompletionKind::Step, replace);
                item.detail = Some(step_detail(step));
                item.sort_text = Some(format!("{:06}", self.step.map_or(position, |c| c.abs_diff(position))));
                item
            })
            .collect();
        nearest(items, self.typed(replace))
    }

    fn outputs_of(&self, id: &str, replace: Span) -> Vec<CompletionItem> {
        let Some(step) = self.pipeline.and_then(|pipeline| pipeline.step(id)) else { return Vec::new() };
        let mut keys: Vec<&str> = step.provides.iter().map(|name| name.text).collect();
        if let (Some(script), Some(config)) = (step.script, self.config) {
            keys.extend(
                config
                    .plugin(script.text)
                    .map(|p| p.outputs.iter().map(|n| n.text).collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
        }
        keys.dedup();
        keys.into_iter().map(|key| CompletionItem::plain(key, CompletionKind::Variable, replace)).collect()
    }
}

/// `target` relative to the folder `base`, with `/` between its parts (`../release/r.plan.yaml`);
/// both are absolute, normalised keys. `None` when either is not valid Unicode.
fn relative_path(base: &Path, target: &Path) -> Option<String> {
    let base: Vec<&str> = base.components().map(|c| c.as_os_str().to_str()).collect::<Option<_>>()?;
    let target: Vec<&str> = target.components().map(|c| c.as_os_str().to_str()).collect::<Option<_>>()?;
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; base.len() - common];
    parts.extend(target[common..].iter().copied());
    Some(parts.join("/"))
}

/// The item of a flow list being typed (`[a, "b|`): the text after the last comma that is outside
/// quotes and brackets. Anything that is not a flow list is one item.
fn current_flow_item(prefix: &str) -> &str {
    if !prefix.starts_with('[') {
        return prefix;
    }
    let mut start = 1;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (at, c) in prefix.char_indices().skip(1) {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => start = at + 1,
            _ => {}
        }
    }
    prefix[start..].trim_start()
}

/// The segment of an expression path around the cursor (`sta|tus` in `steps.build.status`): what
/// an expression completion replaces. It holds the cursor and no `.` or line break, by construction.
/// Where the run of path characters (`steps.build.sta`) at the end of `text` starts.
fn trailing_path_start(text: &str) -> usize {
    text.char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .last()
        .map_or(text.len(), |(i, _)| i)
}

fn path_segment_at(text: &str, cursor: usize) -> Span {
    let is_segment_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-');
    let start = text[..cursor]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_segment_char(*c))
        .last()
        .map_or(cursor, |(at, _)| at);
    let end =
        text[cursor..].char_indices().find(|(_, c)| !is_segment_char(*c)).map_or(text.len(), |(at, _)| cursor + at);
    Span::new(start, end)
}

/// How many stage ids a completion offers at most: the nearest ones that match what is typed. The
/// list is then marked incomplete, so the editor asks again as the user types on.
pub const MAX_STEP_ITEMS: usize = 200;

/// The items whose label has the typed characters in order (as editors filter), nearest first, at
/// most [`MAX_STEP_ITEMS`]: a file of 10,000 stages must not send 10,000 items per keystroke.
fn nearest(items: Vec<CompletionItem>, typed: &str) -> Vec<CompletionItem> {
    let typed: Vec<char> = typed.to_lowercase().chars().collect();
    let matches = |label: &str| {
        let mut wanted = typed.iter().peekable();
        for c in label.to_lowercase().chars() {
            if wanted.peek() == Some(&&c) {
                wanted.next();
            }
        }
        wanted.peek().is_none()
    };
    let mut kept: Vec<CompletionItem> = items.into_iter().filter(|item| matches(&item.label)).collect();
    if kept.len() > MAX_STEP_ITEMS {
        kept.sort_by(|a, b| a.sort_text.cmp(&b.sort_text));
        kept.truncate(MAX_STEP_ITEMS);
    }
    kept
}

fn step_detail(step: &crate::model::Step<'_>) -> String {
    let action = step.script.or(step.command).or(step.run).map_or(String::new(), |a| a.text.to_owned());
    let name = step.node.get("name").and_then(|n| n.as_str());
    match name {
        Some(name) if !action.is_empty() => format!("{name} · {action}"),
        Some(name) => name.to_owned(),
        None => action,
    }
}

fn type_label(property: &Value) -> String {
    match property.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ if property.get("enum").is_some() => "enum".to_owned(),
        _ => "value".to_owned(),
    }
}

/// The keys an object of this schema must have, as a new one is written: its `required`, and of a
/// choice between keys (`"anyOf": [{"required": ["script"]}, {"required": ["approval"]}]`) the first,
/// the usual one.
fn required_keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let first_choice = object
        .get("anyOf")
        .and_then(Value::as_array)
        .filter(|branches| {
            branches.iter().all(|b| b.as_object().is_some_and(|b| b.len() == 1 && b.contains_key("required")))
        })
        .and_then(|branches| branches.first())
        .and_then(|branch| branch["required"].as_array())
        .and_then(|required| match required.as_slice() {
            [Value::String(key)] => Some(key.clone()),
            _ => None,
        });
    keys.extend(first_choice.filter(|key| !keys.contains(key)));
    keys
}

/// `key: $1` for scalars, and a block with the required sub-keys for objects and lists of objects.
fn key_snippet(schema: &crate::analysis::schema::Schema, name: &str, property: &Value) -> String {
    let kind = property.get("type").and_then(Value::as_str);
    let required_of = required_keys;
    match kind {
        Some("object") => {
            let required = required_of(property);
            if required.is_empty() {
                format!("{name}:\n  $0")
            } else {
                let lines: Vec<String> =
                    required.iter().enumerate().map(|(i, key)| format!("  {key}: ${}", i + 1)).collect();
                format!("{name}:\n{}", lines.join("\n"))
            }
        }
        Some("array") => {
            let items = property.get("items").map(|items| schema.resolve(items));
            match items {
                Some(items) if items.get("type").and_then(Value::as_str) == Some("object") => {
                    let required = required_of(items);
                    let lines: Vec<String> = required
                        .iter()
                        .enumerate()
                        .map(|(i, key)| format!("{}{key}: ${}", if i == 0 { "  - " } else { "    " }, i + 1))
                        .collect();
                    if lines.is_empty() {
                        format!("{name}:\n  - $0")
                    } else {
                        format!("{name}:\n{}", lines.join("\n"))
                    }
                }
                _ => format!("{name}: [$1]"),
            }
        }
        _ => format!("{name}: $1"),
    }
}
