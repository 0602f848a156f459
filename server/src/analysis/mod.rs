//! Diagnostics and editor features, in editor terms (byte offsets, labels) and with no protocol
//! types. The command line and the language server call the same functions.

mod config_checks;
mod diagnostic;
pub mod edits;
mod expressions;
pub mod graph;
pub mod held_back;
pub mod ide;
mod inputs;
mod phase_checks;
mod pipeline_checks;
mod plugin_stub;
pub mod schema;
mod source;
pub mod suggest;
mod workspace;

pub use diagnostic::{Code, Diagnostic, Edit, Fix, Location, Related, Severity};
pub use source::SourceFile;
pub use workspace::{Document, Workspace};
