/**
 * Console records as Cloud Logging LogEntry JSON, encoded once when the record arrives (so the
 * batch limits are counted on the exact bytes that will be sent):
 *
 * - `timestamp`: RFC 3339 UTC with nine fractional digits (the record's time, to the precision it
 *   has); `insertId`: a per-run prefix and a fixed-width base-36 sequence number, so entries that
 *   share a timestamp sort in the order the program wrote them (Cloud Logging orders equal
 *   timestamps by insertId, and de-duplicates a resent entry by the pair).
 * - `severity` from the source (stdout INFO, stderr ERROR, uk's own messages NOTICE by default).
 * - A line that is a JSON object becomes `jsonPayload`; structured logging's special fields
 *   (`severity`, `logging.googleapis.com/labels`, `…/trace`, `…/spanId`, `…/trace_sampled`) are
 *   lifted into the entry, and a payload left with nothing but a string `message` becomes that
 *   `textPayload`, as Google's logging agents do. Anything else is `textPayload`, byte for byte.
 * - A JSON object nested deeper than MAX_JSON_DEPTH levels is `textPayload` too (counted in
 *   `jsonTooDeep`): Cloud Logging cannot decode it as a Struct, and would refuse the whole request.
 * - An entry stays under 256 KB: a longer line is split into several entries (consecutive
 *   insertIds, `split` naming the parts), never dropped or truncated.
 *
 * Encoded entries go straight into the EntryArena (UTF-8 bytes outside the JavaScript heap). The
 * program's lines arrive as bytes: a line the JSON needs no change to (most lines) is copied in as
 * it is, with no string made for it; any other is decoded and encoded as a record, to the same bytes.
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { copyPlainJsonBytes, type ConsoleRecord, type LineBlock, type ProgramStream, type RecordSource } from '@uk/core';
import type { EntryArena } from './arena.js';
import { severityOf, type Severity } from './options.js';

/** Cloud Logging's limit is about 256 KB per entry; stay below it in either reading of "KB". */
export const MAX_ENTRY_BYTES = 256_000;
/**
 * The deepest nesting of objects and arrays sent as `jsonPayload` (the payload itself is level 1).
 * Cloud Logging documents no limit, but a jsonPayload is a google.protobuf.Struct in a LogEntry
 * in a WriteLogEntriesRequest, and protobuf's parsers refuse messages nested more than 100 deep
 * (CodedInputStream's default recursion limit; protobufjs copies it as `util.recursionLimit =
 * 100`). The LogEntry is message 1 and its Struct 2; each object level adds three (the map entry
 * of `fields`, a Value, a Struct) and each array level two (a Value, a ListValue), so the values
 * of level 33 are message 100: 33 levels is the most the service can decode, and one entry deeper
 * fails the whole request with the lines around it. Evidence: protobuf's JsonStreamParser
 * (kDefaultMaxRecursionDepth = 100, "Message too deep. Max recursion depth reached for key …",
 * used by Google's JSON front ends); Cloud Endpoints' test transcoding_deep_struct.t (a Struct 15
 * levels deep passes, 100 levels fail in the backend's protobuf parser); Vector's prost decoder,
 * limit 100, failing at 34 map levels (vectordotdev/vector#25050). 32 keeps one level of margin;
 * a deeper line is not lost, it is sent as text.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * True when `root` has objects or arrays nested more than `max` levels (root = level 1). With an
 * explicit stack, not recursion: JSON.parse builds 100,000 levels without complaint, and a
 * recursive walk of them would overflow the call stack.
 */
