/**
 * The file output, as in Nanos: the records' text (not syslog messages), one line each, appended
 * to `file`. Before a line that would take the file past `file_max_size`, `file.N-1` → `file.N`
 * … `file` → `file.1` and a new `file` starts (or, with `file_rotate` 0, the file is truncated),
 * so a line never straddles two files and a file only exceeds the maximum when one line alone does.
 * A `file` made by a rotation gets the permissions (and, where allowed, the owner and group) of
 * the one it replaces, as logrotate's `create` does: a log kept at 0600 stays private.
 */
import { closeSync, fstatSync, mkdirSync, openSync, type Stats } from 'node:fs';
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

interface FileIdentity {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

function identityOf(stat: Stats): FileIdentity {
  return { mode: stat.mode & 0o777, uid: stat.uid, gid: stat.gid };
}

export class FileOutput {
  readonly #o: FileOutputOptions;
  #handle: FileHandle | undefined;
  #size: number;
  /** Permission bits, owner and group of `file` when last seen: what a new `file` is given. */
  #identity: FileIdentity;
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
    // A file made here starts at 0644, as rsyslog's default fileCreateMode; an existing one keeps its mode.
    const fd = openSync(options.path, 'a', 0o644);
    try {
      const stat = fstatSync(fd);
      this.#size = stat.size;
      this.#identity = identityOf(stat);
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
      this.#handle = await this.#open();
      // Appends to what is there (also after a restart, or if someone else wrote to it).
      const stat = await this.#handle.stat();
      this.#size = stat.size;
      this.#identity = identityOf(stat);
    }
    return this.#handle;
  }

  /**
   * Opens `file` for appending. When it is missing (rotated away, or removed), it is made with
   * the identity of the file it replaces. It is created with those bits minus the umask (never
   * wider than wanted, so no reader can get in first), then set to exactly them.
   */
  async #open(): Promise<FileHandle> {
    const path = this.#o.path;
    const { mode, uid, gid } = this.#identity;
    let handle: FileHandle;
    try {
      handle = await open(path, 'ax', mode);
    } catch (err) {
      // Someone else made it meanwhile: append to it as it is.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return open(path, 'a', mode);
      throw err;
    }
    try {
      await handle.chmod(mode);
      const made = await handle.stat();
      if (made.uid !== uid || made.gid !== gid) {
        // Only root (or the owner, for a group it belongs to) may do this; otherwise the file keeps ours.
        await handle.chown(uid, gid).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EPERM' && err.code !== 'EINVAL') throw err;
        });
      }
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
    return handle;
  }

  async #rotate(): Promise<void> {
    const handle = await this.#file();
    if (this.#o.rotate === 0) {
      await handle.truncate(0);
      this.#size = 0;
    } else {
      // The mode now (the operator may have changed it since we opened the file).
      this.#identity = identityOf(await handle.stat());
      await handle.close();
      this.#handle = undefined;
      const path = this.#o.path;
      for (let n = this.#o.rotate; n > 1; n--) {
        await rename(`${path}.${n - 1}`, `${path}.${n}`).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
      await rename(path, `${path}.1`);
      this.#handle = await this.#open();
      this.#size = (await this.#handle.stat()).size;
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
