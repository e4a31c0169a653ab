/**
 * The `gcp` console driver: records (and the program's lines, as bytes) become LogEntry JSON as
 * they arrive, wait in the kernel's Batcher (bounded heap, batches, retry with backoff and
 * jitter, flush at shutdown), and leave as `entries.write` requests of at most 10 MB with
 * `partialSuccess` set:
 *
 * - entries the API refuses one by one (WriteLogEntriesPartialErrors) are counted as rejected and
 *   not sent again, except those that failed for a passing reason (UNAVAILABLE,
 *   RESOURCE_EXHAUSTED, …), which are sent again, alone, a few times;
 * - 401 renews the token; 429, 5xx, resets and timeouts retry the batch (a resent entry carries
 *   the same insertId and timestamp, which Cloud Logging de-duplicates);
 * - a request refused as a whole (other 4xx) is dropped, counted and reported.
 *
 * Sends wait for setup (project, zone, instance, token); records meanwhile wait in the buffer.
 */
import { Batcher, lineText, reasonOf, type ConsoleDriver, type ConsoleRecord, type KlibContext, type KlibLog, type Timers } from '@uk/core';
import { ApiError, GoogleApi, RETRYABLE_CODES, type ApiCall } from './api.js';
import { EntryArena, entryPosition, entrySize } from './arena.js';
import { EntryEncoder, writeRequestHead, type EncodedEntry } from './entries.js';
import type { InstanceInfo } from './metadata.js';
import type { LoggingOptions, Severity } from './options.js';

/**
 * How large a request grows before it is sent: well below Cloud Logging's 10 MB limit, on purpose. With two
 * requests in flight, smaller requests keep both ends busy: the service starts on the first
 * entries sooner and the last request is shorter. Measured with bench/gcp.mjs on two CPUs
 * (1,000,000 lines): 8 MB requests 1.40–1.57 s, 4 MB 1.20–1.45 s, 2 MB 1.21 s, 1 MB 1.29–1.34 s
 * (more requests cost more CPU on both ends). Google's own client bundles at 1 MB.
 */
export const TARGET_REQUEST_BYTES = 2 * 1024 * 1024;
/** Room for logName, resource and the JSON around the entries. */
const REQUEST_HEAD_RESERVE = 4096;
export const WRITE_TIMEOUT_MS = 60_000;
/** A send making no progress this long no longer holds the program back. */
export const STALL_MS = 5000;
/** Extra attempts for entries refused for a passing reason. */
const ENTRY_RETRIES = 4;

const PARTIAL_ERRORS_TYPE = 'type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors';

/**
 * Requests that may be in flight at once: a flood keeps two going, and Cloud Logging orders
 * entries by timestamp and insertId, not by arrival.
 */
export const REQUESTS_IN_FLIGHT = 2;

export interface LoggingDriver extends ConsoleDriver {
  /** The queue: each item is the reference of one entry in the arena (see arena.ts). */
  readonly batcher: Batcher<number>;
  readonly encoder: EntryEncoder;
  /** Flushes and stops within `deadlineMs`. */
  close(deadlineMs: number): Promise<void>;
}

export interface LoggingDriverDeps {
  readonly api: GoogleApi;
  /** Resolves once setup is done. */
  readonly ready: Promise<InstanceInfo>;
  /** Setup is done, or under way without a failure for less than STALL_MS (see flow.ts). */
  readonly healthy: () => boolean;
}

/** `projects/PROJECT/logs/LOG_ID` with the log id URL-encoded (`/` becomes %2F). */
export function logNameOf(projectId: string, logId: string): string {
  return `projects/${projectId}/logs/${encodeURIComponent(logId)}`;
}

/** Per-entry errors of a partial success, by index; undefined when the answer has none. */
export function partialErrorsOf(google: { details?: readonly Record<string, unknown>[] } | undefined): Map<number, { code: number; message: string }> | undefined {
  const detail = google?.details?.find((d) => d['@type'] === PARTIAL_ERRORS_TYPE);
  const errors = detail?.logEntryErrors;
  if (typeof errors !== 'object' || errors === null) return undefined;
  const out = new Map<number, { code: number; message: string }>();
  for (const [key, value] of Object.entries(errors as Record<string, { code?: unknown; message?: unknown }>)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0) continue;
    out.set(index, { code: typeof value?.code === 'number' ? value.code : 2, message: typeof value?.message === 'string' ? value.message : '' });
  }
  return out;
}

