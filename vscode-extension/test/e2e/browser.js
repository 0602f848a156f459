// Shared by the two drivers: Debian's Chromium through playwright-core, and the workbench URL that
// loads the extension under development (and its tests) into code-server's real VS Code.
'use strict';
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Chromium must not reach out to the network here (the machine has none but the registries).
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** The workbench URL for a folder, with the extension (and optionally tests) loaded from this machine. */
function workbenchUrl(base, folder, devPath, testsPath) {
  const remote = (p) => `vscode-remote://${new URL(base).host}${p}`;
  const payload = [['extensionDevelopmentPath', remote(devPath)]];
  if (testsPath) payload.push(['extensionTestsPath', remote(testsPath)]);
  return `${base}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

module.exports = { launch, workbenchUrl };
