/**
 * The file output, as in Nanos: the records' text (not syslog messages), one line each, appended
 * to `file`. Before a line that would take the file past `file_max_size`, `file.N-1` → `file.N`
 * … `file` → `file.1` and a new `file` starts (or, with `file_rotate` 0, the file is truncated),
 * so a line never straddles two files and a file only exceeds the maximum when one line alone does.
 */
import { closeSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { open, rename, type FileHandle } from 'node:fs/promises';
import type { ConsoleRecord } from '@uk/core';

export interface FileOutputOptions {
  readonly path: string;
  readonly maxSize: number;
  /** How many old files to keep (`file.1` … `file.N`); 0 truncates instead. */
  readonly rotate: number;
  /** Called after each rotation or truncation. */
  readonly onRotate?: () => void;
}

export class FileOutput {
  readonly #o: FileOutputOptions;
  #handle: FileHandle | undefined;
  #size: number;
  /** After a failure part-way through a batch: the last record written, so a retry skips it. */
  #resume: { index: number; record: ConsoleRecord } | undefined;

  /**
   * Checks now that the file can be opened (created or appended to), so that a bad path fails the
   * klib at load rather than at the first write.
   */
  constructor(options: FileOutputOptions) {
    this.#o = options;
    // Like rsyslog (createDirs), make the file's directory if it is missing.
    mkdirSync(dirname(options.path), { recursive: true, mode: 0o755 });
    const fd = openSync(options.path, 'a', 0o644);
    try {
      this.#size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  }

  /** Current size of `file`, bytes. */
  get size(): number {
    return this.#size;
  }

  async #file(): Promise<FileHandle> {
    if (!this.#handle) {
      this.#handle = await open(this.#o.path, 'a', 0o644);
      // Appends to what is there (also after a restart, or if someone else wrote to it).
      this.#size = (await this.#handle.stat()).size;
    }
    return this.#handle;
  }

  async #rotate(): Promise<void> {
    const handle = await this.#file();
    if (this.#o.rotate === 0) {
      await handle.truncate(0);
      this.#size = 0;
    } else {
      await handle.close();
      this.#handle = undefined;
      const path = this.#o.path;
      for (let n = this.#o.rotate; n > 1; n--) {
        await rename(`${path}.${n - 1}`, `${path}.${n}`).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
      await rename(path, `${path}.1`);
      this.#handle = await open(path, 'a', 0o644);
      this.#size = 0;
    }
    this.#o.onRotate?.();
  }

  /** Appends one line per record, rotating between lines as needed (the Batcher's `send`). */
  async write(records: readonly ConsoleRecord[]): Promise<void> {
    let first = 0;
    if (this.#resume && records[this.#resume.index] === this.#resume.record) first = this.#resume.index + 1;
    this.#resume = undefined;
    if (first >= records.length) return;

    const lines: string[] = [];
    for (let i = first; i < records.length; i++) lines.push((records[i] as ConsoleRecord).text);
    const buffer = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    const max = this.#o.maxSize;
    let chunkStart = 0;
    let position = 0;
    for (let i = 0; i < lines.length; i++) {
      const end = position + Buffer.byteLength(lines[i] as string, 'utf8') + 1;
      const pendingInFile = this.#size + (position - chunkStart);
      if (pendingInFile > 0 && pendingInFile + (end - position) > max) {
        await this.#writeChunk(buffer, chunkStart, position, records, first + i - 1);
        await this.#rotate();
        chunkStart = position;
      }
      position = end;
    }
    await this.#writeChunk(buffer, chunkStart, position, records, records.length - 1);
    this.#resume = undefined;
  }

  async #writeChunk(buffer: Buffer, start: number, end: number, records: readonly ConsoleRecord[], lastIndex: number): Promise<void> {
    if (end <= start) return;
    const handle = await this.#file();
    let offset = start;
    while (offset < end) {
      const { bytesWritten } = await handle.write(buffer, offset, end - offset);
      offset += bytesWritten;
      this.#size += bytesWritten;
    }
    this.#resume = { index: lastIndex, record: records[lastIndex] as ConsoleRecord };
  }

  async close(): Promise<void> {
    this.#resume = undefined;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}
