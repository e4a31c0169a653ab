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

/** A control character or a backslash: never part of the body's own syntax. */
const CONTROL_OR_BACKSLASH = /[\\\x00-\x1f]/;
/** Events per group: built as one string, checked and encoded at once. */
const GROUP = 128;
const isWellFormed: (text: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (text) => (text as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (text) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(text);

/** Where bodies are built before they are copied out at their exact size (grows as needed). */
let scratch = Buffer.allocUnsafeSlow(2 * MAX_BATCH_BYTES);

function reserve(used: number, more: number): void {
  if (used + more <= scratch.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(scratch.length * 2, used + more));
  scratch.copy(bigger, 0, 0, used);
  scratch = bigger;
}

function writeScratch(text: string, at: number): number {
  // A UTF-16 unit takes at most 3 bytes in UTF-8.
  reserve(at, text.length * 3);
  return at + scratch.write(text, at, 'utf8');
}

/**
 * The PutLogEvents body as the bytes to send (the same bytes as `putLogEventsBody` encoded in
 * UTF-8), built without a body-sized string: events are joined in groups of 128, and a group is
 * encoded as it is unless a message in it needs escaping (a quote, a backslash, a control
 * character, a lone surrogate), in which case that group is built again with JSON.stringify for
 * those messages. Quotes are looked for per message (the body's syntax has its own), the rest per
 * group. The result is a Buffer of its own (it stays intact while the call is in flight and
 * across retries).
 */
export function putLogEventsPayload(prefix: string, batch: readonly ConsoleRecord[]): Buffer {
  let at = writeScratch(prefix, 0);
  let lastTime = NaN;
  let stamp = '';
  for (let start = 0; start < batch.length; start += GROUP) {
    const end = Math.min(batch.length, start + GROUP);
    let group = '';
    let quoted = false;
    for (let i = start; i < end; i++) {
      const record = batch[i] as ConsoleRecord;
      if (record.time !== lastTime) {
        lastTime = record.time;
        stamp = String(Math.trunc(lastTime));
      }
      const text = record.text;
      if (!quoted && text.indexOf('"') !== -1) quoted = true;
      group += (i === 0 ? '{"timestamp":' : ',{"timestamp":') + stamp + ',"message":"' + text + '"}';
    }
    if (quoted || CONTROL_OR_BACKSLASH.test(group) || !isWellFormed(group)) {
      group = '';
      for (let i = start; i < end; i++) {
        const record = batch[i] as ConsoleRecord;
        const text = record.text;
        group += (i === 0 ? '{"timestamp":' : ',{"timestamp":') + Math.trunc(record.time) + ',"message":' + (PLAIN.test(text) ? '"' + text + '"' : JSON.stringify(text)) + '}';
      }
    }
    at = writeScratch(group, at);
  }
  at = writeScratch(']}', at);
  const payload = Buffer.allocUnsafeSlow(at);
  scratch.copy(payload, 0, 0, at);
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
