//! The YAML/JSON reader: saphyr-parser events → [`Node`] tree, with error recovery.
//!
//! saphyr-parser stops at the first error. To keep analysing what follows, the reader blanks the line
//! the error was reported on (keeping every byte offset intact) and parses again, a few times at most.
//! Everything that parsed is kept; whatever was blanked is reported as a syntax error, and
//! [`Parse::complete`] is false so that checks needing the whole file hold back.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle, ScanError};

use super::{Node, NodeKind, ScalarStyle, Span};

/// Nesting deeper than this is refused: no real workflow comes close, and it keeps every walk over
/// the tree (including `Drop`) far from the stack limit.
pub const MAX_DEPTH: usize = 200;
/// Anchors and aliases copy values; the copies of one parse may hold this many nodes per byte of the
/// text, and at least [`MIN_COPIED_NODES`] ("billion laughs", and anchors nested in anchors, would
/// otherwise make a small text cost far more than its size).
const COPIED_NODES_PER_BYTE: f64 = 0.5;
const MIN_COPIED_NODES: usize = 50_000;
/// How many times the reader blanks an erroneous line and parses again.
const MAX_RECOVERIES: usize = 6;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

/// The result of reading a text: the tree that could be built and the errors met on the way.
#[derive(Clone, Debug)]
pub struct Parse {
    /// The root value; `None` for an empty document or when nothing could be read.
    pub root: Option<Node>,
    pub errors: Vec<SyntaxError>,
    /// False when some of the text could not be read into the tree, so a name that is missing from
    /// the tree may still be defined in the part that was lost.
    pub complete: bool,
    /// The parts of the text that could not be read into the tree (lines set aside by recovery, and
    /// what follows the place where reading stopped), sorted. A value next to one of them may have
    /// lost some of its content there: checks hold back from what only that loss would explain (see
    /// [`Parse::lost_between`]). Empty when `complete`.
    pub lost: Vec<Span>,
    /// True when every value in the tree comes from its own place in the text: no errors, anchors,
    /// aliases or merge keys. Only such a tree may have a part of it reparsed alone (see `reparse`).
    pub(crate) self_contained: bool,
    /// True when some value in the tree was reached through an alias (`*name`), so it sits at its
    /// anchor's place in the text rather than its own.
    pub(crate) aliases: bool,
}

impl Parse {
    /// True when some text between `start` and `end` was lost: a value that begins at `start`, and
    /// whose next sibling (or its parent's) begins at `end`, may have lost content there.
    pub fn lost_between(&self, start: usize, end: usize) -> bool {
        lost_between(&self.lost, start, end)
    }
}

/// [`Parse::lost_between`] over a parse's `lost` spans.
pub fn lost_between(lost: &[Span], start: usize, end: usize) -> bool {
    let first_after = lost.partition_point(|span| span.end <= start);
    lost.get(first_after).is_some_and(|span| span.start < end.max(start + 1))
}

/// Reads YAML (or JSON, which the same reader accepts). Never fails and never panics.
///
/// A large file whose bulk is one top-level list (the stages of a workflow) is read on two threads
/// (see `split`); the result is the same.
pub fn parse(text: &str) -> Parse {
    if text.len() >= super::split::MIN_BYTES {
        if let Some(parse) = super::split::parse_in_two(text) {
            return parse;
        }
    }
    parse_whole(text)
}

/// Reads the whole text on this thread.
pub(super) fn parse_whole(text: &str) -> Parse {
    let bom = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    let body = &text[bom..];
    let mut errors = Vec::new();
    let mut scratch: Option<String> = None;
    let mut blanked_lines: Vec<usize> = Vec::new();
    let mut closed = false;
    // Where reading stopped for good, when the rest of the text could not be read.
    let mut stopped: Option<usize> = None;
    loop {
        let source = scratch.as_deref().unwrap_or(body);
        let mut attempt = read_once(source);
        let Some(error) = attempt.fatal.take() else {
            let mut errors_out = errors;
            errors_out.extend(attempt.soft_errors);
            let complete = blanked_lines.is_empty() && !closed;
            let self_contained = complete && errors_out.is_empty() && attempt.self_contained;
            let lost = lost_spans(body, &blanked_lines, stopped);
            let mut parse = finish(attempt.root, errors_out, lost, bom, closed.then_some(body.len()));
            parse.self_contained = self_contained;
            parse.aliases = attempt.aliases;
            return parse;
        };
        if let (Some(closers), false) = (&attempt.closers, closed) {
            errors.push(SyntaxError { message: error.message, span: error.span });
            // What comes after the place where reading stopped is read again with closers; it is
            // what a half-typed collection holds, and may lack what the user has yet to type.
            stopped = Some(error.read_to);
            let mut owned = scratch.take().unwrap_or_else(|| body.to_owned());
            owned.push_str(closers);
            scratch = Some(owned);
            closed = true;
            continue;
        }
        // The same position as an earlier error, or too many tries: keep what this attempt built.
        let line = line_start(source, error.recover_from);
        let give_up = blanked_lines.len() >= MAX_RECOVERIES || blanked_lines.contains(&line) || error.unrecoverable;
        if errors.iter().all(|known: &SyntaxError| known.span != error.span) {
            errors.push(SyntaxError { message: error.message, span: error.span });
        }
        if give_up {
            let mut errors_out = errors;
            errors_out.extend(attempt.soft_errors);
            let stopped = Some(stopped.map_or(error.read_to, |earlier| earlier.min(error.read_to)));
            let lost = lost_spans(body, &blanked_lines, stopped);
            let mut parse = finish(attempt.root, errors_out, lost, bom, closed.then_some(body.len()));
            parse.aliases = attempt.aliases;
            return parse;
        }
        blanked_lines.push(line);
        let mut owned = scratch.take().unwrap_or_else(|| body.to_owned());
        blank_line(&mut owned, line);
        scratch = Some(owned);
    }
}

