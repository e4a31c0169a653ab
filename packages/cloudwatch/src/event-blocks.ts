/**
 * Log events are encoded once, as they arrive, into blocks of PutLogEvents JSON: a block is the
 * events of one read of the program's output (or one message of uk's own), as
 * `{"timestamp":T,"message":"…"},{"timestamp":T,"message":"…"}` bytes. The Batcher queues blocks
 * (a block counts as its events and its bytes, as the service counts them), and a request body is
 * the blocks joined with commas between a prefix and `]}`: a few memory copies.
 *
 * Why: one string and one object per line, kept until the call that carries it succeeds, made
 * the garbage collector the largest cost of shipping. Most lines are printable ASCII without a
 * quote or a backslash: their bytes are their own JSON string and are copied as they are, without
 * ever becoming a JavaScript string. Any other line (non-ASCII, control characters, quotes,
 * backslashes, invalid UTF-8) is decoded (invalid bytes become U+FFFD, as the console does) and
 * escaped by JSON.stringify.
 *
 * A block keeps the PutLogEvents rules a batch of blocks relies on: its events are in
 * chronological order and span less than 24 hours (a read whose time is earlier than the block's
 * last event starts a new block), and it holds at most BLOCK_EVENTS events and BLOCK_BYTES bytes,
 * so that blocks fill a batch of 10,000 events or 1 MB closely.
 */
import { copyPlainJsonBytes, type SpoolCodec } from '@uk/core';
import { BlockArena, type ArenaChunk } from './block-arena.js';
import { EVENT_OVERHEAD_BYTES, MAX_BATCH_SPAN_MS, MAX_MESSAGE_BYTES, splitMessage } from './log-events.js';

export interface EventBlock {
  /** The events' JSON, separated by commas, without a comma at either end. */
  readonly body: Buffer;
  /** Events in the block. */
  readonly count: number;
  /** The events' size as PutLogEvents counts it: UTF-8 bytes of each message plus 26. */
  readonly bytes: number;
  /** Timestamps (ms) of the first and the last event. */
  readonly first: number;
  readonly last: number;
  /** Where the body is stored (see block-arena.ts): released once the block is sent or dropped. */
  readonly chunk: ArenaChunk;
}

export const BLOCK_EVENTS = 1000;
export const BLOCK_BYTES = 128 * 1024;

/** May `next` follow the blocks of `batch` in one call (chronological, within 24 hours)? */
export function canJoinBlocks(batch: readonly EventBlock[], next: EventBlock): boolean {
  return next.first >= (batch[batch.length - 1] as EventBlock).last && next.last - (batch[0] as EventBlock).first <= MAX_BATCH_SPAN_MS;
}

/**
 * May batch `next` be in flight together with `previous`, the batch before it? Only if every event
 * of `next` is strictly later, so that the stream's order (by timestamp) is the order written
 * whichever call is stored first.
 */
export function canOverlapBlocks(previous: readonly EventBlock[], next: readonly EventBlock[]): boolean {
  return (next[0] as EventBlock).first > (previous[previous.length - 1] as EventBlock).last;
}

/**
 * A full batch, with `next` the block after it: how many blocks to send now. The batch ends before
 * its blocks of `next`'s timestamp, so that the next batch starts strictly later and may overlap
 * it; a batch all of that timestamp is sent whole (the next one then waits for it).
 */
export function trimFullBlocks(batch: readonly EventBlock[], next: EventBlock): number {
  let keep = batch.length;
  while (keep > 0 && (batch[keep - 1] as EventBlock).last >= next.first) keep--;
  return keep === 0 ? batch.length : keep;
}

/** Events in a batch of blocks. */
export function eventCount(batch: readonly EventBlock[]): number {
  let count = 0;
  for (const block of batch) count += block.count;
  return count;
}

export class EventBlockEncoder {
  readonly #emit: (block: EventBlock) => void;
  readonly #arena = new BlockArena();
  /** Where the block is built; grows for a large message, copied out at its exact size. */
  #scratch = Buffer.allocUnsafeSlow(2 * BLOCK_BYTES);
  #at = 0;
  #count = 0;
  #bytes = 0;
  #first = 0;
  #last = 0;
  /** `,{"timestamp":T,"message":` for the last time seen, and without its comma (a block's first event). */
  #head = Buffer.alloc(0);
  #headFirst = Buffer.alloc(0);
  #headTime = NaN;
  /** Messages split because they were longer than an event may be. */
  split = 0;
  readonly #onSplit: () => void;

  /** `emit` takes each finished block; `onSplit` is told of each message split into several events. */
  constructor(emit: (block: EventBlock) => void, onSplit: () => void = () => {}) {
    this.#emit = emit;
    this.#onSplit = onSplit;
  }

