import t from 'tap';
import { BodyPool } from '../src/block-arena.js';
import {
  BLOCK_BYTES,
  BLOCK_EVENTS,
  canJoinBlocks,
  canOverlapBlocks,
  trimFullBlocks,
  eventCount,
  EventBlockEncoder,
  type EventBlock,
} from '../src/event-blocks.js';
import { bodyPrefix, MAX_MESSAGE_BYTES, putLogEventsPayload, rejectedCount, splitMessage } from '../src/log-events.js';

/** An encoder that collects its blocks. */
function encoder() {
  const blocks: EventBlock[] = [];
  return { enc: new EventBlockEncoder((b) => void blocks.push(b)), blocks };
}

/** The events of a batch as the service would parse them. */
function parse(blocks: readonly EventBlock[], prefix = bodyPrefix('g', 's')) {
  return JSON.parse(putLogEventsPayload(prefix, blocks).toString('utf8')) as {
    logGroupName: string;
    logStreamName: string;
    logEvents: { timestamp: number; message: string }[];
  };
}

const CONTROL = Array.from({ length: 32 }, (_, i) => `c${String.fromCharCode(i)}c`);
const TRICKY = [...CONTROL, 'quote " backslash \\ slash /', '\u007f\u0080\u2028\u2029', '😀 é ✓', '\uFFFD', '{"json":true}', 'plain line', ' '];

t.test('the body is valid JSON whatever the bytes, and messages decode as the console does', async (t) => {
  const { enc, blocks } = encoder();
  const lines = [
    ...TRICKY.map((text) => Buffer.from(text)),
    Buffer.from([0x61, 0xff, 0x62]),
    Buffer.from([0xc3, 0x28]),
    Buffer.from([0xe2, 0x82]),
    Buffer.from([0xed, 0xa0, 0x80]),
  ];
  for (const [i, line] of lines.entries()) enc.addBytes(Buffer.concat([Buffer.from('xx'), line, Buffer.from('yy')]), 2, 2 + line.length, 1000 + i);
  enc.finish();
  const body = putLogEventsPayload(bodyPrefix('g/"x"', 's\\1'), blocks).toString('utf8');
  const parsed = JSON.parse(body) as { logGroupName: string; logStreamName: string; logEvents: { message: string; timestamp: number }[] };
  t.equal(parsed.logGroupName, 'g/"x"');
  t.equal(parsed.logStreamName, 's\\1');
  t.same(
    parsed.logEvents.map((e: { message: string }) => e.message),
    lines.map((l) => l.toString('utf8')),
    'invalid UTF-8 became U+FFFD',
  );
  t.same(
    parsed.logEvents.map((e: { timestamp: number }) => e.timestamp),
    lines.map((_, i) => 1000 + i),
  );
  t.notMatch(body, /[\u0000-\u001f]/, 'no raw control character in the body');
  t.equal(eventCount(blocks), lines.length);
});

t.test('bytes and text give the same block; timestamps are whole milliseconds', async (t) => {
  const a = encoder();
  const b = encoder();
  for (const [i, text] of TRICKY.entries()) {
    const bytes = Buffer.from(text);
    a.enc.addBytes(bytes, 0, bytes.length, 1234.9 + i);
    b.enc.addText(text, 1234.9 + i);
  }
  a.enc.finish();
  b.enc.finish();
  t.equal(a.blocks.length, 1);
  t.ok(a.blocks[0]!.body.equals(b.blocks[0]!.body), 'identical bodies');
  const facts = (block: EventBlock) => [block.count, block.bytes, block.first, block.last];
  t.same(facts(a.blocks[0]!), facts(b.blocks[0]!), 'identical counts, sizes and times');
  t.equal(parse(a.blocks).logEvents[0]!.timestamp, 1234);
  t.equal(a.blocks[0]!.first, 1234);
  t.equal(a.blocks[0]!.last, 1234 + TRICKY.length - 1);
});

t.test('sizes count UTF-8 bytes plus 26 (a replaced byte as the 3 bytes of U+FFFD)', async (t) => {
  const sizeOf = (add: (e: EventBlockEncoder) => void) => {
    const { enc, blocks } = encoder();
    add(enc);
    enc.finish();
    return blocks[0]!.bytes;
  };
  t.equal(
    sizeOf((e) => e.addText('abc', 1)),
    29,
  );
  t.equal(
    sizeOf((e) => e.addText('é', 1)),
    28,
  );
  t.equal(
    sizeOf((e) => e.addText('😀', 1)),
    30,
  );
  t.equal(
    sizeOf((e) => e.addBytes(Buffer.from('abc'), 0, 3, 1)),
    29,
  );
  t.equal(
    sizeOf((e) => e.addBytes(Buffer.from([0xff]), 0, 1, 1)),
    29,
  );
  t.equal(
    sizeOf((e) => e.addBytes(Buffer.from('a"b'), 0, 3, 1)),
    29,
    'the escape is not counted: the service counts the message',
  );
});

