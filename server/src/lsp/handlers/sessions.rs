//! Sessions in a phase template: the lenses ("▶ Start session", "✓ Complete phase (T-1)",
//! "Complete with override (T-1)"), the session commands and `weft/sessions`. What they show is
//! read from the history, read-only ([`crate::lsp::history::History::sessions`]).

use std::path::{Path, PathBuf};

use lsp_types::{CodeLens, Command, Url};
use serde_json::{json, Value};

use crate::analysis::Document;
use crate::engine;
use crate::lsp::dispatch::{RequestError, RequestResult};
use crate::lsp::ext;
use crate::lsp::from_proto;
use crate::lsp::server::Server;
use crate::lsp::sessions::{active_phase, phase_span, task_argument};
use crate::lsp::to_proto;
use crate::model::PhaseTemplate;
use crate::session::{self, Which};
use crate::store::PhaseStatus;
use crate::syntax::Span;

/// The lenses of a phase template: "▶ Start session" on `template_id`, and for each active
/// session of the template, on its active phase, where it stands and "✓ Complete phase (TASK)"
/// (with "Complete with override (TASK)" once a completion was refused).
pub fn code_lens(server: &Server, uri: &Url, key: &Path, document: &Document) -> Vec<CodeLens> {
    let Some(root) = document.parse.root.as_ref() else { return Vec::new() };
    let template = PhaseTemplate::read(root);
    let lens = |span: Span, title: String, command: &str, arguments: Vec<Value>| CodeLens {
        range: to_proto::range(server, &document.source, span),
        command: Some(Command { title, command: command.into(), arguments: Some(arguments) }),
        data: None,
    };
    let header = root.as_mapping().and_then(|entries| entries.first()).map_or(Span::empty(0), |(key, _)| key.span);
    let header = root.key_of("template_id").map_or(header, |key| key.span);
    let enabled = server.runs.enabled;
    let mut lenses = Vec::new();
    if enabled {
        lenses.push(lens(header, "▶ Start session".into(), "weft.startSession", vec![json!(uri)]));
    }
    let workspace = engine::workspace_of(key);
    for status in server.runs.history.sessions(key).iter() {
        let task = &status.task;
        let Some(phase) = active_phase(status) else {
            // A status, not a button: an empty command makes editors show it as plain text.
            let text = format!("{task}: every phase is complete (weft session end {task})");
            lenses.push(lens(header, text, "", vec![]));
            continue;
        };
        let Some(span) = phase_span(document, &phase.id) else { continue };
        let position = template.phase(&phase.id).map(|(at, _)| format!(" {}/{}", at + 1, template.phases.len()));
        let since = phase.started_at.as_deref().map(short_time).map(|at| format!(" since {at}")).unwrap_or_default();
        let state = if phase.failing_checks.is_empty() {
            format!("{task}: phase{} active{since}", position.unwrap_or_default())
        } else {
            let count = phase.failing_checks.len();
            format!("{task}: {count} check{} failing", if count == 1 { "" } else { "s" })
        };
        lenses.push(lens(span, state, "", vec![]));
        if server.session_busy(&workspace, task) {
            lenses.push(lens(span, format!("⏳ completing ({task})"), "", vec![]));
            continue;
        }
        if !enabled {
            continue;
        }
        lenses.push(lens(
            span,
            format!("✓ Complete phase ({task})"),
            "weft.completePhase",
            vec![json!(uri), json!(task)],
        ));
        if !phase.failing_checks.is_empty() {
            lenses.push(lens(
                span,
                format!("Complete with override ({task})"),
                "weft.completePhase",
                vec![json!(uri), json!(task), json!(true)],
            ));
        }
    }
    lenses
}

/// The labels the inlay hints of a phase template get from its sessions: for each phase id, by
/// the end of its span, "▶ T-1", "✓ T-1", "⚠ T-1" (overridden).
pub fn hint_suffixes(server: &Server, key: &Path, document: &Document) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for status in server.runs.history.sessions(key).iter() {
        for phase in &status.phases {
            let mark = match phase.status {
                PhaseStatus::Active => "▶",
                PhaseStatus::Completed => "✓",
                PhaseStatus::Overridden => "⚠",
                PhaseStatus::Pending => continue,
            };
            let Some(span) = phase_span(document, &phase.id) else { continue };
            let label = format!("{mark} {}", status.task);
            match out.iter_mut().find(|(end, _)| *end == span.end) {
                Some((_, labels)) => {
                    labels.push_str(", ");
                    labels.push_str(&label);
                }
                None => out.push((span.end, label)),
            }
        }
    }
    out
}

/// `weft.startSession [uri, task]` and `weft.completePhase [uri, task, override?, reason?]`.
pub fn execute_command(
    server: &mut Server,
    key: &Path,
    command: &str,
    arguments: &[Value],
) -> RequestResult<Result<ext::CommandResult, String>> {
    let task = task_argument(arguments.get(1).and_then(Value::as_str)).map_err(RequestError::invalid_params)?;
    Ok(match command {
        "weft.startSession" => server.start_session(key, task),
        _ => {
            let override_ = arguments.get(2).and_then(Value::as_bool).unwrap_or(false);
            let reason = arguments.get(3).and_then(Value::as_str).map(str::trim).filter(|r| !r.is_empty());
            if override_ && reason.is_none() {
                return Err(RequestError::invalid_params(
                    "an override needs its reason (the fourth argument); VS Code asks for it",
                ));
            }
            server.complete_phase(key, task, override_.then(|| reason.unwrap_or_default().to_owned()))
        }
    })
}

/// `weft/sessions`: the active sessions of a template, or each task's active (else latest)
/// session in a workspace. Asking about a workspace watches it: `weft/sessionsChanged` follows
/// every change of its sessions.
pub fn sessions(server: &mut Server, params: ext::SessionsParams) -> RequestResult<ext::SessionsResult> {
    let limit = params.limit.unwrap_or(20) as usize;
    let statuses = match (params.uri, params.workspace) {
        (Some(uri), _) => server.runs.history.sessions(&from_proto::key_of(&uri)).as_ref().clone(),
        (None, Some(folder)) => {
            let workspace = crate::fs::absolute(&PathBuf::from(folder));
            server.sessions.asked.insert(workspace.clone());
            server.poll_sessions(true);
            workspace_sessions(&workspace, limit)
        }
        (None, None) => return Err(RequestError::invalid_params("weft/sessions needs `uri` or `workspace`")),
    };
    Ok(ext::SessionsResult { sessions: statuses.iter().take(limit).map(to_proto::session_summary).collect() })
}

/// Each task's active session, else its latest, newest first. The history is opened read-only.
fn workspace_sessions(workspace: &Path, limit: usize) -> Vec<session::SessionStatus> {
    let records = session::list(workspace, limit.saturating_mul(4)).unwrap_or_default();
    let mut tasks: Vec<String> = Vec::new();
    for record in records {
        if !tasks.contains(&record.task) {
            tasks.push(record.task);
        }
    }
    tasks
        .iter()
        .take(limit)
        .filter_map(|task| session::status(workspace, Which::Task(task), false).ok())
        .flatten()
        .collect()
}

/// "2026-12-07 03:55" of an RFC 3339 time.
fn short_time(at: &str) -> String {
    at.get(..16).map_or_else(|| at.to_owned(), |minutes| minutes.replace('T', " "))
}
