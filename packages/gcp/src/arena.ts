/**
 * Where queued log entries live: their UTF-8 JSON, each followed by a comma, written one after
 * another into large Buffers outside the JavaScript heap. The Batcher's queue then holds only each
 * entry's size (a small integer), so a full buffer of pending lines costs the garbage collector
 * nothing, and a request body is a few memory copies.
 *
 * The Batcher always takes and consumes entries from the head, in order, so the arena only needs a
 * read cursor: `view(bytes)` shows the next `bytes` without moving it, `consume(bytes)` moves it
 * once the Batcher is done with them, and chunks behind the cursor are released.
 */

interface Chunk {
  readonly buf: Buffer;
  used: number;
}

export class EntryArena {
  readonly #chunkSize: number;
  readonly #chunks: Chunk[] = [];
  /** Spent chunks kept for reuse (allocating large buffers at a high rate makes V8 collect often). */
  readonly #spare: Chunk[] = [];
  /** Read cursor: offset in #chunks[0]. */
  #offset = 0;

  constructor(chunkSize = 4 * 1024 * 1024) {
    this.#chunkSize = chunkSize;
  }

  /** Bytes held by the arena's chunks (queued entries plus unused room). */
  get allocatedBytes(): number {
    let total = 0;
    for (const chunk of this.#chunks) total += chunk.buf.length;
    return total;
  }

  #chunkFor(bytes: number): Chunk {
    const last = this.#chunks[this.#chunks.length - 1];
    if (last && last.buf.length - last.used >= bytes) return last;
    const spare = bytes <= this.#chunkSize ? this.#spare.pop() : undefined;
    const chunk: Chunk = spare ?? { buf: Buffer.allocUnsafeSlow(Math.max(this.#chunkSize, bytes)), used: 0 };
    chunk.used = 0;
    this.#chunks.push(chunk);
    return chunk;
  }

  /** Appends one entry and its comma; returns the bytes taken. */
  append(json: string): number {
    // Room for the worst case (3 bytes per UTF-16 unit) avoids measuring the string first.
    const last = this.#chunks[this.#chunks.length - 1];
    const chunk = last && last.buf.length - last.used > json.length * 3 ? last : this.#chunkFor(Buffer.byteLength(json) + 1);
    const written = chunk.buf.write(json, chunk.used, 'utf8');
    chunk.buf[chunk.used + written] = 0x2c;
    chunk.used += written + 1;
    return written + 1;
  }

  #reserved: Chunk | undefined;

  /**
   * Room for an entry of at most `maxBytes` (comma included), written by the caller into the
   * returned buffer from `reservedAt`, then committed with the bytes written.
   */
  reserve(maxBytes: number): Buffer {
    this.#reserved = this.#chunkFor(maxBytes);
    return this.#reserved.buf;
  }

  get reservedAt(): number {
    return this.#reserved?.used ?? 0;
  }

  commit(bytes: number): number {
    const chunk = this.#reserved;
    if (!chunk || chunk.used + bytes > chunk.buf.length) throw new RangeError('arena: commit without room reserved');
    chunk.used += bytes;
    this.#reserved = undefined;
    return bytes;
  }

  /** Takes back the entry just appended (the queue refused it). */
  rollback(bytes: number): void {
    const last = this.#chunks[this.#chunks.length - 1];
    if (!last || last.used < bytes) throw new RangeError(`arena: cannot roll back ${bytes} bytes`);
    last.used -= bytes;
  }

  /** The next `bytes` from the cursor, as slices (not copied, cursor unchanged). */
  view(bytes: number): Buffer[] {
    const out: Buffer[] = [];
    let index = 0;
    let offset = this.#offset;
    while (bytes > 0) {
      const chunk = this.#chunks[index];
      if (!chunk) throw new RangeError('arena: view beyond what was appended');
      const take = Math.min(bytes, chunk.used - offset);
      if (take > 0) out.push(chunk.buf.subarray(offset, offset + take));
      bytes -= take;
      index++;
      offset = 0;
    }
    return out;
  }

  /** Moves the cursor past `bytes` (entries the Batcher consumed) and releases spent chunks. */
  consume(bytes: number): void {
    while (bytes > 0) {
      const chunk = this.#chunks[0];
      if (!chunk) throw new RangeError('arena: consuming beyond what was appended');
      const take = Math.min(bytes, chunk.used - this.#offset);
      if (take === 0 && this.#chunks.length === 1) throw new RangeError('arena: consuming beyond what was appended');
      this.#offset += take;
      bytes -= take;
      if (this.#offset === chunk.used) {
        if (this.#chunks.length > 1) {
          this.#chunks.shift();
          if (chunk.buf.length === this.#chunkSize && this.#spare.length < 2) this.#spare.push(chunk);
        } else chunk.used = 0; // the only chunk: reuse it from the start
        this.#offset = 0;
      }
    }
  }
}
