/**
 * `uk run` with Klibs ["tls", "cloudwatch"] against the loopback emulators: what the program
 * writes arrives exactly once, in order, byte-exact; memory metrics are right; SIGTERM flushes;
 * configuration errors fail validation. The emulators check every request (SigV4, model, limits):
 * any request they refuse shows up in `errors`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { checkBuilt, deliveries, emulators, PACKAGE_DIR, runUk, sameLines, secretsOf, tempDir, UK, ukEnv, writeConfig, writeProgram } from './e2e-helpers.js';

checkBuilt(t);

const config = (cloudwatch: object, extra: object = {}) => ({ Klibs: ['tls', 'cloudwatch'], ManifestPassthrough: { cloudwatch, ...extra } });
const MAX_MESSAGE = 1_048_550;

/** The program's output, as bytes, and the messages CloudWatch must hold (empty lines are not sent). */
function testOutput(): { bytes: Buffer; expected: string[]; long: string } {
  const parts: Buffer[] = [];
  const line = (b: Buffer | string) => parts.push(Buffer.concat([typeof b === 'string' ? Buffer.from(b, 'utf8') : b, Buffer.from('\n')]));
  line('first line');
  line('héllo wörld ✓ 😀 𝄞 日本語');
  line(`"double" 'single' \`back\``);
  line('back\\slash \\n \\u0000 \\\\ end\\');
  for (let c = 0; c < 0x20; c++) if (c !== 0x0a) line(Buffer.from([0x63, 0x3a, c, 0x3a, 0x65]));
  line(Buffer.from([0x64, 0x65, 0x6c, 0x7f]));
  line('crlf line\r');
  line(Buffer.from([0x61, 0xff, 0x62])); // invalid byte
  line(Buffer.from([0x61, 0xc3])); // lone lead byte at the end
  line(Buffer.from([0xe2, 0x82, 0x61])); // truncated sequence
  line(Buffer.from([0xf0, 0x9f, 0x98])); // truncated 4-byte sequence
  line(Buffer.from([0xc0, 0xaf])); // overlong
  line(Buffer.from([0xed, 0xa0, 0x80])); // UTF-16 surrogate encoded in UTF-8
  line('');
  line('');
  line('after two empty lines');
  for (let i = 0; i < 20_000; i++) line(`line ${String(i).padStart(5, '0')} ${'abcdefghij'.repeat(9)}`);
  const long = `LONG:${'é😀xyz'.repeat(300_000)}:END`; // about 3 MB in UTF-8, cut by the kernel at 1 MiB and by the klib at 1,048,550 bytes
  line(long);
  line('after the long line');
  parts.push(Buffer.from('last line without newline'));
  const bytes = Buffer.concat(parts);
  const expected = bytes
    .toString('latin1')
    .split('\n')
    .map((l) => Buffer.from(l, 'latin1').toString('utf8'))
    .filter((l) => l !== '');
  return { bytes, expected, long };
}

