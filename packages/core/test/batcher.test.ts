import t from 'tap';
import { Batcher, DELIVERY_BACKOFF, type BatcherOptions } from '../src/batcher.js';
import { drop, retry, type SendResult } from '../src/delivery.js';
import { Heap } from '../src/heap.js';
import { Stats } from '../src/stats.js';
import { ManualClock, Timers } from '../src/timers.js';

interface Setup {
  readonly batcher: Batcher<string>;
  readonly clock: ManualClock;
  readonly sent: string[][];
  readonly logs: string[];
  readonly stats: Stats;
  readonly heap: Heap;
  /** Controls the next sends: resolve, reject, or leave pending. */
  readonly script: ((batch: string[]) => Promise<unknown>)[];
}

function setup(overrides: Partial<BatcherOptions<string>> = {}, heapBytes = 1000): Setup {
  const clock = new ManualClock();
  const timers = new Timers(clock);
  const stats = new Stats();
  const logs: string[] = [];
  const sent: string[][] = [];
  const script: ((batch: string[]) => Promise<unknown>)[] = [];
  const heap = new Heap('test', heapBytes);
  const log = {
    debug: () => {},
    info: (m: string) => logs.push(`info ${m}`),
    warn: (m: string) => logs.push(`warn ${m}`),
    error: (m: string) => logs.push(`error ${m}`),
  };
  const batcher = new Batcher<string>({
    name: 'test',
    noun: 'lines',
    heap,
    timers,
    log,
    sizeOf: (s) => s.length,
    maxBatchItems: 3,
    maxBatchBytes: 100,
    flushIntervalMs: 1000,
    send: async (batch) => {
      const step = script.shift();
      const result = step ? await step(batch) : undefined;
      // A step may answer with a result; anything but delivered means the batch was not stored.
      if (isResult(result) && result.outcome !== 'delivered') return result;
      sent.push([...batch]);
      return isResult(result) ? result : undefined;
    },
    backoff: { initial: 1000, max: 8000, factor: 2 },
    counters: {
      sent: stats.counter('test', 'sent'),
      dropped: stats.counter('test', 'dropped'),
      retries: stats.counter('test', 'retries'),
      rejected: stats.counter('test', 'rejected'),
    },
    ...overrides,
  });
  return { batcher, clock, sent, logs, stats, heap, script };
}

function isResult(value: unknown): value is SendResult {
  return typeof value === 'object' && value !== null && 'outcome' in value;
}

const counters = (s: Setup) => s.stats.snapshot().test as Record<string, number>;

t.test('a batch leaves when full, or flushIntervalMs after its first record', async (t) => {
  const s = setup();
  s.batcher.push('a');
  s.batcher.push('b');
  await s.clock.advanceAsync(999);
  t.same(s.sent, [], 'not yet: interval not over, batch not full');
  await s.clock.advanceAsync(1);
  t.same(s.sent, [['a', 'b']], 'sent at the interval');
  s.batcher.push('c');
  s.batcher.push('d');
  s.batcher.push('e');
  await s.clock.advanceAsync(0);
  t.same(s.sent[1], ['c', 'd', 'e'], 'a full batch (3 items) leaves at once');
  t.equal(counters(s).sent, 5);
  t.equal(s.heap.allocated, 0, 'heap given back after sending');
});

t.test('batches respect the byte limit with the per-item overhead, and canJoin', async (t) => {
  const s = setup({
    maxBatchItems: 100,
    maxBatchBytes: 30,
    itemOverheadBytes: 5,
    canJoin: (batch, next) => !(batch[0]!.startsWith('x') && !next.startsWith('x')),
  });
  for (const item of ['xaaaaaaaa', 'xbbbbbbbb', 'ycccccccc', 'ydddddddd']) s.batcher.push(item);
  await s.batcher.flush();
  t.same(
    s.sent,
    [
      ['xaaaaaaaa', 'xbbbbbbbb'],
      ['ycccccccc', 'ydddddddd'],
    ],
    '2 × (9+5) = 28 ≤ 30, a third would be 42; canJoin splits x from y',
  );
});

