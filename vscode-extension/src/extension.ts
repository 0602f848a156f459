// The weft extension: starts the language server, follows runs (output channel, status bar, runs
// view) and adds palette commands that act on the active editor's file.
import * as path from 'path';
import * as vscode from 'vscode';
import { State } from 'vscode-languageclient/node';
import { runsAllowed, WeftClient } from './client';
import { isWeftDocument, WEFT_FILES_GLOB } from './documents';
import { CommandResult, RunSummary, ServerCommand } from './protocol';
import { RunTracker } from './runs';
import { Projects, RunsNode, RunsView } from './runsView';
import { SessionsView } from './sessionsView';

/** What the extension returns from activate(): the tests use it, other extensions may too. */
export interface WeftApi {
  readonly client: WeftClient;
  readonly tracker: RunTracker;
  readonly runsView: RunsView;
  readonly sessionsView: SessionsView;
  /** Resolves when the first start of the server has finished (or failed). */
  readonly ready: Promise<void>;
}

export async function activate(context: vscode.ExtensionContext): Promise<WeftApi> {
  const output = vscode.window.createOutputChannel('weft');
  const runOutput = vscode.window.createOutputChannel('weft run');
  const client = new WeftClient(context, output);
  const settings = () => vscode.workspace.getConfiguration('weft');

  const lookup = async (uri: string, runId: number): Promise<RunSummary | undefined> => {
    const result = await client.runs({ uri, limit: 5 });
    return result?.runs.find((run) => run.id === runId);
  };
  const tracker = new RunTracker(runOutput, lookup, () =>
    settings().get<'always' | 'onFailure' | 'never'>('runs.revealOutput', 'onFailure'),
  );
  const projects = new Projects();
  const runsView = new RunsView(
    async (project, limit) => (await client.runs({ workspace: project, limit }))?.runs,
    tracker,
    projects,
    () => settings().get<number>('runs.historyLimit', 10),
  );
  const treeView = vscode.window.createTreeView('weftRuns', { treeDataProvider: runsView, showCollapseAll: true });
  const sessionsView = new SessionsView(
    async (project) => (await client.sessions({ workspace: project }))?.sessions,
    projects,
  );
  const sessionsTree = vscode.window.createTreeView('weftSessions', {
    treeDataProvider: sessionsView,
    showCollapseAll: true,
  });

  context.subscriptions.push(output, runOutput, client, tracker, runsView, treeView, sessionsView, sessionsTree);
  context.subscriptions.push(
    client.onRunEvent((params) => tracker.handle(params)),
    client.onDidChangeState((state) => {
      void vscode.commands.executeCommand('setContext', 'weft.serverRunning', state === State.Running);
      if (state === State.Running) {
        runsView.refresh(0);
        sessionsView.refresh(0);
      } else if (state === State.Stopped) {
        tracker.reset();
      }
    }),
    vscode.window.onDidChangeActiveTextEditor(() => tracker.updateStatus()),
    treeView.onDidChangeVisibility((e) => e.visible && runsView.refresh(0)),
    // The server watches the histories it was asked about and says when their sessions change.
    client.onSessionsChanged(({ workspace }) => {
      projects.addFolder(workspace);
      sessionsView.refresh(100);
    }),
    sessionsTree.onDidChangeVisibility((e) => e.visible && sessionsView.refresh(0)),
  );

  // Runs made outside this window (`weft run` in a terminal) show up too.
  const history = vscode.workspace.createFileSystemWatcher('**/.weft/weft.db*');
  const historyChanged = (uri: vscode.Uri) => {
    projects.addFolder(path.dirname(path.dirname(uri.fsPath)));
    if (treeView.visible && tracker.live.size === 0) runsView.refresh(1000);
  };
  context.subscriptions.push(history, history.onDidCreate(historyChanged), history.onDidChange(historyChanged));

  // Trust and settings: runs are allowed only in a trusted workspace with weft.runs.enabled.
  context.subscriptions.push(
    vscode.workspace.onDidGrantWorkspaceTrust(() => void client.sendRunsEnabled()),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('weft.runs.enabled')) {
        await client.sendRunsEnabled();
      }
      if (e.affectsConfiguration('weft.runs.historyLimit')) {
        runsView.refresh(0);
      }
      if (e.affectsConfiguration('weft.server')) {
        if (!client.isRunning) {
          // Nothing to interrupt: most likely the setting was just fixed after "not found".
          await client.restart();
          return;
        }
        const restart = 'Restart';
        const choice = await vscode.window.showInformationMessage(
          'The weft server settings changed. Restart the language server to use them?',
          restart,
        );
        if (choice === restart) await client.restart();
      }
    }),
  );

  // The runs view is shown in workspaces with weft files.
  const markActive = () => void vscode.commands.executeCommand('setContext', 'weft.active', true);
  void vscode.workspace.findFiles(WEFT_FILES_GLOB, '**/node_modules/**', 1).then((found) => {
    if (found.length > 0 || vscode.workspace.textDocuments.some(isWeftDocument)) markActive();
  });
  context.subscriptions.push(
    vscode.workspace.onDidOpenTextDocument((document) => isWeftDocument(document) && markActive()),
  );

  registerCommands(context, client, tracker, runsView, runOutput);
  context.subscriptions.push(
    vscode.commands.registerCommand('weft.sessionsView.refresh', () => sessionsView.reload(true)),
  );

  const ready = client.start();
  return { client, tracker, runsView, sessionsView, ready };
}

export function deactivate(): void {
  // Everything is in context.subscriptions; the client's dispose stops the server.
}

