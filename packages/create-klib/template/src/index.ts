/**
 * __KLIB_NAME__: a uk klib. It adds a console driver named `__KLIB_NAME__` that appends the text
 * of every record (a line of the program's stdout or stderr, or a `uk:` message) to a file, one
 * line each.
 *
 * Configuration (ManifestPassthrough):  "__KLIB_NAME__": { "file": "logs/app.log" }
 *   file               required; relative to uk's working directory
 *   flush_interval_ms  how long a line may wait before it is written, ms (default 1000)
 * Any other key is an error, found by `uk validate` and at boot.
 *
 * Delivery goes through the core's Batcher (the delivery contract of docs/authoring-klibs.md):
 * records wait in a bounded buffer and are appended in batches, in order; a failed append is
 * retried with backoff, and a full buffer drops and counts new records. Counters: written,
 * dropped, retries (`uk: stats __KLIB_NAME__: written=…`).
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Batcher, defineKlib, delivered, OptionsReader, retry, type ConsoleRecord, type OptionsInput, type SendResult } from '@uk/core';

export interface Options {
  /** Absolute path of the file the lines are appended to. */
  readonly file: string;
  readonly flushIntervalMs: number;
}

const NAME = '__KLIB_NAME__';
/** Memory for lines waiting to be written; beyond it new lines are dropped and counted. */
const BUFFER_BYTES = 4 * 1024 * 1024;
/** Lines per append: one write call each, small enough to retry cheaply. */
const MAX_BATCH_ITEMS = 10_000;
const MAX_BATCH_BYTES = 1024 * 1024;

/** Checks the configuration tuple (at boot and in `uk validate`); starts nothing. */
export function readOptions({ config }: OptionsInput): Options {
  const reader = new OptionsReader(NAME, config);
  reader.allowKeys(['file', 'flush_interval_ms']);
  const file = reader.read((t) => t.requireString('file', 'a file path'), '');
  const flushIntervalMs = reader.read((t) => t.uint('flush_interval_ms', { default: 1000, min: 10, max: 60_000, what: 'milliseconds' }), 1000);
  reader.done(); // throws one error listing every problem found above
  return { file: resolve(file), flushIntervalMs };
}

/** Appends `text` to `file`, creating its directory the first time it is missing. */
async function appendWithDir(file: string, text: string): Promise<void> {
  try {
    await appendFile(file, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dirname(file), { recursive: true });
    await appendFile(file, text);
  }
}

/** One batch: one append. Says what happened; the Batcher decides what it means for the records. */
async function appendBatch(file: string, batch: readonly ConsoleRecord[]): Promise<SendResult> {
  try {
    await appendWithDir(file, batch.map((record) => `${record.text}\n`).join(''));
    return delivered();
  } catch (err) {
    // A full disk, a permission or a missing mount can be fixed while uk runs: retry (with
    // backoff, the buffer bounded) rather than drop. A write cut short by ENOSPC may have stored
    // the batch's first lines; they are appended again on the retry.
    const e = err as NodeJS.ErrnoException;
    return retry(`cannot append to ${file}: ${e.code ?? e.message}`);
  }
}

export default defineKlib<Options>({
  name: NAME,
  // The @uk/core versions this klib works with (checked by uk when it loads the klib by path).
  core: '__CORE_RANGE__',
  description: 'appends every console record to a file, one line each',
  // Listed in Klibs without a tuple: there is no file to write to, so say so at boot.
  whenUnconfigured: 'fail',
  options: readOptions,

  init(ctx) {
    const { file, flushIntervalMs } = ctx.options;
    const batcher = new Batcher<ConsoleRecord>({
      name: ctx.name,
      noun: 'lines',
      heap: ctx.heaps.create(ctx.name, BUFFER_BYTES),
      timers: ctx.timers,
      log: ctx.log,
      sizeOf: (record) => Buffer.byteLength(record.text) + 1,
      maxBatchItems: MAX_BATCH_ITEMS,
      maxBatchBytes: MAX_BATCH_BYTES,
      flushIntervalMs,
      send: (batch) => appendBatch(file, batch),
      counters: { sent: ctx.counter('written'), dropped: ctx.counter('dropped'), retries: ctx.counter('retries') },
    });
    ctx.console.attach({
      name: ctx.name,
      // Called for every record: must return at once and never throw, so it only queues.
      write: (record) => void batcher.push(record),
      flush: () => batcher.flush(),
    });
    // At shutdown: write what is left, until the kernel's deadline; what cannot be is counted.
    ctx.onShutdown((close) => batcher.close(close));
    ctx.log.debug(`appending lines to ${file}`);
  },
});
