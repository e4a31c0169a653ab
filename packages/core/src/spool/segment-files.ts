/**
 * The spool's segment files (`000000000001.seg`, …): opening what a previous run left, writing
 * the current one through a buffer, reading frames back in chunks, and the fsync policy:
 *
 * - `always`: every write of the buffer (at most one per event loop turn) is followed by fsync.
 *   A power cut loses nothing that uk accepted before the last turn ended; the slowest.
 * - `interval` (default): fsync at most once a second while there are writes. A power cut loses
 *   at most the last second; a crash of uk alone (SIGKILL, OOM) loses nothing written, since the
 *   kernel's page cache survives it.
 * - `never`: the operating system writes back when it likes (Linux: within about 30 s).
 */
import { closeSync, fsync, fsyncSync, openSync, readdirSync, readFileSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { TimerHandle, Timers } from '../timers.js';
import type { AckCursor } from './ack-file.js';
import { frameAt, scanSegment, SEGMENT_MAGIC } from './frame.js';

export interface SpooledRecord {
  /** The payload; valid only until the next call on the spool (copy what is kept). */
  readonly payload: Buffer;
  readonly records: number;
  /** Written by a previous run. */
  readonly replay: boolean;
}

export type FsyncPolicy = 'always' | 'interval' | 'never';
export const FSYNC_POLICIES: readonly FsyncPolicy[] = ['always', 'interval', 'never'];
const FSYNC_INTERVAL_MS = 1000;

const SEGMENT_NAME = /^(\d{12})\.seg$/;

export interface Segment {
  readonly id: number;
  readonly path: string;
  /** Bytes appended (written or still buffered). */
  bytes: number;
  /** Bytes in the file. */
  written: number;
  frames: number;
  records: number;
  /** Records the reader has passed (or that were acknowledged before this run). */
  recordsRead: number;
  /** Written by a previous run: its records are replayed. */
  readonly old: boolean;
  /** Damaged ranges found when it was opened (already counted): the reader steps over them. */
  readonly bad: readonly (readonly [number, number])[];
  deleted: boolean;
}

export function segmentPath(dir: string, id: number): string {
  return join(dir, `${String(id).padStart(12, '0')}.seg`);
}

export function removeSegment(segment: Segment): void {
  segment.deleted = true;
  unlinkSync(segment.path);
}

export interface OpenedSegments {
  readonly segments: Segment[];
  /** Where the reader starts in the first segment, the frames and records before it. */
  readonly start: { readonly position: number; readonly frames: number };
  readonly badBytes: number;
  readonly reports: string[];
}

/**
 * What a previous run left in `dir`: segments before the ack cursor are acknowledged and removed;
 * the others are checked frame by frame (damaged ranges counted and reported, their good frames
 * kept). A segment without a good frame left is removed.
 */
export function openSegments(dir: string, cursor: AckCursor | undefined): OpenedSegments {
  const ids = readdirSync(dir)
    .map((name) => SEGMENT_NAME.exec(name)?.[1])
    .filter((id): id is string => id !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const segments: Segment[] = [];
  const reports: string[] = [];
  let badBytes = 0;
  let start = { position: SEGMENT_MAGIC.length, frames: 0 };
  for (const id of ids) {
    const path = segmentPath(dir, id);
    if (cursor && id < cursor.segment) {
      unlinkSync(path);
      continue;
    }
    const skip = cursor && id === cursor.segment ? cursor.frames : 0;
    const scan = scanSegment(readFileSync(path), skip);
    if (scan.badBytes > 0) {
      badBytes += scan.badBytes;
      reports.push(
        scan.segment
          ? `segment ${path}: ${scan.badBytes} damaged bytes in ${scan.bad.length} place(s) (a write cut short or a changed byte) skipped`
          : `${path} is not a spool segment; its ${scan.badBytes} bytes are ignored`,
      );
    }
    if (scan.frames <= skip) {
      unlinkSync(path);
      continue;
    }
    if (segments.length === 0) start = { position: scan.skipEnd, frames: Math.min(skip, scan.frames) };
    const size = scan.segment ? readFileSize(path) : 0;
    segments.push({
      id,
      path,
      bytes: size,
      written: size,
      frames: scan.frames,
      records: scan.records,
      recordsRead: segments.length === 0 ? scan.skipRecords : 0,
      old: true,
      bad: scan.bad,
      deleted: false,
    });
  }
  return { segments, start, badBytes, reports };
}

function readFileSize(path: string): number {
  return readFileSync(path).length;
}

/** Writes the current segment through a buffer, and starts the next one when asked. */
export class SegmentWriter {
  readonly #dir: string;
  readonly #fsync: FsyncPolicy;
  readonly #timers: Timers;
  #fd: number | undefined;
  #buf = Buffer.allocUnsafeSlow(512 * 1024);
  buffered = 0;
  segment: Segment;
  previous: Segment | undefined;
  #dirty = false;
  #fsyncTimer: TimerHandle | undefined;

  constructor(dir: string, id: number, fsync: FsyncPolicy, timers: Timers) {
    this.#dir = dir;
    this.#fsync = fsync;
    this.#timers = timers;
    this.segment = this.#create(id);
  }

  #create(id: number): Segment {
    const path = segmentPath(this.#dir, id);
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, SEGMENT_MAGIC);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.#fd = fd;
    const size = SEGMENT_MAGIC.length;
    return { id, path, bytes: size, written: size, frames: 0, records: 0, recordsRead: 0, old: false, bad: [], deleted: false };
  }

  /** Room for `size` bytes at the end of the buffer (to be written by `flush`). */
  reserve(size: number): Buffer {
    if (this.buffered + size > this.#buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(2 * this.#buf.length, this.buffered + size));
      this.#buf.copy(bigger, 0, 0, this.buffered);
      this.#buf = bigger;
    }
    const at = this.buffered;
    this.buffered += size;
    return this.#buf.subarray(at, at + size);
  }

  /** Writes the buffer to the file (throws the file system's error: disk full …). */
  flush(): void {
    const fd = this.#fd;
    if (fd === undefined || this.buffered === 0) return;
    let done = 0;
    try {
      while (done < this.buffered) {
        const n = writeSync(fd, this.#buf, done, this.buffered - done, this.segment.written);
        done += n;
        this.segment.written += n;
      }
    } finally {
      // What was not written is gone either way: the spool stops on the error.
      this.buffered = 0;
    }
    if (this.#fsync === 'always') fsyncSync(fd);
    else if (this.#fsync === 'interval') this.#fsyncSoon(fd);
  }

  #fsyncSoon(fd: number): void {
    this.#dirty = true;
    if (this.#fsyncTimer) return;
    this.#fsyncTimer = this.#timers.oneShot(FSYNC_INTERVAL_MS, () => {
      this.#fsyncTimer = undefined;
      if (!this.#dirty || this.#fd !== fd) return;
      this.#dirty = false;
      // A failure here shows up again on the next write; nothing to do meanwhile.
      fsync(fd, () => {});
    });
  }

  /** Closes the current segment (forced to disk unless fsync is `never`) and starts segment id + 1. */
  next(): Segment {
    this.#closeFd(true);
    this.previous = this.segment;
    this.segment = this.#create(this.segment.id + 1);
    return this.segment;
  }

  #closeFd(sync: boolean): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    this.#fsyncTimer?.cancel();
    this.#fsyncTimer = undefined;
    try {
      if (sync && this.#fsync !== 'never') fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** A write failed: the file is closed without more writes. */
  abandon(): void {
    this.buffered = 0;
    try {
      this.#closeFd(false);
    } catch {
      // Already failing: the error that matters was reported.
    }
  }

  close(sync: boolean): void {
    this.#closeFd(sync);
  }
}

export type ReadResult =
  | { readonly kind: 'record'; readonly record: SpooledRecord }
  /** Damage found while reading (not known when the segment was opened): skipped. */
  | { readonly kind: 'damaged'; readonly bytes: number }
  | { readonly kind: 'end' };

const READ_CHUNK = 256 * 1024;

/** A cursor over one segment's frames, reading the file in chunks. */
export class SegmentReader {
  readonly segment: Segment;
  position: number;
  /** Good frames before `position`. */
  frames: number;
  peeked: SpooledRecord | undefined;
  #peekEnd = 0;
  #fd: number | undefined;
  #chunk = Buffer.allocUnsafeSlow(0);
  #chunkFrom = 0;
  #chunkLength = 0;

  constructor(segment: Segment, position: number, frames: number) {
    this.segment = segment;
    this.position = position;
    this.frames = frames;
  }

  /** The next frame before `limit` (the bytes of the segment that are in the file). */
  read(limit: number): ReadResult {
    for (;;) {
      if (this.position >= limit) return { kind: 'end' };
      // Damage found when the segment was opened is counted already: step over it.
      const bad = this.segment.bad.find(([from]) => from === this.position);
      if (bad) {
        this.position = bad[1];
        continue;
      }
      const inChunk = this.position >= this.#chunkFrom && this.position < this.#chunkFrom + this.#chunkLength;
      if (!inChunk && !this.#load(this.position, READ_CHUNK, limit)) return this.#damaged(limit);
      let found = frameAt(this.#chunk, this.position - this.#chunkFrom, this.#chunkLength);
      // A frame that goes past the chunk: read from its start, as much as it needs (at most twice:
      // the header says how long the frame is).
      for (let i = 0; i < 2 && found.kind === 'short'; i++) {
        if (this.position + found.need > limit || !this.#load(this.position, Math.max(READ_CHUNK, found.need), limit)) return this.#damaged(limit);
        found = frameAt(this.#chunk, 0, this.#chunkLength);
      }
      if (found.kind !== 'frame') return this.#damaged(limit);
      const base = this.#chunkFrom;
      this.peeked = {
        payload: this.#chunk.subarray(found.payloadStart, found.end),
        records: found.records,
        replay: this.segment.old,
      };
      this.#peekEnd = base + found.end;
      return { kind: 'record', record: this.peeked };
    }
  }

  /** The rest of the segment cannot be read as frames (changed after it was checked, or cut short). */
  #damaged(limit: number): ReadResult {
    const bytes = limit - this.position;
    this.position = limit;
    return bytes > 0 ? { kind: 'damaged', bytes } : { kind: 'end' };
  }

  /** Reads [from, from + length) (within limit) into the chunk; false if the file has fewer bytes. */
  #load(from: number, length: number, limit: number): boolean {
    const want = Math.min(length, limit - from);
    if (this.#chunk.length < want) this.#chunk = Buffer.allocUnsafeSlow(Math.max(want, READ_CHUNK));
    this.#fd ??= openSync(this.segment.path, 'r');
    let got = 0;
    while (got < want) {
      const n = readSync(this.#fd, this.#chunk, got, want - got, from + got);
      if (n === 0) break;
      got += n;
    }
    this.#chunkFrom = from;
    this.#chunkLength = got;
    return got > 0;
  }

  take(): void {
    const record = this.peeked;
    if (!record) return;
    this.position = this.#peekEnd;
    this.frames++;
    this.segment.recordsRead += record.records;
    this.peeked = undefined;
  }

  /** A frame appended while caught up: passed at once. */
  passFrame(size: number, records: number): void {
    this.position += size;
    this.frames++;
    this.segment.recordsRead += records;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