t.test('a block ends at its limits, and where time goes back', async (t) => {
  const { enc, blocks } = encoder();
  for (let i = 0; i < BLOCK_EVENTS + 5; i++) enc.addText('x', 10);
  enc.finish();
  t.same(
    blocks.map((b) => b.count),
    [BLOCK_EVENTS, 5],
    'at most BLOCK_EVENTS events',
  );
  blocks.length = 0;
  const line = 'y'.repeat(1000);
  for (let i = 0; i < 200; i++) enc.addText(line, 10);
  enc.finish();
  t.ok(
    blocks.every((b) => b.bytes <= BLOCK_BYTES),
    'at most BLOCK_BYTES bytes',
  );
  t.equal(blocks[0]!.count, Math.floor(BLOCK_BYTES / 1026));
  t.equal(eventCount(blocks), 200);
  blocks.length = 0;
  enc.addText('a', 50);
  enc.addText('b', 49);
  enc.addText('c', 49 + 24 * 3600_000);
  enc.addText('d', 49 + 24 * 3600_000 + 1);
  enc.finish();
  t.same(
    blocks.map((b) => [b.first, b.last, b.count]),
    [
      [50, 50, 1],
      [49, 49 + 24 * 3600_000, 2],
      [49 + 24 * 3600_000 + 1, 49 + 24 * 3600_000 + 1, 1],
    ],
    'chronological, within 24 hours',
  );
  blocks.length = 0;
  enc.finish();
  t.same(blocks, [], 'an empty block is not handed on');
});

t.test('a block keeps its memory until released, then the memory is used again', async (t) => {
  const { enc, blocks } = encoder();
  const text = 'z'.repeat(1000);
  // Enough blocks to fill several arena chunks.
  for (let i = 0; i < 3000; i++) {
    enc.addText(`${i} ${text}`, 1);
    enc.finish();
  }
  t.ok(
    blocks.every((b, i) => b.body.toString().startsWith(`{"timestamp":1,"message":"${i} z`)),
    'every unreleased block intact',
  );
  const chunks = new Set(blocks.map((b) => b.chunk));
  t.ok(chunks.size >= 3, `${chunks.size} chunks`);
  const first = blocks[0]!.chunk;
  for (const b of blocks.filter((b) => b.chunk === first)) enc.release(b);
  t.equal(first.live, 0);
  blocks.length = 0;
  for (let i = 0; i < 2000; i++) {
    enc.addText(`again ${i} ${text}`, 2);
    enc.finish();
  }
  t.ok(
    blocks.some((b) => b.chunk === first),
    'a chunk whose blocks were all released is used again',
  );
  t.ok(
    blocks.every((b, i) => b.body.toString().startsWith(`{"timestamp":2,"message":"again ${i} z`)),
    'and the new blocks are intact',
  );
});

t.test('request bodies from the pool are reused once given back', async (t) => {
  const pool = new BodyPool();
  const { enc, blocks } = encoder();
  enc.addText('one', 1);
  enc.finish();
  const a = putLogEventsPayload(bodyPrefix('g', 's'), blocks, pool);
  const b = putLogEventsPayload(bodyPrefix('g', 's'), blocks, pool);
  t.not(a.buffer, b.buffer, 'two calls in flight have two bodies');
  const copy = Buffer.from(a);
  pool.give(a);
  const c = putLogEventsPayload(bodyPrefix('g', 's'), blocks, pool);
  t.equal(c.buffer, a.buffer, 'a body given back is used again');
  t.ok(c.equals(copy));
  t.ok(b.equals(copy), 'the body still in flight is untouched');
});

t.test('a block is its own memory, and a payload too', async (t) => {
  const { enc, blocks } = encoder();
  enc.addText('first', 1);
  enc.finish();
  const copy = Buffer.from(blocks[0]!.body);
  enc.addText('second, which would overwrite a shared buffer', 2);
  enc.finish();
  t.ok(blocks[0]!.body.equals(copy));
  const payload = putLogEventsPayload(bodyPrefix('g', 's'), blocks.slice(0, 1));
  const before = Buffer.from(payload);
  putLogEventsPayload(bodyPrefix('g', 's'), blocks);
  t.ok(payload.equals(before));
  t.same(
    parse(blocks).logEvents.map((e) => e.message),
    ['first', 'second, which would overwrite a shared buffer'],
  );
});

