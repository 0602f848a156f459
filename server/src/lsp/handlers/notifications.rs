//! The notifications the client sends: documents opened, changed and closed, files changed on
//! disk, workspace folders and settings, and a run's progress canceled. Each changes state; a panic
//! in one stops the server (see [`crate::lsp::dispatch`]), except while a `didChange`'s new text is
//! computed, which changes nothing until it has it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use lsp_types::notification::ShowMessage;
use lsp_types::*;

use crate::lsp::dispatch::panic_message;
use crate::lsp::documents::{apply_content_changes, OpenDocument};
use crate::lsp::from_proto::key_of;
use crate::lsp::server::Server;

pub fn did_open(server: &mut Server, params: DidOpenTextDocumentParams) {
    let document = params.text_document;
    let key = key_of(&document.uri);
    server.load_config_from_disk(&key);
    if server.debug_panic_on_edit.as_deref() == Some(document.text.as_str()) {
        panic!("WEFT_DEBUG_PANIC_ON_EDIT: an opened text is the marker");
    }
    let open = OpenDocument {
        uri: document.uri,
        version: document.version,
        text: document.text,
        parsed: false,
        out_of_sync: false,
    };
    server.open.insert(key.clone(), open);
    server.changed(&key);
}

/// Applies a `didChange` in one step: the new text is computed from every content change first,
/// and only then swapped in with its version. A panic while it is computed changes nothing: the
/// document keeps the text and version from before the change, is marked out of sync with the
/// client, and the user is told (`tests/lsp_edit_panic.rs`).
pub fn did_change(server: &mut Server, params: DidChangeTextDocumentParams) {
    let key = key_of(&params.text_document.uri);
    let Some(open) = server.open.get(&key) else { return };
    // A full text replaces whatever came before it, so only the changes from the last one on matter.
    let first = params.content_changes.iter().rposition(|change| change.range.is_none()).unwrap_or(0);
    let changes = &params.content_changes[first..];
    let full_text = changes.first().is_some_and(|change| change.range.is_none());
    if open.out_of_sync && !full_text {
        tracing::warn!("{}: an edit after a failed one waits for the full text", key.display());
        return;
    }
    // While the buffer equals the parsed document, its line index is the right one; it saves a
    // pass over a large file on the first edit of a keystroke.
    let parsed_source = open.parsed.then(|| server.workspace.document(&key).map(|d| d.source.clone())).flatten();
    let encoding = server.encoding;
    let marker = server.debug_panic_on_edit.as_deref();
    let computed = catch_unwind(AssertUnwindSafe(|| {
        apply_content_changes(&open.text, parsed_source.as_deref(), changes, encoding, marker)
    }));
    let Some(open) = server.open.get_mut(&key) else { return };
    match computed {
        Ok(text) => {
            open.text = text;
            open.version = params.text_document.version;
            open.parsed = false;
            open.out_of_sync = false;
            server.changed(&key);
        }
        Err(panic) => {
            open.out_of_sync = true;
            let message = format!(
                "weft could not apply an edit to {} ({}); until the file is closed and reopened, \
                 weft answers from its text as of version {}",
                key.display(),
                panic_message(&panic),
                open.version
            );
            tracing::error!("{message}");
            server.notify::<ShowMessage>(ShowMessageParams { typ: MessageType::ERROR, message });
        }
    }
}

pub fn did_close(server: &mut Server, params: DidCloseTextDocumentParams) {
    let key = key_of(&params.text_document.uri);
    server.open.remove(&key);
    // The file stays known from disk (if it is there) for cross-file features.
    match crate::fs::read_text(&key) {
        Ok(text) if server.is_indexed_kind(&key, &text) => {
            server.workspace.set(key.clone(), key.clone(), text);
        }
        _ => {
            server.workspace.remove(&key);
        }
    }
    server.clear_diagnostics(&key, params.text_document.uri);
    server.mark_dependents(&key);
}

pub fn did_save(_: &mut Server, _: DidSaveTextDocumentParams) {}

/// Canceling a run's progress in the editor cancels the run.
pub fn work_done_progress_cancel(server: &mut Server, params: WorkDoneProgressCancelParams) {
    let token = match params.token {
        NumberOrString::String(token) => token,
        NumberOrString::Number(number) => number.to_string(),
    };
    if let Some(active) = server.runs.active.values().find(|active| active.token == token) {
        active.cancel.cancel();
    }
}

pub fn did_change_configuration(server: &mut Server, params: DidChangeConfigurationParams) {
    if let Some(enabled) = params.settings.pointer("/weft/runs/enabled").and_then(serde_json::Value::as_bool) {
        server.runs.enabled = enabled;
        server.refresh_pending = true;
    }
}

pub fn did_change_watched_files(server: &mut Server, params: DidChangeWatchedFilesParams) {
    let mut workflows_changed = false;
    for change in params.changes {
        let key = key_of(&change.uri);
        if server.open.contains_key(&key) {
            continue; // The editor's buffer is the truth for open files.
        }
        if change.typ == FileChangeType::DELETED {
            server.workspace.remove(&key);
        } else if let Ok(text) = crate::fs::read_text(&key) {
            if server.is_indexed_kind(&key, &text) {
                server.workspace.set(key.clone(), key.clone(), text);
            }
        }
        server.mark_dependents(&key);
        workflows_changed |= crate::model::FileKind::is_candidate_name(&key);
    }
    if workflows_changed {
        server.mark_phase_templates();
    }
}

pub fn did_change_workspace_folders(server: &mut Server, params: DidChangeWorkspaceFoldersParams) {
    for folder in params.event.added {
        if let Ok(path) = folder.uri.to_file_path() {
            let root = crate::fs::absolute(&path);
            server.index_folder(&root);
            server.roots.push(root);
        }
    }
    for folder in params.event.removed {
        if let Ok(path) = folder.uri.to_file_path() {
            let root = crate::fs::absolute(&path);
            server.roots.retain(|r| r != &root);
            let gone: Vec<PathBuf> = server
                .workspace
                .documents()
                .map(|(key, _)| key.clone())
                .filter(|key| key.starts_with(&root) && !server.open.contains_key(key))
                .collect();
            for key in gone {
                server.workspace.remove(&key);
            }
        }
    }
    server.mark_all_open();
}
