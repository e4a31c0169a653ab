/**
 * Groups a stream's lines into records: the lines of one stack trace become one record, their
 * newlines kept inside (`line\nline\n…`, no trailing newline). Sits between the line framer and
 * the console, one per program stream; the serial console never sees it.
 *
 * Lines outside a group go through as they came, in the framer's own block (no copy). A group's
 * lines are copied while it is open, and it is handed on as a block of its own with one record
 * (`count` 1, `lines` its number of lines) when a line does not continue it, when the stream has
 * been quiet for `timeoutMs`, when it would exceed `maxRecordBytes` or `maxLines` (then it goes
 * on in a new record: split, never dropped), and at the end (`flush`).
 */
import type { LineBlock } from '../line-framer.js';
import type { TimerHandle, Timers } from '../timers.js';
import { isJsonObjectLine, REJECT, type GroupRule, type Step } from './rule.js';

export interface LineGrouperOptions {
  readonly rule: GroupRule;
  /** Longest record in bytes (`uk.max_record_size`); a group that would be longer is split. */
  readonly maxRecordBytes: number;
  /** Most lines in one record; a group with more is split. */
  readonly maxLines: number;
  /** A group is sent after the stream has been quiet this long, ms (`uk.multiline_timeout`). */
  readonly timeoutMs: number;
  readonly timers: Timers;
  readonly emit: (block: LineBlock) => void;
  /** Told of each record of several lines sent, with its number of lines (for the counters). */
  readonly onGroup?: (lines: number) => void;
}

/** Held lines (that may still join a group) beyond which the group is closed without them. */
const MAX_HELD = 16;

export class LineGrouper {
  readonly #o: LineGrouperOptions;
  /** State of the open group (0: none). */
  #state = 0;
  /** The open group's lines, copied. */
  #parts: Buffer[] = [];
  #bytes = 0;
  #time = 0;
  /** Lines that may join the open group, decided by a later line. */
  #held: Buffer[] = [];
  #heldTimes: number[] = [];
  /** Monotonic time of the stream's last line while a group is open. */
  #lastLine = 0;
  #timer: TimerHandle | undefined;
  #due = 0;
  #deferred = false;
  readonly #single = new Int32Array(2);
  /** After close(): every line goes through at once (nothing is held that could be left behind). */
  #closed = false;

  constructor(options: LineGrouperOptions) {
    if (!(options.maxLines >= 2)) throw new RangeError(`maxLines must be at least 2, got ${options.maxLines}`);
    this.#o = options;
  }

  /** Whether a group is open (lines held back). */
  get pending(): boolean {
    return this.#state !== 0;
  }

