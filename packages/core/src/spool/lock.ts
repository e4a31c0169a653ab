/**
 * One uk process per spool directory: a `lock` file made with O_EXCL holding the owner's pid. A
 * lock whose pid is no longer running (uk was killed) is stale and taken over; a live one means
 * another uk uses the directory, and the caller falls back to memory with UK_ERR_SPOOL_LOCKED.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ukError } from '../errors.js';

export const LOCK_FILE = 'lock';

/** True while a process with this pid exists (EPERM: it exists but belongs to someone else). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'latin1').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the directory's lock; returns a function that gives it back. Throws UK_ERR_SPOOL_LOCKED or the file system's error. */
export function lockSpoolDir(dir: string, what: string): () => void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return () => {
        // Only our own lock is removed (never one another process took over meanwhile).
        if (ownerOf(path) === process.pid) unlinkSync(path);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = ownerOf(path);
    // A lock file without a pid may be one being written this instant: held, unless it stays so.
    if (owner !== undefined && owner !== process.pid && !running(owner) && attempt < 3) {
      try {
        unlinkSync(path);
      } catch {
        // Another uk took the stale lock over first: try again, and it is then live.
      }
      continue;
    }
    throw ukError('UK_ERR_SPOOL_LOCKED', `${what}: the spool directory ${dir} is in use by ${owner === undefined ? 'another process' : `process ${owner}`}`, {
      where: path,
      fix: 'give each uk its own uk.spool_dir; records of this run are kept in memory only',
    });
  }
}
