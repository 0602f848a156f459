//! Editor features over the workspace, in editor terms: byte offsets in, byte spans and labels out.

pub mod completion;
pub mod context;
pub mod hover;
pub mod navigation;
pub mod occurrences;
pub mod symbols;

use serde_json::Value;

use crate::analysis::schema::Schema;
use crate::model::Pipeline;

/// The step whose mapping holds the cursor: the last one that starts before it.
pub fn current_step(pipeline: &Pipeline<'_>, offset: usize) -> Option<usize> {
    pipeline.steps.iter().rposition(|step| step.node.span.start <= offset)
}

/// The description of the value at a path of instance keys. A property that is a `$ref` with a
/// `description` beside it (`fallback: {$ref: id, description: …}`) is described by its own, more
/// specific text, which following the `$ref` would lose.
pub fn schema_description<'s>(schema: &'s Schema, path: &[&str]) -> Option<&'s str> {
    let (last, parent_path) = path.split_last()?;
    let own = schema
        .subschema_for_instance(parent_path)
        .and_then(|parent| parent.get("properties"))
        .and_then(|properties| properties.get(*last))
        .and_then(|property| property.get("description"));
    own.or_else(|| schema.subschema_for_instance(path)?.get("description")).and_then(Value::as_str)
}