  push(block: LineBlock): void {
    if (this.#closed) {
      this.#o.emit(block);
      return;
    }
    const { buf, bounds, count, time } = block;
    const rule = this.#o.rule;
    let run = -1;
    for (let i = 0; i < count; i++) {
      const start = bounds[2 * i] as number;
      const end = bounds[2 * i + 1] as number;
      if (this.#state !== 0 && this.#continues(buf, start, end, time)) continue;
      // No group, or the line ended it: looked at as a new line (with a look at the next one).
      let opened = start < end && !isJsonStart(buf, start, end) ? rule.open(buf, start, end) : 0;
      // The next line of this read already says the group ends at once: an ordinary line.
      if (opened !== 0 && i + 1 < count && rule.rejectsAtOnce?.(opened, buf, bounds[2 * i + 2] as number, bounds[2 * i + 3] as number) === true) opened = 0;
      if (opened === 0) {
        if (run < 0) run = i;
        continue;
      }
      if (run >= 0) this.#emitRun(block, run, i);
      run = -1;
      this.#state = opened;
      this.#add(Buffer.from(buf.subarray(start, end)), time);
    }
    if (run === 0) this.#o.emit(block);
    else if (run > 0) this.#emitRun(block, run, count);
    if (this.#state !== 0) {
      this.#lastLine = this.#o.timers.clock.monotonic();
      this.#arm();
    }
  }

  /** Sends the open group now (the stream ended, or uk is stopping); held lines go on their own. */
  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const held = this.#held;
    const times = this.#heldTimes;
    this.#held = [];
    this.#heldTimes = [];
    this.#emitGroup();
    held.forEach((line, i) => this.#emitLine(line, 0, line.length, times[i] as number));
  }

  /** Offers the line to the open group(s): true when it was taken (joined or held). */
  #continues(buf: Buffer, start: number, end: number, time: number): boolean {
    while (this.#state !== 0) if (this.#continue(buf, start, end, time)) return true;
    return false;
  }

  /**
   * The line against the open group: true when taken; false when it ended the group (which is
   * then sent, and its held lines looked at afresh: they may open the next group).
   */
  /**
   * Sends the open group and stops grouping: uk is shutting down, and a line held now might never
   * be sent (nor counted) if uk exits first. Lines that still come (a process the program started
   * holds its pipes) go through one record per line.
   */
  close(): void {
    this.flush();
    this.#closed = true;
  }

  #continue(buf: Buffer, start: number, end: number, time: number): boolean {
    let textEnd = end;
    if (textEnd > start && buf[textEnd - 1] === 0x0d) textEnd--;
    const next: Step = isJsonObjectLine(buf, start, end) ? REJECT : this.#o.rule.next(this.#state, buf.toString('utf8', start, textEnd));
    switch (next.action) {
      case 'join':
        this.#commitHeld();
        this.#state = next.state;
        this.#add(Buffer.from(buf.subarray(start, end)), time);
        return true;
      case 'hold':
        if (this.#held.length < MAX_HELD) {
          this.#state = next.state;
          this.#held.push(Buffer.from(buf.subarray(start, end)));
          this.#heldTimes.push(time);
          return true;
        }
        break; // too many undecided lines: the group ends here
      case 'end':
        this.#commitHeld();
        this.#add(Buffer.from(buf.subarray(start, end)), time);
        this.#emitGroup();
        return true;
      case 'reject':
        break;
    }
    const held = this.#held;
    const times = this.#heldTimes;
    this.#held = [];
    this.#heldTimes = [];
    this.#emitGroup();
    // The held lines are looked at afresh (one may open the next group), then this one, by the caller.
    held.forEach((line, i) => this.#fresh(line, 0, line.length, times[i] as number));
    return false;
  }

  /** A line looked at with no group decided yet: it continues, opens a group, or goes alone. */
  #fresh(buf: Buffer, start: number, end: number, time: number): void {
    if (this.#continues(buf, start, end, time)) return;
    const opened = start < end && !isJsonStart(buf, start, end) ? this.#o.rule.open(buf, start, end) : 0;
    if (opened === 0) {
      this.#emitLine(buf, start, end, time);
      return;
    }
    this.#state = opened;
    this.#add(Buffer.from(buf.subarray(start, end)), time);
  }

  #commitHeld(): void {
    if (this.#held.length === 0) return;
    const held = this.#held;
    const times = this.#heldTimes;
    this.#held = [];
    this.#heldTimes = [];
    held.forEach((line, i) => this.#add(line, times[i] as number));
  }

  /** Adds a (copied) line to the open group, first sending the group if the line would not fit. */
  #add(line: Buffer, time: number): void {
    const lines = this.#parts.length;
    if (lines > 0 && (this.#bytes + lines + line.length > this.#o.maxRecordBytes || lines >= this.#o.maxLines)) {
      // Split, never dropped: the trace goes on in a new record, in the same state.
      const state = this.#state;
      this.#emitGroup();
      this.#state = state;
    }
    if (this.#parts.length === 0) this.#time = time;
    this.#parts.push(line);
    this.#bytes += line.length;
  }

  #emitGroup(): void {
    const parts = this.#parts;
    this.#state = 0;
    if (parts.length === 0) return;
    this.#parts = [];
    const bytes = this.#bytes;
    this.#bytes = 0;
    if (parts.length === 1) {
      const only = parts[0] as Buffer;
      this.#emitLine(only, 0, only.length, this.#time);
      return;
    }
    const buf = Buffer.allocUnsafe(bytes + parts.length - 1);
    let at = 0;
    for (const part of parts) {
      if (at > 0) buf[at++] = 0x0a;
      at += part.copy(buf, at);
    }
    this.#o.onGroup?.(parts.length);
    this.#o.emit({ buf, bounds: Int32Array.of(0, buf.length), count: 1, time: this.#time, lines: parts.length });
  }

  #emitLine(buf: Buffer, start: number, end: number, time: number): void {
    this.#single[0] = start;
    this.#single[1] = end;
    this.#o.emit({ buf, bounds: this.#single, count: 1, time });
  }

  #emitRun(block: LineBlock, from: number, to: number): void {
    this.#o.emit({ buf: block.buf, bounds: block.bounds.subarray(2 * from, 2 * to), count: to - from, time: block.time });
  }

  /** One timer while a group is open; it checks the quiet time when it fires. */
  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#schedule(this.#o.timeoutMs);
  }

  #schedule(ms: number): void {
    this.#due = this.#o.timers.clock.monotonic() + ms;
    this.#timer = this.#o.timers.oneShot(ms, () => this.#expired());
  }

  #expired(): void {
    this.#timer = undefined;
    if (this.#state === 0) return;
    const now = this.#o.timers.clock.monotonic();
    const quiet = now - this.#lastLine;
    if (quiet < this.#o.timeoutMs) {
      this.#deferred = false;
      this.#schedule(this.#o.timeoutMs - quiet);
      return;
    }
    // A timer that fires late means the event loop was busy: the rest of the trace may be in
    // the pipe, not read yet (timers run before I/O). Look once more after the next read.
    if (!this.#deferred && now - this.#due > Math.max(20, this.#o.timeoutMs / 2)) {
      this.#deferred = true;
      this.#schedule(1);
      return;
    }
    this.#deferred = false;
    this.flush();
  }
}

/** A line starting with `{` or a blank, which may be a JSON object (never merged). */
function isJsonStart(buf: Buffer, start: number, end: number): boolean {
  const first = buf[start] as number;
  return (first === 0x7b || first === 0x20 || first === 0x09) && isJsonObjectLine(buf, start, end);
}
