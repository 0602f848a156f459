use std::path::Path;

use crate::syntax::Node;

/// The kinds of file weft understands (SPEC §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Workflow,
    Plan,
    ProjectConfig,
    PhaseTemplate,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Workflow => "workflow",
            FileKind::Plan => "plan",
            FileKind::ProjectConfig => "project config",
            FileKind::PhaseTemplate => "phase template",
        }
    }

    /// The kind a file name promises, whatever it holds.
    pub fn from_path(path: &Path) -> Option<FileKind> {
        let name = path.file_name()?.to_str()?;
        if name == "weft.yaml" || name == "weft.yml" {
            return Some(FileKind::ProjectConfig);
        }
        let name = name.to_ascii_lowercase();
        if name.ends_with(".workflow.yaml") || name.ends_with(".workflow.yml") {
            Some(FileKind::Workflow)
        } else if [".plan.json", ".plan.yaml", ".plan.yml"].iter().any(|suffix| name.ends_with(suffix)) {
            Some(FileKind::Plan)
        } else if name.ends_with(".phases.yaml") || name.ends_with(".phases.yml") {
            Some(FileKind::PhaseTemplate)
        } else {
            None
        }
    }

    /// The kind a mapping's top-level keys reveal, for YAML and JSON files with other names.
    pub fn from_content(root: &Node) -> Option<FileKind> {
        let has = |key: &str| root.get(key).is_some();
        if has("workflow_id") && has("stages") {
            Some(FileKind::Workflow)
        } else if has("plan_id") && has("steps") {
            Some(FileKind::Plan)
        } else if has("phases") {
            Some(FileKind::PhaseTemplate)
        } else {
            None
        }
    }

    /// A cheap look at raw text before parsing: could a file with an ordinary name be one of ours?
    pub fn may_be_in_text(text: &str) -> bool {
        (text.contains("workflow_id") && text.contains("stages"))
            || (text.contains("plan_id") && text.contains("steps"))
            || text.contains("phases")
    }

    /// True for the file names weft looks inside when it walks a folder.
    pub fn is_candidate_name(path: &Path) -> bool {
        FileKind::from_path(path).is_some()
            || path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
    }
}
