//! Where the cursor is, in YAML terms: the key path above it, whether it is on a key or a value, the
//! word being typed. Half-typed YAML is the normal case while a user types, and the tree may have
//! lost the very line the cursor is on, so for YAML this reads the text itself, line by line, by
//! indentation. JSON has no indentation rules, so there it reads the key before the cursor.

use crate::syntax::Span;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    /// An item of a sequence.
    Item,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The cursor is where a key goes, in the mapping at `path`.
    Key,
    /// The cursor is in the value of the last key of `path` (or an item of its list).
    Value,
}

#[derive(Clone, Debug)]
pub struct CursorContext {
    /// Keys (and list items) from the top of the file down to the cursor.
    pub path: Vec<Segment>,
    pub slot: Slot,
    /// The word under the cursor, which a completion replaces.
    pub word: Span,
    /// The text of the value before the cursor on this line (after `key:`), quotes included.
    pub value_prefix: String,
    /// Keys already written in the mapping the cursor is in (for key completion).
    pub sibling_keys: Vec<String>,
    /// True in a flow list (`[a, b|]`) or a block list item (`- b|`).
    pub in_list: bool,
}

impl CursorContext {
    /// The last key of the path: what the value under the cursor belongs to.
    pub fn key(&self) -> Option<&str> {
        self.path.iter().rev().find_map(|segment| match segment {
            Segment::Key(key) => Some(key.as_str()),
            Segment::Item => None,
        })
    }

    /// The path as instance keys for the schema (`Item` as `0`).
    pub fn schema_path(&self) -> Vec<&str> {
        self.path
            .iter()
            .map(|segment| match segment {
                Segment::Key(key) => key.as_str(),
                Segment::Item => "0",
            })
            .collect()
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The span of the word around `offset` (identifier characters, `.` and `-` included).
pub fn word_at(text: &str, offset: usize) -> Span {
    let start =
        text[..offset].char_indices().rev().take_while(|(_, c)| is_word_char(*c)).last().map_or(offset, |(i, _)| i);
    let end = text[offset..].char_indices().find(|(_, c)| !is_word_char(*c)).map_or(text.len(), |(i, _)| offset + i);
    Span::new(start, end)
}

/// One line, read for its structure.
struct Line<'a> {
    /// Column of the first character after indentation and any `- ` markers.
    content_column: usize,
    /// Number of `- ` markers before the content, and the column of the first.
    dashes: usize,
    dash_column: usize,
    /// `key` when the line's content starts with `key:`.
    key: Option<&'a str>,
    blank: bool,
}

fn read_line(line: &str) -> Line<'_> {
    let trimmed = line.trim_end_matches(['\r', '\n']);
    let indent = trimmed.len() - trimmed.trim_start_matches(' ').len();
    let mut content = &trimmed[indent..];
    let mut column = indent;
    let mut dashes = 0;
    while content == "-" || content.starts_with("- ") {
        dashes += 1;
        let after = content[1..].trim_start_matches(' ');
        column += content.len() - after.len();
        content = after;
    }
    let blank = content.is_empty() || content.starts_with('#');
    let key = split_key(content).0;
    Line { content_column: column, dashes, dash_column: indent, key, blank: blank && dashes == 0 }
}

/// `key: rest` → (Some(key), rest). Quoted keys are unquoted.
fn split_key(content: &str) -> (Option<&str>, &str) {
    let bytes = content.as_bytes();
    let (key_end, after) = match bytes.first() {
        Some(b'"' | b'\'') => {
            let quote = bytes[0];
            match content[1..].find(quote as char) {
                Some(end) => (end + 2, end + 2),
                None => return (None, content),
            }
        }
        _ => match content.find(':') {
            Some(colon) => (colon, colon),
            None => return (None, content),
        },
    };
    let rest = &content[after..];
    if !(rest.starts_with(':') && (rest.len() == 1 || rest[1..].starts_with([' ', '\t']))) {
        return (None, content);
    }
    let key = content[..key_end].trim_matches(['"', '\'']);
    (Some(key), rest[1..].trim_start())
}

