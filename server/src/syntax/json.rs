//! Strict JSON (RFC 8259) for `.json` files.
//!
//! The tree of a `.json` file is read by the YAML reader, as JSON is YAML 1.2 flow syntax (ADR 0001),
//! and that reader is more lenient than JSON: it takes trailing commas, single quotes, unquoted keys
//! and words, and YAML's literals. This scan reads the text once, left to right with an explicit
//! stack (no recursion), and reports each such construct where it is; it goes on after each, so every
//! one is reported, because the reader reads them as meant. It also finds the comments, which the
//! reader is given blanked (see `parse_json`), so that a comment never becomes part of a value.
//! Docs: docs/adr/0005-strict-json.md.

use super::{Parse, Span, SyntaxError};

/// Reads a `.json` file: the tree as the YAML reader builds it from the text with its comments
/// blanked (offsets unchanged), and the errors of both. Never fails and never panics.
///
/// The scan's errors are constructs the reader reads as meant, so they do not make the parse
/// incomplete: the tree holds what the user wrote. Its structure error (where it stopped) is reported
/// only when the reader, which also recovers from it, found nothing wrong.
pub fn parse_json(text: &str) -> Parse {
    let scan = scan(text);
    let mut parse = if scan.comments.is_empty() {
        super::parse(text)
    } else {
        let mut blanked = text.as_bytes().to_vec();
        for comment in &scan.comments {
            for byte in &mut blanked[comment.start..comment.end] {
                if !matches!(*byte, b'\n' | b'\r') {
                    *byte = b' ';
                }
            }
        }
        // Only whole comments were blanked, and a comment starts and ends at a character boundary.
        let blanked = String::from_utf8(blanked).unwrap_or_else(|_| text.to_owned());
        super::parse(&blanked)
    };
    let reader_found_errors = !parse.errors.is_empty();
    let before = parse.errors.len();
    for error in scan.errors.into_iter().chain(scan.structure.filter(|_| !reader_found_errors)) {
        // The reader's errors are sorted: one search each keeps this linear in the errors.
        let reader = &parse.errors[..before];
        let at = reader.partition_point(|known| known.span.start < error.span.start);
        if reader.get(at).is_none_or(|known| known.span.start != error.span.start) {
            parse.errors.push(error);
        }
    }
    if parse.errors.len() > before {
        parse.errors.sort_by_key(|error| error.span);
        // A tree with errors is never patched in place (see `reparse`).
        parse.self_contained = false;
    }
    parse
}

/// What the scan found.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// Constructs that JSON does not allow and the reader reads as meant: always reported.
    pub errors: Vec<SyntaxError>,
    /// The first problem with the structure itself (a missing comma, an unclosed bracket, text after
    /// the value), where the scan stopped. The reader meets the same problem and reports it in its own
    /// words, with recovery, so this one is reported only when the reader found nothing wrong.
    pub structure: Option<SyntaxError>,
    /// Comments (`//`, `/* */`, `#`), for the reader to be given as blank space.
    pub comments: Vec<Span>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Array,
    Object,
}

/// What may come next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Value,
    Key,
    Colon,
    CommaOrClose,
    /// Nothing but white space and comments: the root value is complete.
    End,
}

/// Scans `text` (which may start with a byte order mark) as strict JSON. Linear in the text.
pub(super) fn scan(text: &str) -> Scan {
    let mut scanner = Scanner { text, bytes: text.as_bytes(), scan: Scan::default() };
    scanner.run();
    scanner.scan
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    scan: Scan,
}

