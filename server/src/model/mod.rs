//! Tree → typed model: workflows, plans, the project config and phase templates, every field with
//! its span. The model borrows from the tree, so building it is cheap enough to do on every
//! keystroke.

mod config;
pub mod expr;
mod kind;
pub mod phases;
mod pipeline;

pub use config::{hook_point, Hook, Plugin, ProjectConfig, HOOK_CONTEXT_FIELDS, HOOK_POINTS};
pub use kind::FileKind;
pub use phases::{phase_template, substitute_task, Phase, PhaseTemplate, Validation};
pub use pipeline::{ExecutorKind, Name, Pipeline, PipelineKind, Step};

/// Step statuses (SPEC §5, §6).
pub const STEP_STATUSES: [&str; 7] = ["pending", "running", "succeeded", "failed", "skipped", "canceled", "timed_out"];

/// The statuses a hook sees a run in (SPEC §6): `run.status` and `workflow.status` in a `when`.
pub const RUN_STATUSES: [&str; 5] = ["running", "succeeded", "failed", "canceled", "quarantined"];
