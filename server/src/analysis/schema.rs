//! Validation against the published JSON Schemas in `schemas/`, with every error placed on the exact
//! key or value by walking the validator's instance path over the spanned tree.
//!
//! The validator reads the tree in place ([`TreeJson`]). A workflow or plan is validated without
//! its list of stages and then stage by stage, so that [`SchemaCache`] can answer for every stage
//! whose text a keystroke did not change.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;
pub use tree_json::{TreeJson, TreeValue};

use crate::model::FileKind;
use crate::syntax::{lost_between, Node, NodeKind, Parse, Span};

use super::suggest::did_you_mean_help;
use super::{Code, Diagnostic};

mod tree_json;

/// A validator that reads the spanned tree in place ([`TreeJson`]).
pub type TreeValidator = Validator<TreeJson>;

/// A schema's JSON and its compiled validator.
pub struct Schema {
    pub json: Value,
    validator: TreeValidator,
    /// Set when the file's list of stages or steps can be validated one item at a time.
    items: Option<ItemSchema>,
}

/// A validator for one item of a file's `stages` or `steps` list (`#/$defs/stage`), so that a file
/// is validated stage by stage and a stage whose text has not changed need not be validated again.
struct ItemSchema {
    /// `stages` or `steps`.
    list_key: &'static str,
    validator: TreeValidator,
}

