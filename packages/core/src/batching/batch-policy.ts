/**
 * Which items make the next batch: the destination's limits (items, bytes with a per-item
 * overhead) and the klib's own rules (`canJoin`, e.g. CloudWatch's 24-hour span; `trimFull`, e.g.
 * ending a full batch where the timestamp changes so that the next batch may overlap it).
 */
import type { RecordQueue } from './record-queue.js';

export interface BatchRules<T> {
  readonly maxBatchItems: number;
  readonly maxBatchBytes: number;
  /** Extra bytes each record counts for in a batch (CloudWatch counts 26). */
  readonly itemOverheadBytes?: number;
  canJoin?(batch: readonly T[], next: T): boolean;
  trimFull?(batch: readonly T[], next: T): number;
}

/** A batch taken from the queue: its position, its items, their heap bytes and their records. */
export interface Taken<T> {
  readonly from: number;
  readonly items: T[];
  readonly bytes: number;
  readonly count: number;
}

/** The next batch from `from` (a queue position), within every limit; at least one item. */
export function takeBatch<T>(queue: RecordQueue<T>, from: number, rules: BatchRules<T>): Taken<T> {
  const overhead = rules.itemOverheadBytes ?? 0;
  const items: T[] = [];
  let bytes = 0;
  let batchBytes = 0;
  let count = 0;
  let p = from;
  for (; p < queue.end && count < rules.maxBatchItems; p++) {
    const item = queue.at(p);
    const size = queue.sizeOf(item);
    const n = queue.countOf(item);
    if (
      items.length > 0 &&
      (count + n > rules.maxBatchItems || batchBytes + size + overhead > rules.maxBatchBytes || (rules.canJoin && !rules.canJoin(items, item)))
    )
      break;
    items.push(item);
    bytes += size;
    batchBytes += size + overhead;
    count += n;
  }
  if (rules.trimFull && p < queue.end) {
    const keep = Math.max(1, Math.min(items.length, rules.trimFull(items, queue.at(p))));
    for (const item of items.splice(keep)) {
      bytes -= queue.sizeOf(item);
      count -= queue.countOf(item);
    }
  }
  return { from, items, bytes, count };
}

/** True when enough is queued beyond what is in flight for a full batch to go at once. */
export function hasFullBatch(rules: BatchRules<unknown>, records: number, bytes: number): boolean {
  return records >= rules.maxBatchItems || bytes >= rules.maxBatchBytes;
}
