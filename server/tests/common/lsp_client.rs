//! A strict LSP client for end-to-end tests: it starts the real `weft lsp` binary and speaks JSON-RPC
//! over its stdio. Every message the server sends must be read by the test: a test that ends with
//! unread messages fails, and so does a request answered twice.

#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(30);

pub struct LspClient {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    /// Messages received but not yet read by the test.
    unread: VecDeque<Value>,
    next_id: i64,
    answered: HashSet<i64>,
    pub root: PathBuf,
    /// The server's answer to `initialize` (capabilities, negotiated position encoding).
    pub initialize_result: Value,
}

pub fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl LspClient {
    /// Starts `weft lsp` on a workspace folder and completes the initialize handshake.
    pub fn start(root: &Path) -> LspClient {
        LspClient::start_with(root, json!({}))
    }

    /// As [`start`], with extra client capabilities merged in (e.g. position encodings).
    pub fn start_with(root: &Path, capabilities: Value) -> LspClient {
        LspClient::start_with_folders(&[root], capabilities)
    }

    /// As [`start_with`], with several workspace folders (multi-root); the first is `rootUri`.
    pub fn start_with_folders(folders: &[&Path], capabilities: Value) -> LspClient {
        LspClient::start_with_environment(folders, capabilities, &[])
    }

    /// As [`start_with_folders`], with extra environment variables for the server process (its
    /// debug hooks, such as `WEFT_DEBUG_PANIC_ON_EDIT`).
    pub fn start_with_environment(folders: &[&Path], capabilities: Value, environment: &[(&str, &str)]) -> LspClient {
        let root = folders[0];
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(["lsp", "--stdio"])
            .env("WEFT_LOG", "warn")
            .envs(environment.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("weft lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.strip_prefix("Content-Length: ") {
                        length = value.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("Content-Length header")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let message: Value = serde_json::from_slice(&body).expect("the server sends JSON");
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        let root = weft::fs::absolute(root);
        let mut client = LspClient {
            child,
            stdin,
            incoming,
            unread: VecDeque::new(),
            next_id: 0,
            answered: HashSet::new(),
            root: root.clone(),
            initialize_result: Value::Null,
        };
        let mut caps = json!({
            "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true }, "workspaceFolders": true },
            "textDocument": { "completion": { "completionItem": { "snippetSupport": true } } }
        });
        merge(&mut caps, capabilities);
        let result = client.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(&root),
                "capabilities": caps,
                "workspaceFolders": folders
                    .iter()
                    .enumerate()
                    .map(|(index, folder)| json!({ "uri": uri(&weft::fs::absolute(folder)), "name": format!("folder{index}") }))
                    .collect::<Vec<_>>()
            }),
        );
        assert!(result["capabilities"].is_object(), "{result}");
        client.initialize_result = result;
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{}", body.len(), body).unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns its id without waiting.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    /// Sends a request and waits for its result; panics on an error response.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let response = self.response(id);
        assert!(response.get("error").is_none(), "{method} failed: {response}");
        response["result"].clone()
    }

    /// Waits for the response to request `id` (result or error), leaving other messages unread.
    pub fn response(&mut self, id: i64) -> Value {
        let message = self.wait_for(|message| message.get("method").is_none() && message["id"] == json!(id));
        assert!(self.answered.insert(id), "request {id} was answered twice");
        message
    }

    /// Waits for a notification, taking it out of the unread messages.
    pub fn notification(&mut self, method: &str) -> Value {
        self.wait_for(|message| message["method"] == method && message.get("id").is_none())["params"].clone()
    }

    /// Waits for the diagnostics of one file.
    pub fn diagnostics(&mut self, path: &Path) -> Value {
        let wanted = uri(path);
        self.wait_for(|message| {
            message["method"] == "textDocument/publishDiagnostics" && message["params"]["uri"] == wanted
        })["params"]
            .clone()
    }

    /// The server process's id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// As [`response`], but gives up after `timeout`: `Err` says whether the time ran out or the
    /// server exited.
    pub fn response_within(&mut self, id: i64, timeout: Duration) -> Result<Value, String> {
        let message =
            self.wait_within(|message| message.get("method").is_none() && message["id"] == json!(id), timeout)?;
        if !self.answered.insert(id) {
            return Err(format!("request {id} was answered twice"));
        }
        Ok(message)
    }

    /// Every message received so far and not yet read, oldest first, without waiting for more.
    pub fn take_unread(&mut self) -> Vec<Value> {
        self.receive_waiting();
        self.unread.drain(..).collect()
    }

    /// Moves every message that has arrived into `unread`, answering the server's own requests.
    fn receive_waiting(&mut self) {
        while let Ok(message) = self.incoming.try_recv() {
            if let Some(answer) = self.answer_server_request(&message) {
                self.send(answer);
                continue;
            }
            self.unread.push_back(message);
        }
        self.unread.retain(|message| message.get("registered").is_none());
    }

    fn wait_for(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        match self.wait_within(wanted, TIMEOUT) {
            Ok(message) => message,
            Err(reason) => panic!("{reason}"),
        }
    }

    fn wait_within(&mut self, wanted: impl Fn(&Value) -> bool, timeout: Duration) -> Result<Value, String> {
        if let Some(position) = self.unread.iter().position(&wanted) {
            return Ok(self.unread.remove(position).unwrap());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(message) => {
                    if let Some(answer) = self.answer_server_request(&message) {
                        self.send(answer);
                        if let Some(position) = self.unread.iter().position(&wanted) {
                            return Ok(self.unread.remove(position).unwrap());
                        }
                        continue;
                    }
                    if let Some(id) = message.get("id").and_then(Value::as_i64) {
                        if self.answered.contains(&id) && message.get("method").is_none() {
                            return Err(format!("request {id} was answered twice: {message}"));
                        }
                    }
                    if wanted(&message) {
                        return Ok(message);
                    }
                    self.unread.push_back(message);
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("timed out after {timeout:?}; unread messages: {:#?}", self.unread))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("the server exited; unread messages: {:#?}", self.unread))
                }
            }
        }
    }

    /// Server-to-client requests the harness answers itself (registrations).
    fn answer_server_request(&mut self, message: &Value) -> Option<Value> {
        let method = message.get("method")?.as_str()?;
        let id = message.get("id")?;
        match method {
            "client/registerCapability" => {
                self.unread.push_back(json!({ "registered": message["params"].clone() }));
                Some(json!({ "jsonrpc": "2.0", "id": id, "result": null }))
            }
            _ => None,
        }
    }

    /// Waits for a request the server sent to the client (one this client does not answer by
    /// itself), taking it out of the unread messages.
    pub fn server_request(&mut self, method: &str) -> Value {
        self.wait_for(|message| message["method"] == method && message.get("id").is_some())
    }

    /// Answers a request the server sent: `Ok(result)` or `Err((code, message))`.
    pub fn reply(&mut self, request: &Value, answer: Result<Value, (i64, &str)>) {
        let id = request["id"].clone();
        let message = match answer {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err((code, text)) => json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": text } }),
        };
        self.send(message);
    }

    /// Takes the record of a `client/registerCapability` the server sent.
    pub fn registration(&mut self) -> Value {
        self.wait_for(|message| message.get("registered").is_some())["registered"].clone()
    }

    pub fn open(&mut self, path: &Path, text: &str) {
        let language = if path.extension().is_some_and(|e| e == "json") { "json" } else { "yaml" };
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri(path), "languageId": language, "version": 1, "text": text } }),
        );
    }

    pub fn change_full(&mut self, path: &Path, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri(path), "version": version }, "contentChanges": [{ "text": text }] }),
        );
    }

    /// Takes every `publishDiagnostics` of one file that has arrived so far, oldest first, without
    /// waiting for more (use after a round trip that guarantees they were sent).
    pub fn drain_diagnostics(&mut self, path: &Path) -> Vec<Value> {
        while let Ok(message) = self.incoming.try_recv() {
            if let Some(answer) = self.answer_server_request(&message) {
                self.send(answer);
                continue;
            }
            self.unread.push_back(message);
        }
        let wanted = uri(path);
        let (taken, kept): (VecDeque<Value>, VecDeque<Value>) = std::mem::take(&mut self.unread)
            .into_iter()
            .partition(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == wanted);
        self.unread = kept;
        taken.into_iter().map(|message| message["params"].clone()).collect()
    }

    /// Lets any message still in flight arrive, then fails if the test left one unread.
    pub fn assert_all_read(&mut self) {
        std::thread::sleep(Duration::from_millis(200));
        self.receive_waiting();
        assert!(self.unread.is_empty(), "the test did not read these messages: {:#?}", self.unread);
    }

    /// Sends `exit` (with or without a `shutdown` before it) and returns how the process ended.
    pub fn exit(mut self) -> std::process::ExitStatus {
        self.assert_all_read();
        self.notify("exit", Value::Null);
        self.wait_for_end()
    }

    /// Waits for the server to end on its own, sending nothing, and returns how it ended.
    pub fn exited(mut self) -> std::process::ExitStatus {
        self.assert_all_read();
        self.wait_for_end()
    }

    /// How the server process ended, once it has (within the timeout).
    fn wait_for_end(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "weft lsp did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `shutdown` + `exit`, and the process must end with status 0.
    pub fn shutdown(mut self) {
        self.assert_all_read();
        let result = self.request("shutdown", Value::Null);
        assert!(result.is_null());
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "weft lsp exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "weft lsp did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(base), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, extra) => *base = extra,
    }
}

/// A text with a `$0` cursor marker: the text without it, and the LSP position of the marker
/// (UTF-16 columns).
pub fn cursor(marked: &str) -> (String, Value) {
    let offset = marked.find("$0").expect("a $0 marker");
    let text = marked.replacen("$0", "", 1);
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let column: usize = before[before.rfind('\n').map_or(0, |i| i + 1)..].encode_utf16().count();
    (text, json!({ "line": line, "character": column }))
}

/// A fresh folder under the system temp dir, removed when dropped.
pub struct TempProject {
    pub path: PathBuf,
}

impl TempProject {
    pub fn new(name: &str) -> TempProject {
        let path = std::env::temp_dir().join(format!(
            "weft-test-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempProject { path: weft::fs::absolute(&path) }
    }

    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempProject {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
