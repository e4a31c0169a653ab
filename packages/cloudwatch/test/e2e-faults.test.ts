/**
 * Faults between uk and AWS lose nothing: throttling, 5xx, connection resets, slow answers,
 * expired credentials (rotation), a deleted stream, and the metadata service down at boot.
 * The program writes in phases and waits for a file the test creates, so faults hit known places.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { checkBuilt, deliveries, emulators, runUk, sameLines, secretsOf, tempDir, ukEnv, WAIT_FOR_FILE, writeConfig, writeProgram } from './e2e-helpers.js';

checkBuilt(t);

const config = (logging: object, extra: object = {}) => ({
  Klibs: ['tls', 'cloudwatch'],
  ManifestPassthrough: { cloudwatch: { logging: { flush_interval: '0.1', ...logging } }, ...extra },
});

/** A program that writes `perPhase` lines, waits for go-N, and so on. */
function phasedProgram(dir: string, phases: number, perPhase: number): string[] {
  return writeProgram(
    dir,
    `${WAIT_FOR_FILE}
for (let p = 0; p < ${phases}; p++) {
  if (p > 0) await waitFor(${JSON.stringify(join(dir, 'go-'))} + p);
  for (let i = 0; i < ${perPhase}; i++) process.stdout.write('phase ' + p + ' line ' + i + '\\n');
}`,
  );
}
const expectedLines = (phases: number, perPhase: number) =>
  Array.from({ length: phases * perPhase }, (_, n) => `phase ${Math.floor(n / perPhase)} line ${n % perPhase}`);
const programLines = (delivered: { message: string }[]) => delivered.map((d) => d.message).filter((m) => !m.startsWith('uk: '));

async function until(predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('throttling, 5xx, resets and slow answers lose nothing and duplicate nothing', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  const run = runUk(t, { config: writeConfig(dir, config({ log_group: 'faults' })), program: phasedProgram(dir, 5, 2000), env: ukEnv(dir, aws) });
  const faults = aws.cloudwatch.faults;
  const phase = async (p: number, inject: () => void) => {
    await until(() => programLines(delivered).length >= p * 2000, `phase ${p - 1} delivered`);
    inject();
    writeFileSync(join(dir, `go-${p}`), '');
  };
  await phase(1, () => faults.add({ kind: 'throttle' }, { match: 'PutLogEvents', times: 3 }));
  await phase(2, () =>
    faults
      .add({ kind: 'error', status: 503, type: 'ServiceUnavailableException' }, { match: 'PutLogEvents', times: 2 })
      .add({ kind: 'error', status: 500, type: 'InternalFailure' }, { match: 'PutLogEvents' }),
  );
  await phase(3, () => faults.add({ kind: 'reset' }, { match: 'PutLogEvents', times: 2 }));
  await phase(4, () => faults.add({ kind: 'delay', ms: 1500 }, { match: 'PutLogEvents' }));
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);
  t.same(faults.applied, { error: 3, throttle: 3, reset: 2, delay: 1, 'expired-token': 0, hang: 0, slow: 0, 'lose-answer': 0 }, 'every fault was hit');
  sameLines(t, programLines(delivered), expectedLines(5, 2000), 'every line once, in order');
  t.match(result.stderr, /cloudwatch: send failed, retrying in [\d.]+ s \(\d+ events waiting\): PutLogEvents: ThrottlingException: Rate exceeded \(HTTP 400\)/);
  t.match(result.stderr, /cloudwatch: delivering again after \d+ failed attempt\(s\)/);
  t.notMatch(result.stderr, /dropped/);
  t.same(
    aws.cloudwatch.errors.filter(
      (e) => !['ThrottlingException', 'ServiceUnavailableException', 'InternalFailure', 'ConnectionReset'].includes(e.errorType ?? ''),
    ),
    [],
    'no other error',
  );
});