/// Reads the cursor's context from YAML text.
pub fn yaml_context(text: &str, offset: usize) -> CursorContext {
    let line_start = text[..offset].rfind('\n').map_or(0, |newline| newline + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |end| offset + end);
    let current = read_line(&text[line_start..line_end]);
    let before_cursor = &text[line_start..offset];
    let cursor_column = before_cursor.chars().count();
    let word = word_at(text, offset);

    // The cursor's own line: which slot, and the innermost segments it opens.
    let mut own: Vec<Segment> = vec![Segment::Item; current.dashes];
    let colon_column = current.key.and_then(|_| {
        let content = &before_cursor[before_cursor.len().min(current.content_column)..];
        content.find(':').map(|colon| current.content_column + content[..colon].chars().count())
    });
    let (slot, value_prefix, in_list) = match (current.key, colon_column) {
        (Some(key), Some(colon)) if cursor_column > colon => {
            own.push(Segment::Key(key.to_owned()));
            let value = before_cursor.split_once(':').map_or("", |(_, rest)| rest).trim_start();
            (Slot::Value, value.to_owned(), value.starts_with('['))
        }
        (None, _) if current.dashes > 0 && cursor_column >= current.content_column => {
            // `- item|`: an item of the list whose key is above.
            let value = before_cursor.trim_start().trim_start_matches(['-', ' ']);
            (Slot::Value, value.to_owned(), true)
        }
        _ => (Slot::Key, String::new(), false),
    };
    // In the value of a flow mapping on this line (`- { id: a, depends_on: [b, c|] }`), the value
    // belongs to the flow mapping's key, not to the line's first key.
    let content = &before_cursor[before_cursor.len().min(current.content_column)..];
    let flow = open_brace(content).and_then(|brace| flow_value(&content[brace + 1..]));
    let (slot, value_prefix, in_list) = match flow {
        Some((key, value, flow_in_list)) => {
            own.truncate(current.dashes);
            // `requires: { files: [a|` — the block key that holds the flow mapping comes first.
            if let Some(block_key) = current.key.filter(|_| !content.starts_with('{')) {
                own.push(Segment::Key(block_key.to_owned()));
            }
            own.push(Segment::Key(key.to_owned()));
            (Slot::Value, value.to_owned(), flow_in_list)
        }
        None => (slot, value_prefix, in_list),
    };
    // The column of the mapping the cursor's key belongs to, and where the walk up starts.
    let mapping_column = if current.blank { cursor_column } else { current.content_column };
    let mut limit = if current.dashes > 0 { current.dash_column } else { mapping_column };
    let mut sibling_keys: Vec<String> = Vec::new();
    if current.dashes > 0 && slot == Slot::Key {
        sibling_keys.extend(current.key.map(str::to_owned));
    }
    let mut collecting = true;
    let mut ancestors: Vec<Segment> = Vec::new();
    let mut cursor = line_start;
    while cursor > 0 && (limit > 0 || collecting) {
        let previous_end = cursor - 1;
        let previous_start = text[..previous_end].rfind('\n').map_or(0, |newline| newline + 1);
        cursor = previous_start;
        let line = read_line(&text[previous_start..previous_end]);
        if line.blank {
            continue;
        }
        if line.dashes > 0 && line.dash_column < limit {
            // An item that holds the cursor: its content is the cursor's mapping, or its key's
            // value holds the cursor.
            if collecting && line.content_column == mapping_column {
                sibling_keys.extend(line.key.map(str::to_owned));
            }
            if line.content_column < limit {
                ancestors.extend(line.key.map(|key| Segment::Key(key.to_owned())));
            }
            ancestors.extend(std::iter::repeat_n(Segment::Item, line.dashes));
            collecting = false;
            limit = line.dash_column;
        } else if line.dashes == 0 && line.content_column < limit {
            ancestors.extend(line.key.map(|key| Segment::Key(key.to_owned())));
            collecting = false;
            limit = line.content_column;
        } else if collecting && line.dashes == 0 && line.content_column == mapping_column {
            sibling_keys.extend(line.key.map(str::to_owned));
        }
    }
    // Keys written below the cursor in the same mapping are siblings too.
    if slot == Slot::Key {
        let mut below = line_end;
        while below < text.len() {
            let start = below + 1;
            let end = text[start.min(text.len())..].find('\n').map_or(text.len(), |e| start + e);
            let line = read_line(&text[start.min(text.len())..end]);
            below = end;
            if line.blank {
                continue;
            }
            let column = if line.dashes > 0 { line.dash_column } else { line.content_column };
            if column < mapping_column {
                break;
            }
            if line.dashes == 0 && line.content_column == mapping_column {
                sibling_keys.extend(line.key.map(str::to_owned));
            }
        }
    }
    let mut path: Vec<Segment> = ancestors.into_iter().rev().collect();
    path.extend(own);
    CursorContext { path, slot, word, value_prefix, sibling_keys, in_list }
}

