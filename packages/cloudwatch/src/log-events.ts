/**
 * PutLogEvents' rules, applied before anything is sent:
 * - a call carries at most 10,000 events and 1,048,576 bytes, counting each message's UTF-8 bytes
 *   plus 26 bytes per event;
 * - its events are in chronological order and span at most 24 hours (kept by each block and by
 *   `canJoinBlocks`, the Batcher's rule for joining blocks; see event-blocks.ts);
 * - a message is never empty (the service refuses them; empty lines are not sent) and at most
 *   1,048,550 bytes, so that it fits a call with its 26 bytes: a longer one is split into several
 *   events at UTF-8 character boundaries, never dropped.
 */
import type { BodyPool } from './block-arena.js';
import type { EventBlock } from './event-blocks.js';

export const MAX_BATCH_BYTES = 1_048_576;
export const EVENT_OVERHEAD_BYTES = 26;
export const MAX_BATCH_EVENTS = 10_000;
export const MAX_BATCH_SPAN_MS = 24 * 3600_000;
export const MAX_MESSAGE_BYTES = MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES;

/** Pieces of a message of at most `maxBytes` UTF-8 bytes each, cut between characters. */
export function splitMessage(text: string, maxBytes = MAX_MESSAGE_BYTES): string[] {
  // A string of n UTF-16 units takes at most 3n bytes: most lines need no measuring at all.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return [text];
  const bytes = Buffer.from(text, 'utf8');
  const pieces: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(bytes.length, start + maxBytes);
    // Step back over continuation bytes (10xxxxxx) so no character is cut.
    while (end < bytes.length && end > start && ((bytes[end] as number) & 0xc0) === 0x80) end--;
    pieces.push(bytes.toString('utf8', start, end));
    start = end;
  }
  return pieces;
}

/** `{"logGroupName":…,"logStreamName":…,"logEvents":[` for a destination. */
export function bodyPrefix(group: string, stream: string): Buffer {
  return Buffer.from(`{"logGroupName":${JSON.stringify(group)},"logStreamName":${JSON.stringify(stream)},"logEvents":[`, 'utf8');
}

/**
 * The PutLogEvents body for a batch of encoded blocks: the prefix, the blocks joined with commas,
 * and `]}`. A Buffer of its own (from `pool` if given, to be given back once the call settled).
 */
export function putLogEventsPayload(prefix: Buffer, batch: readonly EventBlock[], pool?: BodyPool): Buffer {
  let size = prefix.length + batch.length + 1;
  for (const block of batch) size += block.body.length;
  const payload = pool ? pool.take(size) : Buffer.allocUnsafeSlow(size);
  let at = prefix.copy(payload, 0);
  for (let i = 0; i < batch.length; i++) {
    if (i > 0) payload[at++] = 0x2c;
    at += (batch[i] as EventBlock).body.copy(payload, at);
  }
  payload[at] = 0x5d;
  payload[at + 1] = 0x7d;
  return payload;
}

export interface RejectedLogEventsInfo {
  readonly tooNewLogEventStartIndex?: number;
  readonly tooOldLogEventEndIndex?: number;
  readonly expiredLogEventEndIndex?: number;
}

/**
 * How many events of a batch of `count` the service refused: the too-old and expired ones are a
 * prefix (end indexes are exclusive), the too-new ones a suffix (the start index is inclusive).
 */
export function rejectedCount(info: RejectedLogEventsInfo | undefined, count: number): { total: number; tooOld: number; expired: number; tooNew: number } {
  if (!info) return { total: 0, tooOld: 0, expired: 0, tooNew: 0 };
  const clamp = (n: unknown): number => (typeof n === 'number' && Number.isInteger(n) ? Math.min(Math.max(n, 0), count) : 0);
  const tooOld = clamp(info.tooOldLogEventEndIndex);
  const expired = clamp(info.expiredLogEventEndIndex);
  const prefix = Math.max(tooOld, expired);
  const tooNew = info.tooNewLogEventStartIndex === undefined ? 0 : count - Math.max(prefix, clamp(info.tooNewLogEventStartIndex));
  return { total: prefix + tooNew, tooOld, expired, tooNew };
}
