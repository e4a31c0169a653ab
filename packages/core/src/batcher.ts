/**
 * The one batching and retry mechanism every shipping klib uses.
 *
 * Records wait in a bounded heap; when it is full, new records are dropped, counted, and reported
 * once per interval (never silently, never one message per record). Batches respect the
 * destination's limits (items, bytes with a per-item overhead, and any rule the klib adds, such as
 * CloudWatch's 24-hour span) and go out when full or `flushIntervalMs` after the first record.
 * One batch is in flight at a time, so order is kept, unless the klib allows more
 * (`maxInFlight`) and says which batches may overlap (`canOverlap`: CloudWatch Logs orders events
 * by their timestamps, so a batch whose events are all later than the one in flight may go at
 * once). Records leave the queue, in order, once every batch before them has been sent. A failed
 * send is retried with exponential backoff and jitter (at most `DELIVERY_BACKOFF.max`, 30 s, between
 * attempts, so records get through at most that long after the destination is healthy again),
 * the same batch again, and no new batch starts meanwhile; an error marked `retryable: false`
 * drops that batch and counts it. An error marked `uncertain: true` (a timeout or a reset after
 * the request went out) means the destination may have stored the batch: the records sent again
 * are counted as `resent` (possible duplicates), and after `maxUncertainAttempts` such attempts
 * the batch is given up and counted as `unconfirmed`. `flush()` sends everything, running a
 * pending retry at once; `close()` flushes within a deadline, retrying at most a second apart,
 * and counts whatever is left: records never acknowledged as `dropped`, records whose last
 * attempt has no answer yet as `unconfirmed`. See docs/delivery.md.
 *
 * Backpressure (optional): while the destination works but is behind (a burst larger than it
 * takes at once), `shouldPause()` turns true at the high-water mark and false again at the low
 * one; the console then stops reading the program's output, so the program waits on its write as
 * on a slow terminal instead of records being dropped. While the destination is failing, not
 * ready, or a send has made no progress for `stallMs`, it never pauses: the buffer fills, then
 * drops and counts, and an outage never holds the program up.
 */
import { reasonOf } from './errors.js';
import type { Heap, RecordHolder } from './heap.js';
import type { KlibLog } from './klib.js';
import type { Counter } from './stats.js';
import { Backoff, type BackoffOptions, type TimerHandle, type Timers } from './timers.js';

/**
 * Delivery retries: 1 s doubling to 30 s with 50% jitter. The cap bounds how long records wait
 * after the destination is healthy again (Vector and the OpenTelemetry Collector cap at 30 s too).
 */
export const DELIVERY_BACKOFF: BackoffOptions = Object.freeze({ initial: 1000, max: 30_000, factor: 2, jitter: 0.5 });

/** While flushing (at shutdown), a failed batch is retried at most this long after it failed. */
const FLUSH_RETRY_MS = 1000;

/** True for a send error after which the destination may have stored the batch anyway. */
export function isUncertain(err: unknown): boolean {
  return (err as { uncertain?: unknown } | null)?.uncertain === true;
}

export interface SendOutcome {
  /** Records the destination refused individually (counted as rejected, not retried). */
  readonly rejected?: number;
}

