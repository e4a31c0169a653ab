import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ConsoleDriverList, parseConsoleToggles, type ConsoleDriver, type ConsoleRecord } from '../src/console.js';
import { KernelLog } from '../src/kernel-log.js';
import { Tuple, type Vector } from '../src/manifest.js';
import { memoryDriver, MemoryStream, testKernel } from '../src/testing.js';
import { ManualClock } from '../src/timers.js';
import { assertUkError } from './helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures/klibs/', import.meta.url));

const consoles = (...items: unknown[]): Vector => Tuple.fromJSON({ consoles: items }).vector('consoles') as Vector;
const order = (list: ConsoleDriverList) => list.describe().map((d) => `${d.enabled ? '+' : '-'}${d.name}`);
const rec = (text: string, source: ConsoleRecord['source'] = 'stdout'): ConsoleRecord => ({ text, time: 1, source });

t.test('enabled drivers attach at the front, disabled ones at the end', async (t) => {
  const list = new ConsoleDriverList();
  list.attach(memoryDriver('serial'));
  list.attach(memoryDriver('off1'), { disabled: true });
  list.attach(memoryDriver('a'));
  list.attach(memoryDriver('off2'), { disabled: true });
  list.attach(memoryDriver('b'));
  t.same(order(list), ['+b', '+a', '+serial', '-off1', '-off2']);
  t.same(
    list.enabledDrivers.map((d) => d.name),
    ['b', 'a', 'serial'],
  );
  t.same(
    list.drivers.map((d) => d.name),
    ['b', 'a', 'serial', 'off1', 'off2'],
  );
  t.throws(() => list.attach(memoryDriver('a')), new RangeError('console driver a is already attached'));
  t.equal(list.setEnabled('off1', true), true);
  t.same(order(list), ['+b', '+a', '+serial', '+off1', '-off2']);
  t.equal(list.setEnabled('b', false), true);
  t.same(order(list), ['+a', '+serial', '+off1', '-b', '-off2']);
  t.equal(list.setEnabled('nope', true), false);
});

t.test('records go to enabled record drivers in order; raw bytes to raw drivers', async (t) => {
  const list = new ConsoleDriverList();
  const seen: string[] = [];
  const raw: string[] = [];
  t.equal(list.wantsRecords, false, 'no record driver yet');
  list.attach({ name: 'raw', writeRaw: (chunk, stream) => void raw.push(`${stream}:${chunk.toString()}`) });
  t.equal(list.wantsRecords, false, 'a raw driver does not need framing');
  list.attach({ name: 'one', write: (r) => void seen.push(`one:${r.text}`) });
  list.attach({ name: 'two', write: (r) => void seen.push(`two:${r.text}`) });
  list.attach({ name: 'off', write: (r) => void seen.push(`off:${r.text}`) }, { disabled: true });
  t.equal(list.wantsRecords, true);
  list.write(rec('x'));
  t.same(seen, ['two:x', 'one:x']);
  t.equal(list.writeRaw(Buffer.from('bytes'), 'stderr'), true);
  t.same(raw, ['stderr:bytes']);
  list.setEnabled('one', false);
  list.setEnabled('two', false);
  t.equal(list.wantsRecords, false, 'framing stops when no enabled driver takes records');
});

