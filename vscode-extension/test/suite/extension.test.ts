// The extension in the real VS Code extension host, against the weft server built from this
// repository, on a copy of examples/ plus the test project vscode-demo/ (see scripts/test-vscode.sh).
import * as assert from 'assert';
import * as path from 'path';
import * as vscode from 'vscode';
import type { WeftApi } from '../../src/extension';
import type { CommandResult, RunSummary } from '../../src/protocol';
import type { RunNode, StepNode } from '../../src/runsView';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something truthy; fails with `what` and the last value seen. */
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

function root(): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the tests need a workspace folder (a copy of examples/)');
  return folder.uri;
}
const fileUri = (...segments: string[]) => vscode.Uri.joinPath(root(), ...segments);

function codeOf(diagnostic: vscode.Diagnostic): string | number | undefined {
  const code = diagnostic.code;
  return typeof code === 'object' ? code.value : code;
}

async function open(uri: vscode.Uri): Promise<vscode.TextEditor> {
  const document = await vscode.workspace.openTextDocument(uri);
  return vscode.window.showTextDocument(document, { preview: false });
}

function lineOf(document: vscode.TextDocument, text: string): number {
  for (let line = 0; line < document.lineCount; line++) {
    if (document.lineAt(line).text.includes(text)) return line;
  }
  throw new Error(`no line with ${text} in ${document.uri.fsPath}`);
}

async function lenses(uri: vscode.Uri): Promise<vscode.CodeLens[]> {
  return (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri)) ?? [];
}

function describeLenses(all: vscode.CodeLens[]): string {
  return JSON.stringify(all.map((l) => `${l.range.start.line}:${l.command?.title}`));
}

/** Runs a lens's command exactly as a click on it does. */
async function click(lens: vscode.CodeLens): Promise<CommandResult | undefined> {
  assert.ok(lens.command, 'the lens has a command');
  return vscode.commands.executeCommand<CommandResult | undefined>(lens.command.command, ...(lens.command.arguments ?? []));
}

async function runOf(api: WeftApi, uri: vscode.Uri, id: number): Promise<RunSummary | undefined> {
  const result = await api.client.runs({ uri: uri.toString() });
  return result?.runs.find((run) => run.id === id);
}

async function lensFor(uri: vscode.Uri, command: string, stage?: string): Promise<vscode.CodeLens> {
  return until(`a ${command} lens${stage ? ' for ' + stage : ''}`, async () =>
    (await lenses(uri)).find((l) => l.command?.command === command && (stage === undefined || l.command.arguments?.[1] === stage)),
  );
}

