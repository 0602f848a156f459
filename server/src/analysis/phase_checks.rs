//! The checks of a phase template (SPEC §7), beside its schema: phase ids, validation expressions and
//! commands, `{task}` placeholders and the files `workflow` names.
//!
//! - `duplicate-id`: two phases with one id.
//! - `invalid-expression`: a validation string that does not parse or names something outside the
//!   validation namespace ([`crate::model::phases::VALIDATION_NAMES`]), a phase status that does
//!   not exist, and a `run` command (of a validation entry or a hook) that is empty or has an
//!   unclosed quote.
//! - `unknown-placeholder`: a `{…}` other than `{task}` in `artifacts`, `workflow` or a `run` (in a
//!   `run` and in `goal`, `description` and `next_step`, where `{task}` is shown substituted, only
//!   a misspelt `{task}`).
//! - `unknown-file`: a `workflow` that does not exist, relative to the template's folder, or is not
//!   a workflow or plan.
//!
//! One root cause, one diagnostic: a phase id an expression names is not judged while the file has
//! lost text to a syntax error (the phase may be there); a `workflow` path with a placeholder in it
//! is not looked for (the file it names depends on the task, or the placeholder is the error), nor
//! is an empty one (the schema reports it).

use std::cell::Cell;
use std::path::{Component, Path, PathBuf};

use foldhash::{HashMap, HashMapExt};

use crate::model::expr::{self, ExprKind, Segment};
use crate::model::phases::{
    is_artifact_test, placeholders, ARTIFACT_LISTS, ARTIFACT_TESTS, PHASE_STATUSES, TASK_PLACEHOLDER, VALIDATION_ROOTS,
};
use crate::model::{FileKind, Name, PhaseTemplate, Validation};
use crate::syntax::{Node, Span};

use super::edits;
use super::suggest::{close_matches, did_you_mean_any, did_you_mean_help};
use super::{Code, Diagnostic, Workspace};

pub struct PhaseChecks<'a, 't> {
    source: &'a str,
    /// The template's key (absolute path): `workflow` paths are relative to its folder.
    key: &'a Path,
    template: &'a PhaseTemplate<'t>,
    /// False when the file has syntax errors: checks that need the whole file hold back.
    complete: bool,
    /// Open files may name a workflow that is not saved yet, or hold one under another name.
    workspace: &'a Workspace,
    /// How many more unknown phase ids get a "did you mean", which compares the id with every
    /// phase: bounded, so that a file of n phases naming n unknown ones stays linear.
    suggestions_left: Cell<usize>,
}

/// Unknown phase ids in one file that get a "did you mean" (see [`PhaseChecks::suggestions_left`]).
const MAX_SUGGESTED_IDS: usize = 64;

/// How many id comparisons the "did you mean"s of one file may cost in all: a template of ten
/// thousand phases gets twenty, one of a hundred the full [`MAX_SUGGESTED_IDS`].
const SUGGESTION_COMPARISONS: usize = 200_000;

impl<'a, 't> PhaseChecks<'a, 't> {
    pub fn new(
        source: &'a str,
        key: &'a Path,
        template: &'a PhaseTemplate<'t>,
        complete: bool,
        workspace: &'a Workspace,
    ) -> PhaseChecks<'a, 't> {
        let suggestions = (SUGGESTION_COMPARISONS / template.phases.len().max(1)).clamp(1, MAX_SUGGESTED_IDS);
        PhaseChecks { source, key, template, complete, workspace, suggestions_left: Cell::new(suggestions) }
    }

    pub fn run(&self, out: &mut Vec<Diagnostic>) {
        let ids = self.phase_ids(out);
        for phase in &self.template.phases {
            for path in phase.required.iter().chain(&phase.optional) {
                self.placeholders(path, false, out);
            }
            // Prose shows `{task}` substituted too; other braces in it are the author's own.
            for prose in [phase.goal, phase.description, phase.next_step].into_iter().flatten() {
                self.placeholders(&prose, true, out);
            }
            for entry in &phase.validation {
                match entry {
                    Validation::Expr { node, .. } => self.expression(node, &ids, out),
                    Validation::Run { run, .. } => self.command(run, out),
                    Validation::Invalid { .. } => {}
                }
            }
            for command in phase.on_start.iter().chain(&phase.on_end) {
                self.command(&command.run, out);
            }
            if let Some(workflow) = phase.workflow {
                let clean = self.placeholders(&workflow, false, out);
                if clean && !workflow.text.contains(TASK_PLACEHOLDER) && !workflow.text.is_empty() {
                    self.workflow_file(workflow, out);
                }
            }
        }
    }

