//! From the protocol's terms to weft's: a URI to a workspace key, a position to a byte offset.

use std::path::PathBuf;

use lsp_types::{Position, Url};

use std::sync::Arc;

use crate::analysis::{Document, SourceFile};

use super::server::Server;

/// The workspace key of a URI: its absolute, normalised file path (or a stand-in for other schemes).
pub fn key_of(uri: &Url) -> PathBuf {
    match uri.to_file_path() {
        Ok(path) => crate::fs::absolute(&path),
        Err(()) => PathBuf::from(format!("/{}/{}", uri.scheme(), uri.path().trim_start_matches('/'))),
    }
}

/// The byte offset of a position, in the encoding negotiated with the client.
pub fn offset(server: &Server, source: &SourceFile, position: Position) -> usize {
    server.encoding.offset(&source.line_index, &source.text, position)
}

/// The workspace's document of a URI, with its key; `None` for a file the server does not know.
pub fn document(server: &Server, uri: &Url) -> Option<(PathBuf, Arc<Document>)> {
    let key = key_of(uri);
    let document = server.workspace.document(&key)?.clone();
    Some((key, document))
}
