//! The spanned tree as an instance the schema validator reads in place, so that validating a file
//! builds no `serde_json` copy of it (that copy was most of the schema check's time).
//!
//! Invariant: the validator sees exactly the JSON of [`Node::to_json`]. A mapping's members are its
//! keys' [`Node::key_text`], and where two keys have one text (`1` and `"1"`, which the parser
//! keeps apart) the first one's place and the last one's value count, as in the `serde_json` map
//! `to_json` collects into; a float that is not finite is `null`.

use std::borrow::Cow;

use jsonschema::json::{Array, Json, Node as JsonNodeTrait, NodeIdentity, Object};
use jsonschema::JsonType;
use serde_json::{Number, Value};

use crate::syntax::{Node, NodeKind};

/// The tree's JSON representation for [`jsonschema::options_for`].
pub struct TreeJson;

/// A value the validator reads.
#[derive(Clone, Copy, Debug)]
pub enum TreeValue<'a> {
    Node(&'a Node),
    /// A workflow's root with its list of stages (`list`, one of its values) read as empty, so that
    /// the file can be validated without its stages, each of them then on its own.
    WithoutList {
        root: &'a Node,
        list: &'a Node,
    },
    /// The list left out of [`TreeValue::WithoutList`].
    EmptyArray,
    /// A string that is not in the tree: a property name `propertyNames` validates.
    Str(&'a str),
}

impl Json for TreeJson {
    type Node<'a> = TreeValue<'a>;
    type PreparedKey = Box<str>;
    type StringBuffer = ();

    /// A lookup scans the mapping's keys, so one pass over the members beats even a few lookups.
    const KEYS_PER_LOOKUP: usize = 16;

    fn prepare_key(key: &str) -> Box<str> {
        key.into()
    }

    fn with_string_node<T>(_: &mut (), string: &str, f: impl FnOnce(TreeValue<'_>) -> T) -> T {
        f(TreeValue::Str(string))
    }
}

impl<'a> JsonNodeTrait<'a, TreeJson> for TreeValue<'a> {
    type Object = TreeObject<'a>;
    type Array = TreeArray<'a>;
    type Number = Number;

    fn as_object(&self) -> Option<TreeObject<'a>> {
        match *self {
            TreeValue::Node(node) => node.as_mapping().map(|entries| TreeObject::new(entries, None)),
            TreeValue::WithoutList { root, list } => {
                root.as_mapping().map(|entries| TreeObject::new(entries, Some(list)))
            }
            TreeValue::EmptyArray | TreeValue::Str(_) => None,
        }
    }

    fn as_array(&self) -> Option<TreeArray<'a>> {
        match *self {
            TreeValue::Node(node) => node.as_sequence().map(TreeArray),
            TreeValue::EmptyArray => Some(TreeArray(&[])),
            TreeValue::WithoutList { .. } | TreeValue::Str(_) => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match *self {
            TreeValue::Node(node) => node.as_str().map(Cow::Borrowed),
            TreeValue::Str(string) => Some(Cow::Borrowed(string)),
            TreeValue::WithoutList { .. } | TreeValue::EmptyArray => None,
        }
    }

    fn as_number(&self) -> Option<Number> {
        let TreeValue::Node(node) = *self else { return None };
        match node.kind {
            NodeKind::Int(value) => Some(Number::from(value)),
            NodeKind::Float(value) => Number::from_f64(value),
            _ => None,
        }
    }

    fn is_number(&self) -> bool {
        self.json_type() == JsonType::Number
    }

    fn as_boolean(&self) -> Option<bool> {
        match *self {
            TreeValue::Node(node) => node.as_bool(),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        self.json_type() == JsonType::Null
    }

    fn json_type(&self) -> JsonType {
        match *self {
            TreeValue::Node(node) => match node.kind {
                NodeKind::Null => JsonType::Null,
                NodeKind::Bool(_) => JsonType::Boolean,
                NodeKind::Int(_) => JsonType::Number,
                NodeKind::Float(value) if value.is_finite() => JsonType::Number,
                NodeKind::Float(_) => JsonType::Null,
                NodeKind::String(..) => JsonType::String,
                NodeKind::Sequence(_) => JsonType::Array,
                NodeKind::Mapping(_) => JsonType::Object,
            },
            TreeValue::WithoutList { .. } => JsonType::Object,
            TreeValue::EmptyArray => JsonType::Array,
            TreeValue::Str(_) => JsonType::String,
        }
    }

    /// `enum` and `const` run this on every checked value: strings compare without a copy.
    fn equals_value(&self, expected: &Value) -> bool {
        match (self.as_string(), expected) {
            (Some(string), Value::String(other)) => *string == **other,
            (Some(_), _) => false,
            (None, _) => jsonschema::json::cmp::equal(&self.json(Node::to_json), expected),
        }
    }

    /// For errors only: the value, or for a large one a summary of at most [`SUMMARY_NODES`] values,
    /// so that an error on a pasted megabyte costs no copy of it.
    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(self.json(|node| {
            let mut budget = SUMMARY_NODES;
            summary(node, &mut budget)
        }))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        match *self {
            TreeValue::Node(node) => Some(NodeIdentity::new(std::ptr::from_ref(node) as usize)),
            // The root seen without its list is never seen with it in the same validation.
            TreeValue::WithoutList { root, .. } => Some(NodeIdentity::new(std::ptr::from_ref(root) as usize)),
            TreeValue::EmptyArray | TreeValue::Str(_) => None,
        }
    }
}

