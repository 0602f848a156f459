//! The language server: the only module that knows the protocol. It converts between LSP and the
//! analysis layer and runs the ordered event loop.

mod capabilities;
mod diagnostics;
mod dispatch;
mod documents;
pub mod ext;
mod from_proto;
mod handlers;
mod history;
pub mod position;
mod runs;
mod server;
mod sessions;
mod to_proto;

use std::path::PathBuf;

use lsp_server::Connection;
use lsp_types::InitializeParams;

pub use from_proto::key_of;

/// Options of `weft lsp`.
#[derive(Debug, Default, Clone)]
pub struct LspOptions {
    /// Write logs here instead of stderr.
    pub log_file: Option<PathBuf>,
}

/// Serves the Language Server Protocol on stdin/stdout until the client says `exit`.
///
/// Invariant: every message the server sent is on stdout before the process ends, also when the
/// server stops on an error (a panic in a handler that changes state): the writer thread is joined
/// on both paths. The reader thread is joined only after `exit`; on an error it is left blocked on
/// stdin, which the process's end closes.
pub fn run(options: &LspOptions) -> Result<(), String> {
    init_logging(options);
    let (connection, reader, writer) = stdio_connection();
    let served = serve(connection);
    let written = writer.join().map_err(|_| "the writer thread panicked".to_owned())?;
    served?;
    written.map_err(|error| format!("writing to stdout failed: {error}"))?;
    match reader.join() {
        Ok(result) => result.map_err(|error| format!("reading stdin failed: {error}")),
        Err(_) => Err("the reader thread panicked".into()),
    }
}

type IoThread = std::thread::JoinHandle<std::io::Result<()>>;

/// A connection over stdin and stdout, as `lsp_server::Connection::stdio` makes it, with the two
/// threads handed back separately so that the writer can be joined alone.
fn stdio_connection() -> (Connection, IoThread, IoThread) {
    use lsp_server::Message;
    let (writer_sender, writer_receiver) = crossbeam_channel::bounded::<Message>(0);
    let writer = std::thread::Builder::new()
        .name("weft-lsp-writer".into())
        .spawn(move || {
            let mut stdout = std::io::stdout().lock();
            writer_receiver.into_iter().try_for_each(|message| message.write(&mut stdout))
        })
        .expect("spawn the writer thread");
    let (reader_sender, reader_receiver) = crossbeam_channel::bounded::<Message>(0);
    let reader = std::thread::Builder::new()
        .name("weft-lsp-reader".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            while let Some(message) = Message::read(&mut stdin)? {
                let exit = matches!(&message, Message::Notification(n) if n.method == "exit");
                if reader_sender.send(message).is_err() || exit {
                    break;
                }
            }
            Ok(())
        })
        .expect("spawn the reader thread");
    (Connection { sender: writer_sender, receiver: reader_receiver }, reader, writer)
}

/// Runs the protocol on any connection (stdio, or in-memory in tests).
pub fn serve(connection: Connection) -> Result<(), String> {
    let (id, params) = connection.initialize_start().map_err(|error| format!("initialize failed: {error}"))?;
    let params: InitializeParams =
        serde_json::from_value(params).map_err(|error| format!("invalid initialize params: {error}"))?;
    let setup = capabilities::client_setup(&params);
    let result = lsp_types::InitializeResult {
        capabilities: capabilities::server_capabilities(setup.encoding),
        server_info: Some(lsp_types::ServerInfo {
            name: "weft".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    let result = serde_json::to_value(result).map_err(|error| format!("initialize failed: {error}"))?;
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
