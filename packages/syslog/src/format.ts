/**
 * RFC 5424 messages: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG`, the timestamp in UTC
 * with six fractional digits, MSGID and STRUCTURED-DATA nil. An empty record gives an empty MSG
 * (the header alone, which RFC 5424 allows).
 *
 * Formatting happens when a batch leaves, not when a record arrives, and writes a whole batch into
 * one buffer: headers are cached per (millisecond, source), so a burst of lines costs one header.
 * HOSTNAME and APP-NAME are checked or cleaned to printable ASCII, so a header is ASCII and its
 * byte length is its string length.
 */
import type { ConsoleRecord, RecordSource } from '@uk/core';

export interface FormatterOptions {
  readonly facility: number;
  readonly severity: Readonly<Record<RecordSource, number>>;
  readonly hostname: string;
  readonly appName: string;
  /** PROCID of a record: the program's pid once it has started, else undefined (`-`). */
  readonly procId: (record: ConsoleRecord) => number | undefined;
}

/** `.mmm000Z` for every millisecond: the fractional part and zone of a timestamp. */
const FRACTIONS: readonly string[] = Array.from({ length: 1000 }, (_, ms) => `.${String(ms).padStart(3, '0')}000Z`);
/** PROCID is at most this long: Linux pids have at most 7 digits; 10 leaves room. */
const PROCID_MAX = 10;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

export class Rfc5424Formatter {
  readonly #prefix: Record<RecordSource, string>;
  /** ` HOSTNAME APP-NAME ` */
  readonly #middle: string;
  readonly #procId: (record: ConsoleRecord) => number | undefined;
  #pid: number | undefined;
  /** `PROCID - - ` */
  #suffix = '- - - ';
  #second = Number.NaN;
  #secondText = '';
  #lastTime = Number.NaN;
  #lastSource: RecordSource | undefined;
  #lastHeader = '';

  constructor(options: FormatterOptions) {
    const pri = (source: RecordSource) => `<${options.facility * 8 + options.severity[source]}>1 `;
    this.#prefix = { stdout: pri('stdout'), stderr: pri('stderr'), kernel: pri('kernel') };
    this.#middle = ` ${options.hostname} ${options.appName} `;
    this.#procId = options.procId;
  }

  /** `YYYY-MM-DDThh:mm:ss.uuuuuuZ` for realtime milliseconds `ms`. */
  timestamp(ms: number): string {
    const second = Math.floor(ms / 1000);
    if (second !== this.#second) {
      const d = new Date(second * 1000);
      this.#second = second;
      this.#secondText = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
    }
    return this.#secondText + FRACTIONS[Math.floor(ms) - second * 1000];
  }

  /** The header with the space that separates it from MSG: `<14>1 TS HOST APP PID - - `. */
  header(record: ConsoleRecord): string {
    const pid = this.#procId(record);
    if (pid !== this.#pid) {
      this.#pid = pid;
      this.#suffix = `${pid ?? '-'} - - `;
      this.#lastTime = Number.NaN;
    }
    if (record.time === this.#lastTime && record.source === this.#lastSource) return this.#lastHeader;
    this.#lastTime = record.time;
    this.#lastSource = record.source;
    this.#lastHeader = this.#prefix[record.source] + this.timestamp(record.time) + this.#middle + this.#suffix;
    return this.#lastHeader;
  }

  /** The whole message as a string (tests and the odd single message). */
  format(record: ConsoleRecord): string {
    const header = this.header(record);
    return record.text === '' ? header.slice(0, -1) : header + record.text;
  }

  /** The longest header (with its trailing space) a record from `source` can get. */
  maxHeaderBytes(source: RecordSource): number {
    return this.#prefix[source].length + 27 + this.#middle.length + PROCID_MAX + ' - - '.length;
  }
}

/**
 * Buffer's own encoders, without `write()`'s argument parsing (a third of the encoding time for
 * short lines). Present in every Node release; `write()` is the fallback.
 */
interface FastWrite {
  latin1Write?(text: string, offset: number): number;
  utf8Write?(text: string, offset: number): number;
}
const proto = Buffer.prototype as unknown as FastWrite;
const writeLatin1: (buf: Buffer, text: string, offset: number) => number =
  typeof proto.latin1Write === 'function'
    ? (buf, text, offset) => (buf as unknown as Required<FastWrite>).latin1Write(text, offset)
    : (buf, text, offset) => buf.write(text, offset, 'latin1');
const writeUtf8: (buf: Buffer, text: string, offset: number) => number =
  typeof proto.utf8Write === 'function'
    ? (buf, text, offset) => (buf as unknown as Required<FastWrite>).utf8Write(text, offset)
    : (buf, text, offset) => buf.write(text, offset, 'utf8');

/** Writes `n` in decimal at `offset`; returns the offset after it. */
function writeDecimal(buf: Buffer, offset: number, n: number): number {
  const start = offset;
  do {
    buf[offset++] = 48 + (n % 10);
    n = Math.floor(n / 10);
  } while (n > 0);
  // Digits went in backwards.
  for (let i = start, j = offset - 1; i < j; i++, j--) {
    const tmp = buf[i] as number;
    buf[i] = buf[j] as number;
    buf[j] = tmp;
  }
  return offset;
}

function decimalLength(n: number): number {
  let digits = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    digits++;
  }
  return digits;
}

