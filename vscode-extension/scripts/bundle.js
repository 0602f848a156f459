// Bundles the extension into dist/extension.js (vscode-languageclient included), so the .vsix needs no
// node_modules. `--watch` rebuilds on change.
'use strict';
const esbuild = require('esbuild');
const path = require('path');

const options = {
  entryPoints: [path.join(__dirname, '..', 'src', 'extension.ts')],
  outfile: path.join(__dirname, '..', 'dist', 'extension.js'),
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  external: ['vscode'],
  sourcemap: !process.argv.includes('--production'),
  minify: process.argv.includes('--production'),
  logLevel: 'info',
};

(async () => {
  if (process.argv.includes('--watch')) {
    const context = await esbuild.context(options);
    await context.watch();
  } else {
    await esbuild.build(options);
  }
})().catch(() => process.exit(1));
