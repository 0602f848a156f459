use std::path::PathBuf;

use crate::syntax::LineIndex;

/// A file's text with its line index, shared by the analysis and every renderer.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it (or as found by walking a folder the user gave), for display.
    pub path: PathBuf,
    pub text: String,
    pub line_index: LineIndex,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> SourceFile {
        let line_index = LineIndex::new(&text);
        SourceFile { path, text, line_index }
    }
}