export interface BatcherOptions<T> {
  /** Klib name, for messages: `syslog: dropped 12 records …`. */
  readonly name: string;
  /** What a record is called in messages: records, events, entries. */
  readonly noun?: string;
  readonly heap: Heap;
  readonly timers: Timers;
  readonly log: KlibLog;
  /** Bytes a record takes in the heap and in a batch. */
  sizeOf(item: T): number;
  /**
   * Records an item stands for (default 1): a klib that queues records already encoded in blocks
   * counts each block as its records, for `maxBatchItems`, the counters and the messages.
   */
  countOf?(item: T): number;
  readonly maxBatchItems: number;
  readonly maxBatchBytes: number;
  /** Extra bytes each record counts for in a batch (CloudWatch counts 26). */
  readonly itemOverheadBytes?: number;
  /** A batch leaves this long after its first record arrived, if it has not filled up before. */
  readonly flushIntervalMs: number;
  /** Further rule: may `next` join `batch`? (e.g. time span). */
  canJoin?(batch: readonly T[], next: T): boolean;
  /** Batches that may be in flight at once (default 1: each waits for the one before). */
  readonly maxInFlight?: number;
  /** With maxInFlight > 1: may `next` be sent while `previous`, the batch just before it, is in flight? (default: yes) */
  canOverlap?(previous: readonly T[], next: readonly T[]): boolean;
  /**
   * A batch ended by a limit, with `next` the item after it: how many of its items to send now
   * (at least 1; the rest start the next batch). CloudWatch ends a batch where the timestamp
   * changes, so that the next batch may overlap it. Default: all of them.
   */
  trimFull?(batch: readonly T[], next: T): number;
  /**
   * Sends one batch; throw to retry (or throw an error with `retryable: false` to drop it). Mark
   * the error `uncertain: true` when the request may have been carried out (it timed out, or the
   * connection broke after it was sent): the resend is then counted as possible duplicates.
   */
  send(batch: T[]): Promise<SendOutcome | void>;
  /** Retry backoff; default `DELIVERY_BACKOFF` (1 s doubling to 30 s, 50% jitter). */
  readonly backoff?: BackoffOptions;
  /**
   * False while the destination is not set up yet (a klib's `send` then waits for it before it
   * sends anything): a batch still in `send` at the close deadline then never left, and counts as
   * dropped rather than unconfirmed. Default: always ready.
   */
  ready?(): boolean;
  /** Attempts of one batch whose outcome is unknown before it is given up as unconfirmed (default 3). */
  readonly maxUncertainAttempts?: number;
  /**
   * Counters shown to the operator. `resent`: records sent again after an attempt whose outcome
   * was unknown (an upper bound of the duplicates). `unconfirmed`: records given up while the
   * destination may or may not have stored them.
   */
  readonly counters: { sent: Counter; dropped: Counter; retries: Counter; rejected?: Counter; failed?: Counter; resent?: Counter; unconfirmed?: Counter };
  /** Minimum time between two "dropped" reports, ms (default 10 s). */
  readonly dropReportIntervalMs?: number;
  /** Pause the program's output while the destination is merely behind (see above). */
  readonly backpressure?: BackpressureOptions;
}

export interface BackpressureOptions {
  /** Pause at this many queued bytes (default: half the heap). */
  readonly highWaterBytes?: number;
  /** Read on once the queue is down to this (default: a quarter of the heap). */
  readonly lowWaterBytes?: number;
  /** A send making no progress this long no longer holds the program back, ms (default 5000). */
  readonly stallMs?: number;
  /** False while the destination cannot work yet (setup not done): never pause then. */
  ready?(): boolean;
}

/** A batch taken from the head of the queue: its items, their bytes and the records they stand for. */
interface Taken<T> {
  readonly batch: T[];
  readonly bytes: number;
  readonly count: number;
}

/** A batch handed to `send`: sending, failed (waiting for its retry) or done (sent or refused). */
interface Flight<T> {
  readonly taken: Taken<T>;
  state: 'sending' | 'failed' | 'done';
  started: number;
  /** Attempts of this batch whose outcome is unknown (the destination may have stored it). */
  uncertain: number;
}

export class Batcher<T> implements RecordHolder {
  readonly #o: BatcherOptions<T>;
  readonly #backoff: Backoff;
  #queue: T[] = [];
  #head = 0;
  #queuedBytes = 0;
  #queuedCount = 0;
  /** Batches handed to `send` and not yet left the queue, in queue order from #head. */
  #flights: Flight<T>[] = [];
  /** Queue index after the last record in a flight: the next batch starts here. */
  #sendHead = 0;
  #flightBytes = 0;
  #flightCount = 0;
  #waitingRetry = false;
  #retryTimer: TimerHandle | undefined;
  /** Unknown-outcome attempts carried over when the only failed batch is taken again, grown. */
  #carriedUncertain = 0;
  #carriedCount = 0;
  #timer: TimerHandle | undefined;
  #dueAt = 0;
  #flushWaiters: (() => void)[] = [];
  #closed = false;
  #dropsUnreported = 0;
  #dropReportTimer: TimerHandle | undefined;
  #lastError = '';
  #failing = false;
  #paused = false;
  #drainWaiters: (() => void)[] = [];
  #drainRecheck: TimerHandle | undefined;
  #gaveUp = false;
  /** Times the program's output was paused for this batcher. */
  pauses = 0;

