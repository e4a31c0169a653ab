// The Batcher's pieces, each alone: the queue and its budget, the batch policy, flights, the
// retry schedule and backpressure (the Batcher as a whole is in batcher.test.ts).
import t from 'tap';
import { Backpressure } from '../src/batching/backpressure.js';
import { hasFullBatch, takeBatch } from '../src/batching/batch-policy.js';
import { Flights, RetrySchedule } from '../src/batching/flights.js';
import { RecordQueue } from '../src/batching/record-queue.js';
import { Heap } from '../src/heap.js';
import { ManualClock, Timers } from '../src/timers.js';

function queueOf(items: string[], heapBytes = 1_000_000, released: string[] = []) {
  const heap = new Heap('q', heapBytes);
  const q = new RecordQueue<string>(heap, {
    sizeOf: (s) => s.length,
    countOf: (s) => (s.startsWith('x') ? 2 : 1),
    release: (items) => released.push(...items),
  });
  for (const item of items) q.push(item, item.length, q.countOf(item));
  return { q, heap, released };
}

t.test('RecordQueue: budget from the heap, positions stay valid across compaction, release once', async (t) => {
  const { q, heap, released } = queueOf([], 10);
  t.equal(q.push('abcd', 4, 1), true);
  t.equal(q.push('xefg', 4, 2), true);
  t.equal(q.push('hijk', 4, 1), false, 'over 10 bytes');
  t.same(released, ['hijk'], 'an item refused at push is released');
  t.equal(q.count, 3, 'records: x counts twice');
  t.equal(heap.allocated, 8);
  q.shift(1, 4, 1);
  t.same(released, ['hijk', 'abcd']);
  t.equal(q.head, 1);
  t.equal(q.at(1), 'xefg');
  t.equal(q.clear(), 2);
  t.equal(heap.allocated, 0);
  t.same(released, ['hijk', 'abcd', 'xefg']);
  const big = queueOf([]);
  for (let i = 0; i < 10_000; i++) big.q.push(`r${i}`, 1, 1);
  big.q.shift(9000, 9000, 9000);
  t.equal(big.q.at(9500), 'r9500', 'absolute positions after compaction');
  t.equal(big.q.end, 10_000);
  t.equal(big.released.length, 9000);
});

t.test('takeBatch: item, byte and overhead limits, canJoin and trimFull; hasFullBatch', async (t) => {
  const { q } = queueOf(['aaaa', 'bbbb', 'xccc', 'dddd', 'eeee']);
  t.same(takeBatch(q, 0, { maxBatchItems: 3, maxBatchBytes: 100 }).items, ['aaaa', 'bbbb'], 'x would make 4 records > 3');
  t.same(takeBatch(q, 0, { maxBatchItems: 100, maxBatchBytes: 17, itemOverheadBytes: 4 }).items, ['aaaa', 'bbbb'], '2 × 8 = 16, a third would be 24');
  t.same(takeBatch(q, 3, { maxBatchItems: 100, maxBatchBytes: 100, canJoin: (batch) => batch.length < 1 }).items, ['dddd'], 'canJoin says no');
  const trimmed = takeBatch(q, 0, { maxBatchItems: 4, maxBatchBytes: 100, trimFull: () => 1 });
  t.same(trimmed.items, ['aaaa'], 'trimFull keeps one');
  t.equal(trimmed.bytes, 4);
  t.equal(trimmed.count, 1);
  t.same(takeBatch(q, 0, { maxBatchItems: 1, maxBatchBytes: 1 }).items, ['aaaa'], 'always at least one item');
  t.equal(hasFullBatch({ maxBatchItems: 3, maxBatchBytes: 100 }, 3, 0), true);
  t.equal(hasFullBatch({ maxBatchItems: 3, maxBatchBytes: 100 }, 2, 99), false);
});

t.test('Flights: land in order, take back the only failure, bytes and records kept', async (t) => {
  const { q } = queueOf(['a', 'b', 'c', 'd']);
  const f = new Flights<string>(q.head);
  const one = f.add(takeBatch(q, f.sendHead, { maxBatchItems: 2, maxBatchBytes: 100 }), 0);
  const two = f.add(takeBatch(q, f.sendHead, { maxBatchItems: 2, maxBatchBytes: 100 }), 0);
  t.equal(f.sendHead, 4);
  t.same([f.bytes, f.count], [4, 4]);
  two.state = 'done';
  t.same(f.takeLanded(), [], 'the second waits for the first');
  one.state = 'done';
  t.same(
    f.takeLanded().map((x) => x.items),
    [
      ['a', 'b'],
      ['c', 'd'],
    ],
  );
  t.same([f.bytes, f.count, f.length], [0, 0, 0]);
  const g = new Flights<string>(0);
  const only = g.add(takeBatch(q, 0, { maxBatchItems: 2, maxBatchBytes: 100 }), 0);
  t.equal(g.takeBackOnlyFailure(), undefined, 'still sending');
  only.state = 'failed';
  only.partial = 1;
  t.equal(g.takeBackOnlyFailure(), undefined, 'a partial flight keeps its own items');
  only.partial = 0;
  t.equal(g.takeBackOnlyFailure(), only);
  t.same([g.sendHead, g.length], [0, 0], 'its items go again with what came meanwhile');
});

t.test("RetrySchedule: backoff, the destination's wait within the cap, one timer", async (t) => {
  const clock = new ManualClock();
  const r = new RetrySchedule(new Timers(clock), { initial: 1000, max: 8000, factor: 2 });
  t.same([r.nextDelay(undefined), r.nextDelay(undefined), r.nextDelay(3000), r.nextDelay(60_000)], [1000, 2000, 3000, 8000]);
  t.equal(r.attempts, 4);
  let ran = 0;
  r.schedule(500, () => ran++);
  t.equal(r.waiting, true);
  await clock.advanceAsync(500);
  t.equal(ran, 1);
  t.equal(r.waiting, false);
  r.succeeded();
  t.equal(r.attempts, 0);
  t.equal(r.nextDelay(undefined), 1000, 'back to the start');
});

t.test('Backpressure: hysteresis, never while it may not hold, lets go of a stalled send', async (t) => {
  const clock = new ManualClock();
  const state = { queuedBytes: 0, capacity: 100, hold: true, started: undefined as number | undefined };
  const bp = new Backpressure({ stallMs: 1000 }, new Timers(clock), {
    get queuedBytes() {
      return state.queuedBytes;
    },
    capacity: 100,
    mayHold: () => state.hold,
    oldestSendStarted: () => state.started,
  });
  state.queuedBytes = 49;
  t.equal(bp.shouldPause(), false, 'below half');
  state.queuedBytes = 50;
  t.equal(bp.shouldPause(), true, 'half the heap by default');
  state.queuedBytes = 30;
  t.equal(bp.shouldPause(), true, 'above a quarter: still paused');
  let drained = false;
  void bp.drain().then(() => (drained = true));
  state.queuedBytes = 25;
  await clock.advanceAsync(250);
  t.equal(drained, true, 'the recheck let the reader go at the low mark');
  state.queuedBytes = 80;
  state.hold = false;
  t.equal(bp.shouldPause(), false, 'failing or closing: never hold');
  state.hold = true;
  state.started = clock.monotonic();
  t.equal(bp.shouldPause(), true);
  await clock.advanceAsync(1000);
  t.equal(bp.shouldPause(), false, 'a send stuck for the stall limit');
  t.equal(bp.pauses, 2);
});
