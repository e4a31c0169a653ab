/**
 * A console driver that throws: its failures are reported without flooding (the first at once,
 * then a summary at most every 10 s), it is disabled after 100 failed calls in a row or 1,000 in
 * all with one message, and what it did not take is counted so that for every driver the program
 * lines written are those it stored plus those counted.
 */
import t from 'tap';
import { ConsoleDriverList, type ConsoleDriver, type ConsoleRecord } from '../src/console.js';
import { FailureTally } from '../src/failure-tally.js';
import type { LineBlock } from '../src/line-framer.js';
import { Stats } from '../src/stats.js';
import { memoryDriver } from '../src/testing.js';
import { ManualClock } from '../src/timers.js';

const rec = (text: string, source: ConsoleRecord['source'] = 'stdout'): ConsoleRecord => ({ text, time: 1, source });

/** A block of `count` lines `line N` (numbered from `first`). */
function block(count: number, first = 1): LineBlock {
  const lines = Array.from({ length: count }, (_, i) => `line ${first + i}`);
  const buf = Buffer.from(lines.map((l) => `${l}\n`).join(''));
  const bounds = new Int32Array(2 * count);
  let at = 0;
  lines.forEach((l, i) => {
    bounds[2 * i] = at;
    bounds[2 * i + 1] = at + Buffer.byteLength(l);
    at += Buffer.byteLength(l) + 1;
  });
  return { buf, bounds, count, time: 5 };
}

function setup(policy: { maxFailuresInARow?: number; maxFailures?: number; summaryIntervalMs?: number } = {}) {
  const clock = new ManualClock();
  const stats = new Stats();
  const list = new ConsoleDriverList({ stats, monotonic: () => clock.monotonic(), failurePolicy: policy });
  const reports: string[] = [];
  list.report = (driver, message) => void reports.push(`${driver.name}: ${message}`);
  return { clock, stats, list, reports, counters: () => stats.snapshot().console ?? {} };
}

/** A record driver that throws while `failing()` says so, and keeps the records it took. */
function flaky(name: string, failing: (text: string) => boolean): ConsoleDriver & { kept: string[]; calls: number } {
  const driver = {
    name,
    kept: [] as string[],
    calls: 0,
    write(record: ConsoleRecord) {
      driver.calls++;
      if (failing(record.text)) throw new Error(`${name} cannot write "${record.text}"`);
      driver.kept.push(record.text);
    },
  };
  return driver;
}

t.test('FailureTally: the first failure at once, then one summary per interval', async (t) => {
  const tally = new FailureTally(10_000);
  t.same(tally.fail('a', 0), { kind: 'first', reason: 'a' });
  t.equal(tally.fail('b', 1), undefined);
  t.equal(tally.fail('c', 9_999), undefined);
  t.same(tally.fail('d', 10_000), { kind: 'summary', count: 3, seconds: 10, reason: 'd' });
  t.equal(tally.fail('e', 10_001), undefined);
  t.same(tally.takeUnreported(12_500), { kind: 'summary', count: 1, seconds: 2.5, reason: 'e' });
  t.equal(tally.takeUnreported(13_000), undefined, 'nothing left to report');
  t.equal(tally.total, 5);
  t.equal(tally.streak, 5);
  tally.succeed();
  t.equal(tally.streak, 0);
  t.equal(tally.total, 5);
});