  constructor(options: BatcherOptions<T>) {
    this.#o = options;
    this.#backoff = new Backoff(options.backoff ?? DELIVERY_BACKOFF);
    options.heap.holdsRecords(this);
  }

  /** Records waiting (not yet acknowledged). */
  get pending(): number {
    return this.#queuedCount;
  }

  get #isEmpty(): boolean {
    return this.#head === this.#queue.length;
  }

  /** Nothing queued that is not already in a flight. */
  get #allSent(): boolean {
    return this.#sendHead === this.#queue.length;
  }

  get pendingBytes(): number {
    return this.#queuedBytes;
  }

  /** Queues a record; false if the buffer was full and it was dropped (and counted). */
  push(item: T): boolean {
    const size = this.#o.sizeOf(item);
    const count = this.#o.countOf ? this.#o.countOf(item) : 1;
    if (this.#closed || !this.#o.heap.allocate(size)) {
      this.#drop(count, this.#closed ? 'after shutdown' : `buffer full: ${this.#o.heap.capacity} bytes`);
      return false;
    }
    this.#queue.push(item);
    this.#queuedBytes += size;
    this.#queuedCount += count;
    if (this.pending >= this.#o.maxBatchItems || this.#queuedBytes >= this.#o.maxBatchBytes) this.#pump();
    else this.#arm();
    return true;
  }

  #arm(): void {
    if (this.#timer || this.#flights.length >= (this.#o.maxInFlight ?? 1) || this.#waitingRetry || this.#allSent) return;
    this.#dueAt = this.#o.timers.clock.monotonic() + this.#o.flushIntervalMs;
    this.#timer = this.#o.timers.oneShot(this.#o.flushIntervalMs, () => {
      this.#timer = undefined;
      this.#pump(true);
    });
  }

  #drop(count: number, why: string): void {
    this.#o.counters.dropped.add(count);
    this.#dropsUnreported += count;
    if (this.#dropReportTimer) return;
    // Later drops within the interval are summed into one message. The timer is set before the
    // report so that a drop caused by the report itself (a driver that receives uk's own
    // messages) is summed too instead of printing a second report at once.
    this.#dropReportTimer = this.#o.timers.oneShot(this.#o.dropReportIntervalMs ?? 10_000, () => {
      this.#dropReportTimer = undefined;
      if (this.#dropsUnreported > 0) this.#reportDrops(why);
    });
    this.#reportDrops(why);
  }

  #reportDrops(why: string): void {
    const total = this.#o.counters.dropped.value;
    this.#o.log.error(`dropped ${this.#dropsUnreported} ${this.#o.noun ?? 'records'} (${why}; ${total} dropped in all)`);
    this.#dropsUnreported = 0;
  }

  /** The next batch from the first record not in a flight, within every limit. */
  #takeBatch(): Taken<T> {
    const o = this.#o;
    const overhead = o.itemOverheadBytes ?? 0;
    const batch: T[] = [];
    let bytes = 0;
    let batchBytes = 0;
    let count = 0;
    let i = this.#sendHead;
    for (; i < this.#queue.length && count < o.maxBatchItems; i++) {
      const item = this.#queue[i] as T;
      const size = o.sizeOf(item);
      const n = o.countOf ? o.countOf(item) : 1;
      if (batch.length > 0 && (count + n > o.maxBatchItems || batchBytes + size + overhead > o.maxBatchBytes || (o.canJoin && !o.canJoin(batch, item)))) break;
      batch.push(item);
      bytes += size;
      batchBytes += size + overhead;
      count += n;
    }
    if (o.trimFull && i < this.#queue.length) {
      const keep = Math.max(1, Math.min(batch.length, o.trimFull(batch, this.#queue[i] as T)));
      for (const item of batch.splice(keep)) {
        bytes -= o.sizeOf(item);
        count -= o.countOf ? o.countOf(item) : 1;
      }
    }
    return { batch, bytes, count };
  }

  #consume({ batch, bytes, count }: Taken<T>): void {
    this.#head += batch.length;
    this.#queuedBytes -= bytes;
    this.#queuedCount -= count;
    this.#o.heap.free(bytes);
    // Compact now and then instead of shifting on every batch.
    if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#sendHead -= this.#head;
      this.#head = 0;
    }
  }

  /** Sends batches while there is a full one, the interval passed, or a flush was asked for. */
  #pump(due = false): void {
    const o = this.#o;
    if (this.#waitingRetry || this.#gaveUp) return;
    for (;;) {
      if (this.#allSent) {
        if (this.#flights.length === 0) this.#resolveFlush();
        return;
      }
      if (this.#flights.length >= (o.maxInFlight ?? 1)) return;
      const now = o.timers.clock.monotonic();
      const ready = due || this.#flushWaiters.length > 0 || this.#queuedCount - this.#flightCount >= o.maxBatchItems || this.#queuedBytes - this.#flightBytes >= o.maxBatchBytes || (this.#dueAt > 0 && now >= this.#dueAt);
      if (!ready) {
        this.#arm();
        return;
      }
      const taken = this.#takeBatch();
      const previous = this.#flights[this.#flights.length - 1];
      // Not allowed to overlap: it goes when the one before has been sent.
      if (previous && o.canOverlap && !o.canOverlap(previous.taken.batch, taken.batch)) return;
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#dueAt = 0;
      due = false;
      const flight: Flight<T> = { taken, state: 'sending', started: now, uncertain: 0 };
      if (this.#carriedCount > 0) {
        // Records of a batch retaken after an attempt with no answer: this is a resend.
        const resent = Math.min(this.#carriedCount, taken.count);
        o.counters.resent?.add(resent);
        flight.uncertain = this.#carriedUncertain;
        this.#carriedCount -= resent;
        if (this.#carriedCount === 0) this.#carriedUncertain = 0;
      }
      this.#flights.push(flight);
      this.#sendHead += taken.batch.length;
      this.#flightBytes += taken.bytes;
      this.#flightCount += taken.count;
      void this.#fly(flight);
    }
  }

  async #fly(flight: Flight<T>): Promise<void> {
    const o = this.#o;
    const { batch, count } = flight.taken;
    try {
      const outcome = await o.send(batch);
      if (this.#gaveUp) return;
      flight.state = 'done';
      this.#failing = this.#flights.some((f) => f.state === 'failed');
      const rejected = outcome?.rejected ?? 0;
      o.counters.sent.add(count - rejected);
      if (rejected > 0) o.counters.rejected?.add(rejected);
      if (!this.#failing) {
        if (this.#backoff.attempts > 0) o.log.info(`delivering again after ${this.#backoff.attempts} failed attempt(s)`);
        this.#backoff.reset();
        this.#lastError = '';
      }
      this.#land();
      this.#pump(this.#flushWaiters.length > 0 || this.#queuedCount - this.#flightCount >= o.maxBatchItems);
    } catch (err) {
      if (this.#gaveUp) return;
      if ((err as { retryable?: unknown })?.retryable === false) {
        flight.state = 'done';
        o.counters.failed?.add(count);
        this.#drop(count, `refused: ${reasonOf(err)}`);
        this.#afterDone();
        return;
      }
      const reason = reasonOf(err);
      if (isUncertain(err) && ++flight.uncertain >= (o.maxUncertainAttempts ?? 3)) {
        // Sending it again would only add copies if the destination stores it but cannot answer
        // in time: give it up, counted as neither sent nor lost.
        flight.state = 'done';
        this.#unconfirmed(count);
        o.log.error(`gave up ${count} ${o.noun ?? 'records'} after ${flight.uncertain} attempts without an answer (${reason}); the destination may have stored them (counted as unconfirmed)`);
        this.#afterDone();
        return;
      }
      flight.state = 'failed';
      this.#failing = true;
      this.#wakeDrainers();
      o.counters.retries.add();
      // One retry timer for every batch that failed meanwhile.
      if (this.#waitingRetry) return;
      const delay = this.#backoff.next();
      // Say it once per distinct error, not on every retry.
      if (reason !== this.#lastError) o.log.warn(`send failed, retrying in ${(delay / 1000).toFixed(1)} s (${this.pending} ${o.noun ?? 'records'} waiting): ${reason}`);
      this.#lastError = reason;
      this.#waitingRetry = true;
      this.#retryTimer = o.timers.oneShot(this.#flushWaiters.length > 0 ? Math.min(delay, FLUSH_RETRY_MS) : delay, () => this.#retryNow());
    }
  }

  /** A batch refused or given up: later ones may leave the queue, and the next batch may go. */
  #afterDone(): void {
    this.#failing = this.#flights.some((f) => f.state === 'failed');
    this.#land();
    this.#pump(this.#flushWaiters.length > 0);
  }

  #unconfirmed(count: number): void {
    if (this.#o.counters.unconfirmed) this.#o.counters.unconfirmed.add(count);
    else this.#o.counters.dropped.add(count);
  }

  /** Sends the failed batches again (when the retry timer fires, or at once for a flush). */
  #retryNow(): void {
    const o = this.#o;
    this.#retryTimer?.cancel();
    this.#retryTimer = undefined;
    this.#waitingRetry = false;
    if (this.#gaveUp) return;
    const only = this.#flights.length === 1 ? this.#flights[0] : undefined;
    if (only?.state === 'failed') {
      // The only batch: take it again, with what was queued meanwhile (one batch, not two). Its
      // records keep the count of attempts whose outcome is unknown.
      this.#carriedUncertain = only.uncertain;
      this.#carriedCount = only.uncertain > 0 ? only.taken.count : 0;
      this.#flights = [];
      this.#sendHead = this.#head;
      this.#flightBytes = 0;
      this.#flightCount = 0;
    }
    for (const f of this.#flights) {
      if (f.state !== 'failed') continue;
      f.state = 'sending';
      f.started = o.timers.clock.monotonic();
      if (f.uncertain > 0) o.counters.resent?.add(f.taken.count);
      void this.#fly(f);
    }
    this.#pump(true);
  }

  /** Lets the leading batches that are done leave the queue, and frees their memory. */
  #land(): void {
    while (this.#flights.length > 0 && (this.#flights[0] as Flight<T>).state === 'done') {
      const { taken } = this.#flights.shift() as Flight<T>;
      this.#flightBytes -= taken.bytes;
      this.#flightCount -= taken.count;
      this.#consume(taken);
    }
    this.#wakeDrainers();
  }

  #resolveFlush(): void {
    const waiters = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Sends everything queued now; resolves when the queue is empty. */
  flush(): Promise<void> {
    if (this.#isEmpty && this.#flights.length === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#flushWaiters.push(resolve));
    // A retry waiting out its backoff goes now: a flush (at shutdown) must not sit it out.
    if (this.#waitingRetry) this.#retryNow();
    else this.#pump(true);
    return done;
  }

  /**
   * Stops taking records and flushes for at most `deadlineMs`; whatever is still queued then is
   * counted as dropped and reported.
   */
  async close(deadlineMs: number): Promise<void> {
    this.#closed = true;
    this.#releaseDrainers();
    let timer: TimerHandle | undefined;
    const deadline = new Promise<'deadline'>((resolve) => (timer = this.#o.timers.oneShot(deadlineMs, () => resolve('deadline'))));
    const outcome = await Promise.race([this.flush().then(() => 'flushed' as const), deadline]);
    timer?.cancel();
    this.#dropReportTimer?.cancel();
    if (this.#dropsUnreported > 0) this.#reportDrops('buffer full');
    if (outcome === 'deadline' && this.pending > 0) this.#abandon(`shutdown deadline passed`);
    this.#releaseDrainers();
  }

  /**
   * Gives up every record still waiting, for good: records never acknowledged are counted as
   * dropped, records out in a request with no answer yet (or whose earlier attempt had none) as
   * unconfirmed; no more retries, the memory back, and every flush() waiter released. Returns
   * the records given up.
   */
  #abandon(why: string): number {
    const o = this.#o;
    let acknowledged = 0;
    let unconfirmed = this.#carriedCount;
    // A send still waiting for the destination's setup has not gone out.
    const mayBeOut = o.ready?.() ?? true;
    for (const f of this.#flights) {
      // Sent and acknowledged, waiting only for an earlier batch to leave the queue: not lost.
      if (f.state === 'done') acknowledged += f.taken.count;
      else if ((f.state === 'sending' && mayBeOut) || f.uncertain > 0) unconfirmed += f.taken.count;
    }
    const left = this.pending - acknowledged;
    // Without an unconfirmed counter the klib counts them all as dropped.
    unconfirmed = o.counters.unconfirmed ? Math.min(unconfirmed, left) : 0;
    const dropped = left - unconfirmed;
    if (left > 0) {
      o.counters.dropped.add(dropped);
      o.counters.unconfirmed?.add(unconfirmed);
      const noun = o.noun ?? 'records';
      const parts = [`dropped ${dropped} ${noun} that could not be sent${this.#lastError ? ` (${this.#lastError})` : ''}`];
      if (unconfirmed > 0) parts.push(`${unconfirmed} more were sent without an answer (counted as unconfirmed: the destination may have stored them)`);
      o.log.error(`${why}: ${parts.join('; ')}`);
    }
    this.#gaveUp = true;
    this.#retryTimer?.cancel();
    this.#timer?.cancel();
    this.#o.heap.free(this.#queuedBytes);
    this.#queue = [];
    this.#head = 0;
    this.#sendHead = 0;
    this.#flights = [];
    this.#flightBytes = 0;
    this.#flightCount = 0;
    this.#queuedBytes = 0;
    this.#queuedCount = 0;
    this.#carriedCount = 0;
    this.#resolveFlush();
    return left;
  }

  /**
   * uk exits now (a second signal during shutdown): every record still waiting is given up and
   * counted, and reported through the klib's log. Returns how many.
   */
  abandon(why: string): number {
    if (this.#gaveUp) return 0;
    this.#closed = true;
    return this.pending > 0 ? this.#abandon(why) : 0;
  }

  /** True while the program's output should not be read (backpressure; see the file comment). */
  shouldPause(): boolean {
    const bp = this.#o.backpressure;
    if (!bp || this.#closed || this.#failing || (bp.ready && !bp.ready())) return (this.#paused = false);
    const oldest = this.#flights[0];
    if (oldest?.state === 'sending' && this.#o.timers.clock.monotonic() - oldest.started >= (bp.stallMs ?? 5000)) return (this.#paused = false);
    const high = bp.highWaterBytes ?? Math.floor(this.#o.heap.capacity / 2);
    const low = bp.lowWaterBytes ?? Math.floor(this.#o.heap.capacity / 4);
    const was = this.#paused;
    // Hysteresis: pause at the high mark, read on only at the low one.
    this.#paused = was ? this.#queuedBytes > low : this.#queuedBytes >= high;
    if (this.#paused && !was) this.pauses++;
    return this.#paused;
  }

  /** Resolves when reading may go on. */
  drain(): Promise<void> {
    if (!this.shouldPause()) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    this.#armDrainRecheck();
    return done;
  }

  /** Looks again now and then even if no send completes (a stuck send, a setup that failed). */
  #armDrainRecheck(): void {
    if (this.#drainRecheck) return;
    this.#drainRecheck = this.#o.timers.oneShot(Math.min(this.#o.backpressure?.stallMs ?? 5000, 250), () => {
      this.#drainRecheck = undefined;
      this.#wakeDrainers();
      if (this.#drainWaiters.length > 0) this.#armDrainRecheck();
    });
  }

  #wakeDrainers(): void {
    if (this.#drainWaiters.length === 0 || this.shouldPause()) return;
    this.#releaseDrainers();
  }

  #releaseDrainers(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    this.#drainRecheck?.cancel();
    this.#drainRecheck = undefined;
    for (const resolve of waiters) resolve();
  }
}
