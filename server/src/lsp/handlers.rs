//! Request handlers: LSP params → analysis calls → LSP results. No analysis happens here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsp_server::{ErrorCode, Request};
use lsp_types::request::Request as _;
use lsp_types::{request as req, *};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::analysis::ide::completion::{completions, CompletionKind};
use crate::analysis::ide::hover::hover;
use crate::analysis::ide::navigation::{definition, prepare_rename, references, rename, FileSpan};
use crate::analysis::ide::symbols::{
    document_links, document_symbols, folding_ranges, inlay_hints, workspace_symbols, SymbolKind as WeftSymbolKind,
};
use crate::analysis::{self, Document, SourceFile};
use crate::syntax::Span;

use super::server::{key_of, Server};

pub struct RequestError {
    pub code: i32,
    pub message: String,
}

type Result<T> = std::result::Result<T, RequestError>;

fn params<P: DeserializeOwned>(request: Request) -> Result<P> {
    serde_json::from_value(request.params).map_err(|error| RequestError {
        code: ErrorCode::InvalidParams as i32,
        message: format!("invalid params: {error}"),
    })
}

fn ok<T: serde::Serialize>(value: T) -> Result<Value> {
    Ok(serde_json::to_value(value).unwrap_or(Value::Null))
}

/// Whether a request changes the server's state (starts or cancels a run, asks the client to show
/// a document). Every other request only reads, so a panic in it cannot leave anything half-done.
pub fn changes_state(method: &str) -> bool {
    method == req::ExecuteCommand::METHOD
}

