import t from 'tap';
import { Backoff, ManualClock, systemClock, Timers, type Clock, type TimerHandle } from '../src/timers.js';

/** A clock whose timers fire only when the test says, at whatever (late) time it says. */
class LateClock implements Clock {
  time = 0;
  timers: { due: number; fn: () => void; cancelled: boolean }[] = [];
  monotonic(): number {
    return this.time;
  }
  now(): number {
    return 1_000_000 + this.time;
  }
  schedule(ms: number, fn: () => void): TimerHandle {
    const timer = { due: this.time + ms, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }
  /** Fires the earliest live timer with the clock at `at` (≥ its due time). */
  fireAt(at: number): number {
    const live = this.timers.filter((x) => !x.cancelled).sort((a, b) => a.due - b.due);
    const next = live[0];
    if (!next) throw new Error('no timer');
    this.timers = this.timers.filter((x) => x !== next);
    this.time = at;
    next.fn();
    return next.due;
  }
  get live(): number[] {
    return this.timers.filter((x) => !x.cancelled).map((x) => x.due);
  }
}

t.test('ManualClock: time moves only when told; timers fire in due order', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  t.equal(clock.monotonic(), 0);
  t.equal(clock.now(), Date.UTC(2026, 0, 1));
  const fired: string[] = [];
  clock.schedule(30, () => fired.push(`b@${clock.monotonic()}`));
  clock.schedule(10, () => fired.push(`a@${clock.monotonic()}`));
  clock.schedule(30, () => fired.push(`c@${clock.monotonic()}`));
  clock.schedule(-5, () => fired.push(`neg@${clock.monotonic()}`));
  t.equal(clock.pending, 4);
  clock.advance(9);
  t.same(fired, ['neg@0']);
  clock.advance(100);
  t.same(fired, ['neg@0', 'a@10', 'b@30', 'c@30'], 'ties fire in scheduling order');
  t.equal(clock.monotonic(), 109);
  t.equal(clock.now(), Date.UTC(2026, 0, 1) + 109);
  clock.setWallTime(Date.UTC(2030, 0, 1));
  t.equal(clock.now(), Date.UTC(2030, 0, 1), 'wall time steps');
  t.equal(clock.monotonic(), 109, 'monotonic time does not');
  clock.advance(1);
  t.equal(clock.now(), Date.UTC(2030, 0, 1) + 1);
  // A timer scheduled by a firing timer fires in the same advance if it falls due.
  const chain: number[] = [];
  clock.schedule(5, () => {
    chain.push(clock.monotonic());
    clock.schedule(5, () => chain.push(clock.monotonic()));
  });
  clock.advance(20);
  t.same(chain, [115, 120]);
});

t.test('ManualClock.advanceAsync lets async callbacks settle between timers', async (t) => {
  const clock = new ManualClock();
  const timers = new Timers(clock);
  const seen: string[] = [];
  void (async () => {
    await timers.sleep(100);
    seen.push(`woke@${clock.monotonic()}`);
    await timers.sleep(100);
    seen.push(`woke@${clock.monotonic()}`);
  })();
  await clock.advanceAsync(250);
  t.same(seen, ['woke@100', 'woke@200']);
  t.equal(clock.monotonic(), 250);
});

t.test('one-shot timers and cancel', async (t) => {
  const clock = new ManualClock();
  const timers = new Timers(clock);
  const fired: number[] = [];
  timers.oneShot(1000, () => fired.push(clock.monotonic()));
  const cancelled = timers.oneShot(500, () => fired.push(-1));
  cancelled.cancel();
  t.equal(clock.pending, 1);
  clock.advance(999);
  t.same(fired, []);
  clock.advance(1);
  t.same(fired, [1000]);
  clock.advance(5000);
  t.same(fired, [1000], 'a one-shot fires once');
  const late = timers.oneShot(10, () => fired.push(clock.monotonic()));
  clock.advance(10);
  late.cancel();
  t.same(fired, [1000, 6010], 'cancelling after firing is harmless');
});

t.test('periodic timers on a manual clock: fixed schedule, cancel', async (t) => {
  const clock = new ManualClock();
  const timers = new Timers(clock);
  const ticks: number[] = [];
  const handle = timers.periodic(1000, () => ticks.push(clock.monotonic()));
  clock.advance(3500);
  t.same(ticks, [1000, 2000, 3000]);
  clock.advance(500);
  t.same(ticks, [1000, 2000, 3000, 4000]);
  handle.cancel();
  clock.advance(10_000);
  t.same(ticks, [1000, 2000, 3000, 4000], 'no ticks after cancel');
  t.equal(clock.pending, 0);
  t.throws(() => timers.periodic(0, () => {}), new RangeError('periodic timer needs a positive period, got 0'));
  t.throws(() => timers.periodic(-5, () => {}), new RangeError('periodic timer needs a positive period, got -5'));
  // Cancelling from inside the callback stops it too.
  const own: number[] = [];
  const self = timers.periodic(100, () => {
    own.push(clock.monotonic());
    if (own.length === 2) self.cancel();
  });
  clock.advance(1000);
  t.same(own, [14100, 14200]);
});

