/**
 * Backpressure for the logging driver. While delivery works but is behind (the program writes
 * faster than Cloud Logging takes it), uk stops reading the program's output once the queue
 * reaches the high-water mark and reads on when it has drained to the low-water mark, so the
 * program waits on its write as on a slow terminal and nothing is dropped. Right after boot,
 * while setup is under way and has not failed, delivery counts as working too (a program that
 * floods its output at once waits for setup instead of losing lines), but for `stallMs` at most.
 * While delivery is not working (setup failed or slow, sends failing, or one send stuck for
 * `stallMs`), reading never stops: the queue fills up to its budget, then drops and counts. The
 * program is never held up by an outage.
 *
 * The kernel pauses a program stream when a driver's `writeRaw` returns false and resumes it
 * when `drain` resolves; the driver takes no raw bytes and uses only that signal.
 */
import type { TimerHandle, Timers } from '@uk/core';

export interface BackpressureOptions {
  readonly timers: Timers;
  readonly highWater: number;
  readonly lowWater: number;
  /** A send making no progress this long no longer holds the program back, ms. */
  readonly stallMs: number;
  readonly pendingBytes: () => number;
  /** Whether sends can be expected to succeed soon (setup done, or under way and not failed yet). */
  readonly healthy: () => boolean;
}

export class Backpressure {
  readonly #o: BackpressureOptions;
  #failing = false;
  /** Start times of the sends in flight. */
  readonly #sending = new Set<{ since: number }>();
  #paused = false;
  #waiters: (() => void)[] = [];
  #recheck: TimerHandle | undefined;
  #closed = false;
  /** Times reading was paused. */
  pauses = 0;

  constructor(options: BackpressureOptions) {
    this.#o = options;
  }

  /** Wraps the Batcher's send to follow health and progress. */
  track<T, R>(send: (batch: T[]) => Promise<R>): (batch: T[]) => Promise<R> {
    return async (batch) => {
      const inFlight = { since: this.#o.timers.clock.monotonic() };
      this.#sending.add(inFlight);
      try {
        const result = await send(batch);
        this.#failing = false;
        return result;
      } catch (err) {
        this.#failing = true;
        throw err;
      } finally {
        this.#sending.delete(inFlight);
        // The Batcher takes the batch off its queue once send settles: look again after that.
        if (this.#waiters.length > 0) setImmediate(() => this.#wake());
      }
    };
  }

  #working(): boolean {
    if (this.#closed || this.#failing || !this.#o.healthy()) return false;
    const now = this.#o.timers.clock.monotonic();
    for (const inFlight of this.#sending) if (now - inFlight.since > this.#o.stallMs) return false;
    return true;
  }

  /** True when the program's output should not be read for now. */
  shouldPause(): boolean {
    if (!this.#working()) {
      this.#paused = false;
      return false;
    }
    const pending = this.#o.pendingBytes();
    const was = this.#paused;
    this.#paused = was ? pending > this.#o.lowWater : pending >= this.#o.highWater;
    if (this.#paused && !was) this.pauses++;
    return this.#paused;
  }

  /** Resolves when reading may go on. */
  drain(): Promise<void> {
    if (!this.shouldPause()) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#armRecheck();
    return done;
  }

  /** Looks again after a while even when no send completes (a stuck send, a setup that failed). */
  #armRecheck(): void {
    if (this.#recheck) return;
    this.#recheck = this.#o.timers.oneShot(Math.min(this.#o.stallMs, 250), () => {
      this.#recheck = undefined;
      this.#wake();
      if (this.#waiters.length > 0) this.#armRecheck();
    });
  }

  #wake(): void {
    if (this.#waiters.length === 0 || this.shouldPause()) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#recheck?.cancel();
    this.#recheck = undefined;
    for (const resolve of waiters) resolve();
  }

  /** Shutdown: never pause again; release anyone waiting. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }
}