/// How many values an error's copy of its instance holds at most.
const SUMMARY_NODES: usize = 64;

/// `node` as JSON with at most `budget` values; what is left out is a last element or member `"…"`.
fn summary(node: &Node, budget: &mut usize) -> Value {
    *budget = budget.saturating_sub(1);
    match &node.kind {
        NodeKind::Sequence(items) => {
            let mut array = Vec::new();
            for item in items {
                if *budget == 0 {
                    array.push(Value::from("…"));
                    break;
                }
                array.push(summary(item, budget));
            }
            Value::Array(array)
        }
        NodeKind::Mapping(entries) => {
            let mut object = serde_json::Map::new();
            for (key, value) in entries {
                if *budget == 0 {
                    object.insert("…".into(), Value::from("…"));
                    break;
                }
                // A key's text is written once, never escaped inside another key's (that doubles
                // per level of keys nested in keys).
                let name = match key.as_str() {
                    Some(name) => crate::syntax::shorten(name).into_owned(),
                    None => key.key_label(),
                };
                object.insert(name, summary(value, budget));
            }
            Value::Object(object)
        }
        _ => node.to_json(),
    }
}

impl<'a> TreeValue<'a> {
    /// This value as JSON, with each node of the tree made by `of`.
    fn json(&self, of: impl Fn(&Node) -> Value) -> Value {
        match *self {
            TreeValue::Node(node) => of(node),
            TreeValue::WithoutList { root, list } => match root.as_mapping() {
                Some(entries) => Value::Object(
                    entries
                        .iter()
                        .map(|(key, value)| {
                            let json = if std::ptr::eq(value, list) { Value::Array(Vec::new()) } else { of(value) };
                            (key.key_text(), json)
                        })
                        .collect(),
                ),
                None => of(root),
            },
            TreeValue::EmptyArray => Value::Array(Vec::new()),
            TreeValue::Str(string) => Value::String(string.to_owned()),
        }
    }
}

/// A mapping; `emptied` is a value read as an empty array ([`TreeValue::WithoutList`]).
#[derive(Clone, Copy)]
pub struct TreeObject<'a> {
    entries: &'a [(Node, Node)],
    emptied: Option<&'a Node>,
    /// No two keys have one text: all keys are strings, or none is. The parser keeps keys distinct
    /// by kind and text, so only a string and another scalar (`"1"` and `1`) can share a text.
    distinct: bool,
}

