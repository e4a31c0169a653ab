import t from 'tap';
import type { ConsoleRecord } from '@uk/core';
import {
  DEFAULT_SEVERITY,
  EntryEncoder,
  MAX_ENTRY_BYTES,
  MAX_JSON_DEPTH,
  nestedDeeperThan,
  splitForJson,
  TimestampFormatter,
  type EntryEncoderOptions,
} from '../src/index.js';
import { EntryArena, entryPosition, entrySize, POSITION_SPAN } from '../src/arena.js';
import { quote } from '../src/entries.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);
const options: EntryEncoderOptions = { severity: DEFAULT_SEVERITY, jsonPayload: true, specialFields: true, insertIdPrefix: 'run1' };

function encode(
  record: Partial<ConsoleRecord> & { text: string },
  o: Partial<EntryEncoderOptions> = {},
  encoder = new EntryEncoder({ ...options, ...o }),
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  encoder.encode({ time: T0, source: 'stdout', ...record }, (json) => out.push(JSON.parse(json) as Record<string, unknown>));
  return out;
}

function firstJson(encoder: EntryEncoder): string {
  let out = '';
  encoder.encode({ time: T0, source: 'stdout', text: 'x' }, (json) => (out ||= json));
  return out;
}

t.test('text lines: timestamp with nanoseconds, ordered insertIds, severity by source, exact text', async (t) => {
  const encoder = new EntryEncoder(options);
  const [a] = encode({ text: 'hello "world" \\ tab\there' }, {}, encoder);
  const [b] = encode({ text: 'späť ✓ 😀 \u0001', source: 'stderr' }, {}, encoder);
  const [c] = encode({ text: '', source: 'kernel' }, {}, encoder);
  t.same(a, { timestamp: '2026-01-01T12:00:00.123000000Z', insertId: 'run10000000000', severity: 'INFO', textPayload: 'hello "world" \\ tab\there' });
  t.same(b, { timestamp: '2026-01-01T12:00:00.123000000Z', insertId: 'run10000000001', severity: 'ERROR', textPayload: 'späť ✓ 😀 \u0001' });
  t.same(c, { timestamp: '2026-01-01T12:00:00.123000000Z', insertId: 'run10000000002', severity: 'NOTICE', textPayload: '' });
  t.equal(encoder.sequence, 3);
  const ids = Array.from({ length: 50 }, (_, i) => i * 7919);
  const sorted = ids.map((n) => `p${n.toString(36).padStart(10, '0')}`);
  t.same([...sorted].sort(), sorted, 'fixed-width base-36 sorts as the numbers do');
  t.match(
    (JSON.parse(firstJson(new EntryEncoder({ severity: DEFAULT_SEVERITY, jsonPayload: true, specialFields: true }))) as { insertId: string }).insertId,
    /^[0-9a-z]{8}0{10}$/,
    'a random per-run prefix by default',
  );
});

t.test('timestamps keep sub-millisecond precision when the time has it', async (t) => {
  const f = new TimestampFormatter();
  t.equal(f.format(T0), '2026-01-01T12:00:00.123000000Z');
  t.equal(f.format(T0 + 0.5), '2026-01-01T12:00:00.123500000Z');
  t.equal(f.format(T0 + 0.25), '2026-01-01T12:00:00.123250000Z');
  t.equal(f.format(T0 + 1), '2026-01-01T12:00:00.124000000Z');
});

t.test('JSON lines become jsonPayload with the structured logging fields lifted out', async (t) => {
  const [entry] = encode({
    text: '{"severity":"warn","message":"disk almost full","pct":97,"logging.googleapis.com/labels":{"team":"ops"},"logging.googleapis.com/trace":"projects/p/traces/abc","logging.googleapis.com/spanId":"000000000000004a","logging.googleapis.com/trace_sampled":true}',
  });
  t.same(entry, {
    timestamp: '2026-01-01T12:00:00.123000000Z',
    insertId: 'run10000000000',
    severity: 'WARNING',
    labels: { team: 'ops' },
    trace: 'projects/p/traces/abc',
    spanId: '000000000000004a',
    traceSampled: true,
    jsonPayload: { message: 'disk almost full', pct: 97 },
  });
  t.same(
    encode({ text: '  {"severity":"LOUD","a":1}  ', source: 'stderr' })[0],
    { timestamp: '2026-01-01T12:00:00.123000000Z', insertId: 'run10000000000', severity: 'ERROR', jsonPayload: { severity: 'LOUD', a: 1 } },
    'an unknown severity stays in the payload',
  );
  t.same(encode({ text: '{"message":"only a message","severity":200}' })[0], {
    timestamp: '2026-01-01T12:00:00.123000000Z',
    insertId: 'run10000000000',
    severity: 'INFO',
    textPayload: 'only a message',
  });
  t.same(encode({ text: '{"severity":"error","x":1}' }, { specialFields: false })[0]?.jsonPayload, { severity: 'error', x: 1 }, 'special_fields off');
  t.same(encode({ text: '{"x":1}' }, { jsonPayload: false })[0]?.textPayload, '{"x":1}', 'json_payload off');
  for (const text of ['{not json}', '[1,2]', '{"a":1} trailing', '{']) t.same(encode({ text })[0]?.textPayload, text, `${text} stays text`);
});