t.test('a failed send is retried with backoff, keeping order and losing nothing', async (t) => {
  const s = setup();
  s.script.push(
    () => Promise.reject(new Error('ECONNRESET')),
    () => Promise.reject(new Error('ECONNRESET')),
  );
  s.batcher.push('1');
  s.batcher.push('2');
  await s.clock.advanceAsync(1000);
  t.same(s.sent, [], 'first attempt failed');
  s.batcher.push('3');
  await s.clock.advanceAsync(1000);
  t.same(s.sent, [], 'second attempt (after 1 s) failed too');
  await s.clock.advanceAsync(1999);
  t.same(s.sent, [], 'backoff doubled to 2 s');
  await s.clock.advanceAsync(1);
  t.same(s.sent.flat(), ['1', '2', '3'], 'all delivered in order');
  t.equal(counters(s).retries, 2);
  t.equal(counters(s).dropped, 0);
  t.equal(s.logs.filter((l) => l.includes('ECONNRESET')).length, 1, 'the same error is reported once, not per retry');
  t.match(s.logs.join('\n'), /delivering again after 2 failed attempt/);
});

t.test('a drop result drops the batch and counts it once, as dropped', async (t) => {
  const s = setup();
  s.script.push(() => Promise.resolve(drop('InvalidParameterException')));
  s.batcher.push('bad');
  s.batcher.push('ok');
  await s.batcher.flush();
  t.same(s.sent, [], 'the refused batch is not resent');
  t.equal(counters(s).dropped, 2);
  t.match(s.logs.join('\n'), /error dropped 2 lines \(refused: InvalidParameterException; 2 dropped in all\)/);
});

t.test('a full heap drops new records, counts them and reports once per interval', async (t) => {
  const s = setup({ maxBatchItems: 1000, maxBatchBytes: 100_000, dropReportIntervalMs: 10_000 }, 10);
  for (let i = 0; i < 8; i++) s.batcher.push('abcd');
  t.equal(s.heap.allocated, 8, 'two records of 4 bytes fit in 10');
  t.equal(counters(s).dropped, 6);
  t.equal(s.heap.stats().failures, 6, 'the heap counted the refused allocations');
  t.equal(s.logs.filter((l) => l.startsWith('error dropped')).length, 1, 'one report for a burst');
  t.match(s.logs[0], /dropped 1 lines \(buffer full: 10 bytes; 1 dropped in all\)/);
  await s.clock.advanceAsync(10_000);
  t.match(s.logs.at(-1), /dropped 5 lines \(buffer full: 10 bytes; 6 dropped in all\)/, 'the rest summed into the next report');
});

t.test('close() flushes within the deadline, then gives up, counts and releases flush()', async (t) => {
  const s = setup();
  s.script.push(() => new Promise(() => {})); // a send that never answers
  s.batcher.push('x');
  s.batcher.push('y');
  const flushed = s.batcher.flush();
  const closed = s.batcher.close(500);
  await s.clock.advanceAsync(500);
  await closed;
  await flushed;
  t.equal(counters(s).dropped, 2, 'what could not be sent is counted as dropped (no unconfirmed counter here)');
  t.equal(s.heap.allocated, 0, 'memory given back');
  t.match(s.logs.join('\n'), /shutdown deadline passed: dropped 2 lines that could not be sent/);
  t.notMatch(s.logs.join('\n'), /unconfirmed/);
  t.equal(s.batcher.push('late'), false, 'no records after close');
  t.equal(counters(s).dropped, 3);
});

t.test('countOf: an item that stands for several records counts as them everywhere', async (t) => {
  // An item "3:abc" stands for 3 records; maxBatchItems is 5 records.
  const countOf = (item: string) => Number(item.split(':')[0]);
  const s = setup({ countOf, maxBatchItems: 5 });
  s.batcher.push('2:a');
  s.batcher.push('2:b');
  t.equal(s.batcher.pending, 4, 'pending counts records');
  t.same(s.sent, [], 'four records are not a full batch of five');
  s.batcher.push('2:c');
  await s.clock.advanceAsync(0);
  t.same(s.sent, [['2:a', '2:b']], 'a batch stops before the item that would pass five records');
  await s.batcher.flush();
  t.same(s.sent.at(-1), ['2:c']);
  t.equal(counters(s).sent, 6, 'sent counts records');
  s.script.push(() => Promise.resolve(drop('refused')));
  s.batcher.push('3:d');
  await s.batcher.flush();
  t.equal(counters(s).dropped, 3, 'a refused item drops the records it stands for');
  t.match(s.logs.join('\n'), /error dropped 3 lines \(refused: refused; 3 dropped in all\)/);
  const full = setup({ countOf, maxBatchItems: 5 }, 6);
  full.batcher.push('1:abc');
  t.equal(full.batcher.push('4:abc'), false, 'no room in the heap');
  t.equal(counters(full).dropped, 4, 'a dropped item counts its records');
  s.script.push(() => new Promise(() => {}));
  s.batcher.push('4:e');
  const closed = s.batcher.close(100);
  await s.clock.advanceAsync(100);
  await closed;
  t.equal(counters(s).dropped, 7, 'left at the deadline: counted as its records');
  t.equal(s.batcher.pending, 0);
});

