// END-TO-END through a real npm registry (Verdaccio on loopback), as a maintainer and new users
// would go: every package published from a clean checkout with the command RELEASING.md gives,
// `@uk/core` with one klib at a time installed into a fresh directory and run, and a third-party
// klib scaffolded with `npm init @uk/klib`, tested, published, installed by its name and run.
//
// The checkout is a `git clone` of this repository: it tests the last commit, not uncommitted
// changes. Packages other than uk's own come through Verdaccio's proxy of npm's registry (see
// verdaccio.ts); uk's own come only from what this test published.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { startAwsEmulators, startGcpEmulators } from '@uk/testkit';
import { cleanEnv, run, tail, tempDir, type Ran } from './commands.js';
import { startRegistry, type Registry } from './verdaccio.js';

const repoDir = fileURLToPath(new URL('../../..', import.meta.url));
const root = tempDir(t, 'uk-registry-e2e-');
mkdirSync(join(root, 'verdaccio'));
const registry: Registry = await startRegistry(join(root, 'verdaccio'));
t.teardown(async () => {
  await registry.close();
});
/** npm, nx and uk as a user whose npm talks to this registry only. */
const userEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => cleanEnv({ NPM_CONFIG_USERCONFIG: registry.npmrc, ...extra });

interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
}
const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** Every file an `exports` map can point at. */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

