// The weft-specific parts of the protocol: the `weft/runEvent` and `weft/sessionsChanged`
// notifications, the `weft/runs` and `weft/sessions` requests, and the server commands behind the
// code lenses (executed through workspace/executeCommand). Mirrors server/src/lsp/ext.rs.

/** One engine event, as `weft/runEvent` carries it. */
export interface RunEvent {
  run: number;
  seq: number;
  at: string;
  kind: string;
  step: string | null;
  data: Record<string, unknown>;
}

export interface RunEventParams {
  uri: string;
  event: RunEvent;
}

export const RUN_EVENT_NOTIFICATION = 'weft/runEvent';
export const RUNS_REQUEST = 'weft/runs';

export interface RunsParams {
  uri?: string;
  workspace?: string;
  limit?: number;
}

export interface StepSummary {
  id: string;
  status: string;
  attempts: number;
  exit_code: number | null;
  duration_ms: number | null;
  reason: string | null;
}

export interface RunSummary {
  id: number;
  /** The absolute path of the workflow or plan that was run. */
  file: string;
  status: string;
  started_at: string | null;
  finished_at: string | null;
  steps: StepSummary[];
}

export interface RunsResult {
  runs: RunSummary[];
}

/** What the run commands answer. */
export interface CommandResult {
  runId?: number;
  log?: string;
  /** The task of a session command; its outcome comes as a message when it is done. */
  task?: string;
}

export const SESSIONS_REQUEST = 'weft/sessions';
export const SESSIONS_CHANGED_NOTIFICATION = 'weft/sessionsChanged';

/** The sessions of a phase template (`uri`) or of a workspace folder (`workspace`). */
export interface SessionsParams {
  uri?: string;
  workspace?: string;
  limit?: number;
}

export interface CheckSummary {
  /** `artifact docs/tasks/T-1/intake.md` or `validation 2`. */
  check: string;
  /** `artifact` or `validation`. */
  kind: string;
  message: string;
}

export interface OverrideSummary {
  reason: string;
  by: string;
  at: string | null;
  failed_checks: string[];
}

export interface PhaseSummary {
  id: string;
  /** `pending`, `active`, `completed` or `overridden`. */
  status: string;
  started_at: string | null;
  finished_at: string | null;
  run: number | null;
  override: OverrideSummary | null;
  /** For the active phase: the checks that failed in its last refused completion. */
  failing_checks: CheckSummary[];
  goal: string | null;
  next_step: string | null;
}

export interface SessionSummary {
  id: number;
  task: string;
  /** The template's absolute path. */
  template: string;
  template_id: string;
  /** `active` or `ended`. */
  status: string;
  started_at: string;
  ended_at: string | null;
  started_by: string;
  phases: PhaseSummary[];
}

export interface SessionsResult {
  sessions: SessionSummary[];
}

export interface SessionsChangedParams {
  /** The workspace folder whose sessions changed. */
  workspace: string;
}

/** Server commands (the server lists them in executeCommandProvider; vscode-languageclient registers them). */
export const ServerCommand = {
  runWorkflow: 'weft.runWorkflow',
  runStage: 'weft.runStage',
  runStageWithDeps: 'weft.runStageWithDeps',
  resume: 'weft.resume',
  skip: 'weft.skip',
  rollback: 'weft.rollback',
  approve: 'weft.approve',
  reject: 'weft.reject',
  cancel: 'weft.cancel',
  showLog: 'weft.showLog',
  startSession: 'weft.startSession',
  completePhase: 'weft.completePhase',
} as const;

/** The commands that start a run, and so need the file saved first. */
export const STARTS_A_RUN: ReadonlySet<string> = new Set([
  ServerCommand.runWorkflow,
  ServerCommand.runStage,
  ServerCommand.runStageWithDeps,
  ServerCommand.resume,
  ServerCommand.skip,
  ServerCommand.startSession,
  ServerCommand.completePhase,
]);

/** The progress tokens of runs start with this; the extension shows its own status bar item for them. */
export const RUN_PROGRESS_TOKEN_PREFIX = 'weft-run-';
