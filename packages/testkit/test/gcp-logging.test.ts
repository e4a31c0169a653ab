import t, { type Test } from 'tap';
import { LOGGING_LIMITS, startGcpEmulators, type GcpEmulators } from '../src/index.js';

async function start(t: Test): Promise<GcpEmulators & { token: string; logName: string; resource: Record<string, unknown> }> {
  const emulators = await startGcpEmulators({ projectId: 'p-1', zone: 'us-west2-a', instanceId: '1234567890123456789' });
  t.teardown(() => emulators.close());
  return {
    ...emulators,
    token: emulators.tokens.issue().token,
    logName: 'projects/p-1/logs/my%2Flog',
    resource: { type: 'gce_instance', labels: { project_id: 'p-1', instance_id: '1234567890123456789', zone: 'us-west2-a' } },
  };
}

async function write(e: { logging: { url: string } }, token: string | undefined, body: unknown) {
  const response = await fetch(`${e.logging.url}/v2/entries:write`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    json: text
      ? (JSON.parse(text) as { error?: { code: number; status: string; message: string; details?: { logEntryErrors?: Record<string, { code: number }> }[] } })
      : {},
  };
}

const now = () => new Date().toISOString().replace('Z', '000000Z');

t.test('entries are stored, listed by timestamp then insertId, and de-duplicated', async (t) => {
  const e = await start(t);
  const ts = now();
  const first = await write(e, e.token, {
    logName: e.logName,
    resource: e.resource,
    entries: [
      { timestamp: ts, insertId: 'b', severity: 'INFO', textPayload: 'second' },
      { timestamp: ts, insertId: 'a', severity: 'ERROR', textPayload: 'first' },
    ],
  });
  t.same(first, { status: 200, json: {} });
  const again = await write(e, e.token, { logName: e.logName, resource: e.resource, entries: [{ timestamp: ts, insertId: 'a', textPayload: 'first' }] });
  t.equal(again.status, 200);
  t.equal(e.logging.duplicates, 1, 'a resent entry is not stored twice');
  t.same(e.logging.lines(), ['first', 'second']);
  t.same(
    e.logging.sorted().map((x) => x.severity),
    ['ERROR', 'INFO'],
  );
  t.equal(e.logging.count, 2);
});

t.test('authentication: missing, unknown and expired tokens get 401; a token without the scope 403', async (t) => {
  const e = await start(t);
  const body = { logName: e.logName, resource: e.resource, entries: [{ textPayload: 'x' }] };
  t.equal((await write(e, undefined, body)).status, 401);
  t.equal((await write(e, 'ya29.forged', body)).status, 401);
  e.tokens.expire(e.token);
  const expired = await write(e, e.token, body);
  t.equal(expired.status, 401);
  t.equal(expired.json.error?.status, 'UNAUTHENTICATED');
  e.tokens.scopes = ['https://www.googleapis.com/auth/monitoring.write'];
  t.equal((await write(e, e.tokens.issue().token, body)).status, 403);
  t.equal(e.logging.unauthenticated, 3);
});

t.test('request checks: size, JSON, schema, log name, resource', async (t) => {
  const e = await start(t);
  t.equal((await write(e, e.token, '{')).status, 400);
  const big = 'x'.repeat(LOGGING_LIMITS.maxRequestBytes);
  const tooBig = await write(e, e.token, { logName: e.logName, resource: e.resource, entries: [{ textPayload: big }] });
  t.match(tooBig.json.error?.message, /exceeds the limit: 10485760 bytes/);
  const unknown = await write(e, e.token, { logName: e.logName, resource: e.resource, entries: [{ textPayload: 'x' }], extra: true });
  t.match(unknown.json.error?.message, /Unknown name "extra"/);
  t.equal(
    (await write(e, e.token, { logName: 'projects/other/logs/x', resource: e.resource, entries: [{ textPayload: 'x' }] })).status,
    403,
    'another project',
  );
  t.equal(
    (await write(e, e.token, { logName: 'projects/p-1/logs/a b', resource: e.resource, entries: [{ textPayload: 'x' }] })).status,
    400,
    'LOG_ID not URL-encoded',
  );
  const wrongZone = await write(e, e.token, {
    logName: e.logName,
    resource: { type: 'gce_instance', labels: { zone: 'zones/us-west2-a' } },
    entries: [{ textPayload: 'x' }],
  });
  t.match(wrongZone.json.error?.message, /does not match this instance/);
  t.equal((await write(e, e.token, { logName: e.logName, resource: e.resource, entries: [] })).status, 400, 'no entries');
  t.equal(e.logging.count, 0);
});

