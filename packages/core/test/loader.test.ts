import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { defineKlib, dependenciesOf, isKlib, type KlibDefinition } from '../src/klib.js';
import { klibNotFound } from '../src/klib-errors.js';
import { BUILTIN_KLIBS, coreVersion, orderKlibs, resolveKlib, type ResolvedKlib } from '../src/loader.js';
import { Tuple } from '../src/manifest.js';
import type { UkError } from '../src/errors.js';
import { assertUkError } from './helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures/klibs/', import.meta.url));

function fake(name: string, dependencies?: KlibDefinition['dependencies'], configKey?: string): ResolvedKlib {
  const def: KlibDefinition = { name, init() {} };
  return {
    entry: `./${name}.mjs`,
    klib: defineKlib({ ...def, ...(dependencies === undefined ? {} : { dependencies }), ...(configKey === undefined ? {} : { configKey }) }),
    file: `/klibs/${name}.mjs`,
    version: undefined,
  };
}

const names = (result: { order: ResolvedKlib[] }): string[] => result.order.map((r) => r.klib.name);
const empty = Tuple.empty();

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return undefined;
}

t.test('defineKlib checks the shape and brands the klib', async (t) => {
  const klib = defineKlib({ name: 'my-klib_2', init() {} });
  t.ok(isKlib(klib));
  t.ok(Object.isFrozen(klib));
  t.notOk(isKlib({ name: 'x', init() {} }), 'a plain object is not a klib');
  t.notOk(isKlib(null));
  t.notOk(isKlib('x'));
  for (const bad of ['Syslog', '1klib', '', 'has space', 'dots.no', '-dash', 'ü']) {
    t.throws(
      () => defineKlib({ name: bad, init() {} }),
      new TypeError(`defineKlib: name must match /^[a-z][a-z0-9_-]*$/, got ${JSON.stringify(bad)}`),
      `rejects ${JSON.stringify(bad)}`,
    );
  }
  t.throws(
    () => defineKlib({ name: undefined as unknown as string, init() {} }),
    new TypeError('defineKlib: name must match /^[a-z][a-z0-9_-]*$/, got undefined'),
  );
  t.throws(() => defineKlib(undefined as unknown as KlibDefinition), new TypeError('defineKlib: name must match /^[a-z][a-z0-9_-]*$/, got undefined'));
  t.throws(() => defineKlib({ name: 'x', init: 'no' } as unknown as KlibDefinition), new TypeError('defineKlib(x): init must be a function'));
  t.throws(
    () => defineKlib({ name: 'x', init() {}, dependencies: 'tls' as unknown as string[] }),
    new TypeError('defineKlib(x): dependencies must be an array of klib names or a function'),
  );
  t.throws(
    () => defineKlib({ name: 'x', init() {}, dependencies: [1] as unknown as string[] }),
    new TypeError('defineKlib(x): dependencies must be an array of klib names or a function'),
  );
  t.same(dependenciesOf(defineKlib({ name: 'x', init() {} }), undefined), []);
  t.same(dependenciesOf(defineKlib({ name: 'x', init() {}, dependencies: ['a'] }), undefined), ['a']);
  const dyn = defineKlib({ name: 'x', init() {}, dependencies: (c) => (c?.string('transport') === 'tls' ? ['tls'] : []) });
  t.same(dependenciesOf(dyn, Tuple.fromJSON({ transport: 'tls' })), ['tls']);
  t.same(dependenciesOf(dyn, Tuple.fromJSON({ transport: 'udp' })), []);
  t.same(dependenciesOf(dyn, undefined), []);
});

