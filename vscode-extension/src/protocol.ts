// The weft-specific parts of the protocol: the `weft/runEvent` notification, the `weft/runs`
// request, and the server commands behind the code lenses (executed through workspace/executeCommand).

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
} as const;

/** The commands that start a run, and so need the file saved first. */
export const STARTS_A_RUN: ReadonlySet<string> = new Set([
  ServerCommand.runWorkflow,
  ServerCommand.runStage,
  ServerCommand.runStageWithDeps,
  ServerCommand.resume,
  ServerCommand.skip,
]);

/** The progress tokens of runs start with this; the extension shows its own status bar item for them. */
export const RUN_PROGRESS_TOKEN_PREFIX = 'weft-run-';
