import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadOpsConfig, opsConfigFromJSON } from '../src/config.js';
import type { UkError } from '../src/errors.js';
import { Kernel, programEnv, readKernelSettings, type BootReport } from '../src/kernel.js';
import { Tuple } from '../src/manifest.js';
import { serviceToken } from '../src/services.js';
import { memoryDriver, MemoryStream, testKernel } from '../src/testing.js';
import { ManualClock } from '../src/timers.js';
import * as tokens from '../src/tokens.js';
import { assertUkError, klibEvents, throwsUk, until } from './helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures/klibs/', import.meta.url));

/** Boots a test kernel whose Klibs paths are relative to the fixture klibs. */
async function boot(config: Record<string, unknown>, clock?: ManualClock) {
  klibEvents(true);
  const tk = testKernel(config, { baseDir: fixtures, ...(clock ? { clock } : {}) });
  const report = await tk.kernel.boot();
  return { ...tk, report, events: klibEvents() };
}

const statuses = (report: BootReport) => report.klibs.map((k) => `${k.name}:${k.status}`);
const problems = (report: BootReport) => report.problems.map((p: UkError) => [p.code, p.message]);

t.test('klibs load in dependency order, otherwise in Klibs order', async (t) => {
  const { report, events, stderr } = await boot({
    Klibs: ['./beta.mjs', './gamma.mjs', './alpha.mjs'],
    ManifestPassthrough: { alpha: { x: 1 }, beta: {}, gamma: {} },
  });
  t.same(statuses(report), ['gamma:loaded', 'alpha:loaded', 'beta:loaded']);
  t.same(events, ['init:gamma', 'init:alpha config={"x":"1"}', 'init:beta']);
  t.same(report.problems, []);
  t.equal(stderr.text, '', 'nothing to report');
  t.same(
    report.klibs.map((k) => k.entry),
    ['./gamma.mjs', './alpha.mjs', './beta.mjs'],
  );

  const again = await boot({ Klibs: ['./alpha.mjs', './gamma.mjs', './beta.mjs'], ManifestPassthrough: { alpha: {}, beta: {}, gamma: {} } });
  t.same(again.events, ['init:alpha config={}', 'init:gamma', 'init:beta']);
});

t.test('a missing dependency is reported, and so is a klib depending on it; the rest load', async (t) => {
  const { report, events, stderr } = await boot({
    Klibs: ['./needs-needs-missing.mjs', './needs-missing.mjs', './alpha.mjs'],
    ManifestPassthrough: { alpha: {}, 'needs-missing': {}, 'needs-needs-missing': {} },
  });
  t.same(statuses(report), ['alpha:loaded']);
  t.same(events, ['init:alpha config={}']);
  t.same(problems(report), [
    ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for needs-missing klib: nonexistent'],
    ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for needs-needs-missing klib: needs-missing (which cannot load)'],
  ]);
  t.match(report.problems[0]?.message, /^missing dependencies for needs-missing klib/);
  t.equal(
    stderr.text,
    'uk: UK_ERR_KLIB_MISSING_DEP: missing dependencies for needs-missing klib: nonexistent (add "nonexistent" to Klibs)\n' +
      'uk: UK_ERR_KLIB_MISSING_DEP: missing dependencies for needs-needs-missing klib: needs-missing (which cannot load) (fix the problem reported for needs-missing)\n',
  );
});

t.test('a dependency cycle is named', async (t) => {
  const { report, events } = await boot({
    Klibs: ['./cycle-a.mjs', './alpha.mjs', './cycle-user.mjs', './cycle-b.mjs'],
    ManifestPassthrough: { alpha: {}, 'cycle-a': {}, 'cycle-b': {}, 'cycle-user': {} },
  });
  t.same(statuses(report), ['alpha:loaded']);
  t.same(events, ['init:alpha config={}']);
  t.same(problems(report), [
    ['UK_ERR_KLIB_CYCLE', 'klib dependency cycle: cycle-a → cycle-b → cycle-a'],
    ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for cycle-user klib: cycle-a (which cannot load)'],
  ]);
});