export function nestedDeeperThan(root: unknown, max: number): boolean {
  const values: unknown[] = [root];
  const depths: number[] = [1];
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop() as number;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > max) return true;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (typeof item === 'object' && item !== null) {
          values.push(item);
          depths.push(depth + 1);
        }
      }
      continue;
    }
    for (const key in value) {
      const item = (value as Record<string, unknown>)[key];
      if (typeof item === 'object' && item !== null) {
        values.push(item);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** Room kept in each part of a split line for everything but the text. */
const ENTRY_OVERHEAD_BYTES = 512;

/** For `writeLine`, per byte: JSON escapes it (control characters, `"`, `\`), or it is not ASCII. */
const ESCAPED = 1;
const NON_ASCII = 2;
const BYTE_KIND = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) BYTE_KIND[c] = ESCAPED;
BYTE_KIND[0x22] = ESCAPED;
BYTE_KIND[0x5c] = ESCAPED;
for (let c = 0x80; c < 0x100; c++) BYTE_KIND[c] = NON_ASCII;

/** One encoded LogEntry as JSON. */
export type EncodedEntry = string;

export interface EntryEncoderOptions {
  readonly severity: Readonly<Record<RecordSource, Severity>>;
  readonly jsonPayload: boolean;
  readonly specialFields: boolean;
  /** Prefix of every insertId (default: 8 random base-36 characters, new each run). */
  readonly insertIdPrefix?: string;
  readonly maxEntryBytes?: number;
}

const LABELS_FIELD = 'logging.googleapis.com/labels';
const TRACE_FIELD = 'logging.googleapis.com/trace';
const SPAN_FIELD = 'logging.googleapis.com/spanId';
const SAMPLED_FIELD = 'logging.googleapis.com/trace_sampled';
const SEVERITY_FIELD = 'logging.googleapis.com/severity';

function randomPrefix(): string {
  let out = '';
  for (const byte of randomBytes(8)) out += (byte % 36).toString(36);
  return out;
}

/** RFC 3339 with nanoseconds for a realtime in (possibly fractional) milliseconds. */
export class TimestampFormatter {
  #ms = Number.NaN;
  #prefix = '';

  format(time: number): string {
    const ms = Math.floor(time);
    if (ms !== this.#ms) {
      this.#ms = ms;
      // 2026-01-01T00:00:00.123
      this.#prefix = new Date(ms).toISOString().slice(0, 23);
    }
    const sub = Math.round((time - ms) * 1e6);
    return sub === 0 ? `${this.#prefix}000000Z` : `${this.#prefix}${String(Math.min(sub, 999_999)).padStart(6, '0')}Z`;
  }
}

/** UTF-8 bytes one UTF-16 unit takes once JSON-escaped: \" \\ \n and friends 2, other controls 6. */
function escapedCost(code: number): number {
  if (code < 0x80) {
    if (code === 0x22 || code === 0x5c) return 2;
    if (code >= 0x20) return 1;
    return code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d ? 2 : 6;
  }
  if (code < 0x800) return 2;
  // A lone surrogate is written as \uXXXX.
  if (code >= 0xd800 && code <= 0xdfff) return 6;
  return 3;
}

/** `text` as a JSON string literal; printable ASCII without an escaping pass. */
export function quote(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/** Splits text into pieces whose JSON-escaped UTF-8 size is at most `budget` bytes, never inside a surrogate pair. */
export function splitForJson(text: string, budget: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const pair = code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    const cost = pair ? 4 : escapedCost(code);
    if (size + cost > budget && i > start) {
      pieces.push(text.slice(start, i));
      start = i;
      size = 0;
    }
    size += cost;
    if (pair) i++;
  }
  if (start < text.length || pieces.length === 0) pieces.push(text.slice(start));
  return pieces;
}

export class EntryEncoder {
  readonly #o: EntryEncoderOptions;
  readonly #prefix: string;
  readonly #max: number;
  readonly #ts = new TimestampFormatter();
  /** `","severity":"INFO","textPayload":` and so on, per source. */
  readonly #textHead: Record<RecordSource, string>;
  #seq = 0;
  /** Lines split because they were too long for one entry. */
  split = 0;
  /** JSON object lines sent as text because they were nested deeper than MAX_JSON_DEPTH. */
  jsonTooDeep = 0;

  constructor(options: EntryEncoderOptions) {
    this.#o = options;
    this.#prefix = options.insertIdPrefix ?? randomPrefix();
    this.#max = options.maxEntryBytes ?? MAX_ENTRY_BYTES;
    this.#textHead = {
      stdout: `","severity":"${options.severity.stdout}","textPayload":`,
      stderr: `","severity":"${options.severity.stderr}","textPayload":`,
      kernel: `","severity":"${options.severity.kernel}","textPayload":`,
    };
  }

  /** The insertId digits of #seq as ASCII (an odometer, so the fast path need not divide). */
  readonly #digits = Buffer.alloc(10, 0x30);
  #digitsSeq = 0;
  /**
   * Per source, `{"timestamp":"…","insertId":"PREFIXDIGITS","severity":"…","textPayload":"` for
   * the millisecond #headMs: one copy per line; the digits are patched in place.
   */
  readonly #heads: Record<RecordSource, { ms: number; buf: Buffer; digitsAt: number }> = {
    stdout: { ms: Number.NaN, buf: Buffer.alloc(0), digitsAt: 0 },
    stderr: { ms: Number.NaN, buf: Buffer.alloc(0), digitsAt: 0 },
    kernel: { ms: Number.NaN, buf: Buffer.alloc(0), digitsAt: 0 },
  };

  /**
   * The common case written straight into `out`, without building a string: a plain line (no
   * JSON object, nothing to escape, no lone surrogate) that fits one entry, at a whole
   * millisecond. Returns the entry's reference in `out` (see arena.ts), or -1 for `encode`.
   */
  writePlain(record: ConsoleRecord, out: EntryArena): number {
    const text = record.text;
    const n = text.length;
    if (n * 3 + ENTRY_OVERHEAD_BYTES > this.#max || !Number.isInteger(record.time)) return -1;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c) return -1;
      if (c > 0x7e) {
        if (c >= 0xd800 && c <= 0xdfff) return -1;
        ascii = false;
      }
    }
    if (this.#o.jsonPayload && n >= 2 && (text.charCodeAt(0) === 123 || (text.charCodeAt(0) === 32 && looksLikeObject(text)))) return -1;
    const buf = this.#beginPlain(record.source, record.time, n * 3, out);
    const at = this.#textAt;
    return this.#endPlain(buf, at + (ascii ? writeLatin1(buf, text, at) : writeUtf8(buf, text, at)), out);
  }

  /**
   * Line `i` of a block written straight from its bytes, when they are exactly what the record
   * path would write for `lineText(block, i)`: valid UTF-8 (decoding changes nothing), nothing
   * JSON escapes (no control character, `"` or `\`), not possibly a JSON object for jsonPayload,
   * well inside one entry. Returns the entry's reference in `out` (see arena.ts), or -1: then the
   * line goes the record way.
   */
  writeLine(block: LineBlock, i: number, source: ProgramStream, out: EntryArena): number {
    const src = block.buf;
    const start = block.bounds[2 * i] as number;
    const end = block.bounds[2 * i + 1] as number;
    // Bytes are the text's UTF-8 here, so the entry is its head, the bytes and `"},`.
    if (end - start + ENTRY_OVERHEAD_BYTES > this.#max) return -1;
    if (this.#o.jsonPayload) {
      // JSON.parse allows only spaces before the `{` here (other whitespace is a control
      // character or not JSON's): without a `{` first, the record path finds no object.
      let k = start;
      while (k < end && src[k] === 0x20) k++;
      if (k < end && src[k] === 0x7b) return -1;
    }
    const buf = this.#beginPlain(source, block.time, end - start, out);
    // Printable ASCII (most lines) is checked while it is copied, four bytes at a time.
    let o = copyPlainJsonBytes(src, start, end, buf, this.#textAt);
    if (o < 0) {
      let kinds = 0;
      for (let j = start; j < end; j++) kinds |= BYTE_KIND[src[j] as number] as number;
      // Nothing reserved is committed: the record path writes the line instead.
      if (kinds & ESCAPED) return -1;
      // Only valid UTF-8 decodes to the same bytes (invalid bytes become U+FFFD).
      if (kinds & NON_ASCII && !isUtf8(src.subarray(start, end))) return -1;
      o = this.#textAt + src.copy(buf, this.#textAt, start, end);
    }
    return this.#endPlain(buf, o, out);
  }

  /** Where #beginPlain left the text to go. */
  #textAt = 0;

  /**
   * Reserves room in `out` for a plain entry of at most `maxText` bytes of text and writes its
   * head (`{"timestamp":…,"textPayload":"`, the next insertId patched in); the text goes at
   * #textAt, then #endPlain closes the entry.
   */
  #beginPlain(source: RecordSource, time: number, maxText: number, out: EntryArena): Buffer {
    const head = this.#heads[source];
    if (time !== head.ms) {
      const before = `{"timestamp":"${this.#ts.format(time)}","insertId":"${this.#prefix}`;
      head.ms = time;
      head.buf = Buffer.from(`${before}0000000000${this.#textHead[source]}"`, 'latin1');
      head.digitsAt = before.length;
    }
    const digits = this.#digits;
    if (this.#digitsSeq !== this.#seq) {
      digits.write(insertIdSuffix(this.#seq), 0, 'latin1');
      this.#digitsSeq = this.#seq;
    }
    const hb = head.buf;
    for (let i = 0; i < 10; i++) hb[head.digitsAt + i] = digits[i] as number;
    const buf = out.reserve(hb.length + maxText + 3);
    const at = out.reservedAt;
    buf.set(hb, at); // TypedArray#set: less overhead than Buffer#copy for a short copy
    this.#textAt = at + hb.length;
    return buf;
  }

  /** Closes the entry #beginPlain began (text up to `end`), commits it and moves the insertId on. */
  #endPlain(buf: Buffer, end: number, out: EntryArena): number {
    buf[end++] = 0x22; // "
    buf[end++] = 0x7d; // }
    buf[end++] = 0x2c; // ,
    // Next insertId: bump the base-36 odometer.
    const digits = this.#digits;
    this.#seq++;
    this.#digitsSeq++;
    for (let i = 9; i >= 0; i--) {
      const d = digits[i] as number;
      if (d === 0x39) {
        digits[i] = 0x61; // 9 → a
        break;
      }
      if (d !== 0x7a) {
        digits[i] = d + 1;
        break;
      }
      digits[i] = 0x30; // z → 0, carry
    }
    return out.commit(end - out.reservedAt);
  }

  /** Entries encoded so far (the next insertId's sequence number). */
  get sequence(): number {
    return this.#seq;
  }

  #insertId(): string {
    return this.#prefix + insertIdSuffix(this.#seq++);
  }

  /** Encodes one record as one or more entries and hands each to `emit`, in order. */
  encode(record: ConsoleRecord, emit: (entry: EncodedEntry) => void): void {
    if (this.#o.jsonPayload && looksLikeObject(record.text)) {
      if (this.#structured(record, emit)) return;
    }
    this.encodeText(record, emit);
  }

  /** Encodes the record as `textPayload` entries (split when too long), whatever the line holds. */
  encodeText(record: ConsoleRecord, emit: (entry: EncodedEntry) => void): void {
    const text = record.text;
    // Fast path: even if every character needed six bytes, the entry would fit.
    if (text.length * 6 + ENTRY_OVERHEAD_BYTES <= this.#max) {
      emit(`{"timestamp":"${this.#ts.format(record.time)}","insertId":"${this.#insertId()}${this.#textHead[record.source]}${quote(text)}}`);
      return;
    }
    this.#encodeLong(record, this.#o.severity[record.source], undefined, emit);
  }

  #encodeLong(record: ConsoleRecord, severity: Severity, extra: string | undefined, emit: (entry: EncodedEntry) => void): void {
    const timestamp = this.#ts.format(record.time);
    const head = (insertId: string) => `{"timestamp":"${timestamp}","insertId":"${insertId}","severity":"${severity}"${extra ?? ''}`;
    const whole = `${head(this.#insertId())},"textPayload":${quote(record.text)}}`;
    if (Buffer.byteLength(whole) <= this.#max) {
      emit(whole);
      return;
    }
    // Too long for one entry: split. The first part reuses the insertId already taken.
    this.split++;
    const pieces = splitForJson(record.text, Math.max(1024, this.#max - ENTRY_OVERHEAD_BYTES - Buffer.byteLength(extra ?? '')));
    const uid = this.#prefix + insertIdSuffix(this.#seq - 1);
    pieces.forEach((piece, index) => {
      const insertId = index === 0 ? uid : this.#insertId();
      emit(`${head(insertId)},"split":{"uid":"${uid}","index":${index},"totalSplits":${pieces.length}},"textPayload":${quote(piece)}}`);
    });
  }

  /** Emits the record as a structured entry; false if it is not a JSON object (or too large for one entry). */
  #structured(record: ConsoleRecord, emit: (entry: EncodedEntry) => void): boolean {
    let payload: unknown;
    try {
      payload = JSON.parse(record.text);
    } catch {
      return false;
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return false;
    if (nestedDeeperThan(payload, MAX_JSON_DEPTH)) {
      this.jsonTooDeep++;
      return false;
    }
    const fields = payload as Record<string, unknown>;
    let severity = this.#o.severity[record.source];
    let extra = '';
    if (this.#o.specialFields) {
      for (const key of ['severity', SEVERITY_FIELD]) {
        if (!Object.hasOwn(fields, key)) continue;
        const parsed = severityOf(fields[key]);
        if (parsed) {
          severity = parsed;
          delete fields[key];
        }
      }
      const labels = fields[LABELS_FIELD];
      if (typeof labels === 'object' && labels !== null && !Array.isArray(labels) && Object.values(labels).every((v) => typeof v === 'string')) {
        if (Object.keys(labels).length > 0) extra += `,"labels":${JSON.stringify(labels)}`;
        delete fields[LABELS_FIELD];
      }
      if (typeof fields[TRACE_FIELD] === 'string') {
        extra += `,"trace":${quote(fields[TRACE_FIELD])}`;
        delete fields[TRACE_FIELD];
      }
      if (typeof fields[SPAN_FIELD] === 'string') {
        extra += `,"spanId":${quote(fields[SPAN_FIELD])}`;
        delete fields[SPAN_FIELD];
      }
      if (typeof fields[SAMPLED_FIELD] === 'boolean') {
        extra += `,"traceSampled":${fields[SAMPLED_FIELD]}`;
        delete fields[SAMPLED_FIELD];
      }
      const keys = Object.keys(fields);
      if (keys.length === 1 && keys[0] === 'message' && typeof fields.message === 'string') {
        this.#encodeLong({ text: fields.message, time: record.time, source: record.source }, severity, extra, emit);
        return true;
      }
    }
    const payloadJson = JSON.stringify(fields);
    const json = `{"timestamp":"${this.#ts.format(record.time)}","insertId":"${this.#insertId()}","severity":"${severity}"${extra},"jsonPayload":${payloadJson}}`;
    if (json.length > this.#max / 3 && Buffer.byteLength(json) > this.#max) {
      this.#seq--; // give the insertId back: the line goes out as text instead
      return false;
    }
    emit(json);
    return true;
  }
}

/**
 * Buffer's own latin1Write/utf8Write (what buf.write calls after checking its arguments), where
 * Node has them; buf.write otherwise.
 */
type FastWrites = { latin1Write?: (text: string, offset: number) => number; utf8Write?: (text: string, offset: number) => number };
const proto = Buffer.prototype as unknown as FastWrites;
const writeLatin1: (buf: Buffer, text: string, at: number) => number =
  typeof proto.latin1Write === 'function'
    ? (buf, text, at) => (buf as unknown as Required<FastWrites>).latin1Write(text, at)
    : (buf, text, at) => buf.write(text, at, 'latin1');
const writeUtf8: (buf: Buffer, text: string, at: number) => number =
  typeof proto.utf8Write === 'function'
    ? (buf, text, at) => (buf as unknown as Required<FastWrites>).utf8Write(text, at)
    : (buf, text, at) => buf.write(text, at, 'utf8');

/** 10 base-36 digits, zero-padded so that text order is number order (3.6e15 before it grows). */
function insertIdSuffix(seq: number): string {
  const digits = seq.toString(36);
  return digits.length >= 10 ? digits : '0000000000'.slice(digits.length) + digits;
}

/** First and last non-blank characters are braces. */
function looksLikeObject(text: string): boolean {
  const n = text.length;
  if (n < 2) return false;
  if (text.charCodeAt(0) === 123 && text.charCodeAt(n - 1) === 125) return true;
  const trimmed = text.trim();
  return trimmed.length >= 2 && trimmed.charCodeAt(0) === 123 && trimmed.charCodeAt(trimmed.length - 1) === 125;
}

/** The request body around a batch of entries. */
export function writeRequestHead(logName: string, resource: { type: string; labels: Record<string, string> }): string {
  return `{"logName":${JSON.stringify(logName)},"resource":${JSON.stringify(resource)},"partialSuccess":true,"entries":[`;
}
