// scripts/check-pack.mjs, run by npm itself as a package's `prepack` script: a package whose built
// files are missing is refused, by name and file; once built, `npm pack` lists those files.
// The package is a scratch copy laid out like the repository (packages/NAME next to scripts/), so
// its `prepack` is exactly the one the real packages have.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

const run = promisify(execFile);
const repo = new URL('../..', import.meta.url).pathname;

/** `npm pack --dry-run --json` in dir: exit code, stderr and the parsed tarball listing. */
async function npmPack(dir) {
  try {
    const { stdout, stderr } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts=false'], { cwd: dir });
    return { code: 0, stderr, listing: JSON.parse(stdout)[0] };
  } catch (error) {
    return { code: error.code, stderr: String(error.stderr), listing: undefined };
  }
}

function scratchPackage(t) {
  const root = mkdtempSync(join(tmpdir(), 'uk-check-pack-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'scripts'));
  copyFileSync(join(repo, 'scripts/check-pack.mjs'), join(root, 'scripts/check-pack.mjs'));
  const dir = join(root, 'packages/demo');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const real = JSON.parse(readFileSync(join(repo, 'packages/core/package.json'), 'utf8'));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: '@uk/demo-fixture',
      version: '1.0.0',
      type: 'module',
      exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json' },
      types: './dist/index.d.ts',
      bin: { demo: './bin/demo.js' },
      files: real.files,
      scripts: { prepack: real.scripts.prepack },
    }),
  );
  writeFileSync(join(dir, 'bin/demo.js'), "#!/usr/bin/env node\nimport '../dist/cli.js';\n");
  writeFileSync(join(dir, 'README.md'), '# demo\n');
  copyFileSync(join(repo, 'LICENSE'), join(dir, 'LICENSE'));
  return dir;
}

function build(dir) {
  mkdirSync(join(dir, 'dist'), { recursive: true });
  for (const file of ['index.js', 'index.d.ts', 'cli.js']) writeFileSync(join(dir, 'dist', file), 'export {};\n');
}

t.test('an unbuilt package is refused, naming the package, each missing file and the build command', async (t) => {
  const dir = scratchPackage(t);
  const { code, stderr, listing } = await npmPack(dir);
  t.not(code, 0, 'npm pack fails');
  t.equal(listing, undefined, 'no tarball listing');
  t.match(stderr, 'check-pack: refusing to pack @uk/demo-fixture: 3 files it names are missing');
  t.match(stderr, 'dist/index.d.ts (types, exports)');
  t.match(stderr, 'dist/index.js (exports)');
  t.match(stderr, 'dist/cli.js (imported by ./bin/demo.js)');
  t.match(stderr, 'Build it first: npx nx run @uk/demo-fixture:build');
});

t.test('one missing built file is enough to refuse', async (t) => {
  const dir = scratchPackage(t);
  build(dir);
  rmSync(join(dir, 'dist/cli.js'));
  const { code, stderr } = await npmPack(dir);
  t.not(code, 0);
  t.match(stderr, 'refusing to pack @uk/demo-fixture: 1 file it names is missing:\n  dist/cli.js (imported by ./bin/demo.js)');
});

t.test('a package without its LICENSE is refused', async (t) => {
  const dir = scratchPackage(t);
  build(dir);
  rmSync(join(dir, 'LICENSE'));
  const { code, stderr } = await npmPack(dir);
  t.not(code, 0);
  t.match(stderr, 'LICENSE (every tarball ships it)');
  t.match(stderr, 'Restore the file');
});

t.test('once built, the package packs, and the tarball lists the built files and LICENSE', async (t) => {
  const dir = scratchPackage(t);
  build(dir);
  const { code, stderr, listing } = await npmPack(dir);
  t.equal(code, 0, `npm pack succeeds (${stderr})`);
  t.match(stderr, 'check-pack: @uk/demo-fixture: all 7 files it names are present');
  const paths = listing.files.map((f) => f.path).sort();
  t.same(paths, ['LICENSE', 'README.md', 'bin/demo.js', 'dist/cli.js', 'dist/index.d.ts', 'dist/index.js', 'package.json']);
});

t.test('a built file whose source is gone (left by an older build) is refused, naming it and the fix', async (t) => {
  const dir = scratchPackage(t);
  mkdirSync(join(dir, 'src'));
  for (const file of ['index.ts', 'cli.ts']) writeFileSync(join(dir, 'src', file), 'export {};\n');
  build(dir);
  const packed = await npmPack(dir);
  t.equal(packed.code, 0, `every built file has its source: packs (${packed.stderr})`);
  writeFileSync(join(dir, 'dist/shipper.js'), 'export {};\n');
  const { code, stderr, listing } = await npmPack(dir);
  t.not(code, 0, 'npm pack fails');
  t.equal(listing, undefined);
  t.match(stderr, 'check-pack: refusing to pack @uk/demo-fixture: 1 built file has no source in src/');
  t.match(stderr, '  dist/shipper.js');
  t.match(stderr, 'Delete dist/ and build again');
});
