//! From a message to its handler: one table of requests and one of notifications
//! ([`super::handlers::requests`], [`super::handlers::notifications`]), typed by `lsp_types`' method
//! markers, so a method's name, its params and its result cannot disagree.
//!
//! The panic policy is decided here, by the kind of handler, and the compiler keeps it:
//! - A read handler ([`RequestDispatcher::on_read`]) gets `&Server`: it cannot change the server's
//!   state, so a panic in it becomes an error response and the server goes on.
//! - A write handler ([`RequestDispatcher::on_write`]) and every notification handler get
//!   `&mut Server`. A panic in one stops the server loudly ([`Server::stop_after_panic`]) rather
//!   than answer from state it may have left half-changed; the one notification that must survive
//!   a panic, `didChange`, computes its new text first and changes nothing until it has it
//!   (see `handlers::notifications::did_change`). Tested in `tests/lsp_edit_panic.rs` and
//!   `tests/lsp_robustness.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use lsp_server::{ErrorCode, ExtractError, Notification, Request, RequestId, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::server::Server;

/// Why a request has no result, as the client is told.
#[derive(Debug)]
pub struct RequestError {
    pub code: i32,
    pub message: String,
}

impl RequestError {
    pub fn invalid_params(message: impl Into<String>) -> RequestError {
        RequestError { code: ErrorCode::InvalidParams as i32, message: message.into() }
    }

    /// The request was valid; the answer is that it could not be done, and why.
    pub fn failed(message: impl Into<String>) -> RequestError {
        RequestError { code: ErrorCode::RequestFailed as i32, message: message.into() }
    }
}

pub type RequestResult<T> = Result<T, RequestError>;

/// Hands a request to the first handler of its method. Each `on_*` either answers the request or
/// passes it on; [`RequestDispatcher::finish`] answers one that no handler took.
pub struct RequestDispatcher<'a> {
    request: Option<Request>,
    server: &'a mut Server,
    /// Set when a write handler panicked: the error the event loop ends with.
    stop: Option<String>,
}

impl<'a> RequestDispatcher<'a> {
    pub fn new(server: &'a mut Server, request: Request) -> RequestDispatcher<'a> {
        RequestDispatcher { request: Some(request), server, stop: None }
    }

    /// A request that only reads. A panic in `handler` is answered as an internal error.
    pub fn on_read<R>(&mut self, handler: fn(&Server, R::Params) -> RequestResult<R::Result>) -> &mut Self
    where
        R: lsp_types::request::Request,
        R::Params: DeserializeOwned,
        R::Result: Serialize,
    {
        let Some((id, params)) = self.take::<R>() else { return self };
        let server = &*self.server;
        let outcome = catch_unwind(AssertUnwindSafe(|| handler(server, params)));
        match outcome {
            Ok(result) => self.server.respond(response(id, result)),
            Err(panic) => {
                let message = panic_message(&panic);
                tracing::error!("{} panicked: {message}", R::METHOD);
                self.server.respond(panicked(id, R::METHOD, &message));
            }
        }
        self
    }

    /// A request that changes the server's state (starts or cancels a run, asks the client to show
    /// a document). A panic in `handler` is answered as an internal error, and stops the server.
    pub fn on_write<R>(&mut self, handler: fn(&mut Server, R::Params) -> RequestResult<R::Result>) -> &mut Self
    where
        R: lsp_types::request::Request,
        R::Params: DeserializeOwned,
        R::Result: Serialize,
    {
        let Some((id, params)) = self.take::<R>() else { return self };
        let server = &mut *self.server;
        let outcome = catch_unwind(AssertUnwindSafe(|| handler(server, params)));
        match outcome {
            Ok(result) => self.server.respond(response(id, result)),
            Err(panic) => {
                let message = panic_message(&panic);
                tracing::error!("{} panicked: {message}", R::METHOD);
                self.server.respond(panicked(id, R::METHOD, &message));
                self.stop = Some(self.server.stop_after_panic(R::METHOD, &message));
            }
        }
        self
    }

    /// Answers a request no handler took; returns the error the server must stop with, if any.
    pub fn finish(&mut self) -> Result<(), String> {
        if let Some(request) = self.request.take() {
            let message = format!("weft does not handle {}", request.method);
            self.server.respond(Response::new_err(request.id, ErrorCode::MethodNotFound as i32, message));
        }
        self.stop.take().map_or(Ok(()), Err)
    }

    /// The request's id and params when it is `R`'s; params that do not parse are answered here.
    fn take<R>(&mut self) -> Option<(RequestId, R::Params)>
    where
        R: lsp_types::request::Request,
        R::Params: DeserializeOwned,
    {
        let request = self.request.take()?;
        let id = request.id.clone();
        match request.extract::<R::Params>(R::METHOD) {
            Ok(taken) => Some(taken),
            Err(ExtractError::MethodMismatch(request)) => {
                self.request = Some(request);
                None
            }
            Err(ExtractError::JsonError { method, error }) => {
                tracing::warn!("{method}: invalid params: {error}");
                let message = format!("invalid params: {error}");
                self.server.respond(Response::new_err(id, ErrorCode::InvalidParams as i32, message));
                None
            }
        }
    }
}

/// Hands a notification to its handler. Params that do not parse are logged and ignored, as the
/// protocol has no way to answer a notification.
pub struct NotificationDispatcher<'a> {
    notification: Option<Notification>,
    server: &'a mut Server,
}

impl<'a> NotificationDispatcher<'a> {
    pub fn new(server: &'a mut Server, notification: Notification) -> NotificationDispatcher<'a> {
        NotificationDispatcher { notification: Some(notification), server }
    }

    pub fn on<N>(&mut self, handler: fn(&mut Server, N::Params)) -> &mut Self
    where
        N: lsp_types::notification::Notification,
        N::Params: DeserializeOwned,
    {
        let Some(notification) = self.notification.take() else { return self };
        match notification.extract::<N::Params>(N::METHOD) {
            Ok(params) => handler(self.server, params),
            Err(ExtractError::MethodMismatch(notification)) => self.notification = Some(notification),
            Err(ExtractError::JsonError { method, error }) => tracing::warn!("{method}: invalid params: {error}"),
        }
        self
    }

    /// A notification no handler took is ignored (`$/` ones may be, by the protocol).
    pub fn finish(&mut self) {
        if let Some(notification) = self.notification.take() {
            tracing::debug!("ignored notification {}", notification.method);
        }
    }
}

fn response<T: Serialize>(id: RequestId, result: RequestResult<T>) -> Response {
    match result {
        Ok(value) => Response::new_ok(id, value),
        Err(RequestError { code, message }) => Response::new_err(id, code, message),
    }
}

fn panicked(id: RequestId, method: &str, message: &str) -> Response {
    Response::new_err(id, ErrorCode::InternalError as i32, format!("weft: {method} failed: {message}"))
}

pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
