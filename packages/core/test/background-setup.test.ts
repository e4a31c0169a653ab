import t from 'tap';
import { BackgroundSetup, type BackgroundSetupOptions } from '../src/background-setup.js';
import { STALL_MS } from '../src/delivery.js';
import type { KlibLog } from '../src/klib.js';
import { ManualClock, Timers } from '../src/timers.js';

/** An attempt the test answers by hand: each call waits until the test resolves or rejects it. */
class Attempts {
  calls: { resolve: (v: string) => void; reject: (e: Error) => void; at: number }[] = [];
  constructor(readonly clock: ManualClock) {}
  readonly attempt = (): Promise<string> =>
    new Promise((resolve, reject) => {
      this.calls.push({ resolve, reject, at: this.clock.monotonic() });
    });
  async fail(reason = 'metadata server: connect ECONNREFUSED'): Promise<void> {
    this.calls.at(-1)?.reject(new Error(reason));
    await settle();
  }
  async succeed(value: string): Promise<void> {
    this.calls.at(-1)?.resolve(value);
    await settle();
  }
  get times(): number[] {
    return this.calls.map((c) => c.at);
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function memoryLog(): KlibLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug ${m}`),
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

function setup(options: Partial<BackgroundSetupOptions<string>> = {}) {
  const clock = new ManualClock();
  const attempts = new Attempts(clock);
  const log = memoryLog();
  const abort = new AbortController();
  const s = new BackgroundSetup<string>({ attempt: attempts.attempt, timers: new Timers(clock), log, signal: abort.signal, ...options });
  return { clock, attempts, log, abort, s };
}

/** Fails every attempt up to `until` (ms of the manual clock), moving the clock from timer to timer. */
async function failUntil(clock: ManualClock, attempts: Attempts, until: number): Promise<void> {
  await attempts.fail();
  while (clock.monotonic() < until) {
    const before = attempts.calls.length;
    // Move by 1 s steps until the retry timer fires.
    while (attempts.calls.length === before && clock.monotonic() < until) await clock.advanceAsync(1000);
    if (attempts.calls.length > before) await attempts.fail();
  }
}

t.test('backoff: 1 s doubling, capped at 3600 s; nothing before start', async (t) => {
  const { clock, attempts, s } = setup();
  await clock.advanceAsync(10_000);
  t.equal(attempts.calls.length, 0, 'no attempt before start()');
  const origin = clock.monotonic();
  s.start();
  await failUntil(clock, attempts, origin + 8_000_000);
  const gaps = attempts.times.slice(1).map((at, i) => at - (attempts.times[i] as number));
  t.same(
    gaps.slice(0, 13),
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600].map((s) => s * 1000),
    'doubles from 1 s, then an hour',
  );
  t.ok(
    gaps.slice(12).every((g) => g === 3_600_000),
    `stays at an hour (${gaps.length} gaps)`,
  );
  t.equal(s.failures, attempts.calls.length);
  t.equal(s.isReady(), false);
  t.equal(s.value, undefined);
});

t.test('quiet first failure, later ones as errors with their delay, success once at info', async (t) => {
  const { clock, attempts, log, s } = setup({ describe: (v) => `host ${v}` });
  s.start();
  await attempts.fail('no region');
  t.same(log.lines, ['debug setup failed, retrying in 1 s: no region'], 'the first failure at debug only');
  await clock.advanceAsync(1000);
  await attempts.fail('no region');
  await clock.advanceAsync(2000);
  await attempts.fail('no token');
  t.same(
    log.lines.slice(1),
    ['error setup failed, retrying in 2 s: no region', 'error setup failed, retrying in 4 s: no token'],
    'each later failure, with its delay',
  );
  t.equal(s.lastError, 'no token');
  await clock.advanceAsync(4000);
  await attempts.succeed('vm-1');
  t.same(log.lines.slice(3), ['info setup done after 3 failed attempt(s): host vm-1']);
  t.equal(s.isReady(), true);
  t.equal(s.value, 'vm-1');
  t.equal(await s.result, 'vm-1');
  await s.whenReady();
  await clock.advanceAsync(10_000_000);
  t.equal(attempts.calls.length, 4, 'no attempt after success');
});

t.test('success at the first attempt is logged at debug; reportFirstFailure and reportChangesOnly', async (t) => {
  const first = setup();
  first.s.start();
  await first.attempts.succeed('x');
  t.same(first.log.lines, ['debug setup done']);

  const { clock, attempts, log, s } = setup({ reportFirstFailure: true, reportChangesOnly: true, failureNote: ' (buffering meanwhile)' });
  s.start();
  await attempts.fail('a');
  await clock.advanceAsync(1000);
  await attempts.fail('a');
  await clock.advanceAsync(2000);
  await attempts.fail('b');
  t.same(
    log.lines,
    [
      'error setup failed, retrying in 1 s (buffering meanwhile): a',
      'debug setup failed, retrying in 2 s (buffering meanwhile): a',
      'error setup failed, retrying in 4 s (buffering meanwhile): b',
    ],
    'the first failure reported; a repeated reason at debug only',
  );
});

t.test('the delay is capped while records wait; the backoff grows underneath', async (t) => {
  let waiting = false;
  const { clock, attempts, log, s } = setup({ maxDelayWhile: { ms: 30_000, active: () => waiting } });
  s.start();
  await failUntil(clock, attempts, 31_000);
  await clock.advanceAsync(32_000);
  t.same(attempts.times, [0, 1000, 3000, 7000, 15_000, 31_000, 63_000], 'uncapped: 1, 2, 4 … 32 s');
  waiting = true;
  await attempts.fail();
  t.match(log.lines.at(-1), /retrying in 30 s/, 'capped at 30 s while records wait (the backoff is at 64 s)');
  await clock.advanceAsync(30_000);
  t.equal(attempts.times.at(-1), 93_000);
  await attempts.fail();
  t.match(log.lines.at(-1), /retrying in 30 s/, 'still 30 s (the backoff is at 128 s)');
  await clock.advanceAsync(30_000);
  t.equal(attempts.times.at(-1), 123_000);
  waiting = false;
  await attempts.fail();
  t.match(log.lines.at(-1), /retrying in 256 s/, 'no records waiting: the backoff as it has grown');
  t.equal(s.failures, 9);
});

t.test('shutdown: a retry waiting for its delay runs at once; stop() ends the retries', async (t) => {
  const { clock, attempts, abort, s } = setup();
  s.start();
  await failUntil(clock, attempts, 3000);
  t.equal(attempts.calls.length, 3);
  await attempts.fail();
  await clock.advanceAsync(1000);
  t.equal(attempts.calls.length, 3, 'waiting for the 8 s delay');
  abort.abort();
  await settle();
  t.equal(attempts.calls.length, 4, 'tried at once');
  t.equal(attempts.times.at(-1), 4000);
  await attempts.succeed('late');
  t.equal(s.value, 'late', 'done: the final flush can go');

  const other = setup();
  other.s.start();
  other.abort.abort();
  await settle();
  t.equal(other.attempts.calls.length, 1, 'an attempt under way is not doubled');
  await other.attempts.fail();
  other.s.stop();
  await other.clock.advanceAsync(10_000_000);
  t.equal(other.attempts.calls.length, 1, 'no attempt after stop()');

  const unstarted = setup();
  unstarted.abort.abort();
  await settle();
  t.equal(unstarted.attempts.calls.length, 0, 'a setup never started is not started by the shutdown');
});

t.test('isHealthy: under way and young, then unhealthy after a failure or after STALL_MS; healthy once done', async (t) => {
  const { clock, attempts, s } = setup();
  await clock.advanceAsync(60_000);
  s.start();
  t.equal(s.isHealthy(), true, 'the first attempt runs (time before start() does not count)');
  await clock.advanceAsync(STALL_MS - 1);
  t.equal(s.isHealthy(), true, 'still within the stall limit');
  await clock.advanceAsync(1);
  t.equal(s.isHealthy(), false, 'the first attempt has taken STALL_MS');
  await attempts.succeed('ok');
  t.equal(s.isHealthy(), true, 'done');

  const failing = setup();
  failing.s.start();
  t.equal(failing.s.isHealthy(), true);
  await failing.attempts.fail();
  t.equal(failing.s.isHealthy(), false, 'a failure: unhealthy at once, even within STALL_MS');
  await failing.clock.advanceAsync(1000);
  t.equal(failing.s.isHealthy(), false, 'still, while the retry runs');
  await failing.attempts.succeed('ok');
  t.equal(failing.s.isHealthy(), true, 'healthy once done');
  t.equal(failing.s.isReady(), true);
});