t.test('duplicates, name mismatches, invalid modules and missing files are all reported', async (t) => {
  const { report, events, stderr } = await boot({
    Klibs: ['./alpha.mjs', './alpha-again.mjs', 'gamma=./beta.mjs', './not-a-klib.mjs', './nope.mjs', 'uk-no-such-klib-package', 'gamma=./gamma.mjs'],
    ManifestPassthrough: { alpha: {}, gamma: {} },
  });
  t.same(statuses(report), ['alpha:loaded', 'gamma:loaded']);
  t.same(events, ['init:alpha config={}', 'init:gamma']);
  t.same(problems(report), [
    ['UK_ERR_KLIB_NAME_MISMATCH', 'klib "gamma=./beta.mjs": the module declares the klib "beta", not "gamma"'],
    ['UK_ERR_KLIB_INVALID', `klib "./not-a-klib.mjs": ${join(fixtures, 'not-a-klib.mjs')} does not export a klib`],
    ['UK_ERR_KLIB_NOT_FOUND', `klib "./nope.mjs": no file at ${join(fixtures, 'nope.mjs')}`],
    [
      'UK_ERR_KLIB_NOT_FOUND',
      `klib "uk-no-such-klib-package": no package "uk-no-such-klib-package" is installed (looked from ${fixtures}), and it is not a built-in klib (tls, syslog, cloudwatch, gcp)`,
    ],
    ['UK_ERR_KLIB_DUPLICATE', 'klib "alpha" is loaded twice (by "./alpha.mjs" and "./alpha-again.mjs")'],
  ]);
  t.equal(stderr.text.split('\n').filter(Boolean).length, 5, 'each problem is logged once');
  t.match(
    stderr.text,
    /^uk: UK_ERR_KLIB_NAME_MISMATCH: klib "gamma=\.\/beta\.mjs": the module declares the klib "beta", not "gamma" \(use "beta=\.\/beta\.mjs" or point the entry at the right module\)$/m,
  );
});