/// The lines set aside (each from its start to its end) and what follows `stopped`, sorted and merged.
fn lost_spans(body: &str, blanked_lines: &[usize], stopped: Option<usize>) -> Vec<Span> {
    let mut lost: Vec<Span> = blanked_lines
        .iter()
        .map(|&start| start.min(body.len()))
        .map(|start| Span::new(start, body[start..].find(['\n', '\r']).map_or(body.len(), |end| start + end)))
        .chain(stopped.map(|start| Span::new(start.min(body.len()), body.len())))
        .collect();
    lost.sort();
    lost.dedup_by(|later, earlier| {
        let overlaps = later.start <= earlier.end;
        if overlaps {
            earlier.end = earlier.end.max(later.end);
        }
        overlaps
    });
    lost
}

/// Builds the parse; it is complete when nothing was lost.
fn finish(
    root: Option<Node>,
    mut errors: Vec<SyntaxError>,
    mut lost: Vec<Span>,
    bom: usize,
    clamp: Option<usize>,
) -> Parse {
    let complete = lost.is_empty();
    let mut root = root;
    // Closers appended for recovery are not the user's text: nothing may point past its end.
    if let Some(length) = clamp {
        if let Some(root) = root.as_mut() {
            clamp_spans(root, length);
        }
        for error in &mut errors {
            error.span = Span::new(error.span.start.min(length), error.span.end.min(length));
        }
    }
    if bom > 0 {
        if let Some(root) = root.as_mut() {
            shift_spans(root, bom);
        }
        for error in &mut errors {
            error.span = Span::new(error.span.start + bom, error.span.end + bom);
        }
        for span in &mut lost {
            *span = Span::new(span.start + bom, span.end + bom);
        }
    }
    errors.sort_by_key(|error| error.span);
    Parse { root, errors, complete, lost, self_contained: false, aliases: false }
}

fn clamp_spans(root: &mut Node, limit: usize) {
    map_spans(root, |span| Span::new(span.start.min(limit), span.end.min(limit)));
}

fn shift_spans(root: &mut Node, by: usize) {
    map_spans(root, |span| Span::new(span.start + by, span.end + by));
}

/// Rewrites every span of a tree, iteratively so deep trees cannot overflow the stack.
pub(super) fn map_spans(root: &mut Node, change: impl Fn(Span) -> Span) {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        node.span = change(node.span);
        match &mut node.kind {
            NodeKind::Sequence(items) => stack.extend(items.iter_mut()),
            NodeKind::Mapping(entries) => {
                for (key, value) in entries.iter_mut() {
                    stack.push(key);
                    stack.push(value);
                }
            }
            _ => {}
        }
    }
}

fn line_start(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].rfind('\n').map_or(0, |newline| newline + 1)
}

/// Replaces the line that starts at `start` with spaces, so every other offset stays valid. A list
/// item's `- ` stays: the keys on the lines below still belong to that item, not to the one before.
fn blank_line(text: &mut String, start: usize) {
    let end = text[start..].find(['\n', '\r']).map_or(text.len(), |end| start + end);
    let line = &text[start..end];
    let mut keep = line.len() - line.trim_start_matches(' ').len();
    while line[keep..].starts_with("- ") || &line[keep..] == "-" {
        keep += 1;
        keep += line[keep..].len() - line[keep..].trim_start_matches(' ').len();
    }
    if keep == line.len() && keep > 0 && line.trim() == "-" {
        keep = 0; // A line that is only a dash is the error itself.
    }
    // One space per byte, so every offset after the line stays where it was.
    let blank = format!("{}{}", &line[..keep], " ".repeat(end - start - keep));
    text.replace_range(start..end, &blank);
}

/// The end of the character that starts at `offset` (or `offset` at the end of the text).
fn char_end(text: &str, offset: usize) -> usize {
    text.get(offset..).and_then(|rest| rest.chars().next()).map_or(offset.min(text.len()), |c| offset + c.len_utf8())
}

struct FatalError {
    message: String,
    span: Span,
    /// Where recovery blanks a line: the error itself, or the opening bracket of the flow collection
    /// it stands in, which is almost always the culprit of an error inside one.
    recover_from: usize,
    /// True when blanking a line cannot help (too deep, too large).
    unrecoverable: bool,
    /// Where reading stopped: the tree holds what comes before.
    read_to: usize,
}

