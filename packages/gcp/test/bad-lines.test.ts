/**
 * One bad line never sinks its neighbours: the logging driver with real HTTP against the Cloud
 * Logging emulator (which refuses what the service refuses), fed pathological lines and entries
 * the service refuses alone, or refuses the whole request for.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:net';
import { Heaps, Stats, Timers, type ConsoleRecord, type KlibContext, type LineBlock } from '@uk/core';
import { createHttpClient } from '@uk/tls';
import { ApiError, createLoggingDriver, DEFAULT_SEVERITY, followUpBudget, GoogleApi, MetadataClient, TokenSource, type LoggingOptions } from '../src/index.js';
import { emulators, eventually, INSTANCE, PROJECT, ZONE } from './helpers.js';
import { readyDestination } from './destination.js';

const baseOptions: LoggingOptions = {
  logId: 'bad-lines',
  flushIntervalMs: 20,
  bufferSize: 32 * 1024 * 1024,
  severity: DEFAULT_SEVERITY,
  jsonPayload: true,
  specialFields: true,
  backpressure: false,
  endpoint: '',
  requestTimeoutMs: 60_000,
};

/** A driver with a real clock and real HTTP to fresh emulators; counters and warnings kept. */
async function harness(t: Test, options: Partial<LoggingOptions> = {}) {
  const e = await emulators(t);
  const http = createHttpClient();
  const stats = new Stats();
  const warnings: string[] = [];
  const timers = new Timers();
  const ctx = {
    name: 'gcp',
    timers,
    heaps: new Heaps(),
    counter: (name: string) => stats.counter('gcp', name),
    // No uk.spool_dir: memory only.
    spool: () => undefined,
    signal: new AbortController().signal,
    log: { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) },
  } as unknown as KlibContext<unknown>;
  const metadata = new MetadataClient(http, `http://${e.metadata.host}`);
  const api = new GoogleApi(http, new TokenSource(() => metadata.token(), timers));
  const setup = readyDestination({ projectId: PROJECT, zone: ZONE, instanceId: INSTANCE, hostname: 'vm-1' });
  const driver = createLoggingDriver(ctx, { ...baseOptions, endpoint: e.logging.url, ...options }, { api, setup });
  t.teardown(async () => {
    await driver.close(2000);
    http.close();
  });
  const counter = (name: string): number => stats.counter('gcp', name).value;
  const record = (r: ConsoleRecord): void => (driver.write as (r: ConsoleRecord) => void)(r);
  const write = (lines: readonly string[]) => {
    for (const text of lines) record({ text, time: Date.now(), source: 'stdout' });
  };
  const writeLines = (lines: readonly string[]): void => (driver.writeLines as (block: LineBlock, source: 'stdout') => void)(blockOf(lines), 'stdout');
  return { e, driver, api, http, counter, warnings, write, record, writeLines };
}

/** Lines as the framer hands them on: one buffer, newline-separated, with bounds. */
function blockOf(lines: readonly string[]): LineBlock {
  const bounds = new Int32Array(2 * lines.length);
  let at = 0;
  lines.forEach((line, i) => {
    const length = Buffer.byteLength(line);
    bounds[2 * i] = at;
    bounds[2 * i + 1] = at + length;
    at += length + 1;
  });
  return { buf: Buffer.from(lines.map((l) => `${l}\n`).join('')), bounds, count: lines.length, time: Date.now() };
}

const good = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `good ${from + i}`);

t.test('partialSuccess: an entry refused in the middle; the rest stored in the same request, nothing resent', async (t) => {
  const { e, driver, counter, warnings, write } = await harness(t);
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'bad', code: 3, message: 'invalid entry' });
  write([...good(50), 'bad', ...good(50, 50)]);
  await driver.batcher.flush();
  t.same(e.logging.lines(), good(100), 'every other entry, in order');
  t.same(
    e.logging.requests.map((r) => [r.status, r.items]),
    [[400, 101]],
    'one request: the stored entries were not sent again',
  );
  t.equal(e.logging.duplicates, 0);
  t.equal(counter('rejected'), 1);
  t.equal(counter('sent'), 100);
  t.match(warnings.join('\n'), /entries\.write refused 1 entry of a batch of 101 \(code 3: invalid entry\); the rest were stored/);
});

