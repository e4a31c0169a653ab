/**
 * How one spooled record is stored in a segment file: a 16-byte header, then the payload the
 * klib's codec made (see docs/delivery.md, "The disk spool").
 *
 *   magic   u16  0x756b ("uk"): where a frame starts, so a reader can find the next good frame
 *                after a damaged one
 *   version u16  0
 *   length  u32  payload bytes
 *   records u32  records the payload stands for (a CloudWatch block holds many events)
 *   crc     u32  CRC-32 of the length, the records and the payload: a torn write or a flipped bit
 *                is found, never delivered
 *
 * A segment file starts with SEGMENT_MAGIC so that a stray file in the directory is not read as
 * records. Every integer is little-endian.
 */
import { crc32 } from 'node:zlib';

export const FRAME_MAGIC = 0x756b;
export const FRAME_HEADER_BYTES = 16;
/** A frame larger than this is damage, not a record (the largest record uk makes is 64 MiB). */
export const MAX_FRAME_PAYLOAD = 96 * 1024 * 1024;
export const SEGMENT_MAGIC = Buffer.from('UKSPOOL1', 'latin1');

/** The frame for `payload`, header and payload in one buffer. */
export function encodeFrame(payload: Uint8Array, records: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  encodeFrameInto(frame, payload, records);
  return frame;
}

/** Writes the frame for `payload` into `frame`, which is exactly FRAME_HEADER_BYTES + payload.length long. */
export function encodeFrameInto(frame: Buffer, payload: Uint8Array, records: number): void {
  frame.writeUInt16LE(FRAME_MAGIC, 0);
  frame.writeUInt16LE(0, 2);
  frame.writeUInt32LE(payload.length, 4);
  frame.writeUInt32LE(records, 8);
  frame.set(payload, FRAME_HEADER_BYTES);
  frame.writeUInt32LE(frameCrc(frame, 0, payload.length), 12);
}

/** CRC-32 over a frame's length, records and payload (the header's bytes 4..12, then the payload). */
function frameCrc(buf: Buffer, at: number, length: number): number {
  const head = crc32(buf.subarray(at + 4, at + 12));
  return crc32(buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length), head);
}

export type FrameAt =
  /** A good frame: its payload is buf[payloadStart, end). */
  | { readonly kind: 'frame'; readonly payloadStart: number; readonly end: number; readonly records: number }
  /** The buffer ends before the frame does (read more, or the file was cut short). */
  | { readonly kind: 'short'; readonly need: number }
  /** No good frame starts here. */
  | { readonly kind: 'bad' };

/** What starts at `at` in `buf` (whose bytes end at `limit`). */
export function frameAt(buf: Buffer, at: number, limit = buf.length): FrameAt {
  if (limit - at < FRAME_HEADER_BYTES) return { kind: 'short', need: FRAME_HEADER_BYTES };
  if (buf.readUInt16LE(at) !== FRAME_MAGIC || buf.readUInt16LE(at + 2) !== 0) return { kind: 'bad' };
  const length = buf.readUInt32LE(at + 4);
  if (length > MAX_FRAME_PAYLOAD) return { kind: 'bad' };
  const end = at + FRAME_HEADER_BYTES + length;
  if (end > limit) return { kind: 'short', need: FRAME_HEADER_BYTES + length };
  if (frameCrc(buf, at, length) !== buf.readUInt32LE(at + 12)) return { kind: 'bad' };
  return { kind: 'frame', payloadStart: at + FRAME_HEADER_BYTES, end, records: buf.readUInt32LE(at + 8) };
}

/** The next offset after `from` where a good frame starts, or -1 (resynchronising after damage). */
export function nextGoodFrame(buf: Buffer, from: number, limit = buf.length): number {
  for (let at = buf.indexOf(0x6b, from); at >= 0 && at + FRAME_HEADER_BYTES <= limit; at = buf.indexOf(0x6b, at + 1)) {
    if (buf[at + 1] === 0x75 && frameAt(buf, at, limit).kind === 'frame') return at;
  }
  return -1;
}

export interface SegmentScan {
  /** Good frames and the records they stand for. */
  readonly frames: number;
  readonly records: number;
  /** Damaged byte ranges [from, to): a bad frame, bytes between good ones, a frame cut short at the end. */
  readonly bad: readonly (readonly [number, number])[];
  readonly badBytes: number;
  /** False when the file does not start with SEGMENT_MAGIC (not a segment: nothing is read from it). */
  readonly segment: boolean;
  /** Where the frame after the first `skipFrames` good ones starts, and the records of those frames. */
  readonly skipEnd: number;
  readonly skipRecords: number;
}

/**
 * Checks a whole segment file's bytes: every good frame is counted, every damaged range named.
 * `skipFrames`: good frames already acknowledged (the reader starts after them).
 */
export function scanSegment(buf: Buffer, skipFrames = 0): SegmentScan {
  if (buf.length < SEGMENT_MAGIC.length || !buf.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC))
    return { frames: 0, records: 0, bad: buf.length > 0 ? [[0, buf.length]] : [], badBytes: buf.length, segment: false, skipEnd: 0, skipRecords: 0 };
  let skipEnd = SEGMENT_MAGIC.length;
  let skipRecords = 0;
  let frames = 0;
  let records = 0;
  let badBytes = 0;
  const bad: [number, number][] = [];
  let at = SEGMENT_MAGIC.length;
  while (at < buf.length) {
    const found = frameAt(buf, at);
    if (found.kind === 'frame') {
      frames++;
      records += found.records;
      at = found.end;
      if (frames <= skipFrames) {
        skipEnd = at;
        skipRecords = records;
      }
      continue;
    }
    // A frame cut short (a crash mid-write, or a damaged length) or damaged otherwise: skip to
    // the next good frame, if any.
    const next = nextGoodFrame(buf, at + 1);
    const to = next < 0 ? buf.length : next;
    bad.push([at, to]);
    badBytes += to - at;
    at = to;
  }
  return { frames, records, bad, badBytes, segment: true, skipEnd, skipRecords };
}
