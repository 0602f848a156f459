//! The event loop. Messages are handled one at a time in arrival order, so edits are never applied
//! out of order and every request sees the text of every edit sent before it. Whatever has queued up
//! is drained first: cancellations for queued requests are honoured, and a burst of edits ends in one
//! analysis and one `publishDiagnostics` per changed file.

use std::collections::{BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{notification as notif, request as req, *};
use serde_json::Value;

use crate::analysis::Workspace;
use crate::engine::EventKind;
use crate::model::FileKind;
use crate::syntax::{ColumnEncoding, LineIndex};

use super::handlers;
use super::position::Encoding;
use super::runs::{self, RunMessage, Runs};

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

pub struct Server {
    pub connection: Connection,
    pub workspace: Workspace,
    pub open: HashMap<PathBuf, OpenDocument>,
    pub encoding: Encoding,
    roots: Vec<PathBuf>,
    /// Open files whose diagnostics must be published again.
    dirty: BTreeSet<PathBuf>,
    /// Files that have diagnostics on the client, so closing or fixing them clears them.
    published: BTreeSet<PathBuf>,
    /// What was last published for each file, so the same list is not sent twice.
    last_published: HashMap<PathBuf, (i32, Vec<lsp_types::Diagnostic>)>,
    next_request_id: i32,
    watch_registration: bool,
    pub runs: Runs,
    client: ClientFeatures,
    /// Set when lenses or inlay hints changed and the client should ask for them again.
    refresh_pending: bool,
    /// Old documents go here to be dropped on a thread of their own.
    dropper: crossbeam_channel::Sender<std::sync::Arc<crate::analysis::Document>>,
    /// Debug builds only: a content change or an opened document whose text is exactly this
    /// (`WEFT_DEBUG_PANIC_ON_EDIT`) panics while it is applied, so tests can show that a failed
    /// edit changes nothing and that a panic in any other state change stops the server.
    debug_panic_on_edit: Option<String>,
}

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
            commands: runs::COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
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

impl Server {
    pub fn new(connection: Connection, setup: ClientSetup) -> Server {
        Server {
            connection,
            workspace: Workspace::new(),
            open: HashMap::new(),
            encoding: setup.encoding,
            roots: setup.roots,
            dirty: BTreeSet::new(),
            published: BTreeSet::new(),
            last_published: HashMap::new(),
            next_request_id: 0,
            watch_registration: setup.watch_registration,
            runs: Runs::new(setup.runs_enabled),
            client: setup.features,
            refresh_pending: false,
            debug_panic_on_edit: std::env::var("WEFT_DEBUG_PANIC_ON_EDIT")
                .ok()
                .filter(|marker| cfg!(debug_assertions) && !marker.is_empty()),
            dropper: {
                let (sender, receiver) = crossbeam_channel::unbounded::<std::sync::Arc<crate::analysis::Document>>();
                let _ =
                    std::thread::Builder::new().name("weft-drop".into()).spawn(move || receiver.iter().for_each(drop));
                sender
            },
        }
    }

    /// Indexes the workspace folders, then serves until `exit`.
    pub fn run(mut self) -> Result<(), String> {
        for root in self.roots.clone() {
            self.index_folder(&root);
        }
        if self.watch_registration {
            self.register_file_watcher();
        }
        loop {
            // Editor messages and run events are handled on this one thread, in arrival order.
            // While a run goes on, a tick every second refreshes the lenses' elapsed times.
            let tick = if self.runs.active.is_empty() {
                std::time::Duration::from_secs(3600)
            } else {
                std::time::Duration::from_secs(1)
            };
            let first = crossbeam_channel::select! {
                recv(self.connection.receiver) -> message => match message {
                    Ok(message) => message,
                    Err(_) => return Ok(()),
                },
                default(tick) => {
                    self.refresh_pending |= !self.runs.active.is_empty();
                    self.send_refresh();
                    continue;
                },
                recv(self.runs.receiver) -> message => {
                    if let Ok(message) = message {
                        self.run_message(message);
                    }
                    while let Ok(message) = self.runs.receiver.try_recv() {
                        self.run_message(message);
                    }
                    self.publish_dirty();
                    self.send_refresh();
                    continue;
                }
            };
            let mut batch = vec![first];
            batch.extend(self.connection.receiver.try_iter());
            let canceled: Vec<RequestId> = batch
                .iter()
                .filter_map(|message| match message {
                    Message::Notification(n) if n.method == notif::Cancel::METHOD => {
                        serde_json::from_value::<CancelParams>(n.params.clone()).ok().map(|p| match p.id {
                            NumberOrString::Number(n) => RequestId::from(n),
                            NumberOrString::String(s) => RequestId::from(s),
                        })
                    }
                    _ => None,
                })
                .collect();
            for message in batch {
                match message {
                    Message::Request(request) => {
                        if canceled.contains(&request.id) {
                            self.respond(Response::new_err(
                                request.id,
                                ErrorCode::RequestCanceled as i32,
                                "canceled".into(),
                            ));
                            continue;
                        }
                        if request.method == req::Shutdown::METHOD {
                            self.respond(Response::new_ok(request.id, Value::Null));
                            return self.wait_for_exit();
                        }
                        self.handle_request(request)?;
                    }
                    Message::Notification(notification) => {
                        if notification.method == notif::Exit::METHOD {
                            // The protocol asks for exit code 1 when `exit` comes without `shutdown`.
                            return Err("the client sent `exit` without `shutdown` first".into());
                        }
                        self.handle_notification(notification)?;
                    }
                    Message::Response(_) => {}
                }
            }
            self.publish_dirty();
            self.send_refresh();
            for message in runs::take_history_notices() {
                self.notify::<notif::ShowMessage>(ShowMessageParams { typ: MessageType::WARNING, message });
            }
        }
    }

    /// After `shutdown`, only `exit` matters; requests get an error as the protocol says.
    fn wait_for_exit(&mut self) -> Result<(), String> {
        while let Ok(message) = self.connection.receiver.recv() {
            match message {
                Message::Notification(n) if n.method == notif::Exit::METHOD => return Ok(()),
                Message::Request(request) => self.respond(Response::new_err(
                    request.id,
                    ErrorCode::InvalidRequest as i32,
                    "the server is shutting down".into(),
                )),
                _ => {}
            }
        }
        Ok(())
    }

    pub fn respond(&self, response: Response) {
        let _ = self.connection.sender.send(Message::Response(response));
    }

    pub fn notify<N: lsp_types::notification::Notification>(&self, params: N::Params) {
        let notification = Notification::new(N::METHOD.to_owned(), params);
        let _ = self.connection.sender.send(Message::Notification(notification));
    }

    fn send_request<R: lsp_types::request::Request>(&mut self, params: R::Params) {
        self.next_request_id += 1;
        let request =
            Request::new(RequestId::from(format!("weft-{}", self.next_request_id)), R::METHOD.to_owned(), params);
        let _ = self.connection.sender.send(Message::Request(request));
    }

    /// Runs a request handler. A panic in a read-only request becomes an error response and the
    /// server keeps serving: nothing it could have half-done outlives it. A request that changes
    /// state (see [`handlers::changes_state`]) also gets its error response, and then the server
    /// stops, loudly, rather than answer from state the panic may have left half-changed.
    fn handle_request(&mut self, request: Request) -> Result<(), String> {
        self.sync_workspace();
        let id = request.id.clone();
        let method = request.method.clone();
        let result = catch_unwind(AssertUnwindSafe(|| handlers::dispatch(self, request)));
        let response = match result {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err(handlers::RequestError { code, message })) => Response::new_err(id, code, message),
            Err(panic) => {
                let message = panic_message(&panic);
                tracing::error!("{method} panicked: {message}");
                self.respond(Response::new_err(
                    id,
                    ErrorCode::InternalError as i32,
                    format!("weft: {method} failed: {message}"),
                ));
                if handlers::changes_state(&method) {
                    return Err(self.stop_after_panic(&method, &message));
                }
                return Ok(());
            }
        };
        self.respond(response);
        Ok(())
    }

    /// Notifications change state as they go, so a panic in one stops the server. The one part
    /// that catches its own panics is the computation of a `didChange`'s new text, which changes
    /// nothing until it has finished (see [`Server::change_document`]).
    fn handle_notification(&mut self, notification: Notification) -> Result<(), String> {
        let method = notification.method.clone();
        match catch_unwind(AssertUnwindSafe(|| self.notification(notification))) {
            Ok(()) => Ok(()),
            Err(panic) => Err(self.stop_after_panic(&method, &panic_message(&panic))),
        }
    }

    /// Tells the user that the server stops after a panic in a handler that changes state, and
    /// returns the error `run` ends with (exit status 1; clients restart the server).
    fn stop_after_panic(&self, method: &str, panic: &str) -> String {
        let message = format!(
            "weft stopped: {method} panicked ({panic}) and may have left the server's state half-changed; \
             restart the language server"
        );
        tracing::error!("{message}");
        self.notify::<notif::ShowMessage>(ShowMessageParams { typ: MessageType::ERROR, message: message.clone() });
        // The same words go to the client's log, where they stay after the notice is dismissed.
        // `lsp::run` joins the writer thread before the process ends, so both are on stdout.
        self.notify::<notif::LogMessage>(LogMessageParams { typ: MessageType::ERROR, message: message.clone() });
        message
    }

    /// Applies a `didChange` in one step: the new text is computed from every content change
    /// first, and only then swapped in with its version. A panic while it is computed changes
    /// nothing: the document keeps the text and version from before the change, is marked out of
    /// sync with the client, and the user is told.
    fn change_document(&mut self, params: DidChangeTextDocumentParams) {
        let key = key_of(&params.text_document.uri);
        let Some(open) = self.open.get(&key) else { return };
        // A full text replaces whatever came before it, so only the changes from the last one on
        // matter.
        let first = params.content_changes.iter().rposition(|change| change.range.is_none()).unwrap_or(0);
        let changes = &params.content_changes[first..];
        let full_text = changes.first().is_some_and(|change| change.range.is_none());
        if open.out_of_sync && !full_text {
            tracing::warn!("{}: an edit after a failed one waits for the full text", key.display());
            return;
        }
        // While the buffer equals the parsed document, its line index is the right one; it saves
        // a pass over a large file on the first edit of a keystroke.
        let parsed_source = open.parsed.then(|| self.workspace.document(&key).map(|d| d.source.clone())).flatten();
        let encoding = self.encoding;
        let marker = self.debug_panic_on_edit.as_deref();
        let computed = catch_unwind(AssertUnwindSafe(|| {
            apply_content_changes(&open.text, parsed_source.as_deref(), changes, encoding, marker)
        }));
        let Some(open) = self.open.get_mut(&key) else { return };
        match computed {
            Ok(text) => {
                open.text = text;
                open.version = params.text_document.version;
                open.parsed = false;
                open.out_of_sync = false;
                self.changed(&key);
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
                self.notify::<notif::ShowMessage>(ShowMessageParams { typ: MessageType::ERROR, message });
            }
        }
    }

    fn notification(&mut self, notification: Notification) {
        match notification.method.as_str() {
            notif::DidOpenTextDocument::METHOD => {
                let Ok(params) = serde_json::from_value::<DidOpenTextDocumentParams>(notification.params) else {
                    return;
                };
                let document = params.text_document;
                let key = key_of(&document.uri);
                self.load_config_from_disk(&key);
                if self.debug_panic_on_edit.as_deref() == Some(document.text.as_str()) {
                    panic!("WEFT_DEBUG_PANIC_ON_EDIT: an opened text is the marker");
                }
                self.open.insert(
                    key.clone(),
                    OpenDocument {
                        uri: document.uri,
                        version: document.version,
                        text: document.text,
                        parsed: false,
                        out_of_sync: false,
                    },
                );
                self.changed(&key);
            }
            notif::DidChangeTextDocument::METHOD => {
                let Ok(params) = serde_json::from_value::<DidChangeTextDocumentParams>(notification.params) else {
                    return;
                };
                self.change_document(params);
            }
            notif::DidCloseTextDocument::METHOD => {
                let Ok(params) = serde_json::from_value::<DidCloseTextDocumentParams>(notification.params) else {
                    return;
                };
                let key = key_of(&params.text_document.uri);
                self.open.remove(&key);
                self.last_published.remove(&key);
                // The file stays known from disk (if it is there) for cross-file features.
                match crate::fs::read_text(&key) {
                    Ok(text) if self.is_indexed_kind(&key, &text) => {
                        self.workspace.set(key.clone(), key.clone(), text);
                    }
                    _ => {
                        self.workspace.remove(&key);
                    }
                }
                if self.published.remove(&key) {
                    self.notify::<notif::PublishDiagnostics>(PublishDiagnosticsParams {
                        uri: params.text_document.uri,
                        diagnostics: Vec::new(),
                        version: None,
                    });
                }
                self.mark_dependents(&key);
            }
            notif::DidSaveTextDocument::METHOD => {}
            notif::WorkDoneProgressCancel::METHOD => {
                let Ok(params) = serde_json::from_value::<WorkDoneProgressCancelParams>(notification.params) else {
                    return;
                };
                let token = match params.token {
                    NumberOrString::String(token) => token,
                    NumberOrString::Number(number) => number.to_string(),
                };
                if let Some(active) = self.runs.active.values().find(|active| active.token == token) {
                    active.cancel.cancel();
                }
            }
            notif::DidChangeConfiguration::METHOD => {
                let Ok(params) = serde_json::from_value::<DidChangeConfigurationParams>(notification.params) else {
                    return;
                };
                if let Some(enabled) = params.settings.pointer("/weft/runs/enabled").and_then(Value::as_bool) {
                    self.runs.enabled = enabled;
                    self.refresh_pending = true;
                }
            }
            notif::DidChangeWatchedFiles::METHOD => {
                let Ok(params) = serde_json::from_value::<DidChangeWatchedFilesParams>(notification.params) else {
                    return;
                };
                for change in params.changes {
                    let key = key_of(&change.uri);
                    if self.open.contains_key(&key) {
                        continue; // The editor's buffer is the truth for open files.
                    }
                    if change.typ == FileChangeType::DELETED {
                        self.workspace.remove(&key);
                    } else if let Ok(text) = crate::fs::read_text(&key) {
                        if self.is_indexed_kind(&key, &text) {
                            self.workspace.set(key.clone(), key.clone(), text);
                        }
                    }
                    self.mark_dependents(&key);
                }
            }
            notif::DidChangeWorkspaceFolders::METHOD => {
                let Ok(params) = serde_json::from_value::<DidChangeWorkspaceFoldersParams>(notification.params) else {
                    return;
                };
                for folder in params.event.added {
                    if let Ok(path) = folder.uri.to_file_path() {
                        let root = crate::fs::absolute(&path);
                        self.index_folder(&root);
                        self.roots.push(root);
                    }
                }
                for folder in params.event.removed {
                    if let Ok(path) = folder.uri.to_file_path() {
                        let root = crate::fs::absolute(&path);
                        self.roots.retain(|r| r != &root);
                        let gone: Vec<PathBuf> = self
                            .workspace
                            .documents()
                            .map(|(key, _)| key.clone())
                            .filter(|key| key.starts_with(&root) && !self.open.contains_key(key))
                            .collect();
                        for key in gone {
                            self.workspace.remove(&key);
                        }
                    }
                }
                self.dirty.extend(self.open.keys().cloned());
            }
            _ => {}
        }
    }

    /// A file's text changed: it and the files whose analysis depends on it need new diagnostics.
    fn changed(&mut self, key: &Path) {
        self.dirty.insert(key.to_path_buf());
        self.mark_dependents(key);
    }

    /// A `weft.yaml` affects every open workflow below it; a workflow affects its `weft.yaml`.
    fn mark_dependents(&mut self, key: &Path) {
        let is_config = key.file_name().is_some_and(|name| name == "weft.yaml" || name == "weft.yml");
        let folder = key.parent().unwrap_or(Path::new("/"));
        for open in self.open.keys() {
            let below = open.starts_with(folder);
            let is_open_config = open.file_name().is_some_and(|name| name == "weft.yaml" || name == "weft.yml");
            if (is_config && below) || (is_open_config && key.starts_with(open.parent().unwrap_or(Path::new("/")))) {
                self.dirty.insert(open.clone());
            }
        }
    }

    pub fn snippet_support(&self) -> bool {
        self.client.snippets
    }

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

    fn publish_dirty(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        self.sync_workspace();
        for key in std::mem::take(&mut self.dirty) {
            let Some(open) = self.open.get(&key) else { continue };
            let Some(document) = self.workspace.document(&key).cloned() else { continue };
            if document.kind.is_none() && !self.published.contains(&key) {
                continue; // Not a weft file: leave it alone.
            }
            let diagnostics = match catch_unwind(AssertUnwindSafe(|| self.workspace.check(&key))) {
                Ok(diagnostics) => diagnostics,
                Err(panic) => {
                    tracing::error!("analysis of {} panicked: {}", key.display(), panic_message(&panic));
                    continue;
                }
            };
            let mut converted: Vec<lsp_types::Diagnostic> =
                diagnostics.iter().map(|d| handlers::to_lsp_diagnostic(self, &document.source, d)).collect();
            // A run diagnostic sits on its step's id where that id is now; a step that is gone
            // takes its diagnostic with it.
            for (step, diagnostic) in self.runs.diagnostics.get(&key).into_iter().flatten() {
                if let Some(span) = runs::step_span(&document, step) {
                    let range = self.encoding.range(&document.source.line_index, span);
                    converted.push(lsp_types::Diagnostic { range, ..diagnostic.clone() });
                }
            }
            if converted.is_empty() {
                self.published.remove(&key);
            } else {
                self.published.insert(key.clone());
            }
            let unchanged = self
                .last_published
                .get(&key)
                .is_some_and(|(version, last)| *version == open.version && *last == converted);
            if unchanged {
                continue;
            }
            self.last_published.insert(key.clone(), (open.version, converted.clone()));
            let params =
                PublishDiagnosticsParams { uri: open.uri.clone(), diagnostics: converted, version: Some(open.version) };
            self.notify::<notif::PublishDiagnostics>(params);
        }
    }

    /// Starts a run for `workspace/executeCommand`; refuses unsaved and broken files.
    pub fn start_run(
        &mut self,
        key: &Path,
        selection: crate::engine::Selection,
        resume: Option<crate::store::RunId>,
    ) -> Result<Value, String> {
        if let Some(open) = self.open.get(key) {
            let on_disk = crate::fs::read_text(key).unwrap_or_default();
            if open.text != on_disk {
                return Err(format!("save {} before running it: the run uses the file on disk", key.display()));
            }
        }
        let id = self.runs.start(key, selection, resume)?;
        if self.client.work_done_progress {
            if let Some((token, total)) = self.runs.active.get(key).map(|active| (active.token.clone(), active.total)) {
                let token = NumberOrString::String(token);
                self.send_request::<req::WorkDoneProgressCreate>(WorkDoneProgressCreateParams { token: token.clone() });
                let begin = WorkDoneProgressBegin {
                    title: format!("weft run {id}"),
                    cancellable: Some(true),
                    message: Some(format!("0/{total} steps")),
                    percentage: Some(0),
                };
                self.notify::<notif::Progress>(ProgressParams {
                    token,
                    value: ProgressParamsValue::WorkDone(WorkDoneProgress::Begin(begin)),
                });
            }
        }
        self.dirty.insert(key.to_path_buf());
        self.refresh_pending = true;
        Ok(serde_json::json!({ "runId": id }))
    }

    fn run_message(&mut self, message: RunMessage) {
        match message {
            RunMessage::Event { key, event } => {
                let uri = self.open.get(&key).map(|o| o.uri.clone()).or_else(|| Url::from_file_path(&key).ok());
                if let Some(uri) = &uri {
                    self.notify_raw("weft/runEvent", serde_json::json!({ "uri": uri, "event": event }));
                }
                if let Some(message) = self.runs.apply(&key, &event) {
                    self.refresh_pending = true;
                    if self.client.work_done_progress {
                        if let Some(active) = self.runs.active.get(&key) {
                            let percentage = (active.finished * 100 / active.total.max(1)) as u32;
                            let report = WorkDoneProgressReport {
                                cancellable: Some(true),
                                message: Some(message),
                                percentage: Some(percentage),
                            };
                            let token = NumberOrString::String(active.token.clone());
                            self.notify::<notif::Progress>(ProgressParams {
                                token,
                                value: ProgressParamsValue::WorkDone(WorkDoneProgress::Report(report)),
                            });
                        }
                    }
                }
                if matches!(event.kind, EventKind::StepFailed | EventKind::StepTimedOut) {
                    self.add_failure_diagnostic(&key, &event);
                }
                if event.kind == EventKind::RunFinished {
                    // The run is over for the editor as soon as the engine says so, so lenses
                    // asked for after this event already show the results.
                    let status = event.data["status"].as_str().unwrap_or("finished").to_owned();
                    self.end_run(&key, event.run, Ok(status));
                }
            }
            RunMessage::Finished { key, run, result } => self.end_run(&key, run, result),
        }
    }

    fn end_run(&mut self, key: &Path, run: crate::store::RunId, result: Result<String, String>) {
        {
            {
                if let Some(active) = self.runs.active.remove(key) {
                    if self.client.work_done_progress {
                        let message = match &result {
                            Ok(status) => format!("run {run} {status}"),
                            Err(error) => format!("run {run} failed: {error}"),
                        };
                        let end = WorkDoneProgressEnd { message: Some(message) };
                        self.notify::<notif::Progress>(ProgressParams {
                            token: NumberOrString::String(active.token),
                            value: ProgressParamsValue::WorkDone(WorkDoneProgress::End(end)),
                        });
                    }
                }
                if let Err(error) = result {
                    self.notify::<notif::ShowMessage>(ShowMessageParams {
                        typ: MessageType::ERROR,
                        message: format!("weft run {run}: {error}"),
                    });
                }
                self.dirty.insert(key.to_path_buf());
                self.refresh_pending = true;
            }
        }
    }

    fn add_failure_diagnostic(&mut self, key: &Path, event: &crate::engine::RunEvent) {
        let Some(step) = event.step.as_deref() else { return };
        let Some(document) = self.workspace.document(key).cloned() else { return };
        let span = runs::step_span(&document, step).unwrap_or_default();
        let range = self.encoding.range(&document.source.line_index, span);
        let attempt = event.data["attempt"].as_u64().unwrap_or(1);
        let run_dir = crate::store::run_dir(&crate::engine::workspace_of(key), event.run);
        let stderr = crate::store::attempt_file(&run_dir, step, attempt, "stderr");
        let tail = crate::engine::process::tail(&stderr, 2_048);
        let diagnostic = runs::failure_diagnostic(range, step, event, &tail);
        self.runs.diagnostics.entry(key.to_path_buf()).or_default().push((step.to_owned(), diagnostic));
        self.dirty.insert(key.to_path_buf());
    }

    fn send_refresh(&mut self) {
        if !std::mem::take(&mut self.refresh_pending) {
            return;
        }
        if self.client.code_lens_refresh {
            self.send_request::<req::CodeLensRefresh>(());
        }
        if self.client.inlay_hint_refresh {
            self.send_request::<req::InlayHintRefreshRequest>(());
        }
    }

    pub fn notify_raw(&self, method: &str, params: Value) {
        let _ = self.connection.sender.send(Message::Notification(Notification::new(method.to_owned(), params)));
    }

    pub fn can_show_document(&self) -> bool {
        self.client.show_document
    }

    pub fn show_document(&mut self, path: &Path) {
        if let Ok(uri) = Url::from_file_path(path) {
            self.send_request::<req::ShowDocument>(ShowDocumentParams {
                uri,
                external: Some(false),
                take_focus: Some(true),
                selection: None,
            });
        }
    }

    /// A file's project config may be outside the indexed folders (or in a folder `.weftignore`
    /// leaves out): read the nearest `weft.yaml` from disk, as `weft check` and `weft run` do.
    fn load_config_from_disk(&mut self, key: &Path) {
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

    fn is_indexed_kind(&self, key: &Path, text: &str) -> bool {
        FileKind::from_path(key).is_some() || FileKind::may_be_in_text(text)
    }

    /// Reads the weft files of a folder into the workspace, so cross-file features work before a
    /// file is opened.
    fn index_folder(&mut self, root: &Path) {
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

    fn register_file_watcher(&mut self) {
        let watchers = ["**/*.yaml", "**/*.yml", "**/*.json"]
            .map(|glob| FileSystemWatcher { glob_pattern: GlobPattern::String(glob.to_owned()), kind: None })
            .to_vec();
        let options = DidChangeWatchedFilesRegistrationOptions { watchers };
        let registration = Registration {
            id: "weft-watched-files".into(),
            method: notif::DidChangeWatchedFiles::METHOD.into(),
            register_options: serde_json::to_value(options).ok(),
        };
        self.send_request::<req::RegisterCapability>(RegistrationParams { registrations: vec![registration] });
    }
}

/// The text that `changes` make of `text`, applied in order; `parsed` is `text`'s parsed source
/// when the caller has it at hand (its line index saves a pass over the text). It changes nothing
/// but its result, so a panic in it leaves every document as it was.
fn apply_content_changes(
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

/// The workspace key of a URI: its absolute, normalised file path (or a stand-in for other schemes).
pub fn key_of(uri: &Url) -> PathBuf {
    match uri.to_file_path() {
        Ok(path) => crate::fs::absolute(&path),
        Err(()) => PathBuf::from(format!("/{}/{}", uri.scheme(), uri.path().trim_start_matches('/'))),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