t.test('periodic timers do not drift and skip ticks that are late by more than a period', async (t) => {
  const clock = new LateClock();
  const timers = new Timers(clock);
  const ticks: number[] = [];
  timers.periodic(1000, () => ticks.push(clock.monotonic()));
  t.same(clock.live, [1000]);
  clock.fireAt(1030); // 30 ms late
  t.same(clock.live, [2000], 'next tick stays on the 1000 ms grid');
  clock.fireAt(2000);
  t.same(clock.live, [3000]);
  clock.fireAt(5500); // 2.5 periods late: ticks at 3000, 4000 and 5000 are one late tick
  t.same(ticks, [1030, 2000, 5500], 'the late tick runs once, not three times');
  t.same(clock.live, [6000], 'and the schedule resumes on the grid');
  clock.fireAt(6000);
  t.same(ticks, [1030, 2000, 5500, 6000]);
  clock.fireAt(7000);
  clock.fireAt(8999);
  t.same(clock.live, [9000]);
});

t.test('sleep', async (t) => {
  const clock = new ManualClock();
  const timers = new Timers(clock);
  let woke = false;
  const sleeping = timers.sleep(250).then(() => (woke = true));
  clock.advance(249);
  await Promise.resolve();
  t.equal(woke, false);
  clock.advance(1);
  await sleeping;
  t.equal(woke, true);
  t.equal(clock.monotonic(), 250);
});

t.test('the system clock: timers do not keep the process alive unless asked', async (t) => {
  // uk's timers are unref'd, so hold the test process open while it waits on them.
  const keepOpen = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepOpen));
  const timers = new Timers();
  t.equal(timers.clock, systemClock);
  const start = systemClock.monotonic();
  await timers.sleep(20);
  t.ok(systemClock.monotonic() - start >= 15, 'sleep waited');
  t.ok(Math.abs(systemClock.now() - Date.now()) < 1000);
  let fired = false;
  const handle = systemClock.schedule(5, () => (fired = true));
  handle.cancel();
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(fired, false, 'cancelled');
  const hasRef = (value: unknown): boolean => (value as { hasRef(): boolean }).hasRef();
  const original = globalThis.setTimeout;
  const made: unknown[] = [];
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    const timer = original(fn, ms);
    made.push(timer);
    return timer;
  }) as typeof setTimeout;
  try {
    systemClock.schedule(1, () => {}).cancel();
    systemClock.schedule(1, () => {}, { keepAlive: true }).cancel();
  } finally {
    globalThis.setTimeout = original;
  }
  t.equal(made.length, 2);
  t.equal(hasRef(made[0]), false, 'unref by default');
  t.equal(hasRef(made[1]), true, 'keepAlive keeps the process alive');
});

t.test('Backoff: 1 s doubling to 3600 s, reset', async (t) => {
  const backoff = new Backoff({ initial: 1000, max: 3_600_000 });
  const delays = Array.from({ length: 14 }, () => backoff.next());
  t.same(delays, [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 512000, 1024000, 2048000, 3600000, 3600000]);
  t.equal(backoff.attempts, 14);
  t.equal(backoff.current, 3_600_000);
  backoff.reset();
  t.equal(backoff.attempts, 0);
  t.equal(backoff.current, 1000);
  t.equal(backoff.next(), 1000);
  t.equal(backoff.current, 2000, 'current is what the next call is based on');
  const triple = new Backoff({ initial: 10, factor: 3, max: 100 });
  t.same([triple.next(), triple.next(), triple.next(), triple.next()], [10, 30, 90, 100]);
  t.throws(() => new Backoff({ initial: 0, max: 10 }), new RangeError('backoff needs 0 < initial <= max, got 0 and 10'));
  t.throws(() => new Backoff({ initial: 20, max: 10 }), new RangeError('backoff needs 0 < initial <= max, got 20 and 10'));
});

t.test('Backoff jitter stays within bounds', async (t) => {
  const values = [0, 0.5, 0.999999, 0.25];
  let i = 0;
  const backoff = new Backoff({ initial: 1000, max: 8000, jitter: 0.5, random: () => values[i++ % values.length] as number });
  t.same([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()], [1000, 1500, 2000, 7000, 8000]);
  t.equal(backoff.current, 8000, 'jitter does not change the base sequence');
  const full = new Backoff({ initial: 1000, max: 1000, jitter: 1, random: () => 0.999999 });
  t.equal(full.next(), 0, 'full jitter can go down to 0');
  let calls = 0;
  const none = new Backoff({ initial: 1000, max: 1000, random: () => (calls++, 0.5) });
  t.equal(none.next(), 1000);
  t.equal(calls, 0, 'no jitter: random is not used');
  // With a real random source every delay is within [base × (1 − jitter), base].
  const real = new Backoff({ initial: 1000, max: 64000, jitter: 0.3 });
  let base = 1000;
  for (let n = 0; n < 20; n++) {
    const delay = real.next();
    t.ok(delay >= Math.round(base * 0.7) && delay <= base, `${delay} within [${base * 0.7}, ${base}]`);
    base = Math.min(64000, base * 2);
  }
});