  /**
   * Adds `buf[start, end)`, a non-empty line as the program wrote it. Printable ASCII is copied as
   * it is (checked while copying); anything else is decoded and escaped.
   */
  addBytes(buf: Buffer, start: number, end: number, time: number): void {
    const length = end - start;
    if (length <= MAX_MESSAGE_BYTES) {
      const size = length + EVENT_OVERHEAD_BYTES;
      this.#cut(time, size);
      const head = this.#count === 0 ? this.#headFirst : this.#head;
      this.#reserve(head.length + length + 3);
      const s = this.#scratch;
      const quote = this.#at + head.length;
      const at = copyPlainJsonBytes(buf, start, end, s, quote + 1);
      if (at >= 0) {
        s.set(head, this.#at);
        s[quote] = 0x22;
        s[at] = 0x22;
        s[at + 1] = 0x7d;
        this.#at = at + 2;
        this.#commit(time, size);
        return;
      }
    }
    this.addText(buf.toString('utf8', start, end), time);
  }

  /** Adds a non-empty message given as text (split into several events if it is too long). */
  addText(text: string, time: number): void {
    // A UTF-16 unit takes at most 3 bytes in UTF-8: most messages need no splitting check.
    if (text.length * 3 > MAX_MESSAGE_BYTES) {
      const pieces = splitMessage(text);
      if (pieces.length > 1) {
        this.split++;
        this.#onSplit();
        for (const piece of pieces) this.addText(piece, time);
        return;
      }
    }
    const json = JSON.stringify(text);
    const size = Buffer.byteLength(text, 'utf8') + EVENT_OVERHEAD_BYTES;
    this.#cut(time, size);
    const head = this.#count === 0 ? this.#headFirst : this.#head;
    // At most 3 UTF-8 bytes per UTF-16 unit of the escaped text; one more for the brace.
    this.#reserve(head.length + json.length * 3 + 1);
    this.#scratch.set(head, this.#at);
    this.#at += head.length;
    this.#at += this.#scratch.write(json, this.#at, 'utf8');
    this.#scratch[this.#at++] = 0x7d;
    this.#commit(time, size);
  }

  /** Ends the block (if it holds events) and hands it on. */
  finish(): void {
    if (this.#count === 0) return;
    const { body, chunk } = this.#arena.store(this.#scratch, this.#at);
    const block: EventBlock = { body, count: this.#count, bytes: this.#bytes, first: this.#first, last: this.#last, chunk };
    this.#at = 0;
    this.#count = 0;
    this.#bytes = 0;
    this.#emit(block);
  }

  /**
   * A block again from its spooled bytes (blockCodec below): the body goes into the arena like a
   * block made here, so `release` treats both alike.
   */
  restore(body: Buffer, count: number, bytes: number, first: number, last: number): EventBlock {
    const stored = this.#arena.store(body, body.length);
    return { body: stored.body, count, bytes, first, last, chunk: stored.chunk };
  }

  /** The block was sent or dropped: its memory can be used again. */
  release(block: EventBlock): void {
    this.#arena.release(block.chunk);
  }

  /** Ends the block first if an event of `size` (as the service counts) at `time` cannot join it; keeps the event head for `time`. */
  #cut(time: number, size: number): void {
    const stamp = Math.trunc(time);
    if (this.#count > 0 && (stamp < this.#last || stamp - this.#first > MAX_BATCH_SPAN_MS || this.#count >= BLOCK_EVENTS || this.#bytes + size > BLOCK_BYTES))
      this.finish();
    if (stamp !== this.#headTime) {
      this.#headTime = stamp;
      this.#head = Buffer.from(`,{"timestamp":${stamp},"message":`, 'latin1');
      this.#headFirst = this.#head.subarray(1);
    }
  }

  /** Counts the event just written. */
  #commit(time: number, size: number): void {
    const stamp = Math.trunc(time);
    if (this.#count === 0) this.#first = stamp;
    this.#last = stamp;
    this.#count++;
    this.#bytes += size;
  }

  #reserve(more: number): void {
    if (this.#at + more <= this.#scratch.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.#scratch.length * 2, this.#at + more));
    this.#scratch.copy(bigger, 0, 0, this.#at);
    this.#scratch = bigger;
  }
}

/** Spooled block: first and last timestamps (f64), events and service bytes (u32), then the body. */
const SPOOL_HEAD = 24;

/**
 * The disk spool's codec for blocks (uk.spool_dir): the body is the events' JSON with their
 * original timestamps, so a block delivered by a later run keeps them (CloudWatch then refuses
 * events older than 14 days or the retention: counted as rejected).
 */
export function blockCodec(encoder: EventBlockEncoder): SpoolCodec<EventBlock> {
  return {
    encode(block) {
      const out = Buffer.allocUnsafe(SPOOL_HEAD + block.body.length);
      out.writeDoubleLE(block.first, 0);
      out.writeDoubleLE(block.last, 8);
      out.writeUInt32LE(block.count, 16);
      out.writeUInt32LE(block.bytes, 20);
      out.set(block.body, SPOOL_HEAD);
      return out;
    },
    decode(bytes) {
      if (bytes.length <= SPOOL_HEAD) return undefined;
      const count = bytes.readUInt32LE(16);
      if (count === 0 || count > BLOCK_EVENTS) return undefined;
      return encoder.restore(bytes.subarray(SPOOL_HEAD), count, bytes.readUInt32LE(20), bytes.readDoubleLE(0), bytes.readDoubleLE(8));
    },
  };
}
