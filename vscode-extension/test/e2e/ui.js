// A user's view of the extension: opens a workflow in code-server's workbench, clicks the
// "▶ Run stage" code lens above a stage, waits for the lens to show the result (✓ …) and for the run
// to appear in the weft Runs view; then runs a plan that waits for an approval and clicks its
// "✓ Approve" lens; then starts a session from a phase template's "▶ Start session" lens (typing
// the task id) and clicks "✓ Complete phase", which is refused; and saves screenshots.
//   node ui.js BASE_URL WORKSPACE EXTENSION_DIR OUTPUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { launch, workbenchUrl } = require('./browser');

// The editor area only: in newer VS Code the chat input is a monaco editor too.
const EDITOR = '.editor-group-container .monaco-editor';

(async () => {
  const [base, folder, devPath, outDir] = process.argv.slice(2);
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const shot = async (name) => {
    const file = path.join(outDir, name);
    await page.screenshot({ path: file });
    console.log(`screenshot: ${file}`);
  };
  try {
    await page.goto(workbenchUrl(base, folder, devPath));
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60000 });

    // Open the workflow as a user would: expand its folder in the Explorer and click the file.
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'vscode-demo' }).first().click();
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'demo.workflow.yaml' }).first().click({ timeout: 30000 });
    await page.locator('.tab', { hasText: 'demo.workflow.yaml' }).first().waitFor({ timeout: 30000 });

    // The lenses: "▶ Run workflow" on the header, "▶ Run stage" above each stage (build is the first).
    const runStage = page.locator(`${EDITOR} .codelens-decoration a`, { hasText: '▶ Run stage' }).first();
    await runStage.waitFor({ timeout: 60000 });
    const before = await page.locator(`${EDITOR} .codelens-decoration`).allInnerTexts();
    console.log('lenses before:', JSON.stringify(before.map((t) => t.replace(/\s+/g, ' ').trim())));
    await shot('before-run.png');

    await runStage.click();

    // After the run the stage's lens shows its result, e.g. "✓ 3 ms".
    const result = page.locator(`${EDITOR} .codelens-decoration a`, { hasText: /✓ \d/ }).first();
    await result.waitFor({ timeout: 60000 });
    const after = await page.locator(`${EDITOR} .codelens-decoration`).allInnerTexts();
    console.log('lenses after:', JSON.stringify(after.map((t) => t.replace(/\s+/g, ' ').trim())));

    // The run in the weft Runs view (Explorer; a view an extension adds there starts collapsed).
    const header = page.locator('.pane-header', { hasText: /weft Runs/i }).first();
    await header.waitFor({ timeout: 30000 });
    if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
    const runRow = page.locator('.monaco-list-row', { hasText: /demo\.workflow\.yaml #\d+/ }).first();
    await runRow.locator('.codicon-pass').waitFor({ timeout: 30000 });
    await page.locator('.monaco-list-row', { hasText: /^build/ }).locator('.codicon-pass').first().waitFor({ timeout: 30000 });
    console.log('runs view:', JSON.stringify((await runRow.innerText()).replace(/\s+/g, ' ').trim()));
    await page.waitForTimeout(500); // let the spinner and hover states settle for the picture
    await shot('run-stage.png');

    // The live run as the "weft run" output channel tells it.
    await page.keyboard.press('F1');
    await page.keyboard.type('weft: Show Run Output');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Show Run Output' }).first().waitFor({ timeout: 10000 });
    await page.keyboard.press('Enter');
    const output = page.locator('.part.panel .monaco-editor .view-lines');
    await output.filter({ hasText: /✓\sbuild/ }).first().waitFor({ timeout: 20000 });
    console.log('output:', JSON.stringify((await output.first().innerText()).split('\n').filter(Boolean)));
    await shot('run-output.png');

    // Human approval: a plan whose `gate` waits for it. Run the plan from its lens, click
    // "✓ Approve" when the gate waits, and see the run go on to `deploy`.
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'approval.plan.yaml' }).first().click({ timeout: 30000 });
    await page.locator('.tab', { hasText: 'approval.plan.yaml' }).first().waitFor({ timeout: 30000 });
    await page.locator(`${EDITOR} .codelens-decoration a`, { hasText: '▶ Run plan' }).first().click({ timeout: 60000 });
    const approveLens = page.locator(`${EDITOR} .codelens-decoration a`, { hasText: '✓ Approve' }).first();
    await approveLens.waitFor({ timeout: 60000 });
    const waiting = await page.locator(`${EDITOR} .codelens-decoration`).allInnerTexts();
    console.log('lenses while the gate waits:', JSON.stringify(waiting.map((t) => t.replace(/\s+/g, ' ').trim())));
    await shot('approval-waiting.png');
    await approveLens.click();
    // Approved, the gate succeeds and deploy runs: build and deploy show "✓ <duration>" (the gate,
    // which has no action of its own, a bare "✓"), and no Approve is left.
    await page.waitForFunction(
      (selector) => {
        const texts = [...document.querySelectorAll(selector)].map((e) => e.textContent || '');
        return texts.filter((t) => /✓ \d/.test(t)).length >= 2 && !texts.some((t) => t.includes('Approve'));
      },
      `${EDITOR} .codelens-decoration a`,
      { timeout: 60000 },
    );
    const approved = await page.locator(`${EDITOR} .codelens-decoration`).allInnerTexts();
    console.log('lenses after the approval:', JSON.stringify(approved.map((t) => t.replace(/\s+/g, ' ').trim())));
    await shot('approval-approved.png');

    // Sessions: open the phase template, click "▶ Start session", type the task id into the input
    // box, see "✓ Complete phase" on the first phase, click it and see the refusal: the
    // phase-check squiggle on the phase's id and the "Complete with override" lens.
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'feature.phases.yaml' }).first().click({ timeout: 30000 });
    await page.locator('.tab', { hasText: 'feature.phases.yaml' }).first().waitFor({ timeout: 30000 });
    await page.locator(`${EDITOR} .codelens-decoration a`, { hasText: '▶ Start session' }).first().click({ timeout: 60000 });
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ timeout: 20000 });
    await input.fill('T-3');
    await shot('session-task.png');
    await input.press('Enter');
    const completeLens = page.locator(`${EDITOR} .codelens-decoration a`, { hasText: '✓ Complete phase (T-3)' }).first();
    await completeLens.waitFor({ timeout: 60000 });
    const started = await page.locator(`${EDITOR} .codelens-decoration`).allInnerTexts();
    console.log('lenses of the session:', JSON.stringify(started.map((t) => t.replace(/\s+/g, ' ').trim())));
    await completeLens.click();
    await page.locator(`${EDITOR} .codelens-decoration a`, { hasText: 'Complete with override (T-3)' }).first().waitFor({ timeout: 60000 });
    await page.locator(`${EDITOR} .squiggly-warning`).first().waitFor({ timeout: 30000 });
    const refused = await page.locator(`${EDITOR} .codelens-decoration`).allInnerTexts();
    console.log('lenses after the refusal:', JSON.stringify(refused.map((t) => t.replace(/\s+/g, ' ').trim())));
    // The session in the weft Sessions view, with the failing check under the active phase.
    const sessionsHeader = page.locator('.pane-header', { hasText: /weft Sessions/i }).first();
    await sessionsHeader.waitFor({ timeout: 30000 });
    if ((await sessionsHeader.getAttribute('aria-expanded')) !== 'true') await sessionsHeader.click();
    await page.locator('.monaco-list-row', { hasText: /artifact notes\/T-3\/intake\.md/ }).first().waitFor({ timeout: 30000 });
    // Room for the Sessions view in the picture: the Runs view folds up.
    const runsHeader = page.locator('.pane-header', { hasText: /weft Runs/i }).first();
    if ((await runsHeader.getAttribute('aria-expanded')) === 'true') await runsHeader.click();
    const sessionRows = await page.locator('.pane-body .monaco-list-row', { hasText: /T-3|intake|research|close|artifact/ }).allInnerTexts();
    console.log('sessions view:', JSON.stringify(sessionRows.map((t) => t.replace(/\s+/g, ' ').trim())));
    await page.keyboard.press('Control+Shift+M'); // the Problems panel shows the refusal
    await page.locator('.markers-panel .monaco-list-row', { hasText: 'is missing (or empty)' }).first().waitFor({ timeout: 20000 });
    await page.waitForTimeout(500);
    await shot('session-refused.png');
    console.log('UI test: PASS');
  } catch (error) {
    await shot('failure.png').catch(() => undefined);
    throw error;
  } finally {
    await browser.close();
  }
})().then(() => process.exit(0)).catch((error) => {
  console.error(`UI test: FAIL: ${error && error.message ? error.message : error}`);
  process.exit(1);
});