struct Attempt {
    root: Option<Node>,
    fatal: Option<FatalError>,
    soft_errors: Vec<SyntaxError>,
    /// When the text ended inside open `[`/`{` (and perhaps a string), what would close them: a
    /// half-typed JSON file is read as if its brackets were closed.
    closers: Option<String>,
    /// No anchors, aliases or merge keys were met.
    self_contained: bool,
    /// An alias was met.
    aliases: bool,
}

/// Reads `source` once. Lines that saphyr may read as directives are first made ASCII (see
/// [`DirectiveLines`]); a line that turns out to be the content of a scalar is read again as written.
fn read_once(source: &str) -> Attempt {
    let mut directive_lines = DirectiveLines::find(source);
    loop {
        let fed = directive_lines.rewrite(source);
        let attempt = read_once_as(source, fed.as_deref().unwrap_or(source), &directive_lines);
        match attempt.1 {
            Some(in_scalars) if !in_scalars.is_empty() => directive_lines.keep_as_written(&in_scalars),
            _ => return attempt.0,
        }
    }
}

/// Lines that start with `%` (a directive, when saphyr meets one at the start of a line outside a
/// scalar) and hold non-ASCII text.
///
/// saphyr counts a directive's name and parameters in bytes and every other character as one, so
/// every position after such a directive would be shifted by its extra bytes. Invariant: the text
/// saphyr reads has each non-ASCII character of these lines replaced by as many `^` as it has
/// bytes, so its characters are its bytes there and every byte offset is the user's. `^` is, like
/// those characters, a plain character with no meaning in a directive, a tag or a scalar.
struct DirectiveLines {
    /// Byte ranges of the lines, terminators excluded, in order.
    lines: Vec<std::ops::Range<usize>>,
}

impl DirectiveLines {
    fn find(source: &str) -> DirectiveLines {
        let mut lines = Vec::new();
        if source.is_ascii() {
            return DirectiveLines { lines };
        }
        let mut start = 0;
        while start <= source.len() {
            let end = source[start..].find(['\n', '\r']).map_or(source.len(), |end| start + end);
            let line = &source[start..end];
            if line.trim_start_matches('\u{feff}').starts_with('%') && !line.is_ascii() {
                lines.push(start..end);
            }
            start = end + 1;
        }
        DirectiveLines { lines }
    }

    /// The text saphyr reads, or `None` when it is `source` itself.
    fn rewrite(&self, source: &str) -> Option<String> {
        if self.lines.is_empty() {
            return None;
        }
        let mut fed = source.to_owned();
        for line in &self.lines {
            let ascii: String = source[line.clone()]
                .chars()
                .map(|c| if c.is_ascii() || c == '\u{feff}' { c.to_string() } else { "^".repeat(c.len_utf8()) })
                .collect();
            fed.replace_range(line.clone(), &ascii);
        }
        Some(fed)
    }

    /// The index of a line that holds some of a span's text, if any (an empty span holds none).
    fn overlapping(&self, span: Span) -> Option<usize> {
        self.lines.iter().position(|line| span.start < span.end && span.start < line.end && line.start < span.end)
    }

    fn keep_as_written(&mut self, in_scalars: &[usize]) {
        let mut index = 0;
        self.lines.retain(|_| {
            index += 1;
            !in_scalars.contains(&(index - 1))
        });
    }
}

/// Reads `fed` (`source` with its directive lines made ASCII) into a tree of `source`. Also returns,
/// when some lines were rewritten, those found inside a scalar.
fn read_once_as(source: &str, fed: &str, directive_lines: &DirectiveLines) -> (Attempt, Option<Vec<usize>>) {
    let mut builder = TreeBuilder::new(source, fed);
    let mut parser = Parser::new_from_str(fed);
    let mut in_scalars = Vec::new();
    let mut fatal = None;
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        match next {
            Ok((event, span)) => {
                let span = builder.offsets.span(span);
                if let Event::DocumentStart(_) = event {
                    documents += 1;
                    if documents > 1 {
                        builder.soft_errors.push(SyntaxError {
                            message: "a file holds one document; this second one is ignored".into(),
                            span: Span::new(
                                span.start,
                                if source[span.start..].starts_with("---") {
                                    span.start + 3
                                } else {
                                    char_end(source, span.start)
                                },
                            ),
                        });
                        break;
                    }
                    continue;
                }
                if let Event::Scalar(..) = event {
                    if let Some(line) = directive_lines.overlapping(span) {
                        in_scalars.push(line);
                    }
                }
                if let Err(error) = builder.event(event, span) {
                    fatal = Some(error);
                    break;
                }
            }
            Err(error) => {
                fatal = Some(scan_error(&mut builder.offsets, &error, source));
                break;
            }
        }
    }
    let closers = fatal.as_ref().and_then(|_| json_closers(source));
    // What was read ends where the parser stopped, even when the error is then pointed at an
    // earlier bracket.
    let end = fatal.as_ref().map_or(source.len(), |error| error.span.start);
    if let Some(error) = fatal.as_mut() {
        error.read_to = end;
        if let Some(open) = builder.outermost_flow_start() {
            error.recover_from = open;
            // An error on a later line than an open `[` or `{` is nearly always that bracket left
            // unclosed while typing: point at the bracket, and say where the parser gave up.
            if line_start(source, open) != line_start(source, error.span.start) {
                let bracket = &source[open..open + 1];
                let line = source[..error.span.start].matches('\n').count() + 1;
                error.message = format!(
                    "`{bracket}` is not closed, or what follows it is not valid ({} at line {line})",
                    error.message
                );
                error.span = Span::new(open, open + 1);
            }
        }
    }
    let aliases = builder.alias_nodes > 0;
    let self_contained = builder.anchors.is_empty() && !aliases && !builder.merged;
    let (root, soft_errors) = builder.close_all(end);
    let rewritten = !directive_lines.lines.is_empty();
    (Attempt { root, fatal, soft_errors, closers, self_contained, aliases }, rewritten.then_some(in_scalars))
}

