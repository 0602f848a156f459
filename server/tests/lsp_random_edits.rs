//! Random editing sessions against the real `weft lsp` over stdio, in each position encoding.
//!
//! A copy of `examples/` is the workspace. Round after round, one or two of its workflows, plans or
//! `weft.yaml` files are opened and edited with incremental `didChange`s drawn from YAML and JSON
//! tokens, ids, expressions, emoji, CJK, combining marks, CRLF, lone CR, NUL and control characters,
//! directives, long lines and deep nesting; between edits, every request the server advertises in
//! its `initialize` answer is sent at a random position (past the end of a line, past the last line,
//! inside a surrogate pair or a UTF-8 sequence included), and now and then canceled at once. The
//! test keeps its own copy of each text and applies the same edits.
//!
//! Invariants checked after every step:
//! - every request gets one response within [`DEADLINE`], never an internal error (-32603) and no
//!   error code but those its method may refuse with (rename: -32602, -32803; prepareRename: -32803;
//!   a canceled request: -32800);
//! - every range and position in a response or a `publishDiagnostics` lies inside the text it names
//!   (the version a publish names; another file's open text or its text on disk) and on character
//!   boundaries in the negotiated encoding, start not after end; the edits of a rename or a code
//!   action apply to the texts they name;
//! - a symbol's `selectionRange` lies inside its `range`, a link's `targetSelectionRange` inside its
//!   `targetRange`, folding ranges inside the text;
//! - a completion's edit is on one line and holds the cursor (as the server reads it: a column inside
//!   a character is that character's start, past the end of a line its end);
//! - publishes of a file never go back in version, and after each round the last is for the last
//!   version; each file's text sent again whole is diagnosed exactly as its edits were;
//! - the server's resident memory (`VmRSS`) stays under [`MAX_RSS_KB`].
//!
//! With the fixed seed the test runs about [`DEFAULT_SECONDS`] seconds in all, split between UTF-16
//! and UTF-8. `WEFT_FUZZ_SECONDS=600` runs longer (the total, split the same way) and
//! `WEFT_FUZZ_SEED=N` explores another sequence. A failure prints the seed, the encoding and a replay:
//! the failed step alone with the texts it met (the failing file cut down to the fewest lines that
//! still fail) when that fails the same way on a fresh server, or else every file opened and every
//! edit since, and the step that failed.

mod common;
mod lsp_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::lsp_client::{uri, LspClient, TempProject};
use common::random::Random;
use lsp_support::{lines, offset_of, position_of, range_is_inside, range_of, Columns};
use serde_json::{json, Value};

/// How long one request may take, however hostile the text.
const DEADLINE: Duration = Duration::from_secs(5);
/// The server's resident memory must stay below this (in kB, as `/proc/PID/status` counts it).
const MAX_RSS_KB: u64 = 300 * 1024;
/// The whole test's time in CI, both encodings together.
const DEFAULT_SECONDS: f64 = 60.0;
const DEFAULT_SEED: u64 = 0x00C0_FFEE_5EED_0011;
/// The deepest `{{{…` or `[{[{…` an edit types (edits pile up, so texts get deeper still).
const MAX_NESTING: usize = 60;
/// A text that grows past this is set back to its example (people edit files of this size).
const MAX_TEXT_BYTES: usize = 60_000;

#[test]
fn random_edits_and_requests_in_utf16() {
    Session::run(Columns::Utf16);
}

#[test]
fn random_edits_and_requests_in_utf8() {
    Session::run(Columns::Utf8);
}

/// A directive line with non-ASCII text before a syntax error: the error's range, in each encoding,
/// is exactly the `x` after the quoted scalar, not shifted by the directive's extra bytes into the emoji after it.
#[test]
fn a_syntax_error_after_a_directive_with_non_ascii_text_is_in_place() {
    let text = "%FOO é漢🦀 ß\n---\nworkflow_id: w\nname: \"🦀🦀\" x: 🦀\nstages: []\n";
    for columns in [Columns::Utf16, Columns::Utf8] {
        let project = TempProject::new(&format!("directive-{columns:?}"));
        let path = project.write("d.workflow.yaml", text);
        let mut client = LspClient::start_with(&project.path, encoding_capabilities(columns));
        client.registration();
        client.open(&path, text);
        let published = client.diagnostics(&path);
        let syntax: Vec<&Value> =
            published["diagnostics"].as_array().unwrap().iter().filter(|d| d["code"] == "syntax").collect();
        assert!(!syntax.is_empty(), "{published}");
        for diagnostic in &syntax {
            assert!(range_is_inside(text, &diagnostic["range"], columns), "{columns:?}: {diagnostic}");
        }
        let trailing = text.find(" x:").unwrap() + 1;
        assert_eq!(syntax[0]["range"], range_of(text, trailing, trailing + 1, columns), "{columns:?}: {published}");
        client.shutdown();
    }
}

fn encoding_capabilities(columns: Columns) -> Value {
    let name = match columns {
        Columns::Utf16 => "utf-16",
        Columns::Utf8 => "utf-8",
    };
    json!({ "general": { "positionEncodings": [name] } })
}

struct Settings {
    /// This encoding's share of the time.
    seconds: f64,
    seed: u64,
}

fn settings() -> Settings {
    let total = std::env::var("WEFT_FUZZ_SECONDS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(DEFAULT_SECONDS);
    let seed = std::env::var("WEFT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.strip_prefix("0x").map_or_else(|| s.parse().ok(), |hex| u64::from_str_radix(hex, 16).ok()))
        .unwrap_or(DEFAULT_SEED);
    Settings { seconds: total / 2.0, seed }
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies every file of `from` into `to`, skipping hidden folders (run histories).
fn copy_tree(from: &Path, to: &Path, editable: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') && entry.path().is_dir() {
            continue;
        }
        let target = to.join(&name);
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target, editable);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            let text = name.to_string_lossy().to_string();
            if text.ends_with(".yaml") || text.ends_with(".yml") || text.ends_with(".json") {
                editable.push(target);
            }
        }
    }
}

