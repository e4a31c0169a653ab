/**
 * A durable spool for one destination: an append-only log of records in segment files
 * (frame.ts), read back in order, and cut off at the front as the destination acknowledges them.
 * The Batcher (batcher.ts) is its only user; see docs/delivery.md, "The disk spool".
 *
 * - Appending copies the frame into a write buffer that goes to the file in one write at the end
 *   of the event loop turn (or when 256 KiB are waiting, or before anything is read back or sent):
 *   a record costs a memory copy, not a system call. The fsync policy says when the file is
 *   forced to the disk (segment-files.ts).
 * - The reader is a cursor over the segments. While it is at the end ("caught up"), an appended
 *   record is read at once (it goes straight to memory as well); otherwise records wait on disk
 *   only, and the Batcher reads them back as memory frees up: memory stays bounded however long
 *   the outage.
 * - `ack(n)`: the next n records read were acknowledged by the destination. The cursor of the
 *   first unacknowledged record (segment, frame) is kept in the `ack` file; a segment leaves the
 *   disk once all its records are acknowledged.
 * - On open, what a previous run left (segments from the ack cursor on) is checked frame by frame
 *   and becomes the first records read, marked as replayed. Damaged bytes are skipped, counted and
 *   reported; the good records around them are kept.
 * - Full (`maxBytes`): the oldest segment is dropped (its records not yet read are lost and
 *   counted) or, with `drop_newest`, the new record is refused.
 * - A write that fails (disk full, I/O error): the spool stops writing, reports UK_ERR_SPOOL_WRITE
 *   and tells the Batcher which records were lost with the unwritten buffer; the Batcher goes on
 *   in memory. What was written stays for the next run.
 */
import { describeWithCode, reasonOf, ukError, type UkError } from '../errors.js';
import type { KlibLog } from '../klib.js';
import type { Counter } from '../stats.js';
import type { Timers } from '../timers.js';
import { encodeFrameInto, FRAME_HEADER_BYTES, SEGMENT_MAGIC } from './frame.js';
import { AckFile } from './ack-file.js';
import { lockSpoolDir } from './lock.js';
import { openSegments, removeSegment, SegmentReader, SegmentWriter, type FsyncPolicy, type Segment, type SpooledRecord } from './segment-files.js';

export type { SpooledRecord } from './segment-files.js';

export type WhenFull = 'drop_oldest' | 'drop_newest';

export interface SpoolSettings {
  /** The destination's own directory (made by the caller). */
  readonly dir: string;
  readonly maxBytes: number;
  readonly fsync: FsyncPolicy;
  readonly whenFull: WhenFull;
}

export interface SpoolCounters {
  /** Records read back from a previous run's spool (some may be duplicates: they were in flight). */
  readonly replayed: Counter;
  /** Records left in the spool at exit, delivered by the next run. */
  readonly kept: Counter;
  /** Damaged bytes skipped (a torn write, a flipped bit). */
  readonly corruptBytes: Counter;
  /** Times the spool stopped and records were kept in memory only (unusable, locked, write failed). */
  readonly fallbacks: Counter;
}

export interface SpoolDeps {
  readonly log: KlibLog;
  readonly timers: Timers;
  readonly counters: SpoolCounters;
  /** What the records are called in messages. */
  readonly noun?: string;
}

export type AppendResult =
  /**
   * Written (or about to be); `read`: it went to memory at once as well; `lost` records of the
   * oldest segment were dropped to make room.
   */
  | { readonly status: 'ok'; readonly lost: number; readonly read: boolean }
  /** Full, and new records are the ones dropped (drop_newest), or the record is larger than the spool. */
  | { readonly status: 'full'; readonly lost: number }
  /** The spool no longer writes (a write failed): keep the record in memory. */
  | { readonly status: 'failed'; readonly lost: number };

/** Bytes buffered before they are written at once, without waiting for the end of the turn. */
const WRITE_BUFFER_BYTES = 256 * 1024;

/** A segment is this share of the spool's size (so dropping the oldest frees at most that), within limits. */
export function segmentBytesFor(maxBytes: number): number {
  return Math.max(4096, Math.min(16 * 1024 * 1024, Math.floor(maxBytes / 16)));
}

