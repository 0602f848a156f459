//! `textDocument/codeAction`: the quick fixes of the diagnostics in the asked range.

use std::collections::HashMap;

use lsp_types::*;

use crate::lsp::dispatch::RequestResult;
use crate::lsp::from_proto;
use crate::lsp::server::Server;
use crate::lsp::to_proto;
use crate::syntax::Span;

pub fn code_action(server: &Server, params: CodeActionParams) -> RequestResult<Option<CodeActionResponse>> {
    let Some((key, document)) = from_proto::document(server, &params.text_document.uri) else { return Ok(None) };
    let source = &document.source;
    let wanted = Span::new(
        from_proto::offset(server, source, params.range.start),
        from_proto::offset(server, source, params.range.end),
    );
    let mut actions = Vec::new();
    for diagnostic in server.workspace.check(&key) {
        let overlaps = diagnostic.span.start <= wanted.end && wanted.start <= diagnostic.span.end;
        if !overlaps {
            continue;
        }
        for (index, fix) in diagnostic.fixes.iter().enumerate() {
            let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
            for edit in &fix.edits {
                let file = edit.location.file.clone().unwrap_or_else(|| key.clone());
                let Some(target) = server.workspace.document(&file).map(|d| &d.source) else { continue };
                changes.entry(to_proto::url(server, &file)).or_default().push(TextEdit {
                    range: to_proto::range(server, target, edit.location.span),
                    new_text: edit.new_text.clone(),
                });
            }
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: fix.title.clone(),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![to_proto::diagnostic(server, source, &diagnostic)]),
                edit: Some(WorkspaceEdit { changes: Some(changes), ..Default::default() }),
                is_preferred: Some(index == 0),
                ..Default::default()
            }));
        }
    }
    Ok(Some(actions))
}
