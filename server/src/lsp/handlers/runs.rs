//! Runs from the editor: the lenses, the run commands (`workspace/executeCommand`) and `weft/runs`.

use std::path::PathBuf;

use lsp_types::{CodeLens, CodeLensParams, Command, ExecuteCommandParams, Url};
use serde_json::{json, Value};

use crate::engine::{self, Selection};
use crate::lsp::dispatch::{RequestError, RequestResult};
use crate::lsp::ext;
use crate::lsp::from_proto;
use crate::lsp::runs::{log_file, result_title, LiveStatus, Work};
use crate::lsp::server::Server;
use crate::lsp::to_proto;
use crate::model::{FileKind, PipelineKind, ProjectConfig, Step};
use crate::store::StepStatus;
use crate::syntax::Span;

/// The lenses of a workflow or plan: run buttons, the live state of a run going on, and each
/// step's last result (from the history kept in memory).
pub fn code_lens(server: &Server, params: CodeLensParams) -> RequestResult<Option<Vec<CodeLens>>> {
    let uri = &params.text_document.uri;
    let Some((key, document)) = from_proto::document(server, uri) else { return Ok(None) };
    if document.kind == Some(FileKind::PhaseTemplate) {
        return Ok(Some(super::sessions::code_lens(server, uri, &key, &document)));
    }
    let Some(pipeline) = document.pipeline() else { return Ok(Some(Vec::new())) };
    let runs = &server.runs;
    let history = runs.history.file(&key);
    let active = runs.active.get(&key);
    let noun = pipeline.kind.step_noun();
    let mut lenses = Vec::new();
    let lens = |span: Span, title: String, command: &str, arguments: Vec<Value>| CodeLens {
        range: to_proto::range(server, &document.source, span),
        command: Some(Command { title, command: command.into(), arguments: Some(arguments) }),
        data: None,
    };
    let header =
        pipeline.root.as_mapping().and_then(|entries| entries.first()).map_or(Span::empty(0), |(key, _)| key.span);
    let header = pipeline
        .root
        .key_of(if pipeline.kind == PipelineKind::Workflow { "workflow_id" } else { "plan_id" })
        .map_or(header, |k| k.span);
    if let Some(active) = active {
        // A status, not a button: an empty command makes editors show it as plain text.
        lenses.push(lens(
            header,
            format!("⏳ run {} · {}/{} {noun}s", active.id, active.finished, active.total),
            "",
            vec![],
        ));
        lenses.push(lens(header, "■ Cancel".into(), "weft.cancel", vec![json!(uri), json!(active.id)]));
    } else if runs.enabled {
        let title = if pipeline.kind == PipelineKind::Workflow { "▶ Run workflow" } else { "▶ Run plan" };
        lenses.push(lens(header, title.into(), "weft.runWorkflow", vec![json!(uri)]));
        if let Some(resumable) = history.as_ref().and_then(|history| history.resumable) {
            lenses.push(lens(
                header,
                format!("⟳ Resume run {} ({}/{} done)", resumable.run, resumable.done, resumable.total),
                "weft.resume",
                vec![json!(uri), json!(resumable.run)],
            ));
        }
    }
    // The resumable run completed a stage that has a rollback action: it can be rolled back. The
    // project config is read only when there is such a run.
    let can_roll_back = history.as_ref().and_then(|history| history.resumable.map(|r| (history, r.run))).is_some_and(
        |(history, run)| {
            let config = server.workspace.config_for(&key).map(|(_, config)| config.clone());
            let config = config.as_ref().map(|config| ProjectConfig::read(config.parse.root.as_ref()));
            pipeline.steps.iter().any(|step| {
                let succeeded = step
                    .id
                    .and_then(|id| history.last.get(id.text))
                    .is_some_and(|(of, record)| *of == run && record.status == StepStatus::Succeeded);
                succeeded && has_rollback(config.as_ref(), step)
            })
        },
    );
    for step in &pipeline.steps {
        let Some(id) = step.id else { continue };
        let span = id.span;
        if let Some(live) = active.and_then(|a| a.steps.get(id.text)) {
            let seconds = live.since.elapsed().as_secs();
            let title = match live.status {
                LiveStatus::AwaitingApproval => {
                    lenses.push(lens(span, "⏸ waiting for approval".into(), "", vec![]));
                    let decide = vec![json!(uri), json!(id.text), json!(active.map(|a| a.id))];
                    lenses.push(lens(span, "✓ Approve".into(), "weft.approve", decide.clone()));
                    lenses.push(lens(span, "✗ Reject".into(), "weft.reject", decide));
                    continue;
                }
                LiveStatus::Retrying => format!("⟳ retry {} · waiting", live.attempt + 1),
                LiveStatus::Queued => format!("⏳ {}", live.job_text().unwrap_or_else(|| "pending".into())),
                LiveStatus::Running if live.job.is_some() => {
                    let job = live.job_text().unwrap_or_default();
                    if live.attempt > 1 {
                        format!("⟳ retry {} · {job} · {seconds} s", live.attempt)
                    } else {
                        format!("⏳ {job} · {seconds} s")
                    }
                }
                LiveStatus::Running if live.attempt > 1 => format!("⟳ retry {} · running {seconds} s", live.attempt),
                LiveStatus::Running => format!("⏳ running {seconds} s"),
            };
            // A status, not a button: an empty command makes editors show it as plain text.
            lenses.push(lens(span, title, "", vec![]));
            continue;
        }
        if runs.enabled && active.is_none() {
            lenses.push(lens(span, format!("▶ Run {noun}"), "weft.runStage", vec![json!(uri), json!(id.text)]));
            if !step.depends_on.is_empty() {
                lenses.push(lens(
                    span,
                    "▶ Run with dependencies".into(),
                    "weft.runStageWithDeps",
                    vec![json!(uri), json!(id.text)],
                ));
            }
        }
        if let Some((run, record)) = history.as_ref().and_then(|history| history.last.get(id.text)) {
            if record.status == StepStatus::Waiting {
                // A status, not a button: a waiting step has no log.
                lenses.push(lens(span, result_title(record), "", vec![]));
                // Waiting in a run of another engine (a terminal's, or one that died and will be
                // resumed): the decision is recorded in the history, where that engine looks for it.
                if active.is_none() {
                    let decide = vec![json!(uri), json!(id.text), json!(run)];
                    lenses.push(lens(span, "✓ Approve".into(), "weft.approve", decide.clone()));
                    lenses.push(lens(span, "✗ Reject".into(), "weft.reject", decide));
                }
            } else {
                let show_log = vec![json!(uri), json!(id.text), json!(run)];
                lenses.push(lens(span, result_title(record), "weft.showLog", show_log));
            }
            // A step that did not succeed in the run that can be resumed: resuming retries it.
            let retry = history.as_ref().and_then(|history| history.resumable).filter(|resumable| {
                resumable.run == *run && runs.enabled && active.is_none() && is_failure(record.status)
            });
            if let Some(resumable) = retry {
                let run = json!(resumable.run);
                lenses.push(lens(span, "⟳ Retry".into(), "weft.resume", vec![json!(uri), run.clone()]));
                let skip = vec![json!(uri), json!(id.text), run.clone()];
                lenses.push(lens(span, "⤼ Skip and continue".into(), "weft.skip", skip));
                if can_roll_back {
                    lenses.push(lens(span, "↺ Roll back".into(), "weft.rollback", vec![json!(uri), run]));
                }
            }
            if record.attempts > 0 && record.status != StepStatus::Succeeded {
                lenses.push(lens(
                    span,
                    "Show log".into(),
                    "weft.showLog",
                    vec![json!(uri), json!(id.text), json!(run)],
                ));
            }
        }
    }
    Ok(Some(lenses))
}