t.test('every line arrives exactly once, in order, byte-exact', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const { bytes, expected, long } = testOutput();
  writeFileSync(join(dir, 'out.bin'), bytes);
  const cfg = writeConfig(dir, config({ logging: { log_group: 'e2e/exact', retention_days: '14' } }));
  const run = runUk(t, { config: cfg, program: ['/bin/cat', join(dir, 'out.bin')], env: ukEnv(dir, aws) });
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);
  t.equal(Buffer.from(result.stdout, 'latin1').equals(bytes), true, 'the serial console still gets the exact bytes');

  const stream = aws.imds.hostname;
  t.same([...aws.cloudwatch.groups.keys()], ['e2e/exact']);
  t.same([...aws.cloudwatch.groups.get('e2e/exact')!.streams.keys()], [stream], 'log_stream defaults to the instance host name');
  t.equal(aws.cloudwatch.groups.get('e2e/exact')!.retentionInDays, 14);
  const messages = aws.cloudwatch.messages('e2e/exact', stream);

  // The long line arrives as consecutive pieces that put it back together.
  const start = messages.findIndex((m) => m.startsWith('LONG:'));
  t.ok(start > 0, 'the long line arrived');
  let end = start;
  let joined = '';
  while (joined.length < long.length && end < messages.length) joined += messages[end++];
  t.equal(joined, long, 'the long line is split into events, nothing lost');
  t.ok(end - start >= 3, `split into ${end - start} events`);
  t.ok(
    messages.slice(start, end).every((m) => Buffer.byteLength(m) <= MAX_MESSAGE),
    'no event over 1,048,550 bytes',
  );
  const rest = [...messages.slice(0, start), 'LONG', ...messages.slice(end)];
  const want = expected.map((l) => (l === long ? 'LONG' : l));
  t.equal(rest.length, want.length, 'as many events as non-empty lines');
  sameLines(t, rest, want, 'exactly once, in order, byte-exact (invalid UTF-8 as U+FFFD)');
  t.ok(messages.includes('a\uFFFDb') && messages.includes('c:\u0000:e') && messages.includes('crlf line\r'));
  t.equal(messages.at(-1), 'last line without newline');

  const events = aws.cloudwatch.events('e2e/exact', stream);
  t.ok(
    events.every((e, i) => i === 0 || e.timestamp >= events[i - 1]!.timestamp),
    'timestamps never go back',
  );
  t.ok(Math.abs(events[0]!.timestamp - Date.now()) < 60_000, 'timestamps are the time the line was read');
  t.same(aws.cloudwatch.errors, [], 'the service refused no request');
  t.ok(aws.cloudwatch.calls('PutLogEvents').length >= 4, 'several batches');
  t.match(result.stderr, /^$|^(?!.*cloudwatch: dropped)/s, 'nothing dropped');
  for (const secret of secretsOf(aws)) t.notOk(result.stderr.includes(secret) || result.stdout.includes(secret), 'no credential in the output');
  t.equal(aws.imds.v1Requests, 0, 'IMDSv2 only');
});

t.test('a burst: two calls in flight, every line once, in order, byte-exact', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  // Calls answer 100 ms late, so that the next batch is always complete before the call ends.
  aws.cloudwatch.faults.add({ kind: 'delay', ms: 100 }, { match: 'PutLogEvents', times: Infinity });
  // Mostly plain lines, with quotes, backslashes, control characters and non-ASCII text here and
  // there (escaped or not, in the same batches), written faster than one call at a time takes them.
  const program = writeProgram(
    dir,
    `const extra = ['"q"', 'b\\\\s', 'tab\\t', 'é✓😀', '\\u2028'];
let out = '';
for (let i = 0; i < 120000; i++) {
  out += 'burst ' + i + ' ' + (i % 997 === 0 ? extra[(i / 997) % 5] : 'x'.repeat(60)) + '\\n';
  if (out.length > 65536) { process.stdout.write(out); out = ''; }
}
process.stdout.write(out);`,
  );
  const extra = ['"q"', 'b\\s', 'tab\t', 'é✓😀', '\u2028'];
  // A 64 KiB write to a pipe arrives in more than one read; on a loaded machine the program may
  // not run for 100 ms between them, and uk would deliver the partial line as it is meant to.
  // This test is about the burst, so it waits longer for a line's end.
  const cfg = writeConfig(
    dir,
    config({ logging: { log_group: 'e2e/burst', log_stream: 's', flush_interval: '0.2' } }, { consoles: ['-serial'], uk: { partial_line_timeout: '5000' } }),
  );
  const result = await runUk(t, { config: cfg, program, env: ukEnv(dir, aws), args: ['--verbose'], timeoutMs: 90_000 }).done;
  t.equal(result.code, 0, result.stderr);
  const want = Array.from({ length: 120_000 }, (_, i) => `burst ${i} ${i % 997 === 0 ? extra[(i / 997) % 5] : 'x'.repeat(60)}`);
  sameLines(t, aws.cloudwatch.messages('e2e/burst', 's'), want, 'every line, once, in order, byte-exact');
  t.same(aws.cloudwatch.errors, [], 'the service refused no request');
  // One call at a time, each answered 100 ms late, would be answered at least 100 ms apart.
  const answered = aws.cloudwatch.calls('PutLogEvents').map((r) => r.at);
  const overlapped = answered.filter((at, i) => i > 0 && at - (answered[i - 1] as number) < 90).length;
  t.ok(overlapped > 0, `${overlapped} of ${answered.length} calls were answered while the one before was in flight`);
});

