//! Text → spanned tree. Parsing never fails: it returns the tree it could build and a list of errors.
//!
//! This module owns the YAML/JSON parser (saphyr-parser, see `docs/adr/0001-yaml-parser.md`) so it can
//! be swapped without touching the layers above. `.json` files are read as strict JSON: the same
//! reader builds the tree, and a scan of its own reports what JSON does not allow
//! (`docs/adr/0005-strict-json.md`).

mod incremental;
mod json;
mod position;
mod span;
mod split;
mod tree;
mod yaml;

use std::path::Path;

pub use incremental::reparse;
pub use json::parse_json;
pub use position::{ColumnEncoding, LineIndex, Position};
pub use span::Span;
pub use tree::{shorten, Node, NodeKind, ScalarStyle};
pub use yaml::{lost_between, parse, Parse, SyntaxError};

/// How a file's text is read, by its name: a `.json` file is strict JSON (SPEC §1), anything else YAML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    pub fn of_path(path: &Path) -> Format {
        match path.extension().and_then(|extension| extension.to_str()) {
            Some(extension) if extension.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }

    /// Reads `text` in this format. Never fails and never panics.
    pub fn parse(self, text: &str) -> Parse {
        match self {
            Format::Yaml => parse(text),
            Format::Json => parse_json(text),
        }
    }
}
