import t from 'tap';
import { Kernel, opsConfigFromJSON } from '@uk/core';
import { MemoryStream } from '@uk/core/testing';
import { bootKernel, emulators, eventually, INSTANCE, PROJECT, writeLines, ZONE } from './helpers.js';

const program = (lines: readonly (string | Record<string, unknown>)[]) => lines.filter((l) => typeof l !== 'string' || !l.startsWith('uk: '));

t.test('loads after tls, skips without a tuple, and cannot load without tls', async (t) => {
  const e = await emulators(t);
  const { boot } = await bootKernel(t, e, { logging: {} });
  t.same(
    boot.klibs.map((k) => [k.name, k.status]),
    [
      ['tls', 'loaded'],
      ['gcp', 'loaded'],
    ],
  );
  t.same(boot.problems, []);
  const none = new Kernel({ config: opsConfigFromJSON({ Klibs: ['tls', 'gcp'] }), baseEnv: {}, stdout: new MemoryStream(), stderr: new MemoryStream() });
  t.same(
    (await none.boot()).klibs.map((k) => [k.name, k.status]),
    [
      ['tls', 'loaded'],
      ['gcp', 'skipped'],
    ],
  );
  await none.stop();
  const noTls = new Kernel({
    config: opsConfigFromJSON({ Klibs: ['gcp'], ManifestPassthrough: { gcp: { logging: {} } } }),
    baseEnv: {},
    stdout: new MemoryStream(),
    stderr: new MemoryStream(),
  });
  const report = await noTls.boot();
  t.match(
    report.problems.map((p) => p.code),
    ['UK_ERR_KLIB_MISSING_DEP'],
  );
  t.match(report.problems[0]?.message, /missing dependencies for gcp klib: tls/);
  await noTls.stop();
  const bad = new Kernel({
    config: opsConfigFromJSON({ Klibs: ['tls', 'gcp'], ManifestPassthrough: { gcp: { metrics: { interval: 30 } } } }),
    baseEnv: {},
    stdout: new MemoryStream(),
    stderr: new MemoryStream(),
  });
  const badReport = await bad.boot();
  t.match(badReport.problems[0]?.message, /^GCP: invalid metrics interval \(minimum allowed value 60 seconds\)/);
  await bad.stop();
});

t.test('lines reach Cloud Logging with the log name, resource, severities and payloads', async (t) => {
  const e = await emulators(t);
  const { kernel, stop, counter } = await bootKernel(t, e, { logging: { log_id: 'app/web', flush_interval: 0.05 } });
  writeLines(kernel, ['first', 'second', '{"severity":"warning","message":"structured","n":1}', '  {"padded":true}  ']);
  writeLines(kernel, ['on stderr'], 'stderr');
  await stop();
  const stored = e.logging.sorted().filter((x) => !x.textPayload?.startsWith('uk: '));
  t.same(program(e.logging.lines()), ['first', 'second', { message: 'structured', n: 1 }, { padded: true }, 'on stderr']);
  t.same(
    stored.map((x) => x.severity),
    ['INFO', 'INFO', 'WARNING', 'INFO', 'ERROR'],
  );
  t.ok(stored.every((x) => x.logName === `projects/${PROJECT}/logs/app%2Fweb`));
  t.same(stored[0]?.resource, { type: 'gce_instance', labels: { project_id: PROJECT, instance_id: INSTANCE, zone: ZONE } });
  t.same(e.logging.problems, [], 'every body matched the schema');
  t.equal(counter('sent'), e.logging.count);
});

t.test('log_id defaults to the instance host name', async (t) => {
  const e = await emulators(t);
  const { kernel, stop } = await bootKernel(t, e, { logging: {} });
  writeLines(kernel, ['x']);
  await stop();
  t.equal(e.logging.sorted()[0]?.logName, `projects/${PROJECT}/logs/vm-1.${ZONE}.c.${PROJECT}.internal`);
});

t.test('partial errors: refused entries are counted and not resent; passing failures are resent alone', async (t) => {
  const e = await emulators(t);
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'bad', code: 3, message: 'invalid' });
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'flaky', code: 14, message: 'try later' });
  const { kernel, stop, counter } = await bootKernel(t, e, { logging: { flush_interval: 0.05 } });
  writeLines(kernel, ['a', 'bad', 'b', 'flaky', 'c']);
  t.ok(await eventually(() => e.logging.count >= 4));
  await stop();
  t.same(program(e.logging.lines()), ['a', 'b', 'flaky', 'c'], 'everything but the refused entry, in order');
  t.equal(counter('rejected'), 1);
  t.equal(e.logging.duplicates, 0, 'nothing stored was sent again');
  const sizes = e.logging.requests.map((r) => r.items);
  t.equal(sizes[1], 1, 'the flaky entry went again alone');
});