t.test('memory metrics: names, units, dimension and values', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const cfg = writeConfig(dir, config({ mem_metrics_interval: '1' }));
  const program = writeProgram(dir, `await new Promise((r) => setTimeout(r, 3300)); console.log('done');`);
  const result = await runUk(t, { config: cfg, program, env: ukEnv(dir, aws) }).done;
  t.equal(result.code, 0, result.stderr);
  t.same(aws.cloudwatch.errors, []);
  t.same(aws.cloudwatch.groups.size, 0, 'no logging tuple: no log group');
  const metrics = aws.cloudwatch.metrics;
  const byTime = new Map<number, Map<string, (typeof metrics)[number]>>();
  for (const m of metrics) {
    if (!byTime.has(m.timestamp)) byTime.set(m.timestamp, new Map());
    byTime.get(m.timestamp)!.set(m.metricName, m);
  }
  const times = [...byTime.keys()].sort((a, b) => a - b);
  t.ok(times.length >= 2, `several samples (${times.length})`);
  const gaps = times.slice(1).map((time, i) => time - times[i]!);
  // The sampler's rule: a tick that comes less than half an interval after the last sample is
  // skipped (a late timer is followed at once by the next tick), so samples are never closer than
  // 500 ms; on a loaded machine a late tick can make one gap shorter than a second.
  t.ok(
    gaps.every((gap) => gap >= 490),
    `never two samples within half a second (gaps ${gaps.join(', ')} ms)`,
  );
  const total = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
  for (const sample of byTime.values()) {
    t.same([...sample.keys()].sort(), ['mem_available', 'mem_available_percent', 'mem_cached', 'mem_free', 'mem_total', 'mem_used', 'mem_used_percent']);
    for (const m of sample.values()) {
      t.equal(m.namespace, 'CWAgent');
      t.same(m.dimensions, [{ Name: 'host', Value: aws.imds.hostname }]);
      t.equal(m.unit, m.metricName.endsWith('_percent') ? 'Percent' : 'Bytes');
      t.equal(m.storageResolution, 60, 'standard resolution');
    }
    const v = (name: string) => sample.get(name)!.value as number;
    t.equal(v('mem_total'), total, 'mem_total is MemTotal');
    t.ok(Math.abs(v('mem_used_percent') - (100 * v('mem_used')) / total) < 1e-9);
    t.ok(Math.abs(v('mem_available_percent') - (100 * v('mem_available')) / total) < 1e-9);
    t.ok(v('mem_used') + v('mem_free') + v('mem_cached') <= total, 'used + free + cached ≤ total (buffers are the rest)');
    t.ok(v('mem_free') <= v('mem_available'));
  }
});

t.test('SIGTERM delivers everything buffered', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  // A flush interval of 10 minutes: only shutdown can send these lines.
  const cfg = writeConfig(dir, config({ logging: { log_group: 'sigterm', flush_interval: '600' } }));
  const program = writeProgram(dir, `for (let i = 0; i < 5000; i++) process.stdout.write('buffered ' + i + '\\n'); setInterval(() => {}, 1000);`);
  const run = runUk(t, { config: cfg, program, env: ukEnv(dir, aws) });
  const deadline = Date.now() + 15_000;
  while (!run.stdout().includes('buffered 4999') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  t.equal(delivered.length, 0, 'nothing sent before shutdown');
  run.child.kill('SIGTERM');
  const result = await run.done;
  t.equal(result.code, 143, 'uk exits as the program did (128 + SIGTERM)');
  sameLines(
    t,
    delivered.map((d) => d.message),
    Array.from({ length: 5000 }, (_, i) => `buffered ${i}`),
    'all delivered, in order, once',
  );
  t.same(aws.cloudwatch.errors, []);
});

t.test('shutdown is bounded when CloudWatch cannot be reached, and says what was dropped', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  await aws.cloudwatch.down('refuse');
  const cfg = writeConfig(dir, config({ logging: { log_group: 'unreachable' } }, { uk: { shutdown_timeout: '2' } }));
  const program = writeProgram(dir, `for (let i = 0; i < 10; i++) console.log('lost ' + i);`);
  const started = performance.now();
  const result = await runUk(t, { config: cfg, program, env: ukEnv(dir, aws) }).done;
  const elapsed = performance.now() - started;
  t.equal(result.code, 0);
  t.ok(elapsed < 15_000, `exits once the 2 s shutdown deadline has passed (${elapsed.toFixed(0)} ms)`);
  t.match(result.stderr, /cloudwatch: setup failed, retrying in 1 s \(buffering meanwhile\): .*ECONNREFUSED/);
  // The 10 lines, and uk's own warning when it came before the program ended.
  t.match(result.stderr, /cloudwatch: shutdown deadline passed: dropped 1[01] events that could not be sent/);
  t.match(result.stderr, /events_dropped=1[01]/, 'the counters are printed because something was lost');
  t.notMatch(result.stderr, /still flushing/, 'the klib reports its own losses; the kernel does not wait for it beyond its deadline');
});