/** A send that waits until the test settles it. */
function controlled() {
  let settle!: (err?: Error) => void;
  const promise = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
  return { step: () => promise, settle };
}

t.test('maxInFlight and canOverlap: later batches go while earlier ones are in flight, and leave in order', async (t) => {
  const started: string[][] = [];
  // Records are "time:name"; a batch may overlap the one before only if all its times are later.
  const time = (r: string) => Number(r.split(':')[0]);
  const s = setup({
    maxInFlight: 2,
    maxBatchItems: 2,
    canOverlap: (previous, next) => time(next[0]!) > time(previous.at(-1)!),
    send: async (batch) => {
      started.push([...batch]);
      const step = s.script.shift();
      if (step) await step(batch);
      s.sent.push([...batch]);
    },
  });
  const [a, b, c] = [controlled(), controlled(), controlled()];
  s.script.push(a.step, b.step, c.step);
  for (const r of ['1:a', '1:b', '2:c', '2:d', '2:e', '3:f']) s.batcher.push(r);
  await s.clock.advanceAsync(0);
  t.same(
    started,
    [
      ['1:a', '1:b'],
      ['2:c', '2:d'],
    ],
    'two batches in flight; the third (time 2 again) may not overlap the second',
  );
  b.settle();
  await s.clock.advanceAsync(0);
  t.same(s.sent, [['2:c', '2:d']], 'the second batch was sent first');
  t.equal(s.batcher.pending, 6, 'but nothing leaves the queue before the first batch is sent');
  t.same(started.length, 2, 'and the third still waits: at most two in flight');
  a.settle();
  await s.clock.advanceAsync(0);
  t.equal(s.batcher.pending, 2, 'both batches left the queue once the first was sent');
  t.same(started.at(-1), ['2:e', '3:f'], 'the third batch went once the one it may not overlap was sent');
  c.settle();
  await s.batcher.flush();
  t.equal(counters(s).sent, 6);
  t.equal(s.heap.allocated, 0, 'all memory back');
});

t.test('trimFull: a batch ended by a limit may end earlier, and the rest starts the next batch', async (t) => {
  // Records "time:name" (3 bytes each, 10 bytes a batch); a full batch ends where the time
  // changes (as CloudWatch's does), unless all of it has the time of the next record.
  const time = (r: string) => Number(r.split(':')[0]);
  const s = setup({
    maxBatchItems: 100,
    maxBatchBytes: 10,
    trimFull: (batch, next) => {
      let keep = batch.length;
      while (keep > 0 && time(batch[keep - 1]!) >= time(next)) keep--;
      return keep === 0 ? batch.length : keep;
    },
  });
  for (const r of ['1:a', '2:b', '3:c', '3:d', '3:e', '4:f', '4:g', '4:h', '4:i', '4:j']) s.batcher.push(r);
  await s.batcher.flush();
  t.same(
    s.sent,
    [
      ['1:a', '2:b'],
      ['3:c', '3:d', '3:e'],
      ['4:f', '4:g', '4:h'],
      ['4:i', '4:j'],
    ],
    'cut before time 3 (3:d overflowed), not before time 4 (already there); a batch of one time is sent whole',
  );
  t.equal(counters(s).sent, 10);
  t.equal(s.heap.allocated, 0);
  t.equal(s.batcher.pending, 0);
  const untrimmed = setup({ maxBatchItems: 100, maxBatchBytes: 10, trimFull: () => 0 });
  for (const r of ['1:a', '2:b', '3:c', '3:d']) untrimmed.batcher.push(r);
  await untrimmed.batcher.flush();
  t.same(untrimmed.sent, [['1:a'], ['2:b', '3:c', '3:d']], 'at least one record is sent');
});

