//! The set of files weft knows about, and the analysis of one of them in the context of the others:
//! a workflow's plugins come from the nearest `weft.yaml`, and a `weft.yaml`'s unused plugins depend
//! on the workflows below it. The command line fills it from disk; the language server from the
//! editor and the disk.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::model::{FileKind, PhaseTemplate, Pipeline, PipelineKind, ProjectConfig};
use crate::syntax::{reparse, Format, Parse, Span};

use super::config_checks::{check_project_config, PluginUsage};
use super::graph::StepGraph;
use super::held_back::HeldBack;
use super::phase_checks::PhaseChecks;
use super::pipeline_checks::{ConfigContext, PipelineChecks};
use super::schema::SchemaCache;
use super::{Code, Diagnostic, SourceFile};

/// One file: its text, its tree and its kind.
#[derive(Debug)]
pub struct Document {
    pub source: Arc<SourceFile>,
    pub parse: Parse,
    /// `None` for YAML/JSON files that are none of weft's kinds; they get no diagnostics.
    pub kind: Option<FileKind>,
}

impl Document {
    /// A `.json` file is read as strict JSON, anything else as YAML (see [`Format`]).
    pub fn new(display_path: PathBuf, text: String, key: &Path) -> Document {
        let parse = Format::of_path(key).parse(&text);
        Document::from_parse(display_path, text, key, parse)
    }

    fn from_parse(display_path: PathBuf, text: String, key: &Path, parse: Parse) -> Document {
        let kind = FileKind::from_path(key).or_else(|| parse.root.as_ref().and_then(FileKind::from_content));
        Document { source: Arc::new(SourceFile::new(display_path, text)), parse, kind }
    }

    /// The document for a new text of this file. When the edit lies inside one stage, only that
    /// stage is parsed again and the rest of the tree is reused (see `syntax::reparse`); otherwise
    /// the old document comes back, to be dropped, beside a whole parse.
    pub fn edit(self, display_path: PathBuf, text: String, key: &Path) -> (Document, Option<Document>) {
        let Document { source, mut parse, kind } = self;
        // Only YAML is reparsed in part: a JSON file is one flow collection, and its strict-JSON errors
        // come from a scan of the whole text.
        if Format::of_path(key) == Format::Yaml && reparse(&mut parse, &source.text, &text) {
            return (Document::from_parse(display_path, text, key, parse), None);
        }
        let old = Document { source, parse, kind };
        (Document::new(display_path, text, key), Some(old))
    }

    /// The phase template in this document, if it is one (and has a tree).
    pub fn phase_template(&self) -> Option<PhaseTemplate<'_>> {
        (self.kind? == FileKind::PhaseTemplate).then_some(())?;
        Some(PhaseTemplate::read(self.parse.root.as_ref()?))
    }

    /// The workflow or plan in this document, if it is one.
    pub fn pipeline(&self) -> Option<Pipeline<'_>> {
        let kind = match self.kind? {
            FileKind::Workflow => PipelineKind::Workflow,
            FileKind::Plan => PipelineKind::Plan,
            _ => return None,
        };
        Pipeline::read(kind, self.parse.root.as_ref()?)
    }
}

/// Files by key: an absolute, normalised path.
#[derive(Debug, Default)]
pub struct Workspace {
    documents: BTreeMap<PathBuf, Arc<Document>>,
    /// Per workflow or plan, its stages' schema diagnostics from earlier checks, so that a keystroke
    /// validates one stage (a lock, as `check` takes `&self`).
    schema_caches: Mutex<HashMap<PathBuf, SchemaCache>>,
}

const CONFIG_NAMES: [&str; 2] = ["weft.yaml", "weft.yml"];

/// Files at least this large have their schema and semantic checks run on two threads.
const PARALLEL_CHECK_BYTES: usize = 512 * 1024;

impl Workspace {
    pub fn new() -> Workspace {
        Workspace::default()
    }

    /// Adds or replaces a file. `display_path` is how diagnostics name it.
    pub fn set(&mut self, key: PathBuf, display_path: PathBuf, text: String) -> Arc<Document> {
        self.replace(key, display_path, text).0
    }