t.test('orderKlibs: dependencies first, otherwise the Klibs order', async (t) => {
  t.same(names(orderKlibs([fake('a'), fake('b'), fake('c')], empty)), ['a', 'b', 'c']);
  t.same(names(orderKlibs([fake('c'), fake('b'), fake('a')], empty)), ['c', 'b', 'a']);
  t.same(names(orderKlibs([fake('b', ['a']), fake('c'), fake('a')], empty)), ['c', 'a', 'b']);
  t.same(names(orderKlibs([fake('d', ['b', 'c']), fake('c', ['a']), fake('b', ['a']), fake('a')], empty)), ['a', 'c', 'b', 'd']);
  t.same(orderKlibs([fake('b', ['a']), fake('a')], empty).problems, []);
});

t.test('orderKlibs: dependencies can depend on the configuration tuple', async (t) => {
  const dyn = fake('syslogish', (config) => (config?.string('transport') === 'tls' ? ['tlsish'] : []));
  const tls = Tuple.fromJSON({ syslogish: { transport: 'tls' } });
  const udp = Tuple.fromJSON({ syslogish: { transport: 'udp' } });
  t.same(names(orderKlibs([dyn, fake('tlsish')], tls)), ['tlsish', 'syslogish']);
  t.same(names(orderKlibs([dyn, fake('tlsish')], udp)), ['syslogish', 'tlsish']);
  t.same(names(orderKlibs([dyn], udp)), ['syslogish']);
  const missing = orderKlibs([dyn], tls);
  t.same(names(missing), []);
  t.equal(missing.problems.length, 1);
  assertUkError(t, missing.problems[0], 'UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for syslogish klib: tlsish', 'syslogish');
  t.equal(missing.problems[0]?.fix, 'add "tlsish" to Klibs');
  // configKey decides which tuple the function sees; a non-tuple value gives undefined.
  const keyed = fake('k', (config) => (config ? ['a'] : []), 'other');
  t.same(names(orderKlibs([keyed, fake('a')], Tuple.fromJSON({ other: {} }))), ['a', 'k']);
  t.same(names(orderKlibs([keyed, fake('a')], Tuple.fromJSON({ k: {} }))), ['k', 'a']);
  t.same(names(orderKlibs([keyed, fake('a')], Tuple.fromJSON({ other: 'x' }))), ['k', 'a']);
});

t.test('orderKlibs: missing dependencies, and the klibs that depend on those', async (t) => {
  const result = orderKlibs([fake('c', ['b']), fake('b', ['a', 'x']), fake('d'), fake('e', ['c'])], empty);
  t.same(names(result), ['d']);
  t.same(
    result.problems.map((p) => [p.code, p.message]),
    [
      ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for b klib: a, x'],
      ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for c klib: b (which cannot load)'],
      ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for e klib: c (which cannot load)'],
    ],
  );
  t.equal(result.problems[0]?.fix, 'add "a", "x" to Klibs');
  t.match(result.problems[0]?.message, /^missing dependencies for b klib/);
});

