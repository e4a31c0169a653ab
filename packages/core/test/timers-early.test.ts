import t from 'tap';
import { Timers, type Clock } from '../src/timers.js';

t.test('a periodic tick that fires a hair early by the monotonic clock is not run twice', (t) => {
  // Node's timers keep their own millisecond clock, so a timer can fire when performance.now()
  // is still just short of the due time. This clock reproduces that: it fires each timer 0.4 ms
  // before its due time.
  let now = 0;
  const queue: { due: number; fn: () => void }[] = [];
  const clock: Clock = {
    monotonic: () => now,
    now: () => now,
    schedule(ms, fn) {
      const timer = { due: now + ms, fn };
      queue.push(timer);
      return { cancel: () => void queue.splice(queue.indexOf(timer), 1) };
    },
  };
  const timers = new Timers(clock);
  const ticks: number[] = [];
  const handle = timers.periodic(100, () => ticks.push(now));
  for (let i = 0; i < 20 && queue.length > 0; i++) {
    queue.sort((a, b) => a.due - b.due);
    const timer = queue.shift()!;
    now = Math.max(now, timer.due - 0.4);
    timer.fn();
  }
  handle.cancel();
  const gaps = ticks.slice(1).map((tick, i) => tick - ticks[i]!);
  t.ok(
    gaps.every((gap) => gap > 99),
    `ticks stay a period apart: ${gaps.map((g) => g.toFixed(1)).join(', ')}`,
  );
  t.end();
});
