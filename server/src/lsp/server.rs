//! The server's state and its event loop. Messages are handled one at a time in arrival order, so
//! edits are never applied out of order and every request sees the text of every edit sent before
//! it. Whatever has queued up is drained first: cancellations for queued requests are honoured, and
//! a burst of edits ends in one analysis and one `publishDiagnostics` per changed file.
//!
//! Every request gets exactly one response: requests are recorded in an `lsp_server::ReqQueue` as
//! they arrive and [`Server::respond`] sends only for one still pending (a request canceled while
//! it waited is answered once, as canceled). The server's own requests are recorded there too, and
//! the client's answers to them are read ([`Server::client_response`]). Tested in
//! `tests/lsp_protocol.rs`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use lsp_server::{Connection, ErrorCode, Message, Notification, ReqQueue, RequestId, Response};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::*;
use serde_json::Value;

use crate::analysis::Workspace;

use super::capabilities::{ClientFeatures, ClientSetup};
use super::documents::OpenDocument;
use super::handlers;
use super::position::Encoding;
use super::runs::Runs;
use super::sessions::Sessions;

pub struct Server {
    pub connection: Connection,
    pub workspace: Workspace,
    pub open: HashMap<PathBuf, OpenDocument>,
    pub encoding: Encoding,
    pub roots: Vec<PathBuf>,
    /// Open files whose diagnostics must be published again.
    pub dirty: BTreeSet<PathBuf>,
    /// Files that have diagnostics on the client, so closing or fixing them clears them.
    pub published: BTreeSet<PathBuf>,
    /// For each file, the version and a hash of what was last published for it, so the same list is
    /// not sent twice.
    pub last_published: HashMap<PathBuf, (i32, u64)>,
    /// The client's requests not yet answered (by method), and the server's own not yet answered.
    req_queue: ReqQueue<String, Outgoing>,
    watch_registration: bool,
    pub runs: Runs,
    /// Session commands going on, and the histories watched for session changes.
    pub sessions: Sessions,
    pub client: ClientFeatures,
    /// Set when lenses or inlay hints changed and the client should ask for them again.
    pub refresh_pending: bool,
    /// Old documents go here to be dropped on a thread of their own.
    pub dropper: crossbeam_channel::Sender<std::sync::Arc<crate::analysis::Document>>,
    /// Debug builds only: a content change or an opened document whose text is exactly this
    /// (`WEFT_DEBUG_PANIC_ON_EDIT`) panics while it is applied, so tests can show that a failed
    /// edit changes nothing and that a panic in any other state change stops the server.
    pub debug_panic_on_edit: Option<String>,
}