pub fn dispatch(server: &mut Server, request: Request) -> Result<Value> {
    match request.method.as_str() {
        req::Completion::METHOD => {
            let p: CompletionParams = params(request)?;
            let Some((key, document)) = document(server, &p.text_document_position.text_document.uri) else {
                return ok(Value::Null);
            };
            let offset = offset(server, &document.source, p.text_document_position.position);
            let snippets = server.snippet_support();
            let items: Vec<CompletionItem> = completions(&server.workspace, &key, offset)
                .into_iter()
                .map(|mut item| {
                    // A client without snippet support would insert `$1` literally.
                    if item.snippet && !snippets {
                        item.insert_text = without_placeholders(&item.insert_text);
                        item.snippet = false;
                    }
                    item
                })
                .map(|item| CompletionItem {
                    label: item.label.clone(),
                    kind: Some(match item.kind {
                        CompletionKind::Step => CompletionItemKind::REFERENCE,
                        CompletionKind::Plugin => CompletionItemKind::MODULE,
                        CompletionKind::HookPoint => CompletionItemKind::EVENT,
                        CompletionKind::Value => CompletionItemKind::ENUM_MEMBER,
                        CompletionKind::Key => CompletionItemKind::PROPERTY,
                        CompletionKind::Field => CompletionItemKind::FIELD,
                        CompletionKind::Variable => CompletionItemKind::VARIABLE,
                    }),
                    detail: item.detail,
                    documentation: item
                        .documentation
                        .map(|value| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value })),
                    sort_text: item.sort_text,
                    filter_text: Some(item.label),
                    insert_text_format: Some(if item.snippet {
                        InsertTextFormat::SNIPPET
                    } else {
                        InsertTextFormat::PLAIN_TEXT
                    }),
                    // Multi-line snippets are written at column 0; the client indents them as the
                    // line the cursor is on (`with:` in a stage at column 4 gets its value at 6).
                    insert_text_mode: item.insert_text.contains('\n').then_some(InsertTextMode::ADJUST_INDENTATION),
                    text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                        range: range(server, &document.source, item.replace),
                        new_text: item.insert_text,
                    })),
                    ..Default::default()
                })
                .collect();
            // A list cut at the limit is incomplete: the editor asks again as the user types on.
            let is_incomplete = items.len() >= crate::analysis::ide::completion::MAX_STEP_ITEMS;
            ok(CompletionResponse::List(CompletionList { is_incomplete, items }))
        }
        req::HoverRequest::METHOD => {
            let p: HoverParams = params(request)?;
            let Some((key, document)) = document(server, &p.text_document_position_params.text_document.uri) else {
                return ok(Value::Null);
            };
            let offset = offset(server, &document.source, p.text_document_position_params.position);
            ok(hover(&server.workspace, &key, offset).map(|found| Hover {
                contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: found.markdown }),
                range: Some(range(server, &document.source, found.span)),
            }))
        }
        req::GotoDefinition::METHOD => {
            let p: GotoDefinitionParams = params(request)?;
            let Some((key, document)) = document(server, &p.text_document_position_params.text_document.uri) else {
                return ok(Value::Null);
            };
            let offset = offset(server, &document.source, p.text_document_position_params.position);
            ok(definition(&server.workspace, &key, offset)
                .and_then(|target| location(server, &target))
                .map(GotoDefinitionResponse::Scalar))
        }
        req::References::METHOD => {
            let p: ReferenceParams = params(request)?;
            let Some((key, document)) = document(server, &p.text_document_position.text_document.uri) else {
                return ok(Value::Null);
            };
            let offset = offset(server, &document.source, p.text_document_position.position);
            let found = references(&server.workspace, &key, offset, p.context.include_declaration);
            ok(found.iter().filter_map(|target| location(server, target)).collect::<Vec<_>>())
        }
        req::PrepareRenameRequest::METHOD => {
            let p: TextDocumentPositionParams = params(request)?;
            let Some((key, document)) = document(server, &p.text_document.uri) else { return ok(Value::Null) };
            let offset = offset(server, &document.source, p.position);
            match prepare_rename(&server.workspace, &key, offset) {
                Ok((span, placeholder)) => ok(PrepareRenameResponse::RangeWithPlaceholder {
                    range: range(server, &document.source, span),
                    placeholder,
                }),
                // The request was valid; the answer is that nothing here can be renamed, and why.
                Err(message) => Err(RequestError { code: ErrorCode::RequestFailed as i32, message }),
            }
        }
        req::Rename::METHOD => {
            let p: RenameParams = params(request)?;
            let Some((key, document)) = document(server, &p.text_document_position.text_document.uri) else {
                return ok(Value::Null);
            };
            let offset = offset(server, &document.source, p.text_document_position.position);
            match rename(&server.workspace, &key, offset, &p.new_name) {
                Ok(files) => {
                    let mut changes = HashMap::new();
                    for (file, edits) in files {
                        let Some(source) = server.workspace.document(&file).map(|d| d.source.clone()) else { continue };
                        let edits = edits
                            .into_iter()
                            .map(|(span, new_text)| TextEdit { range: range(server, &source, span), new_text })
                            .collect();
                        changes.insert(uri_of(server, &file), edits);
                    }
                    ok(WorkspaceEdit { changes: Some(changes), ..Default::default() })
                }
                Err(message) => Err(RequestError { code: ErrorCode::InvalidParams as i32, message }),
            }
        }
        req::DocumentSymbolRequest::METHOD => {
            let p: DocumentSymbolParams = params(request)?;
            let Some((_, document)) = document(server, &p.text_document.uri) else { return ok(Value::Null) };
            let symbols = document_symbols(&document)
                .into_iter()
                .map(|symbol| to_document_symbol(server, &document.source, symbol))
                .collect::<Vec<_>>();
            ok(DocumentSymbolResponse::Nested(symbols))
        }
        req::WorkspaceSymbolRequest::METHOD => {
            let p: WorkspaceSymbolParams = params(request)?;
            #[allow(deprecated)]
            let symbols: Vec<SymbolInformation> = workspace_symbols(&server.workspace, &p.query)
                .into_iter()
                .filter_map(|symbol| {
                    let source = server.workspace.document(&symbol.key)?.source.clone();
                    Some(SymbolInformation {
                        name: symbol.name,
                        kind: symbol_kind(symbol.kind),
                        tags: None,
                        deprecated: None,
                        location: Location {
                            uri: uri_of(server, &symbol.key),
                            range: range(server, &source, symbol.span),
                        },
                        container_name: symbol.container,
                    })
                })
                .collect();
            ok(symbols)
        }
        req::FoldingRangeRequest::METHOD => {
            let p: FoldingRangeParams = params(request)?;
            let Some((_, document)) = document(server, &p.text_document.uri) else { return ok(Value::Null) };
            let ranges: Vec<FoldingRange> = folding_ranges(&document)
                .into_iter()
                .map(|(start, end)| FoldingRange {
                    start_line: start,
                    end_line: end,
                    kind: Some(FoldingRangeKind::Region),
                    ..Default::default()
                })
                .collect();
            ok(ranges)
        }
        req::InlayHintRequest::METHOD => {
            let p: InlayHintParams = params(request)?;
            let Some((_, document)) = document(server, &p.text_document.uri) else { return ok(Value::Null) };
            let Some((key, _)) = self::document(server, &p.text_document.uri) else { return ok(Value::Null) };
            let results = last_results(&key);
            let pipeline = document.pipeline();
            let hints: Vec<InlayHint> = inlay_hints(&document)
                .into_iter()
                .map(|hint| {
                    // The wave, and the step's last result when it has run.
                    let id = pipeline
                        .as_ref()
                        .and_then(|p| p.steps.iter().find_map(|s| s.id.filter(|id| id.span.end == hint.offset)));
                    let result = id.and_then(|id| results.get(id.text));
                    match result {
                        Some(result) => (hint.offset, format!("{} · {result}", hint.label)),
                        None => (hint.offset, hint.label),
                    }
                })
                .map(|(offset, label)| InlayHint {
                    position: server.encoding.position(&document.source.line_index, offset),
                    label: InlayHintLabel::String(label),
                    kind: None,
                    text_edits: None,
                    tooltip: None,
                    padding_left: Some(true),
                    padding_right: None,
                    data: None,
                })
                .collect();
            ok(hints)
        }
        req::DocumentLinkRequest::METHOD => {
            let p: DocumentLinkParams = params(request)?;
            let Some((key, document)) = document(server, &p.text_document.uri) else { return ok(Value::Null) };
            let links: Vec<DocumentLink> = document_links(&key, &document)
                .into_iter()
                .map(|link| DocumentLink {
                    range: range(server, &document.source, link.span),
                    target: Url::from_file_path(&link.target).ok(),
                    tooltip: None,
                    data: None,
                })
                .collect();
            ok(links)
        }
        req::CodeActionRequest::METHOD => {
            let p: CodeActionParams = params(request)?;
            let Some((key, document)) = document(server, &p.text_document.uri) else { return ok(Value::Null) };
            let wanted = Span::new(
                offset(server, &document.source, p.range.start),
                offset(server, &document.source, p.range.end),
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
                        let Some(source) = server.workspace.document(&file).map(|d| d.source.clone()) else { continue };
                        changes.entry(uri_of(server, &file)).or_default().push(TextEdit {
                            range: range(server, &source, edit.location.span),
                            new_text: edit.new_text.clone(),
                        });
                    }
                    actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                        title: fix.title.clone(),
                        kind: Some(CodeActionKind::QUICKFIX),
                        diagnostics: Some(vec![to_lsp_diagnostic(server, &document.source, &diagnostic)]),
                        edit: Some(WorkspaceEdit { changes: Some(changes), ..Default::default() }),
                        is_preferred: Some(index == 0),
                        ..Default::default()
                    }));
                }
            }
            ok(actions)
        }
        req::CodeLensRequest::METHOD => {
            let p: CodeLensParams = params(request)?;
            let Some((key, document)) = document(server, &p.text_document.uri) else { return ok(Value::Null) };
            let source = document.source.clone();
            let range_of = |span: Span| range(server, &source, span);
            ok(super::runs::code_lenses(&server.runs, &key, &p.text_document.uri, &document, &range_of))
        }
        req::ExecuteCommand::METHOD => {
            let p: ExecuteCommandParams = params(request)?;
            execute_command(server, p)
        }
        "weft/runs" => {
            let p: Value = request.params;
            let key = p.get("uri").and_then(Value::as_str).and_then(|u| Url::parse(u).ok()).map(|u| key_of(&u));
            let workspace = match (&key, p.get("workspace").and_then(Value::as_str)) {
                (_, Some(folder)) => PathBuf::from(folder),
                (Some(key), None) => crate::engine::workspace_of(key),
                (None, None) => {
                    return Err(RequestError {
                        code: ErrorCode::InvalidParams as i32,
                        message: "weft/runs needs `uri` or `workspace`".into(),
                    })
                }
            };
            let limit = p.get("limit").and_then(Value::as_u64).unwrap_or(20) as usize;
            Ok(json!({ "runs": super::runs::recent_runs(&workspace, key.as_deref(), limit) }))
        }
        // Debug builds can be made to panic inside a read-only handler, to test that the server
        // answers with an error and goes on.
        "weft/debugPanic" if cfg!(debug_assertions) => panic!("weft/debugPanic was asked to panic"),
        _ => Err(RequestError {
            code: ErrorCode::MethodNotFound as i32,
            message: format!("weft does not handle {}", request.method),
        }),
    }
}