impl Scanner<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.scan.errors.push(SyntaxError { message: message.into(), span });
    }

    fn structure(&mut self, span: Span, message: impl Into<String>) {
        self.scan.structure = Some(SyntaxError { message: message.into(), span });
    }

    /// The span of the character at `at` (empty at the end of the text).
    fn char_at(&self, at: usize) -> Span {
        let length = self.text[at..].chars().next().map_or(0, char::len_utf8);
        Span::new(at, at + length)
    }

    fn run(&mut self) {
        let bytes = self.bytes;
        let mut at = if self.text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
        let mut stack: Vec<(Container, usize)> = Vec::new();
        let mut expect = Expect::Value;
        // The `,` just read, and whether a bracket was just opened: they decide what a closing
        // bracket means.
        let mut comma: Option<usize> = None;
        let mut opened = false;
        let mut seen_value = false;
        while at < bytes.len() {
            let byte = bytes[at];
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' => {
                    at += 1;
                    continue;
                }
                b'/' if matches!(bytes.get(at + 1), Some(b'/' | b'*')) => {
                    at = self.comment(at);
                    continue;
                }
                b'#' => {
                    at = self.comment(at);
                    continue;
                }
                _ => {}
            }
            let after_comma = comma.take();
            let just_opened = std::mem::replace(&mut opened, false);
            let top = stack.last().map(|(container, _)| *container);
            match byte {
                b'{' | b'[' if expect == Expect::Value => {
                    stack.push((if byte == b'{' { Container::Object } else { Container::Array }, at));
                    expect = if byte == b'{' { Expect::Key } else { Expect::Value };
                    opened = true;
                    at += 1;
                    continue;
                }
                b'}' | b']' => {
                    let (wanted, waiting) =
                        if byte == b'}' { (Container::Object, Expect::Key) } else { (Container::Array, Expect::Value) };
                    if top != Some(wanted) || !(expect == Expect::CommaOrClose || expect == waiting) {
                        let close = byte as char;
                        self.structure(Span::new(at, at + 1), format!("unexpected `{close}`"));
                        return;
                    }
                    if expect == waiting && !just_opened {
                        match after_comma {
                            Some(comma) => self.error(
                                Span::new(comma, comma + 1),
                                "a trailing comma is not allowed in JSON: remove it",
                            ),
                            None => {
                                self.structure(Span::new(at, at + 1), "a value is missing here");
                                return;
                            }
                        }
                    }
                    stack.pop();
                    expect = if stack.is_empty() { Expect::End } else { Expect::CommaOrClose };
                    at += 1;
                    continue;
                }
                b',' if expect == Expect::CommaOrClose => {
                    expect = if top == Some(Container::Object) { Expect::Key } else { Expect::Value };
                    comma = Some(at);
                    at += 1;
                    continue;
                }
                b':' if expect == Expect::Colon => {
                    expect = Expect::Value;
                    at += 1;
                    continue;
                }
                _ => {}
            }
            // A string, a number, a literal or a word.
            let start = at;
            let is_key = expect == Expect::Key;
            if !matches!(expect, Expect::Value | Expect::Key) {
                let span = self.char_at(start);
                let message = match expect {
                    Expect::Colon => "expected `:` after the key".to_owned(),
                    Expect::End => "unexpected text after the JSON value".to_owned(),
                    _ if top == Some(Container::Object) => "expected `,` or `}`".to_owned(),
                    _ => "expected `,` or `]`".to_owned(),
                };
                self.structure(span, message);
                return;
            }
            match byte {
                b'"' => match self.double_quoted(start) {
                    Some(end) => at = end,
                    None => return,
                },
                b'\'' => match self.single_quoted(start) {
                    Some(end) => {
                        self.error(Span::new(start, end), "JSON strings are written in double quotes");
                        at = end;
                    }
                    None => return,
                },
                _ => {
                    let end = self.word_end(start, is_key);
                    if end == start {
                        self.structure(self.char_at(start), if is_key { "expected a key" } else { "expected a value" });
                        return;
                    }
                    let word = &self.text[start..end];
                    let span = Span::new(start, end);
                    if is_key {
                        self.error(span, format!("JSON keys are strings in double quotes: `\"{word}\"`"));
                    } else if stack.is_empty() && !seen_value && !is_json_number(word) && !is_literal(word) {
                        // Not JSON at all (YAML, most likely): one error says it, rather than one per word.
                        self.error(
                            span,
                            "this is not JSON: a `.json` file holds one JSON value, such as an object in `{}`",
                        );
                        return;
                    } else if word.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') {
                        if !is_json_number(word) {
                            self.error(span, format!("`{word}` is not a JSON number"));
                        }
                    } else if !is_literal(word) {
                        self.error(
                            span,
                            format!(
                                "`{word}` is not a JSON value: strings are written in double quotes, and the literals are `true`, `false` and `null`"
                            ),
                        );
                    }
                    at = end;
                }
            }
            seen_value = true;
            expect = if is_key {
                Expect::Colon
            } else if stack.is_empty() {
                Expect::End
            } else {
                Expect::CommaOrClose
            };
        }
        if let Some(&(container, open)) = stack.last() {
            let bracket = if container == Container::Object { '{' } else { '[' };
            self.structure(Span::new(open, open + 1), format!("`{bracket}` is not closed"));
        }
    }

    /// Reads a comment starting at `start` and returns where it ends.
    fn comment(&mut self, start: usize) -> usize {
        let end = if self.bytes[start..].starts_with(b"/*") {
            self.text[start + 2..].find("*/").map_or(self.text.len(), |end| start + 2 + end + 2)
        } else {
            self.text[start..].find(['\n', '\r']).map_or(self.text.len(), |end| start + end)
        };
        let span = Span::new(start, end);
        self.error(span, "comments are not allowed in JSON");
        self.scan.comments.push(span);
        end
    }

    /// Reads a double-quoted string from its opening quote; returns the end after the closing quote,
    /// or `None` (with the structure error) when it is not closed.
    fn double_quoted(&mut self, start: usize) -> Option<usize> {
        let bytes = self.bytes;
        let mut at = start + 1;
        while at < bytes.len() {
            match bytes[at] {
                b'"' => return Some(at + 1),
                b'\\' if matches!(bytes.get(at + 1), Some(b'\n' | b'\r')) => {
                    // YAML's escaped line break; the error stays on the backslash, off the line break.
                    self.error(Span::new(at, at + 1), "a `\\` before a line break is not a JSON escape");
                    at += if bytes[at + 1..].starts_with(b"\r\n") { 3 } else { 2 };
                }
                b'\\' => {
                    let escape = self.char_at(at + 1);
                    let valid = match bytes.get(at + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => true,
                        Some(b'u') => {
                            bytes.get(at + 2..at + 6).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                        }
                        _ => false,
                    };
                    if !valid {
                        let shown = &self.text[at..escape.end];
                        self.error(Span::new(at, escape.end), format!("`{shown}` is not a JSON escape"));
                    }
                    at = escape.end.max(at + 1);
                }
                control if control < 0x20 => {
                    let name = match control {
                        b'\n' | b'\r' => "a line break",
                        b'\t' => "a tab",
                        _ => "a control character",
                    };
                    // A line break is pointed at where it begins, as the reader does: a range must not
                    // end between the two characters of a `\r\n`.
                    let end = if matches!(control, b'\n' | b'\r') { at } else { at + 1 };
                    self.error(
                        Span::new(at, end),
                        format!("{name} in a JSON string must be written as an escape (`\\n`, `\\t`, `\\u0000`)"),
                    );
                    at += if bytes[at..].starts_with(b"\r\n") { 2 } else { 1 };
                }
                _ => at += 1,
            }
        }
        self.structure(Span::new(start, start + 1), "this string is not closed");
        None
    }

    /// Reads a single-quoted string (YAML's, where `''` is a quote) from its opening quote.
    fn single_quoted(&mut self, start: usize) -> Option<usize> {
        let mut at = start + 1;
        while let Some(quote) = self.text[at..].find('\'') {
            at += quote + 1;
            if self.bytes.get(at) != Some(&b'\'') {
                return Some(at);
            }
            at += 1;
        }
        self.structure(Span::new(start, start + 1), "this string is not closed");
        None
    }

    /// Where a word (an unquoted key, number, literal or other plain text) that starts at `start`
    /// ends: where the reader's plain scalar would, at a bracket, a comma, a line break, a comment or
    /// (for a key, or before white space) a colon; without trailing blanks.
    fn word_end(&self, start: usize, is_key: bool) -> usize {
        let bytes = self.bytes;
        let mut at = start;
        while at < bytes.len() {
            match bytes[at] {
                b',' | b'[' | b']' | b'{' | b'}' | b'\n' | b'\r' => break,
                b':' if is_key || matches!(bytes.get(at + 1), None | Some(b' ' | b'\t' | b'\n' | b'\r')) => break,
                b'#' if at > start && matches!(bytes[at - 1], b' ' | b'\t') => break,
                b'"' if is_key => break,
                _ => at += 1,
            }
        }
        let word = self.text[start..at].trim_end_matches([' ', '\t']);
        // A number or literal followed by more is two tokens, a comma missing between them.
        match word.split_once([' ', '\t']) {
            Some((first, _)) if is_json_number(first) || is_literal(first) => start + first.len(),
            _ => start + word.len(),
        }
    }
}