t.test('partial success: good entries stored, bad ones reported by index; without it nothing is stored', async (t) => {
  const e = await start(t);
  const tooLarge = 'y'.repeat(LOGGING_LIMITS.maxEntryBytes);
  const future = new Date(Date.now() + 2 * 24 * 3600_000).toISOString();
  const entries = [
    { textPayload: 'ok 1' },
    { textPayload: tooLarge },
    { textPayload: 'ok 2', timestamp: future },
    { textPayload: 'ok 3', severity: 'NOPE' },
    { textPayload: 'ok 4' },
  ];
  const strict = await write(e, e.token, { logName: e.logName, resource: e.resource, entries });
  t.equal(strict.status, 400);
  t.notOk(strict.json.error?.details, 'no per-entry errors when nothing was written');
  t.equal(e.logging.count, 0);
  const partial = await write(e, e.token, { logName: e.logName, resource: e.resource, partialSuccess: true, entries });
  t.equal(partial.status, 400);
  const detail = partial.json.error?.details?.[0] as { '@type'?: string; logEntryErrors?: Record<string, { code: number }> };
  t.equal(detail['@type'], 'type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors');
  t.same(Object.keys(detail.logEntryErrors ?? {}).sort(), ['1', '2', '3']);
  t.same(e.logging.lines(), ['ok 1', 'ok 4']);
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'flaky', code: 14, message: 'try again', times: 1 });
  const flaky = await write(e, e.token, {
    logName: e.logName,
    resource: e.resource,
    partialSuccess: true,
    entries: [{ textPayload: 'flaky' }, { textPayload: 'fine' }],
  });
  t.equal(flaky.status, 503, 'the status of the failed entry (UNAVAILABLE)');
  t.same(Object.keys(flaky.json.error?.details?.[0]?.logEntryErrors ?? {}), ['0']);
  t.equal(e.logging.refusedEntries, 4);
});

t.test('faults: injected errors, 429, resets, 401 and lost answers', async (t) => {
  const e = await start(t);
  const body = { logName: e.logName, resource: e.resource, entries: [{ textPayload: 'x', insertId: '1', timestamp: now() }] };
  e.logging.faults.add({ kind: 'error', status: 503, type: 'UNAVAILABLE' }).add({ kind: 'throttle' }).add({ kind: 'expired-token' }).add({ kind: 'reset' });
  t.equal((await write(e, e.token, body)).status, 503);
  t.equal((await write(e, e.token, body)).status, 429);
  t.equal((await write(e, e.token, body)).status, 401);
  await t.rejects(write(e, e.token, body), 'connection reset');
  t.equal(e.logging.count, 0);
  e.logging.loseAnswers = 1;
  await t.rejects(write(e, e.token, body), 'answer lost');
  t.equal(e.logging.count, 1, 'but the entry was stored');
  t.equal((await write(e, e.token, body)).status, 200, 'the resend is accepted');
  t.equal(e.logging.count, 1, 'and not stored twice');
  t.same(
    e.logging.requests.map((r) => r.status),
    [503, 429, 401, 'reset', 'reset', 200],
  );
});

t.test('per-entry checks: log name and resource from the entry or the request, the first error answers', async (t) => {
  const e = await start(t);
  const errorsOf = (json: Awaited<ReturnType<typeof write>>['json']) => Object.keys(json.error?.details?.[0]?.logEntryErrors ?? {});
  const noDefaults = await write(e, e.token, {
    partialSuccess: true,
    entries: [
      { textPayload: 'no log name', resource: e.resource },
      { textPayload: 'no resource', logName: e.logName },
      { textPayload: 'null resource', logName: e.logName, resource: null },
      { textPayload: 'other zone', logName: e.logName, resource: { type: 'gce_instance', labels: { zone: 'elsewhere' } } },
      { textPayload: 'complete', logName: e.logName, resource: e.resource },
    ],
  });
  t.equal(noDefaults.status, 400);
  t.same(errorsOf(noDefaults.json), ['0', '1', '2', '3'], 'each incomplete entry refused, the complete one stored');
  t.match(noDefaults.json.error?.message, /index 0 is invalid: Log name is required/);
  t.same(e.logging.lines(), ['complete']);
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'second', code: 8, message: 'slow down' });
  const strict = await write(e, e.token, {
    logName: e.logName,
    resource: e.resource,
    entries: [{ textPayload: 'first' }, { textPayload: 'second' }, { textPayload: 'third', resource: { type: '' } }],
  });
  t.equal(strict.status, 429, 'without partialSuccess, the first failed entry gives the status (RESOURCE_EXHAUSTED)');
  t.equal(strict.json.error?.message, 'slow down');
  t.same(e.logging.lines(), ['complete'], 'and nothing is stored');
  const dryRun = await write(e, e.token, { logName: e.logName, resource: e.resource, dryRun: true, entries: [{ textPayload: 'not stored' }] });
  t.equal(dryRun.status, 200);
  t.equal(e.logging.count, 1, 'a dry run stores nothing');
});
