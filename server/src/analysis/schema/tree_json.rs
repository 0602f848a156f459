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
            (None, _) => jsonschema::json::cmp::equal(&self.to_value(), expected),
        }
    }

    /// For errors only.
    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(match *self {
            TreeValue::Node(node) => node.to_json(),
            TreeValue::WithoutList { root, list } => match root.as_mapping() {
                Some(entries) => Value::Object(
                    entries
                        .iter()
                        .map(|(key, value)| {
                            let json =
                                if std::ptr::eq(value, list) { Value::Array(Vec::new()) } else { value.to_json() };
                            (key.key_text(), json)
                        })
                        .collect(),
                ),
                None => root.to_json(),
            },
            TreeValue::EmptyArray => Value::Array(Vec::new()),
            TreeValue::Str(string) => Value::String(string.to_owned()),
        })
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

/// A mapping; `emptied` is a value read as an empty array ([`TreeValue::WithoutList`]).
#[derive(Clone, Copy)]
pub struct TreeObject<'a> {
    entries: &'a [(Node, Node)],
    emptied: Option<&'a Node>,
    /// All keys are strings, which the parser keeps distinct: no two members share a name.
    plain: bool,
}

impl<'a> TreeObject<'a> {
    fn new(entries: &'a [(Node, Node)], emptied: Option<&'a Node>) -> TreeObject<'a> {
        let plain = entries.iter().all(|(key, _)| key.as_str().is_some());
        TreeObject { entries, emptied, plain }
    }

    fn value(&self, node: &'a Node) -> TreeValue<'a> {
        match self.emptied {
            Some(emptied) if std::ptr::eq(node, emptied) => TreeValue::EmptyArray,
            _ => TreeValue::Node(node),
        }
    }

    /// The members as `to_json` makes them when keys may share a text: at the first key's place,
    /// with the last one's value.
    fn merged(&self) -> Vec<(Cow<'a, str>, TreeValue<'a>)> {
        let mut members: Vec<(Cow<'a, str>, TreeValue<'a>)> = Vec::with_capacity(self.entries.len());
        for (key, value) in self.entries {
            let name = key.as_str().map_or_else(|| Cow::Owned(key.key_text()), Cow::Borrowed);
            match members.iter_mut().find(|(existing, _)| *existing == name) {
                Some(member) => member.1 = self.value(value),
                None => members.push((name, self.value(value))),
            }
        }
        members
    }
}

pub enum TreeMembers<'a> {
    Plain { object: TreeObject<'a>, entries: std::slice::Iter<'a, (Node, Node)> },
    Merged(std::vec::IntoIter<(Cow<'a, str>, TreeValue<'a>)>),
}

impl<'a> Iterator for TreeMembers<'a> {
    type Item = (Cow<'a, str>, TreeValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            TreeMembers::Plain { object, entries } => entries.next().map(|(key, value)| {
                (Cow::Borrowed(key.as_str().expect("a plain mapping's keys are strings")), object.value(value))
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
        if self.plain {
            self.entries.len()
        } else {
            self.merged().len()
        }
    }

    fn get(&self, key: &Box<str>) -> Option<TreeValue<'a>> {
        if self.plain {
            return self
                .entries
                .iter()
                .find(|(name, _)| name.as_str() == Some(&**key))
                .map(|(_, value)| self.value(value));
        }
        self.merged().into_iter().find(|(name, _)| **name == **key).map(|(_, value)| value)
    }

    fn members(&self) -> TreeMembers<'a> {
        if self.plain {
            TreeMembers::Plain { object: *self, entries: self.entries.iter() }
        } else {
            TreeMembers::Merged(self.merged().into_iter())
        }
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