t.test('with batches in flight, a failed one is retried as it was, and no new batch starts meanwhile', async (t) => {
  const started: string[][] = [];
  const s = setup({
    maxInFlight: 2,
    maxBatchItems: 2,
    send: async (batch) => {
      started.push([...batch]);
      const step = s.script.shift();
      if (step) await step(batch);
      s.sent.push([...batch]);
    },
  });
  const [a, b] = [controlled(), controlled()];
  s.script.push(a.step, b.step);
  for (const r of ['a', 'b', 'c', 'd']) s.batcher.push(r);
  await s.clock.advanceAsync(0);
  a.settle(new Error('ECONNRESET'));
  await s.clock.advanceAsync(0);
  s.batcher.push('e');
  s.batcher.push('f');
  await s.clock.advanceAsync(0);
  t.same(
    started,
    [
      ['a', 'b'],
      ['c', 'd'],
    ],
    'no new batch while one waits for its retry',
  );
  b.settle();
  await s.clock.advanceAsync(0);
  t.equal(s.batcher.pending, 6, 'c and d were sent, but wait in the queue behind a and b');
  await s.clock.advanceAsync(1000);
  t.same(started[2], ['a', 'b'], 'the failed batch again, as it was');
  await s.batcher.flush();
  t.same(s.sent, [
    ['c', 'd'],
    ['a', 'b'],
    ['e', 'f'],
  ]);
  t.equal(counters(s).sent, 6);
  t.equal(counters(s).retries, 1);
  t.equal(s.heap.allocated, 0);
  t.match(s.logs.join('\n'), /delivering again after 1 failed attempt/);
});

t.test('backpressure: pause at the high mark, read on at the low one', async (t) => {
  let release: (() => void) | undefined;
  const s = setup({ maxBatchItems: 1, maxBatchBytes: 1000, backpressure: { highWaterBytes: 40, lowWaterBytes: 20 } }, 100);
  s.script.push(...Array.from({ length: 10 }, () => () => new Promise<void>((resolve) => (release = resolve))));
  for (let i = 0; i < 4; i++) s.batcher.push('0123456789');
  t.equal(s.batcher.shouldPause(), true, '40 bytes queued: at the high mark');
  let drained = false;
  const drain = s.batcher.drain().then(() => (drained = true));
  release!();
  await s.clock.advanceAsync(0);
  t.equal(s.batcher.pendingBytes, 30);
  t.equal(drained, false, '30 > low mark: still paused');
  release!();
  await s.clock.advanceAsync(0);
  await drain;
  t.equal(drained, true, 'at 20 bytes reading goes on');
  t.equal(s.batcher.shouldPause(), false);
  t.equal(s.batcher.pauses, 1);
});

t.test('backpressure never holds the program while the destination fails or is not ready', async (t) => {
  const ready = readySignal();
  const s = setup({ maxBatchItems: 1, ready, backpressure: { highWaterBytes: 10, lowWaterBytes: 5 } }, 100);
  s.script.push(() => Promise.reject(new Error('ECONNREFUSED')));
  s.batcher.push('0123456789');
  s.batcher.push('0123456789');
  t.equal(s.batcher.shouldPause(), true, 'not ready yet but healthy (setup under way): hold the program');
  ready.healthy = false;
  t.equal(s.batcher.shouldPause(), false, 'setup failing: read on (the buffer fills, then drops)');
  ready.set();
  await s.clock.advanceAsync(0);
  t.equal(s.batcher.shouldPause(), false, 'the last send failed: read on');
});

t.test('backpressure lets go of a send stuck longer than stallMs', async (t) => {
  const s = setup({ maxBatchItems: 1, backpressure: { highWaterBytes: 10, lowWaterBytes: 5, stallMs: 100 } }, 100);
  s.script.push(() => new Promise(() => {}));
  s.batcher.push('0123456789');
  s.batcher.push('0123456789');
  t.equal(s.batcher.shouldPause(), true, 'a send in progress: wait for it');
  const drain = s.batcher.drain();
  await s.clock.advanceAsync(101);
  await drain;
  t.equal(s.batcher.shouldPause(), false, 'no progress for 101 ms > 100 ms: stop waiting');
});

