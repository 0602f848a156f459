//! Text → spanned tree. Parsing never fails: it returns the tree it could build and a list of errors.
//!
//! This module owns the YAML/JSON parser (saphyr-parser, see `docs/adr/0001-yaml-parser.md`) so it can
//! be swapped without touching the layers above.

mod incremental;
mod position;
mod span;
mod split;
mod tree;
mod yaml;

pub use incremental::reparse;
pub use position::{ColumnEncoding, LineIndex, Position};
pub use span::Span;
pub use tree::{shorten, Node, NodeKind, ScalarStyle};
pub use yaml::{parse, Parse, SyntaxError};