t.test('a driver failing on every line: one report, then disabled with one message; every line is counted', async (t) => {
  const { list, reports, counters } = setup();
  const bad = flaky('bad', () => true);
  const good = memoryDriver('good');
  list.attach(good);
  list.attach(bad);
  const lines = 20_000;
  for (let first = 1; first <= lines; first += 1000) list.writeLines(block(1000, first), 'stdout');
  t.equal(bad.calls, 100, 'the driver is called until it has failed 100 times in a row');
  t.same(reports, [
    'bad: console driver bad failed: bad cannot write "line 1" (further failures are counted and reported at most every 10 s)',
    'bad: console driver bad disabled: 100 calls in a row failed (100 in all; last: bad cannot write "line 100"); the program lines it would have received are counted as dropped (console: bad.dropped) (a driver\'s write must not throw: fix or remove the klib that attached it)',
  ]);
  t.equal(good.records.length, lines, 'the other driver got every line');
  t.equal(good.records.at(-1)?.text, `line ${lines}`);
  t.same(counters(), { driver_failures: 100, drivers_disabled: 1, 'bad.failed': 100, 'bad.dropped': lines - 100 });
  t.equal(counters()['bad.failed']! + counters()['bad.dropped']! + bad.kept.length, lines, 'written = stored + counted');
  t.same(list.describe(), [
    { name: 'good', enabled: true },
    { name: 'bad', enabled: false },
  ]);
  t.equal(list.setEnabled('bad', true), false, 'a driver disabled for failing stays disabled');
  list.write(rec('uk: a kernel message', 'kernel'));
  t.equal(bad.calls, 100, 'it gets no kernel messages either');
  t.equal(counters()['bad.dropped'], lines - 100, 'kernel messages are not program lines');
});

t.test('a success resets the run; 1,000 failures in all disable a driver that fails every other call', async (t) => {
  const { list, reports, counters, clock } = setup();
  let n = 0;
  const half = flaky('half', () => n++ % 2 === 0);
  list.attach(half);
  for (let i = 0; i < 300; i++) list.write(rec(`r${i}`));
  t.equal(reports.length, 1, 'only the first failure is reported within 10 s');
  t.same(counters(), { driver_failures: 150, drivers_disabled: 0, 'half.failed': 150 });
  clock.advance(10_000);
  list.write(rec('r300'));
  t.same(
    reports.slice(1),
    ['half: console driver half failed 150 more times in the last 10.0 s (last: half cannot write "r300")'],
    'a summary once 10 s have passed',
  );
  for (let i = 301; i < 2000; i++) list.write(rec(`r${i}`));
  t.equal(counters()['half.failed'], 1000);
  t.match(reports.at(-1), /^half: console driver half disabled: 1000 calls failed \(1000 in all; last: half cannot write "r1998"\)/);
  t.equal(reports.length, 3);
  t.equal(half.kept.length + counters()['half.failed']! + counters()['half.dropped']!, 2000, 'written = stored + counted');
});

t.test('a driver disabled in the middle of a block: the rest of the block is counted as dropped', async (t) => {
  const { list, counters } = setup({ maxFailuresInARow: 3 });
  const bad = flaky('bad', (text) => text !== 'line 1');
  list.attach(bad);
  list.writeLines(block(10), 'stderr');
  t.same(bad.kept, ['line 1']);
  t.equal(bad.calls, 4);
  t.same(counters(), { driver_failures: 3, drivers_disabled: 1, 'bad.failed': 3, 'bad.dropped': 6 });
  t.equal(list.wantsRecords, true, 'lines are still framed, so that what the disabled driver misses is counted');
  list.writeLines(block(5), 'stdout');
  t.equal(counters()['bad.dropped'], 11);
});