t.test('a request refused as a whole for one entry is split: the others stored once, that one rejected', async (t) => {
  const { e, driver, counter, warnings, write } = await harness(t);
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'poison', wholeRequest: true, code: 3, message: 'cannot decode', times: Infinity });
  const lines = [...good(600), 'poison', ...good(399, 600)];
  write(lines);
  await driver.batcher.flush();
  t.same(e.logging.lines(), good(999), 'every good line once, in order');
  t.equal(e.logging.duplicates, 0, 'no stored entry was sent again');
  t.equal(counter('rejected'), 1);
  t.equal(counter('sent'), 999);
  t.equal(counter('failed'), 0);
  t.equal(counter('dropped'), 0);
  const stored = e.logging.requests.filter((r) => r.status === 200).reduce((sum, r) => sum + r.items, 0);
  t.equal(stored, 999, 'each good entry in exactly one successful request');
  t.ok(e.logging.requests.length <= 1 + 2 * Math.ceil(Math.log2(1000)), `found by halving: ${e.logging.requests.length} requests`);
  t.equal(
    warnings.filter((w) => /refused 1 entry of a batch of 1000 \(entries\.write: HTTP 400 INVALID_ARGUMENT: entries\[0\]: cannot decode\)/.test(w)).length,
    1,
    `reported once: ${warnings.join(' | ')}`,
  );
  // The same problem again: counted, not reported again.
  write(['poison', 'after']);
  await driver.batcher.flush();
  t.equal(counter('rejected'), 2);
  t.same(e.logging.lines().slice(-1), ['after']);
  t.equal(warnings.filter((w) => /cannot decode/.test(w)).length, 1, 'the same reason is not reported twice in a row');
});

t.test('a request refused whatever its entries: bounded follow-up requests, then everything counted', async (t) => {
  const { e, driver, counter, write } = await harness(t);
  e.logging.rejectEntries({ wholeRequest: true, code: 3, message: 'always', times: Infinity });
  write(good(1000));
  await driver.batcher.flush();
  t.equal(e.logging.count, 0);
  t.equal(counter('rejected'), 1000, 'every entry counted');
  t.equal(counter('sent'), 0);
  t.ok(e.logging.requests.length <= 1 + followUpBudget(1000), `${e.logging.requests.length} requests, at most 1 + ${followUpBudget(1000)}`);
});

t.test('a whole-request 404 is not split: a drop, counted once as dropped', async (t) => {
  const { e, driver, counter, write } = await harness(t);
  e.logging.faults.add({ kind: 'error', status: 404, type: 'NOT_FOUND', message: 'no such API' });
  write(good(10));
  await driver.batcher.flush();
  t.equal(counter('dropped'), 10, 'counted once');
  t.equal(counter('failed'), 0, 'not also as failed');
  t.equal(e.logging.requests.length, 1);
  write(['after']);
  await driver.batcher.flush();
  t.same(e.logging.lines(), ['after']);
});

t.test('deep, invalid and huge lines among good ones: every good line stored once, the bad ones as text', async (t) => {
  const { e, driver, counter, warnings, writeLines } = await harness(t);
  const deep = (n: number) => `${'{"a":'.repeat(n - 1)}{"v":1}${'}'.repeat(n - 1)}`;
  const special = [deep(32), deep(33), deep(1500), deep(5000), deep(100_000), '{"a":[}', `{"big":"${'x'.repeat(700_000)}"}`, 'x'.repeat(900_000)];
  const lines = [...good(500), ...special, ...good(500, 500)];
  writeLines(lines);
  await driver.batcher.flush();
  const expected = [...good(500), JSON.parse(deep(32)) as Record<string, unknown>, ...special.slice(1), ...good(500, 500)];
  t.same(e.logging.lines(), expected, 'every line once, in order; the deep and invalid ones as their exact text');
  t.equal(counter('json_too_deep'), 4, '33, 1,500, 5,000 and 100,000 levels');
  t.equal(counter('dropped') + counter('rejected') + counter('failed') + counter('encode_failed'), 0);
  t.equal(counter('sent'), e.logging.count, 'counted as sent what was stored');
  t.ok(counter('split') >= 3, 'the 600 KB, 700 KB and 900 KB lines were split');
  t.equal(e.logging.duplicates, 0);
  t.same(e.logging.problems, [], 'every request was one the service takes');
  t.equal(warnings.filter((w) => /nested deeper than 32 levels was sent as textPayload/.test(w)).length, 1, 'said once');
});