/** Counters with resent and unconfirmed, as the shipping klibs give them. */
function withUncertainCounters(overrides: Partial<BatcherOptions<string>> = {}, heapBytes = 1000): Setup {
  const stats = new Stats();
  const s = setup(
    {
      counters: {
        sent: stats.counter('test', 'sent'),
        dropped: stats.counter('test', 'dropped'),
        retries: stats.counter('test', 'retries'),
        rejected: stats.counter('test', 'rejected'),
        resent: stats.counter('test', 'resent'),
        unconfirmed: stats.counter('test', 'unconfirmed'),
      },
      ...overrides,
    },
    heapBytes,
  );
  return { ...s, stats };
}

const uncertain = (message = 'ETIMEDOUT') => Object.assign(new Error(message), { uncertain: true });

t.test('the default delivery backoff stops growing at 30 s', async (t) => {
  const s = setup({ backoff: undefined, maxBatchItems: 1 });
  const attempts: number[] = [];
  let healthy = false;
  s.script.length = 0;
  const o = setup({
    backoff: { ...DELIVERY_BACKOFF, jitter: 0 },
    maxBatchItems: 1,
    send: async () => {
      attempts.push(o.clock.monotonic());
      if (!healthy) throw new Error('HTTP 500');
    },
  });
  t.equal(DELIVERY_BACKOFF.max, 30_000);
  o.batcher.push('x');
  // An outage of 200 s: attempts at 0, 1, 3, 7, 15, 31, then every 30 s.
  await o.clock.advanceAsync(200_000);
  const gaps = attempts.slice(1).map((at, i) => at - (attempts[i] as number));
  t.same(gaps.slice(0, 5), [1000, 2000, 4000, 8000, 16_000]);
  t.ok(
    gaps.slice(5).every((g) => g === 30_000),
    `then 30 s apart: ${gaps.join(', ')}`,
  );
  healthy = true;
  const before = attempts.length;
  await o.clock.advanceAsync(30_000);
  t.equal(attempts.length, before + 1, 'healthy again: delivered at the next attempt, at most 30 s later');
  t.equal((o.stats.snapshot().test as Record<string, number>).sent, 1);
  t.equal(s.batcher.pending, 0);
});

t.test('flush() and close() run a retry waiting out its backoff at once, then retry until the deadline', async (t) => {
  let healthy = false;
  const attempts: number[] = [];
  const s = setup({
    backoff: { initial: 1000, max: 60_000, factor: 2 },
    send: async (batch) => {
      attempts.push(s.clock.monotonic());
      if (!healthy) throw new Error('HTTP 500');
      s.sent.push([...batch]);
    },
  });
  s.batcher.push('a');
  s.batcher.push('b');
  // An outage: attempts at 1 s (the interval), 2, 4, 8, 16, 32 s; the next one would be at 64 s.
  await s.clock.advanceAsync(33_000);
  t.equal(attempts.length, 6);
  healthy = true;
  const closed = s.batcher.close(5000);
  await s.clock.advanceAsync(0);
  await closed;
  t.equal(attempts.length, 7, 'close() did not wait for the 32 s backoff');
  t.same(s.sent, [['a', 'b']]);
  t.equal(counters(s).sent, 2);
  t.equal(counters(s).dropped, 0);
});

t.test('while closing, failed batches are retried at most a second apart until the deadline', async (t) => {
  const attempts: number[] = [];
  let failures = 6;
  const s = setup({
    backoff: { initial: 1000, max: 60_000, factor: 2 },
    send: async (batch) => {
      attempts.push(s.clock.monotonic());
      if (failures-- > 0) throw new Error('HTTP 503');
      s.sent.push([...batch]);
    },
  });
  s.batcher.push('a');
  const closed = s.batcher.close(10_000);
  await s.clock.advanceAsync(10_000);
  await closed;
  const gaps = attempts.slice(1).map((at, i) => at - (attempts[i] as number));
  t.ok(
    gaps.every((g) => g <= 1000),
    `retries while closing at most 1 s apart: ${gaps.join(', ')}`,
  );
  t.same(s.sent, [['a']], 'delivered on the seventh attempt, within the deadline');
  t.equal(counters(s).dropped, 0);
});

