// The "weft Runs" view: recent runs of every weft project in the workspace (from `weft/runs`), each
// with its steps, their status, duration and attempts. Clicking a step opens its log.
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { clockTime, elapsedMs, formatDuration, stepDescription } from './format';
import type { RunSummary, StepSummary } from './protocol';
import type { RunTracker } from './runs';

export type RunNode = { kind: 'run'; project: string; run: RunSummary; live: boolean };
export type StepNode = { kind: 'step'; parent: RunNode; step: StepSummary };
export type RunsNode = RunNode | StepNode;

/** Fetches the recent runs of one project folder; undefined when the server cannot answer now. */
export type RunsFetcher = (project: string, limit: number) => Promise<RunSummary[] | undefined>;

/**
 * The weft projects of the workspace: the folders whose `.weft/weft.db` holds the runs. The engine
 * keeps a file's runs in the folder of its nearest weft.yaml (else the file's own folder), so these are
 * the workspace folders, the folders of weft.yaml files, the folders that already have a history, and
 * the project of every file a run was reported for.
 */
export class Projects {
  private readonly known = new Set<string>();

  list(): string[] {
    const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
    return [...new Set([...folders, ...this.known])].sort();
  }

  async discover(): Promise<void> {
    const exclude = '**/node_modules/**';
    const [configs, histories] = await Promise.all([
      vscode.workspace.findFiles('**/{weft.yaml,weft.yml}', exclude, 500),
      vscode.workspace.findFiles('**/.weft/weft.db', exclude, 500),
    ]);
    for (const uri of configs) this.known.add(path.dirname(uri.fsPath));
    for (const uri of histories) this.known.add(path.dirname(path.dirname(uri.fsPath)));
  }

  /** A folder that holds a history (`.weft/weft.db`). */
  addFolder(folder: string): void {
    this.known.add(folder);
  }

  /** The project of a workflow or plan file, found the way the engine finds it. */
  addFile(file: string): void {
    let dir = path.dirname(file);
    for (;;) {
      if (fs.existsSync(path.join(dir, 'weft.yaml')) || fs.existsSync(path.join(dir, 'weft.yml'))) {
        this.known.add(dir);
        return;
      }
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
    this.known.add(path.dirname(file));
  }
}

function iconFor(status: string): vscode.ThemeIcon {
  switch (status) {
    case 'succeeded':
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
    case 'failed':
    case 'timed_out':
      return new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'));
    case 'canceled':
      return new vscode.ThemeIcon('debug-stop');
    case 'skipped':
      return new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('testing.iconSkipped'));
    case 'quarantined':
      return new vscode.ThemeIcon('warning', new vscode.ThemeColor('testing.iconErrored'));
    case 'running':
    case 'retrying':
      return new vscode.ThemeIcon('sync~spin');
    case 'interrupted':
      // Its engine died: `weft resume` continues it.
      return new vscode.ThemeIcon('debug-disconnect', new vscode.ThemeColor('testing.iconErrored'));
    case 'rolled_back':
      return new vscode.ThemeIcon('discard');
    case 'waiting':
      // Waits for a person's approval.
      return new vscode.ThemeIcon('person', new vscode.ThemeColor('testing.iconQueued'));
    default:
      return new vscode.ThemeIcon('circle-large-outline');
  }
}

