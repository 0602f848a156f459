//! Validation against the published JSON Schemas in `schemas/`, with every error placed on the exact
//! key or value by walking the validator's instance path over the spanned tree.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::model::FileKind;
use crate::syntax::{Node, Span};

use super::suggest::did_you_mean_help;
use super::{Code, Diagnostic};

/// A schema's JSON and its compiled validator.
pub struct Schema {
    pub json: Value,
    validator: Validator,
}

impl Schema {
    fn compile(text: &str) -> Schema {
        // The schemas ship inside the binary and are tested, so a broken one is a build defect.
        let json: Value = serde_json::from_str(text).expect("bundled schema is JSON");
        // Our patterns are plain regular expressions: the `regex` engine checks them in linear time,
        // faster than the backtracking default, on every id of every keystroke.
        let validator = jsonschema::options()
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&json)
            .expect("bundled schema compiles");
        Schema { json, validator }
    }

    /// The subschema at a path of instance keys (`["stages", "0", "depends_on"]`), following `$ref`,
    /// `properties`, `items` and `additionalProperties`: what hover and completion describe.
    pub fn subschema_for_instance<'s>(&'s self, path: &[&str]) -> Option<&'s Value> {
        let mut current = self.resolve(&self.json);
        for segment in path {
            let next = if let Some(property) = current.get("properties").and_then(|p| p.get(*segment)) {
                property
            } else if current.get("items").is_some() && segment.parse::<usize>().is_ok() {
                &current["items"]
            } else {
                current.get("additionalProperties").filter(|a| a.is_object())?
            };
            current = self.resolve(next);
        }
        Some(current)
    }

    /// Follows a local `$ref` (`#/$defs/stage`).
    pub fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        resolve(&self.json, schema)
    }
}

/// Follows local `$ref`s (`#/$defs/stage`) of `schema` inside the document `root`.
fn resolve<'s>(root: &'s Value, mut schema: &'s Value) -> &'s Value {
    for _ in 0..16 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else { break };
        let Some(pointer) = reference.strip_prefix('#') else { break };
        match root.pointer(pointer) {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

/// The schema node at a schema path as the validator reports it (`/properties/stages/items/$ref/…`):
/// after a `$ref` segment the walk goes on in the referenced schema.
fn at_schema_path<'s>(root: &'s Value, segments: &[String]) -> Option<&'s Value> {
    let mut current = root;
    for segment in segments {
        if segment == "$ref" {
            current = resolve(root, current);
            continue;
        }
        let owner = if current.get(segment.as_str()).is_some() { current } else { resolve(root, current) };
        current = match owner {
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => owner.get(segment.as_str())?,
        };
    }
    Some(current)
}

static WORKFLOW: LazyLock<Schema> =
    LazyLock::new(|| Schema::compile(include_str!("../../../schemas/workflow.schema.json")));
static PLAN: LazyLock<Schema> = LazyLock::new(|| Schema::compile(include_str!("../../../schemas/plan.schema.json")));
static PROJECT: LazyLock<Schema> = LazyLock::new(|| Schema::compile(include_str!("../../../schemas/weft.schema.json")));

/// The schema of a file kind; phase templates have none yet.
pub fn schema_for(kind: FileKind) -> Option<&'static Schema> {
    match kind {
        FileKind::Workflow => Some(&WORKFLOW),
        FileKind::Plan => Some(&PLAN),
        FileKind::ProjectConfig => Some(&PROJECT),
        FileKind::PhaseTemplate => None,
    }
}

/// Validates a file's tree against its kind's schema.
///
/// When the parse was incomplete, "missing required key" errors are held back: the key may be in
/// the part of the file that did not parse.
pub fn check_schema(kind: FileKind, root: &Node, complete: bool, out: &mut Vec<Diagnostic>) {
    let Some(schema) = schema_for(kind) else {
        return;
    };
    let instance = root.to_json();
    for error in schema.validator.iter_errors(&instance) {
        if let Some(diagnostic) = locate(&schema.json, Some(kind), root, &error, complete, Code::Schema) {
            out.push(diagnostic);
        }
    }
}

