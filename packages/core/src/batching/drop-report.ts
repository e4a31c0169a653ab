/**
 * Records dropped (buffer full, after shutdown, refused): counted at once, reported at most once
 * per interval with the sum, so that a burst of drops is one message, not one per record.
 */
import type { KlibLog } from '../klib.js';
import type { Counter } from '../stats.js';
import type { TimerHandle, Timers } from '../timers.js';

export class DropReport {
  readonly #counter: Counter;
  readonly #log: KlibLog;
  readonly #timers: Timers;
  readonly #noun: string;
  readonly #intervalMs: number;
  #unreported = 0;
  #timer: TimerHandle | undefined;

  constructor(counter: Counter, log: KlibLog, timers: Timers, noun: string, intervalMs: number) {
    this.#counter = counter;
    this.#log = log;
    this.#timers = timers;
    this.#noun = noun;
    this.#intervalMs = intervalMs;
  }

  drop(count: number, why: string): void {
    this.#counter.add(count);
    this.#unreported += count;
    if (this.#timer) return;
    // Later drops within the interval are summed into one message. The timer is set before the
    // report so that a drop caused by the report itself (a driver that receives uk's own
    // messages) is summed too instead of printing a second report at once.
    this.#timer = this.#timers.oneShot(this.#intervalMs, () => {
      this.#timer = undefined;
      if (this.#unreported > 0) this.#report(why);
    });
    this.#report(why);
  }

  /** Reports what is not reported yet now, and stops the timer (closing). */
  finish(why: string): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#unreported > 0) this.#report(why);
  }

  #report(why: string): void {
    this.#log.error(`dropped ${this.#unreported} ${this.#noun} (${why}; ${this.#counter.value} dropped in all)`);
    this.#unreported = 0;
  }
}