fn is_literal(word: &str) -> bool {
    matches!(word, "true" | "false" | "null")
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_json_number(word: &str) -> bool {
    let bytes = word.as_bytes();
    let mut at = usize::from(bytes.first() == Some(&b'-'));
    let digits = |at: &mut usize| {
        let start = *at;
        while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at - start
    };
    match bytes.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => {
            digits(&mut at);
        }
        _ => return false,
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        if digits(&mut at) == 0 {
            return false;
        }
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if digits(&mut at) == 0 {
            return false;
        }
    }
    at == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<(&str, Option<&str>)> {
        let scan = scan(text);
        let mut found: Vec<(&str, Option<&str>)> =
            scan.errors.iter().map(|error| (&text[error.span.start..error.span.end], None)).collect();
        if let Some(error) = &scan.structure {
            found.push((&text[error.span.start..error.span.end], Some("structure")));
        }
        found
    }

    #[test]
    fn valid_json_has_no_errors() {
        let text =
            "\u{feff}{\"a\": [1, -0.5e+3, 0, true, false, null, {}, [], \"\\u00e9\\n\\\"🦀\"], \"b\": {\"c\": \"\"}}\n";
        assert_eq!(spans(text), []);
        assert_eq!(spans("  42 "), []);
        assert_eq!(spans(""), []);
    }

    #[test]
    fn each_lenient_construct_is_reported_at_its_exact_place() {
        let text = "{ // note\n  'a': [1, 2,],\n  b: yes, \"c\": 01, /* x */ \"d\": {\"e\": 1,},\n}";
        assert_eq!(
            spans(text),
            [
                ("// note", None),
                ("'a'", None),
                (",", None),
                ("b", None),
                ("yes", None),
                ("01", None),
                ("/* x */", None),
                (",", None),
                (",", None),
            ]
        );
        let scan = scan(text);
        let commas: Vec<usize> =
            scan.errors.iter().filter(|e| &text[e.span.start..e.span.end] == ",").map(|e| e.span.start).collect();
        assert_eq!(commas, [text.find(",]").unwrap(), text.find(",}").unwrap(), text.rfind(",\n}").unwrap()]);
        assert_eq!(scan.comments.len(), 2);
    }

    #[test]
    fn strings_must_escape_control_characters_and_use_json_escapes() {
        assert_eq!(spans("[\"a\tb\", \"\\x\", \"\\u12\"]"), [("\t", None), ("\\x", None), ("\\u", None)]);
        // A line break in a string is pointed at, never split.
        let text = "[\"a\r\nb\"]";
        let errors = scan(text).errors;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].span, Span::empty(text.find('\r').unwrap()));
        let text = "[\"a\\\r\nb\"]";
        let errors = scan(text).errors;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].span, Span::new(text.find('\\').unwrap(), text.find('\r').unwrap()));
    }

    #[test]
    fn structure_errors_stop_the_scan() {
        assert_eq!(spans("{\"a\": 1 \"b\": 2}"), [("\"", Some("structure"))]);
        assert_eq!(spans("[1, 2"), [("[", Some("structure"))]);
        assert_eq!(spans("{} {}"), [("{", Some("structure"))]);
        assert_eq!(spans("[1,,2]"), [(",", Some("structure"))]);
        assert_eq!(spans("[\"open"), [("\"", Some("structure"))]);
    }

    #[test]
    fn yaml_in_a_json_file_is_one_error() {
        assert_eq!(spans("plan_id: x\nsteps:\n  - id: a\n"), [("plan_id", None)]);
    }

    #[test]
    fn deep_nesting_is_scanned_without_recursion() {
        let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(spans(&text), []);
    }

    #[test]
    fn numbers() {
        for good in ["0", "-0", "12", "1.5", "1e9", "1E-2", "-3.25e+10"] {
            assert!(is_json_number(good), "{good}");
        }
        for bad in ["01", "+1", "1.", ".5", "1e", "0x1f", "-", "1.5.2", "--1"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