export class RunsView implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private runs: RunNode[] = [];
  private loaded: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly fetch: RunsFetcher,
    private readonly tracker: RunTracker,
    readonly projects: Projects,
    private readonly limit: () => number,
  ) {
    this.disposables.push(
      tracker.onDidChange(({ uri, finished }) => {
        if (uri) this.projects.addFile(vscode.Uri.parse(uri).fsPath);
        // Step events come quickly: one refresh per burst. The end of a run is shown at once.
        this.refresh(finished ? 50 : 300);
      }),
    );
  }

  dispose(): void {
    this.changed.dispose();
    if (this.timer) clearTimeout(this.timer);
    this.disposables.forEach((d) => d.dispose());
  }

  /** Loads the runs again after `delay` ms; calls within the delay are merged into one. */
  refresh(delay = 0): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, delay);
  }

  /** Discovers projects, loads their runs and redraws; resolves when done. */
  async reload(discover = false): Promise<void> {
    const work = (async () => {
      if (discover) await this.projects.discover();
      const limit = this.limit();
      const results = await Promise.all(
        this.projects.list().map(async (project) => ({ project, runs: (await this.fetch(project, limit)) ?? [] })),
      );
      const seen = new Set<string>();
      const nodes: RunNode[] = [];
      for (const { project, runs } of results) {
        for (const run of runs) {
          // A folder inside another project can report the same history twice.
          const key = `${run.file}#${run.id}#${run.started_at}`;
          if (seen.has(key)) continue;
          seen.add(key);
          nodes.push({ kind: 'run', project, run, live: false });
        }
      }
      nodes.sort((a, b) => (b.run.started_at ?? '').localeCompare(a.run.started_at ?? '') || b.run.id - a.run.id);
      this.runs = nodes.slice(0, Math.max(limit * 3, 20));
      this.changed.fire(undefined);
    })();
    this.loaded = work.catch(() => undefined);
    return work;
  }

  /** The runs as shown, with the live state of runs going on laid over the stored one. */
  currentRuns(): RunNode[] {
    return this.runs.map((node) => this.withLiveState(node));
  }

  private withLiveState(node: RunNode): RunNode {
    const live = [...this.tracker.live.values()].find((r) => r.runId === node.run.id && samePath(r.file, node.run.file));
    if (!live) return node;
    const steps = node.run.steps.map((step) => {
      const status = live.steps.get(step.id);
      return status && status !== step.status ? { ...step, status } : step;
    });
    return { ...node, live: true, run: { ...node.run, status: 'running', steps } };
  }

  getChildren(node?: RunsNode): RunsNode[] | Thenable<RunsNode[]> {
    if (!node) {
      if (!this.loaded) void this.reload(true);
      return this.loaded ? this.loaded.then(() => this.currentRuns()) : [];
    }
    if (node.kind === 'run') {
      return node.run.steps.map((step) => ({ kind: 'step', parent: node, step }) as StepNode);
    }
    return [];
  }

  getParent(node: RunsNode): RunsNode | undefined {
    return node.kind === 'step' ? node.parent : undefined;
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    if (node.kind === 'run') {
      const { run } = node;
      const newest = this.runs[0]?.run === run || this.runs[0]?.run.id === run.id && samePath(this.runs[0].run.file, run.file);
      const item = new vscode.TreeItem(
        `${path.basename(run.file)} #${run.id}`,
        node.live || newest ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed,
      );
      item.id = `run:${run.file}#${run.id}#${node.live ? 'live' : run.status}`;
      // The icon tells the status; the words are in the tooltip and for screen readers.
      const duration = elapsedMs(run.started_at, run.finished_at);
      item.description = [clockTime(run.started_at), duration !== undefined ? formatDuration(duration) : '']
        .filter(Boolean)
        .join(' · ');
      item.accessibilityInformation = { label: `run ${run.id} of ${path.basename(run.file)}: ${run.status}, ${item.description}` };
      item.iconPath = iconFor(run.status);
      item.contextValue = node.live ? 'weftRunLive' : 'weftRun';
      item.resourceUri = undefined;
      const relative = vscode.workspace.asRelativePath(run.file);
      item.tooltip = new vscode.MarkdownString(
        `**run ${run.id}** of \`${relative}\`  \nstatus: ${run.status}  \nstarted: ${run.started_at ?? '—'}  \nfinished: ${
          run.finished_at ?? '—'
        }  \nhistory: \`${vscode.workspace.asRelativePath(path.join(node.project, '.weft', 'weft.db'))}\``,
      );
      return item;
    }
    const { step, parent } = node;
    const item = new vscode.TreeItem(step.id, vscode.TreeItemCollapsibleState.None);
    item.id = `step:${parent.run.file}#${parent.run.id}#${step.id}`;
    item.description = step.status === 'running' || step.status === 'retrying' ? step.status : stepDescription(step);
    item.iconPath = iconFor(step.status);
    item.accessibilityInformation = { label: `${step.id}: ${step.status}${item.description ? ', ' + item.description : ''}` };
    const hasLog = step.attempts > 0 && step.status !== 'running' && step.status !== 'retrying';
    item.contextValue = hasLog ? 'weftStepWithLog' : 'weftStep';
    item.tooltip = `${step.id}: ${step.status}${step.exit_code !== null ? ` (exit ${step.exit_code})` : ''}${
      step.reason ? ` — ${step.reason}` : ''
    }${step.attempts ? `, ${step.attempts} attempt${step.attempts > 1 ? 's' : ''}` : ''}${hasLog ? '. Click to open its log.' : ''}`;
    if (hasLog) {
      item.command = { command: 'weft.runsView.openLog', title: 'Open Log', arguments: [node] };
    }
    return item;
  }
}

function samePath(a: string, b: string): boolean {
  return path.resolve(a) === path.resolve(b);
}