    /// The phases by id (the first of a repeated one), and a `duplicate-id` for every repeat.
    fn phase_ids(&self, out: &mut Vec<Diagnostic>) -> HashMap<&str, usize> {
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(self.template.phases.len());
        for (position, phase) in self.template.phases.iter().enumerate() {
            let Some(id) = phase.id else { continue };
            match first.get(id.text) {
                Some(&earlier) => {
                    let earlier = self.template.phases[earlier].id.map_or(id.span, |name| name.span);
                    out.push(
                        Diagnostic::new(Code::DuplicateId, id.span, format!("duplicate phase id `{}`", id.text))
                            .with_related(None, earlier, "first defined here")
                            .with_help("phase ids must be unique in a template"),
                    );
                }
                None => {
                    first.insert(id.text, position);
                }
            }
        }
        first
    }

    /// The span in the file of a byte range of a string's value, or the whole string where the
    /// value is not written as it reads (escapes, block scalars).
    fn in_source(&self, node: &Node, span: Span) -> Option<Span> {
        match (node.value_offset_in_source(self.source, span.start), node.value_offset_in_source(self.source, span.end))
        {
            (Some(start), Some(end)) => Some(Span::new(start, end)),
            _ => None,
        }
    }

    fn expression(&self, node: &Node, ids: &HashMap<&str, usize>, out: &mut Vec<Diagnostic>) {
        let Some(text) = node.as_str() else { return };
        let in_source = |span: Span| self.in_source(node, span).unwrap_or(node.span);
        if text.trim().is_empty() {
            out.push(Diagnostic::new(Code::InvalidExpression, node.span, "empty validation expression").with_help(
                "write an expression such as `artifacts.required.all_exist`, or a command as `{ run: \"…\" }`",
            ));
            return;
        }
        let parsed = match expr::parse(text) {
            Ok(parsed) => parsed,
            Err(error) => {
                let mut diagnostic = Diagnostic::new(Code::InvalidExpression, in_source(error.span), error.message);
                if text.contains('{') || text.contains(" -") {
                    diagnostic.help = Some(
                        "a string in `validation` is an expression; a shell command goes in `{ run: \"…\" }`".into(),
                    );
                }
                out.push(diagnostic);
                return;
            }
        };
        for path in parsed.paths() {
            if let Some((span, message, hint)) = self.check_path(path, ids) {
                let exact = self.in_source(node, span);
                let mut diagnostic = Diagnostic::new(Code::InvalidExpression, exact.unwrap_or(node.span), message);
                diagnostic.help = hint.help;
                // A dotted name is replaced by a dotted name; a quoted one (`['a.b']`) is left to a person.
                let plain = |name: &str| name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
                if let (Some(exact), Some(replacement)) = (exact, hint.replacement) {
                    if plain(&replacement) && text.get(span.start..span.end).is_some_and(plain) {
                        let title = format!("Replace with `{replacement}`");
                        diagnostic.fixes.push(edits::replace(exact, &replacement, title).marked_safe());
                    }
                }
                out.push(diagnostic);
            }
        }
        for (path, literals) in parsed.compared_literals() {
            let is_phase_status = path.len() == 3 && path[0].name == "phases" && path[2].name == "status";
            if !is_phase_status {
                continue;
            }
            for literal in literals {
                let ExprKind::String(value) = &literal.kind else { continue };
                if PHASE_STATUSES.contains(&value.as_str()) {
                    continue;
                }
                let mut diagnostic = Diagnostic::new(
                    Code::InvalidExpression,
                    in_source(literal.span),
                    format!("`{value}` is not a phase status; phase statuses are {}", PHASE_STATUSES.join(", ")),
                );
                diagnostic.help = did_you_mean_help(value, PHASE_STATUSES);
                out.push(diagnostic);
            }
        }
    }

    fn check_path(&self, path: &[Segment], ids: &HashMap<&str, usize>) -> Option<Problem> {
        let root = path.first()?;
        let whole = root.span.cover(path.last()?.span);
        match root.name.as_str() {
            "artifacts" => artifacts_path(path, whole),
            "phases" => self.phases_path(path, ids, whole),
            "task" => match path.get(1) {
                None => Some((whole, "`task` needs a field: `task.id`".into(), Hint::default())),
                Some(field) if field.name != "id" => Some((
                    field.span,
                    format!("`task` has no field `{}`; it has `id`", field.name),
                    suggest(&field.name, ["id"]),
                )),
                Some(_) if path.len() > 2 => Some((
                    path[2].span.cover(path[path.len() - 1].span),
                    "`task.id` has no fields".into(),
                    Hint::default(),
                )),
                Some(_) => None,
            },
            "env" => (path.len() != 2).then(|| (whole, "`env` takes one name: `env.NAME`".into(), Hint::default())),
            other => {
                let list = VALIDATION_ROOTS.map(|r| format!("`{r}`")).join(", ");
                Some((
                    root.span,
                    format!("unknown name `{other}`: validation expressions can use {list}"),
                    suggest(other, VALIDATION_ROOTS),
                ))
            }
        }
    }