/// The commands behind the lenses. Clients show a failed command's error themselves, so it is the
/// response's error and nothing else (a `window/showMessage` too would say it twice).
pub fn execute_command(server: &mut Server, params: ExecuteCommandParams) -> RequestResult<Option<Value>> {
    let arguments = params.arguments;
    let uri = arguments
        .first()
        .and_then(Value::as_str)
        .and_then(|u| Url::parse(u).ok())
        .ok_or_else(|| RequestError::invalid_params("the first argument is the file's URI"))?;
    let key = from_proto::key_of(&uri);
    let stage_argument = || {
        arguments
            .get(1)
            .and_then(Value::as_str)
            .ok_or_else(|| RequestError::invalid_params("the second argument is the stage id"))
    };
    let selection = |with_dependencies: bool| -> RequestResult<Selection> {
        Ok(Selection { stage: Some(stage_argument()?.to_owned()), with_dependencies })
    };
    let outcome = match params.command.as_str() {
        "weft.startSession" | "weft.completePhase" => {
            super::sessions::execute_command(server, &key, &params.command, &arguments)?
        }
        "weft.runWorkflow" => server.start_run(&key, Work::Run(Selection::default())),
        "weft.runStage" => server.start_run(&key, Work::Run(selection(false)?)),
        "weft.runStageWithDeps" => server.start_run(&key, Work::Run(selection(true)?)),
        "weft.resume" => {
            let run = arguments
                .get(1)
                .and_then(Value::as_i64)
                .or_else(|| server.runs.history.file(&key)?.resumable.map(|resumable| resumable.run));
            match run {
                Some(run) => server.start_run(&key, Work::Resume(run)),
                None => Err("there is no run of this file to resume".to_owned()),
            }
        }
        "weft.skip" => {
            let step = stage_argument()?.to_owned();
            let run = arguments
                .get(2)
                .and_then(Value::as_i64)
                .or_else(|| server.runs.history.file(&key)?.resumable.map(|resumable| resumable.run));
            let reason = arguments.get(3).and_then(Value::as_str).map(str::to_owned);
            let skip = engine::Override { step, reason, by: engine::who_am_i() };
            match run {
                Some(run) => server.start_run(&key, Work::Skip(run, skip)),
                None => Err("there is no run of this file to resume".to_owned()),
            }
        }
        "weft.approve" | "weft.reject" => {
            let step = stage_argument()?.to_owned();
            let approve = params.command == "weft.approve";
            let run = arguments.get(2).and_then(Value::as_i64).or_else(|| {
                let active = server.runs.active.get(&key).filter(|a| a.steps.contains_key(&step)).map(|a| a.id);
                active.or_else(|| {
                    let history = server.runs.history.file(&key)?;
                    history
                        .last
                        .get(&step)
                        .filter(|(_, record)| record.status == StepStatus::Waiting)
                        .map(|(run, _)| *run)
                })
            });
            let reason = arguments.get(3).and_then(Value::as_str);
            if !approve && reason.is_none_or(|reason| reason.trim().is_empty()) {
                return Err(RequestError::invalid_params("a rejection needs its reason (the fourth argument)"));
            }
            match run {
                Some(run) => {
                    let workspace = engine::workspace_of(&key);
                    engine::decide(&workspace, run, &step, approve, reason, &engine::who_am_i())
                        .map(|()| ext::CommandResult { run_id: Some(run), ..Default::default() })
                }
                None => Err(format!("`{step}` is not waiting for an approval")),
            }
        }
        "weft.rollback" => {
            let run = arguments.get(1).and_then(Value::as_i64).or_else(|| {
                let history = server.runs.history.file(&key)?;
                history
                    .resumable
                    .map(|resumable| resumable.run)
                    .or_else(|| history.last.values().map(|(run, _)| *run).max())
            });
            match run {
                Some(run) => server.start_run(&key, Work::Rollback(run)),
                None => Err("there is no run of this file to roll back".to_owned()),
            }
        }
        "weft.cancel" => match server.runs.active.get(&key) {
            Some(active) => {
                active.cancel.cancel();
                Ok(ext::CommandResult { run_id: Some(active.id), ..Default::default() })
            }
            None => Err("no run of this file is going".to_owned()),
        },
        "weft.showLog" => {
            let step = stage_argument()?;
            let workspace = engine::workspace_of(&key);
            let run = arguments
                .get(2)
                .and_then(Value::as_i64)
                .or_else(|| server.runs.history.file(&key)?.last.get(step).map(|(run, _)| *run));
            match run.and_then(|run| log_file(&server.runs.history, &workspace, run, step)) {
                Some(log) => {
                    if server.client.show_document {
                        server.show_document(&log);
                    }
                    Ok(ext::CommandResult { log: Some(log.display().to_string()), ..Default::default() })
                }
                None => Err(format!("`{step}` has no log yet")),
            }
        }
        other => return Err(RequestError::invalid_params(format!("unknown command {other}"))),
    };
    let result = outcome.map_err(RequestError::failed)?;
    Ok(Some(serde_json::to_value(result).unwrap_or(Value::Null)))
}

