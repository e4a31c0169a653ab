import t from 'tap';
import { Shutdown } from '../src/shutdown.js';
import { ManualClock, Timers } from '../src/timers.js';
import { ukError } from '../src/errors.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

t.test('hooks run once, in reverse registration order, concurrently', async (t) => {
  const clock = new ManualClock();
  const shutdown = new Shutdown(new Timers(clock));
  const started: string[] = [];
  const finished: string[] = [];
  let releaseFirst: () => void = () => {};
  shutdown.register('first', () => {
    started.push('first');
    return new Promise<void>((resolve) => (releaseFirst = () => { finished.push('first'); resolve(); }));
  });
  shutdown.register('second', async () => {
    started.push('second');
    await settle();
    finished.push('second');
  });
  shutdown.register('third', () => void started.push('third'));
  t.equal(shutdown.started, false);
  const running = shutdown.run(5000);
  t.equal(shutdown.started, true);
  t.same(started, ['third', 'second', 'first'], 'started in reverse order without waiting for each other');
  t.equal(shutdown.run(1), running, 'a second run returns the first');
  await settle();
  t.same(finished, ['second']);
  clock.advance(1200);
  releaseFirst();
  const report = await running;
  t.same(report, { elapsedMs: 1200, unfinished: [], failed: [] });
  t.same(started, ['third', 'second', 'first'], 'each hook ran once');
  t.equal(clock.pending, 0, 'the deadline timer was cancelled');
});

t.test('the deadline reports unfinished hooks; failures are reported with the reason', async (t) => {
  const clock = new ManualClock();
  const shutdown = new Shutdown(new Timers(clock));
  shutdown.register('stuck-a', () => new Promise<void>(() => {}));
  shutdown.register('throws', () => {
    throw new Error('socket closed');
  });
  shutdown.register('rejects', async () => {
    throw ukError('UK_ERR_SHUTDOWN_TIMEOUT', 'gave up', { fix: 'wait longer' });
  });
  shutdown.register('fine', async () => {});
  shutdown.register('stuck-b', () => new Promise<void>(() => {}));
  let report: Awaited<ReturnType<Shutdown['run']>> | undefined;
  const running = shutdown.run(2000).then((r) => (report = r));
  await settle();
  clock.advance(1999);
  await settle();
  t.equal(report, undefined, 'still waiting before the deadline');
  clock.advance(1);
  await running;
  t.same(report?.unfinished.sort(), ['stuck-a', 'stuck-b']);
  t.same([...(report?.failed ?? [])].sort((a, b) => a.name.localeCompare(b.name)), [
    { name: 'rejects', reason: 'gave up (wait longer)' },
    { name: 'throws', reason: 'socket closed' },
  ]);
  t.equal(report?.elapsedMs, 2000);
});

t.test('no hooks: resolves at once', async (t) => {
  const clock = new ManualClock();
  const report = await new Shutdown(new Timers(clock)).run(1000);
  t.same(report, { elapsedMs: 0, unfinished: [], failed: [] });
});