export interface EncodedBatch {
  readonly buffer: Buffer;
  /** End offset of each message in `buffer` (datagram boundaries for UDP). */
  readonly ends: number[];
}

/**
 * Encodes a batch into one buffer: messages back to back (UDP sends each `ends` range as a
 * datagram), or RFC 6587 octet-counted frames `LEN SP MSG` (TCP and TLS).
 */
export function encodeBatch(records: readonly ConsoleRecord[], formatter: Rfc5424Formatter, octetCounting: boolean): EncodedBatch {
  const count = records.length;
  const headers: string[] = new Array<string>(count);
  const textBytes: number[] = new Array<number>(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const record = records[i] as ConsoleRecord;
    const header = formatter.header(record);
    const bytes = record.text === '' ? 0 : Buffer.byteLength(record.text, 'utf8');
    headers[i] = header;
    textBytes[i] = bytes;
    // An empty MSG also drops the space before it.
    const length = bytes === 0 ? header.length - 1 : header.length + bytes;
    total += octetCounting ? decimalLength(length) + 1 + length : length;
  }
  // One spare byte: an empty MSG is written as the header with its space, then the space dropped.
  const buffer = Buffer.allocUnsafe(total + 1);
  const ends: number[] = new Array<number>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const header = headers[i] as string;
    const bytes = textBytes[i] as number;
    if (octetCounting) {
      offset = writeDecimal(buffer, offset, bytes === 0 ? header.length - 1 : header.length + bytes);
      buffer[offset++] = 32;
    }
    offset += writeLatin1(buffer, header, offset);
    if (bytes === 0) offset--;
    else offset += writeUtf8(buffer, (records[i] as ConsoleRecord).text, offset);
    ends[i] = offset;
  }
  return { buffer: buffer.subarray(0, total), ends };
}

/** The largest cut ≤ `cut` that does not split a UTF-8 sequence. */
function utf8Boundary(buf: Buffer, start: number, cut: number): number {
  for (let back = 0; back < 4 && cut - back > start; back++) {
    if (((buf[cut - back] as number) & 0xc0) !== 0x80) return cut - back;
  }
  return cut;
}

/** Splits `text` into pieces of at most `maxBytes` UTF-8 bytes, never inside a character. */
export function splitUtf8(text: string, maxBytes: number): string[] {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return [text];
  const pieces: string[] = [];
  let start = 0;
  while (buf.length - start > maxBytes) {
    const cut = utf8Boundary(buf, start, start + maxBytes);
    pieces.push(buf.toString('utf8', start, cut));
    start = cut;
  }
  pieces.push(buf.toString('utf8', start));
  return pieces;
}

/**
 * Splits a message of several lines (a stack trace that multiline grouping made one record) into
 * pieces of at most `maxBytes` UTF-8 bytes, cutting at a newline where one fits, so that each piece
 * is whole lines (the newline at a cut is where one message ends and the next begins); a line
 * longer than `maxBytes` is cut at a character boundary. Text without newlines: `splitUtf8`.
 */
export function splitMessage(text: string, maxBytes: number): string[] {
  if (!text.includes('\n')) return splitUtf8(text, maxBytes);
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return [text];
  const pieces: string[] = [];
  let start = 0;
  while (buf.length - start > maxBytes) {
    const nl = buf.lastIndexOf(10, start + maxBytes);
    if (nl >= start) {
      pieces.push(buf.toString('utf8', start, nl));
      start = nl + 1;
    } else {
      const cut = utf8Boundary(buf, start, start + maxBytes);
      pieces.push(buf.toString('utf8', start, cut));
      start = cut;
    }
  }
  pieces.push(buf.toString('utf8', start));
  return pieces;
}
