/**
 * Two entries.write requests in flight from one queue: at most REQUESTS_IN_FLIGHT at once, each a
 * run of consecutive entries read from the arena by position, whichever finishes first; a failed
 * request is sent again with the same bytes, and no entry is lost, sent twice or reordered.
 */
import t from 'tap';
import { ManualClock } from '@uk/core';
import { createLoggingDriver, DEFAULT_SEVERITY, REQUESTS_IN_FLIGHT, type ApiCall, type GoogleApi, type LoggingOptions } from '../src/index.js';
import { driverContext } from './helpers.js';
import { readyDestination } from './destination.js';

const options: LoggingOptions = {
  logId: 'flight',
  flushIntervalMs: 1000,
  // The smallest batches: 64 KiB, a few hundred lines each.
  bufferSize: 256 * 1024,
  severity: DEFAULT_SEVERITY,
  jsonPayload: false,
  specialFields: false,
  backpressure: false,
  endpoint: 'http://logging.invalid',
  requestTimeoutMs: 60_000,
};

interface Posted {
  readonly body: string;
  answer(status: number): void;
}

const texts = (body: string): string[] => (JSON.parse(body) as { entries: { textPayload: string }[] }).entries.map((e) => e.textPayload);

function harness() {
  const clock = new ManualClock();
  const { ctx, counter } = driverContext(clock);
  const posted: Posted[] = [];
  /** Bodies answered 200: what Cloud Logging stored. */
  const stored: string[] = [];
  let open = 0;
  let mostOpen = 0;
  const api = {
    post: (call: ApiCall) => {
      open++;
      mostOpen = Math.max(mostOpen, open);
      // A copy: the driver reuses its request buffers.
      const body = Buffer.from(call.body as Buffer).toString('utf8');
      return new Promise((resolve) => {
        posted.push({
          body,
          answer: (status) => {
            open--;
            if (status === 200) stored.push(body);
            const error = status === 200 ? '{}' : JSON.stringify({ error: { code: status, message: 'try later', status: 'UNAVAILABLE' } });
            resolve({ response: { statusCode: status, headers: {}, body: Buffer.from(error) }, reauthorised: false });
          },
        });
      });
    },
  } as unknown as GoogleApi;
  const setup = readyDestination({ projectId: 'p', hostname: 'h', zone: 'z', instanceId: '1' });
  const driver = createLoggingDriver(ctx, options, { api, setup });
  const settle = () => clock.advanceAsync(0);
  return { clock, driver, posted, stored: () => stored.flatMap(texts), settle, mostOpen: () => mostOpen, counter };
}

// About 200 KB of entries: three full batches and a part, within the 256 KiB buffer (nothing dropped).
const lines = Array.from({ length: 1000 }, (_, i) => `line ${String(i).padStart(4, '0')} ${'x'.repeat(90)}`);

t.test('two requests in flight at most, answered in any order, every line once and in order', async (t) => {
  const h = harness();
  for (const text of lines) h.driver.write?.({ text, time: Date.UTC(2026, 0, 1), source: 'stdout' });
  await h.settle();
  t.equal(h.posted.length, REQUESTS_IN_FLIGHT, 'two requests went out at once');
  // The second answers first: requests leave the queue in order, so the next ones wait for the first.
  h.posted[1]?.answer(200);
  await h.settle();
  t.equal(h.posted.length, 2, 'no third request while the first is in flight');
  h.posted[0]?.answer(200);
  await h.settle();
  t.equal(h.posted.length, 3, 'then the next full batch');
  await h.clock.advanceAsync(1000);
  t.equal(h.posted.length, 4, 'and the rest after the flush interval, beside it');
  h.posted[3]?.answer(200);
  h.posted[2]?.answer(200);
  await h.settle();
  await h.driver.flush?.();
  t.equal(h.mostOpen(), REQUESTS_IN_FLIGHT, 'never more than two');
  t.equal(h.posted.length, 4);
  t.same(
    h.posted.flatMap((p) => texts(p.body)),
    lines,
    'requests of consecutive lines, in order, byte for byte',
  );
  t.same(h.stored().sort(), lines, 'each line stored once');
  t.equal(h.counter('sent'), lines.length);
  t.equal(h.counter('dropped'), 0);
});

t.test('a failed request is sent again with the same entries while the other one is in flight', async (t) => {
  const h = harness();
  for (const text of lines.slice(0, 700)) h.driver.write?.({ text, time: Date.UTC(2026, 0, 1), source: 'stdout' });
  await h.settle();
  t.equal(h.posted.length, 2);
  const [first, second] = h.posted as [Posted, Posted];
  first.answer(503);
  await h.settle();
  second.answer(200);
  await h.settle();
  // The retry waits for its backoff (1 s doubling, with jitter).
  await h.clock.advanceAsync(2000);
  t.equal(h.posted.length, 3, 'the failed request again');
  t.equal(h.posted[2]?.body, first.body, 'the same bytes');
  h.posted[2]?.answer(200);
  const flush = h.driver.flush?.();
  for (let i = 3; i < 10; i++) {
    await h.clock.advanceAsync(1000);
    h.posted[i]?.answer(200);
  }
  await flush;
  t.same(h.stored().sort(), lines.slice(0, 700), 'every line stored once');
  t.equal(h.counter('retries'), 1);
  t.equal(h.counter('sent'), 700);
  t.equal(h.counter('dropped'), 0);
});

t.test('the only request in flight fails: it goes again with what was queued meanwhile', async (t) => {
  const h = harness();
  const few = lines.slice(0, 100);
  for (const text of few) h.driver.write?.({ text, time: Date.UTC(2026, 0, 1), source: 'stdout' });
  const flush = h.driver.flush?.();
  await h.settle();
  t.equal(h.posted.length, 1, 'one request for a few lines');
  h.posted[0]?.answer(503);
  await h.settle();
  for (const text of lines.slice(100, 150)) h.driver.write?.({ text, time: Date.UTC(2026, 0, 1), source: 'stdout' });
  await h.clock.advanceAsync(2000);
  t.equal(h.posted.length, 2);
  t.same(texts(h.posted[1]?.body ?? '{"entries":[]}'), lines.slice(0, 150), 'the failed entries first, the new ones after');
  h.posted[1]?.answer(200);
  await h.settle();
  await flush;
  t.equal(h.counter('sent'), 150);
});
