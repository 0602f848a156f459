// Runs the extension's mocha tests inside code-server's extension host and exits with their verdict.
//   node exttest.js BASE_URL WORKSPACE EXTENSION_DIR TESTS_MODULE
// The workbench loads the tests through the URL payload (extensionTestsPath) and reports the result
// through window.codeAutomationExit. Lines the tests print with a "[mocha] " prefix are shown here.
'use strict';
const util = require('util');
const { launch, workbenchUrl } = require('./browser');

const TIMEOUT_MS = Number(process.env.WEFT_EXTTEST_TIMEOUT_MS || 300000);

(async () => {
  const [base, folder, devPath, testsPath] = process.argv.slice(2);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const done = new Promise((resolve) => page.exposeFunction('codeAutomationExit', (code) => resolve(code)));
    page.on('console', async (message) => {
      const args = await Promise.all(message.args().map((a) => a.jsonValue().catch(() => '?')));
      // The extension host's console arrives as "%c[Extension Host] %c…" with two style arguments.
      const text = typeof args[0] === 'string' && args[0].startsWith('%c') ? util.format(...args.slice(2)) : util.format(...args);
      const at = text.indexOf('[mocha] ');
      if (at >= 0) {
        console.log(text.slice(at + '[mocha] '.length).replace(/\s+$/, ''));
      } else if (process.env.WEFT_TEST_VERBOSE && !/ENOTFOUND|open-vsx/.test(text)) {
        console.log(`[browser] ${text}`);
      }
    });
    page.on('pageerror', (error) => process.env.WEFT_TEST_VERBOSE && console.log(`[page error] ${error.message}`));
    await page.goto(workbenchUrl(base, folder, devPath, testsPath));
    let timer;
    const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(`timeout after ${TIMEOUT_MS} ms`), TIMEOUT_MS)));
    const code = await Promise.race([done, timeout]);
    clearTimeout(timer);
    console.log(`extension tests exit code: ${code}`);
    process.exitCode = code === 0 ? 0 : 1;
  } finally {
    await browser.close();
  }
})().then(() => process.exit()).catch((error) => {
  console.error(error);
  process.exit(2);
});
