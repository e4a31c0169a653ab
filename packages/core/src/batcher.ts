/**
 * The one batching and retry mechanism every shipping klib uses, behind one public class. The
 * klib gives its destination's limits and a `send` that says what happened to a batch (the
 * delivery contract, delivery.ts); the Batcher alone decides what that means for the records.
 *
 * Records wait in a bounded heap (batching/record-queue.ts); when it is full, new records are
 * dropped, counted, and reported once per interval (never silently, never one message per
 * record). Batches respect the destination's limits and the klib's rules (batching/batch-policy.ts)
 * and go out when full or `flushIntervalMs` after the first record, and not before the
 * destination is `ready`. One batch is in flight at a time, so order is kept, unless the klib
 * allows more (`maxInFlight`) and says which batches may overlap (`canOverlap`). Records leave the
 * queue, in order, once every batch before them is done (batching/flights.ts); then their memory
 * goes back and `release` runs for each, exactly once whatever happened to it.
 *
 * - `delivered`: counted as sent (and `rejected` ones as rejected).
 * - `retry`: the same batch (or the part the destination asked for again) goes again after an
 *   exponential backoff with jitter (at most `DELIVERY_BACKOFF.max`, 30 s, so records get
 *   through at most that long after the destination is healthy again), and no new batch starts
 *   meanwhile. An `uncertain` retry (no answer after the request went out) is counted as
 *   `resent`, and after `maxUncertainAttempts` such attempts the batch is given up as
 *   `unconfirmed`; a batch stored in part more than `maxPartialAttempts` times has its remaining
 *   records counted as rejected.
 * - `drop`: the batch's records are counted as dropped, with the reason.
 *
 * `flush()` sends everything, running a pending retry at once; `close()` flushes until the
 * kernel's deadline (or its abort signal), retrying at most a second apart, and counts whatever
 * is left: records never acknowledged as `dropped`, records whose last attempt has no answer yet
 * as `unconfirmed`. Backpressure (optional, batching/backpressure.ts) holds the program's output
 * while the destination is merely behind. See docs/delivery.md.
 */
import type { CloseOptions, ReadySignal, SendResult } from './delivery.js';
import { reasonOf } from './errors.js';
import type { Heap, RecordHolder } from './heap.js';
import type { KlibLog } from './klib.js';
import type { Counter } from './stats.js';
import type { BackoffOptions, TimerHandle, Timers } from './timers.js';
import { Backpressure, type BackpressureOptions } from './batching/backpressure.js';
import { DropReport } from './batching/drop-report.js';
import { hasFullBatch, takeBatch, type BatchRules } from './batching/batch-policy.js';
import { Flights, RetrySchedule, type Flight } from './batching/flights.js';
import { RecordQueue, type QueueItems } from './batching/record-queue.js';
import { SpoolFeed } from './batching/spool-feed.js';
import type { BatcherSpool } from './spool/destinations.js';

export type { BackpressureOptions } from './batching/backpressure.js';

/**
 * Delivery retries: 1 s doubling to 30 s with 50% jitter. The cap bounds how long records wait
 * after the destination is healthy again (Vector and the OpenTelemetry Collector cap at 30 s too).
 */
export const DELIVERY_BACKOFF: BackoffOptions = Object.freeze({ initial: 1000, max: 30_000, factor: 2, jitter: 0.5 });

/** While flushing (at shutdown), a failed batch is retried at most this long after it failed. */
const FLUSH_RETRY_MS = 1000;

/** True for an error after which the destination may have stored the request anyway. */
export function isUncertain(err: unknown): boolean {
  return (err as { uncertain?: unknown } | null)?.uncertain === true;
}

export interface BatcherCounters {
  readonly sent: Counter;
  /** Records lost for good: buffer full, refused batches (`drop`), or never sent by the deadline. */
  readonly dropped: Counter;
  /** Failed attempts (each `retry`). */
  readonly retries: Counter;
  /** Records the destination refused one by one (default: counted as dropped). */
  readonly rejected?: Counter;
  /** Records sent again after an attempt whose outcome was unknown (an upper bound of the duplicates). */
  readonly resent?: Counter;
  /** Records given up while the destination may or may not have stored them (default: counted as dropped). */
  readonly unconfirmed?: Counter;
}

