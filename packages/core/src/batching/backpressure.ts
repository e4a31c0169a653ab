/**
 * Backpressure: while the destination works but is behind (a burst larger than it takes at once),
 * the program's output is paused at the high-water mark and read again at the low one, so the
 * program waits on its write as on a slow terminal instead of records being dropped. It never
 * pauses while the destination is failing, not healthy (setup failing or stalled), closing, or
 * while a send has made no progress for the stall limit: then the buffer fills, drops and counts,
 * and an outage never holds the program up.
 */
import { STALL_MS } from '../delivery.js';
import type { TimerHandle, Timers } from '../timers.js';

export interface BackpressureOptions {
  /** Pause at this many queued bytes (default: half the heap). */
  readonly highWaterBytes?: number;
  /** Read on once the queue is down to this (default: a quarter of the heap). */
  readonly lowWaterBytes?: number;
  /** A send making no progress this long no longer holds the program back, ms (default STALL_MS). */
  readonly stallMs?: number;
}

/** What backpressure looks at, from the Batcher. */
export interface DeliveryState {
  readonly queuedBytes: number;
  readonly capacity: number;
  /** Closing, failing, or the destination not healthy: never pause. */
  mayHold(): boolean;
  /** When the oldest send in progress started (monotonic ms), if one is. */
  oldestSendStarted(): number | undefined;
}

/** How often a paused reader looks again when no send completes (a stuck send, a setup that failed). */
const RECHECK_MS = 250;

export class Backpressure {
  readonly #o: BackpressureOptions;
  readonly #timers: Timers;
  readonly #state: DeliveryState;
  #paused = false;
  #waiters: (() => void)[] = [];
  #recheck: TimerHandle | undefined;
  /** Times the program's output was paused. */
  pauses = 0;

  constructor(options: BackpressureOptions, timers: Timers, state: DeliveryState) {
    this.#o = options;
    this.#timers = timers;
    this.#state = state;
  }

  shouldPause(): boolean {
    const s = this.#state;
    if (!s.mayHold()) return (this.#paused = false);
    const started = s.oldestSendStarted();
    if (started !== undefined && this.#timers.clock.monotonic() - started >= (this.#o.stallMs ?? STALL_MS)) return (this.#paused = false);
    const high = this.#o.highWaterBytes ?? Math.floor(s.capacity / 2);
    const low = this.#o.lowWaterBytes ?? Math.floor(s.capacity / 4);
    const was = this.#paused;
    // Hysteresis: pause at the high mark, read on only at the low one.
    this.#paused = was ? s.queuedBytes > low : s.queuedBytes >= high;
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

  /** Something changed (a send ended, a retry was scheduled): let readers go if they may. */
  wake(): void {
    if (this.#waiters.length === 0 || this.shouldPause()) return;
    this.release();
  }

  /** Lets every waiting reader go (closing). */
  release(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#recheck?.cancel();
    this.#recheck = undefined;
    for (const resolve of waiters) resolve();
  }

  #armRecheck(): void {
    if (this.#recheck) return;
    this.#recheck = this.#timers.oneShot(Math.min(this.#o.stallMs ?? STALL_MS, RECHECK_MS), () => {
      this.#recheck = undefined;
      this.wake();
      if (this.#waiters.length > 0) this.#armRecheck();
    });
  }
}
