import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Heaps, ManualClock, Stats, Timers, type KlibContext } from '@uk/core';
import { startGcpEmulators } from '@uk/testkit';
import { createHttpClient } from '@uk/tls';
import { createMetricsReporter, GoogleApi, MetadataClient, TokenSource, type MemorySample, type MetricsOptions } from '../src/index.js';
import { INSTANCE, PROJECT, ZONE } from './helpers.js';
import { pendingDestination } from './destination.js';

const MEMORY: MemorySample = { total: 1000, bytes: { buffered: 100, cached: 200, free: 300, slab: 50, used: 350 } };

t.test('series per request, spacing of points, lost answers', async (t) => {
  const clock = new ManualClock(Date.now());
  const e = await startGcpEmulators({ clock, projectId: PROJECT, zone: ZONE, instanceId: INSTANCE });
  const http = createHttpClient();
  const dir = mkdtempSync(join(tmpdir(), 'uk-gcp-mon-'));
  t.teardown(async () => {
    http.close();
    await e.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // 40 devices: 10 memory + 240 disk series, more than one request holds.
  const mounts = join(dir, 'mounts');
  writeFileSync(mounts, Array.from({ length: 40 }, (_, i) => `/dev/vd${i} /mnt/d${i} ext4 rw 0 0`).join('\n'));
  const statfs = async () => ({ bsize: 4096, blocks: 100, bfree: 50, bavail: 40 });

  const stats = new Stats();
  const logs: string[] = [];
  const abort = new AbortController();
  const ctx = {
    name: 'gcp',
    timers: new Timers(clock),
    heaps: new Heaps(),
    counter: (name: string) => stats.counter('gcp', name),
    signal: abort.signal,
    log: { debug: (m: string) => logs.push(m), info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) },
  } as unknown as KlibContext<unknown>;
  const metadata = new MetadataClient(http, `http://${e.metadata.host}`);
  const api = new GoogleApi(http, new TokenSource(() => metadata.token(), new Timers(clock)));
  const options: MetricsOptions = { intervalMs: 60_000, disk: { includeReadonly: false }, endpoint: e.monitoring.url, requestTimeoutMs: 30_000 };
  const { destination: setup, resolve: resolveReady } = pendingDestination();
  const reporter = createMetricsReporter(ctx, options, { api, setup, readMemory: async () => MEMORY, mountsPath: mounts, statfs });
  const counter = (name: string) => stats.snapshot().gcp?.[name] ?? 0;
  const settle = async (check: () => boolean) => {
    // Real HTTP needs real time; the Batcher's timers need the manual clock to move.
    // Until the event, with a generous outer limit of real time (a loaded machine is slow).
    for (const end = Date.now() + 60_000; !check() && Date.now() < end;) {
      await clock.advanceAsync(100);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  resolveReady({ projectId: PROJECT, zone: ZONE, instanceId: INSTANCE, hostname: 'vm' });
  await settle(() => counter('metrics_sent') >= 250);
  t.equal(counter('metrics_sent'), 250, 'the first sample, taken when setup is done');
  t.same(
    e.monitoring.requests.map((r) => r.items),
    [200, 50],
    'at most 200 series per request',
  );
  t.same(e.monitoring.problems, []);

  clock.setWallTime(clock.now() - 5000);
  await reporter.sample();
  t.equal(counter('metrics_skipped'), 250, 'a clock step back: no point would be in order, none is sent');

  clock.setWallTime(clock.now() + 65_000);
  e.monitoring.loseAnswers = 1;
  await reporter.sample();
  await settle(() => counter('metrics_sent') >= 500);
  t.equal(counter('metrics_sent'), 500, 'the request whose answer was lost was resent; the points already there count as sent');
  t.equal(counter('metrics_rejected'), 0);
  t.equal(e.monitoring.points.length, 500, 'each point stored once');
  t.match(
    e.monitoring.requests.map((r) => r.status),
    [200, 200, 'reset', 400, 200],
  );

  await clock.advanceAsync(60_000);
  await settle(() => counter('metrics_sent') >= 750 && e.monitoring.points.length >= 750);
  t.equal(e.monitoring.points.length, 750, 'the timer sampled again after the interval');
  abort.abort();
  await reporter.close(1000);
});
