import t from 'tap';
import { Shutdown, hookDeadline } from '../src/shutdown.js';
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
    return new Promise<void>(
      (resolve) =>
        (releaseFirst = () => {
          finished.push('first');
          resolve();
        }),
    );
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
  t.same(
    [...(report?.failed ?? [])].sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: 'rejects', reason: 'gave up (wait longer)' },
      { name: 'throws', reason: 'socket closed' },
    ],
  );
  t.equal(report?.elapsedMs, 2000);
});

t.test('no hooks: resolves at once', async (t) => {
  const clock = new ManualClock();
  const report = await new Shutdown(new Timers(clock)).run(1000);
  t.same(report, { elapsedMs: 0, unfinished: [], failed: [] });
});

/** A promise the test settles, and whether it has been. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** tls, with cloudwatch and gcp depending on it (as the built-in klibs), and a kernel-level hook. */
function threeKlibs(clock: ManualClock) {
  const shutdown = new Shutdown(new Timers(clock));
  shutdown.dependencies('tls', []);
  shutdown.dependencies('cloudwatch', ['tls']);
  shutdown.dependencies('gcp', ['tls', 'not-loaded']);
  const events: string[] = [];
  const closes: unknown[] = [];
  const gates = { cloudwatch: gate(), gcp: gate(), tls: gate(), serial: gate() };
  const hook = (name: keyof typeof gates) => async (close: unknown) => {
    events.push(`${name} start`);
    closes.push(close);
    await gates[name].promise;
    events.push(`${name} end`);
  };
  // Registered in load order, and one of tls's hooks registered after the others, as a flush is.
  shutdown.register('serial flush', hook('serial'));
  shutdown.register('tls', hook('tls'));
  shutdown.register('cloudwatch', hook('cloudwatch'));
  shutdown.register('gcp', hook('gcp'));
  shutdown.register('console driver tls-audit', () => void events.push('tls-audit flush'), { owner: 'tls' });
  return { shutdown, events, closes, gates };
}

t.test('dependents close before their dependencies; independent klibs close together; the kernel last', async (t) => {
  const clock = new ManualClock();
  clock.advance(700);
  const { shutdown, events, closes, gates } = threeKlibs(clock);
  const running = shutdown.run(5000);
  await settle();
  t.same(events, ['cloudwatch start', 'gcp start'], 'cloudwatch and gcp started without waiting for each other; tls waits');
  gates.cloudwatch.open();
  await settle();
  t.same(events, ['cloudwatch start', 'gcp start', 'cloudwatch end'], 'tls still waits for gcp, which depends on it too');
  clock.advance(1000);
  gates.gcp.open();
  await settle();
  t.same(events.slice(3), ['gcp end', 'tls-audit flush', 'tls start'], "tls's hooks start once both dependents finished, latest registered first");
  t.notOk(events.includes('serial start'), 'the kernel-level hook waits for every klib');
  gates.tls.open();
  await settle();
  t.same(events.slice(6), ['tls end', 'serial start']);
  gates.serial.open();
  const report = await running;
  t.same(report, { elapsedMs: 1000, unfinished: [], failed: [] });
  t.equal(closes.length, 4);
  t.ok(
    closes.every((c) => c === closes[0]),
    'every hook got the same close options',
  );
  const close = closes[0] as { deadline: number; signal: AbortSignal };
  t.equal(
    close.deadline,
    700 + 4500,
    'the deadline is absolute, on the monotonic clock: 90% of 5 s, so that hooks report what they give up before the kernel stops waiting',
  );
  t.same(
    [hookDeadline(10_000), hookDeadline(1000), hookDeadline(100), hookDeadline(20)],
    [9000, 750, 50, 20],
    '90%, at least 250 ms kept back when there is room, never below 50 ms (or the whole deadline when shorter)',
  );
  t.equal(close.signal.aborted, false, 'not aborted when everything finished in time');
  t.equal(clock.pending, 0, 'the deadline timer was cancelled');
});

t.test('one deadline bounds the whole shutdown; what waited starts then with the aborted signal', async (t) => {
  const clock = new ManualClock();
  const { shutdown, events, closes } = threeKlibs(clock);
  let report: Awaited<ReturnType<Shutdown['run']>> | undefined;
  const running = shutdown.run(3000).then((r) => (report = r));
  await settle();
  clock.advance(2999);
  await settle();
  t.equal(report, undefined, 'still waiting for cloudwatch and gcp before the deadline');
  t.notOk(events.includes('tls start'));
  clock.advance(1);
  await running;
  t.same(
    events,
    ['cloudwatch start', 'gcp start', 'tls-audit flush', 'tls start', 'serial start'],
    'at the deadline the rest started, to count what they give up',
  );
  t.ok((closes[0] as { signal: AbortSignal }).signal.aborted, 'the signal is aborted at the deadline');
  t.ok(shutdown.signal.aborted);
  t.same(report?.unfinished.sort(), ['cloudwatch', 'gcp', 'serial flush', 'tls'], 'every hook still running is named; the one that returned at once is not');
  t.equal(report?.elapsedMs, 3000);
});

t.test('abort (uk must exit at once) ends the shutdown now, with the signal aborted', async (t) => {
  const clock = new ManualClock();
  const { shutdown, events, closes } = threeKlibs(clock);
  const running = shutdown.run(10_000);
  await settle();
  let abortedSeen = false;
  (closes[0] as { signal: AbortSignal }).signal.addEventListener('abort', () => (abortedSeen = true));
  shutdown.abort();
  const report = await running;
  t.ok(abortedSeen, 'the hooks saw the abort');
  t.equal(report.elapsedMs, 0, 'no time passed: the deadline was not waited for');
  t.same(events, ['cloudwatch start', 'gcp start', 'tls-audit flush', 'tls start', 'serial start']);
  t.same(report.unfinished.sort(), ['cloudwatch', 'gcp', 'serial flush', 'tls']);
  t.equal(clock.pending, 0, 'the deadline timer was cancelled');
});

t.test('a failing hook does not hold its dependencies back; it is reported with its reason', async (t) => {
  const clock = new ManualClock();
  const shutdown = new Shutdown(new Timers(clock));
  shutdown.dependencies('base', []);
  shutdown.dependencies('user', ['base']);
  const events: string[] = [];
  shutdown.register('base', () => void events.push('base'));
  shutdown.register('user', async () => {
    events.push('user');
    throw new Error('socket closed');
  });
  const report = await shutdown.run(1000);
  t.same(events, ['user', 'base']);
  t.same(report.failed, [{ name: 'user', reason: 'socket closed' }]);
  t.same(report.unfinished, []);
});

t.test('a hook registered from a klib’s code belongs to that klib', async (t) => {
  const clock = new ManualClock();
  const shutdown = new Shutdown(new Timers(clock));
  shutdown.dependencies('base', []);
  shutdown.dependencies('user', ['base']);
  let current: string | undefined = 'base';
  shutdown.ownerNow = () => current;
  const events: string[] = [];
  const userDone = gate();
  shutdown.register('base helper', () => void events.push('base helper'));
  current = undefined;
  shutdown.register(
    'user',
    async () => {
      events.push('user start');
      await userDone.promise;
      events.push('user end');
    },
    { owner: 'user' },
  );
  const running = shutdown.run(1000);
  await settle();
  t.same(events, ['user start'], "the helper waits as base's own hooks do");
  userDone.open();
  await running;
  t.same(events, ['user start', 'user end', 'base helper']);
});
