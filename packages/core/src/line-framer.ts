/**
 * Cuts a byte stream into line records: one record per `\n`-terminated line, a partial line
 * delivered after a short idle or at the end, a line longer than the maximum split into several
 * records at a UTF-8 character boundary (never cut silently), invalid UTF-8 replaced by U+FFFD.
 */

export interface LineFramerOptions {
  /** Largest record in bytes (before UTF-8 replacement); longer lines become several records. */
  readonly maxRecordBytes: number;
  readonly emit: (text: string, time: number) => void;
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
  readonly #emit: (text: string, time: number) => void;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #pendingTime = 0;

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
      this.#pending.push(chunk.subarray(0, nl));
      const line = Buffer.concat(this.#pending, this.#pendingBytes + nl);
      const lineTime = this.#pendingTime;
      this.#clear();
      this.#emitRange(line, 0, line.length, lineTime);
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    while (nl !== -1) {
      this.#emitRange(chunk, start, nl, time);
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
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
    this.#emitRange(line, 0, line.length, time);
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
      this.#emit(line.toString('utf8', start, cut), time);
      start = cut;
    }
    this.#clear();
    if (start < line.length) {
      this.#pending.push(line.subarray(start));
      this.#pendingBytes = line.length - start;
      this.#pendingTime = time;
    }
  }

  #emitRange(buf: Buffer, start: number, end: number, time: number): void {
    while (end - start > this.#max) {
      const cut = utf8Boundary(buf, start, start + this.#max);
      this.#emit(buf.toString('utf8', start, cut), time);
      start = cut;
    }
    this.#emit(buf.toString('utf8', start, end), time);
  }
}
