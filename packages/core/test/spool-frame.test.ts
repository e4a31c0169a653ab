/** The segment codec: frames round-trip, and damage (a cut, a changed byte) is found and skipped, never read as a record. */
import t from 'tap';
import { encodeFrame, frameAt, FRAME_HEADER_BYTES, scanSegment, SEGMENT_MAGIC } from '../src/spool/frame.js';

function segmentOf(payloads: string[]): { buf: Buffer; starts: number[] } {
  const parts: Buffer[] = [SEGMENT_MAGIC];
  const starts: number[] = [];
  let at = SEGMENT_MAGIC.length;
  for (const [i, p] of payloads.entries()) {
    const frame = encodeFrame(Buffer.from(p), i + 1);
    starts.push(at);
    at += frame.length;
    parts.push(frame);
  }
  return { buf: Buffer.concat(parts), starts };
}

t.test('a frame round-trips: payload, records, end', async (t) => {
  const frame = encodeFrame(Buffer.from('hello'), 7);
  t.equal(frame.length, FRAME_HEADER_BYTES + 5);
  const found = frameAt(frame, 0);
  t.equal(found.kind, 'frame');
  if (found.kind !== 'frame') return;
  t.equal(frame.toString('utf8', found.payloadStart, found.end), 'hello');
  t.equal(found.records, 7);
  t.equal(found.end, frame.length);
  t.same(frameAt(frame, 0, frame.length - 1), { kind: 'short', need: FRAME_HEADER_BYTES + 5 }, 'cut short: says how much it needs');
});

t.test('a whole segment scans clean', async (t) => {
  const { buf } = segmentOf(['a', 'bb', 'ccc']);
  const scan = scanSegment(buf);
  t.same({ frames: scan.frames, records: scan.records, badBytes: scan.badBytes, segment: scan.segment }, { frames: 3, records: 6, badBytes: 0, segment: true });
  const skipped = scanSegment(buf, 2);
  t.equal(skipped.skipRecords, 3, 'records of the first two frames');
  t.equal(skipped.skipEnd, SEGMENT_MAGIC.length + 2 * FRAME_HEADER_BYTES + 3, 'the third frame starts after them');
});

t.test('a segment cut mid-record keeps every whole record before the cut', async (t) => {
  const { buf, starts } = segmentOf(['first', 'second', 'third-record']);
  const cut = buf.subarray(0, (starts[2] as number) + FRAME_HEADER_BYTES + 4);
  const scan = scanSegment(cut);
  t.equal(scan.frames, 2);
  t.equal(scan.records, 3);
  t.same(scan.bad, [[starts[2], cut.length]], 'the torn frame is the damaged range');
  t.equal(scan.badBytes, FRAME_HEADER_BYTES + 4);
});

t.test('a changed byte in a payload loses that record only', async (t) => {
  const { buf, starts } = segmentOf(['one', 'two', 'three']);
  const damaged = Buffer.from(buf);
  const at = (starts[1] as number) + FRAME_HEADER_BYTES + 1;
  damaged.writeUInt8((damaged[at] as number) ^ 0x01, at);
  const scan = scanSegment(damaged);
  t.equal(scan.frames, 2, 'the frames before and after are good');
  t.equal(scan.records, 1 + 3);
  t.same(scan.bad, [[starts[1], starts[2]]]);
});

t.test('a changed length field: the reader finds the next good frame', async (t) => {
  const { buf, starts } = segmentOf(['one', 'two', 'three']);
  const damaged = Buffer.from(buf);
  damaged.writeUInt32LE(0x00ffffff, (starts[1] as number) + 4);
  const scan = scanSegment(damaged);
  t.equal(scan.frames, 2);
  t.same(scan.bad, [[starts[1], starts[2]]]);
});

t.test('a file that is not a segment is not read as records', async (t) => {
  const scan = scanSegment(Buffer.from('not a spool segment at all'));
  t.equal(scan.segment, false);
  t.equal(scan.frames, 0);
  t.equal(scan.badBytes, 26);
});
