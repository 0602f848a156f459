// Follows the runs the server reports through `weft/runEvent`: streams them to the "weft run" output
// channel, shows a status bar item while a run goes on, and tells the runs view what changed.
import * as path from 'path';
import * as vscode from 'vscode';
import { eventLine, formatDuration, NOT_SELECTED, clockTime } from './format';
import type { RunEventParams, RunSummary } from './protocol';

/** A run that is going on, as the events tell it. */
export interface LiveRun {
  uri: string;
  file: string;
  runId: number;
  startedAt: number;
  /** Steps of the run (from `weft/runs`), once known. */
  stepIds?: string[];
  notSelected: Set<string>;
  finished: Set<string>;
  /** Step id → live status ("running", "retrying", or a final status). */
  steps: Map<string, string>;
  status?: string;
}

export type RunLookup = (uri: string, runId: number) => Promise<RunSummary | undefined>;

export class RunTracker implements vscode.Disposable {
  /** Runs going on, by file URI. */
  readonly live = new Map<string, LiveRun>();
  private readonly changed = new vscode.EventEmitter<{ uri: string; finished: boolean }>();
  /** Fires after every event that changed what a run shows. */
  readonly onDidChange = this.changed.event;
  private readonly statusItem: vscode.StatusBarItem;
  private clearStatus: NodeJS.Timeout | undefined;
  private statusVisible = false;
  private lastEvent = new Map<string, number>();
  /** The last lines written to the output channel (an output channel cannot be read back). */
  readonly lines: string[] = [];

  constructor(
    readonly output: vscode.OutputChannel,
    private readonly lookup: RunLookup,
    private readonly revealOn: () => 'always' | 'onFailure' | 'never',
  ) {
    this.statusItem = vscode.window.createStatusBarItem('weft.run', vscode.StatusBarAlignment.Left, 10);
    this.statusItem.name = 'weft run';
    this.statusItem.command = 'weft.palette.showRunOutput';
  }

  dispose(): void {
    this.statusItem.dispose();
    this.changed.dispose();
    if (this.clearStatus) {
      clearTimeout(this.clearStatus);
    }
  }

  /** The live run of a file, if one is going on. */
  runOf(uri: vscode.Uri | string): LiveRun | undefined {
    return this.live.get(typeof uri === 'string' ? uri : uri.toString());
  }

  handle(params: RunEventParams): void {
    const { uri, event } = params;
    // The same event can never matter twice (a resumed connection, a duplicate notification).
    const key = `${uri}#${event.run}`;
    const starts = event.kind === 'run_started' || event.kind === 'run_resumed';
    if (!starts && (this.lastEvent.get(key) ?? 0) >= event.seq) {
      return;
    }
    this.lastEvent.set(key, event.seq);
    let run = this.live.get(uri);
    if (starts || !run || run.runId !== event.run) {
      const file = vscode.Uri.parse(uri).fsPath;
      run = {
        uri,
        file,
        runId: event.run,
        startedAt: Date.now(),
        notSelected: new Set(),
        finished: new Set(),
        steps: new Map(),
      };
      this.live.set(uri, run);
      if (starts) {
        this.write('');
      }
      void this.learnSteps(run, event.kind === 'run_resumed');
      if (this.revealOn() === 'always') {
        this.output.show(true);
      }
    }
    let line = eventLine(event, run.file);
    if (event.kind === 'run_finished' && line !== undefined) {
      run.status = typeof event.data?.status === 'string' ? event.data.status : 'finished';
      line += ` in ${formatDuration(Date.now() - run.startedAt)}${this.counts(run)}`;
    }
    if (line !== undefined) {
      this.write(`[${clockTime(event.at) || clockTime(new Date().toISOString())}] ${line}`);
    }
    const step = event.step ?? undefined;
    switch (event.kind) {
      case 'step_started':
        if (step) run.steps.set(step, 'running');
        break;
      case 'step_retry_scheduled':
        if (step) run.steps.set(step, 'retrying');
        break;
      case 'step_waiting':
        if (step) run.steps.set(step, 'waiting');
        break;
      case 'step_succeeded':
      case 'step_failed':
      case 'step_timed_out':
      case 'step_skipped':
      case 'step_canceled':
        if (step) {
          run.steps.set(step, event.kind.slice('step_'.length));
          if (event.kind === 'step_skipped' && event.data?.reason === NOT_SELECTED) {
            run.notSelected.add(step);
          } else {
            run.finished.add(step);
          }
          if ((event.kind === 'step_failed' || event.kind === 'step_timed_out') && this.revealOn() === 'onFailure') {
            this.output.show(true);
          }
        }
        break;
      case 'run_finished': {
        this.live.delete(uri);
        this.lastEvent.delete(key);
        this.showFinished(run);
        this.changed.fire({ uri, finished: true });
        return;
      }
    }
    this.updateStatus();
    this.changed.fire({ uri, finished: false });
  }