t.test('a send with no answer (uncertain) is resent and counted as resent; bounded, then unconfirmed', async (t) => {
  const s = withUncertainCounters({ maxBatchItems: 2, backoff: { initial: 1000, max: 1000 } });
  s.script.push(
    () => Promise.reject(uncertain()),
    () => Promise.resolve(),
    () => Promise.reject(uncertain()),
    () => Promise.reject(uncertain()),
    () => Promise.reject(uncertain()),
  );
  s.batcher.push('a');
  s.batcher.push('b');
  await s.clock.advanceAsync(0);
  await s.clock.advanceAsync(1000);
  t.same(s.sent, [['a', 'b']], 'the second attempt was answered');
  t.equal(counters(s).resent, 2, 'both records went out twice: up to 2 duplicates');
  t.equal(counters(s).sent, 2);
  s.batcher.push('c');
  s.batcher.push('d');
  await s.clock.advanceAsync(0);
  await s.clock.advanceAsync(1000);
  await s.clock.advanceAsync(1000);
  t.equal(counters(s).unconfirmed, 2, 'three attempts without an answer: given up, counted as unconfirmed');
  t.equal(counters(s).resent, 6, 'c and d were resent twice');
  t.equal(counters(s).dropped, 0);
  t.equal(s.batcher.pending, 0);
  t.equal(s.heap.allocated, 0);
  t.match(s.logs.join('\n'), /gave up 2 lines after 3 attempts without an answer \(ETIMEDOUT\); the destination may have stored them/);
  // written = sent + dropped + unconfirmed
  const c = counters(s);
  t.equal(c.sent! + c.dropped! + c.unconfirmed!, 4, 'every record accounted for');
});

t.test('a batch retaken with what was queued meanwhile keeps its resend count', async (t) => {
  const s = withUncertainCounters({ maxBatchItems: 10, backoff: { initial: 1000, max: 1000 } });
  s.script.push(() => Promise.reject(uncertain()));
  s.batcher.push('a');
  await s.clock.advanceAsync(1000);
  s.batcher.push('b');
  await s.clock.advanceAsync(1000);
  t.same(s.sent, [['a', 'b']], 'one batch, not two');
  t.equal(counters(s).resent, 1, 'only a went out before');
});

