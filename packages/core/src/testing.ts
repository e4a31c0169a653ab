/**
 * Test helpers for klib authors (ours and third parties'): `@uk/core/testing`.
 */
import { Writable } from 'node:stream';
import { opsConfigFromJSON } from './config.js';
import type { ConsoleDriver, ConsoleRecord } from './console.js';
import { Kernel } from './kernel.js';
import { ManualClock } from './timers.js';

export { ManualClock } from './timers.js';

/** A console driver that keeps every record it receives. */
export function memoryDriver(name = 'memory'): ConsoleDriver & { records: ConsoleRecord[] } {
  const records: ConsoleRecord[] = [];
  return { name, records, write: (record) => void records.push(record) };
}

/** A Writable that keeps what is written, as text. */
export class MemoryStream extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    callback();
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * A kernel built from an in-memory Ops config, with a manual clock and captured stdout/stderr,
 * for testing a klib without starting a program.
 */
export function testKernel(config: unknown, options: { baseDir?: string; clock?: ManualClock; program?: string; env?: NodeJS.ProcessEnv } = {}) {
  const clock = options.clock ?? new ManualClock();
  const stdout = new MemoryStream();
  const stderr = new MemoryStream();
  const kernel = new Kernel({
    config: opsConfigFromJSON(config, 'test-config.json', options.baseDir ?? process.cwd()),
    program: { path: options.program ?? '/usr/bin/test-program', args: [] },
    baseEnv: options.env ?? {},
    clock,
    stdout,
    stderr,
  });
  return { kernel, clock, stdout, stderr };
}
