/**
 * Installing klibs one by one, as users do: the real `uk` (validate and run) against klibs laid
 * out in node_modules directories the way npm installs them, locally and globally, with the cwd
 * elsewhere. What is proved: a listed but uninstalled klib is named as such with the npm command
 * that installs it (with -g for a global uk); a typo gets the nearest known name and no install
 * command; a built-in name never runs code planted in the cwd; an ESM-only klib package
 * (`exports` with only an `import` condition) is found from the config file's directory.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { cleanEnv, node, runUk, ukBin, type UkRun } from './uk-process.js';
import { spawn } from 'node:child_process';

const corePackage = fileURLToPath(new URL('../', import.meta.url));
const repoModules = join(corePackage, '..', '..', 'node_modules');
const coreIndexUrl = pathToFileURL(join(corePackage, 'dist', 'index.js')).href;
const env = cleanEnv({ npm_config_global: '' });

/**
 * A copy of the built @uk/core (with the one package it loads at run time) in `modules`, as npm
 * would install it there, plus the klib packages named (linked to this repository's packages).
 * Returns the path of that copy's `uk` command.
 */
function installUk(modules: string, klibs: readonly string[] = []): string {
  const core = join(modules, '@uk', 'core');
  mkdirSync(core, { recursive: true });
  for (const part of ['package.json', 'bin', 'dist']) cpSync(join(corePackage, part), join(core, part), { recursive: true });
  cpSync(realpathSync(join(repoModules, 'import-meta-resolve')), join(modules, 'import-meta-resolve'), { recursive: true });
  for (const klib of klibs) symlinkSync(realpathSync(join(repoModules, '@uk', klib)), join(modules, '@uk', klib), 'dir');
  return join(core, 'bin', 'uk.js');
}

/** Runs a `uk` command file (not necessarily this repository's) in `cwd`. */
function runUkAt(bin: string, args: readonly string[], cwd: string): Promise<UkRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [bin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bin} ${args.join(' ')} did not exit within 30 s`));
    }, 30_000);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      resolve({ code, signal, stdout, stderr, out: stdout.toString(), err: stderr.toString() });
    });
  });
}

/**
 * A fresh directory outside this repository: node_modules directories above it would be looked in
 * (the repository's own holds every @uk package), which a user's machine does not have.
 */
function outsideDir(t: Test): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'uk-install-')));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeJson(file: string, value: unknown): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(value));
  return file;
}

const cloudwatchAndTls = { Klibs: ['cloudwatch', 'tls'], ManifestPassthrough: { cloudwatch: { logging: { log_group: 'app' } } } };

t.test('a listed built-in that is not installed: named as such, with the npm command (local install)', async (t) => {
  const root = outsideDir(t);
  const project = join(root, 'project');
  const uk = installUk(join(project, 'node_modules'), ['cloudwatch']);
  const config = writeJson(join(project, 'config.json'), cloudwatchAndTls);
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(elsewhere);
  const own = join(project, 'node_modules', '@uk', 'core');

  const validate = await runUkAt(uk, ['validate', '-c', config], elsewhere);
  t.equal(validate.code, 1, validate.err);
  const notInstalled = `klib "tls": the built-in klib's package @uk/tls is not installed (looked beside uk's @uk/core in ${own}, and from ${project})`;
  t.match(validate.out, `error UK_ERR_KLIB_NOT_FOUND: ${notInstalled} (install it: npm install @uk/tls)\n`);
  t.match(
    validate.out,
    `error UK_ERR_KLIB_MISSING_DEP: missing dependencies for cloudwatch klib: tls (listed in Klibs, but the built-in klib's package @uk/tls is not installed`,
  );
  t.notMatch(validate.out, /add "tls" to Klibs/, 'tls is listed: uk does not ask to list it');

  // uk run says the same, with the codes, and still runs the program.
  const run = await runUkAt(uk, ['run', '-c', config, '--', node, '-e', 'console.log("program ran")'], elsewhere);
  t.equal(run.code, 0, run.err);
  t.match(run.out, 'program ran');
  t.match(run.err, `uk: UK_ERR_KLIB_NOT_FOUND: ${notInstalled} (install it: npm install @uk/tls)\n`);
  t.match(
    run.err,
    /^uk: UK_ERR_KLIB_MISSING_DEP: missing dependencies for cloudwatch klib: tls \(listed in Klibs, but .* \(install it: npm install @uk\/tls\)$/m,
  );
});

