/**
 * A spool codec for klibs whose Batcher items are console records (`{ text, time, source }`): the
 * record's original timestamp and stream are kept, so a record delivered by a later run says
 * when the program wrote it. Layout: time f64, source u8, then the text as UTF-8.
 */
import type { ConsoleRecord, RecordSource } from '../console.js';
import type { SpoolCodec } from './destinations.js';

const SOURCES: readonly RecordSource[] = ['stdout', 'stderr', 'kernel'];
const HEAD = 9;

export const consoleRecordCodec: SpoolCodec<ConsoleRecord> = {
  encode(record) {
    const text = Buffer.from(record.text, 'utf8');
    const out = Buffer.allocUnsafe(HEAD + text.length);
    out.writeDoubleLE(record.time, 0);
    out[8] = SOURCES.indexOf(record.source);
    out.set(text, HEAD);
    return out;
  },
  decode(bytes) {
    const source = bytes.length >= HEAD ? SOURCES[bytes[8] as number] : undefined;
    const time = bytes.length >= HEAD ? bytes.readDoubleLE(0) : NaN;
    if (source === undefined || !Number.isFinite(time)) return undefined;
    return { text: bytes.toString('utf8', HEAD), time, source };
  },
};