t.test('orderKlibs: a dependency listed in Klibs whose entry could not be loaded is not called absent', async (t) => {
  const notInstalled = klibNotFound('tls', "the built-in klib's package @uk/tls is not installed", 'install it: npm install @uk/tls');
  const noFile = klibNotFound('gcp=./gcp.mjs', 'no file at /x/gcp.mjs', 'paths in Klibs are relative to the config file');
  const result = orderKlibs([fake('cloudwatch', ['tls']), fake('g', ['gcp']), fake('a', ['nowhere'])], empty, [
    { entry: 'tls', problem: notInstalled },
    { entry: 'gcp=./gcp.mjs', problem: noFile },
    { entry: './nowhere.mjs', problem: klibNotFound('./nowhere.mjs', 'no file at /x/nowhere.mjs', 'paths in Klibs are relative to the config file') },
  ]);
  t.same(names(result), []);
  t.same(
    result.problems.map((p) => p.describe()),
    [
      "missing dependencies for cloudwatch klib: tls (listed in Klibs, but the built-in klib's package @uk/tls is not installed) (install it: npm install @uk/tls)",
      'missing dependencies for g klib: gcp (listed in Klibs, but no file at /x/gcp.mjs) (paths in Klibs are relative to the config file)',
      // A path's klib name is not known before its import: that dependency is absent as far as uk can tell.
      'missing dependencies for a klib: nowhere (add "nowhere" to Klibs)',
    ],
  );
  // The package form of a built-in names it too.
  const scoped = orderKlibs([fake('cloudwatch', ['tls'])], empty, [{ entry: '@uk/tls', problem: notInstalled }]);
  t.match(scoped.problems[0]?.message, /^missing dependencies for cloudwatch klib: tls \(listed in Klibs, but /);
});

t.test('orderKlibs: cycles are named, and klibs that depend on a cycle are reported', async (t) => {
  const result = orderKlibs([fake('x', ['a']), fake('a', ['b']), fake('b', ['a']), fake('ok')], empty);
  t.same(names(result), ['ok']);
  t.same(
    result.problems.map((p) => [p.code, p.message]),
    [
      ['UK_ERR_KLIB_CYCLE', 'klib dependency cycle: a → b → a'],
      ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for x klib: a (which cannot load)'],
    ],
  );
  t.equal(result.problems[0]?.where, 'a');
  const self = orderKlibs([fake('me', ['me'])], empty);
  t.same(
    self.problems.map((p) => p.message),
    ['klib dependency cycle: me → me'],
  );
  const three = orderKlibs([fake('p', ['q']), fake('q', ['r']), fake('r', ['p'])], empty);
  t.same(
    three.problems.map((p) => p.message),
    ['klib dependency cycle: p → q → r → p'],
  );
  const two = orderKlibs([fake('a', ['b']), fake('b', ['a']), fake('c', ['d']), fake('d', ['c'])], empty);
  t.same(
    two.problems.map((p) => [p.code, p.message]),
    [
      ['UK_ERR_KLIB_CYCLE', 'klib dependency cycle: a → b → a'],
      ['UK_ERR_KLIB_CYCLE', 'klib dependency cycle: c → d → c'],
    ],
  );
});

t.test('orderKlibs: duplicates keep the first', async (t) => {
  const first = fake('a');
  const second = { ...fake('a'), entry: 'a=./other.mjs' };
  const result = orderKlibs([first, fake('b'), second], empty);
  t.same(names(result), ['a', 'b']);
  t.equal(result.order[0], first);
  t.equal(result.problems.length, 1);
  assertUkError(t, result.problems[0], 'UK_ERR_KLIB_DUPLICATE', 'klib "a" is loaded twice (by "./a.mjs" and "a=./other.mjs")', 'a=./other.mjs');
});

t.test('resolveKlib: paths relative to the base directory, name=path, named export', async (t) => {
  const alpha = await resolveKlib('./alpha.mjs', fixtures);
  t.equal(alpha.klib.name, 'alpha');
  t.equal(alpha.entry, './alpha.mjs');
  t.equal(alpha.file, join(fixtures, 'alpha.mjs'));
  t.equal(alpha.version, '1.2.3', 'version from the klib');
  const aliased = await resolveKlib('alpha=./alpha.mjs', fixtures);
  t.equal(aliased.klib, alpha.klib);
  const byName = await resolveKlib('alpha.mjs', fixtures);
  t.equal(byName.file, join(fixtures, 'alpha.mjs'), 'a name ending in .mjs is a path');
  const absolute = await resolveKlib(join(fixtures, 'gamma.mjs'), '/nowhere');
  t.equal(absolute.klib.name, 'gamma', 'a named `klib` export works');
  const coreManifest = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string };
  t.equal(absolute.version, coreManifest.version, 'version from the nearest package.json (@uk/core)');
  const up = await resolveKlib('../klibs/beta.mjs', join(fixtures, '..', 'programs'));
  t.equal(up.klib.name, 'beta');
});

