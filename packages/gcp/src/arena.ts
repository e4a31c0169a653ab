/**
 * Where queued log entries live: their UTF-8 JSON, each followed by a comma, written one after
 * another into large Buffers outside the JavaScript heap. The Batcher's queue then holds only a
 * number per entry, so a full buffer of pending lines costs the garbage collector nothing, and a
 * request body is a few memory copies.
 *
 * That number is the entry's *reference*: its position in the stream of entries written (bytes
 * since the start, modulo 2^33) and its size, in one safe integer. A batch is a run of consecutive
 * entries, so its first reference and its size say which bytes it is, whichever batch is in flight
 * beside it. Batches may finish in any order (two requests are in flight): each chunk counts the
 * bytes still queued in it, and is reused once they are all released.
 */

/** Entry sizes stay below this (an entry is at most about 256 KB). */
const SIZE_SPAN = 2 ** 20;
/** Positions wrap at this; 2^33 * 2^20 is 2^53, the safe integers. The buffer is at most 4 GiB. */
export const POSITION_SPAN = 2 ** 33;
/** Spent chunks kept: enough for two requests in flight and a queue behind them (32 MiB). */
const SPARE_CHUNKS = 8;

/** The size in bytes (comma included) of the entry `ref` stands for. */
export function entrySize(ref: number): number {
  // Not `ref % SIZE_SPAN`: a remainder of numbers beyond 32 bits is a call into the runtime.
  return ref - Math.floor(ref / SIZE_SPAN) * SIZE_SPAN;
}

/** Where the entry `ref` stands for starts in the stream of entries. */
export function entryPosition(ref: number): number {
  return Math.floor(ref / SIZE_SPAN);
}

interface Chunk {
  readonly buf: Buffer;
  /** Stream position of buf[0]. */
  start: number;
  used: number;
  /** Bytes of entries in it not released yet. */
  live: number;
}

export class EntryArena {
  readonly #chunkSize: number;
  /** In stream order; a chunk leaves once all its entries are released. */
  readonly #chunks: Chunk[] = [];
  /**
   * Spent chunks kept for reuse: allocating large buffers at a high rate makes V8 collect often,
   * and new memory costs page faults again.
   */
  readonly #spare: Chunk[] = [];
  /** Stream position of the next entry. */
  #position = 0;
  #reserved: Chunk | undefined;

  /** `position`: of the first entry (tests start near the wrap). */
  constructor(chunkSize = 4 * 1024 * 1024, position = 0) {
    this.#chunkSize = chunkSize;
    this.#position = position % POSITION_SPAN;
  }

