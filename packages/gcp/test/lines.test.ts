/**
 * The program's lines as bytes (`writeLines`) must give the very request bodies the record path
 * (`write`, one decoded record per line) gives: same entries, timestamps, insertIds, severities,
 * splits and lanes. Two drivers are fed the same lines, one each way, and their bodies compared
 * byte for byte; the content is checked too, and which lines took the byte fast path.
 */
import t from 'tap';
import { lineText, type LineBlock, type ProgramStream } from '@uk/core';
import {
  createLoggingDriver,
  DEFAULT_SEVERITY,
  EntryArena,
  EntryEncoder,
  MAX_ENTRY_BYTES,
  type ApiCall,
  type GoogleApi,
  type LoggingOptions,
} from '../src/index.js';
import { driverContext } from './helpers.js';
import { readyDestination } from './destination.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);
const b = (text: string): Buffer => Buffer.from(text);

/** Every kind of line, with whether the byte fast path may take it (default options). */
const MIX: readonly (readonly [Buffer, boolean])[] = [
  [b('plain ASCII line'), true],
  [b(''), true],
  [b('   leading and trailing spaces   '), true],
  [b('punctuation ~!@#$%^&*()_+`-=[]{}|;:,./<>? and DEL \x7f'), true],
  [b('unicode: déjà vu, Ελληνικά, 日本語, 😀👍🏽, zero\u200bwidth, \u2028 line separator'), true],
  [b('\u00a0{} after a no-break space (not JSON whitespace)'), true],
  [b('x'.repeat(MAX_ENTRY_BYTES - 600)), true],
  [b('quotes " inside'), false],
  [b('back\\slash \\n'), false],
  ...Array.from({ length: 32 }, (_, c) => [b(`control ${c} <${String.fromCharCode(c)}>`), false] as const),
  [Buffer.from([0x62, 0x61, 0x64, 0x20, 0x80]), false], // a lone continuation byte
  [Buffer.from([0xc0, 0xaf, 0x20, 0x6f, 0x76]), false], // overlong
  [Buffer.from([0xed, 0xa0, 0x80]), false], // a surrogate encoded as UTF-8
  [Buffer.from([0x61, 0xe2, 0x82]), false], // truncated at the end
  [Buffer.from([0xf4, 0x90, 0x80, 0x80]), false], // beyond U+10FFFF
  [Buffer.from([0xff, 0xfe, 0x41]), false],
  [b('{}'), false],
  [b('  { }  '), false],
  [b('{'), false],
  [b(' { not json'), false],
  [b('{"severity":"warning","message":"structured","n":1,"logging.googleapis.com/labels":{"team":"ops"}}'), false],
  [b('{"message":"only a message","severity":"DEBUG"}'), false],
  [b('  {"padded":true}  '), false],
  [b('[1,2,3]'), true],
  [b('{"not":"json",}'), false],
  [b('y'.repeat(MAX_ENTRY_BYTES - 400)), false], // one entry, but past the fast path's bound
  [b(`${'z'.repeat(300_000)}"q`), false], // split
  [b('é'.repeat(150_000)), false], // split, 2 bytes a character
  [b(`{"big":"${'x'.repeat(300_000)}"}`), false], // JSON too large for one entry: split text
];

/** Lines as the framer hands them on: one buffer, newline-separated, with bounds. */
function blockOf(lines: readonly Buffer[], time: number): LineBlock {
  const parts: Buffer[] = [];
  const bounds = new Int32Array(2 * lines.length);
  let at = 0;
  lines.forEach((line, i) => {
    bounds[2 * i] = at;
    bounds[2 * i + 1] = at + line.length;
    parts.push(line, b('\n'));
    at += line.length + 1;
  });
  return { buf: Buffer.concat(parts), bounds, count: lines.length, time };
}

const baseOptions: LoggingOptions = {
  logId: 'lines',
  flushIntervalMs: 1000,
  bufferSize: 32 * 1024 * 1024,
  severity: DEFAULT_SEVERITY,
  jsonPayload: true,
  specialFields: true,
  backpressure: false,
  endpoint: 'http://logging.invalid',
  requestTimeoutMs: 60_000,
};

