#!/usr/bin/env node
// Refuses to pack or publish a package whose built files are missing.
//
//   node ../../scripts/check-pack.mjs          (a package's `prepack` script: npm runs it, in the
//                                               package's directory, before `npm pack` and `npm publish`)
//   node scripts/check-pack.mjs packages/tls   (by hand, for one package directory)
//
// dist/ is git-ignored, so a clean clone has none: without this check, `npm publish` of an unbuilt
// package uploads a tarball holding only package.json and README.md, and says nothing. Every file
// the package.json points at (`main`, `types`, `bin`, every target in `exports`) must exist, a
// bin launcher's relative imports too (core's bin/uk.js only imports ../dist/cli.js), and so must
// LICENSE and README.md, which every tarball ships. On a miss it exits 1, naming the package, the
// missing files and the command that builds them. It also refuses a built .js file whose source in
// src/ is gone (a file renamed or deleted since the last build), which would otherwise ship.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const dir = resolve(process.argv[2] ?? '.');
const manifestPath = join(dir, 'package.json');
if (!existsSync(manifestPath)) {
  console.error(`check-pack: no package.json in ${dir}`);
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const name = manifest.name ?? relative(process.cwd(), dir);

/** Every string target of an `exports` value, conditions and subpaths included. */
function exportTargets(value) {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(exportTargets);
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return []; // null: a subpath deliberately blocked
}

const bins = typeof manifest.bin === 'string' ? [manifest.bin] : Object.values(manifest.bin ?? {});
/** [file relative to the package, where package.json names it] */
const required = [
  ...(manifest.main ? [[manifest.main, 'main']] : []),
  ...(manifest.types ? [[manifest.types, 'types']] : []),
  ...(manifest.typings ? [[manifest.typings, 'typings']] : []),
  ...bins.map((file) => [file, 'bin']),
  // A pattern (`./dist/*.js`) is not a file: its matches are covered by `files` and the build.
  ...exportTargets(manifest.exports)
    .filter((file) => !file.includes('*'))
    .map((file) => [file, 'exports']),
  ['LICENSE', 'every tarball ships it'],
  ['README.md', 'every tarball ships it'],
];

// A bin launcher that only imports the built CLI exists before the build: check what it imports.
const importPattern = /^\s*import\s+(?:[^'"]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;
for (const bin of bins) {
  const path = join(dir, bin);
  if (!existsSync(path)) continue;
  for (const [, specifier] of readFileSync(path, 'utf8').matchAll(importPattern)) {
    required.push([relative(dir, resolve(dirname(path), specifier)), `imported by ${bin}`]);
  }
}

const missing = new Map();
for (const [file, why] of required) {
  const normalized = relative(dir, resolve(dir, file));
  if (existsSync(join(dir, normalized))) continue;
  missing.set(normalized, [...(missing.get(normalized) ?? []), why]);
}

// A built file whose source is gone was left by an older build (tsc never deletes): the tarball
// would ship it. Only for packages built from src/ into dist/ with the same layout.
const stale = [];
if (existsSync(join(dir, 'src')) && existsSync(join(dir, 'dist'))) {
  for (const entry of readdirSync(join(dir, 'dist'), { recursive: true })) {
    const file = String(entry);
    if (!file.endsWith('.js')) continue;
    const base = join(dir, 'src', file.slice(0, -'.js'.length));
    if (!['.ts', '.mts', '.tsx', '.js'].some((ext) => existsSync(base + ext))) stale.push(join('dist', file));
  }
}

if (stale.length > 0) {
  console.error(
    `check-pack: refusing to pack ${name}: ${stale.length} built file${stale.length === 1 ? ' has' : 's have'} no source in src/ (left by an older build, the tarball would ship ${stale.length === 1 ? 'it' : 'them'}):\n` +
      stale
        .sort()
        .map((file) => `  ${file}`)
        .join('\n') +
      `\nDelete dist/ and build again: rm -rf ${relative(process.cwd(), join(dir, 'dist')) || 'dist'} && npx nx run ${name}:build`,
  );
  process.exit(1);
}

if (missing.size > 0) {
  const list = [...missing].map(([file, whys]) => `  ${file} (${[...new Set(whys)].join(', ')})`).join('\n');
  const built = [...missing.keys()].some((file) => file.startsWith('dist/'));
  console.error(
    `check-pack: refusing to pack ${name}: ${missing.size} file${missing.size === 1 ? '' : 's'} it names ${missing.size === 1 ? 'is' : 'are'} missing:\n${list}\n` +
      (built
        ? `Build it first: npx nx run ${name}:build (npx nx release publish builds every package first, unless --projects is given: nx then runs no task dependencies).`
        : 'Restore the file (LICENSE is a copy of the repository root LICENSE).'),
  );
  process.exit(1);
}
// On stderr: `npm pack --json` and `npm publish --json` (which nx release publish parses) print
// their JSON on stdout, and a prepack script's stdout lands in the middle of it.
console.error(`check-pack: ${name}: all ${new Set(required.map(([file]) => file)).size} files it names are present`);