t.test('writeLines, writeRaw, shouldPause and drain failures are failures too', async (t) => {
  const { list, reports, counters } = setup({ maxFailuresInARow: 2 });
  list.attach({
    name: 'lines',
    write: () => {},
    writeLines: () => {
      throw new Error('encoder broke');
    },
  });
  list.writeLines(block(7), 'stdout');
  t.same(counters(), { driver_failures: 1, drivers_disabled: 0, 'lines.failed': 7 }, 'every line of a failed block is counted');
  list.writeLines(block(3), 'stdout');
  t.same(counters(), { driver_failures: 2, drivers_disabled: 1, 'lines.failed': 10 });
  list.writeLines(block(4), 'stdout');
  t.equal(counters()['lines.dropped'], 4);

  list.attach({
    name: 'raw',
    writeRaw: () => {
      throw new Error('EPIPE');
    },
  });
  t.equal(list.writeRaw(Buffer.from('abc'), 'stdout'), true);
  t.equal(list.writeRaw(Buffer.from('defg'), 'stdout'), true);
  t.equal(list.writeRaw(Buffer.from('hi'), 'stdout'), true);
  t.equal(counters()['raw.failed_bytes'], 7);
  t.equal(counters()['raw.dropped_bytes'], 2, 'a disabled raw driver: bytes counted');

  list.attach({
    name: 'pauser',
    write: () => {},
    shouldPause: () => {
      throw new Error('bad mark');
    },
  });
  t.equal(list.wantsPause(), false, 'a throwing shouldPause does not pause the program');
  t.match(reports.at(-1), /^pauser: console driver pauser failed: bad mark/);

  const drains = setup();
  drains.list.attach({
    name: 'sync-throw',
    writeRaw: () => false,
    drain: () => {
      throw new Error('no drain');
    },
  });
  drains.list.attach({ name: 'rejects', writeRaw: () => false, drain: () => Promise.reject(new Error('drain rejected')) });
  await drains.list.drain('stdout');
  t.same(
    drains.reports.map((r) => r.replace(/ \(further.*$/, '')),
    ['sync-throw: console driver sync-throw failed: no drain', 'rejects: console driver rejects failed: drain rejected'],
    'the reader is not held by a failing drain',
  );
});

t.test('a drain waiting on a driver ends when the driver is disabled', async (t) => {
  const { list } = setup();
  list.attach({ name: 'stuck', writeRaw: () => false, drain: () => new Promise<void>(() => {}) });
  t.equal(list.writeRaw(Buffer.from('x'), 'stdout'), false);
  let done = false;
  const waiting = list.drain('stdout').then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(done, false, 'still waiting for the driver');
  list.setEnabled('stuck', false);
  await waiting;
  t.equal(done, true);
});

t.test("disableOwner: a failed klib's drivers, now and attached later, get nothing; kernel messages can skip an owner", async (t) => {
  const { list, counters } = setup();
  const mine = memoryDriver('mine');
  const other = memoryDriver('other');
  const off = memoryDriver('off');
  list.attach(mine, { owner: 'k' });
  list.attach(off, { owner: 'k', disabled: true });
  list.attach(other, { owner: 'j' });
  list.write(rec('uk: k: retrying', 'kernel'), { owner: 'k' });
  t.same(mine.records, [], "a klib's own message does not go into its own driver");
  t.same(
    other.records.map((r) => r.text),
    ['uk: k: retrying'],
  );
  t.same(list.driversOf('k'), ['mine', 'off']);
  t.same(list.disableOwner('k'), ['mine'], 'only enabled drivers are disabled (and counted)');
  list.ownerNow = () => 'k';
  const late = memoryDriver('late');
  list.attach(late);
  t.same(
    list.describe().map((d) => `${d.enabled ? '+' : '-'}${d.name}`),
    ['+other', '-mine', '-off', '-late'],
  );
  list.writeLines(block(3), 'stdout');
  t.equal(mine.records.length + late.records.length, 0, 'nothing reached them');
  t.same(counters(), { driver_failures: 0, drivers_disabled: 2, 'mine.dropped': 3, 'late.dropped': 3 });
  t.equal(other.records.length, 4);
});

t.test('failures not reported yet are summed up when uk stops', async (t) => {
  const { list, reports, clock } = setup();
  list.attach(flaky('bad', (text) => text.startsWith('x')));
  list.write(rec('x1'));
  list.write(rec('ok'));
  list.write(rec('x2'));
  list.write(rec('x3'));
  clock.advance(2500);
  list.reportPendingFailures();
  t.same(reports.slice(1), ['bad: console driver bad failed 2 more times in the last 2.5 s (last: bad cannot write "x3")']);
  list.reportPendingFailures();
  t.equal(reports.length, 2, 'each failure is reported once');
});