/** A logging driver outside a kernel: a manual clock, and an API that keeps each request body. */
function driverOf(options: Partial<LoggingOptions>) {
  const { ctx, counter } = driverContext();
  const bodies: string[] = [];
  const api = {
    post: async (call: ApiCall) => {
      // A copy (the driver reuses its buffer), as latin1: one character per byte, so comparing
      // bodies compares bytes (UTF-8 decoding would hide raw invalid bytes behind U+FFFD).
      bodies.push(Buffer.from(call.body as Buffer).toString('latin1'));
      return { response: { statusCode: 200, headers: {}, body: Buffer.alloc(0) }, reauthorised: false };
    },
  } as unknown as GoogleApi;
  const setup = readyDestination({ projectId: 'p', hostname: 'h', zone: 'z', instanceId: '1' });
  const driver = createLoggingDriver(ctx, { ...baseOptions, ...options }, { api, setup });
  return { driver, bodies, counter };
}

/** Blocks of MIX lines: several per millisecond, a new millisecond, a sub-millisecond time, both streams. */
function feeds(): { block: LineBlock; source: ProgramStream }[] {
  const lines = MIX.map(([line]) => line);
  return [
    { block: blockOf(lines, T0), source: 'stdout' },
    { block: blockOf(lines.slice(0, 9), T0), source: 'stderr' },
    { block: blockOf(lines, T0 + 1), source: 'stderr' },
    { block: blockOf(lines.slice(0, 9), T0 + 1.5), source: 'stdout' },
    { block: blockOf(lines.slice(0, 9), T0 + 2), source: 'stdout' },
  ];
}

