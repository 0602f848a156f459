// Workspace trust as a user meets it: in Restricted Mode a workflow has no run lenses; after the user
// trusts the folder (Workspaces: Manage Workspace Trust → Trust) the lenses appear without a reload,
// and a stage runs. Needs a code-server with workspace trust on.
//   node ui-trust.js BASE_URL WORKSPACE EXTENSION_DIR OUTPUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { launch, workbenchUrl } = require('./browser');

const EDITOR = '.editor-group-container .monaco-editor';

(async () => {
  const [base, folder, devPath, outDir] = process.argv.slice(2);
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const lensTexts = async () => (await page.locator(`${EDITOR} .codelens-decoration`).allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  try {
    await page.goto(workbenchUrl(base, folder, devPath));
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60000 });
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30000 });
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'vscode-demo' }).first().click();
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'demo.workflow.yaml' }).first().click({ timeout: 30000 });
    // The server is up when the inlay hints (each stage's wave) are there; still no run lenses.
    await page.locator(`${EDITOR} .view-lines`, { hasText: /wave\s1/ }).first().waitFor({ timeout: 60000 });
    const untrusted = await lensTexts();
    console.log('lenses in Restricted Mode:', JSON.stringify(untrusted));
    if (untrusted.some((t) => t.includes('Run'))) throw new Error('run lenses in Restricted Mode');

    await page.keyboard.press('F1');
    await page.keyboard.type('Manage Workspace Trust');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Manage Workspace Trust' }).first().waitFor({ timeout: 10000 });
    await page.keyboard.press('Enter');
    await page.locator('.workspace-trust-editor .monaco-button', { hasText: /^Trust$/ }).first().click({ timeout: 20000 });
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ state: 'detached', timeout: 20000 });
    await page.locator('.tab', { hasText: 'demo.workflow.yaml' }).first().click();

    const runStage = page.locator(`${EDITOR} .codelens-decoration a`, { hasText: '▶ Run stage' }).first();
    await runStage.waitFor({ timeout: 30000 });
    console.log('lenses once trusted:', JSON.stringify(await lensTexts()));
    await runStage.click();
    await page.locator(`${EDITOR} .codelens-decoration a`, { hasText: /✓ \d/ }).first().waitFor({ timeout: 60000 });
    console.log('lenses after the run:', JSON.stringify(await lensTexts()));
    await page.screenshot({ path: path.join(outDir, 'trusted-run.png') });
    console.log('UI trust test: PASS');
  } catch (error) {
    await page.screenshot({ path: path.join(outDir, 'trust-failure.png') }).catch(() => undefined);
    throw error;
  } finally {
    await browser.close();
  }
})().then(() => process.exit(0)).catch((error) => {
  console.error(`UI trust test: FAIL: ${error && error.message ? error.message : error}`);
  process.exit(1);
});