t.test('program lines go as bytes to drivers that take them and as records to the rest', async (t) => {
  const list = new ConsoleDriverList();
  const seen: string[] = [];
  list.attach({ name: 'text', write: (r) => void seen.push(`text:${r.text}@${r.time}/${r.source}`) });
  list.attach({
    name: 'bytes',
    write: (r) => void seen.push(`bytes-record:${r.text}`),
    writeLines: (block, source) => {
      for (let i = 0; i < block.count; i++)
        seen.push(`bytes:${block.buf.subarray(block.bounds[2 * i], block.bounds[2 * i + 1]).toString('hex')}@${block.time}/${source}`);
    },
  });
  list.attach({ name: 'off', write: (r) => void seen.push(`off:${r.text}`), writeLines: () => void seen.push('off:block') }, { disabled: true });
  const buf = Buffer.from([0x61, 0x0a, 0xff, 0x0a]);
  list.writeLines({ buf, bounds: Int32Array.of(0, 1, 2, 3), count: 2, time: 9 }, 'stderr');
  t.same(
    seen,
    ['bytes:61@9/stderr', 'bytes:ff@9/stderr', 'text:a@9/stderr', 'text:\ufffd@9/stderr'],
    'bytes as written; records decoded (invalid UTF-8 as U+FFFD)',
  );
  seen.length = 0;
  list.write(rec('kernel says', 'kernel'));
  t.same(seen, ['bytes-record:kernel says', 'text:kernel says@1/kernel'], "uk's own messages reach every record driver as records");
  t.throws(
    () => list.attach({ name: 'half', writeLines: () => {} }),
    new RangeError("console driver half has writeLines but no write (uk's own messages arrive as records)"),
  );
});

t.test('writeRaw reports backpressure and drain waits for every raw driver', async (t) => {
  const list = new ConsoleDriverList();
  let release: () => void = () => {};
  const drained: string[] = [];
  list.attach({
    name: 'slow',
    writeRaw: () => false,
    drain: () =>
      new Promise<void>(
        (resolve) =>
          (release = () => {
            drained.push('slow');
            resolve();
          }),
      ),
  });
  list.attach({ name: 'fast', writeRaw: () => true });
  t.equal(list.writeRaw(Buffer.from('x'), 'stdout'), false);
  let done = false;
  const waiting = list.drain('stdout').then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(done, false);
  release();
  await waiting;
  t.same(drained, ['slow']);
});

t.test('parseConsoleToggles', async (t) => {
  const { toggles, problems } = parseConsoleToggles(consoles('-serial', '+syslog', ' +gcp ', 'cloudwatch', '+', 7, '+a b', { x: 1 }));
  t.same(
    [...toggles].map(([name, toggle]) => [name, toggle.enabled, toggle.where]),
    [
      ['serial', false, 'consoles[0]'],
      ['syslog', true, 'consoles[1]'],
      ['gcp', true, 'consoles[2]'],
    ],
  );
  t.equal(problems.length, 5);
  assertUkError(t, problems[0], 'UK_ERR_CONSOLES_ENTRY', 'consoles[3]: expected "+name" or "-name", got "cloudwatch"', 'consoles[3]');
  t.equal(problems[0]?.fix, 'write "+syslog" to enable the syslog driver or "-serial" to disable the serial one');
  assertUkError(t, problems[1], 'UK_ERR_CONSOLES_ENTRY', 'consoles[4]: expected "+name" or "-name", got "+"');
  assertUkError(t, problems[2], 'UK_ERR_CONSOLES_ENTRY', 'consoles[5]: expected "+name" or "-name", got "7"', 'consoles[5]');
  assertUkError(t, problems[3], 'UK_ERR_CONSOLES_ENTRY', 'consoles[6]: expected "+name" or "-name", got "+a b"');
  assertUkError(t, problems[4], 'UK_ERR_CONSOLES_ENTRY', 'consoles[7]: expected "+name" or "-name", got a non-string');
  const none = parseConsoleToggles(undefined);
  t.equal(none.toggles.size, 0);
  t.same(none.problems, []);
});

t.test('toggles apply to drivers attached before and after, and unused toggles are listed', async (t) => {
  const list = new ConsoleDriverList();
  list.attach(memoryDriver('serial'));
  list.attach(memoryDriver('early'), { disabled: true });
  list.setToggles(parseConsoleToggles(consoles('-serial', '+early', '+late', '-enabled-later', '+ghost')).toggles);
  t.same(order(list), ['+early', '-serial']);
  list.attach(memoryDriver('late'), { disabled: true });
  list.attach(memoryDriver('enabled-later'));
  list.attach(memoryDriver('free'));
  t.same(order(list), ['+free', '+late', '+early', '-serial', '-enabled-later']);
  t.same(list.unusedToggles(), [{ name: 'ghost', where: 'consoles[4]' }]);
});

