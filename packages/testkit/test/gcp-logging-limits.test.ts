/**
 * The Cloud Logging emulator against pathological requests: nesting as deep as protobuf decodes
 * and deeper (down to 100,000 levels, which must be a 400 and never a crash), an entry that fails
 * the whole request, and partialSuccess around them.
 */
import t, { type Test } from 'tap';
import { startGcpEmulators, type GcpEmulators } from '../src/index.js';
import { LOGGING_LIMITS, nestingProblem } from '../src/gcp-logging.js';

async function start(t: Test): Promise<GcpEmulators & { token: string; logName: string; resource: Record<string, unknown> }> {
  const emulators = await startGcpEmulators({ projectId: 'p-1', zone: 'us-west2-a', instanceId: '1234567890123456789' });
  t.teardown(() => emulators.close());
  return {
    ...emulators,
    token: emulators.tokens.issue().token,
    logName: 'projects/p-1/logs/limits',
    resource: { type: 'gce_instance', labels: { project_id: 'p-1', instance_id: '1234567890123456789', zone: 'us-west2-a' } },
  };
}

interface Answer {
  readonly status: number;
  readonly error?: {
    code: number;
    status: string;
    message: string;
    details?: { '@type'?: string; logEntryErrors?: Record<string, { code: number; message: string }> }[];
  };
}