/** A JSON object line `levels` deep (1 level is `{"v":1}`), built as text. */
const deepObject = (levels: number): string => `${'{"a":'.repeat(levels - 1)}{"v":1}${'}'.repeat(levels - 1)}`;

t.test('nestedDeeperThan counts objects and arrays, the root as level 1, without recursion', async (t) => {
  t.equal(nestedDeeperThan({}, 1), false);
  t.equal(nestedDeeperThan({ a: {} }, 1), true);
  t.equal(nestedDeeperThan({ a: [1, 'x', null] }, 2), false);
  t.equal(nestedDeeperThan({ a: [{}] }, 2), true, 'an object in an array is a level');
  t.equal(nestedDeeperThan({ wide: Array.from({ length: 1000 }, () => ({ b: 1 })) }, 3), false, 'width does not count');
  t.equal(nestedDeeperThan(JSON.parse(deepObject(32)), 32), false);
  t.equal(nestedDeeperThan(JSON.parse(deepObject(33)), 32), true);
  for (const levels of [5000, 100_000]) {
    t.equal(nestedDeeperThan(JSON.parse(deepObject(levels)), MAX_JSON_DEPTH), true, `${levels} object levels`);
    t.equal(nestedDeeperThan(JSON.parse(`{"a":${'['.repeat(levels)}${']'.repeat(levels)}}`), MAX_JSON_DEPTH), true, `${levels} array levels`);
  }
  t.equal(MAX_JSON_DEPTH, 32);
});

t.test('a JSON line nested deeper than MAX_JSON_DEPTH is sent as text, counted, never thrown', async (t) => {
  const encoder = new EntryEncoder(options);
  const insertIds: string[] = [];
  const emit = encoder.encode.bind(encoder);
  encoder.encode = (record, out) =>
    emit(record, (json) => {
      insertIds.push((JSON.parse(json) as { insertId: string }).insertId);
      out(json);
    });
  t.same(encode({ text: deepObject(32) }, {}, encoder)[0]?.jsonPayload, JSON.parse(deepObject(32)), '32 levels: jsonPayload');
  t.equal(encoder.jsonTooDeep, 0);
  const [deeper] = encode({ text: deepObject(33) }, {}, encoder);
  t.equal(deeper?.textPayload, deepObject(33), '33 levels: the line as text');
  t.equal(deeper?.jsonPayload, undefined);
  t.equal(encoder.jsonTooDeep, 1);
  const arrays = `{"a":${'['.repeat(32)}${']'.repeat(32)}}`;
  t.equal(encode({ text: arrays }, {}, encoder)[0]?.textPayload, arrays, 'arrays count as levels');
  t.equal(encoder.jsonTooDeep, 2);
  for (const levels of [1500, 5000, 100_000]) {
    const text = deepObject(levels);
    const parts = encode({ text }, {}, encoder);
    t.equal(parts.map((p) => p.textPayload).join(''), text, `${levels} levels: the exact line as text`);
    t.ok(parts.every((p) => p.jsonPayload === undefined));
    if (text.length * 6 > MAX_ENTRY_BYTES)
      t.ok(parts.length >= 2 && parts.every((p) => p.split !== undefined), `${levels} levels: ${text.length} characters, split`);
  }
  t.equal(encoder.jsonTooDeep, 5);
  for (const text of ['{"a":[}', '{"a":1,}', `{${'"a":{'.repeat(5000)}`, '{"unterminated":"']) {
    t.equal(encode({ text }, {}, encoder)[0]?.textPayload, text, `invalid JSON stays text: ${text.slice(0, 20)}`);
  }
  t.equal(encoder.jsonTooDeep, 5, 'invalid JSON is not "too deep"');
  t.same(
    insertIds,
    insertIds.map((_, i) => `run1${i.toString(36).padStart(10, '0')}`),
    'consecutive insertIds: none skipped or reused by the fallback',
  );
});

t.test('a line too long for one entry is split, never lost', async (t) => {
  const encoder = new EntryEncoder(options);
  const text = `${'a'.repeat(300_000)}"${'é'.repeat(100_000)}😀${'\u0002'.repeat(50_000)}end`;
  const parts: string[] = [];
  encoder.encode({ time: T0, source: 'stdout', text }, (json) => parts.push(json));
  t.ok(parts.length >= 4, `${parts.length} parts`);
  for (const json of parts) t.ok(Buffer.byteLength(json) <= MAX_ENTRY_BYTES, `part of ${Buffer.byteLength(json)} bytes`);
  const entries = parts.map(
    (json) => JSON.parse(json) as { insertId: string; textPayload: string; split: { uid: string; index: number; totalSplits: number } },
  );
  t.equal(entries.map((e) => e.textPayload).join(''), text, 'the parts join back to the exact line');
  t.same(
    entries.map((e) => e.split.index),
    entries.map((_, i) => i),
  );
  t.ok(entries.every((e) => e.split.totalSplits === entries.length && e.split.uid === entries[0]?.insertId));
  t.same(
    entries.map((e) => e.insertId),
    [...entries.map((e) => e.insertId)].sort(),
    'consecutive insertIds',
  );
  t.equal(encoder.split, 1);
  const big = `{"k":"${'x'.repeat(300_000)}"}`;
  const asText = encode({ text: big });
  t.equal(asText.map((e) => e.textPayload).join(''), big, 'a JSON object too large for one entry goes out as split text');
});

