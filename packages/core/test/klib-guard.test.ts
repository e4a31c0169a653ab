/**
 * The klib guard's attribution (stack frames against the klibs' files, then the context a klib's
 * import and init run in), the kernel's use of it (which klib attached a driver; a klib's own
 * messages stay out of its own drivers), and the guard's process handlers in a child process.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { KlibGuard, stackPaths, type KlibFailure, type KlibIdentity } from '../src/klib-guard.js';
import { memoryDriver, testKernel } from '../src/testing.js';
import { cleanEnv } from './uk-process.js';

const identity = (name: string, failures: KlibFailure[] = []): KlibIdentity => ({ name, onFailure: (f) => void failures.push(f) });

t.test('stackPaths reads the file of every frame form V8 writes', async (t) => {
  const stack = [
    'Error: boom',
    '    at Timeout._onTimeout (file:///srv/app/klibs/a%20b.mjs:3:28)',
    '    at listOnTimeout (node:internal/timers:581:17)',
    '    at file:///srv/app/klibs/top.mjs:1:9',
    '    at async Promise.all (index 0)',
    '    at new Thing (/srv/app/node_modules/acme/lib/thing.js:10:5)',
    '    at Object.<anonymous> (/srv/app/x.cjs:2:1)',
  ].join('\n');
  t.same(stackPaths(stack), [
    { path: '/srv/app/klibs/a b.mjs', at: '/srv/app/klibs/a b.mjs:3:28' },
    { path: '/srv/app/klibs/top.mjs', at: '/srv/app/klibs/top.mjs:1:9' },
    { path: '/srv/app/node_modules/acme/lib/thing.js', at: '/srv/app/node_modules/acme/lib/thing.js:10:5' },
    { path: '/srv/app/x.cjs', at: '/srv/app/x.cjs:2:1' },
  ]);
});

t.test('attribution: the top-most frame in a klib file or package wins; uk frames and shared files do not count', async (t) => {
  const dir = t.testdir({
    app: {
      klibs: { 'one.mjs': '', 'two.mjs': '', 'shared.mjs': '' },
    },
    pkgs: {
      acme: { 'package.json': '{"name":"acme"}', lib: { 'index.js': '', 'deep.js': '' } },
      other: { 'package.json': '{"name":"other"}', 'a.mjs': '', 'b.mjs': '' },
    },
  });
  const guard = new KlibGuard();
  const one = identity('one');
  const two = identity('two');
  const acme = identity('acme');
  const a = identity('a');
  const b = identity('b');
  guard.claimFile(one, join(dir, 'app/klibs/one.mjs'));
  guard.claimFile(two, join(dir, 'app/klibs/two.mjs'));
  guard.claimFile(acme, join(dir, 'pkgs/acme/lib/index.js'));
  guard.claimFile(a, join(dir, 'pkgs/other/a.mjs'));
  guard.claimFile(b, join(dir, 'pkgs/other/b.mjs'));
  const ukFile = fileURLToPath(new URL('../src/console.ts', import.meta.url));
  const frames = (...files: string[]) => ['Error: x', ...files.map((f, i) => `    at f${i} (file://${f}:${i + 1}:1)`)].join('\n');

  t.equal(guard.fromStack(frames(join(dir, 'app/klibs/two.mjs')))?.identity, two);
  t.equal(guard.fromStack(frames(ukFile, join(dir, 'app/klibs/one.mjs')))?.identity, one, 'frames in uk itself are passed over');
  t.equal(guard.fromStack(frames(ukFile, join(dir, 'app/klibs/one.mjs')))?.at, `${join(dir, 'app/klibs/one.mjs')}:2:1`);
  t.equal(
    guard.fromStack(frames(join(dir, 'pkgs/acme/lib/deep.js'), join(dir, 'app/klibs/one.mjs')))?.identity,
    acme,
    "a file of a klib's own package is the klib's",
  );
  t.equal(guard.fromStack(frames(join(dir, 'app/klibs/shared.mjs')))?.identity, undefined, 'a file next to a klib file is no klib file');
  t.equal(guard.fromStack(frames(join(dir, 'pkgs/other/a.mjs')))?.identity, a, 'the module file itself is exact');
  t.equal(
    guard.fromStack(frames(join(dir, 'pkgs/other/c.mjs'), join(dir, 'pkgs/other/b.mjs')))?.identity,
    b,
    'a file two klibs share a package with names neither; the next frame decides',
  );
  t.equal(guard.fromStack(frames(ukFile)), undefined);
  t.equal(guard.fromStack(undefined), undefined);
  // Without a stack, the klib whose code started the work.
  t.equal(guard.attribute('a string'), undefined);
  t.equal(guard.run(two, () => guard.attribute('a string'))?.identity, two);
  t.equal(guard.run(two, () => guard.attribute(new Error('made in a test')))?.identity, two, 'a stack naming no klib falls back to the context');
  const later = await guard.run(one, () => new Promise<KlibIdentity | undefined>((resolve) => setTimeout(() => resolve(guard.current()), 1)));
  t.equal(later, one, "a klib's timers run in its context");
  t.equal(guard.current(), undefined);
});

t.test('uk itself is never taken for a klib, even when a klib sits in the package that holds uk', async (t) => {
  // A klib file inside uk's own package (as these tests' fixtures are): only the file is claimed.
  const guard = new KlibGuard();
  const file = fileURLToPath(new URL('./fixtures/klibs/alpha.mjs', import.meta.url));
  const alpha = identity('alpha');
  guard.claimFile(alpha, file);
  const ukFile = fileURLToPath(new URL('../src/kernel.ts', import.meta.url));
  const neighbour = fileURLToPath(new URL('./fixtures/klibs/beta.mjs', import.meta.url));
  t.equal(guard.fromStack(`Error\n    at x (${ukFile}:1:1)\n    at y (${neighbour}:1:1)`), undefined);
  t.equal(guard.fromStack(`Error\n    at y (${file}:7:3)`)?.identity, alpha);
});

t.test("the kernel: a driver attached in init belongs to its klib, and the klib's own messages stay out of it", async (t) => {
  const dir = t.testdir({
    'chatty.mjs': `
import { defineKlib } from '@uk/core';
export default defineKlib({
  name: 'chatty',
  whenUnconfigured: 'init',
  init(ctx) {
    const seen = (globalThis.__chattySeen = []);
    // Attached from a timer the klib started: still the klib's.
    return new Promise((resolve) => setTimeout(() => {
      ctx.console.attach({
        name: 'chatty',
        write(record) {
          seen.push(record.text);
          if (record.text === 'fail') ctx.log.warn('send failed, retrying in 1.0 s');
        },
      });
      resolve();
    }, 1));
  },
});
`,
  });
  const { kernel } = testKernel({ Klibs: ['./chatty.mjs'], ManifestPassthrough: { consoles: ['-serial'] } }, { baseDir: dir });
  const other = memoryDriver('other');
  kernel.console.attach(other);
  const report = await kernel.boot();
  t.same(
    report.klibs.map((k) => `${k.name}:${k.status}`),
    ['chatty:loaded'],
  );
  t.same(kernel.console.driversOf('chatty'), ['chatty']);
  t.same(kernel.console.driversOf('other'), []);
  kernel.console.write({ text: 'fail', time: 1, source: 'stdout' });
  kernel.log.warn('a kernel message');
  const seen = (globalThis as { __chattySeen?: string[] }).__chattySeen;
  t.same(seen, ['fail', 'uk: a kernel message'], "the klib's driver does not get the klib's own message");
  // chatty is first in the list (attached last): its message reaches other before the line that caused it.
  t.same(
    other.records.map((r) => r.text),
    ['uk: chatty: send failed, retrying in 1.0 s', 'fail', 'uk: a kernel message'],
    'the other drivers do',
  );
});

t.test('installed in a process: failures no klib can be blamed for are reported once, then summed up; uk code exits normally', async (t) => {
  const dir = t.testdir({});
  mkdirSync(join(dir, 'x'));
  const guardModule = new URL('../dist/klib-guard.js', import.meta.url).href;
  const script = join(dir, 'x', 'main.mjs');
  writeFileSync(
    script,
    `
import { klibGuard } from '${guardModule}';
klibGuard.install();
setTimeout(() => {
  setImmediate(() => {
    Promise.reject(new Error('second, counted'));
    setImmediate(() => process.stdout.write('still running\\n'));
  });
  throw new Error('nobody owns this');
}, 0);
`,
  );
  const child = spawn(process.execPath, [script], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  t.equal(code, 0, 'the process ends normally (nothing keeps it alive)');
  t.equal(out, 'still running\n');
  const lines = err.split('\n');
  t.equal(
    lines[0],
    'uk: uncaught exception that no klib can be blamed for: nobody owns this; uk keeps running (if the stack below is in uk, please report it; if it is in a klib, report it to its author)',
  );
  t.match(lines[1], /^Error: nobody owns this$/);
  t.match(err, /main\.mjs:\d+:\d+/, 'with its stack, to find the culprit');
  t.notMatch(err, /second, counted/, 'the second failure within 10 s is only counted');
});

t.test('a Batcher\'s own "send failed, retrying" does not join the queue of the driver that failed', async (t) => {
  const dir = t.testdir({
    'shipper.mjs': `
import { Batcher, defineKlib } from '@uk/core';
export default defineKlib({
  name: 'shipper',
  whenUnconfigured: 'init',
  init(ctx) {
    const attempts = (globalThis.__shipperAttempts = []);
    const batcher = new Batcher({
      name: ctx.name, heap: ctx.heaps.create(ctx.name, 1024 * 1024), timers: ctx.timers, log: ctx.log,
      sizeOf: (record) => Buffer.byteLength(record.text) + 26,
      maxBatchItems: 100, maxBatchBytes: 65536, flushIntervalMs: 1000,
      backoff: { initial: 1000, max: 1000 },
      send: async (batch) => {
        attempts.push(batch.map((r) => r.text));
        if (attempts.length === 1) throw new Error('503 Service Unavailable');
      },
      counters: { sent: ctx.counter('sent'), dropped: ctx.counter('dropped'), retries: ctx.counter('retries') },
    });
    ctx.console.attach({ name: ctx.name, write: (record) => void batcher.push(record), flush: () => batcher.flush() });
  },
});
`,
  });
  const { kernel, clock } = testKernel({ Klibs: ['./shipper.mjs'], ManifestPassthrough: { consoles: ['-serial'] } }, { baseDir: dir });
  const other = memoryDriver('other');
  kernel.console.attach(other);
  await kernel.boot();
  kernel.console.write({ text: 'line 1', time: clock.now(), source: 'stdout' });
  kernel.console.write({ text: 'line 2', time: clock.now(), source: 'stdout' });
  const attempts = () => (globalThis as { __shipperAttempts?: string[][] }).__shipperAttempts ?? [];
  for (let i = 0; i < 10 && attempts().length < 2; i++) await clock.advanceAsync(1000);
  t.same(
    attempts(),
    [
      ['line 1', 'line 2'],
      ['line 1', 'line 2'],
    ],
    'the retry sends the program lines only',
  );
  await clock.advanceAsync(5000);
  t.same(attempts().length, 2, "no batch of the klib's own messages follows (they were never queued)");
  t.same(
    other.records.map((r) => r.text),
    [
      'line 1',
      'line 2',
      'uk: shipper: send failed, retrying in 1.0 s (2 records waiting): 503 Service Unavailable',
      'uk: shipper: delivering again after 1 failed attempt(s)',
    ],
    'the other drivers get them',
  );
  t.equal(kernel.stats.snapshot().shipper?.sent, 2);
});