export interface BatcherOptions<T> extends BatchRules<T>, QueueItems<T> {
  /** Klib name, for messages: `syslog: dropped 12 records …`. */
  readonly name: string;
  /** What a record is called in messages: records, events, entries. */
  readonly noun?: string;
  readonly heap: Heap;
  readonly timers: Timers;
  readonly log: KlibLog;
  /** A batch leaves this long after its first record arrived, if it has not filled up before. */
  readonly flushIntervalMs: number;
  /** Batches that may be in flight at once (default 1: each waits for the one before). */
  readonly maxInFlight?: number;
  /** With maxInFlight > 1: may `next` be sent while `previous`, the batch just before it, is in flight? (default: yes) */
  canOverlap?(previous: readonly T[], next: readonly T[]): boolean;
  /** Sends one batch and says what happened (delivery.ts); nothing (undefined) means delivered. */
  send(batch: T[]): Promise<SendResult | void>;
  /** The destination's readiness: nothing is sent before (default: always ready). */
  readonly ready?: ReadySignal;
  /** Retry backoff; default `DELIVERY_BACKOFF` (1 s doubling to 30 s, 50% jitter). */
  readonly backoff?: BackoffOptions;
  /** Attempts of one batch whose outcome is unknown before it is given up as unconfirmed (default 3). */
  readonly maxUncertainAttempts?: number;
  /** Partial successes of one batch before the records still refused are counted as rejected (default 4). */
  readonly maxPartialAttempts?: number;
  readonly counters: BatcherCounters;
  /** Minimum time between two "dropped" reports, ms (default 10 s). */
  readonly dropReportIntervalMs?: number;
  /** Pause the program's output while the destination is merely behind (batching/backpressure.ts). */
  readonly backpressure?: BackpressureOptions;
  /**
   * The disk spool of this destination (`ctx.spool(key, codec)`; batching/spool-feed.ts): records
   * are on disk before they count as accepted, wait there (not in memory) while the destination is
   * away, survive uk's death and are delivered by the next run. Undefined: memory only.
   */
  readonly spool?: BatcherSpool<T>;
}

export class Batcher<T> implements RecordHolder {
  readonly #o: BatcherOptions<T>;
  readonly #queue: RecordQueue<T>;
  readonly #flights: Flights<T>;
  readonly #retry: RetrySchedule;
  readonly #backpressure: Backpressure | undefined;
  /** Unknown-outcome attempts carried over when the only failed batch is taken again, grown. */
  #carriedUncertain = 0;
  #carriedCount = 0;
  #timer: TimerHandle | undefined;
  #dueAt = 0;
  #flushWaiters: (() => void)[] = [];
  #waitingReady = false;
  #closed = false;
  #gaveUp = false;
  readonly #drops: DropReport;
  #lastError = '';
  #failing = false;
  readonly #spool: SpoolFeed<T> | undefined;

  constructor(options: BatcherOptions<T>) {
    this.#o = options;
    this.#queue = new RecordQueue(options.heap, options);
    if (options.spool) {
      this.#spool = new SpoolFeed(options.spool, this.#queue, options.heap, (count, why) => this.#drop(count, why));
      // What a previous run left goes first; read after the klib's own setup has run.
      queueMicrotask(() => this.#refill());
    }
    this.#flights = new Flights(this.#queue.head);
    this.#retry = new RetrySchedule(options.timers, options.backoff ?? DELIVERY_BACKOFF);
    this.#drops = new DropReport(options.counters.dropped, options.log, options.timers, options.noun ?? 'records', options.dropReportIntervalMs ?? 10_000);
    const queue = this.#queue;
    if (options.backpressure) {
      this.#backpressure = new Backpressure(options.backpressure, options.timers, {
        get queuedBytes() {
          return queue.bytes;
        },
        capacity: options.heap.capacity,
        mayHold: () => !this.#closed && !this.#failing && this.#healthy(),
        oldestSendStarted: () => (this.#flights.oldest?.state === 'sending' ? this.#flights.oldest.started : undefined),
      });
    }
    options.heap.holdsRecords(this);
  }