  private write(line: string): void {
    this.output.appendLine(line);
    this.lines.push(line);
    if (this.lines.length > 1000) {
      this.lines.splice(0, this.lines.length - 1000);
    }
  }

  /** Asks the server for the run's steps, so the status bar can say "2/5". */
  private async learnSteps(run: LiveRun, resumed: boolean): Promise<void> {
    try {
      const summary = await this.lookup(run.uri, run.runId);
      if (!summary || this.live.get(run.uri) !== run) {
        return;
      }
      run.stepIds = summary.steps.map((s) => s.id);
      if (resumed) {
        for (const step of summary.steps) {
          if (step.status === 'succeeded' && !run.steps.has(step.id)) {
            run.finished.add(step.id);
          }
        }
      }
      this.updateStatus();
    } catch {
      // The count stays unknown; the status bar then shows only what finished.
    }
  }

  /** " (2 succeeded, 1 failed)": the steps of the run by final status. */
  private counts(run: LiveRun): string {
    const counts = new Map<string, number>();
    for (const [step, status] of run.steps) {
      if (!run.notSelected.has(step)) counts.set(status, (counts.get(status) ?? 0) + 1);
    }
    const parts = [...counts].map(([status, n]) => `${n} ${status}`);
    return parts.length ? ` (${parts.join(', ')})` : '';
  }

  private summary(run: LiveRun): string {
    return `run ${run.runId} ${run.status ?? 'finished'}${this.counts(run)}`;
  }

  /** What the status bar item says now ("" when it is hidden). */
  get statusText(): string {
    return this.statusVisible ? this.statusItem.text : '';
  }

  /** The run the status bar talks about: the active editor's, else the newest. */
  private shownRun(): LiveRun | undefined {
    const active = vscode.window.activeTextEditor?.document.uri.toString();
    if (active && this.live.has(active)) {
      return this.live.get(active);
    }
    let newest: LiveRun | undefined;
    for (const run of this.live.values()) {
      if (!newest || run.startedAt > newest.startedAt) newest = run;
    }
    return newest;
  }

  updateStatus(): void {
    const run = this.shownRun();
    if (!run) {
      return;
    }
    if (this.clearStatus) {
      clearTimeout(this.clearStatus);
      this.clearStatus = undefined;
    }
    const total = run.stepIds ? run.stepIds.length - run.notSelected.size : undefined;
    const running = [...run.steps].filter(([, s]) => s === 'running' || s === 'retrying').map(([id]) => id);
    const count = total !== undefined ? `${run.finished.size}/${total}` : `${run.finished.size} done`;
    const others = this.live.size > 1 ? ` (+${this.live.size - 1})` : '';
    let text = `$(sync~spin) weft: ${count}${running.length ? ' · ' + running.join(', ') : ''}${others}`;
    if (text.length > 80) {
      text = text.slice(0, 79) + '…';
    }
    this.statusItem.text = text;
    const tooltip = new vscode.MarkdownString(
      `**weft run ${run.runId}** of \`${path.basename(run.file)}\`  \n${count} steps finished` +
        (running.length ? `, running: ${running.join(', ')}` : '') +
        `\n\n[Show output](command:weft.palette.showRunOutput) · [Cancel run](command:weft.palette.cancel?${encodeURIComponent(
          JSON.stringify([run.uri]),
        )})`,
    );
    tooltip.isTrusted = { enabledCommands: ['weft.palette.showRunOutput', 'weft.palette.cancel'] };
    this.statusItem.tooltip = tooltip;
    this.statusItem.backgroundColor = undefined;
    this.statusItem.show();
    this.statusVisible = true;
  }

  private showFinished(run: LiveRun): void {
    if (this.live.size > 0) {
      this.updateStatus();
      return;
    }
    const ok = run.status === 'succeeded';
    this.statusItem.text = `${ok ? '$(pass)' : run.status === 'canceled' ? '$(debug-stop)' : '$(error)'} weft: run ${run.runId} ${run.status}`;
    this.statusItem.tooltip = `${this.summary(run)} · ${path.basename(run.file)}. Click to show the run output.`;
    this.statusItem.backgroundColor = ok ? undefined : new vscode.ThemeColor('statusBarItem.errorBackground');
    this.statusItem.show();
    this.statusVisible = true;
    this.clearStatus = setTimeout(() => {
      this.statusItem.hide();
      this.statusVisible = false;
      this.statusItem.backgroundColor = undefined;
    }, 8000);
  }

  /** The server went away: nothing is running any more as far as this window can tell. */
  reset(): void {
    if (this.live.size > 0) {
      this.write('The language server stopped; the runs it was following are no longer reported here.');
    }
    this.live.clear();
    this.lastEvent.clear();
    this.statusItem.hide();
    this.statusVisible = false;
    this.changed.fire({ uri: '', finished: true });
  }
}
