//! Tree → typed model: workflows, plans and the project config, every field with its span. The model
//! borrows from the tree, so building it is cheap enough to do on every keystroke.

mod config;
pub mod expr;
mod kind;
mod pipeline;

pub use config::{hook_point, Hook, Plugin, ProjectConfig, HOOK_CONTEXT_FIELDS, HOOK_POINTS};
pub use kind::FileKind;
pub use pipeline::{Name, Pipeline, PipelineKind, Step};

/// Run and step statuses (SPEC §5, §6).
pub const STEP_STATUSES: [&str; 7] = ["pending", "running", "succeeded", "failed", "skipped", "canceled", "timed_out"];