export function createLoggingDriver(ctx: KlibContext<unknown>, o: LoggingOptions, deps: LoggingDriverDeps): LoggingDriver {
  const timers: Timers = ctx.timers;
  const log: KlibLog = ctx.log;
  const encoder = new EntryEncoder({ severity: o.severity as Record<ConsoleRecord['source'], Severity>, jsonPayload: o.jsonPayload, specialFields: o.specialFields });
  const rejected = ctx.counter('rejected');
  const splitCounter = ctx.counter('split');
  const url = `${o.endpoint}${/\/v2$/.test(o.endpoint) ? '' : '/v2'}/entries:write`;
  let head: Buffer | undefined;
  let lastRejection = '';

  /** Request bodies, reused: one per request in flight. */
  const bodies: Buffer[] = [];

  /** One request with `entries` (slices that end in a comma, which the last one loses). */
  const post = async (entries: readonly Buffer[], bytes: number): Promise<Map<number, { code: number; message: string }>> => {
    const h = head as Buffer;
    const length = h.length + bytes + 1;
    const spare = bodies.pop();
    const buf = spare && spare.length >= length ? spare : Buffer.allocUnsafeSlow(Math.max(length, 2 * (spare?.length ?? 0)));
    try {
      const body = buf.subarray(0, length);
      let at = h.copy(body, 0);
      for (const slice of entries) at += slice.copy(body, at);
      body[length - 2] = 0x5d; // the last comma becomes "]"
      body[length - 1] = 0x7d; // "}"
      const call: ApiCall = { url, body, timeoutMs: WRITE_TIMEOUT_MS, what: 'entries.write' };
      const { response } = await deps.api.post(call);
      if (response.statusCode >= 200 && response.statusCode < 300) return new Map();
      const error = GoogleApi.error(call, response);
      const partial = partialErrorsOf(error.google);
      // Without per-entry errors nothing was written: the whole request failed.
      if (!partial || partial.size === 0) throw error;
      return partial;
    } finally {
      if (bodies.length < REQUESTS_IN_FLIGHT) bodies.push(buf);
    }
  };

  /** The slices of single entries of a batch, by index (for sending some of them again). */
  const entriesOf = (slices: readonly Buffer[], sizes: readonly number[], indexes: readonly number[]): Buffer[] => {
    const whole = slices.length === 1 ? (slices[0] as Buffer) : Buffer.concat(slices);
    const offsets: number[] = [];
    let at = 0;
    for (const size of sizes) {
      offsets.push(at);
      at += size;
    }
    return indexes.map((i) => whole.subarray(offsets[i] as number, (offsets[i] as number) + (sizes[i] as number)));
  };

  const arena = new EntryArena();
  const send = async (batch: number[]): Promise<{ rejected: number }> => {
    const info = await deps.ready;
    head ??= Buffer.from(writeRequestHead(logNameOf(info.projectId, o.logId ?? info.hostname), { type: 'gce_instance', labels: { project_id: info.projectId, instance_id: info.instanceId, zone: info.zone } }));
    // A batch is consecutive entries: where the first starts, and their bytes.
    const start = entryPosition(batch[0] as number);
    let bytes = 0;
    for (const ref of batch) bytes += entrySize(ref);
    const slices = arena.view(start, bytes);
    let errors: Map<number, { code: number; message: string }>;
    try {
      errors = await post(slices, bytes);
    } catch (err) {
      // A batch refused as a whole is dropped by the Batcher: its bytes are spent too.
      if ((err as ApiError).retryable === false) arena.release(start, bytes);
      throw err;
    }
    let refused = 0;
    let pendingSizes: number[] | undefined;
    let pendingSlices: Buffer[] = slices;
    for (let attempt = 0; errors.size > 0; attempt++) {
      // Entries that failed for good are counted; those that may pass later are sent again, alone.
      const again: number[] = [];
      let reason = '';
      for (const [index, error] of errors) {
        if (index >= (pendingSizes?.length ?? batch.length)) continue;
        if (RETRYABLE_CODES.has(error.code) && attempt < ENTRY_RETRIES) again.push(index);
        else {
          refused++;
          reason ||= `code ${error.code}${error.message ? `: ${error.message.slice(0, 200)}` : ''}`;
        }
      }
      if (reason && reason !== lastRejection) log.warn(`entries.write refused ${refused} entr${refused === 1 ? 'y' : 'ies'} of a batch of ${batch.length} (${reason}); the rest were stored`);
      lastRejection = reason || lastRejection;
      if (again.length === 0) break;
      // At shutdown, under the flush deadline, do not sit out the full backoff.
      await timers.sleep(ctx.signal.aborted ? 250 : 1000 * 2 ** attempt);
      const sizes = pendingSizes ?? batch.map(entrySize);
      const nextSlices = entriesOf(pendingSlices, sizes, again);
      pendingSizes = again.map((i) => sizes[i] as number);
      pendingSlices = nextSlices;
      try {
        errors = await post(pendingSlices, pendingSizes.reduce((a, b) => a + b, 0));
      } catch (err) {
        if ((err as ApiError).retryable !== false && attempt + 1 < ENTRY_RETRIES) {
          // The request itself failed (a reset, a 503): try these entries again, never the whole batch.
          errors = new Map(again.map((_, index) => [index, { code: 14, message: reasonOf(err) }]));
          continue;
        }
        refused += again.length;
        log.warn(`sending ${again.length} refused entr${again.length === 1 ? 'y' : 'ies'} again failed: ${reasonOf(err)}`);
        break;
      }
    }
    if (refused === 0) lastRejection = '';
    arena.release(start, bytes);
    return { rejected: refused };
  };

  const batcher = new Batcher<number>({
    name: 'gcp',
    noun: 'log entries',
    heap: ctx.heaps.create('gcp.logging', o.bufferSize),
    timers,
    log,
    sizeOf: entrySize,
    maxBatchItems: 100_000,
    // Requests in flight and a queue behind them fit the buffer.
    maxBatchBytes: Math.min(TARGET_REQUEST_BYTES - REQUEST_HEAD_RESERVE, Math.max(64 * 1024, Math.floor(o.bufferSize / (2 * REQUESTS_IN_FLIGHT)))),
    maxInFlight: REQUESTS_IN_FLIGHT,
    flushIntervalMs: o.flushIntervalMs,
    send,
    backpressure: o.backpressure ? { highWaterBytes: Math.floor(o.bufferSize * 0.75), lowWaterBytes: Math.floor(o.bufferSize * 0.5), stallMs: STALL_MS, ready: deps.healthy } : undefined,
    backoff: { initial: 1000, max: 60_000, factor: 2, jitter: 0.5 },
    counters: { sent: ctx.counter('sent'), dropped: ctx.counter('dropped'), retries: ctx.counter('retries'), rejected, failed: ctx.counter('failed') },
  });

  let closing = false;
  const queue = (ref: number): void => {
    if (!batcher.push(ref)) arena.rollback(ref);
  };
  const push = (json: EncodedEntry): void => queue(arena.append(json));
  const write = (record: ConsoleRecord): void => {
    // uk's own messages during shutdown (already on stderr) cannot be shipped any more.
    if (closing && record.source === 'kernel') return;
    const ref = encoder.writePlain(record, arena);
    if (ref >= 0) {
      queue(ref);
      return;
    }
    const before = encoder.split;
    encoder.encode(record, push);
    if (encoder.split !== before) splitCounter.add(encoder.split - before);
  };
  const driver: LoggingDriver = {
    name: 'gcp',
    batcher,
    encoder,
    write,
    // The program's lines as bytes: most are copied into the arena as they are; the others (to
    // escape, invalid UTF-8, JSON, long) are decoded and take the record path, so the entries
    // are the same bytes either way.
    writeLines(block, source) {
      for (let i = 0; i < block.count; i++) {
        const ref = encoder.writeLine(block, i, source, arena);
        if (ref >= 0) queue(ref);
        else write({ text: lineText(block, i), time: block.time, source });
      }
    },
    flush: () => batcher.flush(),
    async close(deadlineMs) {
      closing = true;
      await batcher.close(deadlineMs);
    },
  };
  if (o.backpressure) {
    driver.shouldPause = () => batcher.shouldPause();
    driver.drain = () => batcher.drain();
  }
  return driver;
}

export { ApiError };
