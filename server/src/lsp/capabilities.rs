//! What the client and the server tell each other at `initialize`: the client's capabilities the
//! server adapts to, and the server's own.

use std::path::PathBuf;

use lsp_types::*;
use serde_json::Value;

use crate::syntax::ColumnEncoding;

use super::ext;
use super::position::Encoding;

/// What the client can do that the server adapts to.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientFeatures {
    pub code_lens_refresh: bool,
    pub inlay_hint_refresh: bool,
    pub work_done_progress: bool,
    pub show_document: bool,
    /// Completion items may be snippets (`$1` placeholders); without this they must be plain text.
    pub snippets: bool,
}

/// What the client told us at `initialize` that the server needs.
pub struct ClientSetup {
    pub encoding: Encoding,
    pub roots: Vec<PathBuf>,
    pub watch_registration: bool,
    pub runs_enabled: bool,
    pub features: ClientFeatures,
}

pub fn client_setup(params: &InitializeParams) -> ClientSetup {
    let offers_utf8 = params
        .capabilities
        .general
        .as_ref()
        .and_then(|general| general.position_encodings.as_ref())
        .is_some_and(|encodings| encodings.contains(&PositionEncodingKind::UTF8));
    let encoding = Encoding(if offers_utf8 { ColumnEncoding::Utf8 } else { ColumnEncoding::Utf16 });
    let mut roots: Vec<PathBuf> =
        params.workspace_folders.iter().flatten().filter_map(|folder| folder.uri.to_file_path().ok()).collect();
    #[allow(deprecated)]
    if roots.is_empty() {
        roots.extend(params.root_uri.as_ref().and_then(|uri| uri.to_file_path().ok()));
    }
    let roots = roots.iter().map(|root| crate::fs::absolute(root)).collect();
    let watch_registration = params
        .capabilities
        .workspace
        .as_ref()
        .and_then(|workspace| workspace.did_change_watched_files.as_ref())
        .and_then(|watched| watched.dynamic_registration)
        .unwrap_or(false);
    let workspace = params.capabilities.workspace.as_ref();
    let window = params.capabilities.window.as_ref();
    let features = ClientFeatures {
        code_lens_refresh: workspace
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false),
        inlay_hint_refresh: workspace
            .and_then(|w| w.inlay_hint.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false),
        work_done_progress: window.and_then(|w| w.work_done_progress).unwrap_or(false),
        show_document: window.and_then(|w| w.show_document.as_ref()).is_some_and(|s| s.support),
        snippets: params
            .capabilities
            .text_document
            .as_ref()
            .and_then(|t| t.completion.as_ref())
            .and_then(|c| c.completion_item.as_ref())
            .and_then(|i| i.snippet_support)
            .unwrap_or(false),
    };
    // Clients turn runs off with `initializationOptions: { "runs": { "enabled": false } }` (the VS
    // Code extension does in untrusted workspaces).
    let runs_enabled = params
        .initialization_options
        .as_ref()
        .and_then(|o| o.pointer("/runs/enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    ClientSetup { encoding, roots, watch_registration, runs_enabled, features }
}

pub fn server_capabilities(encoding: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(if encoding.0 == ColumnEncoding::Utf8 {
            PositionEncodingKind::UTF8
        } else {
            PositionEncodingKind::UTF16
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::INCREMENTAL),
            save: Some(TextDocumentSyncSaveOptions::Supported(true)),
            ..Default::default()
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some([".", "[", ",", " ", "'", "\"", ":"].map(String::from).to_vec()),
            ..Default::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
        inlay_hint_provider: Some(OneOf::Left(true)),
        document_link_provider: Some(DocumentLinkOptions {
            resolve_provider: Some(false),
            work_done_progress_options: Default::default(),
        }),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        code_lens_provider: Some(CodeLensOptions { resolve_provider: Some(false) }),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: ext::COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
            work_done_progress_options: Default::default(),
        }),
        workspace: Some(WorkspaceServerCapabilities {
            workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                supported: Some(true),
                change_notifications: Some(OneOf::Left(true)),
            }),
            file_operations: None,
        }),
        ..Default::default()
    }
}