t.test('at the deadline: never-sent records are dropped, unanswered ones unconfirmed, acknowledged ones neither', async (t) => {
  const s = withUncertainCounters({ maxInFlight: 2, maxBatchItems: 2 });
  const [first, second] = [controlled(), controlled()];
  s.script.push(first.step, second.step);
  for (const r of ['a', 'b', 'c', 'd', 'e']) s.batcher.push(r);
  await s.clock.advanceAsync(0);
  second.settle(); // c, d acknowledged, but wait behind a, b, which never get an answer
  await s.clock.advanceAsync(0);
  const closed = s.batcher.close(3000);
  await s.clock.advanceAsync(3000);
  await closed;
  const c = counters(s);
  t.equal(c.sent, 2, 'c and d');
  t.equal(c.unconfirmed, 2, 'a and b were out, with no answer');
  t.equal(c.dropped, 1, 'e never went out: two batches were in flight');
  t.equal(c.sent! + c.dropped! + c.unconfirmed!, 5);
  t.match(s.logs.join('\n'), /shutdown deadline passed: dropped 1 lines that could not be sent; 2 more were sent without an answer \(counted as unconfirmed/);
  t.equal(s.heap.allocated, 0);
});

t.test('abandon(): exiting at once gives up and counts every record, through the heap', async (t) => {
  const s = withUncertainCounters();
  s.script.push(() => new Promise(() => {}));
  for (const r of ['a', 'b', 'c', 'd']) s.batcher.push(r);
  await s.clock.advanceAsync(0);
  t.equal(s.heap.records, 4, 'the heap knows the records it holds');
  t.equal(s.heap.abandon('SIGINT during shutdown'), 4);
  const c = counters(s);
  t.equal(c.unconfirmed, 3, 'the batch out without an answer');
  t.equal(c.dropped, 1);
  t.equal(s.heap.records, 0);
  t.equal(s.heap.allocated, 0);
  t.match(s.logs.join('\n'), /SIGINT during shutdown: dropped 1 lines/);
  t.equal(s.batcher.push('late'), false, 'nothing taken after');
  t.equal(s.heap.abandon('again'), 0, 'only once');
});

t.test('a ready signal: nothing is sent before; at the deadline what waited for it counts as dropped', async (t) => {
  const ready = readySignal();
  const s = withUncertainCounters({ ready });
  s.batcher.push('a');
  s.batcher.push('b');
  await s.clock.advanceAsync(5000);
  t.same(s.sent, [], 'not ready: the interval passed, nothing went out');
  const closed = s.batcher.close(2000);
  await s.clock.advanceAsync(2000);
  await closed;
  t.equal(counters(s).dropped, 2, 'never went out');
  t.equal(counters(s).unconfirmed, 0);
  t.match(s.logs.join('\n'), /shutdown deadline passed: dropped 2 lines that could not be sent/);

  const later = readySignal();
  const s2 = withUncertainCounters({ ready: later });
  s2.batcher.push('a');
  s2.batcher.push('b');
  await s2.clock.advanceAsync(5000);
  later.set();
  await s2.clock.advanceAsync(0);
  t.same(s2.sent, [['a', 'b']], 'once ready, what waited goes at once');
  // Out with no answer at the deadline: the destination may have it.
  s2.script.push(() => new Promise(() => {}));
  s2.batcher.push('c');
  const closed2 = s2.batcher.close(2000);
  await s2.clock.advanceAsync(2000);
  await closed2;
  t.equal(counters(s2).unconfirmed, 1, 'out with no answer');
  t.equal(counters(s2).sent, 2);
});
/** Flushes, moving the manual clock on until the flush is done (retries wait on it). */
async function flushed(s: Setup): Promise<void> {
  let done = false;
  const flushing = s.batcher.flush().then(() => (done = true));
  for (let i = 0; i < 1000 && !done; i++) await s.clock.advanceAsync(100);
  await flushing;
}

/** A ReadySignal the test controls. */
function readySignal() {
  let resolve!: () => void;
  const whenReady = new Promise<void>((r) => (resolve = r));
  const signal = {
    ready: false,
    healthy: true,
    isReady: () => signal.ready,
    isHealthy: () => signal.healthy,
    whenReady: () => whenReady,
    set() {
      signal.ready = true;
      resolve();
    },
  };
  return signal;
}

t.test('a thrown error is a retry, never a loss (even one that looks final)', async (t) => {
  const s = setup();
  s.script.push(() => Promise.reject(Object.assign(new Error('InvalidParameterException'), { retryable: false })));
  s.batcher.push('a');
  await flushed(s);
  t.same(s.sent, [['a']], 'sent on the second attempt');
  t.equal(counters(s).retries, 1);
  t.equal(counters(s).dropped, 0);
});

t.test('retry with items: the rest counted stored (or rejected), only the named items go again', async (t) => {
  const s = withUncertainCounters({ maxBatchItems: 10 });
  s.script.push(() => Promise.resolve(retry('RESOURCE_EXHAUSTED on 2 entries', { items: [1, 3], rejected: 1 })));
  for (const r of ['a', 'b', 'c', 'd', 'e']) s.batcher.push(r);
  await s.clock.advanceAsync(1000);
  const c = counters(s);
  t.equal(c.sent, 2, 'a, c, e answered for: one of them refused, two stored');
  t.equal(c.rejected, 1);
  t.equal(c.retries, 1);
  await flushed(s);
  t.same(s.sent, [['b', 'd']], 'only b and d sent again');
  t.equal(counters(s).sent, 4);
  t.equal(counters(s).resent, 0, 'a refused entry sent again is no duplicate');
  t.equal(s.heap.allocated, 0);
});

t.test('retry with items, refused again and again: given up as rejected after maxPartialAttempts', async (t) => {
  const s = withUncertainCounters({ maxBatchItems: 10, maxPartialAttempts: 2, backoff: { initial: 10, max: 10 } });
  for (let i = 0; i < 3; i++) s.script.push(() => Promise.resolve(retry('UNAVAILABLE', { items: [0] })));
  s.batcher.push('a');
  s.batcher.push('b');
  await flushed(s);
  const c = counters(s);
  t.equal(c.sent, 1, 'b stored at the first attempt');
  t.equal(c.rejected, 1, 'a given up after two partial attempts');
  t.equal(c.sent! + c.rejected! + c.dropped!, 2, 'written = stored + counted');
  t.match(s.logs.join('\n'), /gave up 1 lines the destination refused 3 times for a passing reason \(UNAVAILABLE\); counted as rejected/);
});

t.test("retry afterMs: the destination's own wait is used (within the backoff cap)", async (t) => {
  const s = setup();
  s.script.push(() => Promise.resolve(retry('429 Too Many Requests', { afterMs: 5000 })));
  s.batcher.push('a');
  await s.clock.advanceAsync(1000);
  await s.clock.advanceAsync(4999);
  t.same(s.sent, [], 'still waiting the 5 s asked for');
  await s.clock.advanceAsync(1);
  t.same(s.sent, [['a']]);
  const capped = setup();
  capped.script.push(() => Promise.resolve(retry('slow down', { afterMs: 3_600_000 })));
  capped.batcher.push('a');
  await capped.clock.advanceAsync(1000 + 8000);
  t.same(capped.sent, [['a']], 'an hour asked for, the 8 s cap applied');
});

t.test('an uncertain retry result is counted as resent, like an uncertain error', async (t) => {
  const s = withUncertainCounters();
  s.script.push(() => Promise.resolve(retry('timeout after the request went out', { uncertain: true })));
  s.batcher.push('a');
  await flushed(s);
  t.same(s.sent, [['a']]);
  t.equal(counters(s).resent, 1);
  t.equal(counters(s).sent, 1);
});

t.test('release runs exactly once per item, whatever its fate', async (t) => {
  const released: string[] = [];
  const s = withUncertainCounters({ maxBatchItems: 2, release: (items) => released.push(...items) }, 6);
  s.script.push(() => Promise.resolve(drop('bad request')));
  s.batcher.push('aa');
  s.batcher.push('bb');
  t.equal(s.batcher.push('cccc'), false, 'no room');
  t.same(released, ['cccc'], 'refused at push: released at once');
  await s.clock.advanceAsync(0);
  t.same(released, ['cccc', 'aa', 'bb'], 'dropped batch released when it left the queue');
  s.batcher.push('dd');
  await flushed(s);
  t.same(released, ['cccc', 'aa', 'bb', 'dd'], 'stored: released');
  s.script.push(() => new Promise(() => {}));
  s.batcher.push('ee');
  s.batcher.push('ff');
  s.batcher.push('gg');
  const closed = s.batcher.close(1000);
  t.equal(s.batcher.push('hh'), false, 'after close');
  await s.clock.advanceAsync(1000);
  await closed;
  t.same([...released].sort(), ['aa', 'bb', 'cccc', 'dd', 'ee', 'ff', 'gg', 'hh'], 'given up at the deadline: released too');
  t.equal(released.length, 8, 'never twice');
});

t.test("close({ deadline, signal }): the kernel's deadline is absolute, and an abort cuts it short", async (t) => {
  const s = withUncertainCounters();
  s.script.push(() => new Promise(() => {}));
  s.batcher.push('a');
  await s.clock.advanceAsync(500);
  const abort = new AbortController();
  const closed = s.batcher.close({ deadline: s.clock.monotonic() + 60_000, signal: abort.signal });
  await s.clock.advanceAsync(100);
  abort.abort();
  await closed;
  t.equal(counters(s).unconfirmed, 1, 'out with no answer when cut short');
  t.match(s.logs.join('\n'), /shutdown cut short: dropped 0 lines/);
  const d = withUncertainCounters();
  d.script.push(() => new Promise(() => {}));
  d.batcher.push('a');
  await d.clock.advanceAsync(0);
  const closing = d.batcher.close({ deadline: d.clock.monotonic() + 700 });
  let done = false;
  void closing.then(() => (done = true));
  await d.clock.advanceAsync(699);
  t.equal(done, false);
  await d.clock.advanceAsync(1);
  t.equal(done, true, 'ends at the deadline given');
});
