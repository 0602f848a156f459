//! The editor's buffers: the text of each open file as the client has it, and how an edit applies.

use std::path::Path;

use lsp_types::{TextDocumentContentChangeEvent, Url};

use crate::model::FileKind;
use crate::syntax::LineIndex;

use super::position::Encoding;
use super::server::Server;

/// An editor buffer: the text as the client has it, which may be newer than the parsed one.
pub struct OpenDocument {
    pub uri: Url,
    pub version: i32,
    pub text: String,
    /// False after an edit until the workspace has parsed the new text.
    pub parsed: bool,
    /// True after an edit failed to apply: the client's text has moved on from `text`, so an
    /// incremental edit (whose ranges are in the client's text) is not applied until a full text
    /// or a reopen brings the two level again.
    pub out_of_sync: bool,
}

/// The text that `changes` make of `text`, applied in order; `parsed` is `text`'s parsed source
/// when the caller has it at hand (its line index saves a pass over the text). It changes nothing
/// but its result, so a panic in it leaves every document as it was.
pub fn apply_content_changes(
    text: &str,
    parsed: Option<&crate::analysis::SourceFile>,
    changes: &[TextDocumentContentChangeEvent],
    encoding: Encoding,
    debug_panic_marker: Option<&str>,
) -> String {
    let mut parsed_index = parsed.map(|source| &source.line_index);
    let mut text = text.to_owned();
    for change in changes {
        if debug_panic_marker.is_some_and(|marker| change.text == marker) {
            panic!("WEFT_DEBUG_PANIC_ON_EDIT: a content change is the marker");
        }
        match change.range {
            Some(range) => {
                let fresh;
                let index = match parsed_index.take() {
                    Some(index) => index,
                    None => {
                        fresh = LineIndex::new(&text);
                        &fresh
                    }
                };
                let start = encoding.offset(index, &text, range.start);
                let end = encoding.offset(index, &text, range.end).max(start);
                text.replace_range(start..end, &change.text);
            }
            None => text.clone_from(&change.text),
        }
    }
    text
}

/// The workspace: which files are known, and which open files need their diagnostics again.
impl Server {
    /// Parses every edited buffer, so requests and diagnostics see the latest text.
    pub fn sync_workspace(&mut self) {
        for (key, open) in self.open.iter_mut().filter(|(_, open)| !open.parsed) {
            let (_, old) = self.workspace.replace(key.clone(), key.clone(), open.text.clone());
            open.parsed = true;
            // Freeing a large file's old tree takes milliseconds; the keystroke need not wait for it.
            if let Some(old) = old {
                let _ = self.dropper.send(old);
            }
        }
    }

    /// A file's text changed: it and the files whose analysis depends on it need new diagnostics.
    pub fn changed(&mut self, key: &Path) {
        self.dirty.insert(key.to_path_buf());
        self.mark_dependents(key);
    }

    /// A `weft.yaml` affects every open workflow below it; a workflow affects its `weft.yaml`.
    pub fn mark_dependents(&mut self, key: &Path) {
        let is_config = is_config_file(key);
        let folder = key.parent().unwrap_or(Path::new("/"));
        for open in self.open.keys() {
            let below = open.starts_with(folder);
            if (is_config && below)
                || (is_config_file(open) && key.starts_with(open.parent().unwrap_or(Path::new("/"))))
            {
                self.dirty.insert(open.clone());
            }
        }
    }

    /// Open phase templates need their diagnostics again: a workflow or plan their `workflow`
    /// names may have appeared or gone (`unknown-file`).
    pub fn mark_phase_templates(&mut self) {
        for open in self.open.keys() {
            if self.workspace.document(open).and_then(|document| document.kind) == Some(FileKind::PhaseTemplate) {
                self.dirty.insert(open.clone());
            }
        }
    }

    /// Every open file needs its diagnostics again (the workspace's folders changed).
    pub fn mark_all_open(&mut self) {
        self.dirty.extend(self.open.keys().cloned());
    }

    /// A file's project config may be outside the indexed folders (or in a folder `.weftignore`
    /// leaves out): read the nearest `weft.yaml` from disk, as `weft check` and `weft run` do.
    pub fn load_config_from_disk(&mut self, key: &Path) {
        let mut folder = key.parent();
        while let Some(dir) = folder {
            for name in ["weft.yaml", "weft.yml"] {
                let config = dir.join(name);
                if self.workspace.contains(&config) {
                    return;
                }
                if config.is_file() {
                    if let Ok(text) = crate::fs::read_text(&config) {
                        self.workspace.set(config.clone(), config, text);
                    }
                    return;
                }
            }
            folder = dir.parent();
        }
    }

    pub fn is_indexed_kind(&self, key: &Path, text: &str) -> bool {
        FileKind::from_path(key).is_some() || FileKind::may_be_in_text(text)
    }

    /// Reads the weft files of a folder into the workspace, so cross-file features work before a
    /// file is opened.
    pub fn index_folder(&mut self, root: &Path) {
        let (files, _) = crate::fs::walk(root);
        let mut count = 0;
        for file in files {
            let key = crate::fs::absolute(&file);
            if self.open.contains_key(&key) {
                continue;
            }
            let Ok(text) = crate::fs::read_text(&key) else { continue };
            if !self.is_indexed_kind(&key, &text) {
                continue;
            }
            let document = self.workspace.set(key.clone(), key.clone(), text);
            if document.kind.is_none() {
                self.workspace.remove(&key);
            } else {
                count += 1;
            }
        }
        tracing::info!("indexed {count} weft files under {}", root.display());
    }
}

fn is_config_file(key: &Path) -> bool {
    key.file_name().is_some_and(|name| name == "weft.yaml" || name == "weft.yml")
}