/// The last result of each step of a file, as lens titles say it.
fn last_results(key: &Path) -> HashMap<String, String> {
    let workspace = crate::engine::workspace_of(key);
    let Some(store) = super::runs::open_existing(&workspace) else { return HashMap::new() };
    store
        .latest_step_results(key)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, step)| (step.id.clone(), super::runs::result_title(&step)))
        .collect()
}

fn execute_command(server: &mut Server, p: ExecuteCommandParams) -> Result<Value> {
    let invalid = |message: &str| RequestError { code: ErrorCode::InvalidParams as i32, message: message.to_owned() };
    let arguments = p.arguments;
    let uri = arguments
        .first()
        .and_then(Value::as_str)
        .and_then(|u| Url::parse(u).ok())
        .ok_or_else(|| invalid("the first argument is the file's URI"))?;
    let key = key_of(&uri);
    let failed = |message: String| RequestError { code: ErrorCode::RequestFailed as i32, message };
    let selection = |with_dependencies: bool| -> Result<crate::engine::Selection> {
        let stage =
            arguments.get(1).and_then(Value::as_str).ok_or_else(|| invalid("the second argument is the stage id"))?;
        Ok(crate::engine::Selection { stage: Some(stage.to_owned()), with_dependencies })
    };
    let outcome = match p.command.as_str() {
        "weft.runWorkflow" => server.start_run(&key, crate::engine::Selection::default(), None),
        "weft.runStage" => server.start_run(&key, selection(false)?, None),
        "weft.runStageWithDeps" => server.start_run(&key, selection(true)?, None),
        "weft.resume" => {
            let workspace = crate::engine::workspace_of(&key);
            let run = arguments.get(1).and_then(Value::as_i64).or_else(|| {
                super::runs::open_existing(&workspace)
                    .and_then(|store| super::runs::resumable(&store, &workspace, &key))
                    .map(|(run, _, _)| run)
            });
            match run {
                Some(run) => server.start_run(&key, crate::engine::Selection::default(), Some(run)),
                None => Err("there is no run of this file to resume".to_owned()),
            }
        }
        "weft.cancel" => match server.runs.active.get(&key) {
            Some(active) => {
                active.cancel.cancel();
                Ok(json!({ "runId": active.id }))
            }
            None => Err("no run of this file is going".to_owned()),
        },
        "weft.showLog" => {
            let step = arguments
                .get(1)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("the second argument is the stage id"))?;
            let workspace = crate::engine::workspace_of(&key);
            let run = arguments.get(2).and_then(Value::as_i64).or_else(|| {
                super::runs::open_existing(&workspace)?
                    .latest_step_results(&key)
                    .ok()?
                    .into_iter()
                    .find(|(_, s)| s.id == step)
                    .map(|(run, _)| run)
            });
            match run.and_then(|run| super::runs::log_file(&workspace, run, step)) {
                Some(log) => {
                    if server.can_show_document() {
                        server.show_document(&log);
                    }
                    Ok(json!({ "log": log }))
                }
                None => Err(format!("`{step}` has no log yet")),
            }
        }
        other => return Err(invalid(&format!("unknown command {other}"))),
    };
    // Clients show a failed command's error themselves; a `window/showMessage` too would say it twice.
    outcome.map_err(failed)
}