/// Why the server sent a request to the client: what to do with the answer.
#[derive(Debug)]
pub enum Outgoing {
    /// `window/workDoneProgress/create` for a run's progress.
    RunProgress { key: PathBuf, run: crate::store::RunId },
    /// `window/workDoneProgress/create` for a session command's progress.
    SessionProgress(u64),
    /// `workspace/codeLens/refresh` or `workspace/inlayHint/refresh`.
    Refresh,
    /// `window/showDocument` of a log.
    ShowDocument(PathBuf),
    /// `client/registerCapability` of the file watcher.
    WatchFiles,
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
            req_queue: ReqQueue::default(),
            watch_registration: setup.watch_registration,
            runs: Runs::new(setup.runs_enabled),
            sessions: Sessions::default(),
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
            // While a run goes on, a tick every second refreshes the lenses' elapsed times; while a
            // phase template is open, it looks for session changes made by other processes.
            let tick = if self.runs.active.is_empty() && !self.watches_sessions() {
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
                    self.poll_sessions(false);
                    self.publish_dirty();
                    self.send_refresh();
                    continue;
                },
                recv(self.sessions.receiver) -> message => {
                    if let Ok(message) = message {
                        self.session_message(message);
                    }
                    while let Ok(message) = self.sessions.receiver.try_recv() {
                        self.session_message(message);
                    }
                    self.publish_dirty();
                    self.send_refresh();
                    continue;
                }
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
            if self.handle_batch(batch)? {
                return self.wait_for_exit();
            }
            self.poll_sessions(false);
            self.publish_dirty();
            self.send_refresh();
            for message in self.runs.history.take_notices() {
                self.notify::<notif::ShowMessage>(ShowMessageParams { typ: MessageType::WARNING, message });
            }
        }
    }

    /// Handles messages that arrived together; says whether `shutdown` was among them.
    fn handle_batch(&mut self, batch: Vec<Message>) -> Result<bool, String> {
        // Every request is pending from its arrival, so a cancel later in the batch finds it.
        for message in &batch {
            if let Message::Request(request) = message {
                self.req_queue.incoming.register(request.id.clone(), request.method.clone());
            }
        }
        for message in &batch {
            if let Message::Notification(notification) = message {
                if notification.method == notif::Cancel::METHOD {
                    self.cancel(notification);
                }
            }
        }
        for message in batch {
            match message {
                Message::Request(request) => {
                    if self.req_queue.incoming.is_completed(&request.id) {
                        continue; // Canceled while it waited, and answered so.
                    }
                    if request.method == req::Shutdown::METHOD {
                        self.respond(Response::new_ok(request.id, Value::Null));
                        return Ok(true);
                    }
                    self.sync_workspace();
                    handlers::request(self, request)?;
                }
                Message::Notification(notification) => {
                    if notification.method == notif::Exit::METHOD {
                        // The protocol asks for exit code 1 when `exit` comes without `shutdown`.
                        return Err("the client sent `exit` without `shutdown` first".into());
                    }
                    if notification.method != notif::Cancel::METHOD {
                        self.handle_notification(notification)?;
                    }
                }
                Message::Response(response) => self.client_response(response),
            }
        }
        Ok(false)
    }

    fn cancel(&mut self, notification: &Notification) {
        let Ok(params) = serde_json::from_value::<CancelParams>(notification.params.clone()) else { return };
        let id = match params.id {
            NumberOrString::Number(n) => RequestId::from(n),
            NumberOrString::String(s) => RequestId::from(s),
        };
        if let Some(response) = self.req_queue.incoming.cancel(id) {
            let _ = self.connection.sender.send(Message::Response(response));
        }
    }

    /// Notifications change state as they go, so a panic in one stops the server (see
    /// [`super::dispatch`]).
    fn handle_notification(&mut self, notification: Notification) -> Result<(), String> {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let method = notification.method.clone();
        match catch_unwind(AssertUnwindSafe(|| handlers::notification(self, notification))) {
            Ok(()) => Ok(()),
            Err(panic) => Err(self.stop_after_panic(&method, &super::dispatch::panic_message(&panic))),
        }
    }

    /// After `shutdown`, only `exit` matters; requests get an error as the protocol says.
    fn wait_for_exit(&mut self) -> Result<(), String> {
        while let Ok(message) = self.connection.receiver.recv() {
            match message {
                Message::Notification(n) if n.method == notif::Exit::METHOD => return Ok(()),
                Message::Request(request) => {
                    self.req_queue.incoming.register(request.id.clone(), request.method.clone());
                    self.respond(Response::new_err(
                        request.id,
                        ErrorCode::InvalidRequest as i32,
                        "the server is shutting down".into(),
                    ));
                }
                Message::Response(response) => self.client_response(response),
                Message::Notification(_) => {}
            }
        }
        Ok(())
    }

    /// Sends the response to a pending request; a second response to the same request is dropped.
    pub fn respond(&mut self, response: Response) {
        if self.req_queue.incoming.complete(&response.id).is_none() {
            tracing::error!("a second response to request {} was not sent", response.id);
            return;
        }
        let _ = self.connection.sender.send(Message::Response(response));
    }

    pub fn notify<N: lsp_types::notification::Notification>(&self, params: N::Params) {
        let notification = Notification::new(N::METHOD.to_owned(), params);
        let _ = self.connection.sender.send(Message::Notification(notification));
    }

    pub fn send_request<R: lsp_types::request::Request>(&mut self, params: R::Params, why: Outgoing) {
        let request = self.req_queue.outgoing.register(R::METHOD.to_owned(), params, why);
        let _ = self.connection.sender.send(Message::Request(request));
    }

    /// The client's answer to one of the server's requests.
    pub fn client_response(&mut self, response: Response) {
        let Some(why) = self.req_queue.outgoing.complete(response.id.clone()) else {
            tracing::warn!("the client answered request {}, which the server never sent", response.id);
            return;
        };
        let failed = response.response_result.as_ref().err().map(|error| format!("{} ({})", error.message, error.code));
        match why {
            Outgoing::RunProgress { key, run } => self.run_progress_created(&key, run, failed.is_none()),
            Outgoing::SessionProgress(job) => self.session_progress_created(job, failed.is_none()),
            Outgoing::ShowDocument(path) => {
                let shown = response.response_result.as_ref().ok().and_then(|result| result.get("success"));
                let shown = shown.and_then(Value::as_bool);
                if failed.is_some() || shown == Some(false) {
                    let reason = failed.unwrap_or_else(|| "the editor did not open it".into());
                    self.notify::<notif::ShowMessage>(ShowMessageParams {
                        typ: MessageType::WARNING,
                        message: format!("weft: could not show {}: {reason}", path.display()),
                    });
                }
            }
            Outgoing::Refresh => {
                if let Some(reason) = failed {
                    tracing::warn!("the client refused to refresh lenses or hints: {reason}");
                }
            }
            Outgoing::WatchFiles => {
                if let Some(reason) = failed {
                    tracing::warn!("the client refused to watch files: {reason}; closed files are read when opened");
                }
            }
        }
    }

    /// Tells the user that the server stops after a panic in a handler that changes state, and
    /// returns the error `run` ends with (exit status 1; clients restart the server).
    pub fn stop_after_panic(&self, method: &str, panic: &str) -> String {
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

    pub fn show_document(&mut self, path: &Path) {
        if let Ok(uri) = Url::from_file_path(path) {
            let params = ShowDocumentParams { uri, external: Some(false), take_focus: Some(true), selection: None };
            self.send_request::<req::ShowDocument>(params, Outgoing::ShowDocument(path.to_path_buf()));
        }
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
        let params = RegistrationParams { registrations: vec![registration] };
        self.send_request::<req::RegisterCapability>(params, Outgoing::WatchFiles);
    }
}
