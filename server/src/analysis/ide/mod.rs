//! Editor features over the workspace, in editor terms: byte offsets in, byte spans and labels out.

pub mod completion;
pub mod context;
pub mod hover;
pub mod navigation;
pub mod occurrences;
pub mod symbols;

use crate::model::Pipeline;

/// The step whose mapping holds the cursor: the last one that starts before it.
pub fn current_step(pipeline: &Pipeline<'_>, offset: usize) -> Option<usize> {
    pipeline.steps.iter().rposition(|step| step.node.span.start <= offset)
}