    /// As [`Workspace::set`], and hands back the document it replaced, so a caller on a latency path
    /// can drop that (a large tree) elsewhere.
    pub fn replace(
        &mut self,
        key: PathBuf,
        display_path: PathBuf,
        text: String,
    ) -> (Arc<Document>, Option<Arc<Document>>) {
        // The workspace usually holds the only reference to the old document, so its tree can be
        // taken over and patched where the edit was.
        let (document, old) = match self.documents.remove(&key).map(Arc::try_unwrap) {
            Some(Ok(previous)) => {
                let (document, old) = previous.edit(display_path, text, &key);
                (document, old.map(Arc::new))
            }
            Some(Err(shared)) => (Document::new(display_path, text, &key), Some(shared)),
            None => (Document::new(display_path, text, &key), None),
        };
        let document = Arc::new(document);
        self.documents.insert(key, document.clone());
        (document, old)
    }

    pub fn remove(&mut self, key: &Path) -> Option<Arc<Document>> {
        self.schema_caches.get_mut().unwrap_or_else(PoisonError::into_inner).remove(key);
        self.documents.remove(key)
    }

    /// Forgets every stage's cached schema diagnostics, so that the next check of each file is
    /// done from scratch (benchmarks measure that).
    pub fn clear_schema_caches(&self) {
        self.schema_caches.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    pub fn document(&self, key: &Path) -> Option<&Arc<Document>> {
        self.documents.get(key)
    }

    /// The errors of a file, one line each (`  path:line:column: error[code] message`, 1-based,
    /// columns in characters), for a command that refuses a file with errors (`weft run`, `weft
    /// session start`); `shown` is the path as the user gave it.
    pub fn error_lines(&self, key: &Path, shown: &Path) -> Vec<String> {
        let Some(document) = self.documents.get(key) else { return Vec::new() };
        self.check(key)
            .into_iter()
            .filter(|d| d.severity == super::Severity::Error)
            .map(|d| {
                let position = document.source.line_index.position(d.span.start, crate::syntax::ColumnEncoding::Chars);
                format!(
                    "  {}:{}:{}: {}[{}] {}",
                    shown.display(),
                    position.line + 1,
                    position.column + 1,
                    d.severity.as_str(),
                    d.code.as_str(),
                    d.message
                )
            })
            .collect()
    }

    pub fn contains(&self, key: &Path) -> bool {
        self.documents.contains_key(key)
    }

    pub fn documents(&self) -> impl Iterator<Item = (&PathBuf, &Arc<Document>)> {
        self.documents.iter()
    }

    /// The nearest `weft.yaml` at or above the folder of `key`.
    pub fn config_for(&self, key: &Path) -> Option<(&Path, &Arc<Document>)> {
        let mut folder = key.parent();
        while let Some(dir) = folder {
            for name in CONFIG_NAMES {
                let candidate = dir.join(name);
                if let Some((found, document)) = self.documents.get_key_value(&candidate) {
                    if found.as_path() != key {
                        return Some((found.as_path(), document));
                    }
                }
            }
            folder = dir.parent();
        }
        None
    }

    /// The plugins used by the workflows whose nearest config is `config_key`.
    pub fn plugin_usage(&self, config_key: &Path) -> PluginUsage {
        let mut usage = PluginUsage { used: HashSet::new(), complete: true };
        let Some(root) = config_key.parent() else {
            return usage;
        };
        for (key, document) in self.documents.range(root.to_path_buf()..) {
            if !key.starts_with(root) {
                break;
            }
            if document.kind != Some(FileKind::Workflow)
                || self.config_for(key).map(|(found, _)| found) != Some(config_key)
            {
                continue;
            }
            usage.complete &= document.parse.complete;
            if let Some(pipeline) = document.pipeline() {
                usage
                    .used
                    .extend(pipeline.steps.iter().filter_map(|step| step.script).map(|script| script.text.to_owned()));
            }
        }
        usage
    }

    /// Every diagnostic of one file, sorted by position. Files that are none of weft's kinds get none.
    pub fn check(&self, key: &Path) -> Vec<Diagnostic> {
        let Some(document) = self.documents.get(key) else {
            return Vec::new();
        };
        let Some(kind) = document.kind else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let text = document.source.text.as_str();
        for error in &document.parse.errors {
            let mut diagnostic = Diagnostic::new(Code::Syntax, error.span, error.message.clone());
            if let Some(help) = brace_in_flow_help(text, error.span) {
                diagnostic = diagnostic.with_help(help);
            }
            out.push(diagnostic);
        }
        let required = match kind {
            FileKind::Workflow => Some(("workflow_id", "stages")),
            FileKind::Plan => Some(("plan_id", "steps")),
            FileKind::PhaseTemplate => Some(("template_id", "phases")),
            FileKind::ProjectConfig => None,
        };
        if let (None, Some((id, list)), true) = (&document.parse.root, required, document.parse.errors.is_empty()) {
            out.push(Diagnostic::new(
                Code::Schema,
                Span::empty(0),
                format!("this {} is empty: it needs `{id}` and `{list}`", kind.as_str()),
            ));
        }
        let schema = |out: &mut Vec<Diagnostic>| {
            // The cache is taken out while in use, so that no lock is held while validating (and a
            // panic in the validation drops it rather than poisoning the lock).
            let caches = || self.schema_caches.lock().unwrap_or_else(PoisonError::into_inner);
            let mut cache = match kind {
                FileKind::Workflow | FileKind::Plan => caches().remove(key).unwrap_or_default(),
                FileKind::ProjectConfig | FileKind::PhaseTemplate => SchemaCache::new(),
            };
            cache.check(kind, text, &document.parse, out);
            if !cache.is_empty() {
                caches().insert(key.to_path_buf(), cache);
            }
        };
        let semantic = |out: &mut Vec<Diagnostic>| match kind {
            FileKind::Workflow | FileKind::Plan => self.check_pipeline(key, document, out),
            FileKind::ProjectConfig => {
                let config = ProjectConfig::read(document.parse.root.as_ref());
                check_project_config(text, &document.parse, &config, &self.plugin_usage(key), out);
            }
            FileKind::PhaseTemplate => {
                if let Some(root) = document.parse.root.as_ref() {
                    let template = PhaseTemplate::read(root);
                    PhaseChecks::new(text, key, &template, document.parse.complete, self).run(out);
                }
            }
        };
        if text.len() < PARALLEL_CHECK_BYTES {
            schema(&mut out);
            semantic(&mut out);
        } else {
            // The schema check and the semantic checks read the same tree and nothing else: on a
            // large file they run side by side, which a keystroke on two cores feels.
            let schema_out = std::thread::scope(|scope| {
                let schema_thread = scope.spawn(|| {
                    let mut schema_out = Vec::new();
                    schema(&mut schema_out);
                    schema_out
                });
                semantic(&mut out);
                schema_thread.join()
            });
            match schema_out {
                Ok(schema_out) => out.extend(schema_out),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out.sort_by(|a, b| a.span.cmp(&b.span).then(a.code.cmp(&b.code)));
        // A value reached twice through a YAML alias is reported once.
        out.dedup_by(|a, b| a.span == b.span && a.code == b.code && a.message == b.message);
        out
    }

    fn check_pipeline(&self, key: &Path, document: &Document, out: &mut Vec<Diagnostic>) {
        let Some(pipeline) = document.pipeline() else {
            return;
        };
        let graph = StepGraph::build(&pipeline);
        let config_document = self.config_for(key).map(|(_, document)| document);
        let config = config_document.map(|config| ProjectConfig::read(config.parse.root.as_ref()));
        let context = match (config_document, config.as_ref()) {
            (Some(document), Some(config)) => Some(ConfigContext {
                path: &document.source.path,
                text: &document.source.text,
                config,
                complete: document.parse.complete,
            }),
            _ => None,
        };
        // Only a workflow's stages use plugins.
        let plugins = match (pipeline.kind, config_document, config.as_ref()) {
            (PipelineKind::Workflow, Some(document), Some(config)) => Some((config, &document.parse)),
            _ => None,
        };
        let held_back = HeldBack::new(&pipeline, &graph, &document.parse, plugins);
        let checks = PipelineChecks {
            source: &document.source.text,
            pipeline: &pipeline,
            graph: &graph,
            complete: document.parse.complete,
            config: context.as_ref(),
            held_back: &held_back,
        };
        checks.run(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKFLOW: &str = "workflow_id: w\nstages:\n  - id: a\n    name: first\n  - id: b\n    depends_on: [a]\n";

    #[test]
    fn an_edit_inside_a_stage_keeps_the_tree_and_hands_back_no_old_document() {
        let key = PathBuf::from("/w/x.workflow.yaml");
        let mut workspace = Workspace::new();
        workspace.set(key.clone(), key.clone(), WORKFLOW.to_owned());
        // Inside one stage: the tree is patched in place, so there is no old document to drop.
        let (document, old) = workspace.replace(key.clone(), key.clone(), WORKFLOW.replace("first", "firsts"));
        assert!(old.is_none(), "the stage was parsed alone");
        assert_eq!(
            format!("{:?}", document.parse.root),
            format!("{:?}", crate::syntax::parse(&document.source.text).root)
        );
        // Outside any stage: a whole parse, and the old document comes back.
        let (_, old) = workspace.replace(key.clone(), key.clone(), WORKFLOW.replace("id: w", "id: v"));
        assert!(old.is_some(), "the header was edited: the file was parsed whole");
        // A document someone else still holds is never patched.
        let held = workspace.document(&key).cloned();
        let (_, old) = workspace.replace(key.clone(), key, WORKFLOW.replace("first", "second"));
        assert!(old.is_some() && held.is_some());
    }
}

/// Advice for a syntax error at a `{` in the middle of a word: inside `[ … ]` YAML reads it as the
/// start of a mapping, so `required: [docs/{task}/intake.md]` does not parse, where the same path on
/// a `- ` line does.
fn brace_in_flow_help(text: &str, span: Span) -> Option<String> {
    let at = span.start;
    let before = text.get(..at)?.chars().next_back()?;
    if !text.get(at..)?.starts_with('{') || before.is_whitespace() || matches!(before, '[' | ',' | '{' | ':') {
        return None;
    }
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    // The innermost bracket still open before the `{`: a list's item, or a mapping's value.
    let mut depth = 0usize;
    let mut open = None;
    for (index, byte) in text[line_start..at].bytes().enumerate().rev() {
        match byte {
            b']' | b'}' => depth += 1,
            b'[' | b'{' if depth > 0 => depth -= 1,
            b'[' | b'{' => {
                open = Some((line_start + index, byte));
                break;
            }
            _ => {}
        }
    }
    let (open_at, bracket) = open.unwrap_or((line_start, b'['));
    let item_start = text[open_at..at].rfind([',', '[', '{']).map_or(open_at, |i| open_at + i + 1);
    let closing = if bracket == b'{' { '}' } else { ']' };
    // The item goes on past the `{…}` that broke it.
    let after_brace = match text[at..].find(['}', '\n']) {
        Some(i) if text[at + i..].starts_with('}') => at + i + 1,
        _ => at,
    };
    let item_end = text[after_brace..].find([',', closing, '\n']).map_or(text.len(), |i| after_brace + i);
    let item = text[item_start..item_end].trim();
    if bracket == b'{' {
        let (key, value) = item.split_once(": ")?;
        let value = value.trim();
        return Some(format!(
            "inside `{{ … }}` a `{{` starts a mapping: quote the value (`{key}: \"{value}\"`) or write the mapping one key per line (`{key}: {value}`)"
        ));
    }
    Some(format!(
        "inside `[ … ]` a `{{` starts a mapping: quote the value (\"{item}\") or write the list one `- {item}` per line"
    ))
}
#[cfg(test)]
mod brace_tests {
    use super::*;

    #[test]
    fn a_brace_inside_a_flow_list_item_gets_advice() {
        let text = "phases:\n  - artifacts: { required: [docs/{task}/a.md, b] }\n";
        let at = text.find("{task}").unwrap();
        let help = brace_in_flow_help(text, Span::new(at, at + 1)).unwrap();
        assert!(help.contains("quote the value (\"docs/{task}/a.md\")"), "{help}");
        // In a flow mapping's value, the value is quoted, not the key.
        let text = "phases:\n  - { id: a, workflow: x/{task}.plan.yaml }\n";
        let at = text.find("{task}").unwrap();
        let help = brace_in_flow_help(text, Span::new(at, at + 1)).unwrap();
        assert!(help.contains("(`workflow: \"x/{task}.plan.yaml\"`)"), "{help}");
        let text = "phases:\n  - artifacts: { required: [docs/{task}/a.md, b] }\n";
        // A flow mapping where one belongs is no mistake of this kind.
        let at = text.find("{ required").unwrap();
        assert_eq!(brace_in_flow_help(text, Span::new(at, at + 1)), None);
    }
}
