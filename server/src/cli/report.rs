use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::analysis::{Diagnostic, SourceFile};

/// The diagnostics of one checked file.
#[derive(Debug)]
pub struct FileDiagnostics {
    pub file: Arc<SourceFile>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Everything `weft check` found, ready to render.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Checked files in the order they are shown, each with its diagnostics sorted by position.
    pub files: Vec<FileDiagnostics>,
    /// Every file whose text was read, checked or not (a `weft.yaml` found above a workflow), so
    /// related information in another file can be shown. Keyed by `SourceFile::path`.
    pub sources: HashMap<PathBuf, Arc<SourceFile>>,
}

impl CheckReport {
    pub fn source(&self, path: &Path) -> Option<&Arc<SourceFile>> {
        self.sources.get(path)
    }

    pub fn diagnostics(&self) -> impl Iterator<Item = (&Arc<SourceFile>, &Diagnostic)> {
        self.files.iter().flat_map(|file| file.diagnostics.iter().map(move |d| (&file.file, d)))
    }
}