t.test('a path-loaded klib is resolved relative to the config file', async (t) => {
  const dir = t.testdir({ etc: {} });
  const configFile = join(dir, 'etc', 'uk.json');
  const klibPath = relative(join(dir, 'etc'), join(fixtures, 'alpha.mjs'));
  t.match(klibPath, /^\.\.\//);
  writeFileSync(configFile, JSON.stringify({ Klibs: [klibPath, 'g=../nope.mjs'], ManifestPassthrough: { alpha: { from: 'file' } } }));
  const config = loadOpsConfig(configFile);
  const stderr = new MemoryStream();
  const kernel = new Kernel({ config, program: { path: '/bin/true', args: [] }, baseEnv: {}, clock: new ManualClock(), stdout: new MemoryStream(), stderr });
  klibEvents(true);
  const report = await kernel.boot();
  t.same(statuses(report), ['alpha:loaded']);
  t.same(klibEvents(), ['init:alpha config={"from":"file"}']);
  t.same(problems(report), [['UK_ERR_KLIB_NOT_FOUND', `klib "g=../nope.mjs": no file at ${join(dir, 'nope.mjs')}`]]);
  const { resolved } = await kernel.resolveAll();
  t.equal(resolved[0]?.file, join(fixtures, 'alpha.mjs'));
});

t.test('async init is awaited before the next klib starts', async (t) => {
  const { report, events } = await boot({ Klibs: ['./async-init.mjs', './gamma.mjs'], ManifestPassthrough: { 'async-init': {}, gamma: {} } });
  t.same(statuses(report), ['async-init:loaded', 'gamma:loaded']);
  t.same(events, ['init:async-init:start', 'init:async-init:end', 'init:gamma']);
  t.ok((report.klibs[0]?.ms ?? -1) >= 0);
});

t.test('init timeout names the klib (the klib’s own timeout, on a manual clock)', async (t) => {
  const clock = new ManualClock();
  klibEvents(true);
  const { kernel, stderr } = testKernel({ Klibs: ['./slow-init.mjs', './gamma.mjs'], ManifestPassthrough: { gamma: {} } }, { baseDir: fixtures, clock });
  let report: BootReport | undefined;
  const booting = kernel.boot().then((r) => (report = r));
  await until(() => clock.pending > 0, 'the init timer');
  t.same(klibEvents(), ['init:slow-init']);
  clock.advance(4999);
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(report, undefined, 'still waiting 1 ms before the timeout');
  clock.advance(1);
  await booting;
  t.same(statuses(report!), ['slow-init:failed', 'gamma:loaded']);
  const err = assertUkError(t, report!.klibs[0]?.error, 'UK_ERR_KLIB_INIT_TIMEOUT', 'klib slow-init did not finish init within 5000 ms', 'slow-init');
  t.equal(err?.fix, 'a klib must not wait for the network in init; raise uk.klib_init_timeout if it must');
  t.same(klibEvents(), ['init:slow-init', 'init:gamma'], 'the next klib still loads');
  t.equal(report!.klibs[0]?.ms, 5000, 'time measured on the kernel clock');
  t.match(stderr.text, /^uk: UK_ERR_KLIB_INIT_TIMEOUT: klib slow-init did not finish init within 5000 ms \(a klib must not wait/m);
  t.equal(clock.pending, 0, 'no timer left behind');
});

t.test('init timeout from uk.klib_init_timeout', async (t) => {
  const clock = new ManualClock();
  const { kernel } = testKernel({ Klibs: ['./hangs.mjs'], ManifestPassthrough: { uk: { klib_init_timeout: 2 } } }, { baseDir: fixtures, clock });
  const booting = kernel.boot();
  await until(() => clock.pending > 0, 'the init timer');
  clock.advance(2000);
  const report = await booting;
  assertUkError(t, report.klibs[0]?.error, 'UK_ERR_KLIB_INIT_TIMEOUT', 'klib hangs did not finish init within 2000 ms');
  t.equal(report.problems[0], report.klibs[0]?.error);
});

t.test('init that throws fails that klib and the klibs that depend on it', async (t) => {
  const { report, events } = await boot({ Klibs: ['./after-failing.mjs', './failing-init.mjs', './gamma.mjs'], ManifestPassthrough: { gamma: {} } });
  t.same(statuses(report), ['failing-init:failed', 'after-failing:failed', 'gamma:loaded']);
  t.same(events, ['init:failing-init', 'init:gamma']);
  const failed = assertUkError(
    t,
    report.klibs[0]?.error,
    'UK_ERR_KLIB_INIT_FAILED',
    'klib failing-init failed to start: cannot open /dev/nothing',
    'failing-init',
  );
  t.equal((failed?.cause as Error | undefined)?.message, 'cannot open /dev/nothing');
  assertUkError(
    t,
    report.klibs[1]?.error,
    'UK_ERR_KLIB_MISSING_DEP',
    'missing dependencies for after-failing klib: failing-init (which failed to load)',
    'after-failing',
  );
  t.same(problems(report), [
    ['UK_ERR_KLIB_INIT_FAILED', 'klib failing-init failed to start: cannot open /dev/nothing'],
    ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for after-failing klib: failing-init (which failed to load)'],
  ]);
});

t.test('without a configuration tuple: skip (default), fail, or init', async (t) => {
  const { report, events } = await boot({ Klibs: ['./alpha.mjs', './needs-config.mjs', './always-init.mjs'] });
  t.same(statuses(report), ['alpha:skipped', 'needs-config:failed', 'always-init:loaded']);
  t.same(events, ['init:always-init config=none options={"path":"always-init","level":"info"}']);
  const err = assertUkError(
    t,
    report.klibs[1]?.error,
    'UK_ERR_KLIB_CONFIG_MISSING',
    'needs-config: configuration tuple "needs-config" is missing from ManifestPassthrough',
    'needs-config',
  );
  t.equal(err?.fix, 'add "needs-config": { … } to ManifestPassthrough');
  t.same(problems(report), [['UK_ERR_KLIB_CONFIG_MISSING', 'needs-config: configuration tuple "needs-config" is missing from ManifestPassthrough']]);

  const configured = await boot({
    Klibs: ['./alpha.mjs', './needs-config.mjs', './always-init.mjs'],
    ManifestPassthrough: { alpha: {}, 'needs-config': {}, 'always-init': { level: 'debug' } },
  });
  t.same(statuses(configured.report), ['alpha:loaded', 'needs-config:loaded', 'always-init:loaded']);
  t.same(configured.events, ['init:alpha config={}', 'init:needs-config', 'init:always-init config=tuple options={"path":"always-init","level":"debug"}']);
});

t.test('a configuration value that is not a tuple, and options that fail', async (t) => {
  const { report, events } = await boot({
    Klibs: ['./alpha.mjs', './recfile.mjs', './always-init.mjs'],
    ManifestPassthrough: { alpha: 'on', recfile: { batch: 'lots', colour: 'red' }, 'always-init': { level: { x: 1 } } },
  });
  t.same(statuses(report), ['alpha:failed', 'recfile:failed', 'always-init:failed']);
  t.same(events, []);
  assertUkError(t, report.klibs[0]?.error, 'UK_ERR_MANIFEST_VALUE', 'alpha: expected a tuple (JSON object), got "on"', 'alpha');
  const err = assertUkError(
    t,
    report.klibs[1]?.error,
    'UK_ERR_OPTIONS_INVALID',
    'recfile: 3 invalid options: recfile: invalid option \'colour\'; recfile.path: required, expected a file path; recfile.batch: expected a number of records, got "lots"',
  );
  t.same(
    err?.problems.map((p) => p.code),
    ['UK_ERR_OPTION_UNKNOWN', 'UK_ERR_MANIFEST_MISSING', 'UK_ERR_MANIFEST_VALUE'],
  );
  assertUkError(t, report.klibs[2]?.error, 'UK_ERR_MANIFEST_VALUE', 'always-init.level: expected a string, got a tuple (JSON object)');
});

t.test('dependencies can be a function of the configuration', async (t) => {
  const tls = await boot({ Klibs: ['./dyn-deps.mjs', './greeter.mjs'], ManifestPassthrough: { 'dyn-deps': { transport: 'tls' } } });
  t.same(statuses(tls.report), ['greeter:loaded', 'dyn-deps:loaded']);
  t.same(tls.events, ['init:greeter', 'init:dyn-deps transport=tls']);
  const udp = await boot({ Klibs: ['./dyn-deps.mjs', './greeter.mjs'], ManifestPassthrough: { 'dyn-deps': { transport: 'udp' } } });
  t.same(statuses(udp.report), ['dyn-deps:loaded', 'greeter:loaded']);
  const missing = await boot({ Klibs: ['./dyn-deps.mjs'], ManifestPassthrough: { 'dyn-deps': { transport: 'tls' } } });
  t.same(statuses(missing.report), []);
  t.same(problems(missing.report), [['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for dyn-deps klib: greeter']]);
  const alone = await boot({ Klibs: ['./dyn-deps.mjs'], ManifestPassthrough: { 'dyn-deps': {} } });
  t.same(alone.events, ['init:dyn-deps transport=udp']);
});

t.test('a klib provides a service that a dependent klib gets', async (t) => {
  const { report, events, kernel } = await boot({ Klibs: ['./greeter-user.mjs', './greeter.mjs'], ManifestPassthrough: { greeter: { greeting: 'hi' } } });
  t.same(statuses(report), ['greeter:loaded', 'greeter-user:loaded']);
  t.same(events, ['init:greeter', 'init:greeter-user says hi, world']);
  const greeter = kernel.services.get(serviceToken<{ greet(who: string): string }>('test-greeter'));
  t.equal(greeter.greet('tap'), 'hi, tap');
  t.throws(() => kernel.services.provide(serviceToken('test-greeter'), {}, 'other'), new RangeError('service test-greeter is already provided by greeter'));
});

t.test('asking for a service nobody provides fails that klib with UK_ERR_SERVICE_MISSING as the cause', async (t) => {
  const { report, events } = await boot({ Klibs: ['./wants-missing-service.mjs', './gamma.mjs'], ManifestPassthrough: { gamma: {} } });
  t.same(statuses(report), ['wants-missing-service:failed', 'gamma:loaded']);
  t.same(events, ['init:wants-missing-service', 'init:gamma']);
  const fix = 'add the klib that provides it to Klibs and list it in the dependencies of the klib that uses it';
  const err = assertUkError(
    t,
    report.klibs[0]?.error,
    'UK_ERR_KLIB_INIT_FAILED',
    `klib wants-missing-service failed to start: wants-missing-service: no loaded klib provides the test-nothing service (${fix})`,
  );
  assertUkError(t, err?.cause, 'UK_ERR_SERVICE_MISSING', 'wants-missing-service: no loaded klib provides the test-nothing service', 'test-nothing');
});

t.test('kernel services are bound at boot', async (t) => {
  const { kernel } = testKernel({ ManifestPassthrough: { a: 'b' }, Env: { X: '1' } });
  t.equal(kernel.services.get(tokens.ManifestService), kernel.manifest);
  t.equal(kernel.services.get(tokens.ManifestService).get('a'), 'b');
  t.same(kernel.services.get(tokens.EnvService), { X: '1', IMAGE_NAME: 'test-program' });
  t.equal(kernel.services.get(tokens.ProgramService).name, 'test-program');
  t.equal(kernel.services.get(tokens.ProgramService).path, '/usr/bin/test-program');
  t.equal(kernel.services.get(tokens.TimersService), kernel.timers);
  t.equal(kernel.services.get(tokens.HeapsService), kernel.heaps);
  t.equal(kernel.services.get(tokens.ConsoleService), kernel.console);
  t.equal(kernel.services.get(tokens.KernelLogService), kernel.log);
  t.equal(kernel.services.get(tokens.ShutdownService), kernel.shutdown);
  t.equal(kernel.services.get(tokens.StatsService), kernel.stats);
  t.ok(Object.isFrozen(kernel.env));
});

t.test('kernel settings from the uk tuple', async (t) => {
  t.same(readKernelSettings(Tuple.empty()), {
    shutdownTimeoutMs: 10000,
    maxRecordBytes: 1024 * 1024,
    partialLineMs: 100,
    klibInitTimeoutMs: 10000,
    passthrough: true,
    parentDeathSignal: 'SIGTERM',
    multiline: { mode: 'auto', timeoutMs: 300 },
    spool: { dir: undefined, maxBytes: 1024 * 1024 * 1024, fsync: 'interval', whenFull: 'drop_oldest' },
  });
  t.same(
    readKernelSettings(
      Tuple.fromJSON({
        uk: {
          shutdown_timeout: 3,
          max_record_size: '64k',
          partial_line_timeout: 50,
          klib_init_timeout: '7',
          passthrough: false,
          parent_death_signal: 'off',
          spool_dir: '/var/spool/uk',
          spool_max_size: '200m',
          spool_fsync: 'always',
          spool_full: 'drop_newest',
        },
      }),
    ),
    {
      shutdownTimeoutMs: 3000,
      maxRecordBytes: 64 * 1024,
      partialLineMs: 50,
      klibInitTimeoutMs: 7000,
      passthrough: false,
      parentDeathSignal: null,
      multiline: { mode: 'auto', timeoutMs: 300 },
      spool: { dir: '/var/spool/uk', maxBytes: 200 * 1024 * 1024, fsync: 'always', whenFull: 'drop_newest' },
    },
  );
  throwsUk(
    t,
    () => readKernelSettings(Tuple.fromJSON({ uk: { spool_fsync: 'sometimes' } })),
    'UK_ERR_MANIFEST_VALUE',
    'uk.spool_fsync: expected one of "always", "interval", "never", got "sometimes"',
    'uk.spool_fsync',
  );
  throwsUk(
    t,
    () => readKernelSettings(Tuple.fromJSON({ uk: { spool_max_size: '1k' } })),
    'UK_ERR_MANIFEST_VALUE',
    'uk.spool_max_size: expected a size from 1048576 to 1099511627776 bytes, got "1k"',
    'uk.spool_max_size',
  );
  throwsUk(
    t,
    () => readKernelSettings(Tuple.fromJSON({ uk: { spool_dir: '' } })),
    'UK_ERR_MANIFEST_VALUE',
    'uk.spool_dir: expected a directory path, got ""',
    'uk.spool_dir',
  );
  throwsUk(
    t,
    () => readKernelSettings(Tuple.fromJSON({ uk: { spool_full: 'drop_all' } })),
    'UK_ERR_MANIFEST_VALUE',
    'uk.spool_full: expected one of "drop_oldest", "drop_newest", got "drop_all"',
    'uk.spool_full',
  );
  throwsUk(
    t,
    () => readKernelSettings(Tuple.fromJSON({ uk: { shutdown_timeout: 0 } })),
    'UK_ERR_MANIFEST_VALUE',
    'uk.shutdown_timeout: expected a whole number of seconds from 1 to 3600, got "0"',
    'uk.shutdown_timeout',
  );
  const err = throwsUk(
    t,
    () => readKernelSettings(Tuple.fromJSON({ uk: { max_record_size: '1', partial_line_timeout: 'soon', flush: 1 } })),
    'UK_ERR_OPTIONS_INVALID',
    'uk: 3 invalid options: uk: invalid option \'flush\'; uk.max_record_size: expected a size from 1024 to 67108864 bytes, got "1"; uk.partial_line_timeout: expected a whole number of milliseconds, got "soon"',
    'uk',
  );
  t.equal(err?.problems.length, 3);
  throwsUk(t, () => readKernelSettings(Tuple.fromJSON({ uk: 'fast' })), 'UK_ERR_MANIFEST_VALUE', 'uk: expected a tuple (JSON object), got "fast"');
});

t.test('a kernel with a bad uk tuple uses the defaults for the bad values and reports them at boot', async (t) => {
  const { kernel, stderr } = testKernel({ ManifestPassthrough: { uk: { shutdown_timeout: 'x', partial_line_timeout: 250 } } });
  t.equal(kernel.settings.shutdownTimeoutMs, 10_000, 'the default in place of the bad value');
  t.equal(kernel.settings.partialLineMs, 250, 'the good values are kept');
  const report = await kernel.boot();
  t.same(
    report.problems.map((p) => [p.code, p.message]),
    [['UK_ERR_MANIFEST_VALUE', 'uk.shutdown_timeout: expected a whole number of seconds, got "x"']],
  );
  t.match(stderr.text, /^uk: UK_ERR_MANIFEST_VALUE: uk\.shutdown_timeout: expected a whole number of seconds, got "x"$/m);
  const { kernel: notATuple } = testKernel({ ManifestPassthrough: { uk: 'fast' } });
  t.same(
    (await notATuple.boot()).problems.map((p) => p.message),
    ['uk: expected a tuple (JSON object), got "fast"'],
  );
});

t.test('programEnv: uk’s environment, then Env, then IMAGE_NAME', async (t) => {
  t.same(programEnv({ PATH: '/bin', GONE: undefined }, { FOO: 'bar' }, '/opt/app/bin/webg'), { PATH: '/bin', FOO: 'bar', IMAGE_NAME: 'webg' });
  t.same(programEnv({ PATH: '/bin' }, { PATH: '/usr/bin' }, 'webg'), { PATH: '/usr/bin', IMAGE_NAME: 'webg' });
  t.same(programEnv({}, { IMAGE_NAME: 'mine' }, '/bin/x'), { IMAGE_NAME: 'mine' });
  t.same(programEnv({ IMAGE_NAME: 'outer' }, {}, '/bin/x'), { IMAGE_NAME: 'outer' });
  t.same(programEnv({}, {}, undefined), {});
});

t.test('stop: aborts, runs shutdown hooks, flushes drivers, reports the deadline', async (t) => {
  const clock = new ManualClock();
  const { kernel, report, events, stderr } = await boot({ Klibs: ['./shutdown-hooks.mjs'] }, clock);
  t.same(statuses(report), ['shutdown-hooks:loaded']);
  t.same(kernel.stats.snapshot(), { 'shutdown-hooks': { sent: 3 } });
  t.equal(stderr.text, 'uk: shutdown-hooks: started\n');
  let flushed = 0;
  kernel.console.attach({ name: 'quick', write() {}, flush: async () => void flushed++ });
  kernel.console.attach({ name: 'stuck', write() {}, flush: () => new Promise<void>(() => {}) });
  kernel.console.attach({ name: 'off', write() {}, flush: async () => void (flushed += 100) }, { disabled: true });
  kernel.console.attach({
    name: 'broken',
    write() {},
    flush: async () => {
      throw new Error('socket closed');
    },
  });
  const stopping = kernel.stop(1500);
  t.ok(kernel.signal.aborted);
  // Let the hooks that can finish do so, then pass the deadline.
  await new Promise((resolve) => setImmediate(resolve));
  clock.advance(1500);
  const result = await stopping;
  t.same(events, ['shutdown-hooks: aborted', 'shutdown-hooks: hook']);
  t.equal(flushed, 1, 'enabled drivers are flushed, disabled ones are not');
  t.same(result.unfinished, ['console driver stuck']);
  t.same(result.failed, [{ name: 'console driver broken', reason: 'socket closed' }]);
  t.equal(result.elapsedMs, 1500);
  t.match(stderr.text, /^uk: shutdown: console driver broken failed: socket closed$/m);
  t.match(
    stderr.text,
    /^uk: UK_ERR_SHUTDOWN_TIMEOUT: shutdown deadline of 1\.5 s passed; still flushing: console driver stuck \(raise uk\.shutdown_timeout or check the destination\)$/m,
  );
  t.same(await kernel.stop(1), result, 'stopping again returns the same report');
});

t.test('boot with --verbose logs the load order and consoles', async (t) => {
  const stderr = new MemoryStream();
  const kernel = new Kernel({
    config: opsConfigFromJSON({ Klibs: ['./beta.mjs', './alpha.mjs'], ManifestPassthrough: { alpha: {}, beta: {} } }, 'c.json', fixtures),
    program: { path: '/bin/true', args: [] },
    baseEnv: {},
    clock: new ManualClock(),
    stdout: new MemoryStream(),
    stderr,
    verbose: true,
  });
  const record = memoryDriver();
  kernel.console.attach(record);
  await kernel.boot();
  t.equal(stderr.text, 'uk: klibs: alpha (loaded, 0.0 ms) → beta (loaded, 0.0 ms)\nuk: consoles: +memory +serial\n');
  t.same(record.records, [], 'debug messages are not sent to record drivers');
});

// Last in the file: without a timer that holds the process open, this test (and the file) would end early.
t.test('init timeout on the real clock with a small uk.klib_init_timeout', async (t) => {
  const stderr = new MemoryStream();
  const kernel = new Kernel({
    config: opsConfigFromJSON({ Klibs: ['./hangs.mjs'], ManifestPassthrough: { uk: { klib_init_timeout: 1 } } }, 'c.json', fixtures),
    program: { path: '/bin/true', args: [] },
    baseEnv: {},
    stdout: new MemoryStream(),
    stderr,
  });
  const started = Date.now();
  const report = await kernel.boot();
  const elapsed = Date.now() - started;
  t.ok(elapsed >= 900 && elapsed < 30_000, `gave up after the 1 s init timeout, not waiting for the klib (${elapsed} ms)`);
  assertUkError(t, report.klibs[0]?.error, 'UK_ERR_KLIB_INIT_TIMEOUT', 'klib hangs did not finish init within 1000 ms');
});

/** Gates the close-* fixture klibs wait for at shutdown, opened by the test. */
function closeGates(names: readonly string[]) {
  const opens: Record<string, () => void> = {};
  const g = globalThis as { __ukCloseGates?: Record<string, Promise<void>>; __ukCloses?: unknown[] };
  g.__ukCloseGates = Object.fromEntries(names.map((name) => [name, new Promise<void>((resolve) => (opens[name] = resolve))]));
  g.__ukCloses = [];
  return { open: (name: string) => opens[name]?.(), closes: () => g.__ukCloses ?? [] };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

t.test('stop closes last in first out: dependents (and their drivers) first, independent klibs together, serial last', async (t) => {
  const clock = new ManualClock();
  const { kernel, report, events } = await boot({ Klibs: ['./close-left.mjs', './close-right.mjs', './close-base.mjs'] }, clock);
  t.same(statuses(report), ['close-base:loaded', 'close-left:loaded', 'close-right:loaded']);
  const gates = closeGates(['close-left', 'close-right', 'close-base']);
  // A kernel-level driver (no klib attached it), as serial: it flushes after every klib.
  kernel.console.attach({ name: 'kernel-level', write() {}, flush: async () => void events.push('kernel-level flush') });
  const stopping = kernel.stop(5000);
  await until(() => events.length >= 4, 'the dependents to start closing');
  await settle();
  t.same(
    new Set(events),
    new Set(['close-left hook start', 'close-left flush start', 'close-right hook start', 'close-right flush start']),
    'both dependents close at once; close-base waits',
  );
  gates.open('close-left');
  await until(() => events.includes('close-left hook end') && events.includes('close-left flush end'), 'close-left to finish');
  await settle();
  t.notOk(
    events.some((e) => e.startsWith('close-base')),
    'close-base still waits for close-right',
  );
  gates.open('close-right');
  await until(() => events.includes('close-base hook start') && events.includes('close-base flush start'), 'close-base to start');
  const baseStart = Math.min(events.indexOf('close-base hook start'), events.indexOf('close-base flush start'));
  for (const dependent of ['close-left hook end', 'close-left flush end', 'close-right hook end', 'close-right flush end']) {
    t.ok(events.indexOf(dependent) < baseStart, `close-base started after "${dependent}"`);
  }
  t.notOk(events.includes('kernel-level flush'), 'the kernel-level driver waits for every klib');
  gates.open('close-base');
  const result = await stopping;
  t.equal(events.at(-1), 'kernel-level flush', 'the kernel-level driver flushed last');
  t.same(result, { elapsedMs: 0, unfinished: [], failed: [] });
  const closes = gates.closes();
  t.equal(closes.length, 3, 'one hook per klib');
  t.ok(
    closes.every((c) => c === closes[0]),
    'every hook got the same deadline and signal',
  );
  t.equal((closes[0] as { deadline: number }).deadline, 4500, "the kernel's deadline less 10% (hookDeadline), absolute");
});

t.test('stop: the one deadline bounds everything; the klibs that waited start with the aborted signal', async (t) => {
  const clock = new ManualClock();
  const { kernel, events, stderr } = await boot({ Klibs: ['./close-left.mjs', './close-base.mjs'] }, clock);
  const gates = closeGates(['close-left', 'close-base']);
  gates.open('close-base');
  const stopping = kernel.stop(2000);
  await until(() => events.includes('close-left hook start'), 'close-left to start closing');
  clock.advance(2000);
  const result = await stopping;
  t.ok(events.includes('close-left hook aborted'), "close-left's hook saw the signal abort at the deadline");
  t.ok(events.indexOf('close-base hook start') > events.indexOf('close-left hook aborted'), 'close-base started only when nothing could wait any more');
  t.same(result.unfinished.sort(), ['close-left', 'console driver close-left-out']);
  t.equal(result.elapsedMs, 2000);
  t.match(
    stderr.text,
    /^uk: UK_ERR_SHUTDOWN_TIMEOUT: shutdown deadline of 2 s passed; still flushing: (close-left, console driver close-left-out|console driver close-left-out, close-left) \(raise uk\.shutdown_timeout or check the destination\)$/m,
  );
});

t.test('abandon (a second signal): the shutdown signal aborts at once, and the heaps give up what they hold', async (t) => {
  const clock = new ManualClock();
  const { kernel, events } = await boot({ Klibs: ['./close-left.mjs', './close-base.mjs'] }, clock);
  closeGates(['close-left', 'close-base']);
  let givenUp = '';
  kernel.heaps.create('test', 1024).holdsRecords({ pending: 7, abandon: (why) => ((givenUp = why), 7) });
  const stopping = kernel.stop(60_000);
  await until(() => events.includes('close-left hook start'), 'close-left to start closing');
  t.equal(kernel.abandon('SIGTERM during shutdown'), 7, 'the records given up are counted');
  t.equal(givenUp, 'SIGTERM during shutdown');
  const result = await stopping;
  t.ok(events.includes('close-left hook aborted'), 'the hook saw the abort');
  t.ok(kernel.shutdown.signal.aborted);
  t.equal(result.elapsedMs, 0, 'without waiting for the deadline');
  t.same(result.unfinished.sort(), ['close-base', 'close-left', 'console driver close-base-out', 'console driver close-left-out']);
});
