//! Finding and reading the phase template a session walks. A template with errors is refused,
//! with the errors listed, as `weft run` refuses a workflow with errors.

use std::path::{Path, PathBuf};

use crate::analysis::{Document, Workspace};
use crate::model::phases::{Phase, PhaseTemplate};
use crate::model::FileKind;

/// A template read and checked clean.
pub struct LoadedTemplate {
    /// Absolute: what the session records, and what the editor's sessions are found by.
    pub path: PathBuf,
    pub document: std::sync::Arc<Document>,
}

impl LoadedTemplate {
    pub fn template(&self) -> PhaseTemplate<'_> {
        // `load` refuses a template without a tree; an empty one reads as no phases.
        PhaseTemplate::read(self.document.parse.root.as_ref().unwrap_or_else(|| empty_root()))
    }

    pub fn template_id(&self) -> String {
        self.template().template_id.map(|id| id.text.to_owned()).unwrap_or_default()
    }

    /// The folder a phase's `workflow:` is relative to.
    pub fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }
}

fn empty_root() -> &'static crate::syntax::Node {
    static EMPTY: std::sync::OnceLock<crate::syntax::Node> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| crate::syntax::parse("{}").root.expect("`{}` parses"))
}

/// The only `*.phases.yaml` (or `.yml`) of the workspace, found as `weft check` walks (hidden
/// folders, build output and `.weftignore` left out). None or several is an error that says so.
pub fn find(workspace: &Path) -> Result<PathBuf, String> {
    let (files, _) = crate::fs::walk(workspace);
    let templates: Vec<PathBuf> =
        files.into_iter().filter(|file| FileKind::from_path(file) == Some(FileKind::PhaseTemplate)).collect();
    match templates.as_slice() {
        [one] => Ok(crate::fs::absolute(one)),
        [] => Err(format!(
            "no phase template (*.phases.yaml) in {}; write one or pass --template FILE",
            workspace.display()
        )),
        several => Err(format!(
            "{} phase templates in {}; choose one with --template:\n{}",
            several.len(),
            workspace.display(),
            several
                .iter()
                .map(|p| format!("  {}", crate::fs::display_for(&crate::fs::absolute(p)).display()))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

/// Reads and checks a template. Refused: a file that cannot be read, that is not a phase
/// template, that has errors (each listed with its line and column), or that has no phase.
pub fn load(path: &Path) -> Result<LoadedTemplate, String> {
    let key = crate::fs::absolute(path);
    // Named as the user would: relative to the current folder when below it.
    let shown = crate::fs::display_for(&key);
    let path = shown.as_path();
    let text = crate::fs::read_text(&key).map_err(|error| format!("{}: {error}", path.display()))?;
    let mut workspace = Workspace::new();
    let document = workspace.set(key.clone(), path.to_path_buf(), text);
    if document.kind != Some(FileKind::PhaseTemplate) {
        return Err(format!(
            "{}: not a phase template (a *.phases.yaml with `template_id` and `phases`)",
            path.display()
        ));
    }
    let errors = workspace.error_lines(&key, path);
    if !errors.is_empty() {
        return Err(format!(
            "{} has errors; fix them first (see `weft check`):\n{}",
            path.display(),
            errors.join("\n")
        ));
    }
    let loaded = LoadedTemplate { path: key, document };
    {
        let template = loaded.template();
        if template.ids().next().is_none() {
            return Err(format!("{}: the template has no phases", path.display()));
        }
        if template.template_id.is_none() {
            return Err(format!("{}: the template has no `template_id`", path.display()));
        }
    }
    Ok(loaded)
}

/// What a person is told about a phase: the texts of the template, `{task}` substituted.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct PhaseInfo {
    pub id: String,
    /// Its place in the template, from 1, and how many phases there are.
    pub position: usize,
    pub of: usize,
    pub goal: Option<String>,
    pub description: Option<String>,
    /// The required artifacts, `{task}` substituted.
    pub required: Vec<String>,
    pub optional: Vec<String>,
    pub next_step: Option<String>,
    /// `workflow:` as written, `{task}` substituted (relative to the template's folder).
    pub workflow: Option<String>,
}

impl PhaseInfo {
    pub fn of(template: &PhaseTemplate<'_>, phase: &Phase<'_>, task: &str) -> PhaseInfo {
        use crate::model::phases::substitute_task;
        let text = |name: Option<crate::model::Name<'_>>| name.map(|n| substitute_task(n.text, task));
        let id = phase.id.map(|id| id.text.to_owned()).unwrap_or_default();
        let position = template.phase(&id).map_or(0, |(index, _)| index + 1);
        PhaseInfo {
            id,
            position,
            of: template.phases.len(),
            goal: text(phase.goal),
            description: text(phase.description),
            required: phase.required.iter().map(|n| substitute_task(n.text, task)).collect(),
            optional: phase.optional.iter().map(|n| substitute_task(n.text, task)).collect(),
            next_step: text(phase.next_step),
            workflow: text(phase.workflow),
        }
    }
}
