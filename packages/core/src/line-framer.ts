/**
 * Cuts a byte stream into lines: one line per `\n`, a partial line delivered after a short idle or
 * at the end, a line longer than the maximum split into several lines at a UTF-8 character
 * boundary (never cut silently).
 *
 * Lines are handed on as bytes, a block per read (`LineBlock`): no string is made here, so a
 * driver that encodes bytes (CloudWatch, Cloud Logging) never pays for one per line. Bytes are as
 * the program wrote them, invalid UTF-8 included; `lineText` decodes a line (invalid bytes become
 * U+FFFD) for drivers that want text.
 */

/** Complete lines read at one time. Valid only during the call it is passed to: copy what you keep. */
export interface LineBlock {
  /** The bytes the lines are in. */
  readonly buf: Buffer;
  /** Line i is `buf[bounds[2i], bounds[2i + 1])`, without its newline. */
  readonly bounds: Int32Array;
  /** Lines in the block (at least 1). */
  readonly count: number;
  /** Realtime milliseconds since the epoch when uk read the bytes (when the line started, for a line that spanned reads). */
  readonly time: number;
  /**
   * The program lines the records hold, when more than `count`: multiline grouping (docs/multiline.md)
   * made a record of several lines joined by `\n`. Lines never contain `\n`, so splitting a record
   * at `\n` gives its lines back. Absent: one line per record.
   */
  readonly lines?: number;
}

/** Line `i` of a block as text: UTF-8 decoded, invalid bytes replaced by U+FFFD. */
export function lineText(block: LineBlock, i: number): string {
  return block.buf.toString('utf8', block.bounds[2 * i], block.bounds[2 * i + 1]);
}

export interface LineFramerOptions {
  /** Largest line in bytes; a longer one becomes several lines. */
  readonly maxRecordBytes: number;
  readonly emit: (block: LineBlock) => void;
}

/** The largest cut ≤ `cut` that does not split a UTF-8 sequence (within 3 bytes back). */
function utf8Boundary(buf: Buffer, start: number, cut: number): number {
  for (let back = 0; back < 4 && cut - back > start; back++) {
    const byte = buf[cut - back] as number;
    // A byte that is not a continuation byte (10xxxxxx) starts a character: cut before it.
    if ((byte & 0xc0) !== 0x80) return cut - back;
  }
  return cut;
}

export class LineFramer {
  readonly #max: number;
  readonly #emit: (block: LineBlock) => void;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #pendingTime = 0;
  /** Line bounds of the block being built; reused from read to read, grown as needed. */
  #bounds = new Int32Array(2048);
  #count = 0;

  constructor(options: LineFramerOptions) {
    if (!(options.maxRecordBytes >= 4)) throw new RangeError(`maxRecordBytes must be at least 4, got ${options.maxRecordBytes}`);
    this.#max = options.maxRecordBytes;
    this.#emit = options.emit;
  }

  /** Bytes of an unfinished line waiting for its newline. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Time the pending partial line started arriving (0 if none). */
  get pendingSince(): number {
    return this.#pendingTime;
  }

  push(chunk: Buffer, time: number): void {
    let start = 0;
    let nl = chunk.indexOf(10);
    if (this.#pendingBytes > 0 && nl !== -1) {
      // The line that began in an earlier read keeps its own (earlier) time: a block of its own.
      this.#pending.push(chunk.subarray(0, nl));
      const line = Buffer.concat(this.#pending, this.#pendingBytes + nl);
      const lineTime = this.#pendingTime;
      this.#clear();
      this.#addRange(line, 0, line.length);
      this.#emitBlock(line, lineTime);
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    while (nl !== -1) {
      this.#addRange(chunk, start, nl);
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    this.#emitBlock(chunk, time);
    if (start < chunk.length) {
      if (this.#pendingBytes === 0) this.#pendingTime = time;
      // Copy: the reader may reuse chunk memory, and a partial line can wait a while.
      this.#pending.push(Buffer.from(chunk.subarray(start)));
      this.#pendingBytes += chunk.length - start;
      if (this.#pendingBytes > this.#max) this.#splitPending();
    }
  }

  /** Delivers the partial line now (after an idle period, or at the end of the stream). */
  flush(): void {
    if (this.#pendingBytes === 0) return;
    const line = Buffer.concat(this.#pending, this.#pendingBytes);
    const time = this.#pendingTime;
    this.#clear();
    this.#addRange(line, 0, line.length);
    this.#emitBlock(line, time);
  }

  #clear(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#pendingTime = 0;
  }

  /** Emits full-size pieces of an over-long partial line and keeps the rest pending. */
  #splitPending(): void {
    const line = Buffer.concat(this.#pending, this.#pendingBytes);
    const time = this.#pendingTime;
    let start = 0;
    while (line.length - start > this.#max) {
      const cut = utf8Boundary(line, start, start + this.#max);
      this.#push(start, cut);
      start = cut;
    }
    this.#emitBlock(line, time);
    this.#clear();
    if (start < line.length) {
      this.#pending.push(line.subarray(start));
      this.#pendingBytes = line.length - start;
      this.#pendingTime = time;
    }
  }

  /** Adds line `buf[start, end)` to the block, in pieces of at most the maximum. */
  #addRange(buf: Buffer, start: number, end: number): void {
    while (end - start > this.#max) {
      const cut = utf8Boundary(buf, start, start + this.#max);
      this.#push(start, cut);
      start = cut;
    }
    this.#push(start, end);
  }

  #push(start: number, end: number): void {
    if (2 * this.#count + 2 > this.#bounds.length) {
      const bigger = new Int32Array(this.#bounds.length * 2);
      bigger.set(this.#bounds);
      this.#bounds = bigger;
    }
    this.#bounds[2 * this.#count] = start;
    this.#bounds[2 * this.#count + 1] = end;
    this.#count++;
  }

  #emitBlock(buf: Buffer, time: number): void {
    if (this.#count === 0) return;
    const count = this.#count;
    // Reset first: a driver that throws must not leave these lines in the next block.
    this.#count = 0;
    this.#emit({ buf, bounds: this.#bounds, count, time });
  }
}