impl Schema {
    fn compile(text: &str, list_key: Option<&'static str>) -> Schema {
        // The schemas ship inside the binary and are tested, so a broken one is a build defect.
        let json: Value = serde_json::from_str(text).expect("bundled schema is JSON");
        let validator = compile_validator(&json);
        let items = list_key.and_then(|list_key| {
            let document = item_schema_document(&json, list_key)?;
            Some(ItemSchema { list_key, validator: compile_validator(&document) })
        });
        Schema { json, validator, items }
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

fn compile_validator(json: &Value) -> TreeValidator {
    // Our patterns are plain regular expressions: the `regex` engine checks them in linear time,
    // faster than the backtracking default, on every id of every keystroke.
    jsonschema::options_for::<TreeJson>()
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(json)
        .expect("bundled schema compiles")
}

/// The schema of one item of the list `list_key`, as a document of its own (`{"$ref":
/// "#/$defs/stage", "$defs": …}`), when validating the file with that list empty and then each item
/// against it gives exactly the errors of validating the whole file: the root uses only keywords that
/// look at the list's presence or name, and the list's schema says nothing but "an array whose items
/// are `$ref`" (no `minItems`, `uniqueItems`, `contains`…). `None` otherwise, and the file is
/// validated whole.
fn item_schema_document(root: &Value, list_key: &str) -> Option<Value> {
    const ROOT_KEYWORDS: [&str; 10] = [
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "type",
        "additionalProperties",
        "required",
        "properties",
        "$defs",
    ];
    const ANNOTATIONS: [&str; 4] = ["$comment", "title", "description", "markdownDescription"];
    let root_object = root.as_object()?;
    if !root_object.keys().all(|keyword| ROOT_KEYWORDS.contains(&keyword.as_str())) {
        return None;
    }
    let list = root_object.get("properties")?.get(list_key)?.as_object()?;
    let list_only_types_items =
        list.keys().all(|keyword| ANNOTATIONS.contains(&keyword.as_str()) || keyword == "type" || keyword == "items");
    if !list_only_types_items || list.get("type")? != "array" {
        return None;
    }
    let items = list.get("items")?.as_object()?;
    if !items.keys().all(|keyword| ANNOTATIONS.contains(&keyword.as_str()) || keyword == "$ref") {
        return None;
    }
    let reference = items.get("$ref")?.as_str().filter(|reference| reference.starts_with("#/"))?;
    let mut document = serde_json::Map::new();
    for keyword in ["$schema", "$id", "$defs"] {
        if let Some(value) = root_object.get(keyword) {
            document.insert(keyword.to_owned(), value.clone());
        }
    }
    document.insert("$ref".to_owned(), Value::String(reference.to_owned()));
    Some(Value::Object(document))
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
    LazyLock::new(|| Schema::compile(include_str!("../../../schemas/workflow.schema.json"), Some("stages")));
static PLAN: LazyLock<Schema> =
    LazyLock::new(|| Schema::compile(include_str!("../../../schemas/plan.schema.json"), Some("steps")));
static PROJECT: LazyLock<Schema> =
    LazyLock::new(|| Schema::compile(include_str!("../../../schemas/weft.schema.json"), None));
static PHASES: LazyLock<Schema> =
    LazyLock::new(|| Schema::compile(include_str!("../../../schemas/phases.schema.json"), None));

/// The schema of a file kind.
pub fn schema_for(kind: FileKind) -> Option<&'static Schema> {
    Some(match kind {
        FileKind::Workflow => &WORKFLOW,
        FileKind::Plan => &PLAN,
        FileKind::ProjectConfig => &PROJECT,
        FileKind::PhaseTemplate => &PHASES,
    })
}

/// Validates a file's tree (read from `text`) against its kind's schema.
///
/// When the parse was incomplete, "missing required key" errors are held back: the key may be in
/// the part of the file that did not parse.
pub fn check_schema(kind: FileKind, text: &str, parse: &Parse, out: &mut Vec<Diagnostic>) {
    validate(kind, text, parse, None, out);
}

/// Each stage's schema diagnostics from earlier checks of one file, keyed by the stage's text, so
/// that after a keystroke only the stage that changed is validated again.
///
/// Invariant: an entry holds exactly what validating a stage of that text (at that column, in that
/// kind of file) reports, with spans relative to the stage's start. That holds because a stage's
/// value depends on its text alone when the file has no syntax errors (recovery blanks lines, so
/// other lines could change what a stage holds) and no aliases (an alias copies a value written
/// elsewhere); the cache is used only then.
#[derive(Debug, Default)]
pub struct SchemaCache {
    stages: foldhash::HashMap<StageKey, CachedStage>,
    /// Counts checks, so that eviction keeps what the latest check used.
    generation: u64,
}

impl SchemaCache {
    pub fn new() -> SchemaCache {
        SchemaCache::default()
    }

    /// As [`check_schema`], answering from the cache for stages whose text it has seen and filling
    /// it with the rest. When the text had syntax errors nothing is read from or written to the
    /// cache.
    pub fn check(&mut self, kind: FileKind, text: &str, parse: &Parse, out: &mut Vec<Diagnostic>) {
        let cache = parse.errors.is_empty().then_some(self);
        validate(kind, text, parse, cache, out);
    }

    /// How many stages the cache holds.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    pub fn clear(&mut self) {
        self.stages.clear();
    }

    /// Keeps the cache at most about twice the size of the file last checked: when it grows beyond
    /// that, only the stages that check used stay.
    fn evict(&mut self, stages_in_file: usize) {
        if self.stages.len() > 2 * stages_in_file + 64 {
            let generation = self.generation;
            self.stages.retain(|_, stage| stage.used == generation);
        }
    }
}

/// What a stage's schema diagnostics depend on: its text up to the next stage (so that trailing
/// lines a block scalar keeps are included), the column it starts at (indentation decides nesting),
/// whether the list is a flow list, the kind of file and whether the parse was complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct StageKey {
    text_hash: u128,
    text_len: usize,
    column: usize,
    flow: bool,
    kind: FileKind,
    complete: bool,
}

#[derive(Debug)]
struct CachedStage {
    /// Spans relative to the stage's start.
    diagnostics: Box<[Diagnostic]>,
    used: u64,
}

