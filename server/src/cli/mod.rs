//! The command line: argument parsing and rendering. All analysis happens in `crate::analysis`.

pub mod check;
/// Finding and reading files, shared with the language server.
pub use crate::fs as files;
pub mod graph;
pub mod render;
pub mod report;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use graph::GraphFormat;
use render::Format;

/// weft checks, runs and explains workflow and plan files.
#[derive(Parser, Debug)]
#[command(name = "weft", version, about, long_about = None, after_help = "Examples:\n  weft check examples/\n  weft check --format github .\n  weft graph examples/release/release.plan.yaml --format mermaid")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check workflow, plan and weft.yaml files; exit 1 when errors are found, 2 on usage or I/O errors.
    Check {
        /// Files and folders to check (folders are searched recursively). Default: the current folder.
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// When to colour human output.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Serve the Language Server Protocol on stdin/stdout (for editors).
    Lsp {
        /// Use stdin/stdout (the default and only transport; accepted because clients pass it).
        #[arg(long)]
        stdio: bool,
        /// Write logs to this file instead of stderr (filter with WEFT_LOG, e.g. WEFT_LOG=debug).
        #[arg(long)]
        log_file: Option<PathBuf>,
    },
    /// Print the dependency graph of a workflow or plan, grouped by wave.
    Graph {
        /// The workflow or plan file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // clap uses exit 0 for --help and --version and 2 for usage errors, as SPEC §10 wants.
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    let status = match cli.command {
        Command::Check { paths, format, color } => check::run(&paths, format, color.enabled()),
        Command::Graph { file, format } => graph::run(&file, format),
        Command::Lsp { stdio: _, log_file } => match crate::lsp::run(&crate::lsp::LspOptions { log_file }) {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("error: {error}");
                1
            }
        },
    };
    ExitCode::from(status)
}