fn scan_error(offsets: &mut OffsetMapper, error: &ScanError, source: &str) -> FatalError {
    let marker = error.marker();
    let start = offsets.byte(marker.index()).min(source.len());
    // Point at one character, or at the end of the line when the error is at a line break.
    let end =
        source[start..].chars().next().filter(|c| *c != '\n' && *c != '\r').map_or(start, |c| start + c.len_utf8());
    let info = error.info();
    if info.contains("recursion limit") {
        let span = Span::new(start, end);
        return FatalError {
            message: "values are nested too deeply".into(),
            span,
            recover_from: start,
            unrecoverable: true,
            read_to: 0,
        };
    }
    if info.contains("tab") {
        // saphyr reports a tab where the token before it began; the user wants the tab's own line.
        if let Some(tab) = first_indentation_tab(source, start) {
            let message = "tab in indentation: indent with spaces, YAML does not allow tabs here".to_owned();
            return FatalError {
                message,
                span: Span::new(tab, tab + 1),
                recover_from: tab,
                unrecoverable: false,
                read_to: 0,
            };
        }
    }
    // "expect ':'" is reported on the lines after a key typed without its colon: that key's line is
    // the one to set aside.
    if info.contains("simple key") || info.contains("expected ':'") {
        if let Some(line) = previous_content_line(source, start) {
            let line_end = source[line..].find(['\n', '\r']).map_or(source.len(), |e| line + e);
            let text = &source[line..line_end];
            let content_start = line + (text.len() - text.trim_start().len());
            let content = text.trim();
            if !content.contains(':') {
                let span = Span::new(content_start, content_start + content.len());
                let message = format!("`{content}` needs a `:` after it to be a key");
                return FatalError { message, span, recover_from: line, unrecoverable: false, read_to: 0 };
            }
        }
    }
    FatalError {
        message: info.to_owned(),
        span: Span::new(start, end),
        recover_from: start,
        unrecoverable: false,
        read_to: 0,
    }
}

/// For a JSON-style text (it starts with `{` or `[`) that ends inside open brackets or a string,
/// what would close them. Block YAML is left alone: a `[` left open there is nearly always a typo on
/// one line, which line recovery handles better than closing it at the end of the file.
fn json_closers(source: &str) -> Option<String> {
    if !source.trim_start().starts_with(['{', '[']) {
        return None;
    }
    let mut open = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for byte in source.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' => open.push(']'),
            b'{' => open.push('}'),
            b']' | b'}' => {
                open.pop();
            }
            _ => {}
        }
    }
    if open.is_empty() && !in_string {
        return None;
    }
    let mut closers = String::new();
    if in_string {
        closers.push('"');
    }
    closers.extend(open.iter().rev());
    Some(closers)
}

/// The start of the nearest line before the line of `offset` that has something besides blanks.
fn previous_content_line(source: &str, offset: usize) -> Option<usize> {
    let mut end = line_start(source, offset).checked_sub(1)?;
    loop {
        let start = line_start(source, end);
        if !source[start..end].trim().is_empty() && !source[start..end].trim_start().starts_with('#') {
            return Some(start);
        }
        end = start.checked_sub(1)?;
    }
}

/// The first tab in the leading white space of a line at or after the line of `from`.
fn first_indentation_tab(source: &str, from: usize) -> Option<usize> {
    let mut line = line_start(source, from);
    while line < source.len() {
        let indentation = source[line..].bytes().take_while(|b| *b == b' ' || *b == b'\t').count();
        if let Some(tab) = source[line..line + indentation].find('\t') {
            return Some(line + tab);
        }
        line = match source[line..].find('\n') {
            Some(newline) => line + newline + 1,
            None => return None,
        };
    }
    None
}

/// Converts saphyr's character indices to byte offsets. Events arrive almost in order, so a cursor
/// that walks from the last answer makes the whole conversion linear in the size of the text.
struct OffsetMapper<'a> {
    text: &'a str,
    ascii: bool,
    char_index: usize,
    byte_index: usize,
}