/// The byte index and kind (`[` or `{`) of the innermost bracket still open at the end of `text`.
fn innermost_open(text: &str) -> Option<(usize, u8)> {
    let mut depth = 0usize;
    for (index, byte) in text.bytes().enumerate().rev() {
        match byte {
            b'}' | b']' => depth += 1,
            b'[' | b'{' if depth > 0 => depth -= 1,
            b'[' | b'{' => return Some((index, byte)),
            _ => {}
        }
    }
    None
}

/// The byte index of the innermost `{` still open at the end of `text` (lists inside it allowed).
fn open_brace(text: &str) -> Option<usize> {
    let mut end = text.len();
    loop {
        match innermost_open(&text[..end])? {
            (index, b'{') => return Some(index),
            (index, _) => end = index,
        }
    }
}

/// In the text of a flow mapping before the cursor (after its `{`): the key whose value holds the
/// cursor, the value typed so far, and whether the cursor is in a list. `None` on a key.
fn flow_value(text: &str) -> Option<(&str, &str, bool)> {
    let (end, in_list) = match innermost_open(text) {
        Some((index, b'[')) => (index, true),
        _ => (text.len(), false),
    };
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    for index in (0..end).rev() {
        match bytes[index] {
            b']' | b'}' => depth += 1,
            b'[' | b'{' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => return None,
            b':' if depth == 0 && matches!(bytes.get(index + 1), None | Some(b' ' | b'\t' | b'[' | b'{')) => {
                let head = text[..index].trim_end();
                let start = head.rfind([',', ' ', '\t']).map_or(0, |at| at + 1);
                let key = head[start..].trim_matches(['"', '\'']);
                return (!key.is_empty()).then(|| (key, text[index + 1..].trim_start(), in_list));
            }
            _ => {}
        }
    }
    None
}

