/**
 * Memory for encoded event blocks and request bodies, reused instead of allocated block by block
 * and call by call.
 *
 * Why: a Buffer per block (and per request body) is memory outside the JavaScript heap, and V8
 * answers a fast stream of such allocations with frequent full collections; that was 15% of uk's
 * time at 500,000 lines/s. Blocks are stored one after another in chunks of CHUNK_BYTES; a chunk
 * counts the blocks still queued in it and is reused once they are all sent (or dropped).
 */
export const CHUNK_BYTES = 1024 * 1024;
/** Spent chunks kept for reuse: enough for the batches between the encoder and the service. */
const SPARE_CHUNKS = 8;

export interface ArenaChunk {
  readonly buf: Buffer;
  used: number;
  /** Blocks stored in it and not released yet. */
  live: number;
}

export class BlockArena {
  #current: ArenaChunk | undefined;
  readonly #spare: ArenaChunk[] = [];

  /** Copies `src[0, length)` into the arena; returns the copy and its chunk (for `release`). */
  store(src: Buffer, length: number): { body: Buffer; chunk: ArenaChunk } {
    let chunk = this.#current;
    if (!chunk || chunk.buf.length - chunk.used < length) {
      this.#retire(chunk);
      // A block larger than a chunk (one long message) gets a chunk of its own size.
      chunk =
        length <= CHUNK_BYTES
          ? (this.#spare.pop() ?? { buf: Buffer.allocUnsafeSlow(CHUNK_BYTES), used: 0, live: 0 })
          : { buf: Buffer.allocUnsafeSlow(length), used: 0, live: 0 };
      this.#current = chunk;
    }
    const start = chunk.used;
    src.copy(chunk.buf, start, 0, length);
    chunk.used += length;
    chunk.live++;
    return { body: chunk.buf.subarray(start, start + length), chunk };
  }

  /** The block stored in `chunk` is no longer needed. */
  release(chunk: ArenaChunk): void {
    chunk.live--;
    if (chunk.live > 0) return;
    if (chunk === this.#current) chunk.used = 0;
    else this.#recycle(chunk);
  }

  /** The current chunk is full: it is recycled once its blocks are released. */
  #retire(chunk: ArenaChunk | undefined): void {
    this.#current = undefined;
    if (chunk && chunk.live === 0) this.#recycle(chunk);
  }

  #recycle(chunk: ArenaChunk): void {
    chunk.used = 0;
    if (chunk.buf.length === CHUNK_BYTES && this.#spare.length < SPARE_CHUNKS) this.#spare.push(chunk);
  }
}

/** Request bodies: one per call in flight, taken back once the call has settled and used again. */
export class BodyPool {
  readonly #spare: Buffer[] = [];

  /** A buffer of exactly `size` bytes (a view of a pooled one). */
  take(size: number): Buffer {
    const index = this.#spare.findIndex((buf) => buf.length >= size);
    const buf = index === -1 ? Buffer.allocUnsafeSlow(Math.max(size, 2 * CHUNK_BYTES)) : (this.#spare.splice(index, 1)[0] as Buffer);
    return buf.subarray(0, size);
  }

  /** The call that used `body` has settled: nothing reads it any more. */
  give(body: Buffer): void {
    const whole = Buffer.from(body.buffer, body.byteOffset, body.buffer.byteLength - body.byteOffset);
    if (this.#spare.length < 2) this.#spare.push(whole);
  }
}