/// A snippet as plain text: `$1` and `${1:default}` placeholders replaced by their defaults.
fn without_placeholders(snippet: &str) -> String {
    let mut out = String::with_capacity(snippet.len());
    let mut rest = snippet;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            let close = inner.find('}').unwrap_or(inner.len());
            let body = &inner[..close];
            out.push_str(body.split_once(':').map_or("", |(_, default)| default));
            rest = &inner[(close + 1).min(inner.len())..];
        } else {
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                out.push('$');
            }
            rest = &after[digits..];
        }
    }
    out.push_str(rest);
    out
}

fn document(server: &Server, uri: &Url) -> Option<(PathBuf, Arc<Document>)> {
    let key = key_of(uri);
    let document = server.workspace.document(&key)?.clone();
    Some((key, document))
}

fn offset(server: &Server, source: &SourceFile, position: Position) -> usize {
    server.encoding.offset(&source.line_index, &source.text, position)
}

fn range(server: &Server, source: &SourceFile, span: Span) -> Range {
    server.encoding.source_range(source, span)
}

/// The URI of a workspace key: the one the client opened it with, else a file URI.
pub fn uri_of(server: &Server, key: &Path) -> Url {
    server
        .open
        .get(key)
        .map(|open| open.uri.clone())
        .or_else(|| Url::from_file_path(key).ok())
        .unwrap_or_else(|| Url::parse("file:///").expect("a valid URL"))
}