t.test('kernel boot: consoles toggles, driver order, malformed entries and unknown names', async (t) => {
  const { kernel, stderr, stdout } = testKernel(
    { Klibs: ['./memdrv.mjs'], ManifestPassthrough: { memdrv: { disabled: true }, consoles: ['-serial', '+memdrv', '+nosuch', 'bad'] } },
    { baseDir: fixtures },
  );
  const report = await kernel.boot();
  t.same(
    report.klibs.map((k) => `${k.name}:${k.status}`),
    ['memdrv:loaded'],
  );
  t.same(order(kernel.console), ['+memdrv', '-serial'], 'memdrv attached disabled but enabled by consoles; serial disabled');
  t.same(
    report.problems.map((p) => [p.code, p.message]),
    [['UK_ERR_CONSOLES_ENTRY', 'consoles[3]: expected "+name" or "-name", got "bad"']],
  );
  t.equal(
    stderr.text,
    'uk: consoles[2]: no console driver named "nosuch" (attached: memdrv, serial)\n' +
      'uk: UK_ERR_CONSOLES_ENTRY: consoles[3]: expected "+name" or "-name", got "bad" (write "+syslog" to enable the syslog driver or "-serial" to disable the serial one)\n',
  );
  t.equal(kernel.log.counts.warn, 1, 'an unknown name is a warning');
  t.equal(kernel.log.counts.error, 1);
  const memdrv = kernel.console.drivers.find((d) => d.name === 'memdrv') as ConsoleDriver & { records: ConsoleRecord[] };
  t.same(
    memdrv.records.map((r) => [r.source, r.text]),
    [
      ['kernel', 'uk: consoles[2]: no console driver named "nosuch" (attached: memdrv, serial)'],
      [
        'kernel',
        'uk: UK_ERR_CONSOLES_ENTRY: consoles[3]: expected "+name" or "-name", got "bad" (write "+syslog" to enable the syslog driver or "-serial" to disable the serial one)',
      ],
    ],
  );
  kernel.console.writeRaw(Buffer.from('program output\n'), 'stdout');
  t.equal(stdout.text, '', 'serial is off');

  const bad = testKernel({ ManifestPassthrough: { consoles: '+syslog' } });
  const badReport = await bad.kernel.boot();
  t.same(
    badReport.problems.map((p) => [p.code, p.message]),
    [['UK_ERR_MANIFEST_VALUE', 'consoles: expected a vector (JSON array), got "+syslog"']],
  );
});

t.test('the serial driver passes bytes through unchanged and is on by default', async (t) => {
  const { kernel, stdout, stderr } = testKernel({});
  await kernel.boot();
  t.same(order(kernel.console), ['+serial']);
  const bytes = Buffer.from([0xff, 0xfe, 0x41, 0x0a, 0xc3]);
  t.equal(kernel.console.writeRaw(bytes, 'stdout'), true);
  kernel.console.writeRaw(Buffer.from('err\n'), 'stderr');
  t.same(Buffer.concat(stdout.chunks), bytes);
  t.equal(stderr.text, 'err\n');
  await kernel.console.drain('stdout');
  const report = await kernel.stop(1000);
  t.same(report.unfinished, []);
});