impl<'a> OffsetMapper<'a> {
    fn new(text: &'a str) -> Self {
        OffsetMapper { text, ascii: text.is_ascii(), char_index: 0, byte_index: 0 }
    }

    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        while self.char_index < char_index {
            match self.text[self.byte_index..].chars().next() {
                Some(c) => {
                    self.byte_index += c.len_utf8();
                    self.char_index += 1;
                }
                None => break,
            }
        }
        while self.char_index > char_index {
            match self.text[..self.byte_index].chars().next_back() {
                Some(c) => {
                    self.byte_index -= c.len_utf8();
                    self.char_index -= 1;
                }
                None => break,
            }
        }
        self.byte_index
    }

    fn span(&mut self, span: saphyr_parser::Span) -> Span {
        let start = self.byte(span.start.index());
        let end = self.byte(span.end.index());
        Span::new(start.min(end), end.max(start))
    }
}

enum Frame {
    Sequence { start: usize, anchor: usize, items: Vec<Node> },
    Mapping { start: usize, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node>, keys: KeyIndex },
}

/// The keys of a mapping being built, for the duplicate check.
///
/// Invariant: checking a mapping of n keys for duplicates costs O(n): small mappings (nearly all of
/// them) are scanned without allocating, and a mapping that grows past [`KeyIndex::SCAN`] keys gets
/// a hash set of its keys (a megabyte-long flow mapping typed or pasted into a file has 100,000).
#[derive(Default)]
struct KeyIndex(Option<foldhash::HashSet<(bool, String)>>);

impl KeyIndex {
    const SCAN: usize = 32;

    /// The identity of a key: strings and other scalars with the same text are different keys.
    fn identity(key: &Node) -> (bool, String) {
        match key.as_str() {
            Some(text) => (true, text.to_owned()),
            None => (false, key.key_text()),
        }
    }

    /// Whether `key` is among `entries` (the mapping's keys so far); if not, it is remembered.
    fn contains_or_insert(&mut self, entries: &[(Node, Node)], key: &Node) -> bool {
        if self.0.is_none() && entries.len() < Self::SCAN {
            return entries.iter().any(|(existing, _)| same_key(existing, key));
        }
        let keys = self.0.get_or_insert_with(|| entries.iter().map(|(existing, _)| Self::identity(existing)).collect());
        !keys.insert(Self::identity(key))
    }
}

struct TreeBuilder<'a> {
    source: &'a str,
    offsets: OffsetMapper<'a>,
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Anchored values, or `None` for one not kept because copying it would exceed the budget.
    anchors: HashMap<usize, Option<Node>>,
    alias_nodes: usize,
    /// Nodes copied for anchors and aliases so far, and how many may be.
    copied_nodes: usize,
    copy_budget: usize,
    /// A merge key (`<<`) was applied: entries no longer follow the text.
    merged: bool,
    soft_errors: Vec<SyntaxError>,
}