t.test('401: a new token is fetched and the batch sent again; 429, 503 and resets are retried', async (t) => {
  const e = await emulators(t);
  const { kernel, stop, counter, stderr } = await bootKernel(t, e, { logging: { flush_interval: 0.05 } });
  writeLines(kernel, ['before']);
  t.ok(await eventually(() => e.logging.count === 1));
  const firstToken = e.metadata.currentToken?.token as string;
  e.tokens.expire(firstToken);
  writeLines(kernel, ['after expiry']);
  t.ok(await eventually(() => program(e.logging.lines()).length === 2));
  t.not(e.metadata.currentToken?.token, firstToken, 'a new token');
  t.equal(e.logging.unauthenticated, 1);
  e.logging.faults.add({ kind: 'throttle' }).add({ kind: 'error', status: 503, type: 'UNAVAILABLE' }).add({ kind: 'reset' });
  writeLines(kernel, ['through faults 1', 'through faults 2']);
  t.ok(await eventually(() => program(e.logging.lines()).length === 4, 15_000));
  e.logging.loseAnswers = 1;
  writeLines(kernel, ['answer lost']);
  t.ok(await eventually(() => e.logging.duplicates >= 1, 15_000), 'resent after the lost answer (and de-duplicated by insertId)');
  await stop();
  t.same(program(e.logging.lines()), ['before', 'after expiry', 'through faults 1', 'through faults 2', 'answer lost'], 'each line once, in order');
  t.ok(counter('retries') >= 4);
  t.match(stderr.text, /gcp: send failed, retrying in/);
  t.notMatch(stderr.text, /ya29\./, 'no token in any message');
});

t.test('a request refused as a whole: split until the refused entry stands alone, which is counted and reported', async (t) => {
  const e = await emulators(t);
  const { kernel, stop, counter, stderr } = await bootKernel(t, e, { logging: { flush_interval: 0.05 } });
  e.logging.faults.add({ kind: 'error', status: 400, type: 'INVALID_ARGUMENT', message: 'nope' });
  writeLines(kernel, ['lost']);
  t.ok(await eventually(() => counter('rejected') === 1));
  // Once more, for a batch of three: the halves go on their own (the refusal was for that request only).
  e.logging.faults.add({ kind: 'error', status: 400, type: 'INVALID_ARGUMENT', message: 'nope' });
  writeLines(kernel, ['kept 1', 'kept 2', 'kept 3']);
  t.ok(await eventually(() => program(e.logging.lines()).length === 3));
  await stop();
  t.same(
    program(e.logging.lines()).filter((l) => l === 'lost' || (typeof l === 'string' && l.startsWith('kept'))),
    ['kept 1', 'kept 2', 'kept 3'],
  );
  t.equal(counter('rejected'), 1);
  t.equal(counter('failed'), 0);
  t.match(stderr.text, /gcp: entries\.write refused the only entry of a batch \(entries\.write: HTTP 400 INVALID_ARGUMENT: nope\)/);
});

t.test('metadata down at boot: lines wait in the buffer, then go; a full buffer drops and reports', async (t) => {
  const e = await emulators(t);
  await e.metadata.down();
  const { kernel, stop, counter, stderr } = await bootKernel(t, e, { logging: { flush_interval: 0.05, buffer_size: '64k' } });
  writeLines(
    kernel,
    Array.from({ length: 200 }, (_, i) => `waiting ${i}`),
  );
  // Long enough for a second failed attempt (the first is not reported).
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal(e.logging.count, 0, 'nothing sent before setup');
  writeLines(
    kernel,
    Array.from({ length: 2000 }, (_, i) => `overflow ${i} ${'x'.repeat(100)}`),
  );
  t.ok(counter('dropped') > 0, 'the 64 KiB buffer overflowed');
  await e.metadata.up();
  t.ok(await eventually(() => e.logging.count >= 200, 15_000));
  await stop();
  const lines = program(e.logging.lines()) as string[];
  t.same(
    lines.slice(0, 200),
    Array.from({ length: 200 }, (_, i) => `waiting ${i}`),
    'buffered lines delivered in order',
  );
  t.ok(lines.length + counter('dropped') >= 2200, 'every line delivered or counted as dropped');
  const overflow = lines.slice(200).map((l) => Number(l.split(' ')[1]));
  t.same(
    overflow,
    [...overflow].sort((a, b) => a - b),
    'what got in is in order',
  );
  t.match(stderr.text, /gcp: dropped \d+ log entries \(buffer full: 65536 bytes/);
  t.match(stderr.text, /gcp: setup failed, retrying in 2 s/);
});

t.test('metrics: memory and disk series once setup is done, accepted by the emulator', async (t) => {
  const e = await emulators(t);
  const { stop, counter } = await bootKernel(t, e, { metrics: { disk: { include_readonly: true } } });
  t.ok(await eventually(() => counter('metrics_sent') >= 10));
  await stop();
  const memory = e.monitoring.pointsOf('agent.googleapis.com/memory/bytes_used');
  t.same(memory.map((p) => p.labels.state).sort(), ['buffered', 'cached', 'free', 'slab', 'used']);
  t.same(memory[0]?.resource, { type: 'gce_instance', labels: { instance_id: INSTANCE, zone: ZONE } });
  const percent = e.monitoring.pointsOf('agent.googleapis.com/memory/percent_used');
  t.equal(Math.round(percent.reduce((sum, p) => sum + p.value, 0)), 100);
  const disks = e.monitoring.pointsOf('agent.googleapis.com/disk/bytes_used');
  t.equal(disks.length % 3, 0, 'three states per device');
  t.same(e.monitoring.problems, []);
  t.equal(counter('metrics_rejected'), 0);
});