t.test('credential rotation: ExpiredTokenException renews the credentials and resends', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  const run = runUk(t, { config: writeConfig(dir, config({ log_group: 'rotation' })), program: phasedProgram(dir, 3, 500), env: ukEnv(dir, aws) });
  const first = aws.imds.credentials.accessKeyId;
  await until(() => programLines(delivered).length >= 500, 'phase 0');
  // AWS rotated the role's credentials and the old ones stopped working.
  const second = aws.imds.rotate({ expirePrevious: true }).accessKeyId;
  writeFileSync(join(dir, 'go-1'), '');
  await until(() => programLines(delivered).length >= 1000, 'phase 1');
  // The service refuses a request as expired (e.g. a clock or cache issue on its side): renew and resend.
  aws.cloudwatch.faults.add({ kind: 'expired-token' }, { match: 'PutLogEvents' });
  writeFileSync(join(dir, 'go-2'), '');
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);
  sameLines(t, programLines(delivered), expectedLines(3, 500), 'every line once, in order');
  const puts = aws.cloudwatch.calls('PutLogEvents');
  t.ok(
    puts.some((r) => r.errorType === 'ExpiredTokenException' && r.accessKeyId === undefined),
    'the old key was refused',
  );
  t.ok(
    puts.filter((r) => r.status === 200).some((r) => r.accessKeyId === second),
    'the new key was used',
  );
  t.ok(puts.filter((r) => r.status === 200 && r.accessKeyId === first).length > 0, 'the first key worked before');
  t.match(result.stderr, /cloudwatch: ExpiredTokenException: renewing credentials and sending again/);
  t.notMatch(result.stderr, /send failed/, 'renewed and resent at once, without a retry delay');
  t.match(result.stderr, /credential_refreshes=|^/);
  for (const secret of secretsOf(aws)) t.notOk(result.stderr.includes(secret), 'no credential in the output');
});

t.test('a deleted stream is created again and the batch resent', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  const run = runUk(t, {
    config: writeConfig(dir, config({ log_group: 'deleted', log_stream: 'app-stream', retention_days: '7' })),
    program: phasedProgram(dir, 3, 300),
    env: ukEnv(dir, aws),
  });
  await until(() => programLines(delivered).length >= 300, 'phase 0');
  aws.cloudwatch.deleteLogStream('deleted', 'app-stream');
  writeFileSync(join(dir, 'go-1'), '');
  await until(() => programLines(delivered).length >= 600, 'phase 1');
  aws.cloudwatch.deleteLogGroup('deleted');
  writeFileSync(join(dir, 'go-2'), '');
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);
  sameLines(t, programLines(delivered), expectedLines(3, 300), 'every line once, in order');
  t.same(
    aws.cloudwatch
      .calls('PutLogEvents')
      .filter((r) => r.errorType)
      .map((r) => r.errorType),
    ['ResourceNotFoundException', 'ResourceNotFoundException'],
  );
  t.equal(aws.cloudwatch.calls('CreateLogGroup').length, 3, 'created at setup, again after each deletion');
  t.equal(aws.cloudwatch.groups.get('deleted')?.retentionInDays, 7, 'with its retention');
  t.match(result.stderr, /cloudwatch: log group deleted or stream app-stream is missing; creating it again/);
  t.same(programLines(aws.cloudwatch.events('deleted', 'app-stream')), expectedLines(3, 300).slice(600), 'the recreated stream holds what came after');
});

t.test('metadata service down at boot: the program starts at once, lines are buffered, then delivered', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  await aws.imds.down('refuse');
  const run = runUk(t, { config: writeConfig(dir, config({ log_group: 'late' }), 'late.json'), program: phasedProgram(dir, 2, 1000), env: ukEnv(dir, aws) });
  await until(() => run.stdout().includes('phase 0 line 999'), 'the program output');
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(delivered.length, 0, 'nothing can be sent yet');
  t.match(run.stderr(), /cloudwatch: setup failed, retrying in 1 s \(buffering meanwhile\): no AWS region: metadata service .*ECONNREFUSED/);
  await aws.imds.up();
  writeFileSync(join(dir, 'go-1'), '');
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);
  t.ok(
    result.firstStdoutMs !== undefined && result.firstStdoutMs < 8000,
    `the program was not held up (first output after ${result.firstStdoutMs?.toFixed(0)} ms)`,
  );
  sameLines(t, programLines(delivered), expectedLines(2, 1000), 'the buffered lines, then the rest, in order');
  t.match(result.stderr, /cloudwatch: setup done after \d+ failed attempt\(s\)/);
  t.equal(delivered[0]?.stream, aws.imds.hostname, 'the stream is the host name the metadata service gave');
  t.equal(aws.imds.v1Requests, 0);
});

