// Sessions in VS Code (SPEC §9): the lenses of a phase template, the session commands as a click on
// a lens runs them, the phase-check diagnostics, and the weft Sessions view. The task id and the
// override reason are passed as the commands' arguments here (a click on the lens asks for them in
// an input box instead; test/e2e/ui.js types them as a user does).
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { WeftApi } from '../../src/extension';
import type { CommandResult } from '../../src/protocol';
import type { PhaseNode, SessionNode } from '../../src/sessionsView';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

const TASK = 'T-7';

describe('weft sessions in VS Code', function () {
  let api: WeftApi;
  let uri: vscode.Uri;
  let document: vscode.TextDocument;
  const root = () => vscode.workspace.workspaceFolders![0].uri;
  const lineOf = (text: string) => {
    for (let line = 0; line < document.lineCount; line++) if (document.lineAt(line).text.includes(text)) return line;
    throw new Error(`no line with ${text}`);
  };
  const lenses = async () =>
    (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri)) ?? [];
  const describeLenses = (all: vscode.CodeLens[]) => JSON.stringify(all.map((l) => `${l.range.start.line}:${l.command?.title}`));
  const lensTitled = async (title: string) => (await lenses()).find((l) => l.command?.title === title);
  const click = (lens: vscode.CodeLens, ...extra: unknown[]) =>
    vscode.commands.executeCommand<CommandResult | undefined>(lens.command!.command, ...(lens.command!.arguments ?? []), ...extra);
  const session = () => api.sessionsView.currentSessions().find((s) => s.session.task === TASK);
  const phaseNodes = async (node: SessionNode) => (await api.sessionsView.getChildren(node)) as PhaseNode[];

  before(async () => {
    const extension = vscode.extensions.getExtension<WeftApi>('weft.weft');
    assert.ok(extension);
    api = await extension.activate();
    await api.ready;
    uri = vscode.Uri.joinPath(root(), 'vscode-demo', 'feature.phases.yaml');
    document = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(document, { preview: false });
  });

  it('offers only "▶ Start session" before any session', async () => {
    const start = await until('the Start session lens', () => lensTitled('▶ Start session'));
    assert.strictEqual(start.range.start.line, lineOf('template_id'));
    assert.strictEqual(start.command?.command, 'weft.startSession');
    const all = await lenses();
    assert.ok(!all.some((l) => l.command?.command === 'weft.completePhase'), describeLenses(all));
  });

  it('starts a session, and the lens offers "✓ Complete phase" on its first phase', async () => {
    const start = await until('the Start session lens', () => lensTitled('▶ Start session'));
    const result = await click(start, TASK);
    assert.deepStrictEqual(result, { task: TASK });
    const complete = await until('the Complete phase lens', () => lensTitled(`✓ Complete phase (${TASK})`));
    assert.strictEqual(complete.range.start.line, lineOf('id: intake'));
    // The Sessions view follows (weft/sessionsChanged).
    const node = await until('the session in the view', () => session());
    const phases = await phaseNodes(node);
    assert.deepStrictEqual(
      phases.map((p) => api.sessionsView.getTreeItem(p).label),
      ['▶ intake', '· research', '· close'],
    );
  });

  it('a refused completion puts a phase-check diagnostic on the phase and offers the override', async () => {
    const complete = await until('the Complete phase lens', () => lensTitled(`✓ Complete phase (${TASK})`));
    await click(complete);
    const check = await until('a phase-check diagnostic', () =>
      vscode.languages.getDiagnostics(uri).find((d) => (typeof d.code === 'object' ? d.code.value : d.code) === 'phase-check'),
    );
    assert.strictEqual(check.range.start.line, lineOf('id: intake'));
    assert.strictEqual(document.getText(check.range), 'intake');
    assert.strictEqual(check.severity, vscode.DiagnosticSeverity.Warning);
    assert.strictEqual(check.message, `${TASK}: artifact notes/${TASK}/intake.md is missing (or empty)`);
    const override = await until('the override lens', () => lensTitled(`Complete with override (${TASK})`));
    assert.deepStrictEqual(override.command?.arguments?.slice(1), [TASK, true]);
    // The view shows the failing check under the active phase.
    const checks = await until('the failing check in the view', async () => {
      const node = session();
      if (!node) return undefined;
      const intake = (await phaseNodes(node))[0];
      const children = (await api.sessionsView.getChildren(intake)) as unknown[];
      return children.length === 1 ? children : undefined;
    });
    assert.strictEqual(api.sessionsView.getTreeItem(checks[0] as PhaseNode).label, `artifact notes/${TASK}/intake.md`);
  });

  it('completes once the artifact is there: the lens moves on and the diagnostic goes', async () => {
    const notes = path.join(root().fsPath, 'vscode-demo', 'notes', TASK);
    fs.mkdirSync(notes, { recursive: true });
    fs.writeFileSync(path.join(notes, 'intake.md'), '# Intake\n');
    await click(await until('the Complete phase lens', () => lensTitled(`✓ Complete phase (${TASK})`)));
    await until('the lens to move to research', async () => {
      const lens = await lensTitled(`✓ Complete phase (${TASK})`);
      return lens && lens.range.start.line === lineOf('id: research') ? lens : undefined;
    });
    await until('the diagnostic to go', () => vscode.languages.getDiagnostics(uri).length === 0);
  });

  it('an override with a reason is recorded and shown in the view', async () => {
    const complete = await until('the Complete phase lens', () => lensTitled(`✓ Complete phase (${TASK})`));
    await click(complete, true, 'research is in the wiki');
    const research = await until('research overridden in the view', async () => {
      const node = session();
      const phase = node && (await phaseNodes(node))[1];
      return phase?.phase.status === 'overridden' ? phase : undefined;
    });
    assert.strictEqual(research.phase.override?.reason, 'research is in the wiki');
    assert.strictEqual(api.sessionsView.getTreeItem(research).label, '⚠ research');
    await until('the lens to move to close', async () => {
      const lens = await lensTitled(`✓ Complete phase (${TASK})`);
      return lens && lens.range.start.line === lineOf('id: close') ? lens : undefined;
    });
  });
});