t.test('resolveKlib: errors', async (t) => {
  const mismatch = await rejection(resolveKlib('beta=./alpha.mjs', fixtures));
  const err = assertUkError(
    t,
    mismatch,
    'UK_ERR_KLIB_NAME_MISMATCH',
    'klib "beta=./alpha.mjs": the module declares the klib "alpha", not "beta"',
    'beta=./alpha.mjs',
  );
  t.equal(err?.fix, 'use "alpha=./alpha.mjs" or point the entry at the right module');

  const notKlib = join(fixtures, 'not-a-klib.mjs');
  const invalid = assertUkError(
    t,
    await rejection(resolveKlib('./not-a-klib.mjs', fixtures)),
    'UK_ERR_KLIB_INVALID',
    `klib "./not-a-klib.mjs": ${notKlib} does not export a klib`,
  );
  t.equal(invalid?.fix, 'export default defineKlib({ name, init }) from the module');

  const broken = join(fixtures, 'broken-import.mjs');
  assertUkError(
    t,
    await rejection(resolveKlib('./broken-import.mjs', fixtures)),
    'UK_ERR_KLIB_INVALID',
    `klib "./broken-import.mjs": importing ${broken} failed: broken-import: top-level failure`,
  );

  const nofile = join(fixtures, 'nope.mjs');
  const notFound = assertUkError(
    t,
    await rejection(resolveKlib('./nope.mjs', fixtures)),
    'UK_ERR_KLIB_NOT_FOUND',
    `klib "./nope.mjs": no file at ${nofile}`,
    './nope.mjs',
  );
  t.equal(notFound?.fix, 'paths in Klibs are relative to the config file');
  assertUkError(t, await rejection(resolveKlib('x=./nope.mjs', fixtures)), 'UK_ERR_KLIB_NOT_FOUND', `klib "x=./nope.mjs": no file at ${nofile}`);

  // An unknown package name: no install command (uk would then run whatever that name is).
  const builtins = `it is not a built-in klib (${BUILTIN_KLIBS.join(', ')})`;
  const pkg = assertUkError(
    t,
    await rejection(resolveKlib('uk-no-such-klib-package', fixtures)),
    'UK_ERR_KLIB_NOT_FOUND',
    `klib "uk-no-such-klib-package": no package "uk-no-such-klib-package" is installed (looked from ${fixtures}), and ${builtins}`,
  );
  t.equal(
    pkg?.fix,
    'check the spelling: an entry is a built-in klib name, a path to a module, or the name of a klib package installed next to the config file',
  );
  assertUkError(
    t,
    await rejection(resolveKlib('@acme/uk-no-such-audit', fixtures)),
    'UK_ERR_KLIB_NOT_FOUND',
    `klib "@acme/uk-no-such-audit": no package "@acme/uk-no-such-audit" is installed (looked from ${fixtures}), and ${builtins}`,
  );
  const typo = assertUkError(
    t,
    await rejection(resolveKlib('syslgo', fixtures)),
    'UK_ERR_KLIB_NOT_FOUND',
    `klib "syslgo": no package "syslgo" is installed (looked from ${fixtures}), and ${builtins}`,
  );
  t.equal(typo?.fix, 'did you mean "syslog"?');
  t.equal(
    ((await rejection(resolveKlib('tl=clodwatch', fixtures))) as UkError | undefined)?.fix,
    'did you mean "cloudwatch"?',
    'the package part of name=package',
  );
  // A package that resolves but is not a klib (the kernel itself).
  const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));
  assertUkError(t, await rejection(resolveKlib('@uk/core', fixtures)), 'UK_ERR_KLIB_INVALID', `klib "@uk/core": ${core} does not export a klib`, '@uk/core');
});

