/**
 * The spool's acknowledgement cursor: the first record the destination has not acknowledged, as
 * (segment, good frames before it in that segment), in a 12-byte file rewritten in place with a
 * CRC. A damaged or missing file means "nothing acknowledged": records are sent again (counted as
 * replayed), never lost.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export const ACK_FILE = 'ack';

export interface AckCursor {
  readonly segment: number;
  readonly frames: number;
}

export class AckFile {
  readonly #path: string;
  readonly #buf = Buffer.alloc(12);
  #fd: number | undefined;

  constructor(dir: string) {
    this.#path = join(dir, ACK_FILE);
  }

  read(): AckCursor | undefined {
    let buf: Buffer;
    try {
      buf = readFileSync(this.#path);
    } catch {
      return undefined;
    }
    if (buf.length !== 12 || crc32(buf.subarray(0, 8)) !== buf.readUInt32LE(8)) return undefined;
    return { segment: buf.readUInt32LE(0), frames: buf.readUInt32LE(4) };
  }

  write(cursor: AckCursor): void {
    const buf = this.#buf;
    buf.writeUInt32LE(cursor.segment, 0);
    buf.writeUInt32LE(cursor.frames, 4);
    buf.writeUInt32LE(crc32(buf.subarray(0, 8)), 8);
    this.#fd ??= openSync(this.#path, 'w', 0o600);
    writeSync(this.#fd, buf, 0, 12, 0);
  }

  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