t.test('over-long messages become several events, never dropped, by either path', async (t) => {
  const blocks: EventBlock[] = [];
  let told = 0;
  const enc = new EventBlockEncoder(
    (b) => void blocks.push(b),
    () => told++,
  );
  const long = 'a'.repeat(MAX_MESSAGE_BYTES + 10);
  const bytes = Buffer.from(long);
  enc.addBytes(bytes, 0, bytes.length, 5);
  enc.addText(long, 5);
  enc.finish();
  t.equal(enc.split, 2);
  t.equal(told, 2, 'each split is reported (the events_split counter)');
  const messages = parse(blocks).logEvents.map((e) => e.message);
  t.same(
    messages.map((m) => m.length),
    [MAX_MESSAGE_BYTES, 10, MAX_MESSAGE_BYTES, 10],
  );
  t.ok(
    blocks.every((b) => b.bytes <= 1_048_576),
    'each fits a call',
  );
});

t.test('over-long messages are split at character boundaries, never dropped', async (t) => {
  t.same(splitMessage('short'), ['short']);
  const ascii = 'a'.repeat(MAX_MESSAGE_BYTES * 2 + 10);
  const pieces = splitMessage(ascii);
  t.same(
    pieces.map((p) => p.length),
    [MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES, 10],
  );
  t.equal(pieces.join(''), ascii);
  const mixed = 'é😀x'.repeat(100);
  const small = splitMessage(mixed, 7);
  t.equal(small.join(''), mixed, 'nothing lost');
  t.ok(
    small.every((p) => Buffer.byteLength(p) <= 7 && !p.includes('\uFFFD')),
    'no piece too big, no character cut',
  );
  t.same(splitMessage('x'.repeat(MAX_MESSAGE_BYTES)), ['x'.repeat(MAX_MESSAGE_BYTES)], 'exactly the maximum stays whole');
});

t.test('canJoinBlocks keeps order and the 24-hour span', async (t) => {
  const block = (first: number, last = first): EventBlock => ({
    body: Buffer.from('{}'),
    count: 1,
    bytes: 28,
    first,
    last,
    chunk: { buf: Buffer.alloc(2), used: 2, live: 1 },
  });
  t.equal(canJoinBlocks([block(10)], block(10)), true);
  t.equal(canJoinBlocks([block(5, 10)], block(9, 12)), false, 'a block that starts before the last event ends the batch');
  t.equal(canJoinBlocks([block(0), block(5)], block(6, 24 * 3600_000)), true);
  t.equal(canJoinBlocks([block(0), block(5)], block(6, 24 * 3600_000 + 1)), false);
});

t.test('canOverlapBlocks: only a batch strictly later than the one in flight', async (t) => {
  const block = (first: number, last = first): EventBlock => ({
    body: Buffer.from('{}'),
    count: 1,
    bytes: 28,
    first,
    last,
    chunk: { buf: Buffer.alloc(2), used: 2, live: 1 },
  });
  t.equal(canOverlapBlocks([block(1), block(3, 5)], [block(6), block(7)]), true);
  t.equal(canOverlapBlocks([block(1), block(3, 5)], [block(5, 6)]), false, 'an equal timestamp would leave the order to chance');
  t.equal(trimFullBlocks([block(1), block(2), block(3), block(3)], block(3)), 2, 'a full batch ends before the blocks of the next timestamp');
  t.equal(trimFullBlocks([block(1), block(2)], block(3)), 2, 'nothing to trim');
  t.equal(trimFullBlocks([block(3), block(3)], block(3)), 2, 'all of one timestamp: sent whole');
});

t.test('rejectedLogEventsInfo is counted with exclusive ends and an inclusive start', async (t) => {
  t.same(rejectedCount(undefined, 10), { total: 0, tooOld: 0, expired: 0, tooNew: 0 });
  t.same(rejectedCount({ tooOldLogEventEndIndex: 2 }, 10), { total: 2, tooOld: 2, expired: 0, tooNew: 0 });
  t.same(rejectedCount({ tooNewLogEventStartIndex: 7 }, 10), { total: 3, tooOld: 0, expired: 0, tooNew: 3 });
  t.same(rejectedCount({ tooOldLogEventEndIndex: 2, expiredLogEventEndIndex: 4, tooNewLogEventStartIndex: 9 }, 10), {
    total: 5,
    tooOld: 2,
    expired: 4,
    tooNew: 1,
  });
  t.same(rejectedCount({ tooNewLogEventStartIndex: 50 }, 10).total, 0, 'indexes are clamped');
});
