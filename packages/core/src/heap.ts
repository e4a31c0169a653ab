/**
 * Heaps as pools: a byte budget with accounting. A klib keeps its pending records in a heap of its
 * own; when the budget is spent, allocation fails and the caller drops and counts instead of
 * growing memory.
 */

export interface HeapStats {
  readonly name: string;
  readonly capacity: number;
  readonly allocated: number;
  readonly peak: number;
  /** Allocations refused because the budget was spent. */
  readonly failures: number;
}

/** Something that keeps records in a heap (a `Batcher`). */
export interface RecordHolder {
  readonly pending: number;
  /** Gives up every record it holds, counting them; returns how many. */
  abandon(why: string): number;
}

export class Heap {
  readonly name: string;
  readonly capacity: number;
  #allocated = 0;
  #peak = 0;
  #failures = 0;
  #holders: RecordHolder[] = [];

  constructor(name: string, capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0)
      throw new RangeError(`heap ${name}: capacity must be a positive whole number of bytes, got ${capacity}`);
    this.name = name;
    this.capacity = capacity;
  }

  get allocated(): number {
    return this.#allocated;
  }

  get available(): number {
    return this.capacity - this.#allocated;
  }

  /** Takes `bytes` from the budget; false (and counted) when they do not fit. */
  allocate(bytes: number): boolean {
    if (bytes < 0 || this.#allocated + bytes > this.capacity) {
      this.#failures++;
      return false;
    }
    this.#allocated += bytes;
    if (this.#allocated > this.#peak) this.#peak = this.#allocated;
    return true;
  }

  /** Gives `bytes` back; freeing more than was allocated is a bug in the caller. */
  free(bytes: number): void {
    if (bytes < 0 || bytes > this.#allocated) throw new RangeError(`heap ${this.name}: freeing ${bytes} bytes but only ${this.#allocated} allocated`);
    this.#allocated -= bytes;
  }

  /**
   * Lets the heap's user say how many records its bytes hold, so that uk can say what it gives up
   * when it must exit at once (a second signal during shutdown). The `Batcher` does this.
   */
  holdsRecords(holder: RecordHolder): void {
    this.#holders.push(holder);
  }

  /** Records waiting in this heap. */
  get records(): number {
    let n = 0;
    for (const h of this.#holders) n += h.pending;
    return n;
  }

  /** uk exits now: every holder gives up (and counts) what it holds. Returns the records given up. */
  abandon(why: string): number {
    let n = 0;
    for (const h of this.#holders) n += h.abandon(why);
    return n;
  }

  stats(): HeapStats {
    return { name: this.name, capacity: this.capacity, allocated: this.#allocated, peak: this.#peak, failures: this.#failures };
  }
}

/** Every heap in the kernel, by name, so the operator can see them all. */
export class Heaps {
  readonly #heaps = new Map<string, Heap>();

  create(name: string, capacity: number): Heap {
    if (this.#heaps.has(name)) throw new RangeError(`heap ${name} already exists`);
    const heap = new Heap(name, capacity);
    this.#heaps.set(name, heap);
    return heap;
  }

  get(name: string): Heap | undefined {
    return this.#heaps.get(name);
  }

  stats(): HeapStats[] {
    return [...this.#heaps.values()].map((heap) => heap.stats());
  }

  /** Every holder in every heap gives up what it holds (uk must exit at once); returns the records given up. */
  abandon(why: string): number {
    let n = 0;
    for (const heap of this.#heaps.values()) n += heap.abandon(why);
    return n;
  }
}