    fn phases_path(&self, path: &[Segment], ids: &HashMap<&str, usize>, whole: Span) -> Option<Problem> {
        let Some(id) = path.get(1) else {
            return Some((path[0].span, "`phases` needs a phase id: `phases.<id>.status`".into(), Hint::default()));
        };
        if !ids.contains_key(id.name.as_str()) {
            // The phase may be in the text a syntax error cost: that error is the one to fix.
            if !self.complete {
                return None;
            }
            let left = self.suggestions_left.get();
            self.suggestions_left.set(left.saturating_sub(1));
            let hint = if left > 0 { suggest(&id.name, self.template.ids()) } else { Hint::default() };
            return Some((id.span, format!("no phase `{}` in this template", id.name), hint));
        }
        match path.get(2) {
            None => Some((whole, format!("`phases.{}` needs a field: `status`", id.name), Hint::default())),
            Some(field) if field.name != "status" => Some((
                field.span,
                format!("a phase has `status`, not `{}`", field.name),
                suggest(&field.name, ["status"]),
            )),
            Some(_) if path.len() > 3 => {
                Some((path[3].span.cover(path[path.len() - 1].span), "`status` has no fields".into(), Hint::default()))
            }
            Some(_) => None,
        }
    }

    /// An empty command, or one whose quotes are not closed (the shell would not run it).
    fn command(&self, run: &Name<'_>, out: &mut Vec<Diagnostic>) {
        self.placeholders(run, true, out);
        if run.text.trim().is_empty() {
            out.push(
                Diagnostic::new(Code::InvalidExpression, run.span, "empty command")
                    .with_help("`run` is a shell command, run from the workspace root"),
            );
            return;
        }
        if let Some((open, quote)) = unclosed_quote(run.text) {
            let node_span = run.span;
            let span = self.value_span(run, Span::new(open, run.text.len())).unwrap_or(node_span);
            let kind = if quote == '\'' { "single" } else { "double" };
            out.push(
                Diagnostic::new(Code::InvalidExpression, span, format!("this {kind} quote is not closed"))
                    .with_help(format!("the shell would not run this command: close the quote with `{quote}`")),
            );
        }
    }

    /// A range of a string value, in the file; `None` where the value is not written as it reads
    /// (escapes, folding, a block scalar), as [`Node::value_offset_in_source`] decides.
    fn value_span(&self, name: &Name<'_>, span: Span) -> Option<Span> {
        let raw = self.source.get(name.span.start..name.span.end)?;
        let content_start = if raw == name.text {
            name.span.start
        } else if raw.len() >= 2 && raw.starts_with(['"', '\'']) && raw.get(1..raw.len() - 1) == Some(name.text) {
            name.span.start + 1
        } else {
            return None;
        };
        (span.end <= name.text.len()).then(|| Span::new(content_start + span.start, content_start + span.end))
    }

    /// Reports the placeholders of `text` other than `{task}`; true when it has none. In a shell
    /// command or in prose (`loose`) braces have meanings of their own (`awk '{exit}'`), so there
    /// only names that look like a misspelt `task` are reported.
    fn placeholders(&self, text: &Name<'_>, loose: bool, out: &mut Vec<Diagnostic>) -> bool {
        let mut clean = true;
        for placeholder in placeholders(text.text) {
            if placeholder.is_task(text.text) {
                continue;
            }
            let means_task = means_task(placeholder.name);
            if loose && !means_task {
                continue;
            }
            clean = false;
            let written = &text.text[placeholder.span.start..placeholder.span.end];
            let exact = self.value_span(text, placeholder.span);
            let mut diagnostic = Diagnostic::new(
                Code::UnknownPlaceholder,
                exact.unwrap_or(text.span),
                format!("unknown placeholder `{written}`: the only placeholder is `{TASK_PLACEHOLDER}`, the task's id"),
            );
            if means_task {
                diagnostic.help = Some(format!("did you mean `{TASK_PLACEHOLDER}`?"));
            }
            if let Some(span) = exact {
                let fix = edits::replace(span, TASK_PLACEHOLDER, format!("Replace with `{TASK_PLACEHOLDER}`"));
                diagnostic.fixes.push(if means_task { fix.marked_safe() } else { fix });
            }
            out.push(diagnostic);
        }
        clean
    }