/// Validates a value (a stage's `with:`) against a user-written schema (a plugin's `inputs`, whose
/// JSON is `schema_json`), reporting with `code`. An invalid user schema is reported by the caller.
pub fn check_against(validator: &Validator, schema_json: &Value, value: &Node, code: Code, out: &mut Vec<Diagnostic>) {
    let instance = value.to_json();
    for error in validator.iter_errors(&instance) {
        if let Some(diagnostic) = locate(schema_json, None, value, &error, true, code) {
            out.push(diagnostic);
        }
    }
}

fn instance_path(error: &ValidationError<'_>) -> Vec<String> {
    error
        .instance_path()
        .iter()
        .map(|segment| match segment {
            LocationSegment::Property(name) => name.to_string(),
            LocationSegment::Index(index) => index.to_string(),
        })
        .collect()
}

/// The node at an instance path, and the span of the key it stands under when its parent is a mapping.
fn node_at<'n>(root: &'n Node, path: &[String]) -> (&'n Node, Option<Span>) {
    let mut node = root;
    let mut key = None;
    for segment in path {
        key = node.key_of(segment).map(|k| k.span);
        match node.child(segment) {
            Some(child) => node = child,
            None => break,
        }
    }
    (node, key)
}

struct Message {
    text: String,
    help: Option<String>,
}

fn locate(
    schema: &Value,
    kind: Option<FileKind>,
    root: &Node,
    error: &ValidationError<'_>,
    complete: bool,
    code: Code,
) -> Option<Diagnostic> {
    let path = instance_path(error);
    // `unknown-hook` reports a bad hook point with a better message.
    if kind == Some(FileKind::ProjectConfig)
        && path.len() == 3
        && path[0] == "hooks"
        && path[2] == "on"
        && matches!(error.kind(), ValidationErrorKind::Enum { .. })
    {
        return None;
    }
    let (node, key_span) = node_at(root, &path);
    let schema_path: Vec<String> = error.schema_path().iter().map(|segment| segment.to_string()).collect();
    let diagnostics_span;
    let message;
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            // One diagnostic per unknown key, each on its key, with the allowed keys to suggest from.
            let parent = at_schema_path(schema, &schema_path[..schema_path.len().saturating_sub(1)]);
            let allowed: Vec<&str> = parent
                .map(|parent| resolve(schema, parent))
                .and_then(|parent| parent.get("properties"))
                .and_then(Value::as_object)
                .map(|properties| properties.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let name = unexpected.first()?;
            let span = node.key_of(name).map_or(node.span, |key| key.span);
            let mut diagnostic = Diagnostic::new(code, span, format!("unknown key `{name}`"));
            diagnostic.help = did_you_mean_help(name, allowed.iter().copied())
                .or_else(|| (!allowed.is_empty()).then(|| format!("allowed keys: {}", allowed.join(", "))));
            return Some(diagnostic);
        }
        ValidationErrorKind::Required { property } => {
            if !complete {
                return None;
            }
            let property = property.as_str().unwrap_or_default();
            // `dependentRequired` ({"shell": ["run"]}): name the key that brought the requirement.
            let owner = schema_path
                .iter()
                .any(|segment| segment == "dependentRequired")
                .then(|| at_schema_path(schema, &schema_path))
                .flatten()
                .and_then(Value::as_object)
                .and_then(|dependents| {
                    dependents.iter().find(|(key, needs)| {
                        node.get(key).is_some() && needs.as_array().is_some_and(|n| n.iter().any(|p| p == property))
                    })
                })
                .map(|(key, _)| key.as_str());
            match owner.and_then(|owner| Some((owner, node.key_of(owner)?))) {
                Some((owner, key)) => {
                    message =
                        Message { text: format!("`{owner}` goes with `{property}`, which is missing"), help: None };
                    diagnostics_span = key.span;
                }
                None => {
                    message = Message { text: format!("missing required key `{property}`"), help: None };
                    diagnostics_span = object_head(node, key_span);
                }
            }
        }
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::OneOfMultipleValid { .. }
            if has_action_choice(at_schema_path(schema, &schema_path)) =>
        {
            let has_command = node.get("command").is_some();
            let has_run = node.get("run").is_some();
            if !has_command && !has_run && !complete {
                return None;
            }
            if has_command && has_run {
                diagnostics_span = node.key_of("run").map_or(node.span, |k| k.span);
                message = Message {
                    text: "give either `command` or `run`, not both".into(),
                    help: Some("`command` + `args` runs a program directly; `run` is a script for `shell`".into()),
                };
            } else {
                diagnostics_span = object_head(node, key_span);
                message = Message {
                    text: "missing `command` or `run`".into(),
                    help: Some("`command` + `args` runs a program directly; `run` is a script for `shell`".into()),
                };
            }
        }
        _ => {
            message = describe(error, node);
            diagnostics_span = node.span;
        }
    }
    let mut diagnostic = Diagnostic::new(code, diagnostics_span, message.text);
    diagnostic.help = message.help;
    Some(diagnostic)
}