/** The unacknowledged frames the reader passed in one segment. */
interface Passed {
  readonly segment: Segment;
  /** Frames of the segment acknowledged, and passed by the reader (absolute frame numbers). */
  acked: number;
  passed: number;
}

export class Spool {
  readonly dir: string;
  readonly #settings: SpoolSettings;
  readonly #deps: SpoolDeps;
  readonly #segmentBytes: number;
  readonly #unlock: () => void;
  readonly #ack: AckFile;
  /** Every segment on disk, oldest first; the last is the one written. */
  #segments: Segment[];
  #writer: SegmentWriter | undefined;
  #reader: SegmentReader;
  #passed: Passed[] = [];
  #bytes = 0;
  #failed: UkError | undefined;
  #closed = false;
  #flushScheduled = false;
  /** Records in the write buffer that are on disk only (not read into memory): lost if the write fails. */
  #bufferedUnread = 0;
  #onFailure: ((lost: number) => void) | undefined;

  private constructor(settings: SpoolSettings, deps: SpoolDeps, unlock: () => void) {
    this.dir = settings.dir;
    this.#settings = settings;
    this.#deps = deps;
    this.#unlock = unlock;
    this.#segmentBytes = segmentBytesFor(settings.maxBytes);
    this.#ack = new AckFile(settings.dir);
    const cursor = this.#ack.read();
    const { segments, start, badBytes, reports } = openSegments(settings.dir, cursor);
    if (badBytes > 0) {
      deps.counters.corruptBytes.add(badBytes);
      for (const report of reports) deps.log.error(`spool ${settings.dir}: ${report}; the good records around it are kept (counted as spool_corrupt_bytes)`);
    }
    this.#segments = segments;
    for (const s of segments) this.#bytes += s.bytes;
    // Numbers only grow: a new segment never falls behind the ack cursor.
    this.#writer = new SegmentWriter(settings.dir, Math.max(segments.at(-1)?.id ?? 0, cursor?.segment ?? 0) + 1, settings.fsync, deps.timers);
    this.#segments.push(this.#writer.segment);
    this.#bytes += this.#writer.segment.bytes;
    const first = this.#segments[0] as Segment;
    this.#reader = first.old ? new SegmentReader(first, start.position, start.frames) : new SegmentReader(first, first.bytes, 0);
    this.#enter(first, this.#reader.frames);
    if (this.backlogRecords > 0)
      deps.log.info(`spool ${settings.dir}: ${this.backlogRecords} ${deps.noun ?? 'records'} left by a previous run are delivered first`);
  }

  /**
   * Opens (and locks) the spool in `settings.dir`. Throws UK_ERR_SPOOL_LOCKED when another live
   * process holds it, UK_ERR_SPOOL_UNUSABLE when it cannot be read or written.
   */
  static open(settings: SpoolSettings, deps: SpoolDeps, what: string): Spool {
    const unlock = lockSpoolDir(settings.dir, what);
    try {
      return new Spool(settings, deps, unlock);
    } catch (err) {
      unlock();
      throw spoolUnusable(what, settings.dir, err);
    }
  }

  /** Called when a write fails, with the records lost in the unwritten buffer. */
  onFailure(fn: (lost: number) => void): void {
    this.#onFailure = fn;
  }

  get failed(): boolean {
    return this.#failed !== undefined;
  }

  /** Bytes the spool takes on disk (and in its write buffer). */
  get bytes(): number {
    return this.#bytes;
  }

  /** True when every record written has been read: a new record may go to memory at once. */
  get caughtUp(): boolean {
    return this.#reader.segment === this.#writer?.segment && this.#reader.position === this.#writer.segment.bytes && !this.#reader.peeked;
  }