    fn workflow_file(&self, workflow: Name<'_>, out: &mut Vec<Diagnostic>) {
        let Some(folder) = self.key.parent() else { return };
        let target = normalize(&folder.join(workflow.text));
        let kind = match self.workspace.document(&target) {
            Some(document) => Some(document.kind),
            None if target.is_file() => Some(kind_on_disk(&target)),
            None => None,
        };
        let message = match kind {
            Some(Some(FileKind::Workflow | FileKind::Plan)) => return,
            None if target.is_dir() => format!("`{}` is a folder, not a workflow or plan", workflow.text),
            None => format!("`{}` does not exist (relative to this template's folder)", workflow.text),
            Some(Some(other)) => format!("`{}` is a {}, not a workflow or plan", workflow.text, other.as_str()),
            Some(None) => format!("`{}` is not a workflow or plan file", workflow.text),
        };
        out.push(Diagnostic::new(Code::UnknownFile, workflow.span, message).with_help(
            "`workflow` names a `*.workflow.yaml` or `*.plan.yaml`/`*.plan.json` file, relative to this template's folder",
        ));
    }
}

type Problem = (Span, String, Hint);

/// What to suggest for a misspelt name: a "did you mean", and the name to put in its place when
/// there is exactly one close match (a fix that is safe to apply unasked).
#[derive(Default)]
struct Hint {
    help: Option<String>,
    replacement: Option<String>,
}

fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Hint {
    let matches = close_matches(name, candidates);
    Hint { help: did_you_mean_any(&matches), replacement: (matches.len() == 1).then(|| matches[0].to_owned()) }
}

fn artifacts_path(path: &[Segment], whole: Span) -> Option<Problem> {
    let Some(list) = path.get(1) else {
        return Some((
            whole,
            "`artifacts` needs a list and a test: `artifacts.required.all_exist`".into(),
            Hint::default(),
        ));
    };
    if !ARTIFACT_LISTS.contains(&list.name.as_str()) {
        return Some((
            list.span,
            format!("`artifacts` has `required` and `optional`, not `{}`", list.name),
            suggest(&list.name, ARTIFACT_LISTS),
        ));
    }
    let tests: Vec<&str> =
        ARTIFACT_TESTS.iter().filter(|(_, lists, _)| lists.contains(&list.name.as_str())).map(|(n, ..)| *n).collect();
    let Some(test) = path.get(2) else {
        return Some((whole, format!("`artifacts.{}` needs a test: {}", list.name, tests.join(", ")), Hint::default()));
    };
    if !is_artifact_test(&list.name, &test.name) {
        // A test of the other list is no typo: say where it is defined, and fix nothing.
        let elsewhere = ARTIFACT_TESTS.iter().find(|(name, ..)| *name == test.name).map(|(_, lists, _)| {
            let lists: Vec<String> = lists.iter().map(|list| format!("`artifacts.{list}`")).collect();
            Hint { help: Some(format!("`{}` is a test of {} only", test.name, lists.join(" and "))), replacement: None }
        });
        return Some((
            test.span,
            format!("`artifacts.{}` has no `{}`; it has {}", list.name, test.name, tests.join(", ")),
            elsewhere.unwrap_or_else(|| suggest(&test.name, tests.iter().copied())),
        ));
    }
    (path.len() > 3).then(|| {
        (
            path[3].span.cover(path[path.len() - 1].span),
            format!("`artifacts.{}.{}` has no fields", list.name, test.name),
            Hint::default(),
        )
    })
}

/// True when a placeholder's name reads as `task` misspelt: another case, a typo, or `task` inside
/// a longer name (`task_id`).
fn means_task(name: &str) -> bool {
    name.to_ascii_lowercase().contains("task") || did_you_mean_help(name, ["task"]).is_some()
}

