/**
 * The `gcp` console driver: records (and the program's lines, as bytes) become LogEntry JSON as
 * they arrive, wait in the kernel's Batcher (bounded heap, batches, retry with backoff and
 * jitter, flush at shutdown), and leave as `entries.write` requests of about 2 MB with
 * `partialSuccess` set. One bad line never sinks its neighbours:
 *
 * - a line that cannot be encoded as it asks (a JSON object nested too deep for Cloud Logging)
 *   goes as text; if encoding a line throws for any reason, it is sent as text, or counted as
 *   dropped, and the rest of the read goes on;
 * - entries the API refuses one by one (WriteLogEntriesPartialErrors) are counted as rejected and
 *   not sent again, nor is anything the answer says was stored; entries refused for a passing
 *   reason (UNAVAILABLE, RESOURCE_EXHAUSTED, …) go back to the Batcher as a `retry` of just those
 *   items (it sends them again after its backoff, ENTRY_RETRIES times at most);
 * - a request refused as a whole with 400 or 413 (no entry was stored) is split in halves, and
 *   the halves sent on their own, down to the entries that are refused alone (counted as
 *   rejected), within a bounded number of requests;
 * - 401 renews the token; 429, 5xx, resets and timeouts retry the batch (a resent entry carries
 *   the same insertId and timestamp, which Cloud Logging de-duplicates; timeouts and resets after
 *   the request went out are `uncertain` retries);
 * - a request refused as a whole for any other reason (404, …) is a `drop`, counted and reported.
 *
 * The Batcher sends nothing before setup (project, zone, instance, token) is done; records wait
 * in the buffer meanwhile. What each answer means is decided in `resultOf` and `followUp`.
 */
import {
  Batcher,
  delivered,
  lineText,
  reasonOf,
  retry,
  type CloseOptions,
  type ConsoleDriver,
  type ConsoleRecord,
  type KlibContext,
  type KlibLog,
  type ReadySignal,
  type SendResult,
  type SpoolCodec,
} from '@uk/core';
import { ApiError, GoogleApi, resultOf, RETRYABLE_CODES, type ApiCall } from './api.js';
import { EntryArena, entryPosition, entrySize, POSITION_SPAN } from './arena.js';
import { EntryEncoder, MAX_JSON_DEPTH, writeRequestHead, type EncodedEntry } from './entries.js';
import type { InstanceInfo } from './metadata.js';
import type { LoggingOptions } from './options.js';

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
/** Attempts after the first for entries refused for a passing reason (the Batcher's maxPartialAttempts). */
export const ENTRY_RETRIES = 4;
/** HTTP statuses of a request refused as a whole that splitting it can get past. */
const SPLITTABLE_STATUSES: ReadonlySet<number> = new Set([400, 413]);

/** Requests one batch may take after its first answer (splits and resends of refused entries). */
export function followUpBudget(entries: number): number {
  // Finding one bad entry by halving takes two requests per halving; a few bad entries fit too.
  return 16 + 4 * Math.ceil(Math.log2(entries + 1));
}

const PARTIAL_ERRORS_TYPE = 'type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors';

export const REQUESTS_IN_FLIGHT = 2;

export interface LoggingDriver extends ConsoleDriver {
  /** The queue: each item is the reference of one entry in the arena (see arena.ts). */
  readonly batcher: Batcher<number>;
  readonly encoder: EntryEncoder;
  /** Flushes and stops by the kernel's deadline. */
  close(options: CloseOptions | number): Promise<void>;
}

/** Setup of the destination: the Batcher sends nothing before it is ready; `value` is what it found. */
export type GcpDestination = ReadySignal & { readonly value: InstanceInfo | undefined };

export interface LoggingDriverDeps {
  readonly api: GoogleApi;
  readonly setup: GcpDestination;
}

/** `projects/PROJECT/logs/LOG_ID` with the log id URL-encoded (`/` becomes %2F). */
export function logNameOf(projectId: string, logId: string): string {
  return `projects/${projectId}/logs/${encodeURIComponent(logId)}`;
}

