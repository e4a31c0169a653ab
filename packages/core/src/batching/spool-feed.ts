/**
 * The Batcher's side of the disk spool (spool/spool.ts): every record is appended to the spool
 * before it counts as accepted; it also goes to the memory queue while the spool's reader is
 * caught up and the heap has room, otherwise it waits on disk only and is read back (decoded by
 * the klib's codec) as memory frees up, so memory stays bounded however long an outage lasts.
 * Records leaving the queue acknowledge their frames, in order; the spool removes a segment once
 * all its records are acknowledged.
 *
 * Queue positions below `boundary` hold spooled items. When a write fails the spool stops, the
 * boundary is the queue's end at that moment, and later records are in memory only; what the
 * spool holds on disk then waits for the next run.
 */
import type { Heap } from '../heap.js';
import type { BatcherSpool } from '../spool/destinations.js';
import type { RecordQueue } from './record-queue.js';

export type SpoolPush =
  /** Spooled, and to be queued in memory too. */
  | 'memory'
  /** Spooled, waiting on disk only (the item can be released). */
  | 'disk'
  /** The spool is full and drops new records. */
  | 'full'
  /** The spool no longer writes: queue the item in memory as without a spool. */
  | 'failed';

export class SpoolFeed<T> {
  readonly #spool: BatcherSpool<T>;
  readonly #queue: RecordQueue<T>;
  readonly #heap: Heap;
  readonly #lost: (count: number, why: string) => void;
  /** Queue position after the last spooled item (infinite while the spool writes). */
  #boundary = Number.POSITIVE_INFINITY;
  /** Frames skipped while reading back (damaged, too large), acknowledged once the queue's head reaches `position`. */
  #skipped: { position: number; frames: number }[] = [];
  #closed = false;

  constructor(spool: BatcherSpool<T>, queue: RecordQueue<T>, heap: Heap, lost: (count: number, why: string) => void) {
    this.#spool = spool;
    this.#queue = queue;
    this.#heap = heap;
    this.#lost = lost;
    spool.store.onFailure((count) => {
      this.#boundary = queue.end;
      if (count > 0) lost(count, 'the spool could not be written');
    });
  }

  get writing(): boolean {
    return !this.#closed && !this.#spool.store.failed;
  }

  /** Queue position after the last spooled item. */
  get boundary(): number {
    return Math.min(this.#boundary, this.#queue.end);
  }

  /** Records waiting on disk only. */
  get backlog(): number {
    return this.writing ? this.#spool.store.backlogRecords : 0;
  }

  push(item: T, size: number, count: number): SpoolPush {
    const store = this.#spool.store;
    if (!this.writing) return 'failed';
    const toMemory = store.caughtUp && this.#heap.available >= size;
    const result = store.append(this.#spool.codec.encode(item), count, toMemory);
    if (result.lost > 0) this.#lost(result.lost, 'spool full: the oldest records were dropped');
    if (result.status !== 'ok') return result.status;
    return result.read ? 'memory' : 'disk';
  }

  /** The queue's head moved from `before` to `after`: those items' frames are acknowledged. */
  shifted(before: number, after: number): void {
    const end = this.#boundary;
    const items = Math.max(0, Math.min(after, end) - Math.min(before, end));
    let frames = items;
    while (this.#skipped.length > 0 && (this.#skipped[0] as { position: number }).position <= after)
      frames += (this.#skipped.shift() as { frames: number }).frames;
    if (frames > 0) this.#spool.store.ack(frames);
  }

  /** Writes buffered frames to the file (before a batch is sent: what is in flight is on disk). */
  flushWrites(): void {
    if (this.writing) this.#spool.store.flushWrites();
  }

  /** Reads records back from disk into the queue while the heap has room; returns the items queued. */
  refill(): number {
    const store = this.#spool.store;
    const queue = this.#queue;
    let added = 0;
    while (this.writing && !store.caughtUp) {
      const record = store.next();
      if (!record) break;
      const item = this.#spool.codec.decode(record.payload);
      if (item === undefined) {
        this.#spool.counters.corruptBytes.add(record.payload.length);
        this.#skip(record.records, 'a spooled record could not be decoded');
        continue;
      }
      const size = queue.sizeOf(item);
      const count = queue.countOf(item);
      if (size > this.#heap.capacity) {
        queue.refuse(item);
        this.#skip(count, `a spooled record is larger than the buffer (${this.#heap.capacity} bytes)`);
        continue;
      }
      if (this.#heap.available < size) {
        // No room yet: it is read again once records leave the queue.
        queue.refuse(item);
        break;
      }
      queue.push(item, size, count);
      store.advance();
      if (record.replay) this.#spool.counters.replayed.add(count);
      added++;
    }
    return added;
  }

  #skip(records: number, why: string): void {
    this.#spool.store.advance();
    this.#lost(records, why);
    this.#skipped.push({ position: this.#queue.end, frames: 1 });
    this.shifted(this.#queue.head, this.#queue.head);
  }

  /** Closes the spool; returns the records it keeps on disk without a copy in memory. */
  close(): number {
    if (this.#closed) return 0;
    this.#closed = true;
    return this.#spool.store.close();
  }
}