  /** Records waiting (not yet acknowledged). */
  get pending(): number {
    return this.#queue.count;
  }

  /** Records waiting in the disk spool only (not in memory). */
  get spooled(): number {
    return this.#spool?.backlog ?? 0;
  }

  get pendingBytes(): number {
    return this.#queue.bytes;
  }

  /** Times the program's output was paused for this batcher. */
  get pauses(): number {
    return this.#backpressure?.pauses ?? 0;
  }

  get #allSent(): boolean {
    return this.#flights.sendHead === this.#queue.end;
  }

  /** Reads records back from the spool while memory has room; schedules their batch. */
  #refill(): void {
    if (!this.#spool || this.#gaveUp || this.#spool.refill() === 0) return;
    if (hasFullBatch(this.#o, this.#queue.count - this.#flights.count, this.#queue.bytes - this.#flights.bytes)) this.#pump();
    else this.#arm();
  }

  #healthy(): boolean {
    const ready = this.#o.ready;
    return !ready || ready.isReady() || (ready.isHealthy?.() ?? true);
  }

  /** Queues a record; false if the buffer was full and it was dropped (counted and released). */
  push(item: T): boolean {
    const q = this.#queue;
    const count = q.countOf(item);
    if (this.#closed) {
      q.refuse(item);
      this.#drop(count, 'after shutdown');
      return false;
    }
    const size = q.sizeOf(item);
    const spooled = this.#spool?.push(item, size, count);
    if (spooled === 'full') {
      q.refuse(item);
      this.#drop(count, 'spool full: new records are dropped (uk.spool_full)');
      return false;
    }
    if (spooled === 'disk') {
      // On disk only: read back once memory has room (the klib's copy is let go now).
      q.refuse(item);
      return true;
    }
    if (!q.push(item, size, count)) {
      this.#drop(count, `buffer full: ${q.capacity} bytes`);
      return false;
    }
    if (hasFullBatch(this.#o, q.count, q.bytes)) this.#pump();
    else this.#arm();
    return true;
  }

  #arm(): void {
    if (this.#timer || this.#flights.length >= (this.#o.maxInFlight ?? 1) || this.#retry.waiting || this.#allSent) return;
    this.#dueAt = this.#o.timers.clock.monotonic() + this.#o.flushIntervalMs;
    this.#timer = this.#o.timers.oneShot(this.#o.flushIntervalMs, () => {
      this.#timer = undefined;
      this.#pump(true);
    });
  }

  #drop(count: number, why: string): void {
    this.#drops.drop(count, why);
  }

  get #noun(): string {
    return this.#o.noun ?? 'records';
  }

  /** Sends batches while there is a full one, the interval passed, or a flush was asked for. */
  #pump(due = false): void {
    const o = this.#o;
    if (this.#retry.waiting || this.#gaveUp) return;
    for (;;) {
      if (this.#allSent && this.#spool?.refill()) continue;
      if (this.#allSent) {
        if (this.#flights.length === 0) this.#resolveFlush();
        return;
      }
      if (o.ready && !o.ready.isReady()) {
        this.#awaitReady();
        return;
      }
      if (this.#flights.length >= (o.maxInFlight ?? 1)) return;
      const now = o.timers.clock.monotonic();
      const full = hasFullBatch(o, this.#queue.count - this.#flights.count, this.#queue.bytes - this.#flights.bytes);
      if (!(due || full || this.#flushWaiters.length > 0 || (this.#dueAt > 0 && now >= this.#dueAt))) {
        this.#arm();
        return;
      }
      const taken = takeBatch(this.#queue, this.#flights.sendHead, o);
      const previous = this.#flights.newest;
      // Not allowed to overlap: it goes when the one before is done.
      if (previous && o.canOverlap && !o.canOverlap(previous.items, taken.items)) return;
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#dueAt = 0;
      due = false;
      const flight = this.#flights.add(taken, now);
      if (this.#carriedCount > 0) {
        // Records of a batch taken again after an attempt with no answer: this is a resend.
        const resent = Math.min(this.#carriedCount, taken.count);
        o.counters.resent?.add(resent);
        flight.uncertain = this.#carriedUncertain;
        this.#carriedCount -= resent;
        if (this.#carriedCount === 0) this.#carriedUncertain = 0;
      }
      void this.#fly(flight);
    }
  }

  /** Not ready: records wait (bounded) and go once the destination is. */
  #awaitReady(): void {
    if (this.#waitingReady) return;
    this.#waitingReady = true;
    void (this.#o.ready as ReadySignal).whenReady().then(() => {
      this.#waitingReady = false;
      // What waited for the setup goes at once, like a batch whose interval passed.
      this.#pump(true);
    });
  }

  async #fly(flight: Flight<T>): Promise<void> {
    let result: SendResult | void;
    // What goes out is on disk first: if uk dies now, the next run sends it again.
    this.#spool?.flushWrites();
    try {
      result = await this.#o.send(flight.items);
    } catch (err) {
      // A send should return its result; one that throws is retried, so a bug loses nothing.
      result = { outcome: 'retry', reason: reasonOf(err), uncertain: isUncertain(err), rejected: 0 };
    }
    if (this.#gaveUp) return;
    this.#settle(flight, result ?? { outcome: 'delivered', rejected: 0 });
  }

  /** The one place that decides what a send's result means for its records. */
  #settle(flight: Flight<T>, result: SendResult): void {
    const o = this.#o;
    if (result.outcome === 'delivered') {
      this.#stored(flight.itemsCount, result.rejected);
      this.#done(flight, true);
      return;
    }
    if (result.outcome === 'drop') {
      this.#drop(flight.itemsCount, `refused: ${result.reason}`);
      this.#done(flight, false);
      return;
    }
    if (result.items) {
      // Partial success: the items not named were stored (or refused one by one).
      const again = [...new Set(result.items)].filter((i) => Number.isInteger(i) && i >= 0 && i < flight.items.length).map((i) => flight.items[i] as T);
      let againCount = 0;
      for (const item of again) againCount += this.#queue.countOf(item);
      this.#stored(flight.itemsCount - againCount, result.rejected);
      flight.items = again;
      flight.itemsCount = againCount;
      if (again.length === 0) {
        this.#done(flight, true);
        return;
      }
      if (++flight.partial > (o.maxPartialAttempts ?? 4)) {
        (o.counters.rejected ?? o.counters.dropped).add(againCount);
        o.log.error(
          `gave up ${againCount} ${this.#noun} the destination refused ${flight.partial} times for a passing reason (${result.reason}); counted as rejected`,
        );
        this.#done(flight, false);
        return;
      }
    }
    if (result.uncertain && ++flight.uncertain >= (o.maxUncertainAttempts ?? 3)) {
      // Sending it again would only add copies if the destination stores it but cannot answer
      // in time: give it up, counted as neither sent nor lost.
      this.#unconfirmed(flight.itemsCount);
      o.log.error(
        `gave up ${flight.itemsCount} ${this.#noun} after ${flight.uncertain} attempts without an answer (${result.reason}); the destination may have stored them (counted as unconfirmed)`,
      );
      this.#done(flight, false);
      return;
    }
    flight.state = 'failed';
    this.#failing = true;
    this.#backpressure?.wake();
    o.counters.retries.add();
    // One retry timer for every batch that failed meanwhile.
    if (this.#retry.waiting) return;
    const delay = this.#retry.nextDelay(result.afterMs);
    // Say it once per distinct error, not on every retry.
    if (result.reason !== this.#lastError)
      o.log.warn(`send failed, retrying in ${(delay / 1000).toFixed(1)} s (${this.pending} ${this.#noun} waiting): ${result.reason}`);
    this.#lastError = result.reason;
    this.#retry.schedule(this.#flushWaiters.length > 0 ? Math.min(delay, FLUSH_RETRY_MS) : delay, () => this.#retryNow());
  }

  #stored(records: number, rejected: number): void {
    const refused = Math.min(Math.max(0, rejected), records);
    this.#o.counters.sent.add(records - refused);
    if (refused > 0) (this.#o.counters.rejected ?? this.#o.counters.dropped).add(refused);
  }

  #unconfirmed(count: number): void {
    (this.#o.counters.unconfirmed ?? this.#o.counters.dropped).add(count);
  }

  /** A batch is done (stored, refused or given up): later ones may leave the queue, and the next batch may go. */
  #done(flight: Flight<T>, succeeded: boolean): void {
    flight.state = 'done';
    this.#failing = this.#flights.anyFailed();
    if (succeeded && !this.#failing) {
      if (this.#retry.attempts > 0) this.#o.log.info(`delivering again after ${this.#retry.attempts} failed attempt(s)`);
      this.#retry.succeeded();
      this.#lastError = '';
    }
    const head = this.#queue.head;
    for (const landed of this.#flights.takeLanded()) this.#queue.shift(landed.length, landed.bytes, landed.count);
    if (this.#spool) {
      this.#spool.shifted(head, this.#queue.head);
      this.#spool.refill();
    }
    this.#backpressure?.wake();
    this.#pump(this.#flushWaiters.length > 0);
  }

  /** Sends the failed batches again (when the retry timer fires, or at once for a flush). */
  #retryNow(): void {
    const o = this.#o;
    this.#retry.cancel();
    if (this.#gaveUp) return;
    const only = this.#flights.takeBackOnlyFailure();
    if (only) {
      // The only batch: take it again, with what was queued meanwhile (one batch, not two). Its
      // records keep the count of attempts whose outcome is unknown.
      this.#carriedUncertain = only.uncertain;
      this.#carriedCount = only.uncertain > 0 ? only.count : 0;
    }
    for (const f of this.#flights) {
      if (f.state !== 'failed') continue;
      f.state = 'sending';
      f.started = o.timers.clock.monotonic();
      if (f.uncertain > 0) o.counters.resent?.add(f.itemsCount);
      void this.#fly(f);
    }
    this.#pump(true);
  }

  #resolveFlush(): void {
    const waiters = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Sends everything queued now; resolves when the queue is empty. */
  flush(): Promise<void> {
    if (this.#queue.count === 0 && this.#flights.length === 0 && this.spooled === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#flushWaiters.push(resolve));
    // A retry waiting out its backoff goes now: a flush (at shutdown) must not sit it out.
    if (this.#retry.waiting) this.#retryNow();
    else this.#pump(true);
    return done;
  }

  /**
   * Stops taking records and flushes until the kernel's deadline (`{ deadline, signal }`, or a
   * number of ms from now); whatever is still queued then is counted and reported.
   */
  async close(options: CloseOptions | number): Promise<void> {
    const now = this.#o.timers.clock.monotonic();
    const { deadline, signal } = typeof options === 'number' ? { deadline: now + options, signal: undefined } : options;
    this.#closed = true;
    this.#backpressure?.release();
    let timer: TimerHandle | undefined;
    let onAbort: (() => void) | undefined;
    const cut = new Promise<'deadline' | 'aborted'>((resolve) => {
      timer = this.#o.timers.oneShot(Math.max(0, deadline - now), () => resolve('deadline'));
      if (signal?.aborted) resolve('aborted');
      onAbort = () => resolve('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    const outcome = await Promise.race([this.flush().then(() => 'flushed' as const), cut]);
    timer?.cancel();
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    this.#drops.finish('buffer full');
    if (outcome !== 'flushed' && (this.pending > 0 || this.spooled > 0))
      this.#abandon(outcome === 'deadline' ? 'shutdown deadline passed' : 'shutdown cut short');
    this.#closeSpool();
    this.#backpressure?.release();
  }

  /** Closes the spool (its lock given back); records it keeps for the next run are counted as kept. */
  #closeSpool(): number {
    const spool = this.#spool;
    if (!spool) return 0;
    const kept = spool.close();
    if (kept > 0) {
      this.#o.spool?.counters.kept.add(kept);
      this.#o.log.warn(`kept ${kept} ${this.#noun} in the spool at ${this.#o.spool?.store.dir}; the next run with this configuration delivers them`);
    }
    return kept;
  }

  /**
   * Gives up every record still waiting, for good: records never acknowledged are counted as
   * dropped, records out in a request with no answer yet (or whose earlier attempt had none) as
   * unconfirmed; no more retries, the memory back, each item released, and every flush() waiter
   * released. Returns the records given up.
   */
  #abandon(why: string): number {
    const o = this.#o;
    let settled = 0;
    let unconfirmed = this.#carriedCount;
    for (const f of this.#flights) {
      // Records a destination already answered for (stored, refused) are counted: not lost.
      settled += f.state === 'done' ? f.count : f.count - f.itemsCount;
      // Out in a request with no answer yet: the destination may store them.
      if (f.state === 'sending' || (f.state === 'failed' && f.uncertain > 0)) unconfirmed += f.itemsCount;
    }
    const left = this.pending - settled;
    // Records that are in the spool too are not lost: the next run delivers them.
    const kept = this.#spool ? Math.max(0, Math.min(left, this.#recordsBelow(this.#spool.boundary) - settled)) : 0;
    // Without an unconfirmed counter the klib counts them all as dropped.
    unconfirmed = o.counters.unconfirmed ? Math.min(unconfirmed, left - kept) : 0;
    const dropped = left - kept - unconfirmed;
    if (kept > 0) o.spool?.counters.kept.add(kept);
    if (left - kept > 0) {
      o.counters.dropped.add(dropped);
      o.counters.unconfirmed?.add(unconfirmed);
      const parts = [`dropped ${dropped} ${this.#noun} that could not be sent${this.#lastError ? ` (${this.#lastError})` : ''}`];
      if (unconfirmed > 0) parts.push(`${unconfirmed} more were sent without an answer (counted as unconfirmed: the destination may have stored them)`);
      o.log.error(`${why}: ${parts.join('; ')}`);
    }
    if (kept > 0) o.log.warn(`${why}: ${kept} ${this.#noun} not yet acknowledged stay in the spool for the next run (counted as spool_kept)`);
    this.#gaveUp = true;
    this.#retry.cancel();
    this.#timer?.cancel();
    this.#queue.clear();
    this.#flights.clear(this.#queue.head);
    this.#carriedCount = 0;
    this.#resolveFlush();
    return left;
  }

  /** Records in the queue from its head up to `position`. */
  #recordsBelow(position: number): number {
    const q = this.#queue;
    let n = 0;
    for (let p = q.head; p < Math.min(position, q.end); p++) n += q.countOf(q.at(p));
    return n;
  }

  /**
   * uk exits now (a second signal during shutdown): every record still waiting is given up and
   * counted, and reported through the klib's log (records in the spool stay there for the next
   * run). Returns how many.
   */
  abandon(why: string): number {
    if (this.#gaveUp) return 0;
    this.#closed = true;
    const left = this.pending > 0 ? this.#abandon(why) : 0;
    this.#closeSpool();
    return left;
  }

  /** True while the program's output should not be read (backpressure). */
  shouldPause(): boolean {
    return this.#backpressure?.shouldPause() ?? false;
  }

  /** Resolves when reading may go on. */
  drain(): Promise<void> {
    return this.#backpressure?.drain() ?? Promise.resolve();
  }
}
