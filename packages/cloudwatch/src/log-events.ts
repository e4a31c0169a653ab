/**
 * PutLogEvents' rules, applied before anything is sent:
 * - a call carries at most 10,000 events and 1,048,576 bytes, counting each message's UTF-8 bytes
 *   plus 26 bytes per event;
 * - its events are in chronological order and span at most 24 hours (the Batcher's `canJoin`);
 * - a message is never empty (the service refuses them; empty lines are not sent) and at most
 *   1,048,550 bytes, so that it fits a call with its 26 bytes: a longer one is split into several
 *   events at UTF-8 character boundaries, never dropped.
 */
import type { ConsoleRecord } from '@uk/core';

export const MAX_BATCH_BYTES = 1_048_576;
export const EVENT_OVERHEAD_BYTES = 26;
export const MAX_BATCH_EVENTS = 10_000;
export const MAX_BATCH_SPAN_MS = 24 * 3600_000;
export const MAX_MESSAGE_BYTES = MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES;

/** Bytes an event takes in a batch (and in the klib's buffer). */
export function eventSize(record: ConsoleRecord): number {
  return Buffer.byteLength(record.text, 'utf8') + EVENT_OVERHEAD_BYTES;
}

/** May `next` join `batch` without breaking the order or the 24-hour span? */
export function canJoin(batch: readonly ConsoleRecord[], next: ConsoleRecord): boolean {
  const last = batch[batch.length - 1] as ConsoleRecord;
  return next.time >= last.time && next.time - (batch[0] as ConsoleRecord).time <= MAX_BATCH_SPAN_MS;
}

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
export function bodyPrefix(group: string, stream: string): string {
  return `{"logGroupName":${JSON.stringify(group)},"logStreamName":${JSON.stringify(stream)},"logEvents":[`;
}

/** Printable ASCII without `"` and `\\`: such a message is its own JSON string body. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * The PutLogEvents body, built in one pass. Most lines are plain ASCII and are quoted as they
 * are; any other line goes through JSON.stringify, which escapes every control character.
 */
export function putLogEventsBody(prefix: string, batch: readonly ConsoleRecord[]): string {
  let body = prefix;
  for (let i = 0; i < batch.length; i++) {
    const record = batch[i] as ConsoleRecord;
    const text = record.text;
    body += (i === 0 ? '{"timestamp":' : ',{"timestamp":') + Math.trunc(record.time) + ',"message":' + (PLAIN.test(text) ? '"' + text + '"' : JSON.stringify(text)) + '}';
  }
  return body + ']}';
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
