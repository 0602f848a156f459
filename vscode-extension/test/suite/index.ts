// Entry point of the extension tests, loaded by VS Code's extension host (extensionTestsPath). The
// same contract as @vscode/test-electron: run() resolves when every test passed.
import * as fs from 'fs';
import * as path from 'path';
import * as util from 'util';
// mocha is pinned to 11 (CommonJS); mocha 12 is ESM only.
import Mocha = require('mocha');

export function run(): Promise<void> {
  const outputDir = process.env.WEFT_TEST_OUTPUT;
  const log: string[] = [];
  // Every line of the reporter goes to the console with a prefix the harness picks out of the
  // workbench's console, and to test-output/mocha.log.
  (Mocha.reporters.Base as unknown as { consoleLog: (...args: unknown[]) => void }).consoleLog = (...args) => {
    const text = util.format(...args);
    log.push(text);
    for (const line of text.split('\n')) {
      console.log(`[mocha] ${line}`);
    }
  };
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: false, reporter: 'spec' });
  const grep = process.env.WEFT_TEST_GREP;
  if (grep) {
    mocha.grep(grep);
  }
  // WEFT_TEST_SUITE=untrusted runs only the restricted-mode tests (they need a workspace that is not
  // trusted); otherwise every other test file runs.
  const untrusted = process.env.WEFT_TEST_SUITE === 'untrusted';
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js') && (f === 'untrusted.test.js') === untrusted)
    .sort();
  for (const file of files) {
    mocha.addFile(path.join(__dirname, file));
  }
  const suite = untrusted ? 'untrusted' : 'trusted';
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      if (outputDir) {
        fs.mkdirSync(outputDir, { recursive: true });
        fs.writeFileSync(path.join(outputDir, `mocha-${suite}.log`), log.join('\n') + '\n');
        const stats = runner.stats ?? { passes: 0, failures, pending: 0 };
        const results = { passed: stats.passes, failed: stats.failures, skipped: stats.pending };
        fs.writeFileSync(path.join(outputDir, `results-${suite}.json`), JSON.stringify(results) + '\n');
      }
      failures > 0 ? reject(new Error(`${failures} tests failed`)) : resolve();
    });
  });
}