impl<'a> TreeObject<'a> {
    fn new(entries: &'a [(Node, Node)], emptied: Option<&'a Node>) -> TreeObject<'a> {
        let strings = entries.iter().filter(|(key, _)| key.as_str().is_some()).count();
        TreeObject { entries, emptied, distinct: strings == entries.len() || strings == 0 }
    }

    fn value(&self, node: &'a Node) -> TreeValue<'a> {
        match self.emptied {
            Some(emptied) if std::ptr::eq(node, emptied) => TreeValue::EmptyArray,
            _ => TreeValue::Node(node),
        }
    }

    /// The members as `to_json` makes them when keys may share a text: at the first key's place,
    /// with the last one's value.
    ///
    /// Linear in the mapping's size: a hash map finds the member a key's text joins.
    fn merged(&self) -> Vec<(Cow<'a, str>, TreeValue<'a>)> {
        let mut members: Vec<(Cow<'a, str>, TreeValue<'a>)> = Vec::with_capacity(self.entries.len());
        let mut places: foldhash::HashMap<Cow<'a, str>, usize> = foldhash::HashMap::default();
        for (key, value) in self.entries {
            let name = key.as_str().map_or_else(|| Cow::Owned(key.key_text()), Cow::Borrowed);
            match places.get(&name) {
                Some(&place) => members[place].1 = self.value(value),
                None => {
                    places.insert(name.clone(), members.len());
                    members.push((name, self.value(value)));
                }
            }
        }
        members
    }
}

pub enum TreeMembers<'a> {
    Distinct { object: TreeObject<'a>, entries: std::slice::Iter<'a, (Node, Node)> },
    Merged(std::vec::IntoIter<(Cow<'a, str>, TreeValue<'a>)>),
}

impl<'a> Iterator for TreeMembers<'a> {
    type Item = (Cow<'a, str>, TreeValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            TreeMembers::Distinct { object, entries } => entries.next().map(|(key, value)| {
                (key.as_str().map_or_else(|| Cow::Owned(key.key_text()), Cow::Borrowed), object.value(value))
            }),
            TreeMembers::Merged(members) => members.next(),
        }
    }
}

impl<'a> Object<'a, TreeJson> for TreeObject<'a> {
    type Node = TreeValue<'a>;
    type MemberName = Cow<'a, str>;
    type MembersIter = TreeMembers<'a>;

    fn len(&self) -> usize {
        if self.distinct {
            self.entries.len()
        } else {
            self.merged().len()
        }
    }

    fn get(&self, key: &Box<str>) -> Option<TreeValue<'a>> {
        if self.distinct {
            return self.entries.iter().find(|(name, _)| key_is(name, key)).map(|(_, value)| self.value(value));
        }
        // The last key of that text holds the member's value (see `merged`).
        self.entries.iter().rev().find(|(name, _)| key_is(name, key)).map(|(_, value)| self.value(value))
    }

    fn members(&self) -> TreeMembers<'a> {
        if self.distinct {
            TreeMembers::Distinct { object: *self, entries: self.entries.iter() }
        } else {
            TreeMembers::Merged(self.merged().into_iter())
        }
    }
}

/// Whether `key`'s [`Node::key_text`] is `text`, without building that text for the scalars it can
/// be read from directly.
fn key_is(key: &Node, text: &str) -> bool {
    match key.kind {
        NodeKind::String(ref value, _) => value == text,
        NodeKind::Null => text == "null",
        NodeKind::Bool(value) => text == if value { "true" } else { "false" },
        NodeKind::Int(value) => itoa::Buffer::new().format(value) == text,
        // A collection's text starts with its bracket: the schema's property names never do, so
        // its text (as long as the key) is built only for a name that could be it.
        NodeKind::Sequence(_) => text.starts_with('[') && key.key_text() == text,
        NodeKind::Mapping(_) => text.starts_with('{') && key.key_text() == text,
        NodeKind::Float(_) => key.key_text() == text,
    }
}

#[derive(Clone, Copy)]
pub struct TreeArray<'a>(&'a [Node]);

impl<'a> Array<'a, TreeJson> for TreeArray<'a> {
    type Node = TreeValue<'a>;
    type ElementsIter = std::iter::Map<std::slice::Iter<'a, Node>, fn(&'a Node) -> TreeValue<'a>>;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn elements(&self) -> Self::ElementsIter {
        self.0.iter().map(TreeValue::Node)
    }

    /// `uniqueItems` runs this on every `depends_on`: lists of strings are compared in place.
    fn is_unique(&self) -> bool {
        let strings: Option<Vec<&str>> = self.0.iter().map(Node::as_str).collect();
        match strings {
            Some(mut strings) => {
                strings.sort_unstable();
                strings.windows(2).all(|pair| pair[0] != pair[1])
            }
            None => {
                let values: Vec<Value> = self.0.iter().map(Node::to_json).collect();
                jsonschema::json::unique::is_unique(&values)
            }
        }
    }
}