t.test('a klib’s core range is checked against the running @uk/core', async (t) => {
  const own = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  t.equal(coreVersion(), own, "core's version, from its package.json");
  const current = await resolveKlib('./core-current.mjs', fixtures);
  t.equal(current.klib.core, '^0.1.0', 'a range this core is in loads');

  const err = assertUkError(
    t,
    await rejection(resolveKlib('./core-future.mjs', fixtures)),
    'UK_ERR_KLIB_CORE_RANGE',
    `klib core-future works with @uk/core >=99.0.0, but this is @uk/core ${own}`,
    'core-future',
  );
  t.equal(err?.fix, `install a version of the klib made for @uk/core ${own}, or a @uk/core in >=99.0.0`);

  assertUkError(
    t,
    await rejection(resolveKlib('./core-current.mjs', fixtures, { coreVersion: '1.0.0' })),
    'UK_ERR_KLIB_CORE_RANGE',
    'klib core-current works with @uk/core ^0.1.0, but this is @uk/core 1.0.0',
  );
  assertUkError(
    t,
    await rejection(resolveKlib('./core-current.mjs', fixtures, { coreVersion: '0.2.0' })),
    'UK_ERR_KLIB_CORE_RANGE',
    'klib core-current works with @uk/core ^0.1.0, but this is @uk/core 0.2.0',
    'core-current',
  );
  t.equal((await resolveKlib('./core-current.mjs', fixtures, { coreVersion: '0.1.7' })).klib.name, 'core-current', 'a later patch is in ^0.1.0');
  t.equal((await resolveKlib('./core-current.mjs', fixtures, { coreVersion: '0.1.8-rc.1' })).klib.name, 'core-current', 'a prerelease counts as its release');
  t.equal((await resolveKlib('./gamma.mjs', fixtures, { coreVersion: '9.0.0' })).klib.name, 'gamma', 'a klib that states no range is not checked');
});

t.test('defineKlib: core must be a semver range', async (t) => {
  t.equal(defineKlib({ name: 'ok', core: '>=0.1.0 <2', init() {} }).core, '>=0.1.0 <2');
  t.throws(
    () => defineKlib({ name: 'bad', core: 'latest', init() {} }),
    new TypeError('defineKlib(bad): core must be a semver range of @uk/core such as "^0.1.0", got "latest"'),
  );
  t.throws(
    () => defineKlib({ name: 'bad', core: 1 as unknown as string, init() {} }),
    new TypeError('defineKlib(bad): core must be a semver range of @uk/core such as "^0.1.0", got 1'),
  );
});

t.test('resolveKlib: an installed package whose package.json leads to no file is named, with what to check', async (t) => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'uk-loader-')));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, 'uk-klib-unbuilt'), { recursive: true });
  writeFileSync(join(modules, 'uk-klib-unbuilt', 'package.json'), JSON.stringify({ name: 'uk-klib-unbuilt', type: 'module', exports: './dist/index.js' }));
  mkdirSync(join(modules, 'uk-klib-cjs-only'), { recursive: true });
  writeFileSync(join(modules, 'uk-klib-cjs-only', 'package.json'), JSON.stringify({ name: 'uk-klib-cjs-only', exports: { require: './index.cjs' } }));
  const unbuilt = assertUkError(
    t,
    await rejection(resolveKlib('uk-klib-unbuilt', dir)),
    'UK_ERR_KLIB_NOT_FOUND',
    `klib "uk-klib-unbuilt": package uk-klib-unbuilt is installed (${join(modules, 'uk-klib-unbuilt')}) but cannot be loaded: its entry point ${join(modules, 'uk-klib-unbuilt', 'dist', 'index.js')} does not exist (is the package built?)`,
  );
  t.equal(unbuilt?.fix, `check "exports" and "main" in ${join(modules, 'uk-klib-unbuilt', 'package.json')}`);
  // import() applies the "import" condition, not "require": such a package cannot be imported, and uk says why.
  const cjs = await rejection(resolveKlib('uk-klib-cjs-only', dir));
  t.match(
    (cjs as UkError | undefined)?.message,
    /^klib "uk-klib-cjs-only": package uk-klib-cjs-only is installed \(.*\) but cannot be loaded: .*No "exports" main defined/,
  );
});
