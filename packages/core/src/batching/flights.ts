/**
 * Batches handed to the klib's `send` and not yet out of the queue, and when failed ones go again.
 *
 * A flight covers a run of queue positions. It is `sending`, `failed` (waiting for its retry) or
 * `done` (stored, refused or given up); done flights leave the queue in order, once every flight
 * before them is done too, so a retried batch never lets later records overtake it out of the
 * queue. After a partial success a flight sends only the items the destination asked for again.
 */
import { Backoff, type BackoffOptions, type TimerHandle, type Timers } from '../timers.js';
import type { Taken } from './batch-policy.js';

export interface Flight<T> {
  /** Queue position of its first item, the items it covers, their heap bytes and records. */
  readonly from: number;
  readonly length: number;
  readonly bytes: number;
  readonly count: number;
  /** What the next attempt sends: every item, or after a partial success the ones to send again. */
  items: T[];
  /** Records in `items`. */
  itemsCount: number;
  state: 'sending' | 'failed' | 'done';
  /** When the current attempt started (monotonic ms). */
  started: number;
  /** Attempts whose outcome is unknown (the destination may have stored them). */
  uncertain: number;
  /** Attempts that stored part of the batch and asked for the rest again. */
  partial: number;
}

export class Flights<T> implements Iterable<Flight<T>> {
  #list: Flight<T>[] = [];
  /** Queue position after the last item in a flight: the next batch starts here. */
  sendHead: number;
  /** Heap bytes and records of the flights not yet out of the queue. */
  bytes = 0;
  count = 0;

  constructor(head: number) {
    this.sendHead = head;
  }

  get length(): number {
    return this.#list.length;
  }

  get oldest(): Flight<T> | undefined {
    return this.#list[0];
  }

  get newest(): Flight<T> | undefined {
    return this.#list[this.#list.length - 1];
  }

  [Symbol.iterator](): Iterator<Flight<T>> {
    return this.#list[Symbol.iterator]();
  }

  add(taken: Taken<T>, now: number): Flight<T> {
    const flight: Flight<T> = {
      from: taken.from,
      length: taken.items.length,
      bytes: taken.bytes,
      count: taken.count,
      items: taken.items,
      itemsCount: taken.count,
      state: 'sending',
      started: now,
      uncertain: 0,
      partial: 0,
    };
    this.#list.push(flight);
    this.sendHead = taken.from + taken.items.length;
    this.bytes += taken.bytes;
    this.count += taken.count;
    return flight;
  }

  anyFailed(): boolean {
    return this.#list.some((f) => f.state === 'failed');
  }

  /** Removes the leading done flights and returns them, oldest first. */
  takeLanded(): Flight<T>[] {
    const landed: Flight<T>[] = [];
    while (this.#list.length > 0 && (this.#list[0] as Flight<T>).state === 'done') {
      const f = this.#list.shift() as Flight<T>;
      this.bytes -= f.bytes;
      this.count -= f.count;
      landed.push(f);
    }
    return landed;
  }

  /**
   * The only flight, failed with all its items still to send: forgets it, so the next batch takes
   * its items again together with what was queued meanwhile (one request, not two). Returns it.
   */
  takeBackOnlyFailure(): Flight<T> | undefined {
    const only = this.#list.length === 1 ? this.#list[0] : undefined;
    if (only?.state !== 'failed' || only.partial > 0) return undefined;
    this.#list = [];
    this.sendHead = only.from;
    this.bytes = 0;
    this.count = 0;
    return only;
  }

  clear(head: number): void {
    this.#list = [];
    this.sendHead = head;
    this.bytes = 0;
    this.count = 0;
  }
}

/**
 * When failed batches go again: one timer for all of them, the delay from an exponential backoff
 * with jitter (or the destination's own wait), reset once a send succeeds.
 */
export class RetrySchedule {
  readonly #backoff: Backoff;
  readonly #max: number;
  readonly #timers: Timers;
  #timer: TimerHandle | undefined;

  constructor(timers: Timers, backoff: BackoffOptions) {
    this.#timers = timers;
    this.#backoff = new Backoff(backoff);
    this.#max = backoff.max;
  }

  get waiting(): boolean {
    return this.#timer !== undefined;
  }

  /** Failed attempts since the last success. */
  get attempts(): number {
    return this.#backoff.attempts;
  }

  /** The next delay: the destination's wait if it gave one (within the backoff's cap), else the backoff's. */
  nextDelay(afterMs: number | undefined): number {
    const backoff = this.#backoff.next();
    return afterMs !== undefined && afterMs >= 0 ? Math.min(afterMs, this.#max) : backoff;
  }

  schedule(delay: number, run: () => void): void {
    this.#timer = this.#timers.oneShot(delay, () => {
      this.#timer = undefined;
      run();
    });
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  succeeded(): void {
    this.#backoff.reset();
  }
}
