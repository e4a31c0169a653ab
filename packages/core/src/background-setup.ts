/**
 * A klib's setup (find the region, read a token, create the destination …) run in the background,
 * as the Nanos klibs do it: init returns at once, records wait in the Batcher meanwhile, and a
 * failed attempt is tried again after a backoff from 1 s doubling to 3600 s. The Batcher reads it
 * as its `ReadySignal`: it sends nothing before setup is done, and never holds the program's output
 * back once setup has failed or has taken longer than `STALL_MS`.
 *
 * Reporting: the first failure is logged at debug only (a metadata server can fail for a moment
 * right after boot; the Nanos gcp klib is quiet then too), later ones as errors with the delay
 * before the next attempt; success after failures once at info.
 */
import { reasonOf } from './errors.js';
import { STALL_MS, type ReadySignal } from './delivery.js';
import type { KlibLog } from './klib.js';
import { Backoff, type BackoffOptions, type TimerHandle, type Timers } from './timers.js';

/** The Nanos klibs' setup backoff: 1 s, doubling, at most an hour between attempts. */
export const SETUP_BACKOFF: BackoffOptions = Object.freeze({ initial: 1000, max: 3_600_000, factor: 2, jitter: 0 });

export interface BackgroundSetupOptions<T> {
  /**
   * One attempt: resolves with the setup's result or throws. It may keep what an earlier attempt
   * found (a retry then asks only for what is still missing).
   */
  readonly attempt: () => Promise<T>;
  readonly timers: Timers;
  readonly log: KlibLog;
  /** The klib's shutdown signal: when it aborts, a retry waiting for its delay runs at once, so the final flush can go. */
  readonly signal?: AbortSignal;
  /** Default `SETUP_BACKOFF`. */
  readonly backoff?: BackoffOptions;
  /**
   * A shorter largest delay while `active()` holds: while records wait to be delivered, setup is
   * tried at least this often (so they go soon after the service is back) instead of once an hour.
   * The backoff itself keeps growing underneath.
   */
  readonly maxDelayWhile?: { readonly ms: number; readonly active: () => boolean };
  /** Report the first failure as an error too (default false: debug only, see above). */
  readonly reportFirstFailure?: boolean;
  /** Report a failure only when its reason differs from the one before (default false: each failure, with its delay). */
  readonly reportChangesOnly?: boolean;
  /** Added after the delay in a failure's report, e.g. " (buffering meanwhile)". */
  readonly failureNote?: string;
  /** What setup found, for the success message (no credentials). */
  readonly describe?: (value: T) => string;
}

export class BackgroundSetup<T> implements ReadySignal {
  readonly #o: BackgroundSetupOptions<T>;
  readonly #backoff: Backoff;
  /** Resolves with the setup's result once an attempt succeeds; never rejects. */
  readonly result: Promise<T>;
  #resolve!: (value: T) => void;
  #value: { readonly value: T } | undefined;
  #started = false;
  #stopped = false;
  #attempting = false;
  #retry: TimerHandle | undefined;
  #startedAt: number;
  #failures = 0;
  #lastError: string | undefined;
  /** The reason last reported as an error (for `reportChangesOnly`). */
  #lastReported: string | undefined;

  constructor(options: BackgroundSetupOptions<T>) {
    this.#o = options;
    this.#backoff = new Backoff(options.backoff ?? SETUP_BACKOFF);
    this.#startedAt = options.timers.clock.monotonic();
    this.result = new Promise((resolve) => (this.#resolve = resolve));
    options.signal?.addEventListener('abort', () => this.#retryNow(), { once: true });
  }

  /** The setup's result once done. */
  get value(): T | undefined {
    return this.#value?.value;
  }

  /** Failed attempts so far. */
  get failures(): number {
    return this.#failures;
  }

  /** The reason of the last failure, if any. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  isReady(): boolean {
    return this.#value !== undefined;
  }

  whenReady(): Promise<void> {
    return this.result.then(() => undefined);
  }

  /** Done, or under way without a failure for less than `STALL_MS` since start. */
  isHealthy(): boolean {
    return this.#value !== undefined || (this.#failures === 0 && this.#o.timers.clock.monotonic() - this.#startedAt < STALL_MS);
  }

  /** Starts the first attempt now; returns at once. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#startedAt = this.#o.timers.clock.monotonic();
    void this.#attempt();
  }

  /** No more attempts (shutdown is over). An attempt under way still ends as it ends. */
  stop(): void {
    this.#stopped = true;
    this.#retry?.cancel();
    this.#retry = undefined;
  }

  /** At shutdown, do not sit out a long backoff: try once more now so the final flush can go. */
  #retryNow(): void {
    if (!this.#started || this.#stopped || this.#value || this.#attempting) return;
    this.#retry?.cancel();
    this.#retry = undefined;
    void this.#attempt();
  }

  async #attempt(): Promise<void> {
    this.#attempting = true;
    let value: T;
    try {
      value = await this.#o.attempt();
    } catch (err) {
      this.#attempting = false;
      this.#failed(reasonOf(err));
      return;
    }
    this.#attempting = false;
    this.#value = { value };
    const detail = this.#o.describe ? `: ${this.#o.describe(value)}` : '';
    if (this.#failures > 0) this.#o.log.info(`setup done after ${this.#failures} failed attempt(s)${detail}`);
    else this.#o.log.debug(`setup done${detail}`);
    this.#resolve(value);
  }

  #failed(reason: string): void {
    this.#failures++;
    const cap = this.#o.maxDelayWhile;
    const grown = this.#backoff.next();
    const delay = cap && cap.active() ? Math.min(grown, cap.ms) : grown;
    const message = `setup failed, retrying in ${delay / 1000} s${this.#o.failureNote ?? ''}: ${reason}`;
    const quiet = (this.#failures === 1 && !this.#o.reportFirstFailure) || (this.#o.reportChangesOnly === true && reason === this.#lastReported);
    if (quiet) this.#o.log.debug(message);
    else {
      this.#o.log.error(message);
      this.#lastReported = reason;
    }
    this.#lastError = reason;
    if (this.#stopped) return;
    this.#retry = this.#o.timers.oneShot(delay, () => {
      this.#retry = undefined;
      void this.#attempt();
    });
  }
}
