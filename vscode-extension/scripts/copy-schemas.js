// Copies the JSON Schemas of the repository (../schemas) into the extension, so the .vsix carries them
// for `yamlValidation` / `jsonValidation`. Runs before every build (npm's prebuild).
'use strict';
const fs = require('fs');
const path = require('path');

const source = path.resolve(__dirname, '..', '..', 'schemas');
const target = path.resolve(__dirname, '..', 'schemas');
const wanted = ['workflow.schema.json', 'plan.schema.json', 'weft.schema.json', 'phases.schema.json'];

fs.mkdirSync(target, { recursive: true });
for (const name of wanted) {
  const from = path.join(source, name);
  if (!fs.existsSync(from)) {
    console.error(`copy-schemas: ${from} is missing; the extension needs it for yamlValidation/jsonValidation`);
    process.exit(1);
  }
  JSON.parse(fs.readFileSync(from, 'utf8')); // A broken schema fails the build, not the user's editor.
  fs.copyFileSync(from, path.join(target, name));
}
console.log(`copy-schemas: ${wanted.length} schemas -> ${path.relative(process.cwd(), target) || '.'}`);