describe('weft in VS Code', function () {
  let api: WeftApi;

  before(async function () {
    const extension = vscode.extensions.getExtension<WeftApi>('weft.weft');
    assert.ok(extension, 'the weft extension is installed');
    // Opening a weft file activates the extension as it would for a user.
    await open(fileUri('broken', 'pipeline.workflow.yaml'));
    api = await until('the extension to activate', async () => (extension.isActive ? extension.exports : undefined));
    await api.ready;
    assert.ok(api.client.isRunning, `the server runs: ${api.client.failure}`);
    const expected = process.env.WEFT_EXPECTED_SERVER;
    if (expected) {
      assert.strictEqual(api.client.binary?.command, expected, 'the server under test is the one built from this repository');
    }
  });

  describe('language features', () => {
    it('publishes diagnostics for examples/broken/pipeline.workflow.yaml', async () => {
      const uri = fileUri('broken', 'pipeline.workflow.yaml');
      const { document } = await open(uri);
      const unknown = await until('an unknown-dependency diagnostic', () =>
        vscode.languages.getDiagnostics(uri).find((d) => codeOf(d) === 'unknown-dependency'),
      );
      assert.strictEqual(unknown.source, 'weft');
      assert.strictEqual(unknown.severity, vscode.DiagnosticSeverity.Error);
      assert.strictEqual(unknown.range.start.line, lineOf(document, 'depends_on: [biuld]'));
      assert.strictEqual(document.getText(unknown.range), 'biuld', 'the range covers the misspelt id exactly');
      assert.match(unknown.message, /biuld/);
    });

    it('puts each diagnostic examples/broken announces in a comment on that line', async () => {
      // broken/ is in examples/.weftignore, so the server does not index it: its weft.yaml is opened
      // too, so the checks that need the plugins see them.
      await open(fileUri('broken', 'weft.yaml'));
      const uri = fileUri('broken', 'pipeline.workflow.yaml');
      const { document } = await open(uri);
      const expected: Array<{ line: number; code: string }> = [];
      for (let line = 0; line < document.lineCount; line++) {
        const match = /#\s*(?:error|warning|hint):\s*\[([a-z-]+)\]/.exec(document.lineAt(line).text);
        if (match) expected.push({ line, code: match[1] });
      }
      assert.ok(expected.length >= 8, 'the file announces its diagnostics');
      const show = (all: readonly vscode.Diagnostic[]) =>
        JSON.stringify(all.map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${codeOf(d)}: ${d.message}`), null, 1);
      let diagnostics: readonly vscode.Diagnostic[] = [];
      try {
        await until('every announced diagnostic on its line', () => {
          diagnostics = vscode.languages.getDiagnostics(uri);
          return expected.every((e) => diagnostics.some((d) => codeOf(d) === e.code && d.range.start.line === e.line));
        }, 10_000);
      } catch (error) {
        const missing = expected.filter((e) => !diagnostics.some((d) => codeOf(d) === e.code && d.range.start.line === e.line));
        assert.fail(`missing ${JSON.stringify(missing.map((m) => `${m.line + 1}: ${m.code}`))}; got ${show(diagnostics)}`);
      }
    });

    it('completes stage ids inside `depends_on: [`', async () => {
      const uri = fileUri('vscode-demo', 'demo.workflow.yaml');
      const editor = await open(uri);
      try {
        const end = editor.document.lineAt(editor.document.lineCount - 1).range.end;
        const prefix = editor.document.lineAt(editor.document.lineCount - 1).text === '' ? '' : '\n';
        await editor.edit((edit) =>
          edit.insert(end, `${prefix}  - id: publish\n    script: say\n    with: { message: "publishing" }\n    depends_on: [`),
        );
        const last = editor.document.lineAt(editor.document.lineCount - 1);
        assert.strictEqual(last.text, '    depends_on: [');
        const list = await until('stage ids in the completion list', async () => {
          const result = await vscode.commands.executeCommand<vscode.CompletionList>(
            'vscode.executeCompletionItemProvider',
            uri,
            last.range.end,
            '[',
          );
          const labels = (result?.items ?? []).map((item) => (typeof item.label === 'string' ? item.label : item.label.label));
          return labels.includes('build') ? labels : undefined;
        });
        assert.ok(list.includes('package'), JSON.stringify(list));
        assert.ok(!list.includes('publish'), `a stage is not offered as its own dependency: ${JSON.stringify(list)}`);
      } finally {
        await vscode.commands.executeCommand('workbench.action.files.revert');
      }
      assert.ok(!editor.document.isDirty);
    });

    it('counts columns in UTF-16 as VS Code does (an emoji before the id)', async () => {
      const uri = fileUri('vscode-demo', 'other', 'emoji.workflow.yaml');
      await vscode.workspace.fs.writeFile(
        uri,
        Buffer.from(
          'workflow_id: emoji\nstages:\n  - id: build\n    script: say\n    with: { message: "b" }\n' +
            '  - { id: ship, name: "🚀 ship it 𝄞", script: say, with: { message: "🚀" }, depends_on: [biuld] }\n',
        ),
      );
      const { document } = await open(uri);
      const unknown = await until('an unknown-dependency diagnostic after the emoji', () =>
        vscode.languages.getDiagnostics(uri).find((d) => codeOf(d) === 'unknown-dependency'),
      );
      assert.strictEqual(document.getText(unknown.range), 'biuld', `range ${JSON.stringify(unknown.range)}`);
      // Completion after the emoji too.
      const line = document.lineAt(5);
      const at = new vscode.Position(5, line.text.indexOf('biuld'));
      const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', uri, at);
      const build = list.items.find((i) => (typeof i.label === 'string' ? i.label : i.label.label) === 'build');
      assert.ok(build, JSON.stringify(list.items.map((i) => i.label)));
      const range = build.range && 'replacing' in build.range ? build.range.replacing : build.range;
      if (range) {
        assert.ok(range.start.isEqual(at), `the completion edit starts at the id: ${JSON.stringify(range)}`);
      }
    });

    it('navigates: definition, references, hover, rename, symbols, inlay hints', async () => {
      const uri = fileUri('vscode-demo', 'demo.workflow.yaml');
      const { document } = await open(uri);
      const buildLine = lineOf(document, '- id: build');
      const use = new vscode.Position(lineOf(document, 'depends_on: [build]'), document.lineAt(lineOf(document, 'depends_on: [build]')).text.indexOf('build') + 2);
      const definitions = await vscode.commands.executeCommand<(vscode.Location | vscode.LocationLink)[]>('vscode.executeDefinitionProvider', uri, use);
      assert.strictEqual(definitions.length, 1, JSON.stringify(definitions));
      const target = 'targetUri' in definitions[0] ? definitions[0].targetSelectionRange ?? definitions[0].targetRange : definitions[0].range;
      assert.strictEqual(target.start.line, buildLine);
      assert.strictEqual(document.getText(target), 'build');

      const references = await vscode.commands.executeCommand<vscode.Location[]>('vscode.executeReferenceProvider', uri, use);
      assert.ok(references.length >= 2, JSON.stringify(references));

      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, use);
      const hoverText = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      assert.match(hoverText, /build/);

      const edit = await vscode.commands.executeCommand<vscode.WorkspaceEdit>('vscode.executeDocumentRenameProvider', uri, use, 'compile_all');
      const edits = edit.get(uri);
      assert.strictEqual(edits.length, 2, JSON.stringify(edits));
      assert.ok(edits.every((e) => document.getText(e.range) === 'build'), JSON.stringify(edits.map((e) => e.range)));

      const symbols = await vscode.commands.executeCommand<vscode.DocumentSymbol[]>('vscode.executeDocumentSymbolProvider', uri);
      const flat = (list: vscode.DocumentSymbol[]): string[] => list.flatMap((d) => [d.name, ...flat(d.children ?? [])]);
      const names = flat(symbols);
      assert.ok(names.includes('build') && names.includes('package'), JSON.stringify(names));

      const hints = await vscode.commands.executeCommand<vscode.InlayHint[]>('vscode.executeInlayHintProvider', uri, new vscode.Range(0, 0, document.lineCount, 0));
      const labels = hints.map((h) => (typeof h.label === 'string' ? h.label : h.label.map((p) => p.value).join('')));
      assert.ok(labels.some((l) => /wave 1/.test(l)), JSON.stringify(labels));
    });

    it('serves YAML files that are weft files by content, and leaves other YAML alone', async () => {
      const named = fileUri('vscode-demo', 'other', 'custom-name.yaml');
      await vscode.workspace.fs.writeFile(
        named,
        Buffer.from('workflow_id: by_content\nstages:\n  - id: first\n    script: say\n    with: { message: hi }\n  - id: second\n    script: say\n    with: { message: hi }\n    depends_on: [frist]\n'),
      );
      await open(named);
      const found = await until('a diagnostic in a weft file found by its content', () =>
        vscode.languages.getDiagnostics(named).find((d) => codeOf(d) === 'unknown-dependency'),
      );
      assert.strictEqual(found.range.start.line, 8);

      const plain = fileUri('vscode-demo', 'other', 'app.yaml');
      const plainEditor = await open(plain);
      assert.strictEqual(plainEditor.document.languageId, 'yaml', 'the extension does not take the yaml language id');
      await sleep(1500);
      assert.ok(!api.client.isSynced(plain), 'an ordinary YAML file is not sent to the server');
      assert.deepStrictEqual(vscode.languages.getDiagnostics(plain).filter((d) => d.source?.startsWith('weft')), []);
      const plainLenses = await lenses(plain);
      assert.deepStrictEqual(describeLenses(plainLenses), '[]');

      // A YAML file that becomes a workflow while the user types is sent to the server then.
      const later = fileUri('vscode-demo', 'other', 'later.yaml');
      await vscode.workspace.fs.writeFile(later, Buffer.from('# notes\n'));
      const laterEditor = await open(later);
      await sleep(500);
      assert.ok(!api.client.isSynced(later));
      await laterEditor.edit((edit) =>
        edit.insert(new vscode.Position(1, 0), 'workflow_id: later\nstages:\n  - id: a\n    script: say\n    with: { message: hi }\n    depends_on: [zzz]\n'),
      );
      await until('diagnostics once the file became a workflow', () =>
        vscode.languages.getDiagnostics(later).find((d) => codeOf(d) === 'unknown-dependency'),
      );
      assert.ok(api.client.isSynced(later));
      await vscode.commands.executeCommand('workbench.action.files.revert');
    });
  });

  describe('runs', () => {
    it('runs a stage from its "▶ Run stage" lens; weft/runs, the runs view and the lens show the result', async () => {
      const uri = fileUri('vscode-demo', 'demo.workflow.yaml');
      const { document } = await open(uri);
      const header = await lensFor(uri, 'weft.runWorkflow');
      assert.strictEqual(header.command?.title, '▶ Run workflow');
      assert.strictEqual(header.range.start.line, lineOf(document, 'workflow_id:'));
      const lens = await lensFor(uri, 'weft.runStage', 'build');
      assert.strictEqual(lens.command?.title, '▶ Run stage');
      assert.strictEqual(lens.range.start.line, lineOf(document, '- id: build'));

      const result = await click(lens);
      assert.ok(result?.runId, `executeCommand answers { runId }: ${JSON.stringify(result)}`);
      const runId = result.runId;

      const run = await until('the run to succeed in weft/runs', async () => {
        const found = await runOf(api, uri, runId);
        return found?.status === 'succeeded' ? found : undefined;
      });
      const build = run.steps.find((s) => s.id === 'build');
      assert.strictEqual(build?.status, 'succeeded');
      assert.strictEqual(build?.attempts, 1);
      assert.strictEqual(build?.exit_code, 0);
      assert.strictEqual(run.steps.find((s) => s.id === 'package')?.status, 'skipped');

      // The runs view.
      const node = await until('the run in the runs view', () =>
        api.runsView
          .currentRuns()
          .find((n) => n.run.id === runId && n.run.file === uri.fsPath && n.run.status === 'succeeded'),
      );
      const steps = (await api.runsView.getChildren(node)) as StepNode[];
      const buildItem = api.runsView.getTreeItem(steps.find((s) => s.step.id === 'build')!);
      assert.strictEqual((buildItem.iconPath as vscode.ThemeIcon).id, 'pass');
      assert.strictEqual(buildItem.command?.command, 'weft.runsView.openLog');
      const runItem = api.runsView.getTreeItem(node as RunNode);
      assert.strictEqual(runItem.label, `demo.workflow.yaml #${runId}`);
      assert.strictEqual((runItem.iconPath as vscode.ThemeIcon).id, 'pass');

      // The lens now shows the result.
      const done = await until('a "✓" result lens on build', async () =>
        (await lenses(uri)).find((l) => l.command?.command === 'weft.showLog' && l.command.arguments?.[1] === 'build'),
      );
      assert.match(done.command!.title, /^✓ \d+(\.\d)? m?s$/);
      assert.strictEqual(done.range.start.line, lineOf(document, '- id: build'));

      // The "weft run" output channel got the live run.
      assert.ok(api.tracker.lines.some((l) => l.endsWith('▶ build')), api.tracker.lines.join('\n'));
      assert.ok(api.tracker.lines.some((l) => /✓ build \d+/.test(l)), api.tracker.lines.join('\n'));
      assert.strictEqual(api.tracker.live.size, 0, 'no run is left going on');
    });

    it('a failing step gets a "weft run" diagnostic, a ✗ in the view, and its log opens', async () => {
      const uri = fileUri('vscode-demo', 'checks.plan.yaml');
      const { document } = await open(uri);
      const lens = await lensFor(uri, 'weft.runStage', 'unit');
      assert.strictEqual(lens.command?.title, '▶ Run step');
      const result = await click(lens);
      assert.ok(result?.runId, JSON.stringify(result));

      const diagnostic = await until('a step-failed diagnostic', () =>
        vscode.languages.getDiagnostics(uri).find((d) => d.source === 'weft run' && codeOf(d) === 'step-failed'),
      );
      assert.strictEqual(diagnostic.severity, vscode.DiagnosticSeverity.Error);
      assert.strictEqual(diagnostic.range.start.line, lineOf(document, '- id: unit'));
      assert.strictEqual(document.getText(diagnostic.range), 'unit');
      assert.ok(diagnostic.message.includes('2 tests failed'), `the end of stderr is in the message: ${diagnostic.message}`);

      const run = await until('the failed run in weft/runs', async () => {
        const found = await runOf(api, uri, result.runId!);
        return found?.status === 'failed' ? found : undefined;
      });
      assert.strictEqual(run.steps.find((s) => s.id === 'unit')?.exit_code, 3);
      assert.ok(api.tracker.lines.some((l) => l.includes('✗ unit: exit 3')), api.tracker.lines.join('\n'));

      const node = await until('the failed run in the runs view', () =>
        api.runsView.currentRuns().find((n) => n.run.id === result.runId && n.run.file === uri.fsPath && n.run.status === 'failed'),
      );
      const steps = (await api.runsView.getChildren(node)) as StepNode[];
      const unit = steps.find((s) => s.step.id === 'unit')!;
      const item = api.runsView.getTreeItem(unit);
      assert.strictEqual((item.iconPath as vscode.ThemeIcon).id, 'error');
      assert.match(String(item.description), /exit 3/);
      assert.strictEqual((api.runsView.getTreeItem(steps.find((s) => s.step.id === 'lint')!).iconPath as vscode.ThemeIcon).id, 'circle-slash');

      // Clicking the step in the view opens its log (weft.showLog → window/showDocument).
      const shown = await vscode.commands.executeCommand<CommandResult>(item.command!.command, ...(item.command!.arguments ?? []));
      // The log lives in the project's history (.weft/runs/<run>/…); its layout is the server's business.
      const runs = path.join(path.dirname(uri.fsPath), '.weft', 'runs') + path.sep;
      assert.ok(shown?.log?.startsWith(runs) && /unit/.test(shown.log) && /stderr$/.test(shown.log), JSON.stringify(shown));
      const log = await until(`the log to open (${shown.log})`, () => {
        const active = vscode.window.activeTextEditor?.document;
        return active?.uri.fsPath === shown.log ? active : undefined;
      }, 10_000);
      assert.ok(log.getText().includes('2 tests failed'));

      // The lenses offer the log and to resume.
      const titles = (await lenses(uri)).map((l) => l.command?.title ?? '');
      assert.ok(titles.some((t) => /^✗ exit 3 · \d+(\.\d)? m?s$/.test(t)), JSON.stringify(titles));
      assert.ok(titles.includes('Show log'), JSON.stringify(titles));
    });

    it('runs the whole file from the palette and resumes it; lenses show progress', async () => {
      const uri = fileUri('vscode-demo', 'checks.plan.yaml');
      await open(uri);
      const result = await vscode.commands.executeCommand<CommandResult>('weft.palette.runWorkflow');
      assert.ok(result?.runId, JSON.stringify(result));
      await until('the plan run to fail', async () => (await runOf(api, uri, result.runId!))?.status === 'failed');
      const resume = await lensFor(uri, 'weft.resume');
      assert.match(resume.command!.title, new RegExp(`^⟳ Resume run ${result.runId} \\(1/3 done\\)$`));
      const resumed = await vscode.commands.executeCommand<CommandResult>('weft.palette.resume');
      assert.strictEqual(resumed?.runId, result.runId, 'resume continues the same run');
      await until('the resumed run to end', async () => api.tracker.lines.some((l) => l.includes(`⟳ run ${result.runId} of checks.plan.yaml resumed`)) &&
        (await runOf(api, uri, result.runId!))?.status === 'failed');
    });

    it('shows a run going on (status bar, running lens, spinning step) and cancels it from the palette', async () => {
      const uri = fileUri('vscode-demo', 'slow.plan.yaml');
      const { document } = await open(uri);
      const header = await lensFor(uri, 'weft.runWorkflow');
      assert.strictEqual(header.command?.title, '▶ Run plan');
      const result = await click(header);
      assert.ok(result?.runId, JSON.stringify(result));
      const live = await until('the wait step to run', () => {
        const run = api.tracker.runOf(uri);
        return run?.steps.get('wait') === 'running' ? run : undefined;
      });
      assert.strictEqual(live.runId, result.runId);
      await until(`the status bar to show the progress (${api.tracker.statusText})`, () =>
        api.tracker.statusText === '$(sync~spin) weft: 1/2 · wait' ? true : undefined,
      );
      const waitLine = lineOf(document, '- id: wait');
      // The server's "⏳ running 1 s" is shown with VS Code's spinning icon.
      const all = await until('a running lens on the running step', async () => {
        const found = await lenses(uri);
        return found.some((l) => l.range.start.line === waitLine && /^\$\(sync~spin\) running \d+ s$/.test(l.command?.title ?? ''))
          ? found
          : undefined;
      });
      assert.ok(all.some((l) => l.range.start.line === lineOf(document, 'plan_id:') && /^\$\(sync~spin\) run \d+ · 1\/2 steps$/.test(l.command?.title ?? '')), describeLenses(all));
      assert.ok(all.some((l) => l.command?.title === '■ Cancel' && l.command.command === 'weft.cancel'), describeLenses(all));
      assert.ok(!all.some((l) => l.command?.command === 'weft.runStage'), `no run buttons while it runs: ${describeLenses(all)}`);
      const node = await until('the live run in the view', () =>
        api.runsView.currentRuns().find((n) => n.live && n.run.id === result.runId),
      );
      const steps = (await api.runsView.getChildren(node)) as StepNode[];
      const waitItem = api.runsView.getTreeItem(steps.find((s) => s.step.id === 'wait')!);
      assert.strictEqual((waitItem.iconPath as vscode.ThemeIcon).id, 'sync~spin');

      await vscode.commands.executeCommand('weft.palette.cancel');
      const run = await until('the run to be canceled', async () => {
        const found = await runOf(api, uri, result.runId!);
        return found?.status === 'canceled' ? found : undefined;
      });
      assert.strictEqual(run.steps.find((s) => s.id === 'quick')?.status, 'succeeded');
      assert.strictEqual(run.steps.find((s) => s.id === 'wait')?.status, 'canceled', JSON.stringify(run.steps));
      await until('the tracker to see the end', () => (api.tracker.live.size === 0 ? true : undefined));
      assert.ok(api.tracker.lines.some((l) => l.endsWith(`■ run ${result.runId} canceled`) || l.includes(`■ run ${result.runId} canceled in`)), api.tracker.lines.join('\n'));
      assert.match(api.tracker.statusText, /^\$\(debug-stop\) weft: run \d+ canceled$/);
    });

    it('approves a waiting stage from its "✓ Approve" lens, and the run goes on', async () => {
      const uri = fileUri('vscode-demo', 'approval.plan.yaml');
      const { document } = await open(uri);
      const header = await lensFor(uri, 'weft.runWorkflow');
      const result = await click(header);
      assert.ok(result?.runId, JSON.stringify(result));
      const gateLine = lineOf(document, '- id: gate');
      const approve = await lensFor(uri, 'weft.approve', 'gate');
      assert.strictEqual(approve.command?.title, '✓ Approve');
      assert.strictEqual(approve.range.start.line, gateLine);
      const all = await lenses(uri);
      assert.ok(all.some((l) => l.range.start.line === gateLine && l.command?.command === 'weft.reject'), describeLenses(all));
      assert.ok(all.some((l) => l.range.start.line === gateLine && /waiting for approval/.test(l.command?.title ?? '')), describeLenses(all));
      assert.ok(api.tracker.lines.some((l) => l.includes('gate')), api.tracker.lines.join('\n'));

      const approved = await click(approve);
      assert.strictEqual(approved?.runId, result.runId, JSON.stringify(approved));
      const run = await until('the approved run to succeed', async () => {
        const found = await runOf(api, uri, result.runId!);
        return found?.status === 'succeeded' ? found : undefined;
      });
      assert.strictEqual(run.steps.find((s) => s.id === 'gate')?.status, 'succeeded', JSON.stringify(run.steps));
      assert.strictEqual(run.steps.find((s) => s.id === 'deploy')?.status, 'succeeded', JSON.stringify(run.steps));
      await until('the tracker to see the end', () => (api.tracker.live.size === 0 ? true : undefined));
    });

    it('saves a file with unsaved changes before running it', async () => {
      const uri = fileUri('vscode-demo', 'demo.workflow.yaml');
      const editor = await open(uri);
      await editor.edit((edit) => edit.insert(new vscode.Position(0, 0), '# edited before the run\n'));
      assert.ok(editor.document.isDirty);
      const lens = await lensFor(uri, 'weft.runStage', 'build');
      const result = await click(lens);
      assert.ok(result?.runId, 'the run started');
      assert.ok(!editor.document.isDirty, 'the file was saved first');
      await until('the run to end', async () => (await runOf(api, uri, result.runId!))?.status === 'succeeded');
    });

    it('turns runs off with weft.runs.enabled', async () => {
      const uri = fileUri('vscode-demo', 'demo.workflow.yaml');
      await open(uri);
      const settings = vscode.workspace.getConfiguration('weft');
      await settings.update('runs.enabled', false, vscode.ConfigurationTarget.Workspace);
      try {
        await until('the run lenses to go away', async () => {
          const all = await lenses(uri);
          return all.length > 0 && !all.some((l) => l.command?.command.startsWith('weft.run')) ? all : undefined;
        });
        const refused = await vscode.commands.executeCommand<CommandResult | undefined>('weft.runStage', uri.toString(), 'build');
        assert.strictEqual(refused, undefined, 'the server refuses to run');
      } finally {
        await settings.update('runs.enabled', undefined, vscode.ConfigurationTarget.Workspace);
      }
      await lensFor(uri, 'weft.runStage', 'build');
    });
  });
});
