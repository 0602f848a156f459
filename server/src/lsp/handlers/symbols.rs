//! The outline of a file and of the workspace: symbols, folding ranges, links and inlay hints.

use lsp_types::*;

use crate::analysis::ide::symbols::{document_links, document_symbols, folding_ranges, inlay_hints, workspace_symbols};
use crate::lsp::dispatch::RequestResult;
use crate::lsp::from_proto;
use crate::lsp::runs::result_title;
use crate::lsp::server::Server;
use crate::lsp::to_proto;

pub fn document_symbol(server: &Server, params: DocumentSymbolParams) -> RequestResult<Option<DocumentSymbolResponse>> {
    let Some((_, document)) = from_proto::document(server, &params.text_document.uri) else { return Ok(None) };
    let symbols = document_symbols(&document)
        .into_iter()
        .map(|symbol| to_proto::document_symbol(server, &document.source, symbol))
        .collect();
    Ok(Some(DocumentSymbolResponse::Nested(symbols)))
}

pub fn workspace_symbol(
    server: &Server,
    params: WorkspaceSymbolParams,
) -> RequestResult<Option<WorkspaceSymbolResponse>> {
    #[allow(deprecated)]
    let symbols: Vec<SymbolInformation> = workspace_symbols(&server.workspace, &params.query)
        .into_iter()
        .filter_map(|symbol| {
            Some(SymbolInformation {
                location: to_proto::location(server, &symbol.key, symbol.span)?,
                name: symbol.name,
                kind: to_proto::symbol_kind(symbol.kind),
                tags: None,
                deprecated: None,
                container_name: symbol.container,
            })
        })
        .collect();
    Ok(Some(WorkspaceSymbolResponse::Flat(symbols)))
}

pub fn folding_range(server: &Server, params: FoldingRangeParams) -> RequestResult<Option<Vec<FoldingRange>>> {
    let Some((_, document)) = from_proto::document(server, &params.text_document.uri) else { return Ok(None) };
    let ranges = folding_ranges(&document)
        .into_iter()
        .map(|(start, end)| FoldingRange {
            start_line: start,
            end_line: end,
            kind: Some(FoldingRangeKind::Region),
            ..Default::default()
        })
        .collect();
    Ok(Some(ranges))
}

pub fn document_link(server: &Server, params: DocumentLinkParams) -> RequestResult<Option<Vec<DocumentLink>>> {
    let Some((key, document)) = from_proto::document(server, &params.text_document.uri) else { return Ok(None) };
    let links = document_links(&key, &document)
        .into_iter()
        .map(|link| DocumentLink {
            range: to_proto::range(server, &document.source, link.span),
            target: Url::from_file_path(&link.target).ok(),
            tooltip: None,
            data: None,
        })
        .collect();
    Ok(Some(links))
}

/// The wave of each step, and its last result when it has run (from the history kept in memory).
pub fn inlay_hint(server: &Server, params: InlayHintParams) -> RequestResult<Option<Vec<InlayHint>>> {
    let Some((key, document)) = from_proto::document(server, &params.text_document.uri) else { return Ok(None) };
    let history = server.runs.history.file(&key);
    let pipeline = document.pipeline();
    // A phase template's hints ("2/6") say where each session stands ("2/6 · ▶ T-1").
    let sessions = if document.kind == Some(crate::model::FileKind::PhaseTemplate) {
        super::sessions::hint_suffixes(server, &key, &document)
    } else {
        Vec::new()
    };
    let hints = inlay_hints(&document)
        .into_iter()
        .map(|hint| {
            let id = pipeline
                .as_ref()
                .and_then(|p| p.steps.iter().find_map(|s| s.id.filter(|id| id.span.end == hint.offset)));
            let result = id.zip(history.as_ref()).and_then(|(id, history)| history.last.get(id.text));
            let label = match result {
                Some((_, record)) => format!("{} · {}", hint.label, result_title(record)),
                None => hint.label,
            };
            let label = match sessions.iter().find(|(end, _)| *end == hint.offset) {
                Some((_, states)) => format!("{label} · {states}"),
                None => label,
            };
            to_proto::inlay_hint(server, &document.source, hint.offset, label)
        })
        .collect();
    Ok(Some(hints))
}
