/**
 * The Batcher with a real disk spool in a temporary directory: records wait on disk (not in
 * memory) through an outage and arrive in order; what one Batcher leaves, the next one delivers
 * first (replayed); the spool full drops and counts; a damaged segment keeps its good records; a
 * locked or unusable directory falls back to memory with a clear error. Every line written is
 * accounted for: sent + dropped + kept.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { Batcher } from '../src/batcher.js';
import { retry, type SendResult } from '../src/delivery.js';
import { Heap } from '../src/heap.js';
import { Stats } from '../src/stats.js';
import { ManualClock, Timers } from '../src/timers.js';
import { Spool, type WhenFull } from '../src/spool/spool.js';
import { SpoolDestinations, type BatcherSpool, type SpoolCodec } from '../src/spool/destinations.js';
import type { FsyncPolicy } from '../src/spool/segment-files.js';
import { assertUkError, thrownBy } from './helpers.js';

const codec: SpoolCodec<string> = {
  encode: (s) => Buffer.from(s, 'utf8'),
  decode: (b) => (b.toString('utf8').startsWith('line') ? b.toString('utf8') : undefined),
};

interface Run {
  readonly batcher: Batcher<string>;
  readonly clock: ManualClock;
  readonly heap: Heap;
  readonly stats: Stats;
  readonly sent: string[];
  readonly logs: string[];
  /** While true every send fails (an outage). */
  down: { value: boolean };
  readonly spool: BatcherSpool<string>;
  counter(name: string): number;
}

function start(dir: string, options: { heapBytes?: number; maxBytes?: number; whenFull?: WhenFull; fsync?: FsyncPolicy } = {}): Run {
  const clock = new ManualClock();
  const timers = new Timers(clock);
  const stats = new Stats();
  const logs: string[] = [];
  const log = {
    debug: () => {},
    info: (m: string) => logs.push(`info ${m}`),
    warn: (m: string) => logs.push(`warn ${m}`),
    error: (m: string) => logs.push(`error ${m}`),
  };
  const counter = (name: string) => stats.counter('test', name);
  const counters = {
    replayed: counter('spool_replayed'),
    kept: counter('spool_kept'),
    corruptBytes: counter('spool_corrupt_bytes'),
    fallbacks: counter('spool_fallbacks'),
  };
  const store = Spool.open(
    { dir, maxBytes: options.maxBytes ?? 1024 * 1024, fsync: options.fsync ?? 'interval', whenFull: options.whenFull ?? 'drop_oldest' },
    { log, timers, counters },
    'test',
  );
  const spool = { store, codec, counters };
  const heap = new Heap('test', options.heapBytes ?? 200);
  const sent: string[] = [];
  const down = { value: false };
  const batcher = new Batcher<string>({
    name: 'test',
    noun: 'lines',
    heap,
    timers,
    log,
    sizeOf: (s) => s.length,
    maxBatchItems: 5,
    maxBatchBytes: 1000,
    flushIntervalMs: 100,
    backoff: { initial: 100, max: 100, factor: 1 },
    send: async (batch): Promise<SendResult | void> => {
      if (down.value) return retry('destination away');
      sent.push(...batch);
    },
    counters: { sent: counter('sent'), dropped: counter('dropped'), retries: counter('retries') },
    spool,
  });
  return { batcher, clock, heap, stats, sent, logs, down, spool, counter: (name) => counter(name).value };
}

const lines = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `line ${String(from + i).padStart(5, '0')}`);
const segments = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.seg'));
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Moves the clock on until `done` holds (each step lets sends settle), at most `steps` times. */
async function until(run: Run, done: () => boolean, steps = 2000): Promise<boolean> {
  for (let i = 0; i < steps && !done(); i++) {
    await run.clock.advanceAsync(100);
    await tick();
  }
  return done();
}

/** Closes the Batcher at once (the manual clock moves past its deadline). */
async function closeNow(run: Run): Promise<void> {
  const closing = run.batcher.close({ deadline: run.clock.monotonic() });
  await run.clock.advanceAsync(1);
  await closing;
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'uk-spool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('an outage: records wait on disk, memory stays within the heap, all arrive in order once it is back', async (t) => {
  const dir = tempDir(t);
  const run = start(dir);
  run.down.value = true;
  const written = lines(0, 500);
  let peak = 0;
  for (const line of written) {
    t.ok(run.batcher.push(line) || true);
    peak = Math.max(peak, run.heap.allocated);
  }
  await until(run, () => run.counter('retries') >= 3);
  t.ok(peak <= run.heap.capacity, `memory held at most the heap (${peak} <= ${run.heap.capacity})`);
  t.ok(run.batcher.spooled > 400, `most records wait on disk only (${run.batcher.spooled})`);
  run.down.value = false;
  t.ok(await until(run, () => run.sent.length === written.length), 'everything arrived');
  t.same(run.sent, written, 'in the order written');
  t.equal(run.counter('dropped'), 0);
  await run.batcher.close(1000);
  t.same(segments(dir), [], 'every segment acknowledged and removed');
});

t.test('what one run leaves, the next delivers first, in order, counted as replayed', async (t) => {
  const dir = tempDir(t);
  const first = start(dir);
  first.down.value = true;
  for (const line of lines(0, 300)) first.batcher.push(line);
  await until(first, () => first.counter('retries') >= 1);
  const closing = first.batcher.close({ deadline: first.clock.monotonic() + 500 });
  await until(first, () => first.counter('spool_kept') > 0, 50);
  await closing;
  t.equal(first.counter('sent'), 0);
  t.equal(first.counter('dropped'), 0, 'nothing lost');
  t.equal(first.counter('spool_kept'), 300, 'all 300 kept for the next run');
  t.notOk(readdirSync(dir).includes('lock'), 'the lock was given back');

  const second = start(dir);
  for (const line of lines(300, 20)) second.batcher.push(line);
  t.ok(await until(second, () => second.sent.length === 320), 'old and new delivered');
  t.same(second.sent, lines(0, 320), 'the old records first, in order');
  t.equal(second.counter('spool_replayed'), 300);
  await second.batcher.close(1000);
  t.same(segments(dir), []);
});