/** Per-entry errors of a partial success, by index; undefined when the answer has none. */
export function partialErrorsOf(
  google: { details?: readonly Record<string, unknown>[] } | undefined,
): Map<number, { code: number; message: string }> | undefined {
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

/** An entry's error in a partial success. */
interface EntryError {
  readonly code: number;
  readonly message: string;
}

/** What one `entries.write` answered, when it was not an error for the Batcher. */
type WriteAnswer =
  /** Every entry was stored. */
  | { readonly kind: 'stored' }
  /** The entries listed were refused, one by one; the others were stored. */
  | { readonly kind: 'partial'; readonly errors: Map<number, EntryError> }
  /** Refused as a whole (nothing stored) for a reason that may lie in some of the entries. */
  | { readonly kind: 'refused'; readonly error: ApiError };

export function createLoggingDriver(ctx: KlibContext<unknown>, o: LoggingOptions, deps: LoggingDriverDeps): LoggingDriver {
  const log: KlibLog = ctx.log;
  const encoder = new EntryEncoder({ severity: o.severity, jsonPayload: o.jsonPayload, specialFields: o.specialFields });
  const rejected = ctx.counter('rejected');
  const dropped = ctx.counter('dropped');
  const splitCounter = ctx.counter('split');
  const tooDeepCounter = ctx.counter('json_too_deep');
  const encodeFailed = ctx.counter('encode_failed');
  const url = `${o.endpoint}${/\/v2$/.test(o.endpoint) ? '' : '/v2'}/entries:write`;
  let head: Buffer | undefined;
  let lastRejection = '';

  /** Request bodies, reused: one per request in flight. */
  const bodies: Buffer[] = [];

  /**
   * One request with `entries` (slices that end in a comma, which the last one loses). Throws an
   * ApiError for failures (uncertain ones marked by the API client) and refusals that splitting
   * cannot help; `resultOf` (api.ts) turns it into the Batcher's retry or drop.
   */
  const post = async (entries: readonly Buffer[], bytes: number): Promise<WriteAnswer> => {
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
      const call: ApiCall = { url, body, timeoutMs: o.requestTimeoutMs, what: 'entries.write' };
      const { response } = await deps.api.post(call);
      if (response.statusCode >= 200 && response.statusCode < 300) return { kind: 'stored' };
      const error = GoogleApi.error(call, response);
      const partial = partialErrorsOf(error.google);
      if (partial && partial.size > 0) return { kind: 'partial', errors: partial };
      // Without per-entry errors nothing was written: the whole request failed.
      if (SPLITTABLE_STATUSES.has(response.statusCode)) return { kind: 'refused', error };
      throw error;
    } finally {
      if (bodies.length < REQUESTS_IN_FLIGHT) bodies.push(buf);
    }
  };

  /**
   * After a first answer that was not "all stored": finds what is left to do, never sending
   * anything stored already. Entries refused for good are counted as rejected; a request refused
   * as a whole (400/413: nothing stored) is halved until the refused entries stand alone, within
   * followUpBudget requests; entries (or halves) that failed for a passing reason go back to the
   * Batcher as a retry of just those items, which it sends again after its backoff.
   */
  const followUp = async (batch: readonly number[], slices: readonly Buffer[], first: WriteAnswer): Promise<SendResult> => {
    const whole = slices.length === 1 ? (slices[0] as Buffer) : Buffer.concat(slices);
    const offsets: number[] = [];
    let at = 0;
    for (const ref of batch) {
      offsets.push(at);
      at += entrySize(ref);
    }
    const sliceOf = (i: number): Buffer => whole.subarray(offsets[i], (offsets[i] as number) + entrySize(batch[i] as number));
    let refused = 0;
    const reasons: string[] = [];
    const refuse = (count: number, reason: string): void => {
      refused += count;
      if (!reasons.includes(reason)) reasons.push(reason);
    };
    const again: number[] = [];
    let againReason = '';
    let uncertain = false;
    // Last in, first out: the first half of a split goes before the second.
    const halves: (readonly number[])[] = [];
    const settle = (indexes: readonly number[], answer: WriteAnswer): void => {
      if (answer.kind === 'stored') return;
      if (answer.kind === 'refused') {
        if (indexes.length === 1) {
          refuse(1, reasonOf(answer.error));
          return;
        }
        const half = Math.ceil(indexes.length / 2);
        halves.push(indexes.slice(half), indexes.slice(0, half));
        return;
      }
      for (const [index, error] of answer.errors) {
        const entry = indexes[index];
        if (entry === undefined) continue;
        const reason = `code ${error.code}${error.message ? `: ${error.message.slice(0, 200)}` : ''}`;
        if (RETRYABLE_CODES.has(error.code)) {
          again.push(entry);
          againReason ||= `entries.write refused entries for a passing reason (${reason})`;
        } else refuse(1, reason);
      }
    };
    settle(
      batch.map((_, i) => i),
      first,
    );
    let budget = followUpBudget(batch.length);
    for (let part = halves.pop(); part !== undefined; part = halves.pop()) {
      if (budget-- <= 0) {
        refuse(part.length, `gave up after ${followUpBudget(batch.length)} requests for this batch`);
        continue;
      }
      let answer: WriteAnswer;
      try {
        answer = await post(
          part.map(sliceOf),
          part.reduce((sum, i) => sum + entrySize(batch[i] as number), 0),
        );
      } catch (err) {
        // This part failed as a whole: a passing failure is sent again by the Batcher (after a
        // timeout maybe stored already: a resend carries the same insertIds, which Cloud Logging
        // de-duplicates); a final one is refused.
        const result = resultOf(err);
        if (result.outcome === 'retry') {
          again.push(...part);
          againReason ||= result.reason;
          uncertain ||= result.uncertain;
        } else refuse(part.length, reasonOf(err));
        continue;
      }
      settle(part, answer);
    }
    const reason = reasons.join('; ');
    if (refused > 0 && reason !== lastRejection) {
      const what =
        refused === batch.length
          ? `${refused === 1 ? 'the only entry' : `all ${refused} entries`} of a batch`
          : `${refused} entr${refused === 1 ? 'y' : 'ies'} of a batch of ${batch.length}`;
      log.warn(`entries.write refused ${what} (${reason})${refused === batch.length ? '' : '; the rest were stored'}`);
    }
    lastRejection = refused > 0 ? reason : '';
    if (again.length === 0) return delivered(refused);
    return retry(againReason, { items: again.sort((a, b) => a - b), rejected: refused, uncertain });
  };

  const arena = new EntryArena();
  /**
   * Entries in the disk spool: their JSON bytes as sent (the timestamp inside), put back at the
   * end of the arena when read back, so that queued entries stay consecutive in it.
   */
  const spoolCodec: SpoolCodec<number> = {
    encode: (ref) => Buffer.concat(arena.view(entryPosition(ref), entrySize(ref))),
    decode(bytes) {
      // An entry is its JSON object and a comma.
      if (bytes.length < 3 || bytes[0] !== 0x7b || bytes[bytes.length - 1] !== 0x2c) return undefined;
      const buf = arena.reserve(bytes.length);
      bytes.copy(buf, arena.reservedAt);
      return arena.commit(bytes.length);
    },
  };
  /**
   * The bytes of a batch's entries, as slices of the arena. A batch is consecutive entries, except
   * when the Batcher sends again only some entries of one (a partial success): one view per run.
   */
  const viewOf = (batch: readonly number[]): { slices: Buffer[]; bytes: number } => {
    const slices: Buffer[] = [];
    let bytes = 0;
    let runStart = entryPosition(batch[0] as number);
    let runBytes = 0;
    for (const ref of batch) {
      const position = entryPosition(ref);
      if (runBytes > 0 && position !== (runStart + runBytes) % POSITION_SPAN) {
        slices.push(...arena.view(runStart, runBytes));
        runStart = position;
        runBytes = 0;
      }
      runBytes += entrySize(ref);
      bytes += entrySize(ref);
    }
    slices.push(...arena.view(runStart, runBytes));
    return { slices, bytes };
  };
  const send = async (batch: number[]): Promise<SendResult> => {
    // The Batcher sends only once setup is done.
    const info = deps.setup.value as InstanceInfo;
    head ??= Buffer.from(
      writeRequestHead(logNameOf(info.projectId, o.logId ?? info.hostname), {
        type: 'gce_instance',
        labels: { project_id: info.projectId, instance_id: info.instanceId, zone: info.zone },
      }),
    );
    const { slices, bytes } = viewOf(batch);
    let first: WriteAnswer;
    try {
      first = await post(slices, bytes);
    } catch (err) {
      return resultOf(err);
    }
    if (first.kind !== 'stored') return followUp(batch, slices, first);
    lastRejection = '';
    return delivered();
  };

  const counters = {
    sent: ctx.counter('sent'),
    dropped,
    retries: ctx.counter('retries'),
    rejected,
    resent: ctx.counter('resent'),
    unconfirmed: ctx.counter('unconfirmed'),
  };
  const batcher = new Batcher<number>({
    name: 'gcp',
    noun: 'log entries',
    heap: ctx.heaps.create('gcp.logging', o.bufferSize),
    timers: ctx.timers,
    log,
    sizeOf: entrySize,
    maxBatchItems: 100_000,
    // Requests in flight and a queue behind them fit the buffer.
    maxBatchBytes: Math.min(TARGET_REQUEST_BYTES - REQUEST_HEAD_RESERVE, Math.max(64 * 1024, Math.floor(o.bufferSize / (2 * REQUESTS_IN_FLIGHT)))),
    maxInFlight: REQUESTS_IN_FLIGHT,
    flushIntervalMs: o.flushIntervalMs,
    send,
    ready: deps.setup,
    maxPartialAttempts: ENTRY_RETRIES,
    // Entries are consecutive in the arena. One refused at push is the last written: it is
    // taken back, so that the next entry follows the one before it.
    release: (refs) => {
      const first = refs[0] as number;
      if (refs.length === 1 && arena.isLast(first)) arena.rollback(first);
      else {
        const last = refs[refs.length - 1] as number;
        arena.release(entryPosition(first), (entryPosition(last) + entrySize(last) - entryPosition(first) + POSITION_SPAN) % POSITION_SPAN);
      }
    },
    backpressure: o.backpressure ? { highWaterBytes: Math.floor(o.bufferSize * 0.75), lowWaterBytes: Math.floor(o.bufferSize * 0.5) } : undefined,
    counters,
    // The disk spool (uk.spool_dir) of this log as configured (the default log ID is the host
    // name, the same for the next run on this machine).
    spool: ctx.spool(`log:${o.logId ?? '(host name)'}`, spoolCodec),
  });

  let closing = false;
  const queue = (ref: number): void => {
    batcher.push(ref);
  };
  const push = (json: EncodedEntry): void => queue(arena.append(json));
  /** Encodes a record that the byte paths did not take, counting what the encoder did with it. */
  const encode = (record: ConsoleRecord): void => {
    const { split, jsonTooDeep } = encoder;
    encoder.encode(record, push);
    if (encoder.split !== split) splitCounter.add(encoder.split - split);
    if (encoder.jsonTooDeep !== jsonTooDeep) {
      if (tooDeepCounter.value === 0)
        log.warn(
          `a JSON line nested deeper than ${MAX_JSON_DEPTH} levels was sent as textPayload (Cloud Logging cannot take it as jsonPayload); counted as json_too_deep`,
        );
      tooDeepCounter.add(encoder.jsonTooDeep - jsonTooDeep);
    }
  };
  let lastEncodeError = '';
  /**
   * A line whose encoding threw (it never should): it goes as plain text; if even that throws, it
   * is counted as dropped. Either way the lines after it go on, and it is reported once per reason.
   */
  const encodeFailure = (record: ConsoleRecord, err: unknown): void => {
    encodeFailed.add(1);
    let outcome = 'sent as text';
    try {
      encoder.encodeText(record, push);
    } catch {
      dropped.add(1);
      outcome = 'dropped';
    }
    const reason = reasonOf(err);
    if (reason !== lastEncodeError)
      log.warn(`a line of ${record.text.length} characters could not be encoded (${reason}); ${outcome}, counted as encode_failed`);
    lastEncodeError = reason;
  };
  const write = (record: ConsoleRecord): void => {
    // uk's own messages during shutdown (already on stderr) cannot be shipped any more.
    if (closing && record.source === 'kernel') return;
    try {
      const ref = encoder.writePlain(record, arena);
      if (ref >= 0) queue(ref);
      else encode(record);
    } catch (err) {
      encodeFailure(record, err);
    }
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
        let ref = -1;
        try {
          ref = encoder.writeLine(block, i, source, arena);
        } catch {
          // The record path below encodes the line again, and catches what throws there.
        }
        if (ref >= 0) {
          queue(ref);
          continue;
        }
        let text: string;
        try {
          text = lineText(block, i);
        } catch (err) {
          encodeFailed.add(1);
          dropped.add(1);
          log.warn(`a line could not be read as text (${reasonOf(err)}); dropped, counted as encode_failed`);
          continue;
        }
        write({ text, time: block.time, source });
      }
    },
    flush: () => batcher.flush(),
    async close(options) {
      closing = true;
      await batcher.close(options);
    },
  };
  if (o.backpressure) {
    driver.shouldPause = () => batcher.shouldPause();
    driver.drain = () => batcher.drain();
  }
  return driver;
}

export { ApiError };
