//! From weft's terms to the protocol's: every conversion of an analysis result, a store row or an
//! engine event to an LSP or weft-extension type happens here, at the edge. Spans become ranges in
//! the negotiated encoding ([`super::position`]); nothing the server keeps is a protocol type.

use std::path::Path;

use lsp_types::*;

use crate::analysis::ide::completion::{CompletionItem as WeftCompletion, CompletionKind};
use crate::analysis::ide::symbols::{DocumentSymbol as WeftDocumentSymbol, SymbolKind as WeftSymbolKind};
use crate::analysis::{self, SourceFile};
use crate::engine;
use crate::store;
use crate::syntax::Span;

use super::ext;
use super::runs::RunFailure;
use super::server::Server;

pub fn range(server: &Server, source: &SourceFile, span: Span) -> Range {
    server.encoding.source_range(source, span)
}

/// The URI of a workspace key: the one the client opened it with, else a file URI.
pub fn url(server: &Server, key: &Path) -> Url {
    server
        .open
        .get(key)
        .map(|open| open.uri.clone())
        .or_else(|| Url::from_file_path(key).ok())
        .unwrap_or_else(|| Url::parse("file:///").expect("a valid URL"))
}

/// A span of a file of the workspace; `None` when the file is not (or no longer) known.
pub fn location(server: &Server, key: &Path, span: Span) -> Option<Location> {
    let source = &server.workspace.document(key)?.source;
    Some(Location { uri: url(server, key), range: range(server, source, span) })
}

