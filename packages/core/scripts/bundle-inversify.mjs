#!/usr/bin/env node
// Replaces dist/inversify.js (tsc's `export { Container } from 'inversify'`) with the same exports
// bundled from the installed inversify into one file, so that `uk` loads one module instead of
// about 250 (see src/inversify.ts). Run by `npm run build` after tsc.
import { build } from 'esbuild';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/inversify.js', import.meta.url));
const compiled = readFileSync(dist, 'utf8');
if (!/from ['"]inversify['"]/.test(compiled)) {
  console.error(`bundle-inversify: ${dist} does not re-export inversify (already bundled? run tsc first)`);
  process.exit(1);
}
// The version bundled, for the banner: from the package.json above inversify's entry point (its
// exports do not include package.json).
let dir = dirname(fileURLToPath(import.meta.resolve('inversify')));
while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
const { version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
await build({
  entryPoints: [dist],
  outfile: dist,
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  legalComments: 'inline',
  banner: { js: `// inversify ${version} (${license} licence, https://github.com/inversify/monorepo) and its dependencies, bundled by scripts/bundle-inversify.mjs.` },
  logLevel: 'warning',
});
