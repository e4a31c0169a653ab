import t from 'tap';
import type { ConsoleRecord } from '@uk/core';
import { encodeBatch, Rfc5424Formatter, splitMessage, splitUtf8 } from '../src/format.js';

const T0 = Date.UTC(2026, 0, 21, 19, 43, 6, 213);

function formatter(pid: number | null = 4242) {
  let current: number | undefined = pid ?? undefined;
  const f = new Rfc5424Formatter({
    facility: 1,
    severity: { stdout: 6, stderr: 3, kernel: 5 },
    hostname: 'host-1',
    appName: 'webg',
    procId: () => current,
  });
  return { f, setPid: (p: number | undefined) => (current = p) };
}

/** Parses octet-counted frames back into messages (RFC 6587 §3.4.1). */
function parseFrames(buf: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < buf.length) {
    const space = buf.indexOf(32, at);
    const length = Number(buf.toString('latin1', at, space));
    out.push(buf.toString('utf8', space + 1, space + 1 + length));
    t.equal(Buffer.byteLength(out.at(-1) as string), length, 'frame length is the message length in bytes');
    at = space + 1 + length;
  }
  return out;
}

t.test('RFC 5424 message: PRI by source, UTC timestamp with six digits, nil MSGID and SD', async (t) => {
  const { f } = formatter();
  t.equal(f.format({ text: 'hello', time: T0, source: 'stdout' }), '<14>1 2026-01-21T19:43:06.213000Z host-1 webg 4242 - - hello');
  t.equal(f.format({ text: 'oops', time: T0 + 1, source: 'stderr' }), '<11>1 2026-01-21T19:43:06.214000Z host-1 webg 4242 - - oops');
  t.equal(f.format({ text: 'uk: x', time: T0 + 999, source: 'kernel' }), '<13>1 2026-01-21T19:43:07.212000Z host-1 webg 4242 - - uk: x');
  t.equal(f.timestamp(Date.UTC(1999, 11, 31, 23, 59, 59, 7)), '1999-12-31T23:59:59.007000Z');
  t.equal(f.timestamp(Date.UTC(2026, 0, 1)), '2026-01-01T00:00:00.000000Z');
});

t.test('an empty record is a message with an empty MSG (no trailing space)', async (t) => {
  const { f } = formatter();
  t.equal(f.format({ text: '', time: T0, source: 'stdout' }), '<14>1 2026-01-21T19:43:06.213000Z host-1 webg 4242 - -');
});

t.test('PROCID is - until the program has started, then its pid', async (t) => {
  const { f, setPid } = formatter(null);
  const r: ConsoleRecord = { text: 'boot', time: T0, source: 'kernel' };
  t.equal(f.format(r), '<13>1 2026-01-21T19:43:06.213000Z host-1 webg - - - boot');
  setPid(77);
  t.equal(f.format(r), '<13>1 2026-01-21T19:43:06.213000Z host-1 webg 77 - - boot', 'a cached header is not reused after the pid changes');
});

t.test('facility and severity make the PRI', async (t) => {
  const f = new Rfc5424Formatter({ facility: 19, severity: { stdout: 5, stderr: 4, kernel: 0 }, hostname: 'h', appName: 'a', procId: () => 1 });
  t.match(f.format({ text: 'x', time: T0, source: 'stdout' }), /^<157>1 /);
  t.match(f.format({ text: 'x', time: T0, source: 'stderr' }), /^<156>1 /);
  t.match(f.format({ text: 'x', time: T0, source: 'kernel' }), /^<152>1 /);
});

t.test('maxHeaderBytes bounds every header', async (t) => {
  const { f } = formatter(4194304);
  for (const source of ['stdout', 'stderr', 'kernel'] as const) {
    const header = f.header({ text: 'x', time: T0, source });
    t.ok(Buffer.byteLength(header) <= f.maxHeaderBytes(source), `${source}: ${Buffer.byteLength(header)} <= ${f.maxHeaderBytes(source)}`);
    t.ok(f.maxHeaderBytes(source) - Buffer.byteLength(header) <= 10, 'and not by much');
  }
});

t.test('encodeBatch: octet-counted frames with byte (not character) lengths', async (t) => {
  const { f } = formatter();
  const records: ConsoleRecord[] = [
    { text: 'plain', time: T0, source: 'stdout' },
    { text: 'ünïcödé ✓ 𝄞', time: T0, source: 'stdout' },
    { text: '', time: T0 + 1, source: 'stderr' },
    { text: 'x'.repeat(1234), time: T0 + 2, source: 'kernel' },
  ];
  const { buffer, ends } = encodeBatch(records, f, true);
  t.equal(ends.at(-1), buffer.length, 'the buffer is exactly filled');
  const messages = parseFrames(buffer);
  t.same(
    messages,
    records.map((r) => f.format(r)),
  );
  t.match(buffer.toString('latin1', 0, 4), /^\d+ </, 'starts with the length and a space');
});

t.test('encodeBatch without framing: datagram boundaries in ends', async (t) => {
  const { f } = formatter();
  const records: ConsoleRecord[] = [
    { text: 'a', time: T0, source: 'stdout' },
    { text: 'ééé', time: T0, source: 'stdout' },
    { text: '', time: T0, source: 'stdout' },
  ];
  const { buffer, ends } = encodeBatch(records, f, false);
  let start = 0;
  const datagrams = ends.map((end) => {
    const text = buffer.toString('utf8', start, end);
    start = end;
    return text;
  });
  t.same(
    datagrams,
    records.map((r) => f.format(r)),
  );
  t.same(encodeBatch([], f, true).buffer.length, 0);
});

t.test('splitUtf8 cuts at character boundaries and keeps every byte', async (t) => {
  const text = 'é€𝄞a'.repeat(500);
  for (const max of [5, 6, 7, 100, 1000]) {
    const pieces = splitUtf8(text, max);
    t.equal(pieces.join(''), text, `max ${max}: nothing lost or changed`);
    t.ok(
      pieces.every((p) => Buffer.byteLength(p) <= max),
      `max ${max}: no piece is over the budget`,
    );
    t.ok(
      pieces.slice(0, -1).every((p) => Buffer.byteLength(p) > max - 4),
      `max ${max}: each piece but the last fills the budget but for a character`,
    );
    t.notOk(
      pieces.some((p) => p.includes('\ufffd')),
      `max ${max}: no broken character`,
    );
  }
  t.same(splitUtf8('short', 100), ['short']);
  t.same(splitUtf8('abcdef', 3), ['abc', 'def']);
});

t.test('splitMessage cuts a record of several lines between lines, and a too-long line between characters', async (t) => {
  const trace = ['Error: boom', '    at a (x.js:1:1)', '    at b (x.js:2:2)', '    at c (x.js:3:3)'].join('\n');
  t.same(splitMessage(trace, 1000), [trace], 'within the limit: one message');
  t.same(splitMessage(trace, 40), ['Error: boom\n    at a (x.js:1:1)', '    at b (x.js:2:2)\n    at c (x.js:3:3)'], 'whole lines per piece');
  const long = `head\n${'é'.repeat(30)}\ntail`;
  const pieces = splitMessage(long, 20);
  t.ok(
    pieces.every((p) => Buffer.byteLength(p) <= 20),
    'no piece over the limit',
  );
  t.same(pieces, ['head', 'é'.repeat(10), 'é'.repeat(10), 'é'.repeat(10), 'tail'], 'cut at the newlines, the long line between characters, nothing lost');
  t.same(splitMessage('no newline here', 5), splitUtf8('no newline here', 5), 'one line: as splitUtf8');
});
