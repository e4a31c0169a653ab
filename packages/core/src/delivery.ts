/**
 * The delivery contract between the core's `Batcher` and a klib that ships records (public; see
 * docs/authoring-klibs.md). A klib says what happened to a batch; the Batcher alone decides what
 * that means for the records: counting, retrying, dropping, freeing memory. Modelled on the
 * explicit outcomes of the field (fluent-bit's OK/RETRY/ERROR, Vector's retry logic, the
 * OpenTelemetry exporters' export results) instead of errors whose fields are inspected.
 *
 * - `delivered(rejected?)`: the destination answered. `rejected` records of the batch were
 *   refused one by one (too old, too large …): counted as rejected, never sent again.
 * - `retry(reason, { afterMs, items, uncertain, rejected })`: send again later. `items` names the
 *   batch items (by index) to send again when only some failed (partial success); the others were
 *   stored, except `rejected` records among them. `uncertain` says the request may have been
 *   carried out (no answer after it went out): the resend is counted as possible duplicates.
 *   `afterMs` is the destination's own wait (Retry-After); otherwise the Batcher's backoff applies.
 * - `drop(reason)`: sending this batch again cannot succeed (the request itself is wrong): its
 *   records are counted as dropped, with the reason reported.
 *
 * A `send` that throws is treated as `retry` with the error's message (`uncertain` when the error
 * has `uncertain: true`), so a bug never loses records silently; klibs return results instead.
 */

export interface Delivered {
  readonly outcome: 'delivered';
  /** Records of the batch the destination refused individually (counted, never sent again). */
  readonly rejected: number;
}

export interface Retry {
  readonly outcome: 'retry';
  /** Why, for the operator (no credentials). */
  readonly reason: string;
  /** The destination's own wait before the next attempt (e.g. Retry-After), ms. */
  readonly afterMs?: number;
  /** Indexes of the batch items to send again; the others were stored. Default: all of them. */
  readonly items?: readonly number[];
  /** The request may have been carried out: what is sent again may be a duplicate. */
  readonly uncertain: boolean;
  /** Records among the items not sent again that the destination refused individually. */
  readonly rejected: number;
}

export interface Drop {
  readonly outcome: 'drop';
  readonly reason: string;
}

export type SendResult = Delivered | Retry | Drop;

export function delivered(rejected = 0): Delivered {
  return { outcome: 'delivered', rejected };
}

export function retry(reason: string, options: { afterMs?: number; items?: readonly number[]; uncertain?: boolean; rejected?: number } = {}): Retry {
  return { outcome: 'retry', reason, afterMs: options.afterMs, items: options.items, uncertain: options.uncertain ?? false, rejected: options.rejected ?? 0 };
}

export function drop(reason: string): Drop {
  return { outcome: 'drop', reason };
}

/**
 * Whether a destination can take requests yet (its setup is done). The Batcher sends nothing
 * before it is ready; records wait (bounded) meanwhile. `BackgroundSetup` implements it.
 */
export interface ReadySignal {
  isReady(): boolean;
  /** Resolves once ready; never rejects (it may never resolve if setup never succeeds). */
  whenReady(): Promise<void>;
  /**
   * False once setup has failed or has taken longer than the stall limit: the Batcher then never
   * holds the program's output back (an outage must not stop the program). Default: true.
   */
  isHealthy?(): boolean;
}

/** How long a klib may take to close, handed down from the kernel's shutdown. */
export interface CloseOptions {
  /** When the kernel's deadline passes, on `Timers.clock.monotonic()`'s clock, ms. */
  readonly deadline: number;
  /** Aborted when uk must exit at once (a second signal, or the deadline passed). */
  readonly signal?: AbortSignal;
}

/**
 * A send that has made no progress this long is stalled: backpressure stops holding the program
 * back, and a destination whose setup has not finished by then counts as unhealthy, ms.
 */
export const STALL_MS = 5000;