/// Two independently seeded 64-bit hashes of a stage's text: a collision would show one stage's
/// errors on another, so 64 bits are not enough to be comfortable with.
static STAGE_HASHERS: LazyLock<(foldhash::quality::FixedState, foldhash::quality::FixedState)> = LazyLock::new(|| {
    (
        foldhash::quality::FixedState::with_seed(0x5745_4654_5f73_7461),
        foldhash::quality::FixedState::with_seed(0x6765_5f63_6163_6865),
    )
});

fn stage_key(
    text: &str,
    region: std::ops::Range<usize>,
    flow: bool,
    kind: FileKind,
    complete: bool,
) -> Option<StageKey> {
    let region_text = text.get(region.clone())?;
    let column = region.start - text[..region.start].rfind('\n').map_or(0, |newline| newline + 1);
    let (first, second) = &*STAGE_HASHERS;
    let text_hash = u128::from(first.hash_one(region_text)) << 64 | u128::from(second.hash_one(region_text));
    Some(StageKey { text_hash, text_len: region_text.len(), column, flow, kind, complete })
}

fn validate(kind: FileKind, text: &str, parse: &Parse, mut cache: Option<&mut SchemaCache>, out: &mut Vec<Diagnostic>) {
    let (Some(schema), Some(root)) = (schema_for(kind), parse.root.as_ref()) else {
        return;
    };
    let complete = parse.complete;
    // A file with aliases is validated whole: a value reached through an alias sits at its anchor's
    // span, so one error could be reported both at top level and in a stage, and their order (which
    // decides which duplicates are merged) would differ from validating the whole file.
    let split = schema.items.as_ref().filter(|_| !parse.aliases).and_then(|items| {
        let list = root.get(items.list_key)?;
        Some((items, list, list.as_sequence()?))
    });
    let locator = Locator { schema: &schema.json, kind: Some(kind), complete, lost: &parse.lost, code: Code::Schema };
    let Some((items, list, stages)) = split else {
        locator.report(&schema.validator, TreeValue::Node(root), root, usize::MAX, out);
        return;
    };
    // The file without its list: the list's own schema ("an array") is all the root sees of it.
    locator.report(&schema.validator, TreeValue::WithoutList { root, list }, root, usize::MAX, out);
    let list_end = super::held_back::follower(root, list);
    let flow = text.as_bytes().get(list.span.start) == Some(&b'[');
    if let Some(cache) = cache.as_deref_mut() {
        cache.generation += 1;
    }
    for (index, stage) in stages.iter().enumerate() {
        let key = cache.as_ref().and_then(|_| {
            let end = stages.get(index + 1).map_or(text.len(), |next| next.span.start);
            stage_key(text, stage.span.start..end, flow, kind, complete)
        });
        if let (Some(cache), Some(key)) = (cache.as_deref_mut(), key) {
            if let Some(cached) = cache.stages.get_mut(&key) {
                cached.used = cache.generation;
                out.extend(cached.diagnostics.iter().map(|diagnostic| shifted(diagnostic, stage.span.start, true)));
                continue;
            }
        }
        let before = out.len();
        let stage_end = stages.get(index + 1).map_or(list_end, |next| next.span.start);
        locator.report(&items.validator, TreeValue::Node(stage), stage, stage_end, out);
        if let (Some(cache), Some(key)) = (cache.as_deref_mut(), key) {
            let inside = out[before..].iter().all(|diagnostic| {
                diagnostic.span.start >= stage.span.start
                    && diagnostic.related.is_empty()
                    && diagnostic.fixes.is_empty()
            });
            if inside {
                let diagnostics =
                    out[before..].iter().map(|diagnostic| shifted(diagnostic, stage.span.start, false)).collect();
                cache.stages.insert(key, CachedStage { diagnostics, used: cache.generation });
            }
        }
    }
    if let Some(cache) = cache {
        cache.evict(stages.len());
    }
}