t.test('splitForJson keeps surrogate pairs whole and respects the budget', async (t) => {
  const text = '😀'.repeat(10) + 'ab';
  const pieces = splitForJson(text, 9);
  t.equal(pieces.join(''), text);
  for (const piece of pieces) {
    t.ok(Buffer.byteLength(JSON.stringify(piece)) - 2 <= 9);
    t.notOk(/^[\udc00-\udfff]/.test(piece), 'no piece starts with a low surrogate');
  }
  t.same(splitForJson('', 10), ['']);
  t.equal(quote('plain'), '"plain"');
  t.equal(quote('a"b'), '"a\\"b"');
});

t.test('the arena keeps entries in order across chunks, by reference, and reuses released chunks', async (t) => {
  const arena = new EntryArena(64);
  const texts = ['{"a":1}', `{"b":"${'x'.repeat(40)}"}`, '{"c":"ü"}', `{"d":"${'y'.repeat(100)}"}`];
  const refs = texts.map((json) => arena.append(json));
  t.same(refs.map(entrySize), [8, 49, 11, 109], 'sizes with the comma, in UTF-8 bytes');
  t.same(refs.map(entryPosition), [0, 8, 57, 68], 'positions in the stream, across chunks');
  const text = (position: number, bytes: number) => Buffer.concat(arena.view(position, bytes)).toString();
  t.equal(text(0, 177), `${texts.join(',')},`);
  t.equal(text(8, 60), `${texts[1]},${texts[2]},`, 'a run in the middle, over a chunk boundary');
  // Released out of order, as two requests in flight may finish.
  arena.release(57, 11);
  t.equal(text(0, 57), `${texts[0]},${texts[1]},`, 'earlier entries are still there');
  arena.release(0, 57);
  t.throws(() => arena.view(0, 8), RangeError, 'released entries are gone');
  t.equal(text(68, 109), `${texts[3]},`);
  const extra = arena.append('{"e":2}');
  t.throws(() => arena.rollback(refs[3] as number), RangeError, 'only the last entry can be taken back');
  arena.rollback(extra);
  t.equal(entryPosition(arena.append('{"f":3}')), 177, 'a rolled back entry leaves no gap');
  arena.release(68, 109 + 8);
  t.equal(entryPosition(arena.append('{"g":4}')), 185, 'positions go on after everything was released');
  t.equal(text(185, 8), '{"g":4},');
  t.throws(() => arena.view(185, 9), RangeError, 'not beyond what was written');
});

t.test('an arena reservation left unused takes no position and leaves no empty chunk behind', async (t) => {
  const arena = new EntryArena(64);
  const first = arena.append('{"a":1}');
  arena.reserve(100); // a new chunk, then the line goes another way
  arena.reserve(200); // larger still: the empty chunk is replaced
  const buf = arena.reserve(20);
  const text = Buffer.from('{"b":2},');
  text.copy(buf, arena.reservedAt);
  const second = arena.commit(text.length);
  t.equal(entryPosition(second), entryPosition(first) + 8);
  const slices = arena.view(0, 16);
  t.same(
    slices.map((slice) => slice.toString()),
    ['{"a":1},', '{"b":2},'],
    'two chunks, nothing empty between them',
  );
  arena.release(0, 16);
  t.throws(() => arena.view(0, 1), RangeError);
  t.equal(entryPosition(arena.append('{"c":3}')), 16);
});

t.test('arena positions wrap around without ambiguity', async (t) => {
  const arena = new EntryArena(64, POSITION_SPAN - 10);
  const first = arena.append('{"a":1}');
  const second = arena.append(`{"b":"${'x'.repeat(70)}"}`);
  t.same([entryPosition(first), entryPosition(second)], [POSITION_SPAN - 10, POSITION_SPAN - 2]);
  const third = arena.append('{"c":3}');
  t.equal(entryPosition(third), 77, 'past the wrap');
  t.equal(Buffer.concat(arena.view(POSITION_SPAN - 10, 8 + 79 + 8)).toString(), `{"a":1},{"b":"${'x'.repeat(70)}"},{"c":3},`);
  arena.release(POSITION_SPAN - 10, 8 + 79);
  t.equal(Buffer.concat(arena.view(77, 8)).toString(), '{"c":3},');
  const big = 'z'.repeat(2 ** 20);
  t.throws(() => arena.append(`"${big}"`), RangeError, 'no entry of 1 MiB or more');
});