/** The same lines to two drivers: as records (what the console sends a driver without writeLines) and as blocks. */
async function bothWays(options: Partial<LoggingOptions>) {
  const records = driverOf(options);
  const bytes = driverOf(options);
  for (const { block, source } of feeds()) {
    for (let i = 0; i < block.count; i++) records.driver.write?.({ text: lineText(block, i), time: block.time, source });
    bytes.driver.writeLines?.(block, source);
    // uk's own messages in between share the insertId sequence.
    for (const d of [records, bytes]) d.driver.write?.({ text: `uk: after a block of ${block.count}`, time: block.time, source: 'kernel' });
  }
  await Promise.all([records.driver.close(1000), bytes.driver.close(1000)]);
  // The insertId prefix is random per encoder: the one difference allowed.
  const same = (bodies: string[]) => bodies.map((body) => body.replace(/"(insertId|uid)":"[0-9a-z]{8}/g, '"$1":"PREFIX'));
  return { records, bytes, recordBodies: same(records.bodies), byteBodies: same(bytes.bodies) };
}

/** '' when the bodies are the same; else where the first difference is, with a little context. */
function firstDifference(actual: readonly string[], expected: readonly string[]): string {
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    const a = actual[i] ?? '';
    const e = expected[i] ?? '';
    if (a === e) continue;
    let at = 0;
    while (a[at] === e[at]) at++;
    return `body ${i} at ${at}: ${JSON.stringify(a.slice(Math.max(0, at - 60), at + 60))} instead of ${JSON.stringify(e.slice(Math.max(0, at - 60), at + 60))}`;
  }
  return '';
}

interface Entry {
  timestamp: string;
  insertId: string;
  severity: string;
  textPayload?: string;
  jsonPayload?: Record<string, unknown>;
  labels?: Record<string, string>;
  split?: { uid: string; index: number; totalSplits: number };
}

const parse = (body: string) => JSON.parse(Buffer.from(body, 'latin1').toString('utf8')) as { entries: Entry[] };

/** Entries of the bodies in order, split parts joined back into one. */
function linesOf(bodies: readonly string[]): Entry[] {
  const out: Entry[] = [];
  for (const body of bodies) {
    for (const entry of parse(body).entries) {
      const last = out[out.length - 1];
      if (entry.split && entry.split.index > 0 && last?.split?.uid === entry.split.uid) last.textPayload += entry.textPayload ?? '';
      else out.push(entry);
    }
  }
  return out;
}

t.test('writeLines gives the same request bodies as write, byte for byte', async (t) => {
  const variants: Partial<LoggingOptions>[] = [
    {},
    { jsonPayload: false },
    { specialFields: false },
    { severity: { stdout: 'DEBUG', stderr: 'WARNING', kernel: 'NOTICE' } },
    { bufferSize: 1024 * 1024 },
  ];
  for (const options of variants) {
    const { records, bytes, recordBodies, byteBodies } = await bothWays(options);
    const label = JSON.stringify(options);
    t.ok(byteBodies.length > 0, `${label}: requests were sent`);
    t.equal(byteBodies.length, recordBodies.length, `${label}: as many requests`);
    t.equal(firstDifference(byteBodies, recordBodies), '', `${label}: identical bodies`);
    for (const name of ['sent', 'split', 'dropped', 'rejected']) t.equal(bytes.counter(name), records.counter(name), `${label}: counter ${name}`);
    if (options.bufferSize)
      t.ok(bytes.counter('dropped') > 0 && new Set(byteBodies).size > 2, `${label}: a full buffer drops the same lines; several requests`);
  }
});

t.test('what arrives: exact text, U+FFFD for invalid UTF-8, JSON payloads, severities, splits', async (t) => {
  const { bytes, byteBodies } = await bothWays({});
  const entries = linesOf(byteBodies).filter((e) => !e.textPayload?.startsWith('uk: '));
  t.equal(
    entries.length,
    feeds().reduce((n, f) => n + f.block.count, 0),
    'one line, one entry (split parts joined)',
  );
  const mine = entries.slice(0, MIX.length);
  const structured = new Map<string, unknown>([
    ['{}', {}],
    ['  { }  ', {}],
    ['{"severity":"warning","message":"structured","n":1,"logging.googleapis.com/labels":{"team":"ops"}}', { message: 'structured', n: 1 }],
    ['{"message":"only a message","severity":"DEBUG"}', 'only a message'],
    ['  {"padded":true}  ', { padded: true }],
  ]);
  const expected = MIX.map(([line]) => {
    const text = line.toString('utf8');
    return structured.has(text) ? structured.get(text) : text;
  });
  t.same(
    mine.map((e) => e.jsonPayload ?? e.textPayload),
    expected,
    'the first block, line by line',
  );
  t.ok(mine.every((e) => e.timestamp === '2026-01-01T12:00:00.123000000Z'));
  const byText = (text: string) => mine.find((e) => e.textPayload === text);
  t.equal(byText('plain ASCII line')?.severity, 'INFO', 'stdout is INFO');
  t.equal(entries[MIX.length]?.severity, 'ERROR', 'stderr is ERROR');
  t.equal(entries[MIX.length]?.textPayload, 'plain ASCII line');
  t.ok(byText('bad \ufffd'), 'a lone continuation byte becomes U+FFFD');
  t.ok(byText('\ufffd\ufffd\ufffd'), 'an encoded surrogate becomes U+FFFD for each byte');
  t.ok(byText('a\ufffd'), 'a truncated sequence becomes U+FFFD');
  t.ok(byText('control 0 <\u0000>') && byText('control 9 <\t>') && byText('control 31 <\u001f>'), 'control characters kept');
  t.same(
    mine.filter((e) => e.jsonPayload).map((e) => [e.severity, e.labels]),
    [
      ['INFO', undefined],
      ['INFO', undefined],
      ['WARNING', { team: 'ops' }],
      ['INFO', undefined],
    ],
    'severity and labels lifted',
  );
  t.equal(byText('only a message')?.severity, 'DEBUG', 'a JSON line of message and severity becomes text');
  t.equal(bytes.counter('split'), 2 * 3, 'the three long lines were split, in both blocks that have them');
  const parts = byteBodies.flatMap((body) => parse(body).entries);
  t.ok(
    parts.every((e) => Buffer.byteLength(JSON.stringify(e)) <= MAX_ENTRY_BYTES),
    'every entry under the limit',
  );
  const ids = parts.map((e) => e.insertId);
  t.same([...ids].sort(), ids, 'insertIds in the order the lines were written');
  t.equal(new Set(ids).size, ids.length, 'no insertId twice');
});

t.test('the byte fast path takes the plain lines and leaves the rest to the record path', async (t) => {
  const encoder = new EntryEncoder({ severity: DEFAULT_SEVERITY, jsonPayload: true, specialFields: true, insertIdPrefix: 'run1' });
  const block = blockOf(
    MIX.map(([line]) => line),
    T0,
  );
  const arena = new EntryArena();
  const taken = MIX.map((_, i) => encoder.writeLine(block, i, 'stdout', arena) >= 0);
  t.same(
    taken,
    MIX.map(([, fast]) => fast),
  );
  t.equal(encoder.sequence, taken.filter(Boolean).length, 'an insertId only for the lines written');
  const plain = new EntryEncoder({ severity: DEFAULT_SEVERITY, jsonPayload: false, specialFields: true, insertIdPrefix: 'run1' });
  t.ok(plain.writeLine(blockOf([b('{}')], T0), 0, 'stdout', arena) >= 0, 'a {} line is plain text without json_payload');
});
