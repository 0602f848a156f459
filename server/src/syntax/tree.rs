use compact_str::CompactString;

use super::Span;

/// A node of the spanned tree: a YAML or JSON value with the byte range it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Short strings (ids, keys: up to 24 bytes) are kept inline, without an allocation each.
    String(CompactString, ScalarStyle),
    Sequence(Vec<Node>),
    /// Entries in source order. Duplicate keys are reported by the parser and the first one is kept.
    Mapping(Vec<(Node, Node)>),
}

/// How a string scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::String(value, _) => Some(value),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            NodeKind::Bool(value) => Some(value),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.kind {
            NodeKind::Int(value) => Some(value),
            _ => None,
        }
    }

    /// A number as `f64`, whether written as an integer or not.
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind {
            NodeKind::Int(value) => Some(value as f64),
            NodeKind::Float(value) => Some(value),
            _ => None,
        }
    }

    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Sequence(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_mapping(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The key node and value node of `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_mapping()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(k, v)| (k, v))
    }

    /// The items of a sequence; a lone scalar counts as a sequence of one, as users often write
    /// `depends_on: build` for `depends_on: [build]`.
    pub fn items(&self) -> &[Node] {
        match &self.kind {
            NodeKind::Sequence(items) => items,
            _ => std::slice::from_ref(self),
        }
    }

    /// What the value is, in JSON Schema's words, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "boolean",
            NodeKind::Int(_) => "integer",
            NodeKind::Float(_) => "number",
            NodeKind::String(..) => "string",
            NodeKind::Sequence(_) => "array",
            NodeKind::Mapping(_) => "object",
        }
    }

    /// The child at one step of a JSON pointer: a key of a mapping or an index of a sequence.
    pub fn child(&self, segment: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Mapping(_) => self.get(segment),
            NodeKind::Sequence(items) => items.get(segment.parse::<usize>().ok()?),
            _ => None,
        }
    }

    /// The key node of `segment` when this is a mapping, for errors that belong on the key.
    pub fn key_of(&self, segment: &str) -> Option<&Node> {
        self.entry(segment).map(|(key, _)| key)
    }

    /// The node at the end of a path of segments; stops at the last node that exists.
    pub fn walk<I, S>(&self, path: I) -> (&Node, bool)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut node = self;
        for segment in path {
            match node.child(segment.as_ref()) {
                Some(child) => node = child,
                None => return (node, false),
            }
        }
        (node, true)
    }

    /// The JSON value of this node, for schema validation.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(value) => Value::Bool(*value),
            NodeKind::Int(value) => Value::from(*value),
            NodeKind::Float(value) => serde_json::Number::from_f64(*value).map_or(Value::Null, Value::Number),
            NodeKind::String(value, _) => Value::String(value.as_str().to_owned()),
            NodeKind::Sequence(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Mapping(entries) => {
                Value::Object(entries.iter().map(|(key, value)| (key.key_text(), value.to_json())).collect())
            }
        }
    }

    /// A mapping key as text: strings as they are, other scalars as written in JSON, and a sequence
    /// or mapping in flow style with its strings quoted (`{"a": [1, "b"]}`).
    ///
    /// Invariant: the text is built in one pass over the key's subtree, so its length and cost are
    /// linear in the key's size. (A mapping key as the JSON string of its JSON text would escape the
    /// keys nested in it once per level: `{{{{…` typed in an editor doubled the text per bracket.)
    pub fn key_text(&self) -> String {
        match &self.kind {
            NodeKind::String(value, _) => value.as_str().to_owned(),
            _ => {
                let mut text = String::new();
                self.write_flow(&mut text);
                text
            }
        }
    }

    /// [`Node::key_text`] short enough for a message: at most [`LABEL_CHARS`] characters, and `…`.
    pub fn key_label(&self) -> String {
        shorten(&self.key_text()).into_owned()
    }

    /// Writes this value in JSON-like flow style; mapping keys inside it are written the same way,
    /// never escaped as a string of their own.
    fn write_flow(&self, out: &mut String) {
        match &self.kind {
            NodeKind::String(value, _) => out.push_str(&serde_json::Value::from(value.as_str()).to_string()),
            NodeKind::Sequence(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    item.write_flow(out);
                }
                out.push(']');
            }
            NodeKind::Mapping(entries) => {
                out.push('{');
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    key.write_flow(out);
                    out.push_str(": ");
                    value.write_flow(out);
                }
                out.push('}');
            }
            NodeKind::Null | NodeKind::Bool(_) | NodeKind::Int(_) | NodeKind::Float(_) => {
                out.push_str(&self.to_json().to_string())
            }
        }
    }

    /// The number of nodes in this subtree, iteratively so deep trees cannot overflow the stack.
    pub fn count(&self) -> usize {
        let mut stack = vec![self];
        let mut count = 0;
        while let Some(node) = stack.pop() {
            count += 1;
            match &node.kind {
                NodeKind::Sequence(items) => stack.extend(items),
                NodeKind::Mapping(entries) => {
                    for (key, value) in entries {
                        stack.push(key);
                        stack.push(value);
                    }
                }
                _ => {}
            }
        }
        count
    }

    /// The source offset of byte `offset` of this string's value, when the value appears in the
    /// source exactly as written (no escapes, folding or line breaks). Expressions use this to point
    /// inside a string; anything else falls back to the whole string.
    pub fn value_offset_in_source(&self, source: &str, offset: usize) -> Option<usize> {
        let NodeKind::String(value, style) = &self.kind else {
            return None;
        };
        let raw = source.get(self.span.start..self.span.end)?;
        let (inner, content_start) = match style {
            ScalarStyle::Plain => (raw, self.span.start),
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                (raw.get(1..raw.len().saturating_sub(1))?, self.span.start + 1)
            }
            ScalarStyle::Literal | ScalarStyle::Folded => return None,
        };
        (inner == value && offset <= value.len()).then_some(content_start + offset)
    }
}

/// How many characters of a key or other value from the text a message quotes.
pub const LABEL_CHARS: usize = 80;

/// `text` cut to [`LABEL_CHARS`] characters, with `…` where it was cut: a message quotes a key of a
/// pasted megabyte by its start.
pub fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(LABEL_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..cut])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Span;

    fn node(kind: NodeKind) -> Node {
        Node { kind, span: Span::new(0, 0) }
    }

    #[test]
    fn a_key_nested_in_keys_has_text_linear_in_its_depth() {
        // `{{{…{"a": 1}: 1}…: 1}`, 24 keys deep: escaping each key's text inside the next one's
        // doubled the text per level (16 million characters here).
        let mut key = node(NodeKind::String("a".into(), ScalarStyle::DoubleQuoted));
        for _ in 0..24 {
            key = node(NodeKind::Mapping(vec![(key, node(NodeKind::Int(1)))]));
        }
        let text = key.key_text();
        assert!(text.len() < 24 * 8 + 8, "{} bytes: {}", text.len(), shorten(&text));
        assert!(text.starts_with("{{{") && text.contains("{\"a\": 1}: 1}"), "{}", shorten(&text));
        assert_eq!(key.key_label().chars().count(), LABEL_CHARS + 1);
    }

    #[test]
    fn scalar_keys_read_as_json_text() {
        assert_eq!(node(NodeKind::Int(-12)).key_text(), "-12");
        assert_eq!(node(NodeKind::Bool(true)).key_text(), "true");
        assert_eq!(node(NodeKind::Null).key_text(), "null");
        let sequence = node(NodeKind::Sequence(vec![
            node(NodeKind::String("x\"y".into(), ScalarStyle::Plain)),
            node(NodeKind::Float(1.5)),
        ]));
        assert_eq!(sequence.key_text(), "[\"x\\\"y\", 1.5]");
    }
}
