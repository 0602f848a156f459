//! Hover, go to definition, references and rename.

use std::collections::HashMap;

use lsp_types::*;

use crate::analysis::ide::hover::hover as hover_at;
use crate::analysis::ide::navigation::{
    definition as definition_of, prepare_rename as prepare, references as uses, rename as rename_at, RenameError,
};
use crate::lsp::dispatch::{RequestError, RequestResult};
use crate::lsp::from_proto;
use crate::lsp::server::Server;
use crate::lsp::to_proto;

pub fn hover(server: &Server, params: HoverParams) -> RequestResult<Option<Hover>> {
    let position = params.text_document_position_params;
    let Some((key, document)) = from_proto::document(server, &position.text_document.uri) else { return Ok(None) };
    let offset = from_proto::offset(server, &document.source, position.position);
    Ok(hover_at(&server.workspace, &key, offset).map(|mut found| {
        // A step whose job a cluster has now says where it is.
        let live = document.pipeline().and_then(|pipeline| {
            let step = pipeline.steps.iter().filter_map(|step| step.id).find(|id| id.span.contains(offset))?;
            server.runs.active.get(&key)?.steps.get(step.text)?.job_text()
        });
        if let Some(live) = live {
            found.markdown.push_str(&format!("\n\n---\n⏳ {live}"));
        }
        Hover {
            contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: found.markdown }),
            range: Some(to_proto::range(server, &document.source, found.span)),
        }
    }))
}

pub fn definition(server: &Server, params: GotoDefinitionParams) -> RequestResult<Option<GotoDefinitionResponse>> {
    let position = params.text_document_position_params;
    let Some((key, document)) = from_proto::document(server, &position.text_document.uri) else { return Ok(None) };
    let offset = from_proto::offset(server, &document.source, position.position);
    Ok(definition_of(&server.workspace, &key, offset)
        .and_then(|target| to_proto::location(server, &target.key, target.span))
        .map(GotoDefinitionResponse::Scalar))
}

pub fn references(server: &Server, params: ReferenceParams) -> RequestResult<Option<Vec<Location>>> {
    let position = params.text_document_position;
    let Some((key, document)) = from_proto::document(server, &position.text_document.uri) else { return Ok(None) };
    let offset = from_proto::offset(server, &document.source, position.position);
    let found = uses(&server.workspace, &key, offset, params.context.include_declaration);
    Ok(Some(found.iter().filter_map(|target| to_proto::location(server, &target.key, target.span)).collect()))
}

pub fn prepare_rename(
    server: &Server,
    params: TextDocumentPositionParams,
) -> RequestResult<Option<PrepareRenameResponse>> {
    let Some((key, document)) = from_proto::document(server, &params.text_document.uri) else { return Ok(None) };
    let offset = from_proto::offset(server, &document.source, params.position);
    match prepare(&server.workspace, &key, offset) {
        Ok((span, placeholder)) => Ok(Some(PrepareRenameResponse::RangeWithPlaceholder {
            range: to_proto::range(server, &document.source, span),
            placeholder,
        })),
        // The request was valid; the answer is that nothing here can be renamed, and why.
        Err(message) => Err(RequestError::failed(message)),
    }
}

pub fn rename(server: &Server, params: RenameParams) -> RequestResult<Option<WorkspaceEdit>> {
    let position = params.text_document_position;
    let Some((key, document)) = from_proto::document(server, &position.text_document.uri) else { return Ok(None) };
    let offset = from_proto::offset(server, &document.source, position.position);
    // A new name that cannot be an id is a bad parameter; anything else is a valid request that
    // cannot be done, with the reason the editor shows.
    let files = rename_at(&server.workspace, &key, offset, &params.new_name).map_err(|error| match error {
        RenameError::InvalidName(message) => RequestError::invalid_params(message),
        RenameError::Refused(message) => RequestError::failed(message),
    })?;
    let mut changes = HashMap::new();
    for (file, edits) in files {
        let Some(source) = server.workspace.document(&file).map(|d| &d.source) else { continue };
        let edits = edits
            .into_iter()
            .map(|(span, new_text)| TextEdit { range: to_proto::range(server, source, span), new_text })
            .collect();
        changes.insert(to_proto::url(server, &file), edits);
    }
    Ok(Some(WorkspaceEdit { changes: Some(changes), ..Default::default() }))
}
