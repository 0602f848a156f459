//! weft's extensions of the protocol, as they go over the wire (documented in docs/EDITORS.md, and
//! mirrored by the VS Code extension's `src/protocol.ts`). These types are the contract with
//! clients: store rows and engine events are converted to them at the edge ([`super::to_proto`]),
//! so the history's tables can change without a client noticing.

use lsp_types::Url;
use serde::{Deserialize, Serialize};

/// `weft/runs`: recent runs with their steps, newest first.
pub enum Runs {}

impl lsp_types::request::Request for Runs {
    type Params = RunsParams;
    type Result = RunsResult;
    const METHOD: &'static str = "weft/runs";
}

/// The runs of one file (`uri`), or of a whole workspace folder (`workspace`).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct RunsParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// At most this many runs (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct RunsResult {
    pub runs: Vec<RunSummary>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct RunSummary {
    pub id: i64,
    /// The absolute path of the workflow or plan that was run.
    pub file: String,
    /// `running`, `succeeded`, `failed`, `canceled`, `quarantined` or `interrupted`.
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub steps: Vec<StepSummary>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct StepSummary {
    pub id: String,
    /// `pending`, `running`, `succeeded`, `failed`, `skipped`, `canceled`, `timed_out` or `interrupted`.
    pub status: String,
    pub attempts: i64,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub reason: Option<String>,
}

/// `weft/runEvent`: one engine event of a run started from the editor, as it happens.
pub enum RunEventNotification {}

impl lsp_types::notification::Notification for RunEventNotification {
    type Params = RunEventParams;
    const METHOD: &'static str = "weft/runEvent";
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct RunEventParams {
    /// The workflow or plan that runs.
    pub uri: Url,
    pub event: RunEvent,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct RunEvent {
    pub run: i64,
    /// The event's place in its run, from 1.
    pub seq: i64,
    /// When, as RFC 3339 in UTC.
    pub at: String,
    /// What happened: `run_started`, `step_failed`, … (the list is in docs/EDITORS.md).
    pub kind: String,
    pub step: Option<String>,
    /// What the kind says about it (`attempt`, `exit_code`, `reason`, `status`, …).
    pub data: serde_json::Value,
}

/// The commands behind the lenses (`workspace/executeCommand`).
pub const COMMANDS: [&str; 12] = [
    "weft.runWorkflow",
    "weft.runStage",
    "weft.runStageWithDeps",
    "weft.resume",
    "weft.skip",
    "weft.rollback",
    "weft.approve",
    "weft.reject",
    "weft.cancel",
    "weft.showLog",
    "weft.startSession",
    "weft.completePhase",
];

/// What the run commands answer: the run they started or canceled, or the log they opened.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CommandResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The task of a session command (`weft.startSession`, `weft.completePhase`), whose outcome
    /// comes later as a `window/showMessage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

/// `weft/sessions`: the sessions of a phase template (`uri`: its active ones) or of a workspace
/// folder (`workspace`: each task's active session, else its latest), newest first.
pub enum Sessions {}

impl lsp_types::request::Request for Sessions {
    type Params = SessionsParams;
    type Result = SessionsResult;
    const METHOD: &'static str = "weft/sessions";
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct SessionsParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// At most this many sessions (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct SessionsResult {
    pub sessions: Vec<SessionSummary>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct SessionSummary {
    pub id: i64,
    pub task: String,
    /// The template's absolute path.
    pub template: String,
    pub template_id: String,
    /// `active` or `ended`.
    pub status: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub started_by: String,
    pub phases: Vec<PhaseSummary>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct PhaseSummary {
    pub id: String,
    /// `pending`, `active`, `completed` or `overridden`.
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The run of the phase's workflow (the one that completed it, or the active phase's last).
    pub run: Option<i64>,
    /// For an overridden phase: why, by whom, when, and which checks failed.
    #[serde(rename = "override")]
    pub override_: Option<OverrideSummary>,
    /// For the active phase: the checks that failed in its last refused completion.
    pub failing_checks: Vec<CheckSummary>,
    pub goal: Option<String>,
    pub next_step: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct OverrideSummary {
    pub reason: String,
    pub by: String,
    pub at: Option<String>,
    pub failed_checks: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct CheckSummary {
    /// `artifact docs/tasks/T-1/intake.md` or `validation 2`.
    pub check: String,
    /// `artifact` or `validation`.
    pub kind: String,
    /// `is missing (or empty)`, `intake lists no questions (exit 1)`, …
    pub message: String,
}

/// `weft/sessionsChanged`: the sessions of a workspace changed (here or in another process);
/// ask `weft/sessions` again.
pub enum SessionsChanged {}

impl lsp_types::notification::Notification for SessionsChanged {
    type Params = SessionsChangedParams;
    const METHOD: &'static str = "weft/sessionsChanged";
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct SessionsChangedParams {
    /// The workspace folder (absolute path) whose history changed.
    pub workspace: String,
}