t.test('uk validate: tls is required and every bad option is reported', async (t) => {
  const dir = tempDir(t);
  const validate = (cfg: unknown) =>
    spawnSync(process.execPath, [UK, 'validate', '-c', writeConfig(dir, cfg, `v${Math.random()}.json`)], {
      cwd: PACKAGE_DIR,
      encoding: 'utf8',
      env: { ...process.env, AWS_ENDPOINT_URL: '' },
    });
  const noTls = validate({ Klibs: ['cloudwatch'], ManifestPassthrough: { cloudwatch: { mem_metrics_interval: '60' } } });
  t.equal(noTls.status, 1);
  t.match(noTls.stdout, /error UK_ERR_KLIB_MISSING_DEP: missing dependencies for cloudwatch klib: tls/);
  const bad = validate(
    config({ mem_metrics_interval: 'sometimes', logging: { log_group: 'no spaces allowed', retention_days: '10', flush_interval: '0' }, typo: '1' }),
  );
  t.equal(bad.status, 1);
  t.match(bad.stdout, /CloudWatch: invalid memory metrics interval/);
  t.match(bad.stdout, /cloudwatch\.logging\.log_group: "no spaces allowed" is not a valid log group name/);
  t.match(bad.stdout, /retention_days: CloudWatch Logs does not allow a retention of "10" days \(one of 1, 3, 5, 7, 14, 30/);
  t.match(bad.stdout, /flush_interval: expected a number of seconds/);
  t.match(bad.stdout, /cloudwatch: invalid option 'typo'/);
  const good = validate(config({ mem_metrics_interval: '60', logging: { log_group: 'ian-test', log_stream: 'my_log_stream' } }));
  t.equal(good.status, 0, good.stdout);
  t.match(good.stdout, /OK; klibs load in this order: tls, cloudwatch/);

  // At boot, the bad klib fails with the same error and the program still runs.
  const run = spawnSync(
    process.execPath,
    [UK, 'run', '-c', writeConfig(dir, config({ mem_metrics_interval: '0' }), 'bad-run.json'), '--', '/bin/echo', 'still runs'],
    { cwd: PACKAGE_DIR, encoding: 'utf8', timeout: 20_000 },
  );
  t.equal(run.status, 0);
  t.equal(run.stdout, 'still runs\n');
  t.match(run.stderr, /CloudWatch: invalid memory metrics interval/);
});

t.test('HTTPS to CloudWatch: verified, and trusted with tls.ca_file', async (t) => {
  const dir = tempDir(t);
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=uk e2e CA']);
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  const aws = await emulators(t, {
    cloudwatch: { tls: { key: readFileSync(join(dir, 'server.key'), 'utf8'), cert: readFileSync(join(dir, 'server.pem'), 'utf8') } },
  });
  t.match(aws.env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, /^https:\/\/127\.0\.0\.1:/);
  const program = ['/bin/echo', 'over https'];

  const untrusted = await runUk(t, {
    config: writeConfig(dir, config({ logging: { log_group: 'tls' } }, { uk: { shutdown_timeout: '5' } }), 'untrusted.json'),
    program,
    env: ukEnv(dir, aws),
  }).done;
  t.match(
    untrusted.stderr,
    /cloudwatch: setup failed, retrying in 1 s \(buffering meanwhile\): CreateLogGroup: POST https:\/\/127\.0\.0\.1:\d+: .*(self-signed|unable to verify|certificate)/i,
    'an unknown CA is refused',
  );
  t.equal(aws.cloudwatch.requests.length, 0, 'nothing reached the service');

  const trusted = await runUk(t, {
    config: writeConfig(dir, config({ logging: { log_group: 'tls' } }, { tls: { ca_file: join(dir, 'ca.pem') } }), 'trusted.json'),
    program,
    env: ukEnv(dir, aws),
  }).done;
  t.equal(trusted.code, 0, trusted.stderr);
  t.same(aws.cloudwatch.messages('tls', aws.imds.hostname), ['over https'], 'delivered over verified HTTPS');
});