t.test('a line whose encoding throws: sent as text, or dropped and counted; the rest of the read goes on', async (t) => {
  const { e, driver, counter, warnings, writeLines, record } = await harness(t);
  const encode = driver.encoder.encode.bind(driver.encoder);
  driver.encoder.encode = (record, emit) => {
    if (record.text.includes('boom')) throw new RangeError('Maximum call stack size exceeded');
    encode(record, emit);
  };
  writeLines(['first', '{"boom":1}', '"quoted" second', 'third']);
  await driver.batcher.flush();
  t.same(e.logging.lines(), ['first', '{"boom":1}', '"quoted" second', 'third'], 'the line that threw went as text');
  t.equal(counter('encode_failed'), 1);
  t.equal(counter('dropped'), 0);
  t.match(warnings.join('\n'), /a line of 10 characters could not be encoded \(Maximum call stack size exceeded\); sent as text, counted as encode_failed/);
  const encodeText = driver.encoder.encodeText.bind(driver.encoder);
  driver.encoder.encodeText = (record, emit) => {
    if (record.text.includes('boom')) throw new Error('even as text');
    encodeText(record, emit);
  };
  writeLines(['fourth', '{"boom":2}', 'fifth "quoted"']);
  record({ text: 'boom "record"', time: Date.now(), source: 'stderr' });
  record({ text: 'sixth', time: Date.now(), source: 'stderr' });
  await driver.batcher.flush();
  t.same(e.logging.lines().slice(4), ['fourth', 'fifth "quoted"', 'sixth'], 'the lines around it went on');
  t.equal(counter('encode_failed'), 3);
  t.equal(counter('dropped'), 2, 'the lines that could not be encoded at all are counted as dropped');
  t.equal(counter('sent'), e.logging.count);
});

t.test('API errors say whether the request may have been carried out (uncertain)', async (t) => {
  const { e, api } = await harness(t, {});
  const call = (url: string, timeoutMs = 60_000) => ({
    url,
    body: JSON.stringify({ logName: `projects/${PROJECT}/logs/x`, entries: [{ textPayload: 'u' }] }),
    timeoutMs,
    what: 'entries.write',
  });
  const failure = async (promise: Promise<unknown>): Promise<ApiError> => {
    try {
      await promise;
    } catch (err) {
      return err as ApiError;
    }
    throw new Error('the call did not fail');
  };
  const url = `${e.logging.url}/v2/entries:write`;
  e.logging.faults.add({ kind: 'delay', ms: 3000 });
  const timedOut = await failure(api.post(call(url, 200)));
  t.match(timedOut, { name: 'ApiError', retryable: true, uncertain: true }, `a timeout waiting for the answer: ${timedOut.message}`);
  e.logging.faults.add({ kind: 'reset' });
  const reset = await failure(api.post(call(url)));
  t.match(reset, { retryable: true, uncertain: true }, `a reset after the request went out: ${reset.message}`);
  // A port nothing listens on: the connection is refused before anything is sent.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as { port: number }).port;
  await new Promise((resolve) => closed.close(resolve));
  const refused = await failure(api.post(call(`http://127.0.0.1:${port}/v2/entries:write`)));
  t.match(refused, { retryable: true, uncertain: false }, `a refused connection: ${refused.message}`);
  const answered = await api.post(call(url));
  t.equal(answered.response.statusCode, 400, 'an answer is not an error of the client');
});

t.test('a lost answer: the batch goes again with the same insertIds and timestamps, stored once', async (t) => {
  const { e, driver, counter, write } = await harness(t);
  e.logging.loseAnswers = 1;
  write(good(20));
  t.ok(await eventually(() => e.logging.duplicates === 20, 15_000), 'the resend was recognised entry by entry');
  await driver.batcher.flush();
  t.same(e.logging.lines(), good(20));
  t.equal(e.logging.count, 20);
  t.ok(counter('retries') >= 1);
});

t.test('request_timeout: a request that takes longer is abandoned and sent again', async (t) => {
  const { e, driver, write } = await harness(t, { requestTimeoutMs: 300 });
  // The emulator carries out a request it delayed only if the client is still there.
  e.logging.faults.add({ kind: 'delay', ms: 5000 });
  write(['late']);
  t.ok(await eventually(() => e.logging.count === 1, 4000), 'stored long before the delayed attempt would have answered');
  t.equal(e.logging.faults.pending, 0, 'the first attempt was the delayed one');
  t.same(e.logging.lines(), ['late']);
  await driver.batcher.flush();
});