/// The byte offset and the character of the first quote a command leaves open, read as a POSIX
/// shell reads quotes: nothing is special inside `'…'`, `\` escapes inside `"…"` and outside (and
/// inside bash's `$'…'`).
fn unclosed_quote(text: &str) -> Option<(usize, char)> {
    let mut open: Option<(usize, char)> = None;
    // Inside `$'…'`, where a backslash escapes a quote.
    let mut ansi = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match open {
            Some((_, '\'')) if ansi => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '\'' {
                    open = None;
                }
            }
            Some((_, '\'')) => {
                if c == '\'' {
                    open = None;
                }
            }
            Some((_, _)) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    open = None;
                }
            }
            None => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '\'' || c == '"' {
                    ansi = c == '\'' && text[..at].ends_with('$');
                    open = Some((at, c));
                } else if c == '#' && (at == 0 || text[..at].ends_with([' ', '\t', '\n'])) {
                    // A comment: quotes after it do not count.
                    let line_end = text[at..].find('\n').map_or(text.len(), |end| at + end);
                    return unclosed_quote(&text[line_end..]).map(|(offset, c)| (line_end + offset, c));
                }
            }
        }
    }
    open
}

/// The path with `.` and `..` taken out, as the workspace keys files (absolute, normalised).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The kind of a file on disk that the workspace does not hold: by its name, else (a YAML or JSON
/// file of another name) by its top-level keys.
fn kind_on_disk(path: &Path) -> Option<FileKind> {
    if let Some(kind) = FileKind::from_path(path) {
        return Some(kind);
    }
    if !FileKind::is_candidate_name(path) {
        return None;
    }
    // A file too large to be a workflow someone wrote is not read.
    let large = std::fs::metadata(path).map_or(true, |meta| meta.len() > 1024 * 1024);
    if large {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    if !FileKind::may_be_in_text(&text) {
        return None;
    }
    let parse = crate::syntax::Format::of_path(path).parse(&text);
    parse.root.as_ref().and_then(FileKind::from_content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_read_as_the_shell_reads_them() {
        assert_eq!(unclosed_quote("grep -q '^## Questions' a.md"), None);
        assert_eq!(unclosed_quote("echo \"it's\" 'a \"b'"), None);
        assert_eq!(unclosed_quote("echo 'open"), Some((5, '\'')));
        assert_eq!(unclosed_quote("echo \"a \\\" b"), Some((5, '"')));
        assert_eq!(unclosed_quote("echo don\\'t"), None);
        assert_eq!(unclosed_quote("printf $'it\\'s\\n'"), None);
        assert_eq!(unclosed_quote("echo $'open\\'"), Some((6, '\'')));
        assert_eq!(unclosed_quote("echo ok # it's fine"), None);
        assert_eq!(unclosed_quote("echo ok # it's\necho 'x"), Some((20, '\'')));
    }

    #[test]
    fn misspelt_task_placeholders_are_recognised() {
        for name in ["taks", "Task", "task_id", "TASK", "tsk"] {
            assert!(means_task(name), "{name}");
        }
        for name in ["exit", "print", "name"] {
            assert!(!means_task(name), "{name}");
        }
    }

    #[test]
    fn paths_are_normalised_lexically() {
        assert_eq!(normalize(Path::new("/w/phases/../release/./r.plan.yaml")), PathBuf::from("/w/release/r.plan.yaml"));
    }
}

#[cfg(test)]
mod robustness {
    use std::path::PathBuf;

    use crate::analysis::ide::{completion, hover, navigation, symbols};
    use crate::analysis::Workspace;

    /// Every prefix of the fixtures (what typing them produces) is checked and answered for at its
    /// end and in its middle without a panic, and every span stays in the text.
    #[test]
    fn every_prefix_of_a_template_is_analysed_without_panicking() {
        let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/check/phases");
        for name in ["errors.phases.yaml", "feature.phases.yaml"] {
            let text = std::fs::read_to_string(folder.join(name)).unwrap();
            let key = folder.join(name);
            let mut workspace = Workspace::new();
            let boundaries: Vec<usize> = (0..=text.len()).filter(|&at| text.is_char_boundary(at)).collect();
            for &end in boundaries.iter().step_by(3) {
                let prefix = &text[..end];
                let document = workspace.set(key.clone(), key.clone(), prefix.to_owned());
                for diagnostic in workspace.check(&key) {
                    assert!(diagnostic.span.end <= prefix.len(), "{name} cut at {end}: {diagnostic:?}");
                }
                for offset in [end, end / 2] {
                    let offset = (0..=offset).rev().find(|&at| prefix.is_char_boundary(at)).unwrap_or(0);
                    completion::completions(&workspace, &key, offset);
                    hover::hover(&workspace, &key, offset);
                    let _ = navigation::prepare_rename(&workspace, &key, offset);
                }
                symbols::document_symbols(&document);
                for hint in symbols::inlay_hints(&document) {
                    assert!(hint.offset <= prefix.len());
                }
            }
        }
    }
}