async function post(e: GcpEmulators & { token: string }, body: unknown): Promise<Answer> {
  const response = await fetch(`${e.logging.url}/v2/entries:write`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${e.token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, ...(text ? (JSON.parse(text) as { error?: Answer['error'] }) : {}) };
}

/** JSON text of an object `levels` deep: `{"a":{"a":…{"v":1}…}}` (1 level is `{"v":1}`). */
function objectText(levels: number): string {
  return `${'{"a":'.repeat(levels - 1)}{"v":1}${'}'.repeat(levels - 1)}`;
}

/** JSON text of arrays `levels` deep under key `a`: `{"a":[[…[]…]]}`. */
function arrayText(levels: number): string {
  return `{"a":${'['.repeat(levels)}${']'.repeat(levels)}}`;
}

/** A request body whose entries are raw JSON texts (so that nothing here builds deep objects). */
function body(e: { logName: string; resource: Record<string, unknown> }, entries: readonly string[], partialSuccess = true): string {
  return `{"logName":${JSON.stringify(e.logName)},"resource":${JSON.stringify(e.resource)},"partialSuccess":${partialSuccess},"entries":[${entries.join(',')}]}`;
}

const text = (line: string) => JSON.stringify({ textPayload: line });
const json = (payload: string) => `{"jsonPayload":${payload}}`;

t.test('nesting: 33 object levels and 48 array levels are stored; one more refuses the whole request', async (t) => {
  const e = await start(t);
  // 33 object levels: the innermost Value is message 3·33+1 = 100 deep.
  t.equal((await post(e, body(e, [text('before'), json(objectText(33)), text('after')]))).status, 200);
  t.equal(e.logging.count, 3);
  // 48 nested lists under a key: the innermost ListValue is message 2·48+3 = 99 deep.
  t.equal((await post(e, body(e, [json(arrayText(48))]))).status, 200);
  t.equal(e.logging.count, 4);

  for (const [what, payload] of [
    ['34 object levels', objectText(34)],
    ['49 array levels', arrayText(49)],
  ] as const) {
    const answer = await post(e, body(e, [text('good 1'), json(payload), text('good 2')]));
    t.equal(answer.status, 400, `${what}: refused`);
    t.equal(answer.error?.status, 'INVALID_ARGUMENT');
    t.match(answer.error?.message, /^Request message too deep: entries\[1\]\.jsonPayload nests protobuf messages \d+ deep/);
    t.notOk(answer.error?.details, `${what}: no per-entry errors, the request was not read`);
    t.equal(e.logging.count, 4, `${what}: nothing stored, partialSuccess or not`);
  }
  t.same(e.logging.lines().slice(0, 2), ['before', JSON.parse(objectText(33))]);
});

t.test('objects nested more than 100 deep in the body: the JSON front end refuses with its words', async (t) => {
  const e = await start(t);
  // The body is level 1, an entry 2, jsonPayload 3: 98 payload levels are 100 in the body.
  t.match((await post(e, body(e, [json(objectText(98))]))).error?.message, /^Request message too deep/, '98 levels: past protobuf, not the JSON parser');
  const answer = await post(e, body(e, [json(objectText(99))]));
  t.equal(answer.status, 400);
  t.equal(answer.error?.message, "Message too deep. Max recursion depth reached for key 'a'", 'the key of the object that went past 100');
  t.equal(e.logging.count, 0);
});

t.test('5,000, 100,000 levels and invalid JSON: a 400, never a crash; the emulator answers on', async (t) => {
  const e = await start(t);
  const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
  const deepArray = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  for (const n of [5000, 100_000]) {
    t.match(
      (await post(e, body(e, [text('ok'), json(deepObject(n))]))).error?.message,
      /^Message too deep\. Max recursion depth reached for key 'a'/,
      `${n} object levels in jsonPayload`,
    );
    t.match(
      (await post(e, body(e, [text('ok'), json(`{"k":${deepArray(n)}}`)]))).error?.message,
      /^Request message too deep: entries\[1\]/,
      `${n} array levels in jsonPayload`,
    );
    const elsewhere = await post(
      e,
      `{"logName":${JSON.stringify(e.logName)},"resource":${JSON.stringify(e.resource)},"labels":${deepObject(n)},"entries":[${text('ok')}]}`,
    );
    t.equal(elsewhere.status, 400, `${n} levels in the request's labels`);
    const bare = await post(e, deepArray(n));
    t.equal(bare.status, 400, `${n} levels as the whole body`);
  }
  const invalid = await post(e, `${body(e, [text('x')]).slice(0, -2)}{"a":[}`);
  t.equal(invalid.status, 400);
  t.match(invalid.error?.message, /^Invalid JSON payload received/);
  t.equal(e.logging.count, 0, 'none of those stored anything');
  t.equal((await post(e, body(e, [text('still answering')]))).status, 200);
  t.same(e.logging.lines(), ['still answering']);
});

t.test('nestingProblem walks 100,000 levels of arrays and objects without recursion', async (t) => {
  let array: unknown = [];
  // 100,001 lists under "a": the innermost ListValue is message 2·100,001+3 deep.
  for (let i = 0; i < 100_000; i++) array = [array];
  t.match(
    nestingProblem([{ textPayload: 'x' }, { jsonPayload: { a: array } }]),
    /^Request message too deep: entries\[1\]\.jsonPayload nests protobuf messages 200005 deep/,
  );
  let object: Record<string, unknown> = { v: 1 };
  for (let i = 0; i < 100_000; i++) object = { a: object };
  t.equal(nestingProblem([{ jsonPayload: object }]), "Message too deep. Max recursion depth reached for key 'a'");
  t.equal(nestingProblem([{ jsonPayload: JSON.parse(objectText(33)) as unknown }, { textPayload: 'x' }]), undefined);
  t.equal(LOGGING_LIMITS.maxMessageDepth, 100);
});

t.test('an entry the service cannot take fails the whole request, partialSuccess or not', async (t) => {
  const e = await start(t);
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'poison', wholeRequest: true, message: 'cannot decode', times: Infinity });
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'bad', message: 'refused alone' });
  const whole = await post(e, body(e, [text('a'), text('poison'), text('b')]));
  t.equal(whole.status, 400);
  t.equal(whole.error?.message, 'entries[1]: cannot decode');
  t.notOk(whole.error?.details);
  t.equal(e.logging.count, 0);
  t.equal((await post(e, body(e, [text('poison')]))).status, 400, 'every time it is sent');
  const partial = await post(e, body(e, [text('a'), text('bad'), text('b')]));
  t.equal(partial.status, 400);
  t.same(partial.error?.details?.[0]?.logEntryErrors, { 1: { code: 3, message: 'refused alone' } });
  t.equal(partial.error?.details?.[0]?.['@type'], 'type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors');
  t.same(e.logging.lines(), ['a', 'b'], 'a per-entry rule leaves the others stored');
  t.equal(e.logging.refusedRequests, 2);
  t.equal(e.logging.refusedEntries, 1);
});
