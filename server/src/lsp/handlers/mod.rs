//! What the server does for each request and notification, one module per feature. The two
//! tables below are the whole list: a method is handled when it is here, by the handler named.
//! Handlers convert protocol params with [`super::from_proto`], call the analysis (or the runs),
//! and convert the answer with [`super::to_proto`]; no analysis happens in them.

mod code_actions;
mod completion;
mod navigation;
mod notifications;
mod runs;
mod sessions;
mod symbols;

use lsp_server::{Notification, Request};
use lsp_types::{notification as notif, request as req};

use super::dispatch::{NotificationDispatcher, RequestDispatcher, RequestResult};
use super::ext;
use super::server::Server;

/// Answers `request`; returns the error the server must stop with when a write handler panicked.
/// `initialize`, `shutdown` and `$/cancelRequest` are the event loop's own.
pub fn request(server: &mut Server, request: Request) -> Result<(), String> {
    RequestDispatcher::new(server, request)
        .on_read::<req::Completion>(completion::completion)
        .on_read::<req::HoverRequest>(navigation::hover)
        .on_read::<req::GotoDefinition>(navigation::definition)
        .on_read::<req::References>(navigation::references)
        .on_read::<req::PrepareRenameRequest>(navigation::prepare_rename)
        .on_read::<req::Rename>(navigation::rename)
        .on_read::<req::DocumentSymbolRequest>(symbols::document_symbol)
        .on_read::<req::WorkspaceSymbolRequest>(symbols::workspace_symbol)
        .on_read::<req::FoldingRangeRequest>(symbols::folding_range)
        .on_read::<req::DocumentLinkRequest>(symbols::document_link)
        .on_read::<req::InlayHintRequest>(symbols::inlay_hint)
        .on_read::<req::CodeActionRequest>(code_actions::code_action)
        .on_read::<req::CodeLensRequest>(runs::code_lens)
        .on_write::<req::ExecuteCommand>(runs::execute_command)
        .on_read::<ext::Runs>(runs::runs)
        .on_write::<ext::Sessions>(sessions::sessions)
        .on_read::<DebugPanic>(debug_panic)
        .finish()
}

/// Applies `notification`. `exit` is the event loop's own.
pub fn notification(server: &mut Server, notification: Notification) {
    NotificationDispatcher::new(server, notification)
        .on::<notif::DidOpenTextDocument>(notifications::did_open)
        .on::<notif::DidChangeTextDocument>(notifications::did_change)
        .on::<notif::DidCloseTextDocument>(notifications::did_close)
        .on::<notif::DidSaveTextDocument>(notifications::did_save)
        .on::<notif::WorkDoneProgressCancel>(notifications::work_done_progress_cancel)
        .on::<notif::DidChangeConfiguration>(notifications::did_change_configuration)
        .on::<notif::DidChangeWatchedFiles>(notifications::did_change_watched_files)
        .on::<notif::DidChangeWorkspaceFolders>(notifications::did_change_workspace_folders)
        .finish();
}

/// Debug builds only: a read-only request that panics, to test that the server answers with an
/// error and goes on (`tests/lsp_robustness.rs`). Release builds do not handle it.
enum DebugPanic {}

impl lsp_types::request::Request for DebugPanic {
    type Params = serde_json::Value;
    type Result = serde_json::Value;
    const METHOD: &'static str =
        if cfg!(debug_assertions) { "weft/debugPanic" } else { "weft/debugPanic (debug builds only)" };
}

fn debug_panic(_: &Server, _: serde_json::Value) -> RequestResult<serde_json::Value> {
    panic!("weft/debugPanic was asked to panic")
}
