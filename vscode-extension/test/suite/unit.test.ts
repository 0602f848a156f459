// Plain functions: the event lines, durations and the weft-document test.
import * as assert from 'assert';
import { hasWeftKeys, isWeftDocument, isWeftFileName } from '../../src/documents';
import { eventLine, formatDuration, stepDescription } from '../../src/format';
import { resolveServerBinary, ServerNotFoundError } from '../../src/serverPath';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { RunEvent } from '../../src/protocol';

function event(kind: string, step: string | null, data: Record<string, unknown> = {}): RunEvent {
  return { run: 7, seq: 1, at: '2026-11-21T10:00:00.000Z', kind, step, data };
}

describe('format', () => {
  it('formats durations as the server does', () => {
    assert.strictEqual(formatDuration(12), '12 ms');
    assert.strictEqual(formatDuration(1234), '1.2 s');
    assert.strictEqual(formatDuration(125_000), '2m05s');
  });

  it('turns run events into readable lines', () => {
    assert.strictEqual(eventLine(event('step_started', 'build', { attempt: 1 })), '▶ build');
    assert.strictEqual(eventLine(event('step_succeeded', 'build', { attempt: 1, duration_ms: 12 })), '✓ build 12 ms');
    assert.strictEqual(
      eventLine(event('step_failed', 'test', { attempt: 1, exit_code: 3, duration_ms: 1, reason: 'exit code 3' })),
      '✗ test: exit 3 · 1 ms',
    );
    assert.strictEqual(eventLine(event('step_skipped', 'lint', { reason: 'not selected' })), undefined);
    assert.strictEqual(eventLine(event('step_skipped', 'lint', { reason: 'condition false' })), '⊘ lint: skipped (condition false)');
    assert.strictEqual(eventLine(event('run_finished', null, { status: 'failed' })), '✗ run 7 failed');
    assert.strictEqual(eventLine(event('run_started', null, { file: '/w/a.plan.yaml' })), '▶ run 7 of a.plan.yaml');
  });

  it('describes steps for the runs view', () => {
    const base = { id: 's', attempts: 1, exit_code: null, duration_ms: 12, reason: null };
    assert.strictEqual(stepDescription({ ...base, status: 'succeeded' }), '12 ms');
    assert.strictEqual(stepDescription({ ...base, status: 'failed', exit_code: 3, attempts: 2 }), 'exit 3 · 12 ms · 2 attempts');
    assert.strictEqual(stepDescription({ ...base, status: 'skipped', reason: 'not selected', attempts: 0 }), 'skipped: not selected');
  });
});

describe('documents', () => {
  const doc = (fileName: string, text: string, languageId = 'yaml') => ({
    uri: { scheme: 'file' },
    fileName,
    languageId,
    getText: () => text,
  });

  it('knows weft files by name', () => {
    for (const name of ['/a/x.workflow.yaml', '/a/x.workflow.yml', '/a/x.plan.json', '/a/x.plan.yml', '/a/weft.yaml', '/a/p.phases.yaml']) {
      assert.ok(isWeftFileName(name), name);
    }
    for (const name of ['/a/workflow.yaml', '/a/weft.yaml.bak', '/a/x.plan.txt', '/a/myweft.yaml']) {
      assert.ok(!isWeftFileName(name), name);
    }
  });

  it('knows other YAML files by their top-level keys only', () => {
    assert.ok(hasWeftKeys('# c\nworkflow_id: x\nstages: []\n'));
    assert.ok(hasWeftKeys('plan_id: x\n'));
    assert.ok(!hasWeftKeys('services:\n  workflow_id: nested\n'));
    assert.ok(isWeftDocument(doc('/a/ci.yaml', 'workflow_id: x\n')));
    assert.ok(!isWeftDocument(doc('/a/ci.yaml', 'name: x\n')));
    assert.ok(!isWeftDocument(doc('/a/x.json', 'workflow_id: x\n', 'json')));
    assert.ok(!isWeftDocument({ ...doc('/a/x.workflow.yaml', ''), uri: { scheme: 'git' } }));
  });
});

describe('finding the server', () => {
  let dir: string;
  const executable = (file: string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '#!/bin/sh\n');
    fs.chmodSync(file, 0o755);
    return file;
  };
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-path-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes weft.server.path first, then the bundled binary, then PATH', () => {
    const configured = executable(path.join(dir, 'custom', 'weft'));
    const bundled = executable(path.join(dir, 'extension', 'bin', 'weft'));
    const onPath = executable(path.join(dir, 'usr-bin', 'weft'));
    const extension = path.join(dir, 'extension');
    const envPath = path.join(dir, 'usr-bin');
    assert.deepStrictEqual(resolveServerBinary(configured, extension, dir, envPath), { command: configured, source: 'setting' });
    assert.deepStrictEqual(resolveServerBinary('custom/weft', extension, dir, envPath), { command: configured, source: 'setting' });
    assert.deepStrictEqual(resolveServerBinary('', extension, dir, envPath), { command: bundled, source: 'bundled' });
    assert.deepStrictEqual(resolveServerBinary('', path.join(dir, 'nowhere'), dir, envPath), { command: onPath, source: 'PATH' });
  });

  it('says how to fix it when there is none', () => {
    assert.throws(
      () => resolveServerBinary('', path.join(dir, 'nowhere'), dir, path.join(dir, 'empty')),
      (error: Error) => error instanceof ServerNotFoundError && /cargo install --path server/.test(error.message) && /weft\.server\.path/.test(error.message),
    );
    assert.throws(
      () => resolveServerBinary(path.join(dir, 'missing', 'weft'), path.join(dir, 'nowhere'), dir, ''),
      (error: Error) => error instanceof ServerNotFoundError && error.message.startsWith('weft.server.path is'),
    );
  });
});
