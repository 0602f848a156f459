//! Failure fingerprints (SPEC §7): a failed attempt's subject, exit class and error text,
//! normalised and hashed, so that the same failure seen again is counted rather than filed twice.
//!
//! The module is pure: no I/O, no clock, no allocation beyond the few kilobytes it returns. The
//! normaliser is a hand-written scanner, linear in its (capped) input, so a megabyte of stderr
//! costs what its last few kilobytes cost.
//!
//! # What the normaliser keeps and what it strips
//!
//! The rules follow the parameterisation Sentry applies to event messages (emails, URLs, IPs,
//! UUIDs, hex ids, dates, durations, numbers), adapted to what a step's stderr looks like:
//!
//! - **Only the lines that matter.** The last [`TAIL_BYTES`] of the text and, of those, the last
//!   [`TAIL_LINES`] non-empty lines. A line cut by the byte cap is dropped, so a line is
//!   never read half. Of a Python traceback, the frames (file name and function, not line
//!   numbers; no source lines) and the final exception line. Otherwise the last
//!   [`MAX_ERROR_LINES`] distinct lines that look like errors (with the message line that follows a
//!   Rust `panicked at …:` line), or the last [`FALLBACK_LINES`] lines when none does. Compiler
//!   snippets, `-->` locations, `note:`/`help:`/`warning:` lines and summaries such as
//!   `error: could not compile` are noise: the headers (`error[E0308]: mismatched types`) carry the
//!   cause, and warning counts change with unrelated edits.
//! - **Numbers** become `<n>`, decimals and versions included (`1.23`, `3.11.4`), and a quantity
//!   with its unit becomes one placeholder (`1.23s`, `300ms`, `2m30s` → `<duration>`; `512kB`,
//!   `1.5GiB` → `<size>`): line and column numbers, PIDs, counts, durations and sizes differ
//!   between runs of the same failure. Digits inside an identifier are kept (`E0308`, `python3`,
//!   `TS2345`): there they name something; only a segment of digits alone after `_` is a number
//!   (`job_1234` → `job_<n>`). Numbers right
//!   after a word that announces a code (`errno`, `error`, `code`, `status`, `exit`, `signal`,
//!   `http`, `curl`, `rc`, separated by spaces or `:=#([-`) are kept too: `[Errno 13]` vs
//!   `[Errno 28]`, `curl: (6)` vs `curl: (7)`, `HTTP 404` vs `HTTP 503` are different failures, and
//!   in free text the code is often the only thing that names the error (Sentry can replace them
//!   because it groups by exception type and stack first).
//! - **Ids**: UUIDs → `<uuid>`; `0x…` and hex runs (8+ characters with a digit and a letter, or a
//!   7-character lowercase git short SHA) → `<hex>`: object addresses, commits, container ids.
//! - **Addresses**: IPv4 and IPv6 → `<ip>`, ports are numbers; emails → `<email>`. URLs keep their
//!   scheme, host and path (normalised like any text) but lose credentials and the query string
//!   (`?…`): tokens and signatures live there, and they must not be stored either.
//!   Host names are kept (digits in them become `<n>`): a step's hosts come from its own
//!   configuration, so `Could not resolve host: a.example` and `…: b.example` are two problems to
//!   fix. Sentry strips host names because its messages come from many tenants with their own
//!   hosts; ours come from one step.
//! - **Times**: ISO 8601 and `2026/12/07` dates with optional time and zone, clock times with
//!   seconds (`03:12:44.123`; `12:34` alone is left to the number rule, as it is usually
//!   `line:column`), syslog and RFC 2822 dates (`Dec  7 03:12:44`, `Mon, 07 Dec 2026 …`) → `<time>`.
//! - **Paths**: a temporary path (a `tmp`/`temp` directory, `/var/folders`, `/dev/shm`) → `<tmp>`
//!   whole, as names under a temporary directory are generated too (`tmpk3j4h.py`). Any other
//!   absolute path keeps only its last component, `…/main.py`: the directories differ between
//!   checkouts, users and CI workspaces, while the file name says which file failed, so `main.py`
//!   and `app.py` stay apart (Sentry's stack grouping likewise uses normalised file names, not
//!   absolute paths). Relative paths (`src/main.rs`) are stable and kept.
//! - **Quoted text is kept** (its variable parts still go through the rules above): a quoted
//!   value is usually the key, module or message that identifies the failure (`KeyError: 'user'`,
//!   `No module named 'requests'`, `msg="connection refused"`), unlike Sentry, which replaces
//!   `key="…"` values.
//! - ANSI escape sequences and control characters are removed, whitespace is collapsed and each
//!   line is capped at [`MAX_LINE_BYTES`].
//!
//! The normaliser is idempotent, `normalize(&normalize(x)) == normalize(x)` (a property test
//! holds it to that): what it writes reads the same the next time, so a stored normalised text can
//! be compared with a new one, and each rule above is decided on text already cleaned of escapes.
//!
//! The exit code enters the hash only through its [`FailureClass`]: exit 1 and exit 2 are both
//! runtime failures, and one flaky step that exits with either is one problem.

use sha2::{Digest, Sha256};

/// The version of the algorithm, the prefix of every [`Fingerprint::id`]. Change it with any
/// change to the normalisation or the hash input: old and new ids must not collide.
pub const VERSION: &str = "v1";

/// How much of the end of the error text is looked at.
const TAIL_BYTES: usize = 8 * 1024;
/// How many of the last non-empty lines are looked at.
const TAIL_LINES: usize = 48;
/// How many distinct error lines are kept.
const MAX_ERROR_LINES: usize = 4;
/// How many lines are kept when no line looks like an error.
const FALLBACK_LINES: usize = 3;
/// How many (innermost) frames of a Python traceback are kept.
const MAX_FRAMES: usize = 8;
/// The longest line, raw or normalised, that is kept whole.
const MAX_LINE_BYTES: usize = 400;

/// The classification of a failure (SPEC §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureClass {
    Syntax,
    Runtime,
    Timeout,
    Permission,
    Network,
    MissingCommand,
    Resource,
}

impl FailureClass {
    pub const ALL: [FailureClass; 7] = [
        FailureClass::Syntax,
        FailureClass::Runtime,
        FailureClass::Timeout,
        FailureClass::Permission,
        FailureClass::Network,
        FailureClass::MissingCommand,
        FailureClass::Resource,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Syntax => "syntax",
            FailureClass::Runtime => "runtime",
            FailureClass::Timeout => "timeout",
            FailureClass::Permission => "permission",
            FailureClass::Network => "network",
            FailureClass::MissingCommand => "missing command",
            FailureClass::Resource => "resource",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        FailureClass::ALL.into_iter().find(|class| class.as_str() == s)
    }
}

/// How the attempt ended, as the engine knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitKind {
    Code(i32),
    Signal(i32),
    TimedOut,
    /// The process could not be spawned (ENOENT, EACCES…); the error text is the spawn error.
    DidNotStart,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// `"v1:"` and the first 16 hex digits of the SHA-256 of the version, subject, class and
    /// normalised text.
    pub id: String,
    pub class: FailureClass,
    /// The normalised error text that was hashed, for display.
    pub normalized: String,
}