t.test('a full buffer drops, counts and reports; the rest is delivered', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  // The service throttles every call while the program writes 2.6 MB into a 2 MB buffer.
  aws.cloudwatch.faults.add({ kind: 'throttle' }, { match: 'PutLogEvents', times: Infinity });
  const cfg = writeConfig(dir, config({ log_group: 'full', buffer_size: '2m' }));
  const program = writeProgram(
    dir,
    `${WAIT_FOR_FILE}
for (let i = 0; i < 60000; i++) process.stdout.write('burst line ' + i + '\\n');
await waitFor(${JSON.stringify(join(dir, 'go-1'))});
for (let i = 0; i < 20000; i++) process.stdout.write('after line ' + i + '\\n');`,
  );
  const run = runUk(t, { config: cfg, program, env: ukEnv(dir, aws) });
  await until(() => run.stdout().includes('burst line 59999'), 'the burst written');
  await until(() => /cloudwatch: dropped \d+ events \(buffer full: 2097152 bytes; \d+ dropped in all\)/.test(run.stderr()), 'the drop report');
  aws.cloudwatch.faults.clear();
  // Wait until what the buffer kept has been delivered.
  let seen = -1;
  await until(() => {
    const now = delivered.length;
    const settled = now > 0 && now === seen;
    seen = now;
    return settled && !/waiting/.test(run.stderr().split('delivering again').at(-1) ?? '');
  }, 'the buffer drained');
  writeFileSync(join(dir, 'go-1'), '');
  const result = await run.done;
  t.equal(result.code, 0);
  const lines = programLines(delivered);
  const burst = lines.filter((l) => l.startsWith('burst'));
  const dropped = Number(/events_dropped=(\d+)/.exec(result.stderr)?.[1]);
  t.ok(burst.length > 0 && burst.length < 60_000, `${burst.length} of the burst kept`);
  // uk's own messages (the drop report among them) also go to the cloudwatch driver and count.
  const missing = 60_000 - burst.length;
  t.ok(dropped >= missing && dropped - missing <= 5, `every line was either delivered or counted as dropped (${missing} missing, ${dropped} dropped)`);
  const kept = new Set(burst);
  sameLines(
    t,
    burst,
    Array.from({ length: 60_000 }, (_, i) => `burst line ${i}`).filter((l) => kept.has(l)),
    'what was kept is in order, without duplicates',
  );
  t.equal(burst[0], 'burst line 0', 'the oldest lines are kept, the newest dropped');
  sameLines(
    t,
    lines.filter((l) => l.startsWith('after')),
    Array.from({ length: 20_000 }, (_, i) => `after line ${i}`),
    'after the outage, everything is delivered',
  );
});

t.test('backpressure: a burst larger than the buffer is delivered whole while CloudWatch works, slowly', async (t) => {
  const burst = async (backpressure: boolean) => {
    const dir = tempDir(t);
    const aws = await emulators(t);
    const delivered = deliveries(aws);
    // Every call answers 150 ms late: CloudWatch works, but slower than the program writes.
    aws.cloudwatch.faults.add({ kind: 'delay', ms: 150 }, { match: 'PutLogEvents', times: Infinity });
    const cfg = writeConfig(dir, config({ log_group: 'burst', buffer_size: '2m', backpressure: String(backpressure) }));
    const program = writeProgram(dir, `for (let i = 0; i < 150000; i++) process.stdout.write('burst ' + i + '\\n');`);
    const result = await runUk(t, { config: cfg, program, env: ukEnv(dir, aws), timeoutMs: 90_000 }).done;
    t.equal(result.code, 0);
    return { lines: programLines(delivered), stderr: result.stderr };
  };
  const paced = await burst(true);
  sameLines(
    t,
    paced.lines,
    Array.from({ length: 150_000 }, (_, i) => `burst ${i}`),
    'with backpressure (the default): every line, in order',
  );
  t.notMatch(paced.stderr, /dropped/, 'nothing dropped');
  const unpaced = await burst(false);
  t.ok(unpaced.lines.length < 150_000, `without backpressure the 2 MB buffer overflows (${unpaced.lines.length} delivered)`);
  t.match(unpaced.stderr, /cloudwatch: dropped \d+ events \(buffer full: 2097152 bytes/);
});