/// A copy of a stage's diagnostic moved to a stage that starts at `start` (`forward`), or made
/// relative to it.
fn shifted(diagnostic: &Diagnostic, start: usize, forward: bool) -> Diagnostic {
    let mut copy = diagnostic.clone();
    copy.span = if forward {
        Span::new(diagnostic.span.start + start, diagnostic.span.end + start)
    } else {
        Span::new(diagnostic.span.start - start, diagnostic.span.end - start)
    };
    copy
}

/// Validates a value (a stage's `with:`) against a user-written schema (a plugin's `inputs`, whose
/// JSON is `schema_json`), reporting with `code`. An invalid user schema is reported by the caller.
pub fn check_against(
    validator: &TreeValidator,
    schema_json: &Value,
    value: &Node,
    code: Code,
    out: &mut Vec<Diagnostic>,
) {
    let locator = Locator { schema: schema_json, kind: None, complete: true, lost: &[], code };
    locator.report(validator, TreeValue::Node(value), value, usize::MAX, out);
}

/// A mapping with more unknown keys than this gets one diagnostic per key up to this many, and one
/// for the rest: a pasted blob of 100,000 keys costs what its text costs, and an editor is not sent
/// 100,000 diagnostics.
const MAX_UNKNOWN_KEYS_PER_MAPPING: usize = 100;

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
    let (node, key, _) = node_at_with_end(root, usize::MAX, path);
    (node, key)
}

/// As [`node_at`], and where the text that may belong to the node ends: where its next sibling (or
/// an ancestor's) begins, `root_end` for the root. A value may have lost content anywhere before it.
fn node_at_with_end<'n>(root: &'n Node, root_end: usize, path: &[String]) -> (&'n Node, Option<Span>, usize) {
    let mut node = root;
    let mut key = None;
    let mut end = root_end;
    for segment in path {
        let (child, child_key, next) = match &node.kind {
            NodeKind::Mapping(entries) => {
                let Some(index) = entries.iter().position(|(k, _)| k.as_str() == Some(segment.as_str())) else {
                    break;
                };
                (&entries[index].1, Some(entries[index].0.span), entries.get(index + 1).map(|(k, _)| k.span.start))
            }
            NodeKind::Sequence(items) => {
                let Some(index) = segment.parse::<usize>().ok().filter(|&index| index < items.len()) else {
                    break;
                };
                (&items[index], None, items.get(index + 1).map(|item| item.span.start))
            }
            _ => break,
        };
        key = child_key;
        node = child;
        end = next.unwrap_or(end);
    }
    (node, key, end)
}

struct Message {
    text: String,
    help: Option<String>,
}

/// How the errors of one validation become diagnostics.
#[derive(Clone, Copy)]
struct Locator<'a> {
    /// The whole schema the errors' schema paths point into.
    schema: &'a Value,
    kind: Option<FileKind>,
    complete: bool,
    /// The parts of the text the parser lost (see [`Parse::lost`]): an error about a value that
    /// may have lost content there is held back, as the syntax error is its cause.
    lost: &'a [Span],
    code: Code,
}

