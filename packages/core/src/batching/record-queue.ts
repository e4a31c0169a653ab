/**
 * The Batcher's queue and its budget: records in arrival order, their bytes taken from a bounded
 * heap, and the records each item stands for. Items are addressed by absolute position (the
 * number of items pushed before them), so positions held elsewhere (batches in flight) stay valid
 * when the front of the array is compacted away. The `release` hook runs exactly once per item:
 * when it leaves the queue, when the queue is cleared, or when it could not be queued at all. It
 * gets runs of consecutive items (a klib whose items are slices of one buffer frees a run at once).
 */
import type { Heap } from '../heap.js';

export interface QueueItems<T> {
  sizeOf(item: T): number;
  /** Records an item stands for (default 1). */
  countOf?(item: T): number;
  /** The items are done with (sent, refused or given up): each item is in exactly one call, runs in queue order. */
  release?(items: readonly T[]): void;
}

/** Compact the array once this many items have left it, and they are at least half of it. */
const COMPACT_AFTER = 4096;

export class RecordQueue<T> {
  readonly #heap: Heap;
  readonly #items: QueueItems<T>;
  #array: T[] = [];
  /** Absolute position of #array[0]. */
  #offset = 0;
  /** Absolute position of the first item still queued. */
  #head = 0;
  #bytes = 0;
  #count = 0;

  constructor(heap: Heap, items: QueueItems<T>) {
    this.#heap = heap;
    this.#items = items;
  }

  /** Records queued (an item may stand for several). */
  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Absolute position of the first queued item. */
  get head(): number {
    return this.#head;
  }

  /** Absolute position after the last queued item. */
  get end(): number {
    return this.#offset + this.#array.length;
  }

  get capacity(): number {
    return this.#heap.capacity;
  }

  at(position: number): T {
    return this.#array[position - this.#offset] as T;
  }

  sizeOf(item: T): number {
    return this.#items.sizeOf(item);
  }

  countOf(item: T): number {
    return this.#items.countOf ? this.#items.countOf(item) : 1;
  }

  /** Takes the item's bytes from the heap and queues it; false (item released) if the heap is full. */
  push(item: T, size: number, count: number): boolean {
    if (!this.#heap.allocate(size)) {
      this.#items.release?.([item]);
      return false;
    }
    this.#array.push(item);
    this.#bytes += size;
    this.#count += count;
    return true;
  }

  /** Refuses an item without queueing it (after shutdown): released, like any item. */
  refuse(item: T): void {
    this.#items.release?.([item]);
  }

  /** The first `length` queued items leave the queue: their memory goes back, each is released. */
  shift(length: number, bytes: number, count: number): void {
    const items = this.#items;
    const from = this.#head - this.#offset;
    if (items.release && length > 0) items.release(this.#array.slice(from, from + length));
    this.#head += length;
    this.#bytes -= bytes;
    this.#count -= count;
    this.#heap.free(bytes);
    const gone = this.#head - this.#offset;
    if (gone > COMPACT_AFTER && gone * 2 > this.#array.length) {
      this.#array = this.#array.slice(gone);
      this.#offset = this.#head;
    }
  }

  /** Every queued item leaves: memory back, each released. Returns the records that were queued. */
  clear(): number {
    const count = this.#count;
    const items = this.#items;
    if (items.release && this.#head < this.end) items.release(this.#array.slice(this.#head - this.#offset));
    this.#heap.free(this.#bytes);
    this.#offset = this.end;
    this.#head = this.#offset;
    this.#array = [];
    this.#bytes = 0;
    this.#count = 0;
    return count;
  }
}