impl<'a> TreeBuilder<'a> {
    /// A builder of the tree of `source` from saphyr's reading of `fed`, which has the same bytes
    /// where they matter (see [`DirectiveLines`]).
    fn new(source: &'a str, fed: &'a str) -> Self {
        TreeBuilder {
            source,
            offsets: OffsetMapper::new(fed),
            stack: Vec::new(),
            root: None,
            anchors: HashMap::new(),
            alias_nodes: 0,
            copied_nodes: 0,
            copy_budget: ((source.len() as f64 * COPIED_NODES_PER_BYTE) as usize).max(MIN_COPIED_NODES),
            merged: false,
            soft_errors: Vec::new(),
        }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), FatalError> {
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let node = Node { kind: scalar(&value, style, tag.as_deref()), span: self.scalar_span(span, style) };
                self.remember(anchor, &node);
                self.push_value(node);
            }
            Event::SequenceStart(anchor, _) => {
                self.check_depth(span)?;
                self.stack.push(Frame::Sequence { start: span.start, anchor, items: Vec::new() });
            }
            Event::MappingStart(anchor, _) => {
                self.check_depth(span)?;
                self.stack.push(Frame::Mapping {
                    start: span.start,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                    keys: KeyIndex::default(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let node = self.close(frame, span.end);
                    self.push_value(node);
                }
            }
            Event::Alias(anchor) => {
                let anchored = match self.anchors.get(&anchor) {
                    None => {
                        self.soft_errors.push(SyntaxError { message: "unknown alias".into(), span });
                        self.push_value(Node { kind: NodeKind::Null, span });
                        return Ok(());
                    }
                    Some(anchored) => anchored.as_ref().map(|node| (node, node.count())),
                };
                let count = anchored.map_or(usize::MAX, |(_, count)| count);
                self.alias_nodes = self.alias_nodes.saturating_add(count);
                self.copied_nodes = self.copied_nodes.saturating_add(count);
                let node = match anchored {
                    Some((node, _)) if self.copied_nodes <= self.copy_budget => node.clone(),
                    _ => {
                        return Err(FatalError {
                            message: format!(
                                "aliases expand to more than {} values (the limit for a text of this size)",
                                self.copy_budget
                            ),
                            span,
                            recover_from: span.start,
                            unrecoverable: true,
                            read_to: 0,
                        })
                    }
                };
                self.push_value(node);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn check_depth(&self, span: Span) -> Result<(), FatalError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(FatalError {
                message: "values are nested too deeply".into(),
                span: Span::new(span.start, char_end(self.source, span.start)),
                recover_from: span.start,
                unrecoverable: true,
                read_to: 0,
            });
        }
        Ok(())
    }

    /// saphyr's scalar spans can run on over trailing white space and a comment
    /// (`"a"  # note`), or over the blank lines after a block scalar; this trims them to the
    /// scalar's own text.
    fn scalar_span(&self, span: Span, style: SaphyrStyle) -> Span {
        let text = self.source.get(span.start..span.end).unwrap_or_default();
        let bytes = text.as_bytes();
        let length = match style {
            SaphyrStyle::DoubleQuoted => {
                let mut index = 1;
                loop {
                    match bytes.get(index) {
                        Some(b'\\') => index += 2,
                        Some(b'"') => break index + 1,
                        Some(_) => index += 1,
                        None => break bytes.len(),
                    }
                }
            }
            SaphyrStyle::SingleQuoted => {
                let mut index = 1;
                loop {
                    match (bytes.get(index), bytes.get(index + 1)) {
                        (Some(b'\''), Some(b'\'')) => index += 2,
                        (Some(b'\''), _) => break index + 1,
                        (Some(_), _) => index += 1,
                        (None, _) => break bytes.len(),
                    }
                }
            }
            SaphyrStyle::Plain => {
                // A comment starts at a `#` after white space; a byte scan, as this runs per scalar.
                let before_comment = bytes
                    .windows(2)
                    .position(|pair| matches!(pair[0], b' ' | b'\t') && pair[1] == b'#')
                    .unwrap_or(bytes.len());
                text[..before_comment].trim_end().len()
            }
            // saphyr's span runs on to the next token: over blank lines and the next line's indentation.
            SaphyrStyle::Literal | SaphyrStyle::Folded => text.trim_end().len(),
        };
        Span::new(span.start, span.start + length.min(bytes.len()))
    }

    /// Keeps a copy of an anchored value for its aliases, within the copy budget: counting and
    /// copying cost the same, and both stop once the budget is spent, so anchors nested in anchors
    /// cost at most the budget plus one value.
    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor == 0 {
            return;
        }
        let kept = (self.copied_nodes <= self.copy_budget).then(|| {
            self.copied_nodes = self.copied_nodes.saturating_add(node.count());
            node.clone()
        });
        self.anchors.insert(anchor, kept.filter(|_| self.copied_nodes <= self.copy_budget));
    }

    /// A block collection ends with its last value, not at the next token (which may be lines of
    /// blank space and comments further down); a flow collection ends at its bracket, or where
    /// reading stopped when it is not closed. Either way a collection holds its last value.
    fn container_end(&self, start: usize, end: usize, last: Option<usize>) -> usize {
        let flow = matches!(self.source.as_bytes().get(start), Some(b'[' | b'{'));
        match last {
            Some(last) if !flow => last.max(start),
            Some(last) => end.max(last).max(start),
            None => end.max(start),
        }
    }

    fn close(&mut self, frame: Frame, end: usize) -> Node {
        match frame {
            Frame::Sequence { start, anchor, items } => {
                let end = self.container_end(start, end, items.last().map(|item| item.span.end));
                let node = Node { kind: NodeKind::Sequence(items), span: Span::new(start, end.max(start)) };
                self.remember(anchor, &node);
                node
            }
            Frame::Mapping { start, anchor, entries, .. } => {
                let entries = self.merge_keys(entries);
                let end = self.container_end(start, end, entries.iter().map(|(_, value)| value.span.end).max());
                let node = Node { kind: NodeKind::Mapping(entries), span: Span::new(start, end.max(start)) };
                self.remember(anchor, &node);
                node
            }
        }
    }

    /// Applies YAML merge keys (`<<: *defaults`), which CI files use widely: entries written in the
    /// mapping win over merged ones.
    fn merge_keys(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        let is_merge = |key: &Node| matches!(&key.kind, NodeKind::String(s, ScalarStyle::Plain) if s == "<<");
        if !entries.iter().any(|(key, _)| is_merge(key)) {
            return entries;
        }
        self.merged = true;
        let mut own = Vec::new();
        let mut merged = Vec::new();
        for (key, value) in entries {
            if !is_merge(&key) {
                own.push((key, value));
                continue;
            }
            for source in value.items() {
                match &source.kind {
                    NodeKind::Mapping(source_entries) => merged.extend(source_entries.iter().cloned()),
                    _ => self.soft_errors.push(SyntaxError {
                        message: "a merge key `<<` takes a mapping or a list of mappings".into(),
                        span: source.span,
                    }),
                }
            }
        }
        let mut keys = KeyIndex::default();
        for (key, value) in merged {
            if !keys.contains_or_insert(&own, &key) {
                own.push((key, value));
            }
        }
        own
    }

    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping { entries, key, keys, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if keys.contains_or_insert(entries, &k) {
                        let text = k.key_label();
                        self.soft_errors.push(SyntaxError {
                            message: format!("duplicate key `{text}`; the first one is used"),
                            span: k.span,
                        });
                    } else {
                        entries.push((k, node));
                    }
                }
            },
        }
    }

    /// Where the outermost open flow collection (`[` or `{`) began, if one is open.
    fn outermost_flow_start(&self) -> Option<usize> {
        self.stack
            .iter()
            .map(|frame| match frame {
                Frame::Sequence { start, .. } | Frame::Mapping { start, .. } => *start,
            })
            .find(|start| matches!(self.source.as_bytes().get(*start), Some(b'[' | b'{')))
    }

    /// Closes every open container at `end`, keeping what was read before an error.
    fn close_all(mut self, end: usize) -> (Option<Node>, Vec<SyntaxError>) {
        while let Some(frame) = self.stack.pop() {
            let node = self.close(frame, end);
            self.push_value(node);
        }
        (self.root, self.soft_errors)
    }
}