/// The open file and everything needed to check what the server says about it.
struct Document {
    uri: String,
    /// The file's name in the workspace, for the replay.
    name: String,
    original: String,
    text: String,
    version: i64,
    /// The text of every version sent since the file was opened, for the publishes naming them.
    texts: HashMap<i64, String>,
    /// The version of the last publish seen.
    published: i64,
    /// The diagnostics of the last publish, when it is for the current version.
    diagnostics: Option<Value>,
}

struct Session {
    client: LspClient,
    columns: Columns,
    random: Random,
    seed: u64,
    files: Vec<PathBuf>,
    /// The text of every editable example, pasted in pieces.
    pastes: Vec<String>,
    methods: Vec<&'static str>,
    /// The open files (one or two: a workflow and its `weft.yaml` make cross-file answers).
    documents: Vec<Document>,
    /// The open file the next step is about.
    current: usize,
    /// The files closed at the end of the last round, for publishes sent before the server learned
    /// of the close.
    closed: Vec<Document>,
    /// The open files' texts and edits since they were opened, and the step under way: what a
    /// failure prints.
    replay: Vec<String>,
    /// The step that failed, to try alone on a fresh server.
    failed: Option<Failed>,
    steps: usize,
    requests: usize,
    peak_rss_kb: u64,
    root: PathBuf,
    _project: Option<TempProject>,
}

/// A step that can be tried again alone: a request on the texts as they were, or a publish of a
/// version's text.
#[derive(Clone)]
enum Failed {
    Request { method: String, params: Value, cursor: usize },
    Publish { uri: String, version: i64 },
}

