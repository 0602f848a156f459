//! Go to definition, find references and rename.

use std::path::{Path, PathBuf};

use crate::analysis::Workspace;
use crate::model::FileKind;
use crate::syntax::Span;

use super::occurrences::{occurrence_at, occurrences, Occurrence, Role, Symbol};

/// A range in a file of the workspace, by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpan {
    pub key: PathBuf,
    pub span: Span,
}

/// Text edits by file: each file's key and its (span, new text) pairs.
pub type FileEdits = Vec<(PathBuf, Vec<(Span, String)>)>;

/// Every occurrence of `symbol` as seen from the file `key`: steps within the file, plugins across
/// the project of the file's `weft.yaml`.
fn all_occurrences(workspace: &Workspace, key: &Path, symbol: &Symbol) -> Vec<(PathBuf, Occurrence)> {
    let mut found = Vec::new();
    let files: Vec<PathBuf> = match symbol {
        Symbol::Step(_) | Symbol::Phase(_) => vec![key.to_path_buf()],
        Symbol::Plugin(_) => {
            let config = if workspace.document(key).and_then(|d| d.kind) == Some(FileKind::ProjectConfig) {
                Some(key.to_path_buf())
            } else {
                workspace.config_for(key).map(|(config, _)| config.to_path_buf())
            };
            let Some(config) = config else { return found };
            let mut files = vec![config.clone()];
            files.extend(
                workspace
                    .documents()
                    .filter(|(other, document)| {
                        document.kind == Some(FileKind::Workflow)
                            && workspace.config_for(other).map(|(c, _)| c) == Some(config.as_path())
                    })
                    .map(|(other, _)| other.clone()),
            );
            files
        }
        Symbol::HookPoint(_) => workspace
            .documents()
            .filter(|(_, document)| document.kind == Some(FileKind::ProjectConfig))
            .map(|(other, _)| other.clone())
            .collect(),
    };
    for file in files {
        let Some(document) = workspace.document(&file) else { continue };
        for occurrence in occurrences(document) {
            if &occurrence.symbol == symbol {
                found.push((file.clone(), occurrence));
            }
        }
    }
    found
}

/// Where the step or plugin under the cursor is defined.
pub fn definition(workspace: &Workspace, key: &Path, offset: usize) -> Option<FileSpan> {
    let document = workspace.document(key)?;
    let occurrence = occurrence_at(document, offset)?;
    all_occurrences(workspace, key, &occurrence.symbol)
        .into_iter()
        .find(|(_, found)| found.role == Role::Definition)
        .map(|(file, found)| FileSpan { key: file, span: found.span })
}

/// Every use of the symbol under the cursor, the definition included when asked.
pub fn references(workspace: &Workspace, key: &Path, offset: usize, include_definition: bool) -> Vec<FileSpan> {
    let Some(document) = workspace.document(key) else { return Vec::new() };
    let Some(occurrence) = occurrence_at(document, offset) else { return Vec::new() };
    all_occurrences(workspace, key, &occurrence.symbol)
        .into_iter()
        .filter(|(_, found)| include_definition || found.role == Role::Reference)
        .map(|(file, found)| FileSpan { key: file, span: found.span })
        .collect()
}

/// The range a rename at the cursor would change, or why nothing there can be renamed.
pub fn prepare_rename(workspace: &Workspace, key: &Path, offset: usize) -> Result<(Span, String), String> {
    let document = workspace.document(key).ok_or("this file is not open")?;
    let occurrence =
        occurrence_at(document, offset).ok_or("only a stage, step or phase id, or a plugin id, can be renamed here")?;
    match &occurrence.symbol {
        Symbol::Step(id) | Symbol::Plugin(id) | Symbol::Phase(id) => {
            refuse_duplicated(workspace, key, &occurrence.symbol, id)?;
            Ok((occurrence.span, id.clone()))
        }
        Symbol::HookPoint(_) => Err("hook points are fixed names and cannot be renamed".into()),
    }
}

/// An id defined twice cannot be renamed: which of the two its uses mean is not known, and renaming
/// both would keep the duplicate.
fn refuse_duplicated(workspace: &Workspace, key: &Path, symbol: &Symbol, id: &str) -> Result<(), String> {
    let definitions =
        all_occurrences(workspace, key, symbol).iter().filter(|(_, found)| found.role == Role::Definition).count();
    if definitions > 1 {
        return Err(format!("`{id}` is defined {definitions} times; remove the duplicates before renaming it"));
    }
    Ok(())
}

/// The edits that rename the symbol under the cursor everywhere, by file.
/// Why a rename is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RenameError {
    /// The new name cannot be an id.
    InvalidName(String),
    /// The name is fine, but this cannot be renamed to it: nothing to rename here, a fixed name,
    /// an id defined twice, a name already taken.
    Refused(String),
}

pub fn rename(workspace: &Workspace, key: &Path, offset: usize, new_name: &str) -> Result<FileEdits, RenameError> {
    let refused = |message: &str| RenameError::Refused(message.to_owned());
    let document = workspace.document(key).ok_or_else(|| refused("this file is not open"))?;
    let occurrence = occurrence_at(document, offset).ok_or_else(|| refused("nothing to rename here"))?;
    let valid =
        !new_name.is_empty() && new_name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(RenameError::InvalidName(format!(
            "`{new_name}` is not a valid id: use letters, digits, `_`, `.` and `-`"
        )));
    }
    if let Symbol::Step(id) | Symbol::Plugin(id) | Symbol::Phase(id) = &occurrence.symbol {
        refuse_duplicated(workspace, key, &occurrence.symbol, id).map_err(RenameError::Refused)?;
    }
    let occurrences = all_occurrences(workspace, key, &occurrence.symbol);
    let taken = match &occurrence.symbol {
        Symbol::Step(_) => all_occurrences(workspace, key, &Symbol::Step(new_name.to_owned())),
        Symbol::Plugin(_) => all_occurrences(workspace, key, &Symbol::Plugin(new_name.to_owned())),
        Symbol::Phase(_) => all_occurrences(workspace, key, &Symbol::Phase(new_name.to_owned())),
        Symbol::HookPoint(_) => return Err(refused("hook points are fixed names and cannot be renamed")),
    };
    if taken.iter().any(|(_, found)| found.role == Role::Definition) {
        return Err(RenameError::Refused(format!("`{new_name}` is already used; ids must be unique")));
    }
    let mut by_file: Vec<(PathBuf, Vec<(Span, String)>)> = Vec::new();
    for (file, found) in occurrences {
        let edit = if found.in_dotted_path && new_name.contains('.') {
            // `steps.old.status` → `steps['new.id'].status`: the dot before the segment goes too.
            (Span::new(found.span.start - 1, found.span.end), format!("['{new_name}']"))
        } else {
            (found.span, new_name.to_owned())
        };
        match by_file.iter_mut().find(|(existing, _)| *existing == file) {
            Some((_, edits)) => edits.push(edit),
            None => by_file.push((file, vec![edit])),
        }
    }
    Ok(by_file)
}