/// The fingerprint of one failed attempt. `subject` is the step id or plugin id (a phase check
/// passes `"phase:<phase-id>:<check name>"`); it is hashed verbatim.
pub fn fingerprint(subject: &str, exit: ExitKind, error_text: &str) -> Fingerprint {
    let lines = tail_lines(error_text);
    let selection = select(&lines);
    let class = classify_selection(&exit, &selection);
    let normalized = selection.lines.join("\n");
    let mut hasher = Sha256::new();
    for part in [VERSION, subject, class.as_str(), normalized.as_str()] {
        hasher.update(part.as_bytes());
        // Each part is followed by a NUL, which neither the version, the class names nor the
        // normalised text (controls become spaces) contain, so text cannot shift from one
        // part into another and hash alike.
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(VERSION.len() + 17);
    id.push_str(VERSION);
    id.push(':');
    for byte in digest.iter().take(8) {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    Fingerprint { id, class, normalized }
}

/// The error text reduced to the lines that matter, with everything that varies between runs of
/// the same failure replaced by placeholders (see the module documentation).
pub fn normalize(text: &str) -> String {
    select(&tail_lines(text)).lines.join("\n")
}

/// The class of a failure, from how it ended and from the lines of its error text that matter.
///
/// The engine's knowledge comes first: a timeout it enforced, SIGKILL or exit 137 (the OOM killer;
/// the engine's own kills end as `TimedOut` or a cancellation, never here), exit 124 (`timeout`),
/// 126 (not executable), 127 (not found). Then the last selected line that matches a class
/// decides; within one line network wins over missing command, permission, resource, timeout and
/// syntax, so `Connection timed out` is a network failure. A spawn failure is a missing command
/// unless its error says permission or resource.
pub fn classify(exit: &ExitKind, text: &str) -> FailureClass {
    classify_selection(exit, &select(&tail_lines(text)))
}

fn classify_selection(exit: &ExitKind, selection: &Selection) -> FailureClass {
    match *exit {
        ExitKind::TimedOut | ExitKind::Code(124) => return FailureClass::Timeout,
        // SIGKILL, SIGXCPU, SIGXFSZ, and a shell's report of a SIGKILL.
        ExitKind::Signal(9 | 24 | 25) | ExitKind::Code(137) => return FailureClass::Resource,
        ExitKind::Code(126) => return FailureClass::Permission,
        ExitKind::Code(127) => return FailureClass::MissingCommand,
        _ => {}
    }
    let from_text = selection.lines[selection.class_from..].iter().rev().find_map(|line| class_of_line(line));
    match (exit, from_text) {
        (ExitKind::DidNotStart, Some(class @ (FailureClass::Permission | FailureClass::Resource))) => class,
        (ExitKind::DidNotStart, _) => FailureClass::MissingCommand,
        (_, Some(class)) => class,
        (_, None) => FailureClass::Runtime,
    }
}

// ---------------------------------------------------------------------------------------------
// Lines that matter

/// A line of the tail: its text cleaned ([`clean_line`]: no escapes, no leading or repeated
/// whitespace) and whether it was indented, which tells a traceback's source lines from its
/// exception line.
struct RawLine {
    text: String,
    indented: bool,
}

/// The selected lines, normalised; lines from `class_from` on are the ones classification reads
/// (the exception line of a traceback, not its frames, whose function names may say `timeout`).
struct Selection {
    lines: Vec<String>,
    class_from: usize,
}

fn tail_lines(text: &str) -> Vec<RawLine> {
    let mut start = 0;
    if text.len() > TAIL_BYTES {
        start = text.len() - TAIL_BYTES;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        // The first line is cut wherever the cap falls; keep it only when it is all there is.
        if let Some(newline) = text[start..].find('\n') {
            if start + newline + 1 < text.len() {
                start += newline + 1;
            }
        }
    }
    let mut lines: Vec<RawLine> = text[start..]
        .split(['\n', '\r'])
        .filter_map(|line| {
            let line = cap(line);
            let text = String::from_utf8(clean_line(line)).unwrap_or_default();
            (!text.is_empty()).then(|| RawLine { text, indented: is_indented(line) })
        })
        .collect();
    if lines.len() > TAIL_LINES {
        lines.drain(..lines.len() - TAIL_LINES);
    }
    lines
}

fn is_indented(line: &str) -> bool {
    let bytes = line.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&0x1b) {
        i = skip_escape(bytes, i);
    }
    matches!(bytes.get(i), Some(b' ' | b'\t'))
}

fn cap(text: &str) -> &str {
    if text.len() <= MAX_LINE_BYTES {
        return text;
    }
    let mut end = MAX_LINE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn select(lines: &[RawLine]) -> Selection {
    if let Some(selection) = select_python_traceback(lines) {
        return selection;
    }
    let mut normalized: Vec<Option<String>> = Vec::with_capacity(lines.len());
    for line in lines {
        let text = line.text.trim();
        let keep = !is_noise(text);
        normalized.push(keep.then(|| normalize_line(text)).filter(|n| !is_punctuation(n)));
    }
    // Entries of one error line each, or of a Rust panic line and its message: Rust ≥ 1.73
    // prints the message on the line after `panicked at file:line:col:`. The message is taken
    // only when it is not an error line itself (then it is an entry of its own), so that the
    // pairing is found again in the text this returns.
    let mut entries: Vec<Vec<&String>> = Vec::new();
    let mut index = 0;
    while index < normalized.len() {
        let Some(line) = &normalized[index] else {
            index += 1;
            continue;
        };
        index += 1;
        if !is_error_line(line) {
            continue;
        }
        let mut entry = vec![line];
        if line.contains("panicked at") && line.ends_with(':') {
            if let Some(Some(message)) = normalized.get(index) {
                if !is_error_line(message) {
                    entry.push(message);
                    index += 1;
                }
            }
        }
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    let mut chosen: Vec<String> = Vec::new();
    if entries.is_empty() {
        for line in normalized.iter().flatten() {
            if !chosen.contains(line) {
                chosen.push(line.clone());
            }
        }
        let excess = chosen.len().saturating_sub(FALLBACK_LINES);
        chosen.drain(..excess);
    } else {
        let excess = entries.len().saturating_sub(MAX_ERROR_LINES);
        chosen = entries[excess..].iter().flatten().map(|line| (*line).clone()).collect();
    }
    Selection { lines: chosen, class_from: 0 }
}

/// The frames and the final exception line of the last Python traceback in the lines (or of the
/// frames the tail still holds when its header was cut off).
fn select_python_traceback(lines: &[RawLine]) -> Option<Selection> {
    // The last header with frames after it; or else, as in a tail that lost its header (and in
    // a traceback normalised once), the first frame.
    let header = lines.iter().rposition(|line| line.text.starts_with("Traceback (most recent call last)"));
    let start = match header {
        Some(index) if lines[index..].iter().any(|line| is_python_frame(&line.text)) => index + 1,
        _ => lines.iter().position(|line| is_python_frame(&line.text))?,
    };
    let frames: Vec<usize> = (start..lines.len()).filter(|&index| is_python_frame(&lines[index].text)).collect();
    let &last_frame = frames.last()?;
    let exception = (last_frame + 1..lines.len()).find(|&index| {
        let line = &lines[index];
        !line.indented
            && !is_python_frame(&line.text)
            && !is_noise(&line.text)
            && !is_punctuation(&normalize_line(&line.text))
    });
    let mut selected: Vec<String> = Vec::new();
    for &index in &frames[frames.len().saturating_sub(MAX_FRAMES)..] {
        let line = normalize_line(&lines[index].text);
        // Recursion repeats one frame many times: keep it once.
        if selected.last() != Some(&line) {
            selected.push(line);
        }
    }
    let class_from = selected.len();
    if let Some(index) = exception {
        selected.push(normalize_line(&lines[index].text));
    }
    // Without an exception line nothing is read: frames' function names may say `timeout`.
    Some(Selection { class_from, lines: selected })
}

fn is_python_frame(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("File \"") && line.contains("\", line ") && line.contains(", in ")
}

/// Lines that never say what failed: compiler snippets and locations, notes, warnings, counts.
fn is_noise(line: &str) -> bool {
    const PREFIXES: [&str; 14] = [
        "|",
        "-->",
        "= note:",
        "= help:",
        "note:",
        "help:",
        "warning:",
        "warning[",
        "For more information about this error",
        "Some errors have detailed explanations",
        "error: could not compile",
        "error: aborting due to",
        "[Previous line repeated",
        "During handling of the above exception",
    ];
    if PREFIXES.iter().any(|prefix| line.starts_with(prefix)) {
        return true;
    }
    // A compiler's gutter: `12 |     let x = …`.
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && line[digits..].trim_start().starts_with('|')
}

fn is_punctuation(line: &str) -> bool {
    line.bytes().all(|byte| byte.is_ascii_punctuation() || byte == b' ')
}

fn is_error_line(line: &str) -> bool {
    const KEYWORDS: [&str; 30] = [
        "error",
        "exception",
        "fatal",
        "panic",
        "fail",
        "denied",
        "not found",
        "no such",
        "refused",
        "unreachable",
        "killed",
        "timed out",
        "timeout",
        "abort",
        "cannot",
        "can't",
        "could not",
        "couldn't",
        "unable to",
        "invalid",
        "unexpected",
        "segmentation fault",
        "core dumped",
        "out of memory",
        "not permitted",
        "traceback",
        "errno",
        "err!",
        "assert",
        "curl: (",
    ];
    let lower = line.to_ascii_lowercase();
    KEYWORDS.iter().any(|keyword| lower.contains(keyword)) || class_of_line(line).is_some()
}

/// The class a (normalised) line names, if any.
fn class_of_line(line: &str) -> Option<FailureClass> {
    let lower = line.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|needle| lower.contains(needle));
    if curl_network_code(&lower)
        || has(&[
            "could not resolve host",
            "could not resolve proxy",
            "could not resolve hostname",
            "unable to resolve host",
            "name or service not known",
            "temporary failure in name resolution",
            "nodename nor servname",
            "no address associated with hostname",
            "connection refused",
            "connection reset",
            "network is unreachable",
            "no route to host",
            "connection timed out",
            "failed to connect to",
            "getaddrinfo",
            "econnrefused",
            "econnreset",
            "enotfound",
            "etimedout",
            "eai_again",
            "ehostunreach",
            "enetunreach",
            "tls handshake",
            "ssl_connect",
        ])
    {
        return Some(FailureClass::Network);
    }
    let program = lower.split(':').next().unwrap_or("").rsplit(['/', ' ']).next().unwrap_or("");
    let from_shell = matches!(program, "sh" | "bash" | "zsh" | "dash" | "ksh" | "fish" | "env" | "exec");
    if has(&["command not found", "is not recognized as an internal or external command", "executable file not found"])
        || (from_shell && (lower.ends_with(": not found") || lower.contains("no such file or directory")))
    {
        return Some(FailureClass::MissingCommand);
    }
    if has(&[
        "permission denied",
        "eacces",
        "operation not permitted",
        "eperm",
        "permissionerror",
        "access denied",
        "accessdenied",
        "access is denied",
        "403 forbidden",
    ]) {
        return Some(FailureClass::Permission);
    }
    if has(&[
        "out of memory",
        "memoryerror",
        "no space left on device",
        "enospc",
        "too many open files",
        "emfile",
        "cannot allocate memory",
        "enomem",
        "disk quota exceeded",
        "edquot",
        "bad_alloc",
        "memory allocation of",
        "oom-kill",
        "oom_kill",
        "oomkilled",
        "resource temporarily unavailable",
        "cpu time limit exceeded",
        "file size limit exceeded",
        "argument list too long",
        "<n> killed",
        "killed process",
    ]) || lower.starts_with("killed")
    {
        return Some(FailureClass::Resource);
    }
    if has(&["timed out", "timeout", "deadline exceeded", "deadline_exceeded"]) {
        return Some(FailureClass::Timeout);
    }
    if has(&[
        "syntaxerror",
        "syntax error",
        "invalid syntax",
        "indentationerror",
        "taberror",
        "unexpected eof",
        "unexpected end of file",
        "unexpected end of input",
        "parse error",
        "parseerror",
        "error: expected",
        "error: unexpected",
        "unexpected token",
        "unclosed delimiter",
        "unterminated",
        "unknown start of token",
    ]) {
        return Some(FailureClass::Syntax);
    }
    None
}

/// `curl: (6)`, `(7)`, `(28)`, `(35)`, `(52)`, `(56)`: resolve, connect, timeout, TLS, empty reply,
/// receive failures. Other curl codes (22: HTTP error status, 23: write error…) are not network.
fn curl_network_code(lower: &str) -> bool {
    let Some(at) = lower.find("curl: (") else { return false };
    let rest = &lower[at + "curl: (".len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[digits..].starts_with(')') && matches!(&rest[..digits], "6" | "7" | "28" | "35" | "52" | "56")
}

// ---------------------------------------------------------------------------------------------
// One line

const ELLIPSIS: &[u8] = "…".as_bytes();

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn is_hex(byte: u8) -> bool {
    byte.is_ascii_hexdigit()
}

fn is_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(byte, b'.' | b'_' | b'-' | b'/' | b'+' | b'~' | b'@' | b'%' | b'\\')
        || byte >= 0x80
}

/// Words after which a number is a code that names the error, not a count.
fn is_code_word(word: &[u8]) -> bool {
    const CODE_WORDS: [&str; 9] = ["errno", "error", "code", "status", "exit", "signal", "http", "curl", "rc"];
    CODE_WORDS.iter().any(|code| word.eq_ignore_ascii_case(code.as_bytes()))
}

/// One line normalised. Only ever splits the text at ASCII bytes, so the output is valid UTF-8.
fn normalize_line(line: &str) -> String {
    let cleaned = clean_line(line);
    let bytes = cleaned.as_slice();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len() + 16);
    // Whether the last token was a code word, so that a number after it is kept.
    let mut code_context = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        // Boundaries are judged on what was written, not on what was read, so that text
        // rewritten once is read alike the next time. A word right after `>` (a placeholder's end) is copied as it is: it is the suffix of a
        // number written as `<n>` (`1C` → `<n>C`) and must not be read as a new token next time.
        let at_boundary = out.last().is_none_or(|&last| !is_word(last) && last != b'>');
        if byte == b' ' {
            if !out.is_empty() && out.last() != Some(&b' ') {
                out.push(b' ');
            }
            i += 1;
            continue;
        }
        if at_boundary && (is_word(byte) || (byte == b':' && bytes.get(i + 1) == Some(&b':'))) {
            if let Some((end, placeholder)) = recognise(bytes, i, out.last() == Some(&b'/')) {
                out.extend_from_slice(placeholder.as_bytes());
                code_context = false;
                i = end;
                continue;
            }
        }
        if at_boundary && is_word(byte) {
            let end = word_end(bytes, i);
            // `scheme://…`
            if bytes[end..].starts_with(b"://") && bytes[i..end].iter().all(u8::is_ascii_alphabetic) {
                i = push_url(bytes, i, end, &mut out);
                code_context = false;
                continue;
            }
            // A Windows drive: `C:\…`.
            if end == i + 1
                && byte.is_ascii_alphabetic()
                && bytes[end..].starts_with(b":\\")
                // Stricter than for `/`: not after a non-ASCII character, which may be the end
                // of a file name written as `…/éC` before.
                && out.last().is_none_or(|last| b" \"'`([{<=,".contains(last))
                && path_end(bytes, i) > i + 3
            {
                i = push_path(bytes, i, &mut out);
                code_context = false;
                continue;
            }
            if byte.is_ascii_digit() {
                i = push_number(bytes, i, end, code_context, &mut out);
                code_context = false;
            } else {
                push_identifier(&bytes[i..end], &mut out);
                code_context = is_code_word(&bytes[i..end]);
                i = end;
            }
            continue;
        }
        if (byte == b'/' || (byte == b'~' && bytes.get(i + 1) == Some(&b'/')))
            && path_may_start(bytes, i, &out)
            && path_end(bytes, i) > i + if byte == b'~' { 2 } else { 1 }
        {
            i = push_path(bytes, i, &mut out);
            code_context = false;
            continue;
        }
        if !matches!(byte, b':' | b'=' | b'#' | b'(' | b'[' | b'-') {
            code_context = false;
        }
        out.push(byte);
        i += 1;
    }
    while out.last() == Some(&b' ') {
        out.pop();
    }
    if out.len() > MAX_LINE_BYTES {
        let mut end = MAX_LINE_BYTES;
        while end > 0 && (out[end] & 0xc0) == 0x80 {
            end -= 1;
        }
        out.truncate(end);
        while out.last() == Some(&b' ') {
            out.pop();
        }
    }
    String::from_utf8(out).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// The line without ANSI escape sequences, with control characters as spaces and whitespace
/// collapsed, before any token is read: what they separated or joined is then read alike on
/// the raw text and on text normalised once. Only ASCII is removed, so this stays UTF-8.
fn clean_line(line: &str) -> Vec<u8> {
    let bytes = line.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == 0x1b {
            i = skip_escape(bytes, i);
        } else if byte.is_ascii_whitespace() || byte.is_ascii_control() {
            if !out.is_empty() && out.last() != Some(&b' ') {
                out.push(b' ');
            }
            i += 1;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    while out.last() == Some(&b' ') {
        out.pop();
    }
    out
}

/// The end of an ANSI escape sequence starting at `i` (CSI, OSC, or a two-byte escape).
fn skip_escape(bytes: &[u8], i: usize) -> usize {
    match bytes.get(i + 1) {
        Some(b'[') => {
            let mut j = i + 2;
            while j < bytes.len() && (0x20..0x40).contains(&bytes[j]) {
                j += 1;
            }
            if j < bytes.len() && (0x40..0x7f).contains(&bytes[j]) {
                j + 1
            } else {
                j
            }
        }
        Some(b']') => {
            let mut j = i + 2;
            while j < bytes.len() {
                if bytes[j] == 0x07 {
                    return j + 1;
                }
                if bytes[j] == 0x1b && bytes.get(j + 1) == Some(&b'\\') {
                    return j + 2;
                }
                j += 1;
            }
            j
        }
        Some(next) if next.is_ascii() => i + 2,
        _ => i + 1,
    }
}

fn word_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && is_word(bytes[i]) {
        i += 1;
    }
    i
}

/// The placeholders that can start at a word boundary, tried most specific first.
/// An email is not looked for right after a `/`: there it is a file name (`…/a@b.c`).
fn recognise(bytes: &[u8], i: usize, after_slash: bool) -> Option<(usize, &'static str)> {
    if let Some(end) = uuid_at(bytes, i) {
        return Some((end, "<uuid>"));
    }
    if let Some(end) = datetime_at(bytes, i).or_else(|| clock_at(bytes, i, true).map(|end| zone_end(bytes, end))) {
        if !bytes.get(end).is_some_and(|&byte| is_word(byte)) {
            return Some((end, "<time>"));
        }
    }
    if let Some(end) = named_date_at(bytes, i) {
        return Some((end, "<time>"));
    }
    if let Some(end) = ipv4_at(bytes, i).or_else(|| ipv6_at(bytes, i)) {
        return Some((end, "<ip>"));
    }
    if let Some(end) = email_at(bytes, i).filter(|_| !after_slash) {
        return Some((end, "<email>"));
    }
    None
}

/// The end of a run of `min..=max` ASCII digits at `i` not followed by another digit.
fn digits(bytes: &[u8], i: usize, min: usize, max: usize) -> Option<usize> {
    let count = bytes[i.min(bytes.len())..].iter().take(max + 1).take_while(|byte| byte.is_ascii_digit()).count();
    (min..=max).contains(&count).then_some(i + count)
}

fn hex_run(bytes: &[u8], i: usize, len: usize) -> Option<usize> {
    let count = bytes[i.min(bytes.len())..].iter().take(len + 1).take_while(|&&byte| is_hex(byte)).count();
    (count == len).then_some(i + len)
}

fn uuid_at(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for (index, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if index > 0 {
            if bytes.get(j) != Some(&b'-') {
                return None;
            }
            j += 1;
        }
        j = hex_run(bytes, j, len)?;
    }
    (!bytes.get(j).is_some_and(|&byte| is_word(byte))).then_some(j)
}

/// `2026-12-07`, `2026/12/07`, with an optional `T`/space/`_` and clock time, and a zone.
fn datetime_at(bytes: &[u8], i: usize) -> Option<usize> {
    let year = digits(bytes, i, 4, 4)?;
    let separator = *bytes.get(year)?;
    if separator != b'-' && separator != b'/' {
        return None;
    }
    let month = digits(bytes, year + 1, 1, 2)?;
    if bytes.get(month) != Some(&separator) {
        return None;
    }
    let day = digits(bytes, month + 1, 1, 2)?;
    let mut end = day;
    if matches!(bytes.get(day), Some(b'T' | b' ' | b'_')) {
        if let Some(clock) = clock_at(bytes, day + 1, false) {
            end = clock;
        }
    }
    Some(zone_end(bytes, end))
}

/// `03:12:44`, `3:12:44.123`, `03:12:44,123`; the seconds are optional only when asked.
fn clock_at(bytes: &[u8], i: usize, need_seconds: bool) -> Option<usize> {
    let hours = digits(bytes, i, 1, 2)?;
    if bytes.get(hours) != Some(&b':') {
        return None;
    }
    let minutes = digits(bytes, hours + 1, 2, 2)?;
    if bytes.get(minutes) != Some(&b':') {
        return (!need_seconds).then_some(minutes);
    }
    let Some(mut end) = digits(bytes, minutes + 1, 2, 2) else {
        return (!need_seconds).then_some(minutes);
    };
    if matches!(bytes.get(end), Some(b'.' | b',')) {
        if let Some(fraction) = digits(bytes, end + 1, 1, 9) {
            end = fraction;
        }
    }
    Some(end)
}

/// The end of an optional zone after a time: `Z`, `+01:00`, `-0800`, ` UTC`, ` GMT`.
fn zone_end(bytes: &[u8], end: usize) -> usize {
    match bytes.get(end) {
        Some(b'Z') if !bytes.get(end + 1).is_some_and(|&byte| is_word(byte)) => end + 1,
        Some(b'+' | b'-') => {
            let Some(hours) = digits(bytes, end + 1, 2, 2) else { return end };
            let minutes_start = if bytes.get(hours) == Some(&b':') { hours + 1 } else { hours };
            digits(bytes, minutes_start, 2, 2).unwrap_or(end)
        }
        Some(b' ') if bytes[end + 1..].starts_with(b"UTC") || bytes[end + 1..].starts_with(b"GMT") => {
            if bytes.get(end + 4).is_some_and(|&byte| is_word(byte)) {
                end
            } else {
                end + 4
            }
        }
        _ => end,
    }
}

const MONTHS: [&str; 24] = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Sept",
    "Oct",
    "Nov",
    "Dec",
    "January",
    "February",
    "March",
    "April",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 14] = [
    "Mon",
    "Tue",
    "Wed",
    "Thu",
    "Fri",
    "Sat",
    "Sun",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn word_in(bytes: &[u8], i: usize, words: &[&str]) -> Option<usize> {
    let end = word_end(bytes, i);
    words.iter().any(|word| word.as_bytes() == &bytes[i..end]).then_some(end)
}

fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// Dates with a month name: syslog `Dec  7 03:12:44`, `Dec 07, 2026`, git's
/// `Mon Dec 7 03:12:44 2026 +0000`, RFC 2822 `Mon, 07 Dec 2026 03:12:44 +0000`, `07 Dec 2026`.
/// A month and day alone (`May 5`) are not enough: a year or a time must follow.
fn named_date_at(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if let Some(end) = word_in(bytes, j, &WEEKDAYS) {
        j = end;
        if bytes.get(j) == Some(&b',') {
            j += 1;
        }
        let next = skip_spaces(bytes, j);
        if next == j {
            return None;
        }
        j = next;
    }
    let mut end;
    // Month first (`Dec 7`) needs a year or a time after it; day first (`07 Dec 2026`) has its year.
    let month_first = word_in(bytes, j, &MONTHS).is_some();
    if let Some(month) = word_in(bytes, j, &MONTHS) {
        let day_start = skip_spaces(bytes, month);
        if day_start == month {
            return None;
        }
        end = digits(bytes, day_start, 1, 2)?;
        if bytes.get(end) == Some(&b',') {
            end += 1;
        }
    } else {
        let day = digits(bytes, j, 1, 2)?;
        let separator = *bytes.get(day)?;
        if separator != b' ' && separator != b'-' {
            return None;
        }
        let month = word_in(bytes, day + 1, &MONTHS)?;
        if bytes.get(month) != Some(&separator) {
            return None;
        }
        end = digits(bytes, month + 1, 2, 4)?;
    }
    let date_end = end;
    // Up to three of: a year, a clock time, a zone.
    for _ in 0..3 {
        let next = skip_spaces(bytes, end);
        if next == end || next >= bytes.len() {
            break;
        }
        if let Some(clock) = clock_at(bytes, next, false) {
            end = zone_end(bytes, clock);
        } else if let Some(year) = digits(bytes, next, 4, 4) {
            end = year;
        } else if matches!(bytes[next], b'+' | b'-') && digits(bytes, next + 1, 4, 4).is_some() {
            end = next + 5;
        } else {
            break;
        }
    }
    if month_first && end == date_end {
        return None;
    }
    // A trailing comma after the day belongs to the date only when more followed.
    if bytes.get(end.wrapping_sub(1)) == Some(&b',') {
        end -= 1;
    }
    (!bytes.get(end).is_some_and(|&byte| is_word(byte))).then_some(end)
}

fn ipv4_at(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..4 {
        if part > 0 {
            if bytes.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
        let end = digits(bytes, j, 1, 3)?;
        let value: u32 = std::str::from_utf8(&bytes[j..end]).ok()?.parse().ok()?;
        if value > 255 {
            return None;
        }
        j = end;
    }
    let followed_by_more = bytes.get(j).is_some_and(|&byte| is_word(byte))
        || (bytes.get(j) == Some(&b'.') && bytes.get(j + 1).is_some_and(u8::is_ascii_digit));
    (!followed_by_more).then_some(j)
}

/// IPv6 in its full or `::`-compressed form (with an optional dotted IPv4 tail). A compressed
/// address needs a digit, so that `a::b` in code is not one.
fn ipv6_at(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < bytes.len() && j - i < 45 && (is_hex(bytes[j]) || bytes[j] == b':' || bytes[j] == b'.') {
        j += 1;
    }
    // An address ends in a group: a trailing `:` (as in `connect to ::1: refused`) or `.` is not
    // part of it, unless a word follows, which makes the whole run something else.
    let scanned = j;
    while j > i && matches!(bytes[j - 1], b':' | b'.') {
        j -= 1;
    }
    if scanned > j && bytes.get(scanned).is_some_and(|&byte| is_word(byte) || byte == b'<') {
        return None;
    }
    if bytes.get(j).is_some_and(|&byte| is_word(byte)) {
        return None;
    }
    let text = &bytes[i..j];
    let colons = text.iter().filter(|&&byte| byte == b':').count();
    let compressed = text.windows(2).filter(|pair| pair == b"::").count();
    if colons < 2 || compressed > 1 || text.windows(3).any(|triple| triple == b":::") {
        return None;
    }
    let mut groups = 0;
    for (index, group) in text.split(|&byte| byte == b':').enumerate() {
        if group.is_empty() {
            continue;
        }
        let is_last = index == colons;
        if group.contains(&b'.') {
            if !is_last || ipv4_at(group, 0) != Some(group.len()) {
                return None;
            }
            groups += 2;
        } else if group.len() > 4 {
            return None;
        } else {
            groups += 1;
        }
    }
    let has_digit = text.iter().any(u8::is_ascii_digit);
    let valid = if compressed == 1 { groups <= 7 && has_digit } else { groups == 8 };
    valid.then_some(j)
}

fn email_at(bytes: &[u8], i: usize) -> Option<usize> {
    let local = bytes[i..]
        .iter()
        .take(65)
        .take_while(|&&byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'%' | b'+' | b'-'))
        .count();
    if local == 0 || local > 64 || bytes.get(i + local) != Some(&b'@') {
        return None;
    }
    let start = i + local + 1;
    let domain = bytes[start..]
        .iter()
        .take(254)
        .take_while(|&&byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-'))
        .count();
    let mut domain_text = &bytes[start..start + domain];
    while domain_text.last() == Some(&b'.') {
        domain_text = &domain_text[..domain_text.len() - 1];
    }
    let top = domain_text.rsplit(|&byte| byte == b'.').next()?;
    let valid = domain_text.contains(&b'.') && top.len() >= 2 && top.iter().all(u8::is_ascii_alphabetic);
    valid.then_some(start + domain_text.len())
}

/// Hex ids: `0x…`, or 8+ hex characters with a digit and a letter in one case, or a 7-character
/// lowercase git short SHA with both. (All digits is a number, all letters is a word.)
fn is_hex_id(word: &[u8]) -> bool {
    if word.len() > 2 && (word.starts_with(b"0x") || word.starts_with(b"0X")) {
        return word[2..].iter().all(|&byte| is_hex(byte));
    }
    if !word.iter().all(|&byte| is_hex(byte)) {
        return false;
    }
    let has_digit = word.iter().any(u8::is_ascii_digit);
    let lower = word.iter().any(u8::is_ascii_lowercase);
    let upper = word.iter().any(u8::is_ascii_uppercase);
    match word.len() {
        7 => has_digit && lower && !upper,
        len if len >= 8 => has_digit && (lower != upper),
        _ => false,
    }
}

/// An identifier keeps its digits (`E0308`, `python3`) except in segments after `_` that are
/// all digits or hex ids (`job_1234`, `build_4f3a9c21`).
fn push_identifier(word: &[u8], out: &mut Vec<u8>) {
    if is_hex_id(word) {
        out.extend_from_slice(b"<hex>");
        return;
    }
    for (index, segment) in word.split(|&byte| byte == b'_').enumerate() {
        if index > 0 {
            out.push(b'_');
        }
        if index > 0 && !segment.is_empty() && segment.iter().all(u8::is_ascii_digit) {
            out.extend_from_slice(b"<n>");
        } else if index > 0 && is_hex_id(segment) {
            out.extend_from_slice(b"<hex>");
        } else {
            out.extend_from_slice(segment);
        }
    }
}

/// A word starting with a digit at `i` (ending at `end`): a hex id, a code kept as is, or a
/// number (with its decimals and version parts) and a unit.
fn push_number(bytes: &[u8], i: usize, end: usize, code_context: bool, out: &mut Vec<u8>) -> usize {
    if is_hex_id(&bytes[i..end]) {
        out.extend_from_slice(b"<hex>");
        return end;
    }
    if code_context && bytes[i..end].iter().all(u8::is_ascii_digit) {
        out.extend_from_slice(&bytes[i..end]);
        return end;
    }
    let mut j = i;
    while j < bytes.len() && bytes[j].is_ascii_digit() {
        j += 1;
    }
    while j + 1 < bytes.len() && bytes[j] == b'.' && bytes[j + 1].is_ascii_digit() {
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
    }
    let word_end = word_end(bytes, j);
    match quantity(&bytes[j..word_end]) {
        Some(Quantity::Duration) => out.extend_from_slice(b"<duration>"),
        Some(Quantity::Size) => out.extend_from_slice(b"<size>"),
        None => {
            out.extend_from_slice(b"<n>");
            // Another suffix (`3rd`, `64bit`): letters kept, digits are numbers.
            while j < word_end {
                if bytes[j].is_ascii_digit() {
                    while j < word_end && bytes[j].is_ascii_digit() {
                        j += 1;
                    }
                    out.extend_from_slice(b"<n>");
                } else {
                    out.push(bytes[j]);
                    j += 1;
                }
            }
        }
    }
    word_end
}

enum Quantity {
    Duration,
    Size,
}

/// Whether a number's suffix makes it a duration (`s`, `ms`, `2m30s`…) or a size (`kB`, `MiB`…).
/// The whole quantity becomes one placeholder, so `1.23s` and `301ms` are alike.
fn quantity(suffix: &[u8]) -> Option<Quantity> {
    const DURATION_UNITS: [&[u8]; 13] =
        [b"ns", b"us", b"ms", b"s", b"sec", b"secs", b"m", b"min", b"mins", b"h", b"hr", b"hrs", b"d"];
    const SIZE_UNITS: [&[u8]; 15] =
        [b"B", b"b", b"k", b"K", b"kB", b"KB", b"KiB", b"M", b"MB", b"MiB", b"G", b"GB", b"GiB", b"TB", b"TiB"];
    if suffix.is_empty() {
        return None;
    }
    if SIZE_UNITS.contains(&suffix) {
        return Some(Quantity::Size);
    }
    // `2m30s`, `1h5m`: units and numbers alternating, units only from the duration list.
    let all_durations =
        suffix.split(u8::is_ascii_digit).filter(|unit| !unit.is_empty()).all(|unit| DURATION_UNITS.contains(&unit));
    let starts_with_unit = suffix[0].is_ascii_alphabetic();
    let ends_with_unit = suffix[suffix.len() - 1].is_ascii_alphabetic();
    (all_durations && starts_with_unit && ends_with_unit).then_some(Quantity::Duration)
}

/// Whether a `/` (or `~/`) at `i` starts an absolute path: at the start of the line or after a
/// space, quote, bracket, `=`, `:` or `,`, and not after the `…` this module writes itself.
fn path_may_start(bytes: &[u8], i: usize, written: &[u8]) -> bool {
    let first = if bytes[i] == b'~' { i + 1 } else { i };
    bytes.get(first + 1).is_some_and(|&byte| is_path_byte(byte) && byte != b'/') && opens_path(written)
}

/// Whether what was written so far lets a path start: nothing, or a space, quote, bracket, `=`,
/// `:`, `,` or a non-ASCII character, but not the `…` this module writes itself.
fn opens_path(written: &[u8]) -> bool {
    let Some(&before) = written.last() else { return true };
    if written.ends_with(ELLIPSIS) {
        return false;
    }
    before >= 0x80
        || matches!(before, b' ' | b'\t' | b'"' | b'\'' | b'`' | b'(' | b'[' | b'{' | b'<' | b'=' | b':' | b',')
}

fn path_end(bytes: &[u8], i: usize) -> usize {
    let mut end = i;
    while end < bytes.len() && is_path_byte(bytes[end]) {
        // A Windows drive's colon.
        end += 1;
        if end == i + 1 && bytes.get(end) == Some(&b':') && bytes.get(end + 1) == Some(&b'\\') {
            end += 1;
        }
    }
    // A URL's scheme is not part of the path (`/x/https://…`).
    if bytes[end..].starts_with(b"://") {
        while end > i && bytes[end - 1].is_ascii_alphabetic() {
            end -= 1;
        }
    }
    // A sentence's full stop is not part of the path.
    while end > i + 1 && bytes[end - 1] == b'.' {
        end -= 1;
    }
    end
}

fn push_path(bytes: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    let end = path_end(bytes, i);
    let path = &bytes[i..end];
    let components: Vec<&[u8]> =
        path.split(|&byte| byte == b'/' || byte == b'\\').filter(|part| !part.is_empty()).collect();
    if is_temporary(path, &components) {
        out.extend_from_slice(b"<tmp>");
        return end;
    }
    out.extend_from_slice(ELLIPSIS);
    out.push(b'/');
    if let Some(last) = components.last() {
        if last.len() != 2 || last[1] != b':' {
            // The file name goes through the same rules (`run-1234.log` → `run-<n>.log`); it holds
            // no separator, so this recursion is one level deep.
            let name = String::from_utf8_lossy(last);
            out.extend_from_slice(normalize_line(&name).as_bytes());
        }
    }
    if path.ends_with(b"/") || path.ends_with(b"\\") {
        out.push(b'/');
    }
    end
}

fn is_temporary(path: &[u8], components: &[&[u8]]) -> bool {
    const PREFIXES: [&[u8]; 4] = [b"/var/folders/", b"/private/var/folders/", b"/dev/shm/", b"/private/tmp/"];
    if PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
        return true;
    }
    components.iter().enumerate().any(|(index, component)| {
        let lower = component.to_ascii_lowercase();
        let is_directory = index + 1 < components.len();
        lower == b"tmp" || lower == b"temp" || (is_directory && is_generated_temporary_name(&lower))
    })
}

/// `tmp.XXXXXX` (mktemp), `tmp_…`, `tmp-…`, `tmpk3j4h_x` (Python's `mkdtemp`: `tmp` and eight
/// random characters); not `tmpl` or `tmpfs`.
fn is_generated_temporary_name(lower: &[u8]) -> bool {
    let Some(rest) = lower.strip_prefix(b"tmp") else { return false };
    match rest.first() {
        Some(b'.' | b'_' | b'-') => true,
        Some(byte) if byte.is_ascii_digit() => true,
        Some(_) => rest.len() >= 6 && rest.iter().any(u8::is_ascii_digit),
        None => false,
    }
}

/// `scheme://[user@]host[:port]/path?query#fragment`: credentials dropped, host and path
/// normalised, query and fragment replaced.
fn push_url(bytes: &[u8], i: usize, scheme_end: usize, out: &mut Vec<u8>) -> usize {
    let start = scheme_end + 3;
    let mut end = start;
    while end < bytes.len()
        && !bytes[end].is_ascii_whitespace()
        && !bytes[end].is_ascii_control()
        && !matches!(bytes[end], b'"' | b'\'' | b'`' | b'<' | b'>' | b')' | b']' | b'}')
    {
        end += 1;
    }
    while end > start && matches!(bytes[end - 1], b'.' | b',' | b';' | b':') {
        end -= 1;
    }
    out.extend_from_slice(&bytes[i..start]);
    let rest = &bytes[start..end];
    let authority_len = rest.iter().position(|&byte| matches!(byte, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let host = match authority.iter().rposition(|&byte| byte == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    out.extend_from_slice(normalize_line(&String::from_utf8_lossy(host)).as_bytes());
    let after = &rest[authority_len..];
    let path_len = after.iter().position(|&byte| byte == b'?' || byte == b'#').unwrap_or(after.len());
    // The path segment by segment: a leading `/` here is no absolute file path.
    for (index, segment) in after[..path_len].split(|&byte| byte == b'/').enumerate() {
        if index > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(normalize_line(&String::from_utf8_lossy(segment)).as_bytes());
    }
    if path_len < after.len() {
        out.extend_from_slice("?…".as_bytes());
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(subject: &str, exit: ExitKind, text: &str) -> String {
        fingerprint(subject, exit, text).id
    }

    #[track_caller]
    fn same(a: &str, b: &str) {
        let (left, right) = (fingerprint("build", ExitKind::Code(1), a), fingerprint("build", ExitKind::Code(1), b));
        assert_eq!(left.normalized, right.normalized, "expected one fingerprint");
        assert_eq!(left.id, right.id);
    }

    #[track_caller]
    fn apart(a: &str, b: &str) {
        let (left, right) = (fingerprint("build", ExitKind::Code(1), a), fingerprint("build", ExitKind::Code(1), b));
        assert_ne!(left.id, right.id, "expected two fingerprints for:\n{}\n---\n{}", left.normalized, right.normalized);
    }

    const PY_KEYERROR_A: &str = r#"Traceback (most recent call last):
  File "/tmp/tmpk3j4h9x_/main.py", line 14, in <module>
    main()
  File "/tmp/tmpk3j4h9x_/main.py", line 10, in main
    print(load(config)["user"])
          ~~~~~~~~~~~~^^^^^^^^
  File "/home/ci/work/proj/loader.py", line 33, in load
    return cache[key]
           ~~~~~^^^^^
KeyError: 'user'
"#;

    const PY_KEYERROR_B: &str = r#"2026-12-07 03:12:44,123 INFO loading config from /home/alice/proj/config.yaml
Traceback (most recent call last):
  File "/tmp/tmpa81z0qwe/main.py", line 15, in <module>
    main()
  File "/tmp/tmpa81z0qwe/main.py", line 11, in main
    print(load(config)["user"])
          ~~~~~~~~~~~~^^^^^^^^
  File "/srv/checkouts/4f3a9c21/loader.py", line 35, in load
    return cache[key]
           ~~~~~^^^^^
KeyError: 'user'
"#;

    #[test]
    fn python_traceback_at_other_lines_paths_and_temporary_directories_is_one_failure() {
        same(PY_KEYERROR_A, PY_KEYERROR_B);
        let normalized = normalize(PY_KEYERROR_A);
        assert_eq!(
            normalized,
            "File \"<tmp>\", line <n>, in <module>\nFile \"<tmp>\", line <n>, in main\n\
             File \"…/loader.py\", line <n>, in load\nKeyError: 'user'"
        );
    }

    #[test]
    fn python_exception_type_message_and_function_keep_failures_apart() {
        apart(PY_KEYERROR_A, &PY_KEYERROR_A.replace("KeyError: 'user'", "ValueError: 'user'"));
        apart(PY_KEYERROR_A, &PY_KEYERROR_A.replace("KeyError: 'user'", "KeyError: 'group'"));
        apart(PY_KEYERROR_A, &PY_KEYERROR_A.replace("in load", "in load_cached"));
        // Another file name is another place.
        apart(PY_KEYERROR_A, &PY_KEYERROR_A.replace("loader.py", "cache.py"));
    }

    #[test]
    fn python_object_addresses_and_chained_tracebacks() {
        let a = r#"Traceback (most recent call last):
  File "/app/worker.py", line 88, in run
    self.step(job)
AttributeError: 'NoneType' object has no attribute 'id' (job <Job object at 0x7f3a9c2e1b40>)
"#;
        let b = a.replace("0x7f3a9c2e1b40", "0x7f11d0a85f10").replace("line 88", "line 91");
        same(a, &b);
        let chained = format!(
            "Traceback (most recent call last):\n  File \"/app/db.py\", line 3, in get\n    raise IOError()\nOSError\n\n\
             During handling of the above exception, another exception occurred:\n\n{a}"
        );
        same(a, &chained);
    }

    const RUSTC_E0308_A: &str = r#"   Compiling demo v0.1.0 (/home/alice/demo)
error[E0308]: mismatched types
 --> src/main.rs:4:18
  |
4 |     let x: i32 = "hello";
  |            ---   ^^^^^^^ expected `i32`, found `&str`
  |            |
  |            expected due to this

For more information about this error, try `rustc --explain E0308`.
error: could not compile `demo` (bin "demo") due to 1 previous error
"#;

    #[test]
    fn rustc_error_at_another_line_column_and_path_is_one_failure() {
        let b = RUSTC_E0308_A
            .replace("/home/alice/demo", "/builds/ci/7731/demo")
            .replace("4:18", "12:22")
            .replace("4 |", "12 |")
            .replace("due to 1 previous error", "due to 1 previous error; 3 warnings emitted");
        same(RUSTC_E0308_A, &b);
        assert_eq!(normalize(RUSTC_E0308_A), "error[E0308]: mismatched types");
    }

    #[test]
    fn rustc_error_codes_keep_failures_apart() {
        let e0425 = r#"error[E0425]: cannot find value `y` in this scope
 --> src/main.rs:4:18
  |
4 |     let x: i32 = y;
  |                  ^ not found in this scope

For more information about this error, try `rustc --explain E0425`.
error: could not compile `demo` (bin "demo") due to 1 previous error
"#;
        apart(RUSTC_E0308_A, e0425);
    }

    #[test]
    fn rust_panic_keeps_its_message_not_its_location() {
        let a = "thread 'main' panicked at src/main.rs:10:5:\nindex out of bounds: the len is 3 but the index is 5\n\
                 note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let b = a.replace("10:5", "12:9").replace("len is 3", "len is 4").replace("index is 5", "index is 17");
        same(a, &b);
        assert_eq!(
            normalize(a),
            "thread 'main' panicked at src/main.rs:<n>:<n>:\nindex out of bounds: the len is <n> but the index is <n>"
        );
        apart(a, &a.replace("index out of bounds", "called `Option::unwrap()` on a `None` value"));
    }

    #[test]
    fn curl_failures_keep_the_host_and_the_code_but_not_ports_or_addresses() {
        let a = "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n\
                 curl: (6) Could not resolve host: a.example\n";
        same(a, &a.replace("  % Total", "    % Total"));
        apart(a, &a.replace("a.example", "b.example"));
        let refused = "curl: (7) Failed to connect to 10.0.0.5 port 8080 after 3 ms: Connection refused";
        same(refused, "curl: (7) Failed to connect to 192.168.1.20 port 9090 after 12 ms: Connection refused");
        apart(refused, "curl: (6) Failed to connect to 10.0.0.5 port 8080 after 3 ms: Connection refused");
        same(
            "curl: (7) Failed to connect to ::1 port 8080 after 0 ms: Connection refused",
            "curl: (7) Failed to connect to fe80::1ff:fe23:4567:890a port 80 after 1 ms: Connection refused",
        );
        assert_eq!(normalize(refused), "curl: (7) Failed to connect to <ip> port <n> after <n> ms: Connection refused");
    }

    #[test]
    fn permission_denied_on_temporary_paths_is_one_failure() {
        same(
            "bash: line 1: /tmp/tmp.Xa81Kq/out.log: Permission denied",
            "bash: line 3: /var/folders/x2/k3j4h9x_0000gn/T/out.log: Permission denied",
        );
        same(
            "PermissionError: [Errno 13] Permission denied: '/tmp/build-1234/report.json'",
            "PermissionError: [Errno 13] Permission denied: '/tmp/build-9876/report.json'",
        );
        // An errno names the error: 13 and 28 are different failures.
        apart(
            "OSError: [Errno 13] Permission denied: '/data/out.bin'",
            "OSError: [Errno 28] Permission denied: '/data/out.bin'",
        );
    }

    #[test]
    fn absolute_paths_keep_their_file_name() {
        same(
            "cat: /home/alice/proj/input.csv: No such file or directory",
            "cat: /srv/ci/42/input.csv: No such file or directory",
        );
        apart(
            "cat: /home/alice/proj/input.csv: No such file or directory",
            "cat: /home/alice/proj/other.csv: No such file or directory",
        );
        assert_eq!(
            normalize("open C:\\Users\\bob\\AppData\\Local\\Temp\\x1\\a.txt failed and D:\\proj\\b.txt failed"),
            "open <tmp> failed and …/b.txt failed"
        );
    }

    #[test]
    fn oom_kills_are_one_resource_failure() {
        let a = "bash: line 1:  4312 Killed                  python3 train.py --epochs 10";
        let b = "bash: line 1: 98121 Killed                  python3 train.py --epochs 12";
        same(a, b);
        assert_eq!(classify(&ExitKind::Code(137), a), FailureClass::Resource);
        assert_eq!(classify(&ExitKind::Code(1), a), FailureClass::Resource);
        assert_eq!(classify(&ExitKind::Signal(9), ""), FailureClass::Resource);
        let dmesg_a = "[12345.678901] Out of memory: Killed process 4312 (python3) total-vm:1234567kB, \
                       anon-rss:987654kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:2048kB oom_score_adj:0";
        let dmesg_b = "[99.000001] Out of memory: Killed process 77 (python3) total-vm:7654321kB, \
                       anon-rss:123kB, file-rss:4kB, shmem-rss:0kB, UID:1001 pgtables:16kB oom_score_adj:0";
        same(dmesg_a, dmesg_b);
        assert_eq!(classify(&ExitKind::Signal(9), dmesg_a), FailureClass::Resource);
        assert_eq!(classify(&ExitKind::Code(1), "MemoryError"), FailureClass::Resource);
        apart(dmesg_a, &dmesg_a.replace("python3", "java"));
    }

    #[test]
    fn timestamps_uuids_hex_ids_and_pids_in_log_lines_are_one_failure() {
        let a = "2026-12-07T03:12:44.123Z worker[4312]: ERROR job 0b9e4c5a-7d1f-4c2e-9a3b-5f6e7d8c9b0a \
                 (commit 4f3a9c2) failed after 1.23s: upstream returned HTTP 503";
        let b = "2026-12-08T17:01:02+01:00 worker[77]: ERROR job 6a2f1e3d-0000-4abc-8def-112233445566 \
                 (commit a1b2c3d) failed after 301ms: upstream returned HTTP 503";
        same(a, b);
        assert_eq!(
            normalize(a),
            "<time> worker[<n>]: ERROR job <uuid> (commit <hex>) failed after <duration>: upstream returned HTTP 503"
        );
        apart(a, &a.replace("HTTP 503", "HTTP 404"));
        same(
            "Dec  7 03:12:44 host1 sshd[1234]: error: connect to 10.1.2.3 timed out",
            "Jan 12 23:59:01 host1 sshd[77]: error: connect to 10.9.9.9 timed out",
        );
        same(
            "Mon, 07 Dec 2026 03:12:44 +0000 fatal: deploy of sha 9fceb02d0ae598e95dc970b74767f19372d61af8 failed",
            "Tue, 08 Dec 2026 11:00:00 +0000 fatal: deploy of sha 1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e failed",
        );
        same("error: lost user alice@example.com", "error: lost user bob.smith+ci@corp.example.org");
        apart("npm ERR! errno -2", "npm ERR! errno -13");
    }

    #[test]
    fn urls_lose_credentials_queries_and_ids_but_keep_host_and_path() {
        let a = "Error: GET https://ci:s3cr3t@api.example.com/v1/jobs/1234?token=abc123 returned status 500";
        let b = "Error: GET https://api.example.com/v1/jobs/98?token=zzz returned status 500";
        same(a, b);
        let normalized = normalize(a);
        assert!(!normalized.contains("s3cr3t") && !normalized.contains("abc123"), "{normalized}");
        apart(a, &a.replace("/jobs/", "/runs/"));
    }

    #[test]
    fn ansi_colours_and_progress_lines_do_not_matter() {
        same(
            "\x1b[1m\x1b[31merror\x1b[0m: linker `cc` not found\n",
            "Downloading 10%\rDownloading 55%\r\nerror: linker `cc` not found\n",
        );
    }

    #[test]
    fn subject_and_class_enter_the_hash() {
        let text = "Error: something broke";
        assert_ne!(id("build", ExitKind::Code(1), text), id("test", ExitKind::Code(1), text));
        assert_eq!(id("build", ExitKind::Code(1), text), id("build", ExitKind::Code(2), text));
        assert_ne!(id("build", ExitKind::Code(1), text), id("build", ExitKind::TimedOut, text));
        assert_ne!(id("build", ExitKind::Code(1), text), id("build", ExitKind::Code(127), text));
        let print = fingerprint("phase:intake:questions listed", ExitKind::Code(1), text);
        assert!(print.id.starts_with("v1:") && print.id.len() == 19, "{}", print.id);
        assert!(print.id[3..].bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_eq!(fingerprint("s", ExitKind::Code(1), "").normalized, "");
    }

    #[test]
    fn classification_from_exit_and_text() {
        use ExitKind::*;
        use FailureClass::*;
        let cases: &[(ExitKind, &str, FailureClass)] = &[
            (TimedOut, "", Timeout),
            (Code(124), "", Timeout),
            (
                Code(1),
                "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='x', port=443): Read timed out.",
                Timeout,
            ),
            (Code(127), "", MissingCommand),
            (Code(1), "bash: line 1: terraform: command not found", MissingCommand),
            (Code(2), "/bin/sh: 1: jq: not found", MissingCommand),
            (Code(127), "/usr/bin/env: ‘python’: No such file or directory", MissingCommand),
            (DidNotStart, "No such file or directory (os error 2)", MissingCommand),
            (DidNotStart, "Permission denied (os error 13)", Permission),
            (Code(126), "", Permission),
            (Code(1), "mkdir: cannot create directory ‘/opt/app’: Permission denied", Permission),
            (Code(1), "chown: changing ownership of '/srv/x': Operation not permitted", Permission),
            (Code(6), "curl: (6) Could not resolve host: a.example", Network),
            (Code(28), "curl: (28) Operation timed out after 30001 milliseconds with 0 bytes received", Network),
            (Code(52), "curl: (52) Empty reply from server", Network),
            (Code(1), "ssh: connect to host git.example port 22: Connection timed out", Network),
            (Code(1), "fatal: unable to access 'https://github.com/o/r/': Could not resolve host: github.com", Network),
            (Code(1), "socket.gaierror: [Errno -3] Temporary failure in name resolution", Network),
            (Code(1), "OSError: [Errno 101] Network is unreachable", Network),
            (Code(137), "", Resource),
            (Code(1), "OSError: [Errno 28] No space left on device: '/var/lib/x'", Resource),
            (Code(1), "OSError: [Errno 24] Too many open files", Resource),
            (Code(1), "fork: Cannot allocate memory", Resource),
            (Code(1), "  File \"x.py\", line 1\n    def f(:\n          ^\nSyntaxError: invalid syntax", Syntax),
            (Code(2), "bash: -c: line 1: syntax error near unexpected token `)'", Syntax),
            (Code(2), "/bin/sh: 1: Syntax error: \"(\" unexpected", Syntax),
            (Code(2), "bash: -c: line 2: unexpected EOF while looking for matching `\"'", Syntax),
            (Code(1), "  File \"/a/b.py\", line 3\n    x = 1\n    ^\nIndentationError: unexpected indent", Syntax),
            (
                Code(101),
                "error: expected one of `.`, `;`, `?`, `else`, or an operator, found `let`\n --> src/main.rs:3:5",
                Syntax,
            ),
            (Code(1), PY_KEYERROR_A, Runtime),
            (Signal(11), "Segmentation fault (core dumped)", Runtime),
            (Code(1), "", Runtime),
        ];
        for (exit, text, expected) in cases {
            assert_eq!(classify(exit, text), *expected, "{exit:?} {text:?}");
            assert_eq!(fingerprint("s", *exit, text).class, *expected);
        }
    }

    #[test]
    fn a_traceback_frame_named_timeout_does_not_make_a_timeout() {
        let text = "Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in handle_timeout\n    \
                    raise KeyError('k')\nKeyError: 'k'\n";
        assert_eq!(classify(&ExitKind::Code(1), text), FailureClass::Runtime);
    }

    #[test]
    fn class_names_round_trip() {
        for class in FailureClass::ALL {
            assert_eq!(FailureClass::parse(class.as_str()), Some(class));
        }
        assert_eq!(FailureClass::MissingCommand.as_str(), "missing command");
        assert_eq!(FailureClass::parse("bogus"), None);
    }

    #[test]
    fn a_megabyte_of_output_costs_its_tail_and_the_cut_does_not_matter() {
        let noise: String = (0..40_000).map(|n| format!("progress {n} of 40000 ok\n")).collect();
        let tail = "Error: the widget exploded\n";
        let a = format!("{noise}{tail}");
        let b = format!("x{noise}{tail}");
        assert!(a.len() > 1_000_000);
        same(&a, &b);
        assert_eq!(normalize(&a), "Error: the widget exploded");
        // Without an error-looking line the last lines are kept.
        assert_eq!(normalize(&noise), "progress <n> of <n> ok");
    }

    #[test]
    fn repeated_retries_and_lines_merge() {
        same(
            "attempt 1 failed: connection reset by peer\nattempt 2 failed: connection reset by peer\n",
            "attempt 1 failed: connection reset by peer\n",
        );
    }

    #[test]
    fn normalize_is_idempotent_on_the_examples() {
        for text in [PY_KEYERROR_A, PY_KEYERROR_B, RUSTC_E0308_A] {
            let once = normalize(text);
            assert_eq!(normalize(&once), once);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn normalize_never_panics_stays_bounded_and_is_idempotent(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "Traceback (most recent call last):\n", "  File \"/tmp/x/a.py\", line 3, in f\n", "    x()\n",
                "KeyError: 'a'\n", "error[E0308]: x\n", " --> src/a.rs:1:2\n", "4 | let\n", "/", "~/", "C:\\",
                "::", "0x1f", "2026-12-07T03:12:44Z", "Dec  7 03:12:44", "10.0.0.1", "a@b.co", "https://u:p@h/x?y",
                "\x1b[31m", "\x1b]0;t\x07", "…/", "<n>", "\r", "\t", " ", "\n", "é", "panicked at a:", "12:34:56",
                "fe80::1", "Mon, 07 Dec 2026", "Error 1", "curl: (6)", "tmp.X/", "\u{0}", "\u{7f}",
            ]), 0..200),
        ) {
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            let assembled: String = pieces.concat();
            for text in [lossy.as_str(), assembled.as_str(), &format!("{assembled}{lossy}")] {
                let once = normalize(text);
                proptest::prop_assert!(once.len() <= 12 * (MAX_LINE_BYTES + 1), "{}", once.len());
                let twice = normalize(&once);
                for line in once.lines() {
                    proptest::prop_assert_eq!(normalize_line(line), line, "a normalised line changed");
                }
                proptest::prop_assert_eq!(&twice, &once, "input {:?}", text);
                let _ = classify(&ExitKind::Code(1), text);
            }
        }
    }

    #[test]
    fn seeded_random_huge_inputs_are_bounded() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..8 {
            let len = rng.usize(0..600_000);
            let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let text = String::from_utf8_lossy(&bytes);
            let once = normalize(&text);
            assert!(once.len() <= 12 * (MAX_LINE_BYTES + 1), "{}", once.len());
            assert_eq!(normalize(&once), once, "input tail {:?}", &text[text.len().saturating_sub(600)..]);
        }
    }
}