impl Session {
    fn run(columns: Columns) {
        let settings = settings();
        let project = TempProject::new(&format!("random-edits-{columns:?}"));
        let mut files = Vec::new();
        copy_tree(&repository().join("examples"), &project.path, &mut files);
        files.sort();
        let pastes = files.iter().map(|file| std::fs::read_to_string(file).unwrap()).collect();
        let mut client = LspClient::start_with(&project.path, encoding_capabilities(columns));
        client.registration();
        let expected = match columns {
            Columns::Utf16 => "utf-16",
            Columns::Utf8 => "utf-8",
        };
        let capabilities = client.initialize_result["capabilities"].clone();
        assert_eq!(capabilities["positionEncoding"], expected, "{capabilities}");
        let methods = advertised_methods(&capabilities);
        let mut session = Session {
            client,
            columns,
            random: Random(settings.seed ^ (columns == Columns::Utf8) as u64),
            seed: settings.seed,
            files,
            pastes,
            methods,
            documents: Vec::new(),
            current: 0,
            closed: Vec::new(),
            replay: Vec::new(),
            failed: None,
            steps: 0,
            requests: 0,
            peak_rss_kb: 0,
            root: project.path.clone(),
            _project: Some(project),
        };
        let started = Instant::now();
        let budget = Duration::from_secs_f64(settings.seconds);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(), String> {
            while started.elapsed() < budget {
                session.round(started + budget)?;
            }
            Ok(())
        }));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(message)) => Some(message),
            Err(panic) => Some(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic".into()),
            ),
        };
        if let Some(message) = failure {
            let replay = match session.minimal_replay() {
                Some(minimal) => format!("the same failure on a fresh server:\n{minimal}"),
                None => format!(
                    "(it does not fail alone on a fresh server: the whole sequence)\n{}",
                    session.replay.join("\n")
                ),
            };
            panic!(
                "{message}\n\nseed {:#x} ({columns:?}), after {} steps; rerun with WEFT_FUZZ_SEED={:#x}\nreplay: {replay}",
                session.seed, session.steps, session.seed,
            );
        }
        eprintln!(
            "{columns:?}: {} steps, {} requests in {:.1}s, peak VmRSS {} MB, seed {:#x}",
            session.steps,
            session.requests,
            started.elapsed().as_secs_f64(),
            session.peak_rss_kb / 1024,
            session.seed
        );
        // The publish that closing the last file sends, then nothing else is left unread.
        for _ in 0..2 {
            session.client.request("workspace/symbol", json!({ "query": "\u{1}none" }));
        }
        session.client.take_unread();
        session.client.shutdown();
    }

    /// Opens one or two files, edits them and asks about them until `until` or the round's length,
    /// then closes them.
    fn round(&mut self, until: Instant) -> Result<(), String> {
        self.replay.clear();
        let count = if self.random.percent(70) { 1 } else { 2 };
        while self.documents.len() < count {
            let path = self.random.pick(&self.files).clone();
            let uri = uri(&path);
            // Not a file open already, nor one just closed (its last publishes may be on their way).
            let known = self.documents.iter().chain(&self.closed).any(|document| document.uri == uri);
            if known {
                continue;
            }
            let name = path.strip_prefix(&self.root).unwrap_or(&path).display().to_string();
            let on_disk = std::fs::read_to_string(&path).unwrap();
            // Some files come with Windows line ends, some start empty.
            let (original, how) = match self.random.below(100) {
                0..=9 => (on_disk.replace('\n', "\r\n"), "the example's text with CRLF line ends"),
                10..=14 => (String::new(), "an empty text"),
                _ => (on_disk, "the example's text"),
            };
            self.replay.push(format!("open {name} with {how}"));
            self.client.open(&path, &original);
            self.documents.push(Document {
                uri,
                name,
                text: original.clone(),
                texts: HashMap::from([(1, original.clone())]),
                original,
                version: 1,
                published: 0,
                diagnostics: None,
            });
        }
        let length = 20 + self.random.below(120);
        for _ in 0..length {
            if Instant::now() >= until {
                break;
            }
            self.steps += 1;
            self.current = self.random.below(self.documents.len());
            if self.random.percent(65) {
                self.edit()?;
            } else {
                self.request()?;
            }
            self.check_messages()?;
            self.check_memory()?;
        }
        // The server's texts are the test's: each sent again whole is diagnosed as its edits were.
        self.settle()?;
        let incremental: Vec<Option<Value>> = self.documents.iter().map(|d| d.diagnostics.clone()).collect();
        self.replay.push("each file's text sent again whole".into());
        for document in &mut self.documents {
            document.version += 1;
            document.texts.insert(document.version, document.text.clone());
            document.diagnostics = None;
            self.client.notify(
                "textDocument/didChange",
                json!({ "textDocument": { "uri": document.uri, "version": document.version },
                        "contentChanges": [{ "text": document.text }] }),
            );
        }
        self.settle()?;
        for (document, incremental) in self.documents.iter().zip(incremental) {
            if document.diagnostics != incremental {
                return Err(format!(
                    "{} sent whole is diagnosed {}, after its edits {}",
                    document.name,
                    compact(&json!(document.diagnostics)),
                    compact(&json!(incremental))
                ));
            }
        }
        self.closed.clear();
        for document in std::mem::take(&mut self.documents) {
            self.client.notify("textDocument/didClose", json!({ "textDocument": { "uri": document.uri } }));
            self.closed.push(document);
        }
        Ok(())
    }

    /// Waits until everything sent has been handled and published (two round trips: the server
    /// publishes at the end of each batch of messages), and checks that each open file's last
    /// publish is for its last version.
    fn settle(&mut self) -> Result<(), String> {
        for _ in 0..2 {
            self.call("workspace/symbol", json!({ "query": "\u{1}none" }))?;
        }
        self.check_messages()?;
        for document in &self.documents {
            if document.published != document.version {
                return Err(format!(
                    "the last publish of {} is for version {}, not {}",
                    document.name, document.published, document.version
                ));
            }
        }
        Ok(())
    }

    /// Tries the failed step alone: a fresh server, the open files opened with the texts they had,
    /// the request sent again (or the publish checked again). Returns the replay when it fails the
    /// same way, that is when the texts alone explain the failure.
    fn minimal_replay(&self) -> Option<String> {
        let failed = self.failed.clone()?;
        let documents: Vec<Document> = self
            .documents
            .iter()
            .map(|document| {
                let text = match &failed {
                    Failed::Publish { uri, version } if *uri == document.uri => document.texts.get(version)?.clone(),
                    _ => document.text.clone(),
                };
                Some(Document {
                    uri: document.uri.clone(),
                    name: document.name.clone(),
                    original: text.clone(),
                    texts: HashMap::from([(1, text.clone())]),
                    text,
                    version: 1,
                    published: 0,
                    diagnostics: None,
                })
            })
            .collect::<Option<_>>()?;
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut client = LspClient::start_with(&self.root, encoding_capabilities(self.columns));
            client.registration();
            for document in &documents {
                client.open(Path::new(document.uri.strip_prefix("file://").unwrap()), &document.text);
            }
            let mut fresh = Session {
                client,
                columns: self.columns,
                random: Random(0),
                seed: self.seed,
                files: Vec::new(),
                pastes: Vec::new(),
                methods: Vec::new(),
                documents,
                current: 0,
                closed: Vec::new(),
                replay: Vec::new(),
                failed: None,
                steps: 0,
                requests: 0,
                peak_rss_kb: 0,
                root: self.root.clone(),
                _project: None,
            };
            let target_uri = match &failed {
                Failed::Request { params, .. } => params["textDocument"]["uri"].as_str().unwrap_or_default().to_owned(),
                Failed::Publish { uri, .. } => uri.clone(),
            };
            fresh.current = fresh.documents.iter().position(|d| d.uri == target_uri).unwrap_or(0);
            let error = fresh.try_alone(&failed).err()?;
            let (failed, error) = fresh.shrink(failed, error);
            let mut lines: Vec<String> = fresh
                .documents
                .iter()
                .map(|document| format!("open {} with the text {}", document.name, json!(document.text)))
                .collect();
            match &failed {
                Failed::Request { method, params, .. } => lines.push(format!("request {method} {params}")),
                Failed::Publish { .. } => lines.push("(the diagnostics published for it)".into()),
            }
            fresh.client.take_unread();
            Some(format!("{}\n→ {error}", lines.join("\n")))
        }));
        attempt.ok().flatten()
    }

    /// Tries a failed step on this session's texts as they are.
    fn try_alone(&mut self, failed: &Failed) -> Result<(), String> {
        match failed {
            Failed::Request { method, params, cursor } => {
                let outcome =
                    self.call(method, params.clone()).and_then(|result| self.check_result(method, &result, *cursor));
                self.client.take_unread();
                outcome
            }
            Failed::Publish { .. } => {
                for _ in 0..2 {
                    self.call("workspace/symbol", json!({ "query": "\u{1}none" }))?;
                }
                self.check_messages()
            }
        }
    }

    /// Removes lines of the failing file (never the cursor's) while the step still fails the same
    /// way, halving the pieces tried, within a few hundred tries and a minute. Returns the step as it reads the
    /// smaller text, and its error.
    fn shrink(&mut self, failed: Failed, error: String) -> (Failed, String) {
        let kind = |message: &str| {
            message.split(['`', '{', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']).next().unwrap_or("").to_owned()
        };
        let wanted = kind(&error);
        let text = self.documents[self.current].text.clone();
        let lines = lines_with_ends(&text);
        // A request is moved with its cursor's line; one at a range, or past the last line, is kept.
        let cursor_line = match &failed {
            Failed::Request { params, .. } if params.get("range").is_some() => return (failed, error),
            Failed::Request { params, .. } => match params["position"]["line"].as_u64() {
                Some(line) if line as usize >= lines.len() => return (failed, error),
                line => line.map(|line| line as usize),
            },
            Failed::Publish { .. } => None,
        };
        let step_at = |kept: &[bool]| -> (String, Failed) {
            let candidate: String = lines.iter().zip(kept).filter(|(_, keep)| **keep).map(|(line, _)| *line).collect();
            let step = match (&failed, cursor_line) {
                (Failed::Request { method, params, cursor }, Some(line)) => {
                    let old_start: usize = lines[..line].iter().map(|l| l.len()).sum();
                    let new_start: usize =
                        lines[..line].iter().zip(kept).filter(|(_, keep)| **keep).map(|(l, _)| l.len()).sum();
                    let mut params = params.clone();
                    params["position"]["line"] = json!(kept[..line].iter().filter(|keep| **keep).count());
                    Failed::Request { method: method.clone(), params, cursor: new_start + (cursor - old_start) }
                }
                (other, _) => other.clone(),
            };
            (candidate, step)
        };
        let mut kept = vec![true; lines.len()];
        let mut best = (failed.clone(), error);
        let mut chunk = (lines.len() / 2).max(1);
        let mut tries = 0;
        // A step that times out takes the whole deadline per try.
        let until = Instant::now() + Duration::from_secs(60);
        let more = |tries: usize| tries < 300 && Instant::now() < until;
        while more(tries) {
            let mut progressed = false;
            let mut start = 0;
            while start < lines.len() && more(tries) {
                let mut candidate = kept.clone();
                let mut removed = false;
                for (index, keep) in candidate.iter_mut().enumerate().skip(start).take(chunk) {
                    if *keep && Some(index) != cursor_line {
                        *keep = false;
                        removed = true;
                    }
                }
                start += chunk;
                if !removed {
                    continue;
                }
                tries += 1;
                let (text, step) = step_at(&candidate);
                let document = &mut self.documents[self.current];
                document.version += 1;
                document.text = text.clone();
                document.texts.insert(document.version, text.clone());
                let changed = json!({ "textDocument": { "uri": document.uri, "version": document.version },
                                      "contentChanges": [{ "text": text }] });
                self.client.notify("textDocument/didChange", changed);
                let step = match step {
                    Failed::Publish { uri, .. } => {
                        Failed::Publish { uri, version: self.documents[self.current].version }
                    }
                    request => request,
                };
                if let Err(message) = self.try_alone(&step) {
                    if kind(&message) == wanted {
                        kept = candidate;
                        best = (step, message);
                        progressed = true;
                    }
                }
            }
            if !progressed {
                if chunk == 1 {
                    break;
                }
                chunk = (chunk / 2).max(1);
            }
        }
        // The session's text is the smallest that failed.
        let (text, _) = step_at(&kept);
        self.documents[self.current].text = text;
        best
    }

    fn check_memory(&mut self) -> Result<(), String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.client.pid())).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        self.peak_rss_kb = self.peak_rss_kb.max(rss);
        if rss > MAX_RSS_KB {
            return Err(format!("the server's resident memory is {} MB", rss / 1024));
        }
        Ok(())
    }

    /// One `didChange` with one to three changes, applied to the test's text the same way.
    fn edit(&mut self) -> Result<(), String> {
        let count = if self.random.percent(85) { 1 } else { 2 + self.random.below(2) };
        let mut changes = Vec::new();
        let mut shown = Vec::new();
        for _ in 0..count {
            let text = &self.documents[self.current].text;
            let (start, end, new_text) = if text.len() > MAX_TEXT_BYTES {
                let original = self.documents[self.current].original.clone();
                (0, text.len(), original)
            } else {
                random_edit(&mut self.random, text, &self.pastes)
            };
            let document = &mut self.documents[self.current];
            let range = range_of(&document.text, start, end, self.columns);
            document.text.replace_range(start..end, &new_text);
            shown.push(format!("{} {}", compact(&range), json!(new_text)));
            changes.push(json!({ "range": range, "text": new_text }));
        }
        let document = &mut self.documents[self.current];
        document.version += 1;
        document.texts.insert(document.version, document.text.clone());
        document.diagnostics = None;
        self.replay.push(format!("edit {} v{}: {}", document.name, document.version, shown.join(" then ")));
        self.client.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": document.uri, "version": document.version }, "contentChanges": changes }),
        );
        Ok(())
    }

    /// Sends a request and returns its result; an error response or no response in time fails.
    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        Ok(self.call_or_cancel(method, params, false)?.unwrap_or(Value::Null))
    }

    /// As [`call`], and when `cancel` the request is canceled as soon as it is sent: then its one
    /// response may be RequestCancelled (-32800), and the result is `None`.
    fn call_or_cancel(&mut self, method: &str, params: Value, cancel: bool) -> Result<Option<Value>, String> {
        self.requests += 1;
        let id = self.client.send_request(method, params);
        if cancel {
            self.client.notify("$/cancelRequest", json!({ "id": id }));
        }
        let response = self.client.response_within(id, DEADLINE).map_err(|reason| format!("{method}: {reason}"))?;
        if let Some(error) = response.get("error") {
            let code = error["code"].as_i64().unwrap_or(0);
            let allowed: &[i64] = match method {
                _ if cancel && code == -32800 => return Ok(None),
                "textDocument/prepareRename" => &[-32803],
                "textDocument/rename" => &[-32602, -32803],
                _ => &[],
            };
            if !allowed.contains(&code) || error["message"].as_str().is_none_or(str::is_empty) {
                return Err(format!("{method} answered {error}"));
            }
            return Ok(Some(Value::Null));
        }
        Ok(Some(response.get("result").cloned().unwrap_or(Value::Null)))
    }

    fn request(&mut self) -> Result<(), String> {
        let method = *self.random.pick(&self.methods);
        let document = &self.documents[self.current];
        let (position, cursor) = random_position(&mut self.random, &document.text, self.columns);
        let text_document = json!({ "uri": document.uri });
        let at = json!({ "textDocument": text_document, "position": position });
        let range = {
            let (other, _) = random_position(&mut self.random, &document.text, self.columns);
            let key = |p: &Value| (p["line"].as_u64().unwrap(), p["character"].as_u64().unwrap());
            if key(&other) < key(&position) {
                json!({ "start": other, "end": position })
            } else {
                json!({ "start": position, "end": other })
            }
        };
        let params = match method {
            "textDocument/completion" => {
                let mut params = at.clone();
                params["context"] = json!({ "triggerKind": 1 });
                params
            }
            "textDocument/references" => {
                let mut params = at.clone();
                params["context"] = json!({ "includeDeclaration": self.random.percent(50) });
                params
            }
            "textDocument/rename" => {
                let mut params = at.clone();
                let names = ["renamed", "build", "x.y", "", "has space", "ünï", "a-b_c"];
                params["newName"] = json!(self.random.pick(&names));
                params
            }
            "workspace/symbol" => {
                let queries = ["", "b", "id", "🦀", "release", "a.b"];
                json!({ "query": self.random.pick(&queries) })
            }
            "textDocument/inlayHint" => json!({ "textDocument": text_document, "range": range }),
            "textDocument/codeAction" => {
                // As an editor does: the diagnostics it shows that touch the range.
                let diagnostics = document.diagnostics.clone().unwrap_or(json!([]));
                json!({ "textDocument": text_document, "range": range, "context": { "diagnostics": diagnostics } })
            }
            "textDocument/documentSymbol"
            | "textDocument/foldingRange"
            | "textDocument/documentLink"
            | "textDocument/codeLens" => json!({ "textDocument": text_document }),
            _ => at.clone(),
        };
        let cancel = self.random.percent(5);
        let canceled = if cancel { " (canceled at once)" } else { "" };
        self.replay.push(format!("request {method}{canceled} in {} {}", document.name, compact(&params)));
        self.failed = Some(Failed::Request { method: method.to_owned(), params: params.clone(), cursor });
        if let Some(result) = self.call_or_cancel(method, params, cancel)? {
            self.check_result(method, &result, cursor)?;
        }
        self.failed = None;
        self.replay.pop();
        Ok(())
    }

    /// The text a URI names: an open file's current text, or a file on disk.
    fn text_of(&self, uri: &str) -> Option<String> {
        if let Some(document) = self.documents.iter().find(|document| document.uri == uri) {
            return Some(document.text.clone());
        }
        std::fs::read_to_string(uri.strip_prefix("file://")?).ok()
    }

    fn check_result(&mut self, method: &str, result: &Value, cursor: usize) -> Result<(), String> {
        let document = &self.documents[self.current];
        let own_uri = document.uri.clone();
        let text = document.text.clone();
        let columns = self.columns;
        // Every range and position, in the file it belongs to.
        let mut found = Vec::new();
        collect_ranges(result, &own_uri, &mut found);
        for (uri, field, range) in &found {
            let Some(file_text) = self.text_of(uri) else { return Err(format!("{method}: {uri} does not exist")) };
            if !range_is_inside(&file_text, range, columns) {
                return Err(format!(
                    "{method}: {field} {} is not inside {uri} on character boundaries",
                    compact(range)
                ));
            }
        }
        let outside = |outer: &Value, inner: &Value| {
            !(starts_before(&outer["start"], &inner["start"]) && starts_before(&inner["end"], &outer["end"]))
        };
        match method {
            "textDocument/completion" => {
                let cursor_position = position_of(&text, cursor, columns);
                let items = match result {
                    Value::Array(items) => items.clone(),
                    other => other["items"].as_array().cloned().unwrap_or_default(),
                };
                for item in items {
                    let edit = &item["textEdit"];
                    for range in [&edit["range"], &edit["insert"], &edit["replace"]] {
                        if range.is_null() {
                            continue;
                        }
                        let one_line = range["start"]["line"] == range["end"]["line"];
                        let around = starts_before(&range["start"], &cursor_position)
                            && starts_before(&cursor_position, &range["end"]);
                        if !one_line || !around {
                            return Err(format!(
                                "completion `{}` replaces {} but the cursor is at {}",
                                item["label"],
                                compact(range),
                                compact(&cursor_position)
                            ));
                        }
                    }
                }
            }
            "textDocument/documentSymbol" => {
                let mut stack: Vec<&Value> = result.as_array().into_iter().flatten().collect();
                while let Some(symbol) = stack.pop() {
                    if symbol.get("selectionRange").is_some() && outside(&symbol["range"], &symbol["selectionRange"]) {
                        return Err(format!("symbol {}: selectionRange outside range", compact(symbol)));
                    }
                    stack.extend(symbol["children"].as_array().into_iter().flatten());
                }
            }
            "textDocument/definition" => {
                for link in result.as_array().into_iter().flatten() {
                    if link.get("targetRange").is_some() && outside(&link["targetRange"], &link["targetSelectionRange"])
                    {
                        return Err(format!("link {}: targetSelectionRange outside targetRange", compact(link)));
                    }
                }
            }
            "textDocument/foldingRange" => {
                let count = lines(&text).len() as u64;
                for fold in result.as_array().into_iter().flatten() {
                    let (start, end) = (fold["startLine"].as_u64(), fold["endLine"].as_u64());
                    if !matches!((start, end), (Some(s), Some(e)) if s <= e && e < count) {
                        return Err(format!("folding range {} in a text of {count} lines", compact(fold)));
                    }
                }
            }
            "textDocument/codeAction" => {
                for action in result.as_array().into_iter().flatten() {
                    self.check_workspace_edit(&action["edit"])?;
                }
            }
            "textDocument/rename" => self.check_workspace_edit(result)?,
            _ => {}
        }
        Ok(())
    }

    /// The edits of a workspace edit apply to the texts they name: inside them, not overlapping.
    fn check_workspace_edit(&self, edit: &Value) -> Result<(), String> {
        for (uri, edits) in edit["changes"].as_object().into_iter().flatten() {
            let Some(text) = self.text_of(uri) else { return Err(format!("an edit of {uri}, which does not exist")) };
            let edits = edits.as_array().cloned().unwrap_or_default();
            let columns = self.columns;
            let applied = std::panic::catch_unwind(|| lsp_support::apply_edits(&text, &edits, columns));
            if applied.is_err() {
                return Err(format!("the edits {} do not apply to {uri}", compact(&json!(edits))));
            }
        }
        Ok(())
    }

    /// Reads the notifications that arrived: publishes are checked against the text of the version
    /// they name; nothing else is expected.
    fn check_messages(&mut self) -> Result<(), String> {
        for message in self.client.take_unread() {
            if message["method"] != "textDocument/publishDiagnostics" {
                if message.get("method").is_some() {
                    continue;
                }
                return Err(format!("an unexpected message: {message}"));
            }
            let params = &message["params"];
            let uri = params["uri"].as_str().unwrap_or_default().to_owned();
            // The empty publish that follows closing a file: nothing to check.
            if params["version"].is_null() && params["diagnostics"] == json!([]) {
                continue;
            }
            // A file closed at the end of the last round (not open again in this one) may be
            // published once more before the server learns of the close, for its last version:
            // closing a `weft.yaml` republishes the workflows that use it.
            let version = params["version"].as_i64();
            let late = self.closed.iter().position(|document| document.uri == uri && version == Some(document.version));
            let open = match late {
                Some(index) => Some(&mut self.closed[index]),
                None => self.documents.iter_mut().find(|document| document.uri == uri),
            };
            let text = if let Some(document) = open {
                let Some(version) = params["version"].as_i64() else {
                    return Err(format!("a publish for an open file without a version: {params}"));
                };
                if version < document.published {
                    return Err(format!("version {version} published after {}", document.published));
                }
                document.published = version;
                if version == document.version {
                    document.diagnostics = Some(params["diagnostics"].clone());
                }
                match document.texts.get(&version) {
                    Some(text) => text.clone(),
                    None => return Err(format!("a publish for version {version}, which was never sent")),
                }
            } else {
                match std::fs::read_to_string(uri.strip_prefix("file://").unwrap_or_default()) {
                    Ok(text) => text,
                    Err(_) if params["diagnostics"] == json!([]) => continue,
                    Err(_) => return Err(format!("diagnostics for {uri}, which is neither open nor on disk")),
                }
            };
            if let Some(version) = params["version"].as_i64() {
                self.failed = Some(Failed::Publish { uri: uri.clone(), version });
            }
            let mut found = Vec::new();
            collect_ranges(&params["diagnostics"], &uri, &mut found);
            for (range_uri, field, range) in found {
                if range_uri != uri {
                    continue;
                }
                if !range_is_inside(&text, &range, self.columns) {
                    return Err(format!(
                        "publishDiagnostics v{}: {field} {} is not inside the text on character boundaries",
                        params["version"],
                        compact(&range)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The requests a server advertises in its capabilities (commands excepted: they start runs).
fn advertised_methods(capabilities: &Value) -> Vec<&'static str> {
    let table: [(&str, &[&'static str]); 12] = [
        ("completionProvider", &["textDocument/completion"]),
        ("hoverProvider", &["textDocument/hover"]),
        ("definitionProvider", &["textDocument/definition"]),
        ("referencesProvider", &["textDocument/references"]),
        ("renameProvider", &["textDocument/rename"]),
        ("documentSymbolProvider", &["textDocument/documentSymbol"]),
        ("workspaceSymbolProvider", &["workspace/symbol"]),
        ("foldingRangeProvider", &["textDocument/foldingRange"]),
        ("inlayHintProvider", &["textDocument/inlayHint"]),
        ("documentLinkProvider", &["textDocument/documentLink"]),
        ("codeActionProvider", &["textDocument/codeAction"]),
        ("codeLensProvider", &["textDocument/codeLens"]),
    ];
    let mut methods = Vec::new();
    for (capability, requests) in table {
        let value = &capabilities[capability];
        if !value.is_null() && *value != json!(false) {
            methods.extend_from_slice(requests);
        }
    }
    if capabilities["renameProvider"]["prepareProvider"] == json!(true) {
        methods.push("textDocument/prepareRename");
    }
    let known = [
        "positionEncoding",
        "textDocumentSync",
        "executeCommandProvider",
        "workspace",
        "completionProvider",
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "renameProvider",
        "documentSymbolProvider",
        "workspaceSymbolProvider",
        "foldingRangeProvider",
        "inlayHintProvider",
        "documentLinkProvider",
        "codeActionProvider",
        "codeLensProvider",
    ];
    for capability in capabilities.as_object().unwrap().keys() {
        assert!(known.contains(&capability.as_str()), "this test does not exercise `{capability}` yet");
    }
    methods
}

/// `a` is at or before `b` (LSP positions).
fn starts_before(a: &Value, b: &Value) -> bool {
    let key = |p: &Value| (p["line"].as_u64().unwrap_or(u64::MAX), p["character"].as_u64().unwrap_or(u64::MAX));
    key(a) <= key(b)
}

/// Every range (and position, as an empty range) in a JSON value, with the URI of the file it is
/// in: the nearest `uri`/`targetUri` above it, the key of a `changes` map, or `own_uri`.
fn collect_ranges(value: &Value, own_uri: &str, found: &mut Vec<(String, String, Value)>) {
    match value {
        Value::Array(items) => {
            for item in items {
                collect_ranges(item, own_uri, found);
            }
        }
        Value::Object(object) => {
            let uri = object
                .get("uri")
                .or_else(|| object.get("targetUri"))
                .and_then(Value::as_str)
                .unwrap_or(own_uri)
                .to_owned();
            for (key, inner) in object {
                match key.as_str() {
                    "range" | "selectionRange" | "targetRange" | "targetSelectionRange" | "insert" | "replace"
                        if inner.get("start").is_some() =>
                    {
                        found.push((uri.clone(), key.clone(), inner.clone()));
                    }
                    "originSelectionRange" => found.push((own_uri.to_owned(), key.clone(), inner.clone())),
                    "position" if inner.get("line").is_some() => {
                        found.push((uri.clone(), key.clone(), json!({ "start": inner, "end": inner })));
                    }
                    "changes" => {
                        for (changed, edits) in inner.as_object().into_iter().flatten() {
                            collect_ranges(edits, changed, found);
                        }
                    }
                    _ => collect_ranges(inner, &uri, found),
                }
            }
        }
        _ => {}
    }
}

fn compact(value: &Value) -> String {
    let mut shown = value.to_string();
    if shown.len() > 400 {
        let cut = (0..=400).rev().find(|&i| shown.is_char_boundary(i)).unwrap();
        shown.truncate(cut);
        shown.push('…');
    }
    shown
}

/// A random position to ask at, and the byte offset the server reads it as (a column inside a
/// character is that character's start; past the end of a line, its end; past the last line, the
/// end of the text).
fn random_position(random: &mut Random, text: &str, columns: Columns) -> (Value, usize) {
    let all = lines(text);
    let line = if random.percent(3) { all.len() + random.below(3) } else { random.below(all.len()) };
    let Some(content) = all.get(line) else {
        return (json!({ "line": line, "character": random.below(5) }), text.len());
    };
    let line_start = line_start_offset(text, line);
    let width = |c: char| match columns {
        Columns::Utf16 => c.len_utf16(),
        Columns::Utf8 => c.len_utf8(),
    };
    let total: usize = content.chars().map(width).sum();
    let wide: Vec<(usize, usize, usize)> = {
        let mut column = 0;
        let mut out = Vec::new();
        for (at, c) in content.char_indices() {
            if width(c) > 1 {
                out.push((at, column, width(c)));
            }
            column += width(c);
        }
        out
    };
    let choice = random.below(100);
    if choice < 25 {
        // In or next to a word that completion, hover and rename care about.
        let needles =
            ["steps.", ".status", "status ==", "outputs.", "env.", "stage.", "depends_on", "fallback", "id:", "'"];
        let needle = *random.pick(&needles);
        let found: Vec<usize> = text.match_indices(needle).map(|(at, _)| at).collect();
        if !found.is_empty() {
            let at = *random.pick(&found) + random.below(needle.len() + 1);
            let at = (0..=at.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap();
            return (position_of(text, at, columns), at);
        }
    }
    if choice < 35 {
        // Past the end of the line.
        return (json!({ "line": line, "character": total + 1 + random.below(40) }), line_start + content.len());
    }
    if choice < 50 && !wide.is_empty() {
        // Inside a surrogate pair or a UTF-8 sequence.
        let &(at, column, units) = random.pick(&wide);
        return (json!({ "line": line, "character": column + 1 + random.below(units - 1) }), line_start + at);
    }
    let boundaries: Vec<usize> = content.char_indices().map(|(at, _)| at).chain([content.len()]).collect();
    let at = *random.pick(&boundaries);
    (position_of(text, line_start + at, columns), line_start + at)
}

/// The lines of a text with their terminators (`\n`, `\r\n` or a lone `\r`), which join back to it.
fn lines_with_ends(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for index in 0..bytes.len() {
        let ends = bytes[index] == b'\n' || (bytes[index] == b'\r' && bytes.get(index + 1) != Some(&b'\n'));
        if ends {
            out.push(&text[start..=index]);
            start = index + 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn line_start_offset(text: &str, line: usize) -> usize {
    offset_of(text, &json!({ "line": line, "character": 0 }), Columns::Utf8)
}

/// True when an edit may start or end at `at`: a character boundary, and not between the `\r` and
/// the `\n` of a CRLF (no LSP position names that place).
fn editable_boundary(text: &str, at: usize) -> bool {
    text.is_char_boundary(at) && !(text[..at].ends_with('\r') && text[at..].starts_with('\n'))
}

fn random_boundary(random: &mut Random, text: &str) -> usize {
    loop {
        let at = random.below(text.len() + 1);
        if editable_boundary(text, at) {
            return at;
        }
    }
}

/// The boundary at or after `at`.
fn next_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !editable_boundary(text, at) {
        at += 1;
    }
    at
}

const TOKENS: &[&str] = &[
    "{", "}", "[", "]", "\"", "'", ":", ": ", ",", ", ", "- ", "-", "#", " # note", "&a ", "*a", "<<: *a", "!!str ",
    "? ", "|", ">-", "\\", "\\u00e9", "\\\"", "---\n", "...\n", "\n", "\r\n", "\r", "\t", " ", "  ", "\0", "\u{1}",
    "\u{7}", "\u{1b}", "\u{7f}", "\u{85}", "\u{a0}", "\u{2028}", "\u{feff}", "null", "true", "1e3", "0x1F", "~",
];
const WORDS: &[&str] = &[
    "id: ",
    "depends_on: [",
    "depends_on: []",
    "fallback: ",
    "script: ",
    "condition: \"",
    "skip_if: ",
    "when: ",
    "steps.",
    ".status",
    ".outputs.",
    " == 'succeeded'",
    " != 'failed' && ",
    " in ['failed', '",
    "env.",
    "inputs.",
    "stage.",
    "\"id\": \"",
    "\"depends_on\": [\"",
    "\"steps\": [",
    "stages:\n  - id: x\n    script: ",
    "plugins:\n  p:\n    command: ",
    "hooks:\n  - on: ",
    "before_stage_execute",
    "build",
    "test",
    "publish",
    "workflow_id: ",
    "plan_id: ",
    "on_failure: ",
    "retries: ",
    "timeout_sec: ",
    "with:\n  ",
];
const UNICODE: &[&str] = &[
    "🦀",
    "👩‍💻",
    "🏳️‍🌈",
    "漢字",
    "中文",
    "é",
    "e\u{301}",
    "a\u{308}\u{301}",
    "\u{200d}",
    "𝕏",
    "ñ",
    "ß",
    "Ω",
    "\u{10ffff}",
    "\u{fffd}",
];

/// One random change as (start, end, new text), at editable boundaries of `text`.
fn random_edit(random: &mut Random, text: &str, pastes: &[String]) -> (usize, usize, String) {
    let at = random_boundary(random, text);
    let insert = |piece: String| (at, at, piece);
    match random.below(100) {
        0..=29 => insert((*random.pick(TOKENS)).to_owned()),
        30..=41 => insert((*random.pick(WORDS)).to_owned()),
        42..=51 => insert((*random.pick(UNICODE)).to_owned()),
        52..=53 => {
            // A directive line, which saphyr counts partly in bytes.
            let start = line_start_of(text, at);
            let directive = *random.pick(&["%FOO é🦀 漢\n", "%YAML 1.2 # é\n", "%TAG !é! tag:x:\n", "%🦀\n"]);
            (start, start, directive.to_owned())
        }
        54..=56 => {
            // A long line.
            let length = 500 + random.below(6_000);
            let unit = *random.pick(&["a", "é", "🦀", "ab ", "[a, ", "{a: "]);
            insert(unit.repeat(length / unit.len() + 1))
        }
        57..=59 => {
            // Deep nesting, as typed or pasted.
            let depth = 1 + random.below(MAX_NESTING);
            let unit = *random.pick(&["{", "[", "[{", "{\"a\": [", "- ", "a:\n  "]);
            let tail = *random.pick(&["", "\"", "x", "}", "]"]);
            // At the start of the text it makes a JSON text, which is read as if its brackets were
            // closed: the whole nest becomes a tree.
            let place = match random.below(3) {
                0 => 0,
                1 => line_start_of(text, at),
                _ => at,
            };
            (place, place, format!("{}{tail}", unit.repeat(depth)))
        }
        60..=79 => {
            // Delete a few characters (a backspace, a selection).
            let end = next_boundary(
                text,
                text[at..].char_indices().nth(1 + random.below(4)).map_or(text.len(), |(i, _)| at + i),
            );
            (at, end, String::new())
        }
        80..=86 => {
            // Delete a line or a larger span.
            let start = line_start_of(text, at);
            let end = next_boundary(text, text[at..].find('\n').map_or(text.len(), |i| at + i + 1));
            let end =
                if random.percent(30) { next_boundary(text, (end + random.below(400)).min(text.len())) } else { end };
            (start, end, String::new())
        }
        87..=91 => {
            // Duplicate a line.
            let start = line_start_of(text, at);
            let end = next_boundary(text, text[at..].find('\n').map_or(text.len(), |i| at + i + 1));
            (start, start, text[start..end].to_owned())
        }
        92..=95 => {
            // Replace a span with a token.
            let end = next_boundary(text, (at + random.below(30)).min(text.len()));
            (at, end, (*random.pick(TOKENS)).to_owned())
        }
        _ => {
            // Paste part of another example at the start of a line.
            let other = random.pick(pastes);
            let from = random.below(other.len() + 1);
            let from = (0..=from).rev().find(|&i| other.is_char_boundary(i)).unwrap();
            let to = (from + random.below(1_500)).min(other.len());
            let to = (0..=to).rev().find(|&i| other.is_char_boundary(i) && i >= from).unwrap_or(from);
            let start = line_start_of(text, at);
            (start, start, other[from..to].to_owned())
        }
    }
}

/// The start of the line holding `at` (after `\n` or a lone `\r`).
fn line_start_of(text: &str, at: usize) -> usize {
    let start = text[..at].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    next_boundary(text, start)
}