  #chunkFor(bytes: number): Chunk {
    const last = this.#chunks[this.#chunks.length - 1];
    if (last && last.buf.length - last.used >= bytes) return last;
    // An empty last chunk (a reservation left unused) too small for this: no chunk stays empty.
    if (last && last.used === 0) this.#retire(this.#chunks.pop() as Chunk);
    const spare = bytes <= this.#chunkSize ? this.#spare.pop() : undefined;
    const chunk: Chunk = spare ?? { buf: Buffer.allocUnsafeSlow(Math.max(this.#chunkSize, bytes)), start: 0, used: 0, live: 0 };
    chunk.start = this.#position;
    chunk.used = 0;
    chunk.live = 0;
    this.#chunks.push(chunk);
    return chunk;
  }

  /** The entry of `bytes` just written at the end of `chunk`. */
  #add(chunk: Chunk, bytes: number): number {
    if (bytes >= SIZE_SPAN) throw new RangeError(`arena: an entry of ${bytes} bytes is too large`);
    const ref = this.#position * SIZE_SPAN + bytes;
    chunk.used += bytes;
    chunk.live += bytes;
    this.#position = (this.#position + bytes) % POSITION_SPAN;
    return ref;
  }

  /** Appends one entry and its comma; returns its reference. */
  append(json: string): number {
    // Room for the worst case (3 bytes per UTF-16 unit) avoids measuring the string first.
    const last = this.#chunks[this.#chunks.length - 1];
    const chunk = last && last.buf.length - last.used > json.length * 3 ? last : this.#chunkFor(Buffer.byteLength(json) + 1);
    const written = chunk.buf.write(json, chunk.used, 'utf8');
    chunk.buf[chunk.used + written] = 0x2c;
    return this.#add(chunk, written + 1);
  }

  /**
   * Room for an entry of at most `maxBytes` (comma included), written by the caller into the
   * returned buffer from `reservedAt`, then committed with the bytes written (or left: nothing
   * is taken until then).
   */
  reserve(maxBytes: number): Buffer {
    this.#reserved = this.#chunkFor(maxBytes);
    return this.#reserved.buf;
  }

  get reservedAt(): number {
    return this.#reserved?.used ?? 0;
  }

  /** Takes the `bytes` written at `reservedAt` as an entry; returns its reference. */
  commit(bytes: number): number {
    const chunk = this.#reserved;
    if (!chunk || chunk.used + bytes > chunk.buf.length) throw new RangeError('arena: commit without room reserved');
    this.#reserved = undefined;
    return this.#add(chunk, bytes);
  }

  /** Takes back the entry just added (the queue refused it). */
  /** True if `ref` is the entry written last, which `rollback` can take back. */
  isLast(ref: number): boolean {
    const last = this.#chunks[this.#chunks.length - 1];
    return last !== undefined && last.used >= entrySize(ref) && (entryPosition(ref) + entrySize(ref)) % POSITION_SPAN === this.#position;
  }

  rollback(ref: number): void {
    const last = this.#chunks[this.#chunks.length - 1];
    const bytes = entrySize(ref);
    if (!last || last.used < bytes || (entryPosition(ref) + bytes) % POSITION_SPAN !== this.#position)
      throw new RangeError('arena: only the last entry can be rolled back');
    last.used -= bytes;
    last.live -= bytes;
    this.#position = entryPosition(ref);
  }

  /** Offset of stream position `position` in `chunk`, or -1 if it is not in it. */
  static #offset(chunk: Chunk, position: number): number {
    const offset = (position - chunk.start + POSITION_SPAN) % POSITION_SPAN;
    return offset < chunk.used ? offset : -1;
  }

  /** Calls `each` with the parts of the `bytes` from stream position `position`, chunk by chunk. */
  #walk(position: number, bytes: number, each: (chunk: Chunk, offset: number, take: number) => void): void {
    let index = this.#chunks.findIndex((chunk) => EntryArena.#offset(chunk, position) >= 0);
    let offset = index === -1 ? -1 : EntryArena.#offset(this.#chunks[index] as Chunk, position);
    while (bytes > 0) {
      const chunk = this.#chunks[index];
      if (!chunk || offset < 0) throw new RangeError('arena: no such entries');
      const take = Math.min(bytes, chunk.used - offset);
      each(chunk, offset, take);
      bytes -= take;
      // Entries continue at the start of the next chunk (a chunk's unused end is no position).
      index++;
      offset = 0;
    }
  }

  /** The `bytes` of entries from stream position `position`, as slices (not copied). */
  view(position: number, bytes: number): Buffer[] {
    const out: Buffer[] = [];
    this.#walk(position, bytes, (chunk, offset, take) => out.push(chunk.buf.subarray(offset, offset + take)));
    return out;
  }

  /** The entries of `bytes` from `position` are done with (sent or refused): their room is free. */
  release(position: number, bytes: number): void {
    const spent: Chunk[] = [];
    this.#walk(position, bytes, (chunk, _offset, take) => {
      chunk.live -= take;
      if (chunk.live === 0) spent.push(chunk);
    });
    for (const chunk of spent) {
      if (chunk === this.#chunks[this.#chunks.length - 1]) {
        // The chunk being written: start it again from the beginning.
        chunk.start = this.#position;
        chunk.used = 0;
        continue;
      }
      this.#chunks.splice(this.#chunks.indexOf(chunk), 1);
      this.#retire(chunk);
    }
  }

  /** Keeps a chunk no longer in use for reuse, a few of the usual size. */
  #retire(chunk: Chunk): void {
    if (chunk.buf.length === this.#chunkSize && this.#spare.length < SPARE_CHUNKS) this.#spare.push(chunk);
  }
}
