// Bundles a weft binary into the extension (bin/weft) when WEFT_BUNDLE_SERVER names one, so the .vsix
// works without weft on PATH. Without it the .vsix carries no binary and uses weft.server.path or PATH.
'use strict';
const fs = require('fs');
const path = require('path');

const source = process.env.WEFT_BUNDLE_SERVER;
if (!source) {
  process.exit(0);
}
const target = path.resolve(__dirname, '..', 'bin', process.platform === 'win32' ? 'weft.exe' : 'weft');
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.copyFileSync(source, target);
fs.chmodSync(target, 0o755);
console.log(`bundle-server: ${source} -> ${path.relative(process.cwd(), target)}`);
