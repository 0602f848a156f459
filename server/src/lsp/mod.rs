//! The language server: the only module that knows the protocol. It converts between LSP and the
//! analysis layer and runs the ordered event loop.

mod handlers;
pub mod position;
mod runs;
mod server;

use std::path::PathBuf;

use lsp_server::Connection;
use lsp_types::InitializeParams;

pub use server::key_of;

/// Options of `weft lsp`.
#[derive(Debug, Default, Clone)]
pub struct LspOptions {
    /// Write logs here instead of stderr.
    pub log_file: Option<PathBuf>,
}

/// Serves the Language Server Protocol on stdin/stdout until the client says `exit`.
pub fn run(options: &LspOptions) -> Result<(), String> {
    init_logging(options);
    let (connection, io_threads) = Connection::stdio();
    serve(connection)?;
    io_threads.join().map_err(|error| format!("I/O thread failed: {error}"))?;
    Ok(())
}

/// Runs the protocol on any connection (stdio, or in-memory in tests).
pub fn serve(connection: Connection) -> Result<(), String> {
    let (id, params) = connection.initialize_start().map_err(|error| format!("initialize failed: {error}"))?;
    let params: InitializeParams =
        serde_json::from_value(params).map_err(|error| format!("invalid initialize params: {error}"))?;
    let setup = server::client_setup(&params);
    let result = serde_json::json!({
        "capabilities": server::server_capabilities(setup.encoding),
        "serverInfo": { "name": "weft", "version": env!("CARGO_PKG_VERSION") },
    });
    connection.initialize_finish(id, result).map_err(|error| format!("initialize failed: {error}"))?;
    tracing::info!("initialized; workspace roots: {:?}", setup.roots);
    server::Server::new(connection, setup).run()
}

fn init_logging(options: &LspOptions) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WEFT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    // Logs never go to stdout: stdout is the protocol.
    let file = options
        .log_file
        .as_ref()
        .and_then(|path| std::fs::OpenOptions::new().create(true).append(true).open(path).ok());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    let _ = match file {
        Some(file) => builder.with_writer(std::sync::Mutex::new(file)).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}
