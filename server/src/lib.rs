//! weft: a checker, language server and run engine for workflow and plan files.
//!
//! The layers depend on each other in one direction only: `syntax` (text → spanned tree) → `model`
//! (tree → typed workflow, plan, project config) → `analysis` (diagnostics and editor features, no
//! protocol types) → `engine` (runs) → `store` (the history), with `lsp` and `cli` at the edges.
//! ARCHITECTURE.md at the repository root describes them; `tests/architecture.rs` keeps them so.

pub mod allocator;
pub mod analysis;
pub mod cli;
pub mod engine;
pub mod fs;
pub mod lsp;
pub mod model;
pub mod session;
pub mod store;
pub mod syntax;