fn location(server: &Server, target: &FileSpan) -> Option<Location> {
    let source = server.workspace.document(&target.key)?.source.clone();
    Some(Location { uri: uri_of(server, &target.key), range: range(server, &source, target.span) })
}

fn symbol_kind(kind: WeftSymbolKind) -> SymbolKind {
    match kind {
        WeftSymbolKind::Workflow => SymbolKind::MODULE,
        WeftSymbolKind::Step => SymbolKind::FUNCTION,
        WeftSymbolKind::Plugin => SymbolKind::CLASS,
        WeftSymbolKind::Hook => SymbolKind::EVENT,
        WeftSymbolKind::Group => SymbolKind::NAMESPACE,
    }
}

fn to_document_symbol(
    server: &Server,
    source: &SourceFile,
    symbol: analysis::ide::symbols::DocumentSymbol,
) -> DocumentSymbol {
    #[allow(deprecated)]
    DocumentSymbol {
        name: symbol.name,
        detail: symbol.detail,
        kind: symbol_kind(symbol.kind),
        tags: None,
        deprecated: None,
        range: range(server, source, symbol.span),
        selection_range: range(server, source, symbol.selection),
        children: Some(symbol.children.into_iter().map(|child| to_document_symbol(server, source, child)).collect()),
    }
}

pub fn to_lsp_diagnostic(server: &Server, source: &SourceFile, diagnostic: &analysis::Diagnostic) -> Diagnostic {
    let related: Vec<DiagnosticRelatedInformation> = diagnostic
        .related
        .iter()
        .filter_map(|related| {
            let location = match &related.location.file {
                None => {
                    Location { uri: uri_of(server, &source.path), range: range(server, source, related.location.span) }
                }
                Some(file) => {
                    let other = server.workspace.document(file)?.source.clone();
                    Location { uri: uri_of(server, file), range: range(server, &other, related.location.span) }
                }
            };
            Some(DiagnosticRelatedInformation { location, message: related.message.clone() })
        })
        .collect();
    let message = match &diagnostic.help {
        Some(help) => format!("{}\nhelp: {help}", diagnostic.message),
        None => diagnostic.message.clone(),
    };
    Diagnostic {
        range: range(server, source, diagnostic.span),
        severity: Some(match diagnostic.severity {
            analysis::Severity::Error => DiagnosticSeverity::ERROR,
            analysis::Severity::Warning => DiagnosticSeverity::WARNING,
            analysis::Severity::Info => DiagnosticSeverity::INFORMATION,
            analysis::Severity::Hint => DiagnosticSeverity::HINT,
        }),
        code: Some(NumberOrString::String(diagnostic.code.as_str().to_owned())),
        code_description: None,
        source: Some("weft".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: (diagnostic.code == analysis::Code::UnusedPlugin).then(|| vec![DiagnosticTag::UNNECESSARY]),
        data: None,
    }
}
