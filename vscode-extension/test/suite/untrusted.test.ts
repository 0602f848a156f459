// In a workspace the user has not trusted, weft checks files but runs nothing (SPEC §9). This file
// runs alone, in a code-server with workspace trust on (scripts/test-vscode.sh).
import * as assert from 'assert';
import * as vscode from 'vscode';
import type { WeftApi } from '../../src/extension';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const value = await probe();
    if (value) return value;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('weft in an untrusted workspace', () => {
  let api: WeftApi;
  const root = () => vscode.workspace.workspaceFolders![0].uri;

  before(async () => {
    assert.strictEqual(vscode.workspace.isTrusted, false, 'this suite needs a workspace in restricted mode');
    const extension = vscode.extensions.getExtension<WeftApi>('weft.weft');
    assert.ok(extension);
    api = await extension.activate();
    await api.ready;
    assert.ok(api.client.isRunning, `the server runs in restricted mode too: ${api.client.failure}`);
  });

  it('still checks files', async () => {
    const uri = vscode.Uri.joinPath(root(), 'broken', 'pipeline.workflow.yaml');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    await until('an unknown-dependency diagnostic', () =>
      vscode.languages.getDiagnostics(uri).find((d) => (typeof d.code === 'object' ? d.code.value : d.code) === 'unknown-dependency'),
    );
  });

  it('offers no run lenses and refuses to run', async () => {
    const uri = vscode.Uri.joinPath(root(), 'vscode-demo', 'demo.workflow.yaml');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    // Symbols prove the server has the file; then its lenses are what it means to offer.
    await until('document symbols', async () =>
      ((await vscode.commands.executeCommand<unknown[]>('vscode.executeDocumentSymbolProvider', uri)) ?? []).length > 0 ? true : undefined,
    );
    const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri)) ?? [];
    assert.deepStrictEqual(
      lenses.filter((l) => l.command?.command.startsWith('weft.run')).map((l) => l.command?.title),
      [],
    );
    assert.strictEqual(await vscode.commands.executeCommand('weft.palette.runWorkflow'), undefined);
    assert.strictEqual(await vscode.commands.executeCommand('weft.runStage', uri.toString(), 'build'), undefined);
    await sleep(500);
    const history = vscode.Uri.joinPath(root(), 'vscode-demo', '.weft', 'weft.db');
    await assert.rejects(Promise.resolve(vscode.workspace.fs.stat(history)), 'nothing ran, so there is no history');
  });

  it('offers no session lenses and refuses to start a session', async () => {
    const uri = vscode.Uri.joinPath(root(), 'vscode-demo', 'feature.phases.yaml');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    await until('document symbols', async () =>
      ((await vscode.commands.executeCommand<unknown[]>('vscode.executeDocumentSymbolProvider', uri)) ?? []).length > 0 ? true : undefined,
    );
    const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri)) ?? [];
    assert.deepStrictEqual(lenses.map((l) => l.command?.title), []);
    assert.strictEqual(await vscode.commands.executeCommand('weft.startSession', uri.toString(), 'T-1'), undefined);
    assert.strictEqual(await vscode.commands.executeCommand('weft.palette.startSession'), undefined);
    await sleep(500);
    const history = vscode.Uri.joinPath(root(), 'vscode-demo', '.weft', 'weft.db');
    await assert.rejects(Promise.resolve(vscode.workspace.fs.stat(history)), 'no session was started');
  });
});