/// Two mapping keys are the same key: equal strings, or equal other scalars.
fn same_key(a: &Node, b: &Node) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(a), Some(b)) => a == b,
        (None, None) => a.key_text() == b.key_text(),
        _ => false,
    }
}

fn scalar(value: &str, style: SaphyrStyle, tag: Option<&saphyr_parser::Tag>) -> NodeKind {
    let style = match style {
        SaphyrStyle::Plain => ScalarStyle::Plain,
        SaphyrStyle::SingleQuoted => ScalarStyle::SingleQuoted,
        SaphyrStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
        SaphyrStyle::Literal => ScalarStyle::Literal,
        SaphyrStyle::Folded => ScalarStyle::Folded,
    };
    // An explicit `!!str` tag keeps a plain scalar a string.
    let forced_string = tag.is_some_and(|tag| tag.suffix == "str" || tag.suffix.ends_with(":str"));
    if style != ScalarStyle::Plain || forced_string {
        return NodeKind::String(value.into(), style);
    }
    resolve_plain(value).unwrap_or_else(|| NodeKind::String(value.into(), style))
}

/// The YAML 1.2 core schema for plain scalars.
fn resolve_plain(value: &str) -> Option<NodeKind> {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Some(NodeKind::Null),
        "true" | "True" | "TRUE" => return Some(NodeKind::Bool(true)),
        "false" | "False" | "FALSE" => return Some(NodeKind::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(NodeKind::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => return Some(NodeKind::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(NodeKind::Float(f64::NAN)),
        _ => {}
    }
    let first = value.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    if let Some(hex) = value.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(NodeKind::Int);
    }
    if let Some(octal) = value.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok().map(NodeKind::Int);
    }
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            value.parse::<i64>().map_or_else(|_| NodeKind::Float(value.parse().unwrap_or(f64::NAN)), NodeKind::Int),
        );
    }
    let is_float = digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if is_float {
        return value.parse::<f64>().ok().map(NodeKind::Float);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of<'a>(source: &'a str, node: &Node) -> &'a str {
        &source[node.span.start..node.span.end]
    }

    #[test]
    fn spans_cover_keys_and_values_exactly() {
        let source = "a: 1\nb: 'two'  # note\nc:\n  - \"x\\\" y\"  # note\n  - {d: [e, f]}\n  - plain text # note\n";
        let parse = parse(source);
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        let root = parse.root.unwrap();
        assert_eq!(text_of(source, root.key_of("b").unwrap()), "b");
        assert_eq!(text_of(source, root.get("b").unwrap()), "'two'");
        let c = root.get("c").unwrap();
        assert_eq!(text_of(source, &c.items()[0]), "\"x\\\" y\"");
        assert_eq!(text_of(source, &c.items()[2]), "plain text");
        let d = c.items()[1].get("d").unwrap();
        assert_eq!(text_of(source, &d.items()[1]), "f");
        assert_eq!(root.get("a").unwrap().kind, NodeKind::Int(1));
    }

    #[test]
    fn spans_are_bytes_after_multibyte_text_and_bom() {
        let source = "\u{feff}name: \"🦀 漢字\"\nid: x\n";
        let parse = parse(source);
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        let root = parse.root.unwrap();
        assert_eq!(text_of(source, root.get("id").unwrap()), "x");
        assert_eq!(root.get("name").unwrap().as_str(), Some("🦀 漢字"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_resolve() {
        let source = "base: &b {retries: 2, x: 1}\nstage:\n  <<: *b\n  x: 5\nlist: &l [a]\nagain: *l\n";
        let parse = parse(source);
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        let root = parse.root.unwrap();
        let stage = root.get("stage").unwrap();
        assert_eq!(stage.get("retries").unwrap().as_i64(), Some(2));
        assert_eq!(stage.get("x").unwrap().as_i64(), Some(5));
        assert_eq!(root.get("again").unwrap().items()[0].as_str(), Some("a"));
    }

    #[test]
    fn an_error_keeps_what_came_before_and_after() {
        let source = "a: 1\nb: [unclosed\nc: 3\nd: \"ok\"\n";
        let parse = parse(source);
        assert!(!parse.errors.is_empty());
        assert!(!parse.complete);
        let root = parse.root.unwrap();
        assert_eq!(root.get("a").unwrap().as_i64(), Some(1));
        assert_eq!(root.get("d").unwrap().as_str(), Some("ok"));
    }

    #[test]
    fn tabs_in_indentation_are_reported_at_their_line() {
        let source = "a:\n  b: 1\n\tc: 2\nd: 4\n";
        let parse = parse(source);
        let error = parse.errors.first().expect("a syntax error");
        let line = source[..error.span.start].matches('\n').count();
        assert_eq!(line, 2, "{:?}", parse.errors);
    }

    #[test]
    fn what_recovery_sets_aside_is_lost() {
        let source = "a:\n  b: 1\n\tc: 2\nd: 4\n";
        let parse = parse(source);
        let tab = source.find('\t').unwrap();
        assert_eq!(parse.lost, [Span::new(tab, tab + "\tc: 2".len())]);
        assert!(!parse.complete);
        // `a` may have lost `c`; `d`, after it, lost nothing.
        assert!(parse.lost_between(0, source.find("d:").unwrap()));
        assert!(!parse.lost_between(source.find("d:").unwrap(), source.len()));
        // Where reading stopped in a half-typed JSON text, what follows is lost.
        let source = "{\"a\": [1, 2";
        let parse = super::parse(source);
        assert_eq!(parse.lost.last().map(|span| span.end), Some(source.len()), "{:?}", parse.lost);
        let parse = super::parse("a: 1\nb: [2]\n");
        assert!(parse.lost.is_empty() && parse.complete);
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let source = "[".repeat(20_000);
        let parse = parse(&source);
        assert!(parse.errors.iter().any(|e| e.message.contains("nested too deeply")), "{:?}", parse.errors);
        let parse = super::parse(&"- ".repeat(20_000));
        assert!(!parse.errors.is_empty());
    }

    #[test]
    fn core_schema_scalars() {
        let parse = parse("[1, -2, 1.5, true, ~, null, '3', 0x1f, abc, 1e3, 99999999999999999999]");
        let root = parse.root.unwrap();
        let kinds: Vec<_> = root.items().iter().map(Node::type_name).collect();
        assert_eq!(
            kinds,
            [
                "integer", "integer", "number", "boolean", "null", "null", "string", "integer", "string", "number",
                "number"
            ]
        );
    }

    #[test]
    fn json_with_tab_indentation_parses() {
        let source = "{\n\t\"plan_id\": \"p\",\n\t\"steps\": [\n\t\t{\"id\": \"a\"}\n\t]\n}\n";
        let parse = parse(source);
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        assert_eq!(parse.root.unwrap().get("plan_id").unwrap().as_str(), Some("p"));
    }

    #[test]
    fn errors_after_a_directive_with_non_ascii_text_are_at_their_place() {
        // saphyr counts the name and parameters of a reserved directive in bytes, the rest in characters.
        let source = "%FOO é漢🦀 ß\n---\nname: \"🦀\"\nb: c: d\n";
        let parse = parse(source);
        let error = parse.errors.first().expect("a syntax error");
        let colon = source.find("c: d").unwrap() + 1;
        assert_eq!(error.span, Span::new(colon, colon + 1), "{:?}", parse.errors);
        let root = parse.root.unwrap();
        assert_eq!(text_of(source, root.get("name").unwrap()), "\"🦀\"");
    }

    #[test]
    fn a_directive_like_line_inside_a_quoted_scalar_keeps_its_text() {
        let source = "\"x\n%FOO é🦀 y\"\n";
        let parse = parse(source);
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        let root = parse.root.unwrap();
        assert_eq!(root.as_str(), Some("x %FOO é🦀 y"));
        assert_eq!(root.span, Span::new(0, source.len() - 1));
    }

    #[test]
    fn an_unclosed_bracket_leaves_each_collection_holding_its_values() {
        // Found by random edits of a JSON plan: the error ends up pointed at the first `{`.
        let source = "{\n\"\"{\n,\n\"\"{\n,\n\"steps\": [{\"id\":x\n";
        let parse = parse(source);
        assert!(!parse.errors.is_empty());
        let root = parse.root.unwrap();
        let mut stack = vec![&root];
        while let Some(node) = stack.pop() {
            let children: Vec<&Node> = match &node.kind {
                NodeKind::Mapping(entries) => entries.iter().flat_map(|(key, value)| [key, value]).collect(),
                NodeKind::Sequence(items) => items.iter().collect(),
                _ => Vec::new(),
            };
            for child in children {
                assert!(
                    node.span.start <= child.span.start && child.span.end <= node.span.end,
                    "{:?} holds {:?}",
                    text_of(source, node),
                    text_of(source, child)
                );
                stack.push(child);
            }
        }
    }

    #[test]
    fn duplicate_keys_are_reported_and_the_first_is_kept() {
        let source = "a: 1\na: 2\n";
        let parse = parse(source);
        assert_eq!(parse.errors.len(), 1);
        assert_eq!(parse.errors[0].span, Span::new(5, 6));
        assert_eq!(parse.root.unwrap().get("a").unwrap().as_i64(), Some(1));
    }
}