t.test('a damaged segment: the good records are delivered, the bad bytes counted and reported', async (t) => {
  const dir = tempDir(t);
  const first = start(dir);
  first.down.value = true;
  for (const line of lines(0, 50)) first.batcher.push(line);
  await closeNow(first);
  const [segment] = segments(dir);
  const path = join(dir, segment as string);
  const bytes = readFileSync(path);
  // Change one byte inside the 11th record's payload (8 magic bytes, then frames of 16 + 10).
  const at = 8 + 10 * 26 + 16 + 3;
  bytes.writeUInt8((bytes[at] as number) ^ 0x20, at);
  // And cut the last record in the middle.
  writeFileSync(path, bytes.subarray(0, bytes.length - 5));
  const second = start(dir);
  t.ok(await until(second, () => second.sent.length === 48), 'the 48 good records arrive');
  t.same(
    second.sent,
    lines(0, 50).filter((_, i) => i !== 10 && i !== 49),
  );
  t.equal(second.counter('spool_corrupt_bytes'), 26 + 21, 'the damaged frame and the torn one');
  t.match(second.logs.join('\n'), /damaged bytes in 2 place\(s\)/);
  await second.batcher.close(1000);
});

t.test('the spool full: the oldest records are dropped and counted; every line is accounted for', async (t) => {
  const dir = tempDir(t);
  const run = start(dir, { maxBytes: 64 * 1024 });
  run.down.value = true;
  const written = lines(0, 5000);
  for (const line of written) run.batcher.push(line);
  await until(run, () => run.counter('retries') >= 1);
  t.ok(run.counter('dropped') > 0, `dropped ${run.counter('dropped')}`);
  t.ok(run.spool.store.bytes <= 64 * 1024, `the spool stays within its size (${run.spool.store.bytes})`);
  run.down.value = false;
  await until(run, () => run.batcher.pending === 0 && run.batcher.spooled === 0);
  t.equal(run.counter('sent') + run.counter('dropped'), written.length, 'sent + dropped = written');
  t.same(run.sent.slice(-10), written.slice(-10), 'the newest records were kept');
  t.match(run.logs.join('\n'), /spool full: the oldest records were dropped/);
  await run.batcher.close(1000);
});

t.test('the spool full with drop_newest: new records are refused and counted', async (t) => {
  const dir = tempDir(t);
  const run = start(dir, { maxBytes: 64 * 1024, whenFull: 'drop_newest' });
  run.down.value = true;
  const written = lines(0, 5000);
  for (const line of written) run.batcher.push(line);
  t.ok(run.counter('dropped') > 0);
  run.down.value = false;
  await until(run, () => run.batcher.pending === 0 && run.batcher.spooled === 0);
  t.equal(run.counter('sent') + run.counter('dropped'), written.length, 'sent + dropped = written');
  t.same(run.sent.slice(0, 10), written.slice(0, 10), 'the oldest records were kept');
  await run.batcher.close(1000);
});

t.test('a spool directory in use by a live process is refused; a dead one is taken over', async (t) => {
  const dir = tempDir(t);
  const run = start(dir);
  const err = thrownBy(() => start(dir));
  assertUkError(t, err, 'UK_ERR_SPOOL_LOCKED', `test: the spool directory ${dir} is in use by process ${process.pid}`, join(dir, 'lock'));
  await closeNow(run);
  // A pid that no longer runs: a child that has exited.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  writeFileSync(join(dir, 'lock'), `${dead}\n`);
  const taken = start(dir);
  t.equal(readFileSync(join(dir, 'lock'), 'utf8'), `${process.pid}\n`, 'the stale lock is ours now');
  await closeNow(taken);
});

t.test('an unusable directory: a clear error, and the klib goes on in memory', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'file');
  writeFileSync(file, 'x');
  const stats = new Stats();
  const logs: string[] = [];
  const destinations = new SpoolDestinations({ dir: file, maxBytes: 1024 * 1024, fsync: 'interval', whenFull: 'drop_oldest' }, dir);
  const log = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => logs.push(m) };
  const spool = destinations.open('test', undefined, 'dest', codec, { log, timers: new Timers(new ManualClock()), counter: (n) => stats.counter('test', n) });
  t.equal(spool, undefined, 'no spool');
  t.match(logs[0], /^UK_ERR_SPOOL_UNUSABLE: destination dest: the spool directory .*file\/test\/dest-[0-9a-f]{12} cannot be used \(ENOTDIR/);
  t.equal(stats.counter('test', 'spool_fallbacks').value, 1);
  if (process.getuid?.() !== 0) {
    const ro = join(dir, 'ro');
    mkdirSync(ro, { mode: 0o500 });
    chmodSync(ro, 0o500);
    const again = new SpoolDestinations({ dir: ro, maxBytes: 1024 * 1024, fsync: 'interval', whenFull: 'drop_oldest' }, dir);
    t.equal(again.open('test', undefined, 'dest', codec, { log, timers: new Timers(new ManualClock()), counter: (n) => stats.counter('test', n) }), undefined);
    t.match(logs[1], /EACCES/);
  }
});