/// Reads the cursor's context from JSON text: only the key whose value the cursor is in, which is
/// what value completion needs.
pub fn json_context(text: &str, offset: usize) -> CursorContext {
    let word = word_at(text, offset);
    let before = &text[..offset];
    // The nearest `"key":` before the cursor that is not closed off by a `}` or a `,` at its level.
    let mut depth = 0i32;
    let mut key = None;
    let mut in_list = false;
    // A comma seen before the container is known: a list separator if the container is a list, or
    // the end of the previous member if it is an object (so the cursor is on a key).
    let mut seen_comma = false;
    let bytes = before.as_bytes();
    let mut index = bytes.len();
    while index > 0 {
        index -= 1;
        match bytes[index] {
            b']' | b'}' => depth += 1,
            b'[' | b'{' if depth > 0 => depth -= 1,
            b'[' if !in_list => {
                in_list = true;
                seen_comma = false;
            }
            b'[' | b'{' => break,
            b',' if depth == 0 && !in_list => seen_comma = true,
            b':' if depth == 0 => {
                if seen_comma {
                    break;
                }
                let head = before[..index].trim_end();
                if let Some(stripped) = head.strip_suffix('"') {
                    if let Some(open) = stripped.rfind('"') {
                        key = Some(stripped[open + 1..].to_owned());
                    }
                }
                break;
            }
            _ => {}
        }
    }
    let slot = if key.is_some() { Slot::Value } else { Slot::Key };
    let value_prefix = before.rsplit_once(':').map_or("", |(_, rest)| rest).trim_start().to_owned();
    CursorContext {
        path: key.into_iter().map(Segment::Key).collect(),
        slot,
        word,
        value_prefix,
        sibling_keys: Vec::new(),
        in_list,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(marked: &str) -> (CursorContext, String) {
        let offset = marked.find("$0").unwrap();
        let text = marked.replace("$0", "");
        (yaml_context(&text, offset), text)
    }

    fn keys(path: &[Segment]) -> Vec<String> {
        path.iter()
            .map(|s| match s {
                Segment::Key(k) => k.clone(),
                Segment::Item => "-".into(),
            })
            .collect()
    }

    #[test]
    fn flow_list_value() {
        let (ctx, text) = context("workflow_id: w\nstages:\n  - id: a\n    depends_on: [x, bu$0\n");
        assert_eq!(keys(&ctx.path), ["stages", "-", "depends_on"]);
        assert_eq!(ctx.slot, Slot::Value);
        assert!(ctx.in_list);
        assert_eq!(&text[ctx.word.start..ctx.word.end], "bu");
    }

    #[test]
    fn block_list_item() {
        let (ctx, _) = context("stages:\n  - id: a\n    depends_on:\n      - b$0\n");
        assert_eq!(keys(&ctx.path), ["stages", "-", "depends_on", "-"]);
        assert_eq!(ctx.slot, Slot::Value);
        assert_eq!(ctx.key(), Some("depends_on"));
    }

    #[test]
    fn key_in_a_stage_with_siblings() {
        let (ctx, _) = context("stages:\n  - id: a\n    script: p\n    dep$0\n    retries: 1\n  - id: b\n");
        assert_eq!(keys(&ctx.path), ["stages", "-"]);
        assert_eq!(ctx.slot, Slot::Key);
        assert_eq!(ctx.sibling_keys, ["script", "id", "retries"]);
    }

    #[test]
    fn new_item_key() {
        let (ctx, _) = context("stages:\n  - id: a\n  - $0\n");
        assert_eq!(keys(&ctx.path), ["stages", "-"]);
        assert_eq!(ctx.slot, Slot::Value);
    }

    #[test]
    fn value_of_a_first_key_on_a_dash_line() {
        let (ctx, _) = context("hooks:\n  - on: bef$0\n");
        assert_eq!(keys(&ctx.path), ["hooks", "-", "on"]);
        assert_eq!(ctx.slot, Slot::Value);
    }

    #[test]
    fn top_level_key() {
        let (ctx, _) = context("workflow_id: w\nsta$0\n");
        assert!(ctx.path.is_empty());
        assert_eq!(ctx.slot, Slot::Key);
        assert_eq!(ctx.sibling_keys, ["workflow_id"]);
    }

    #[test]
    fn nested_mapping_value() {
        let (ctx, _) = context("stages:\n  - id: a\n    requires:\n      files: [a]\n      comm$0\n");
        assert_eq!(keys(&ctx.path), ["stages", "-", "requires"]);
        assert_eq!(ctx.slot, Slot::Key);
    }

    #[test]
    fn flow_mapping_stage() {
        let (ctx, text) = context("stages:\n  - { id: a, name: \"🦀\", depends_on: [x, bu$0] }\n");
        assert_eq!(keys(&ctx.path), ["stages", "-", "depends_on"]);
        assert_eq!(ctx.slot, Slot::Value);
        assert!(ctx.in_list);
        assert_eq!(ctx.value_prefix, "[x, bu");
        assert_eq!(&text[ctx.word.start..ctx.word.end], "bu");
        let (ctx, _) = context("stages:\n  - id: a\n    requires: { files: [a], commands: [$0] }\n");
        assert_eq!(keys(&ctx.path), ["stages", "-", "requires", "commands"]);
        let (ctx, _) = context("stages:\n  - { id: a, on_failure: $0 }\n");
        assert_eq!(keys(&ctx.path), ["stages", "-", "on_failure"]);
        assert!(!ctx.in_list);
    }

    #[test]
    fn json_value() {
        let text = "{\"steps\": [{\"id\": \"a\", \"depends_on\": [\"x\", \"b";
        let ctx = json_context(text, text.len());
        assert_eq!(ctx.key(), Some("depends_on"));
        assert!(ctx.in_list);
    }
}