t.test('with a global uk, the hint installs globally', async (t) => {
  const root = outsideDir(t);
  const uk = installUk(join(root, 'prefix', 'lib', 'node_modules'), ['cloudwatch']);
  const config = writeJson(join(root, 'app', 'config.json'), cloudwatchAndTls);
  const validate = await runUkAt(uk, ['validate', '-c', config], root);
  t.equal(validate.code, 1);
  t.match(
    validate.out,
    /error UK_ERR_KLIB_NOT_FOUND: klib "tls": the built-in klib's package @uk\/tls is not installed .* \(install it: npm install -g @uk\/tls\)\n/,
  );
  t.match(validate.out, /missing dependencies for cloudwatch klib: tls \(listed in Klibs, but .* \(install it: npm install -g @uk\/tls\)\n/);
});

t.test('a typo gets the nearest known name, never an install command', async (t) => {
  const dir = outsideDir(t);
  const config = writeJson(join(dir, 'config.json'), { Klibs: ['syslgo', 'clodwatch', '@uk/gpc', 'uk-klib-no-such-thing'] });
  const validate = await runUk(['validate', '-c', config], { cwd: dir, env });
  t.equal(validate.code, 1);
  const builtins = 'it is not a built-in klib (tls, syslog, cloudwatch, gcp)';
  t.match(
    validate.out,
    `error UK_ERR_KLIB_NOT_FOUND: klib "syslgo": no package "syslgo" is installed (looked from ${dir}), and ${builtins} (did you mean "syslog"?)\n`,
  );
  t.match(validate.out, `klib "clodwatch": no package "clodwatch" is installed (looked from ${dir}), and ${builtins} (did you mean "cloudwatch"?)\n`);
  // A scoped name that is not a built-in's package.
  t.match(validate.out, `klib "@uk/gpc": no package "@uk/gpc" is installed (looked from ${dir}), and ${builtins} (did you mean "@uk/gcp"?)\n`);
  t.match(
    validate.out,
    `klib "uk-klib-no-such-thing": no package "uk-klib-no-such-thing" is installed (looked from ${dir}), and ${builtins} (check the spelling: an entry is a built-in klib name, a path to a module, or the name of a klib package installed next to the config file)\n`,
  );
  t.notMatch(validate.out, /npm install/, 'no invitation to install a name nobody checked');
});

t.test('a typo of an installed klib package suggests that package', async (t) => {
  const dir = outsideDir(t);
  writeJson(join(dir, 'node_modules', 'uk-klib-audit', 'package.json'), {
    name: 'uk-klib-audit',
    version: '1.0.0',
    peerDependencies: { '@uk/core': '^0.1.0' },
  });
  // Nearer by name, but not a klib (it does not need @uk/core): never offered.
  writeJson(join(dir, 'node_modules', 'uk-klib-audi', 'package.json'), { name: 'uk-klib-audi', version: '1.0.0' });
  const config = writeJson(join(dir, 'config.json'), { Klibs: ['uk-klib-adit'] });
  const validate = await runUk(['validate', '-c', config], { cwd: dir, env });
  t.match(validate.out, '(did you mean "uk-klib-audit"?)\n');
});

/** A directory someone else controls: a node_modules/@uk/syslog whose import leaves a marker. */
function plantSyslog(dir: string): string {
  const marker = join(dir, 'planted-code-ran');
  const planted = join(dir, 'node_modules', '@uk', 'syslog');
  writeJson(join(planted, 'package.json'), { name: '@uk/syslog', version: '6.6.6', type: 'module', exports: './index.js' });
  writeFileSync(
    join(planted, 'index.js'),
    `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\n` +
      `import { defineKlib } from ${JSON.stringify(coreIndexUrl)};\nexport default defineKlib({ name: 'syslog', version: '6.6.6', init() {} });\n`,
  );
  return marker;
}

t.test('security: a built-in name never loads a package planted in the current directory', async (t) => {
  const root = outsideDir(t);
  const cwd = join(root, 'hostile');
  const marker = plantSyslog(cwd);
  const ownSyslog = realpathSync(join(repoModules, '@uk', 'syslog'));

  // The config in that directory, and a config elsewhere: uk's own @uk/syslog both times.
  // uk's syslog needs its tuple (the planted one would not): a file to write to.
  const syslog = { syslog: { file: join(root, 'syslog.log') } };
  const inside = writeJson(join(cwd, 'config.json'), { Klibs: ['syslog'], ManifestPassthrough: syslog });
  const outside = writeJson(join(root, 'mine', 'config.json'), { Klibs: ['@uk/syslog'], ManifestPassthrough: syslog });
  for (const config of [inside, outside]) {
    const validate = await runUk(['validate', '-c', config], { cwd, env });
    t.equal(validate.code, 0, validate.out);
    t.notOk(existsSync(marker), `the planted module was not imported (${config})`);
    const klibs = await runUk(['klibs', '-v', '-c', config], { cwd, env });
    t.match(klibs.out, new RegExp(`^syslog .*${ownSyslog.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`, 'm'), 'uk lists its own syslog');
    t.notOk(existsSync(marker));
  }
  const run = await runUk(['run', '-c', inside, '--', node, '-e', 'console.log("ok")'], { cwd, env });
  t.equal(run.code, 0, run.err);
  t.notOk(existsSync(marker), 'uk run did not import it either');
});

t.test('an ESM-only klib package (exports with only "import") is found from the config directory, the cwd elsewhere', async (t) => {
  const root = outsideDir(t);
  const app = join(root, 'app');
  const pkg = join(app, 'node_modules', 'uk-klib-esm-only');
  writeJson(join(pkg, 'package.json'), { name: 'uk-klib-esm-only', version: '2.3.4', type: 'module', exports: { '.': { import: './index.mjs' } } });
  const marker = join(root, 'esm-only-init');
  writeFileSync(
    join(pkg, 'index.mjs'),
    `import { writeFileSync } from 'node:fs';\nimport { defineKlib } from ${JSON.stringify(coreIndexUrl)};\n` +
      `export default defineKlib({ name: 'esm-only', init() { writeFileSync(${JSON.stringify(marker)}, 'init'); } });\n`,
  );
  const config = writeJson(join(app, 'config.json'), { Klibs: ['uk-klib-esm-only'], ManifestPassthrough: { 'esm-only': {} } });
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(elsewhere);

  // This repository's uk, and a copy installed globally (under a prefix, as npm install -g does).
  const globalUk = installUk(join(root, 'prefix', 'lib', 'node_modules'));
  for (const uk of [ukBin, globalUk]) {
    const validate = await runUkAt(uk, ['validate', '-c', config], elsewhere);
    t.equal(validate.code, 0, validate.out);
    t.match(validate.out, `${config}: OK; klibs load in this order: esm-only\n`);
    rmSync(marker, { force: true });
    const run = await runUkAt(uk, ['run', '-c', config, '--', node, '-e', 'console.log("ran")'], elsewhere);
    t.equal(run.code, 0, run.err);
    t.equal(run.err, '');
    t.equal(run.out, 'ran\n');
    t.ok(existsSync(marker), `the klib was initialised (${uk})`);
  }
});