  /** Records on disk not read yet. */
  get backlogRecords(): number {
    let n = 0;
    for (const s of this.#segments) if (!s.deleted) n += s.records - s.recordsRead;
    return n;
  }

  /**
   * Appends a record. `read`: it goes to memory at once as well (only while caught up), so the
   * reader passes it; otherwise it waits on disk to be read back.
   */
  append(payload: Uint8Array, records: number, read: boolean): AppendResult {
    const writer = this.#writer;
    if (this.#failed || !writer || this.#closed) return { status: 'failed', lost: 0 };
    const size = FRAME_HEADER_BYTES + payload.length;
    if (size > this.#settings.maxBytes / 2) return { status: 'full', lost: 0 };
    let lost = 0;
    while (this.#bytes + size > this.#settings.maxBytes) {
      if (this.#settings.whenFull === 'drop_newest') return { status: 'full', lost };
      const dropped = this.#dropOldest();
      if (dropped === undefined) return { status: 'full', lost };
      lost += dropped;
      if (this.#failed) return { status: 'failed', lost };
    }
    // Writing what is buffered and starting a new segment happen before this record is added,
    // so that a failure there never involves it: the caller keeps it in memory.
    if (writer.buffered >= WRITE_BUFFER_BYTES) this.flushWrites();
    if (!this.#failed && writer.segment.bytes >= this.#segmentBytes) this.#roll();
    if (this.#failed) return { status: 'failed', lost };
    // Dropping the oldest segment never moves a caught-up reader, but be sure.
    const asRead = read && this.caughtUp;
    const segment = writer.segment;
    encodeFrameInto(writer.reserve(size), payload, records);
    segment.bytes += size;
    segment.records += records;
    segment.frames++;
    this.#bytes += size;
    if (asRead) {
      this.#reader.passFrame(size, records);
      this.#passFrame(segment);
    } else {
      this.#bufferedUnread += records;
    }
    this.#scheduleFlush();
    return { status: 'ok', lost, read: asRead };
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.flushWrites();
    });
  }

  /** Writes the buffered frames to the file now (before a send, and before reading them back). */
  flushWrites(): void {
    const writer = this.#writer;
    if (!writer || writer.buffered === 0 || this.#failed) return;
    try {
      writer.flush();
      this.#bufferedUnread = 0;
    } catch (err) {
      this.#fail(err);
    }
  }

  /** A new segment: the one written is full. */
  #roll(): void {
    const writer = this.#writer as SegmentWriter;
    this.flushWrites();
    if (this.#failed) return;
    try {
      const next = writer.next();
      this.#segments.push(next);
      this.#bytes += next.bytes;
      // The reader, caught up at the end of the old one, moves on too.
      if (this.#reader.segment === writer.previous && this.#reader.position === writer.previous?.bytes) this.#moveReader(next);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Removes the oldest segment to make room; returns the records lost (not read yet), or undefined when nothing can go. */
  #dropOldest(): number | undefined {
    let oldest = this.#segments[0] as Segment;
    if (oldest === this.#writer?.segment) {
      if (oldest.frames === 0) return undefined;
      this.#roll();
      if (this.#failed) return 0;
      oldest = this.#segments[0] as Segment;
    }
    const lost = oldest.records - oldest.recordsRead;
    if (this.#reader.segment === oldest) this.#moveReader(this.#segments[1] as Segment);
    this.#segments.shift();
    this.#bytes -= oldest.bytes;
    this.#remove(oldest);
    return lost;
  }

  #moveReader(segment: Segment): void {
    this.#reader.close();
    this.#reader = new SegmentReader(segment, SEGMENT_MAGIC.length, 0);
    this.#enter(segment, 0);
  }

  #enter(segment: Segment, frames: number): void {
    this.#passed.push({ segment, acked: frames, passed: frames });
  }

  #passFrame(segment: Segment): void {
    const last = this.#passed.at(-1);
    if (last?.segment === segment) last.passed++;
    else this.#passed.push({ segment, acked: 0, passed: 1 });
  }

  /** The next record to read back, without taking it (undefined: none, or caught up). */
  next(): SpooledRecord | undefined {
    for (;;) {
      const reader = this.#reader;
      if (reader.peeked) return reader.peeked;
      const segment = reader.segment;
      if (segment === this.#writer?.segment && reader.position >= segment.written) {
        if (reader.position >= segment.bytes) return undefined;
        this.flushWrites();
        if (this.#failed) return undefined;
      }
      const got = reader.read(segment === this.#writer?.segment ? segment.written : segment.bytes);
      if (got.kind === 'record') return got.record;
      if (got.kind === 'damaged') {
        this.#deps.counters.corruptBytes.add(got.bytes);
        this.#deps.log.error(`spool ${this.dir}: ${got.bytes} damaged bytes in segment ${segment.id} skipped (counted as spool_corrupt_bytes)`);
        continue;
      }
      // The end of a segment: on to the next one (the one written has no end yet).
      const index = this.#segments.indexOf(segment);
      const following = this.#segments[index + 1];
      if (!following) return undefined;
      this.#moveReader(following);
    }
  }

  /** Takes the record `next()` returned. */
  advance(): void {
    const reader = this.#reader;
    if (!reader.peeked) return;
    reader.take();
    this.#passFrame(reader.segment);
  }

  /** The next `frames` records read were acknowledged by the destination. */
  ack(frames: number): void {
    let left = frames;
    while (left > 0 && this.#passed.length > 0) {
      const head = this.#passed[0] as Passed;
      const take = Math.min(left, head.passed - head.acked);
      head.acked += take;
      left -= take;
      if (head.acked < head.passed || head.segment === this.#reader.segment) break;
      // Every record of it read and acknowledged: it leaves the disk.
      this.#passed.shift();
      this.#segments = this.#segments.filter((s) => s !== head.segment);
      if (!head.segment.deleted) this.#bytes -= head.segment.bytes;
      this.#remove(head.segment);
    }
    this.#writeAck();
  }

  #writeAck(): void {
    const head = this.#passed[0];
    if (!head || this.#closed) return;
    try {
      this.#ack.write({ segment: head.segment.id, frames: head.acked });
    } catch (err) {
      // Records stay unacknowledged on disk: the next run sends them again (counted as replayed).
      this.#deps.log.warn(`spool ${this.dir}: the ack file could not be written (${reasonOf(err)}); acknowledged records may be sent again by the next run`);
    }
  }

  #remove(segment: Segment): void {
    if (segment.deleted) return;
    try {
      removeSegment(segment);
    } catch (err) {
      this.#deps.log.warn(`spool ${this.dir}: segment ${segment.id} could not be removed (${reasonOf(err)})`);
    }
  }

  #fail(err: unknown): void {
    if (this.#failed) return;
    const lost = this.#bufferedUnread;
    this.#bufferedUnread = 0;
    // They never reached the file: not records of the segment (not kept for the next run).
    if (this.#writer) this.#writer.segment.records -= lost;
    this.#failed = ukError('UK_ERR_SPOOL_WRITE', `spool ${this.dir}: writing failed (${reasonOf(err)}); records are kept in memory only from now on`, {
      where: this.dir,
      fix: 'free disk space or fix the directory; what was written is delivered by the next run',
      cause: err,
    });
    this.#deps.counters.fallbacks.add();
    this.#deps.log.error(describeWithCode(this.#failed) + (lost > 0 ? `; ${lost} ${this.#deps.noun ?? 'records'} not yet written were lost` : ''));
    this.#writer?.abandon();
    this.#onFailure?.(lost);
  }

  /**
   * Stops: writes what is buffered, forces it to the disk, keeps the ack cursor and gives the lock
   * back. Returns the records left on disk not read (delivered by the next run).
   */
  close(): number {
    if (this.#closed) return 0;
    this.flushWrites();
    this.#writeAck();
    this.#closed = true;
    this.#reader.close();
    try {
      this.#writer?.close(this.#failed === undefined);
      this.#ack.close();
    } catch (err) {
      this.#deps.log.warn(`spool ${this.dir}: closing failed (${reasonOf(err)})`);
    }
    // Everything acknowledged (or nothing written): no segment is left behind.
    const backlog = this.backlogRecords;
    if (backlog === 0 && this.#passed.every((p) => p.acked === p.passed)) for (const segment of this.#segments) this.#remove(segment);
    this.#unlock();
    return backlog;
  }
}

/** A spool directory that cannot be used: the path and the file system's reason. */
export function spoolUnusable(what: string, dir: string, err: unknown): UkError {
  if ((err as UkError)?.code === 'UK_ERR_SPOOL_LOCKED') return err as UkError;
  return ukError('UK_ERR_SPOOL_UNUSABLE', `${what}: the spool directory ${dir} cannot be used (${reasonOf(err)}); records are kept in memory only`, {
    where: dir,
    fix: 'make uk.spool_dir a directory uk can create, read and write',
    cause: err,
  });
}
