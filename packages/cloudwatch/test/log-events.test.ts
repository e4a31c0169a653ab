import t from 'tap';
import type { ConsoleRecord } from '@uk/core';
import { canJoin, eventSize, MAX_MESSAGE_BYTES, putLogEventsBody, putLogEventsPayload, bodyPrefix, rejectedCount, splitMessage } from '../src/log-events.js';

const rec = (text: string, time = 1000): ConsoleRecord => ({ text, time, source: 'stdout' });

t.test('the body is valid JSON whatever the text', async (t) => {
  const texts = [...Array.from({ length: 32 }, (_, i) => `c${String.fromCharCode(i)}c`), 'quote " backslash \\ slash /', '\u007f\u0080\u2028\u2029', '😀 é ✓', '\uFFFD', '{"json":true}'];
  const batch = texts.map((text, i) => rec(text, 1000 + i));
  const body = putLogEventsBody(bodyPrefix('g/"x"', 's\\1'), batch);
  const parsed = JSON.parse(body);
  t.equal(parsed.logGroupName, 'g/"x"');
  t.equal(parsed.logStreamName, 's\\1');
  t.same(parsed.logEvents.map((e: { message: string }) => e.message), texts);
  t.same(parsed.logEvents.map((e: { timestamp: number }) => e.timestamp), batch.map((r) => r.time));
  t.notMatch(body, /[\u0000-\u001f]/, 'no raw control character in the body');
  t.same(JSON.parse(putLogEventsBody(bodyPrefix('g', 's'), [rec('x', 1234.9)])).logEvents[0].timestamp, 1234, 'timestamps are whole milliseconds');
});

t.test('the payload is the body, byte for byte, whatever the text and wherever it falls', async (t) => {
  const tricky = [...Array.from({ length: 32 }, (_, i) => `c${String.fromCharCode(i)}c`), 'quote " backslash \\ slash /', '\u007f\u0080\u2028\u2029', '😀 é ✓', '\uFFFD', '{"json":true}', 'lone \ud800 high', 'lone \udc00 low', '\udc00\ud800', 'end \ud83d'];
  const prefix = bodyPrefix('g/"x"', 's\\1');
  const cases: ConsoleRecord[][] = [[], [rec('x', 1234.9)], tricky.map((text, i) => rec(text, 1000 + i))];
  // Long plain batches with one tricky message at various places (groups are 128 events).
  for (const at of [0, 127, 128, 300, 999]) {
    for (const text of tricky) {
      const batch = Array.from({ length: 1000 }, (_, i) => rec(`line ${i} ${'x'.repeat(i % 50)} ü`, 5000 + (i >> 4)));
      batch[at] = rec(text, batch[at]!.time);
      cases.push(batch);
    }
  }
  let same = 0;
  for (const batch of cases) {
    const payload = putLogEventsPayload(prefix, batch);
    if (payload.equals(Buffer.from(putLogEventsBody(prefix, batch), 'utf8'))) same++;
  }
  t.equal(same, cases.length, 'identical to the string body in UTF-8');
  const a = putLogEventsPayload(prefix, [rec('first')]);
  const copy = Buffer.from(a);
  putLogEventsPayload(prefix, [rec('second, which would overwrite a shared buffer')]);
  t.ok(a.equals(copy), 'a payload is not changed by the next one');
  const big = Array.from({ length: 10_000 }, (_, i) => rec('é'.repeat(400), i));
  t.equal(putLogEventsPayload(prefix, big).length, Buffer.byteLength(putLogEventsBody(prefix, big)), 'bodies larger than the scratch buffer');
  t.same(JSON.parse(putLogEventsPayload(prefix, tricky.map((text) => rec(text))).toString('utf8')).logEvents.map((e: { message: string }) => e.message).slice(0, 37), tricky.slice(0, 37));
});

t.test('sizes count UTF-8 bytes plus 26', async (t) => {
  t.equal(eventSize(rec('abc')), 29);
  t.equal(eventSize(rec('é')), 28);
  t.equal(eventSize(rec('😀')), 30);
});

t.test('over-long messages are split at character boundaries, never dropped', async (t) => {
  t.same(splitMessage('short'), ['short']);
  const ascii = 'a'.repeat(MAX_MESSAGE_BYTES * 2 + 10);
  const pieces = splitMessage(ascii);
  t.same(pieces.map((p) => p.length), [MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES, 10]);
  t.equal(pieces.join(''), ascii);
  const mixed = 'é😀x'.repeat(100);
  const small = splitMessage(mixed, 7);
  t.equal(small.join(''), mixed, 'nothing lost');
  t.ok(small.every((p) => Buffer.byteLength(p) <= 7 && !p.includes('\uFFFD')), 'no piece too big, no character cut');
  t.same(splitMessage('x'.repeat(MAX_MESSAGE_BYTES)), ['x'.repeat(MAX_MESSAGE_BYTES)], 'exactly the maximum stays whole');
});

t.test('canJoin keeps order and the 24-hour span', async (t) => {
  t.equal(canJoin([rec('a', 10)], rec('b', 10)), true);
  t.equal(canJoin([rec('a', 10)], rec('b', 9)), false, 'earlier time starts a new batch');
  t.equal(canJoin([rec('a', 0), rec('b', 5)], rec('c', 24 * 3600_000)), true);
  t.equal(canJoin([rec('a', 0), rec('b', 5)], rec('c', 24 * 3600_000 + 1)), false);
});

t.test('rejectedLogEventsInfo is counted with exclusive ends and an inclusive start', async (t) => {
  t.same(rejectedCount(undefined, 10), { total: 0, tooOld: 0, expired: 0, tooNew: 0 });
  t.same(rejectedCount({ tooOldLogEventEndIndex: 2 }, 10), { total: 2, tooOld: 2, expired: 0, tooNew: 0 });
  t.same(rejectedCount({ tooNewLogEventStartIndex: 7 }, 10), { total: 3, tooOld: 0, expired: 0, tooNew: 3 });
  t.same(rejectedCount({ tooOldLogEventEndIndex: 2, expiredLogEventEndIndex: 4, tooNewLogEventStartIndex: 9 }, 10), { total: 5, tooOld: 2, expired: 4, tooNew: 1 });
  t.same(rejectedCount({ tooNewLogEventStartIndex: 50 }, 10).total, 0, 'indexes are clamped');
});
