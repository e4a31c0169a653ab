// The real bin, run as `npm init @uk/klib` runs it (stdin not a terminal), in temporary directories.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { coreRange, filesUnder, GENERATED_FILES, readJson, runBin, tempDir } from './helpers.js';

t.test('scaffolds a klib package named after the directory, without asking', async (t) => {
  const cwd = tempDir(t);
  const run = await runBin(['my-klib'], cwd);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stderr, '');
  const dir = join(cwd, 'my-klib');
  t.same(filesUnder(dir), GENERATED_FILES);
  t.match(run.stdout, 'Created uk-klib-my-klib (klib "my-klib") in my-klib');
  t.match(run.stdout, 'cd my-klib\n  npm install\n  npm test');

  const pkg = readJson(join(dir, 'package.json'));
  const range = coreRange();
  t.equal(range, '^0.1.0', 'the core version of today (update with core releases)');
  t.match(pkg, {
    name: 'uk-klib-my-klib',
    type: 'module',
    license: 'UNLICENSED',
    engines: { node: '>=20.19' },
    exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
    files: ['dist/**/*.js', 'dist/**/*.d.ts', 'README.md'],
    scripts: { build: 'tsc -p tsconfig.build.json', test: 'tap' },
    peerDependencies: { '@uk/core': range },
    devDependencies: { '@uk/core': range },
  });
  t.notOk('publishConfig' in pkg, 'an unscoped package is public anyway');
  const devDependencies = pkg.devDependencies as Record<string, string>;
  for (const tool of ['tap', 'typescript', '@types/node']) t.ok(devDependencies[tool], `${tool} is a dev dependency`);
  t.notOk('dependencies' in pkg, 'no runtime dependency besides the peer @uk/core');

  const source = readFileSync(join(dir, 'src', 'index.ts'), 'utf8');
  t.match(source, "const NAME = 'my-klib';");
  t.match(source, `core: '${range}'`);
  t.match(readFileSync(join(dir, 'test', 'klib.test.ts'), 'utf8'), "const NAME = 'my-klib';");
  t.match(readFileSync(join(dir, 'README.md'), 'utf8'), /^# uk-klib-my-klib\n/);
  for (const file of GENERATED_FILES) t.notMatch(readFileSync(join(dir, file), 'utf8'), /__[A-Z_]+__/, `${file}: every placeholder filled in`);
});

t.test('--name and a scoped --package', async (t) => {
  const cwd = tempDir(t);
  const run = await runBin(['--yes', 'klibs/audit-dir', '--name', 'audit', '--package=@acme/uk-audit'], cwd);
  t.equal(run.code, 0, run.stderr);
  const dir = join(cwd, 'klibs', 'audit-dir');
  const pkg = readJson(join(dir, 'package.json'));
  t.equal(pkg.name, '@acme/uk-audit');
  t.same(pkg.publishConfig, { access: 'public' }, 'a scoped package is published public');
  t.match(readFileSync(join(dir, 'src', 'index.ts'), 'utf8'), "const NAME = 'audit';");
  t.match(readFileSync(join(dir, 'README.md'), 'utf8'), '"Klibs": ["@acme/uk-audit"]');
});

t.test('an existing empty directory is fine', async (t) => {
  const cwd = tempDir(t);
  mkdirSync(join(cwd, 'empty'));
  const run = await runBin(['empty'], cwd);
  t.equal(run.code, 0, run.stderr);
  t.same(filesUnder(join(cwd, 'empty')), GENERATED_FILES);
});

t.test('a directory name that is not a klib name is refused, with the fix', async (t) => {
  const cwd = tempDir(t);
  const run = await runBin(['My Klib'], cwd);
  t.equal(run.code, 1);
  t.match(run.stderr, /create-klib: "My Klib" \(the name of the directory .*My Klib\) is not a valid klib name/);
  t.match(run.stderr, '^[a-z][a-z0-9_-]*$');
  t.match(run.stderr, 'Pass --name my-klib, or rename the directory.');
  t.notOk(existsSync(join(cwd, 'My Klib')), 'nothing created');
  t.equal(run.stdout, '');
});

t.test('a bad --name or --package is refused, naming the value', async (t) => {
  const cwd = tempDir(t);
  const name = await runBin(['ok-dir', '--name', '9lives'], cwd);
  t.equal(name.code, 1);
  t.match(name.stderr, '"9lives" (--name) is not a valid klib name');
  t.notMatch(name.stderr, 'rename the directory', 'the name did not come from the directory');
  const pkg = await runBin(['ok-dir', '--package', 'Uk-Klib'], cwd);
  t.equal(pkg.code, 1);
  t.match(pkg.stderr, '--package: "Uk-Klib" is not a valid npm package name');
  t.notOk(existsSync(join(cwd, 'ok-dir')), 'nothing created');
});

t.test('a non-empty directory is refused and left as it was', async (t) => {
  const cwd = tempDir(t);
  const dir = join(cwd, 'busy');
  mkdirSync(dir);
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  const run = await runBin(['busy'], cwd);
  t.equal(run.code, 1);
  t.match(run.stderr, /busy is not empty \(notes\.txt\): create-klib only writes into a new or empty directory/);
  t.same(filesUnder(dir), ['notes.txt']);
  t.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine');
});

t.test('a file where the directory should be is refused', async (t) => {
  const cwd = tempDir(t);
  writeFileSync(join(cwd, 'taken'), '');
  const run = await runBin(['taken'], cwd);
  t.equal(run.code, 1);
  t.match(run.stderr, 'taken exists and is not a directory');
});

t.test('usage: --help, a missing directory, an unknown option', async (t) => {
  const cwd = tempDir(t);
  const help = await runBin(['--help'], cwd);
  t.equal(help.code, 0);
  t.match(help.stdout, 'Usage: npm init @uk/klib <dir>');
  t.match(help.stdout, '--package <name>');
  const none = await runBin([], cwd);
  t.equal(none.code, 2);
  t.match(none.stderr, 'say where to create the klib: npm init @uk/klib my-klib');
  const unknown = await runBin(['x', '--force'], cwd);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, 'unknown option --force');
  const twoDirs = await runBin(['a', 'b'], cwd);
  t.equal(twoDirs.code, 2);
  t.match(twoDirs.stderr, 'one directory only, got "a" and "b"');
  const noValue = await runBin(['x', '--name'], cwd);
  t.equal(noValue.code, 2);
  t.match(noValue.stderr, '--name needs a value');
  t.same(filesUnder(cwd), [], 'nothing created');
});