/// `weft/runs`: the recent runs of a file or a workspace, with their steps.
pub fn runs(server: &Server, params: ext::RunsParams) -> RequestResult<ext::RunsResult> {
    let key = params.uri.as_ref().map(from_proto::key_of);
    let workspace = match (&key, params.workspace) {
        (_, Some(folder)) => PathBuf::from(folder),
        (Some(key), None) => engine::workspace_of(key),
        (None, None) => return Err(RequestError::invalid_params("weft/runs needs `uri` or `workspace`")),
    };
    let limit = params.limit.unwrap_or(20) as usize;
    let runs = server.runs.history.with_store(&workspace, |store| {
        let runs = store.runs(key.as_deref(), limit).unwrap_or_default();
        runs.into_iter()
            .map(|run| {
                let steps = store.steps(run.id).unwrap_or_default();
                to_proto::run_summary(run, steps)
            })
            .collect()
    });
    Ok(ext::RunsResult { runs: runs.unwrap_or_default() })
}

/// A step status that resuming its run tries again.
fn is_failure(status: StepStatus) -> bool {
    match status {
        StepStatus::Failed | StepStatus::TimedOut | StepStatus::Canceled | StepStatus::Interrupted => true,
        StepStatus::Pending
        | StepStatus::Running
        | StepStatus::Waiting
        | StepStatus::Succeeded
        | StepStatus::Skipped
        | StepStatus::RolledBack => false,
    }
}

/// Whether a stage has a rollback action: its own, or its plugin's in the project's `weft.yaml`.
fn has_rollback(config: Option<&ProjectConfig>, step: &Step) -> bool {
    let of_plugin = || {
        let plugin = config?.plugin(step.script?.text)?;
        plugin.node.get("rollback")
    };
    step.node.get("rollback").is_some() || of_plugin().is_some()
}