impl Locator<'_> {
    /// Validates `instance`, the JSON of `node`, and reports each error at its place in `node`.
    ///
    /// The validator names its errors' schema paths where the schema is written (`/$defs/step/oneOf`,
    /// not through the `$ref` that led there), so a stage's errors have the same schema paths in
    /// the item schema as in the file's.
    /// `end` is where the text that may belong to `node` ends (see [`node_at_with_end`]).
    fn report(
        &self,
        validator: &TreeValidator,
        instance: TreeValue<'_>,
        node: &Node,
        end: usize,
        out: &mut Vec<Diagnostic>,
    ) {
        // Most values are valid, and telling that is cheaper than collecting no errors.
        if validator.is_valid(instance) {
            return;
        }
        for error in validator.iter_errors(instance) {
            let path = instance_path(&error);
            let unknown_keys = matches!(error.kind(), ValidationErrorKind::AdditionalProperties { .. });
            if !unknown_keys && self.lost_content(node, end, &path) {
                continue;
            }
            let schema_path: Vec<String> = error.schema_path().iter().map(|segment| segment.to_string()).collect();
            self.diagnose(node, &path, &schema_path, &error, out);
        }
    }

    /// True when the error is about a collection, or an empty value, that may have lost content to a
    /// syntax error: "expected array, found null" on `stages:` whose items were set aside is the
    /// syntax error's consequence, not a second problem. An unknown key is there, and reported.
    fn lost_content(&self, root: &Node, root_end: usize, path: &[String]) -> bool {
        if self.lost.is_empty() {
            return false;
        }
        let (node, _, end) = node_at_with_end(root, root_end, path);
        // An empty value where the lost text ends is what the loss left (`- { id: a, run: x/{y} }`
        // set aside whole leaves a null item at the end of its line).
        let start = match node.kind {
            NodeKind::Null if node.span.is_empty() => node.span.start.saturating_sub(1),
            _ => node.span.start,
        };
        matches!(node.kind, NodeKind::Null | NodeKind::Sequence(_) | NodeKind::Mapping(_))
            && lost_between(self.lost, start, end)
    }

    /// The diagnostics for one validation error (one per unknown key, else at most one).
    fn diagnose(
        &self,
        root: &Node,
        path: &[String],
        schema_path: &[String],
        error: &ValidationError<'_>,
        out: &mut Vec<Diagnostic>,
    ) {
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                out.extend(self.unknown_keys(root, path, schema_path, unexpected));
            }
            _ => out.extend(self.locate(root, path, schema_path, error)),
        }
    }

    /// One diagnostic per unknown key, each on its key, with the allowed keys to suggest from.
    fn unknown_keys<'a>(
        &'a self,
        root: &'a Node,
        path: &[String],
        schema_path: &[String],
        unexpected: &'a [String],
    ) -> impl Iterator<Item = Diagnostic> + 'a {
        let (node, _) = node_at(root, path);
        let parent = at_schema_path(self.schema, &schema_path[..schema_path.len().saturating_sub(1)]);
        let allowed: Vec<&str> = parent
            .map(|parent| resolve(self.schema, parent))
            .and_then(|parent| parent.get("properties"))
            .and_then(Value::as_object)
            .map(|properties| properties.keys().map(String::as_str).collect())
            .unwrap_or_default();
        // One pass over the mapping's keys, so that n unknown keys cost O(n), not n lookups.
        let mut spans: foldhash::HashMap<&str, Span> = foldhash::HashMap::default();
        for (key, _) in node.as_mapping().unwrap_or_default() {
            if let Some(name) = key.as_str() {
                spans.entry(name).or_insert(key.span);
            }
        }
        let span_of = move |name: &str| spans.get(name).copied().unwrap_or(node.span);
        let reported = unexpected.len().min(MAX_UNKNOWN_KEYS_PER_MAPPING);
        let each = unexpected[..reported].iter().map({
            let span_of = span_of.clone();
            move |name| {
                let message = format!("unknown key `{}`", crate::syntax::shorten(name));
                let mut diagnostic = Diagnostic::new(self.code, span_of(name), message);
                diagnostic.help = did_you_mean_help(name, allowed.iter().copied())
                    .or_else(|| (!allowed.is_empty()).then(|| format!("allowed keys: {}", allowed.join(", "))));
                diagnostic
            }
        });
        // The rest in one diagnostic, on the first of them.
        let rest = unexpected.get(reported).map(move |first| {
            let more = unexpected.len() - reported;
            Diagnostic::new(
                self.code,
                span_of(first),
                format!(
                    "{more} more unknown keys in this mapping, from `{}` on (only the first {reported} are reported one by one)",
                    crate::syntax::shorten(first)
                ),
            )
        });
        each.chain(rest)
    }

    /// The diagnostic for one validation error: `path` is its instance path inside `root`, and
    /// `schema_path` its path inside [`Locator::schema`].
    fn locate(
        &self,
        root: &Node,
        path: &[String],
        schema_path: &[String],
        error: &ValidationError<'_>,
    ) -> Option<Diagnostic> {
        let Locator { schema, kind, complete, code, .. } = *self;
        // `unknown-hook` reports a bad hook point with a better message.
        if kind == Some(FileKind::ProjectConfig)
            && path.len() == 3
            && path[0] == "hooks"
            && path[2] == "on"
            && matches!(error.kind(), ValidationErrorKind::Enum { .. })
        {
            return None;
        }
        let (node, key_span) = node_at(root, path);
        let diagnostics_span;
        let message;
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { .. } => return None, // See `unknown_keys`.
            ValidationErrorKind::Required { property } => {
                if !complete {
                    return None;
                }
                let property = property.as_str().unwrap_or_default();
                // `dependentRequired` ({"shell": ["run"]}): name the key that brought the requirement.
                let owner = schema_path
                    .iter()
                    .any(|segment| segment == "dependentRequired")
                    .then(|| at_schema_path(schema, schema_path))
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
                if has_action_choice(at_schema_path(schema, schema_path)) =>
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
                        help: Some("`command` + `args` runs a program directly; `run` is a script for `shell`; a step with `approval` needs neither".into()),
                    };
                }
            }
            // `"anyOf": [{"required": [A]}, {"required": [B]}]`: a stage needs a `script` or an
            // `approval`.
            ValidationErrorKind::AnyOf { .. } if required_choice(at_schema_path(schema, schema_path)).is_some() => {
                if !complete {
                    return None;
                }
                let keys = required_choice(at_schema_path(schema, schema_path)).unwrap_or_default();
                diagnostics_span = object_head(node, key_span);
                message = Message { text: format!("missing `{}`", keys.join("` or `")), help: None };
            }
            // `"not": {"required": [KEYS]}`: a key that has no meaning where it is, or keys that
            // do not go together (the schema says why in the `not`'s description), underlined at
            // the last of them in the file.
            ValidationErrorKind::Not { schema: not } if not["required"].as_array().is_some_and(|r| !r.is_empty()) => {
                let keys: Vec<&str> =
                    not["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let last = keys.iter().filter_map(|key| node.key_of(key)).max_by_key(|key| key.span.start);
                diagnostics_span = last.map_or_else(|| object_head(node, key_span), |key| key.span);
                let text = match not["description"].as_str() {
                    Some(why) => why.to_owned(),
                    None => format!("`{}` do not go together here", keys.join("`, `")),
                };
                message = Message { text, help: None };
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
}

/// The `oneOf` that says "exactly one of `command` or `run`".
fn has_action_choice(one_of: Option<&Value>) -> bool {
    let Some(Value::Array(branches)) = one_of else {
        return false;
    };
    branches.iter().any(|branch| branch.get("required").is_some_and(|r| r == &serde_json::json!(["command"])))
}

/// The keys of an `anyOf` whose every branch only requires one key (`script` or `approval`).
fn required_choice(any_of: Option<&Value>) -> Option<Vec<String>> {
    let Some(Value::Array(branches)) = any_of else { return None };
    branches
        .iter()
        .map(|branch| match branch.as_object() {
            Some(object) if object.len() == 1 => match object.get("required")?.as_array()?.as_slice() {
                [Value::String(key)] => Some(key.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
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
                "^[a-z0-9_.-]+$" => {
                    format!("`{value}` is not a valid event name: use lower-case letters, digits, `_`, `.` and `-`")
                }
                "^[0-9]+[KMGT]?$" => format!(
                    "`{value}` is not a memory size: a whole number with an optional unit K, M, G or T (`512M`, `4G`)"
                ),
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
        ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_owned(),
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

#[cfg(test)]
mod tests;