pub fn diagnostic(server: &Server, source: &SourceFile, diagnostic: &analysis::Diagnostic) -> Diagnostic {
    let related: Vec<DiagnosticRelatedInformation> = diagnostic
        .related
        .iter()
        .filter_map(|related| {
            let location = match &related.location.file {
                None => {
                    Location { uri: url(server, &source.path), range: range(server, source, related.location.span) }
                }
                Some(file) => location(server, file, related.location.span)?,
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

/// A failed step of the file's last run, on the step's id where that id is now.
pub fn run_failure(server: &Server, source: &SourceFile, span: Span, failure: &RunFailure) -> Diagnostic {
    Diagnostic {
        range: range(server, source, span),
        severity: Some(DiagnosticSeverity::ERROR),
        code: Some(NumberOrString::String(if failure.timed_out { "step-timed-out" } else { "step-failed" }.to_owned())),
        source: Some("weft run".into()),
        message: failure.message.clone(),
        ..Default::default()
    }
}

/// A completion item; `snippets` says whether the client takes `$1` placeholders.
pub fn completion_item(
    server: &Server,
    source: &SourceFile,
    mut item: WeftCompletion,
    snippets: bool,
) -> CompletionItem {
    // A client without snippet support would insert `$1` literally.
    if item.snippet && !snippets {
        item.insert_text = without_placeholders(&item.insert_text);
        item.snippet = false;
    }
    CompletionItem {
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
        insert_text_format: Some(if item.snippet { InsertTextFormat::SNIPPET } else { InsertTextFormat::PLAIN_TEXT }),
        // Multi-line snippets are written at column 0; the client indents them as the line the
        // cursor is on (`with:` in a stage at column 4 gets its value at 6).
        insert_text_mode: item.insert_text.contains('\n').then_some(InsertTextMode::ADJUST_INDENTATION),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit {
            range: range(server, source, item.replace),
            new_text: item.insert_text,
        })),
        ..Default::default()
    }
}

/// A snippet as plain text: `$1` and `${1:default}` placeholders replaced by their defaults.
pub fn without_placeholders(snippet: &str) -> String {
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

pub fn symbol_kind(kind: WeftSymbolKind) -> SymbolKind {
    match kind {
        WeftSymbolKind::Workflow => SymbolKind::MODULE,
        WeftSymbolKind::Step => SymbolKind::FUNCTION,
        WeftSymbolKind::Plugin => SymbolKind::CLASS,
        WeftSymbolKind::Hook => SymbolKind::EVENT,
        WeftSymbolKind::Group => SymbolKind::NAMESPACE,
    }
}

pub fn document_symbol(server: &Server, source: &SourceFile, symbol: WeftDocumentSymbol) -> DocumentSymbol {
    #[allow(deprecated)]
    DocumentSymbol {
        name: symbol.name,
        detail: symbol.detail,
        kind: symbol_kind(symbol.kind),
        tags: None,
        deprecated: None,
        range: range(server, source, symbol.span),
        selection_range: range(server, source, symbol.selection),
        children: Some(symbol.children.into_iter().map(|child| document_symbol(server, source, child)).collect()),
    }
}

/// An inlay hint after `offset`.
pub fn inlay_hint(server: &Server, source: &SourceFile, offset: usize, label: String) -> InlayHint {
    InlayHint {
        position: server.encoding.position(&source.line_index, offset),
        label: InlayHintLabel::String(label),
        kind: None,
        text_edits: None,
        tooltip: None,
        padding_left: Some(true),
        padding_right: None,
        data: None,
    }
}

/// A run of the history with its steps, as `weft/runs` sends it.
pub fn run_summary(run: store::RunRecord, steps: Vec<store::StepRecord>) -> ext::RunSummary {
    ext::RunSummary {
        id: run.id,
        file: run.path,
        status: run.status.as_str().to_owned(),
        started_at: run.started_at,
        finished_at: run.finished_at,
        steps: steps
            .into_iter()
            .map(|step| ext::StepSummary {
                id: step.id,
                status: step.status.as_str().to_owned(),
                attempts: step.attempts,
                exit_code: step.exit_code,
                duration_ms: step.duration_ms,
                reason: step.reason,
            })
            .collect(),
    }
}

/// An engine event of a run of `uri`, as `weft/runEvent` sends it.
pub fn run_event(uri: Url, event: &engine::RunEvent) -> ext::RunEventParams {
    ext::RunEventParams {
        uri,
        event: ext::RunEvent {
            run: event.run,
            seq: event.seq,
            at: event.at.clone(),
            kind: event.kind.as_str().to_owned(),
            step: event.step.clone(),
            data: event.data.clone(),
        },
    }
}

/// A session as `weft/sessions` sends it.
pub fn session_summary(status: &crate::session::SessionStatus) -> ext::SessionSummary {
    ext::SessionSummary {
        id: status.id,
        task: status.task.clone(),
        template: status.template.clone(),
        template_id: status.template_id.clone(),
        status: status.status.clone(),
        started_at: status.started_at.clone(),
        ended_at: status.ended_at.clone(),
        started_by: status.started_by.clone(),
        phases: status
            .phases
            .iter()
            .map(|phase| ext::PhaseSummary {
                id: phase.id.clone(),
                status: phase.status.as_str().to_owned(),
                started_at: phase.started_at.clone(),
                finished_at: phase.finished_at.clone(),
                run: phase.run,
                override_: phase.override_.as_ref().map(|o| ext::OverrideSummary {
                    reason: o.reason.clone(),
                    by: o.by.clone(),
                    at: o.at.clone(),
                    failed_checks: o.failed_checks.clone(),
                }),
                failing_checks: phase
                    .failing_checks
                    .iter()
                    .map(|f| ext::CheckSummary {
                        check: f.check.clone(),
                        kind: f.kind.clone(),
                        message: f.message.clone(),
                    })
                    .collect(),
                goal: phase.goal.clone(),
                next_step: phase.next_step.clone(),
            })
            .collect(),
    }
}

/// A failing check of a session's active phase, on the phase's id.
pub fn phase_check(server: &Server, source: &SourceFile, span: Span, message: &str) -> Diagnostic {
    Diagnostic {
        range: range(server, source, span),
        // A warning: the template is not wrong, the task's work is not done yet.
        severity: Some(DiagnosticSeverity::WARNING),
        code: Some(NumberOrString::String("phase-check".to_owned())),
        source: Some("weft session".into()),
        message: message.to_owned(),
        ..Default::default()
    }
}