t.test('a driver that throws is reported through the kernel log and never gets its own error record', async (t) => {
  const { kernel, stderr } = testKernel({ ManifestPassthrough: { consoles: ['-serial'] } });
  await kernel.boot();
  const calls: string[] = [];
  const bad: ConsoleDriver = {
    name: 'bad',
    write: (r) => {
      calls.push(`${r.source}:${r.text}`);
      throw new Error('disk full');
    },
  };
  const good = memoryDriver('good');
  kernel.console.attach(good);
  kernel.console.attach(bad);
  kernel.console.write(rec('hello'));
  t.same(calls, ['stdout:hello'], 'the failing driver saw only the program record');
  const first = 'uk: console driver bad failed: disk full (further failures are counted and reported at most every 10 s)';
  // bad was attached last, so it is first in the list: its failure reaches good before the record does.
  t.same(
    good.records.map((r) => [r.source, r.text]),
    [
      ['kernel', first],
      ['stdout', 'hello'],
    ],
  );
  t.equal(stderr.text, `${first}\n`);
  // A kernel message while bad keeps failing: bad's second failure is counted, not reported (no flood, no loop).
  kernel.log.info('something happened');
  t.same(calls, ['stdout:hello', 'kernel:uk: something happened']);
  t.same(
    good.records.map((r) => r.text),
    [first, 'hello', 'uk: something happened'],
  );
  t.equal(stderr.text, `${first}\nuk: something happened\n`);
  t.equal(kernel.log.counts.error, 1);
  t.same(
    kernel.stats.snapshot().console,
    { driver_failures: 2, drivers_disabled: 0, 'bad.failed': 1 },
    'the program line it failed on is counted; a kernel message is not',
  );

  // A raw driver that throws is reported the same way and the others still get the bytes.
  const raw: string[] = [];
  kernel.console.attach({ name: 'raw-ok', writeRaw: (c) => void raw.push(c.toString()) });
  kernel.console.attach({
    name: 'raw-bad',
    writeRaw: () => {
      throw new Error('EPIPE');
    },
  });
  t.equal(kernel.console.writeRaw(Buffer.from('x'), 'stdout'), true);
  t.same(raw, ['x']);
  // The report of raw-bad reaches the record drivers; bad fails on it again, counted quietly.
  t.match(stderr.text, /\nuk: console driver raw-bad failed: EPIPE \(further failures are counted and reported at most every 10 s\)\n$/);
  t.match(good.records.at(-1)?.text, /^uk: console driver raw-bad failed: EPIPE/);
  t.equal(kernel.stats.snapshot().console?.['raw-bad.failed_bytes'], 1);
});

t.test('kernel messages reach record drivers with source kernel', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 4, 1, 12, 0, 0));
  const list = new ConsoleDriverList();
  const stderr = new MemoryStream();
  const log = new KernelLog(list, clock, (text) => void stderr.write(text));
  const mem = memoryDriver();
  list.attach(mem);
  clock.advance(250);
  log.info('two\nlines');
  log.warn('careful');
  log.error('broken');
  log.debug('hidden');
  t.same(mem.records, [
    { text: 'uk: two', time: Date.UTC(2026, 4, 1, 12, 0, 0) + 250, source: 'kernel' },
    { text: 'lines', time: Date.UTC(2026, 4, 1, 12, 0, 0) + 250, source: 'kernel' },
    { text: 'uk: careful', time: Date.UTC(2026, 4, 1, 12, 0, 0) + 250, source: 'kernel' },
    { text: 'uk: broken', time: Date.UTC(2026, 4, 1, 12, 0, 0) + 250, source: 'kernel' },
  ]);
  t.same(log.counts, { debug: 0, info: 1, warn: 1, error: 1 });
  log.verbose = true;
  log.debug('shown');
  t.equal(stderr.text, 'uk: two\nlines\nuk: careful\nuk: broken\nuk: shown\n');
  t.equal(mem.records.length, 4, 'debug goes to stderr only');
  t.same(log.counts, { debug: 1, info: 1, warn: 1, error: 1 });
  // A klib's log is prefixed with its name.
  const { kernel } = testKernel({ Klibs: ['./shutdown-hooks.mjs'], ManifestPassthrough: { consoles: ['-serial'] } }, { baseDir: fixtures });
  const mem2 = memoryDriver();
  kernel.console.attach(mem2);
  await kernel.boot();
  t.same(
    mem2.records.map((r) => [r.source, r.text]),
    [['kernel', 'uk: shutdown-hooks: started']],
  );
});
