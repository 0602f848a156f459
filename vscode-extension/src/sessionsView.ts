// The "weft Sessions" view: each task's active session (else its latest, ended one) in every weft
// project of the workspace, from `weft/sessions`; under it the phases with their status (✓
// completed, ⚠ overridden, ▶ active, · pending), and under the active phase the checks that failed
// in its last refused completion. Clicking a phase opens the template. Refreshed when the server
// says a workspace's sessions changed (`weft/sessionsChanged`).
import * as vscode from 'vscode';
import type { CheckSummary, PhaseSummary, SessionSummary } from './protocol';
import type { Projects } from './runsView';

export type SessionNode = { kind: 'session'; session: SessionSummary };
export type PhaseNode = { kind: 'phase'; parent: SessionNode; phase: PhaseSummary; position: number };
export type CheckNode = { kind: 'check'; parent: PhaseNode; check: CheckSummary };
export type SessionsNode = SessionNode | PhaseNode | CheckNode;

/** Fetches the sessions of one project folder; undefined when the server cannot answer now. */
export type SessionsFetcher = (project: string) => Promise<SessionSummary[] | undefined>;

/** The mark a phase's status is shown with, in words for screen readers and tooltips too. */
export function phaseMark(status: string): string {
  switch (status) {
    case 'completed':
      return '✓';
    case 'overridden':
      return '⚠';
    case 'active':
      return '▶';
    default:
      return '·';
  }
}

function phaseIcon(status: string): vscode.ThemeIcon {
  switch (status) {
    case 'completed':
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
    case 'overridden':
      return new vscode.ThemeIcon('warning', new vscode.ThemeColor('testing.iconErrored'));
    case 'active':
      return new vscode.ThemeIcon('play', new vscode.ThemeColor('testing.iconQueued'));
    default:
      return new vscode.ThemeIcon('circle-small');
  }
}

export class SessionsView implements vscode.TreeDataProvider<SessionsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<SessionsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private sessions: SessionNode[] = [];
  private loaded: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly fetch: SessionsFetcher,
    readonly projects: Projects,
  ) {}

  dispose(): void {
    this.changed.dispose();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Loads the sessions again after `delay` ms; calls within the delay are merged into one. */
  refresh(delay = 0): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, delay);
  }

  async reload(discover = false): Promise<void> {
    const work = (async () => {
      if (discover) await this.projects.discover();
      const results = await Promise.all(this.projects.list().map(async (project) => (await this.fetch(project)) ?? []));
      const seen = new Set<string>();
      const nodes: SessionNode[] = [];
      for (const session of results.flat()) {
        // A folder inside another project can report the same history twice.
        const key = `${session.template}#${session.id}#${session.started_at}`;
        if (seen.has(key)) continue;
        seen.add(key);
        nodes.push({ kind: 'session', session });
      }
      // Active sessions first, then the newest.
      nodes.sort(
        (a, b) =>
          Number(b.session.status === 'active') - Number(a.session.status === 'active') ||
          b.session.started_at.localeCompare(a.session.started_at),
      );
      this.sessions = nodes;
      this.changed.fire(undefined);
    })();
    this.loaded = work.catch(() => undefined);
    return work;
  }

  currentSessions(): SessionNode[] {
    return this.sessions;
  }

  getChildren(node?: SessionsNode): SessionsNode[] | Thenable<SessionsNode[]> {
    if (!node) {
      if (!this.loaded) void this.reload(true);
      return this.loaded ? this.loaded.then(() => this.sessions) : [];
    }
    if (node.kind === 'session') {
      return node.session.phases.map((phase, index) => ({ kind: 'phase', parent: node, phase, position: index + 1 }) as PhaseNode);
    }
    if (node.kind === 'phase') {
      return node.phase.failing_checks.map((check) => ({ kind: 'check', parent: node, check }) as CheckNode);
    }
    return [];
  }

  getParent(node: SessionsNode): SessionsNode | undefined {
    return node.kind === 'session' ? undefined : node.parent;
  }

  getTreeItem(node: SessionsNode): vscode.TreeItem {
    if (node.kind === 'session') {
      const { session } = node;
      const active = session.status === 'active';
      const item = new vscode.TreeItem(
        `${session.task}`,
        active ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed,
      );
      item.id = `session:${session.template}#${session.id}#${session.status}`;
      const current = session.phases.find((p) => p.status === 'active');
      const done = session.phases.filter((p) => p.status === 'completed' || p.status === 'overridden').length;
      item.description = `${session.template_id} · ${active ? (current ? current.id : 'every phase done') : 'ended'} · ${done}/${
        session.phases.length
      }`;
      item.iconPath = new vscode.ThemeIcon(active ? 'tasklist' : 'archive');
      item.contextValue = active ? 'weftSessionActive' : 'weftSessionEnded';
      item.tooltip = new vscode.MarkdownString(
        `**${session.task}** on \`${vscode.workspace.asRelativePath(session.template)}\` (${session.template_id})  \n` +
          `${session.status}, started ${session.started_at} by ${session.started_by}` +
          (session.ended_at ? `, ended ${session.ended_at}` : ''),
      );
      item.accessibilityInformation = { label: `session of ${session.task}: ${session.status}, ${item.description}` };
      return item;
    }
    if (node.kind === 'phase') {
      const { phase, parent } = node;
      const failing = phase.failing_checks.length;
      const item = new vscode.TreeItem(
        `${phaseMark(phase.status)} ${phase.id}`,
        failing > 0 ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
      );
      item.id = `phase:${parent.session.template}#${parent.session.id}#${phase.id}`;
      item.iconPath = phaseIcon(phase.status);
      const parts = [phase.status];
      if (failing > 0) parts.push(`${failing} check${failing > 1 ? 's' : ''} failing`);
      if (phase.override) parts.push(`override: ${phase.override.reason}`);
      if (phase.goal) parts.push(phase.goal);
      item.description = parts.join(' · ');
      item.contextValue = `weftPhase-${phase.status}`;
      const lines = [`**${phase.id}** (${node.position}/${parent.session.phases.length}): ${phase.status}`];
      if (phase.goal) lines.push(`goal: ${phase.goal}`);
      if (phase.next_step) lines.push(`next step: ${phase.next_step}`);
      if (phase.override) {
        lines.push(
          `overridden by ${phase.override.by}: ${phase.override.reason} (failed: ${phase.override.failed_checks.join(', ') || '—'})`,
        );
      }
      if (phase.run !== null) lines.push(`workflow run ${phase.run}`);
      item.tooltip = new vscode.MarkdownString(lines.join('  \n'));
      item.accessibilityInformation = { label: `phase ${phase.id}: ${item.description}` };
      item.command = {
        command: 'vscode.open',
        title: 'Open Template',
        arguments: [vscode.Uri.file(parent.session.template)],
      };
      return item;
    }
    const { check } = node;
    const item = new vscode.TreeItem(check.check, vscode.TreeItemCollapsibleState.None);
    item.id = `check:${node.parent.parent.session.template}#${node.parent.parent.session.id}#${node.parent.phase.id}#${check.check}`;
    item.description = check.message;
    item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'));
    item.tooltip = `${check.check} ${check.message}`;
    return item;
  }
}