/** A fresh directory holding only a package.json, as `npm init -y` leaves it. */
function freshProject(t: Test, name: string): string {
  const dir = join(tempDir(t, `uk-registry-${name}-`), name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return dir;
}

const npm = (args: string[], cwd: string, timeoutMs = 300_000): Promise<Ran> => run('npm', args, { cwd, env: userEnv(), timeoutMs });

/** `uk run` through the `uk` command npm installed in `dir`. */
function ukRun(dir: string, config: object, program: string[], env: Record<string, string> = {}): Promise<Ran> {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return run(join(dir, 'node_modules', '.bin', 'uk'), ['run', '-c', 'config.json', '--', ...program], { cwd: dir, env: userEnv(env), timeoutMs: 120_000 });
}

/** A program writing `count` numbered lines on stdout and one on stderr. */
function program(dir: string, tag: string, count: number): string[] {
  const file = join(dir, 'app.mjs');
  writeFileSync(file, `for (let i = 0; i < ${count}; i++) console.log('${tag} ' + i);\nconsole.error('${tag} on stderr');\n`);
  return [process.execPath, file];
}
/**
 * The program's lines, uk's own (`uk: …`) left out: stdout's in order, stderr's once. The two
 * pipes are read apart, so where the stderr line falls among the others is not fixed.
 */
function sameOutput(t: Test, lines: readonly unknown[], tag: string, count: number, message: string): void {
  const mine = lines.filter((l): l is string => typeof l === 'string' && !l.startsWith('uk: '));
  t.same(
    mine.filter((l) => l !== `${tag} on stderr`),
    Array.from({ length: count }, (_, i) => `${tag} ${i}`),
    `${message}: stdout's lines, in order`,
  );
  t.equal(mine.filter((l) => l === `${tag} on stderr`).length, 1, `${message}: stderr's line, once`);
}
const fileLines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').slice(0, -1);

const published = new Map<string, PackageJson>();

t.test('every package is published from a clean checkout with the documented release command', async (t) => {
  const checkout = join(root, 'checkout');
  const clone = await run('git', ['clone', '--quiet', repoDir, checkout], { cwd: root, env: cleanEnv() });
  t.equal(clone.code, 0, 'git clone', { output: tail(clone) });
  t.notOk(existsSync(join(checkout, 'packages', 'core', 'dist')), 'a clean checkout: nothing built');
  // As RELEASING.md says: npm ci, then `npx nx release publish --first-release --registry <url>`.
  // npm ci uses npm's usual registry (the lock file's), not the test registry.
  const ci = await run('npm', ['ci', '--prefer-offline'], { cwd: checkout, env: cleanEnv(), timeoutMs: 600_000 });
  t.equal(ci.code, 0, 'npm ci', { output: tail(ci) });
  const publish = await run('npx', ['nx', 'release', 'publish', '--first-release', '--registry', registry.url], {
    cwd: checkout,
    env: userEnv({ NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', NX_SKIP_NX_CACHE: 'true' }),
    timeoutMs: 600_000,
  });
  t.equal(publish.code, 0, 'nx release publish', { output: tail(publish, 80) });

  const packages = readdirSync(join(checkout, 'packages'))
    .map((name) => readJson<PackageJson>(join(checkout, 'packages', name, 'package.json')))
    .filter((p) => !p.private);
  t.ok(packages.length >= 7, `${packages.length} public packages: ${packages.map((p) => p.name).join(', ')}`);
  for (const pkg of packages) {
    // What the registry holds, fetched and unpacked as npm install would.
    const view = await npm(['view', `${pkg.name}@${pkg.version}`, 'dist.tarball'], root);
    t.equal(view.code, 0, `${pkg.name}@${pkg.version} is on the registry`, { output: tail(view) });
    const into = join(root, 'tarballs', pkg.name.replace('/', '+'));
    mkdirSync(into, { recursive: true });
    const pack = await npm(['pack', `${pkg.name}@${pkg.version}`, '--pack-destination', into], root);
    t.equal(pack.code, 0, `npm pack ${pkg.name} from the registry`, { output: tail(pack) });
    const tarball = join(into, readdirSync(into)[0] ?? 'none');
    const list = await run('tar', ['-tzf', tarball], { cwd: root, env: cleanEnv() });
    const files = new Set(list.stdout.split('\n').filter(Boolean));
    const needed = ['package/package.json', 'package/README.md', 'package/LICENSE', 'package/CHANGELOG.md'];
    for (const target of exportTargets(pkg.exports)) needed.push(join('package', target));
    for (const target of Object.values(pkg.bin ?? {})) needed.push(join('package', target));
    t.same(
      needed.filter((file) => !files.has(file)),
      [],
      `${pkg.name}: the tarball holds its README, LICENSE, changelog and every file its exports and bin name (${files.size} files)`,
    );
    published.set(pkg.name, pkg);
  }
});

t.test('syslog alone: @uk/core and @uk/syslog from the registry, run from a config', async (t) => {
  const dir = freshProject(t, 'syslog-app');
  const install = await npm(['install', '@uk/core', '@uk/syslog'], dir);
  t.equal(install.code, 0, 'npm install @uk/core @uk/syslog', { output: tail(install) });
  t.equal(readJson<PackageJson>(join(dir, 'node_modules/@uk/syslog/package.json')).version, published.get('@uk/syslog')?.version, 'the version just published');
  t.same(readdirSync(join(dir, 'node_modules/@uk')).sort(), ['core', 'syslog'], 'no other klib came with it');
  const ran = await ukRun(
    dir,
    { Klibs: ['syslog'], ManifestPassthrough: { consoles: ['-serial'], syslog: { file: 'logs/app.log' } } },
    program(dir, 'syslog', 50),
  );
  t.equal(ran.code, 0, 'uk run', { output: tail(ran) });
  sameOutput(t, fileLines(join(dir, 'logs/app.log')), 'syslog', 50, 'the file');
});

t.test('cloudwatch alone brings @uk/tls with it, and ships to CloudWatch', async (t) => {
  const dir = freshProject(t, 'cloudwatch-app');
  const install = await npm(['install', '@uk/core', '@uk/cloudwatch'], dir);
  t.equal(install.code, 0, 'npm install @uk/core @uk/cloudwatch', { output: tail(install) });
  t.same(readdirSync(join(dir, 'node_modules/@uk')).sort(), ['cloudwatch', 'core', 'tls'], '@uk/tls installed as a dependency of @uk/cloudwatch');
  const aws = await startAwsEmulators();
  t.teardown(() => aws.close());
  const env = { ...aws.env, HOME: dir, AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
  const config = {
    Klibs: ['tls', 'cloudwatch'],
    ManifestPassthrough: { consoles: ['-serial'], cloudwatch: { logging: { log_group: 'registry', log_stream: 's' } } },
  };
  const ran = await ukRun(dir, config, program(dir, 'cloudwatch', 50), env);
  t.equal(ran.code, 0, 'uk run', { output: tail(ran) });
  sameOutput(t, aws.cloudwatch.messages('registry', 's'), 'cloudwatch', 50, 'the CloudWatch emulator');
  t.same(aws.cloudwatch.errors, [], 'the emulator refused no request');
});

t.test('gcp alone brings @uk/tls with it, and ships to Cloud Logging', async (t) => {
  const dir = freshProject(t, 'gcp-app');
  const install = await npm(['install', '@uk/core', '@uk/gcp'], dir);
  t.equal(install.code, 0, 'npm install @uk/core @uk/gcp', { output: tail(install) });
  t.same(readdirSync(join(dir, 'node_modules/@uk')).sort(), ['core', 'gcp', 'tls'], '@uk/tls installed as a dependency of @uk/gcp');
  const gcp = await startGcpEmulators();
  t.teardown(() => gcp.close());
  const config = { Klibs: ['tls', 'gcp'], ManifestPassthrough: { consoles: ['-serial'], gcp: { logging: { log_id: 'registry' } } } };
  const ran = await ukRun(dir, config, program(dir, 'gcp', 50), gcp.env);
  t.equal(ran.code, 0, 'uk run', { output: tail(ran) });
  sameOutput(t, gcp.logging.lines(), 'gcp', 50, 'the Cloud Logging emulator');
});

t.test('a third-party klib: npm init @uk/klib, its tests, publish, install by name, run', async (t) => {
  const work = tempDir(t, 'uk-registry-author-');
  // `--yes` before the initializer: npm's own confirmation of installing @uk/create-klib
  // (asked on a terminal; without a terminal and without --yes npm refuses).
  const init = await npm(['init', '--yes', '@uk/klib', 'reg-klib'], work);
  t.equal(init.code, 0, 'npm init --yes @uk/klib reg-klib', { output: tail(init) });
  const klibDir = join(work, 'reg-klib');
  const generated = readJson<PackageJson & { peerDependencies?: Record<string, string> }>(join(klibDir, 'package.json'));
  t.equal(generated.name, 'uk-klib-reg-klib');
  t.equal(generated.peerDependencies?.['@uk/core'], `^${published.get('@uk/core')?.version}`, 'a peer of the @uk/core just published');

  const install = await npm(['install'], klibDir, 600_000);
  t.equal(install.code, 0, 'npm install in the generated klib', { output: tail(install) });
  const test = await npm(['test'], klibDir, 600_000);
  t.equal(test.code, 0, 'npm test in the generated klib', { output: tail(test) });
  const summary = /# \{ total: (\d+), pass: (\d+) \}/.exec(test.stdout);
  t.ok(summary && Number(summary[1]) > 0 && summary[1] === summary[2], `its own tests: ${summary?.[0] ?? 'no tap summary'}`);
  const publish = await npm(['publish'], klibDir);
  t.equal(publish.code, 0, 'npm publish', { output: tail(publish) });

  const app = freshProject(t, 'third-party-app');
  const add = await npm(['install', '@uk/core', 'uk-klib-reg-klib'], app);
  t.equal(add.code, 0, 'npm install @uk/core uk-klib-reg-klib', { output: tail(add) });
  const ran = await ukRun(
    app,
    { Klibs: ['uk-klib-reg-klib'], ManifestPassthrough: { consoles: ['-serial'], 'reg-klib': { file: 'logs/app.log' } } },
    program(app, 'third-party', 50),
  );
  t.equal(ran.code, 0, 'uk run with the klib named by its package', { output: tail(ran) });
  sameOutput(t, fileLines(join(app, 'logs/app.log')), 'third-party', 50, "the klib's file");
});
