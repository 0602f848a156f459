//! `textDocument/completion`.

use lsp_types::{CompletionList, CompletionParams, CompletionResponse};

use crate::analysis::ide::completion::{completions, MAX_STEP_ITEMS};
use crate::lsp::dispatch::RequestResult;
use crate::lsp::from_proto;
use crate::lsp::server::Server;
use crate::lsp::to_proto;

pub fn completion(server: &Server, params: CompletionParams) -> RequestResult<Option<CompletionResponse>> {
    let position = params.text_document_position;
    let Some((key, document)) = from_proto::document(server, &position.text_document.uri) else { return Ok(None) };
    let offset = from_proto::offset(server, &document.source, position.position);
    let snippets = server.client.snippets;
    let items: Vec<_> = completions(&server.workspace, &key, offset)
        .into_iter()
        .map(|item| to_proto::completion_item(server, &document.source, item, snippets))
        .collect();
    // A list cut at the limit is incomplete: the editor asks again as the user types on.
    let is_incomplete = items.len() >= MAX_STEP_ITEMS;
    Ok(Some(CompletionResponse::List(CompletionList { is_incomplete, items })))
}