/** The weft file of the active editor, or a message saying why there is none. */
function activeWeftDocument(): vscode.TextDocument | undefined {
  const document = vscode.window.activeTextEditor?.document;
  if (!document || !isWeftDocument(document)) {
    void vscode.window.showWarningMessage('Open a weft workflow or plan file first (the command acts on the active editor).');
    return undefined;
  }
  return document;
}

function checkRunsAllowed(): boolean {
  if (runsAllowed()) return true;
  const reason = vscode.workspace.isTrusted
    ? 'Runs are turned off (weft.runs.enabled is false).'
    : 'Runs are disabled in an untrusted workspace. Trust the workspace to run workflows and plans.';
  void vscode.window.showWarningMessage(reason);
  return false;
}

function registerCommands(
  context: vscode.ExtensionContext,
  client: WeftClient,
  tracker: RunTracker,
  runsView: RunsView,
  runOutput: vscode.OutputChannel,
): void {
  const register = (id: string, handler: (...args: any[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, handler));
  const run = (command: string, args: unknown[]): Promise<CommandResult | undefined> =>
    client.executeServerCommand(command, args);

  register('weft.palette.runWorkflow', async () => {
    const document = activeWeftDocument();
    if (!document || !checkRunsAllowed()) return undefined;
    return run(ServerCommand.runWorkflow, [document.uri.toString()]);
  });

  register('weft.palette.runStage', async () => {
    const document = activeWeftDocument();
    if (!document || !checkRunsAllowed()) return undefined;
    // The stage ids are the ones the server offers "Run stage" lenses for.
    const lenses =
      (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', document.uri)) ?? [];
    const stages = [
      ...new Set(
        lenses
          .filter((lens) => lens.command?.command === ServerCommand.runStage)
          .map((lens) => String(lens.command?.arguments?.[1] ?? '')),
      ),
    ].filter(Boolean);
    if (stages.length === 0) {
      void vscode.window.showWarningMessage('This file has no stage that can run now (is a run of it going on?).');
      return undefined;
    }
    const items = stages.flatMap((stage) => [
      { label: stage, description: 'this stage only', command: ServerCommand.runStage },
      { label: stage, description: 'with its dependencies', command: ServerCommand.runStageWithDeps },
    ]);
    const picked = await vscode.window.showQuickPick(items, { placeHolder: 'Stage to run' });
    if (!picked) return undefined;
    return run(picked.command, [document.uri.toString(), picked.label]);
  });

  register('weft.palette.cancel', async (uriArg?: string) => {
    let live = uriArg ? tracker.runOf(uriArg) : undefined;
    if (!live) {
      const active = vscode.window.activeTextEditor?.document.uri;
      live = active ? tracker.runOf(active) : undefined;
    }
    if (!live && tracker.live.size > 0) {
      const runs = [...tracker.live.values()];
      const picked =
        runs.length === 1
          ? runs[0]
          : (
              await vscode.window.showQuickPick(
                runs.map((r) => ({ label: `run ${r.runId}`, description: vscode.workspace.asRelativePath(r.file), r })),
                { placeHolder: 'Run to cancel' },
              )
            )?.r;
      live = picked;
    }
    if (!live) {
      // The server may know of a run this window did not see start.
      const document = vscode.window.activeTextEditor?.document;
      if (!document || !isWeftDocument(document)) {
        void vscode.window.showInformationMessage('No weft run is going on.');
        return undefined;
      }
      return run(ServerCommand.cancel, [document.uri.toString()]);
    }
    return run(ServerCommand.cancel, [live.uri, live.runId]);
  });

  register('weft.palette.resume', async () => {
    const document = activeWeftDocument();
    if (!document || !checkRunsAllowed()) return undefined;
    // Without a run id the server resumes the file's latest resumable run.
    return run(ServerCommand.resume, [document.uri.toString()]);
  });

  register('weft.palette.startSession', async () => {
    const document = activeWeftDocument();
    if (!document || !checkRunsAllowed()) return undefined;
    // Without a task id the client asks for one (see WeftClient.executeServerCommand).
    return run(ServerCommand.startSession, [document.uri.toString()]);
  });

  register('weft.palette.completePhase', async () => {
    const document = activeWeftDocument();
    if (!document || !checkRunsAllowed()) return undefined;
    const sessions = (await client.sessions({ uri: document.uri.toString() }))?.sessions ?? [];
    const items = sessions.flatMap((session) => {
      const phase = session.phases.find((p) => p.status === 'active');
      return phase ? [{ label: session.task, description: `phase ${phase.id}`, task: session.task }] : [];
    });
    if (items.length === 0) {
      void vscode.window.showInformationMessage('No session of this template has an active phase (start one first).');
      return undefined;
    }
    const picked = items.length === 1 ? items[0] : await vscode.window.showQuickPick(items, { placeHolder: 'Task' });
    if (!picked) return undefined;
    return run(ServerCommand.completePhase, [document.uri.toString(), picked.task]);
  });

  register('weft.palette.showRunOutput', () => runOutput.show(true));
  register('weft.palette.restartServer', () => client.restart());
  register('weft.runsView.refresh', () => runsView.reload(true));
  register('weft.runsView.openLog', async (node?: RunsNode) => {
    if (!node || node.kind !== 'step') return undefined;
    const uri = vscode.Uri.file(node.parent.run.file).toString();
    return run(ServerCommand.showLog, [uri, node.step.id, node.parent.run.id]);
  });
  register('weft.runsView.openFile', async (node?: RunsNode) => {
    if (!node) return;
    const run = node.kind === 'run' ? node.run : node.parent.run;
    const document = await vscode.workspace.openTextDocument(vscode.Uri.file(run.file));
    await vscode.window.showTextDocument(document);
  });
}