/// The `oneOf` that says "exactly one of `command` or `run`".
fn has_action_choice(one_of: Option<&Value>) -> bool {
    let Some(Value::Array(branches)) = one_of else {
        return false;
    };
    branches.iter().any(|branch| branch.get("required").is_some_and(|r| r == &serde_json::json!(["command"])))
}

/// Where to put an error about a whole object: the key it stands under, else its first key, else
/// the object (so a missing key in a stage underlines one key, not the whole stage).
fn object_head(node: &Node, key_span: Option<Span>) -> Span {
    key_span
        .or_else(|| node.as_mapping().and_then(|entries| entries.first()).map(|(key, _)| key.span))
        .unwrap_or(node.span)
}

fn describe(error: &ValidationError<'_>, node: &Node) -> Message {
    let text = match error.kind() {
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(single) => single.to_string(),
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or "),
            };
            format!("expected {expected}, found {}", node.type_name())
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options.as_array().map(|o| o.iter().map(plain).collect()).unwrap_or_default();
            let value = plain(&node.to_json());
            let candidates: Vec<&str> = options.iter().map(String::as_str).collect();
            return Message {
                text: format!("`{value}` is not one of: {}", options.join(", ")),
                help: did_you_mean_help(&value, candidates.iter().copied()),
            };
        }
        ValidationErrorKind::Pattern { pattern } => {
            let value = plain(&node.to_json());
            match pattern.as_str() {
                "^[A-Za-z0-9_.-]+$" => {
                    format!("`{value}` is not a valid id: use letters, digits, `_`, `.` and `-`")
                }
                "^[A-Za-z_][A-Za-z0-9_]*$" => {
                    format!("`{value}` is not a valid key: use letters, digits and `_`, not starting with a digit")
                }
                _ => format!("`{value}` does not match `{pattern}`"),
            }
        }
        ValidationErrorKind::PropertyNames { error } => {
            format!("invalid key: {}", error.to_string().trim_end_matches('.'))
        }
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        ValidationErrorKind::UniqueItems => "items must be unique".to_owned(),
        ValidationErrorKind::MinItems { limit } => {
            format!("needs at least {limit} item{}", if *limit == 1 { "" } else { "s" })
        }
        ValidationErrorKind::Required { property } => {
            format!("missing required key `{}`", plain(property))
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            format!("unknown key `{}`", unexpected.join("`, `"))
        }
        _ => error.to_string(),
    };
    Message { text, help: None }
}

/// A JSON value as a user wrote it: strings without quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
