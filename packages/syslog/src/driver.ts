/**
 * The `syslog` console driver: every record goes to the file output, the server output, or both,
 * each through its own Batcher (the kernel's bounded, batching, retrying queue). `write()` only
 * queues; formatting happens per batch when it leaves.
 */
import {
  Batcher,
  consoleRecordCodec,
  delivered,
  prefixLog,
  reasonOf,
  retry,
  SecureTransportService,
  type CloseOptions,
  type ConsoleDriver,
  type ConsoleRecord,
  type KlibContext,
  type SendResult,
  type SpoolCodec,
} from '@uk/core';
import { FileOutput } from './file-output.js';
import { encodeBatch, Rfc5424Formatter, splitMessage } from './format.js';
import { appNameOf, type SyslogOptions } from './options.js';
import { StreamOutput } from './stream.js';
import { UdpOutput } from './udp.js';

/** Bytes a queued record is counted for beyond its text (header, object): heap budgets are approximate. */
const RECORD_OVERHEAD = 80;
const sizeOf = (record: ConsoleRecord): number => record.text.length + RECORD_OVERHEAD;

/** How long after its first record a batch leaves for the server, ms. */
export const SERVER_FLUSH_MS = 10;
/** The file is written once a second, as in Nanos. */
export const FILE_FLUSH_MS = 1000;
/**
 * Every failure of a syslog output is a passing one (a file that cannot be written now, a server
 * away): the Batcher sends the batch again. The stream output counts its own resends after a
 * broken connection (stream.ts).
 */
async function attempt(write: Promise<void>): Promise<SendResult> {
  try {
    await write;
    return delivered();
  } catch (err) {
    return retry(reasonOf(err));
  }
}

interface EarlyRecord extends ConsoleRecord {
  readonly beforeStart?: boolean;
  /** The pid of the program that wrote it, for a record a previous run left in the spool. */
  readonly pid?: number;
}

/**
 * The server output's records in the disk spool: one byte that says whether uk wrote it before
 * the program started (its PROCID stays "-"), the pid of the program that wrote it (its PROCID
 * when a later run sends it), then the core's console record codec (original time and stream).
 */
function spoolCodec(pid: () => number | undefined): SpoolCodec<ConsoleRecord> {
  return {
    encode(record) {
      const body = consoleRecordCodec.encode(record);
      const out = Buffer.allocUnsafe(5 + body.length);
      const early = record as EarlyRecord;
      out[0] = early.beforeStart === true ? 1 : 0;
      out.writeUInt32LE(early.pid ?? pid() ?? 0, 1);
      out.set(body, 5);
      return out;
    },
    decode(bytes) {
      const flag = bytes[0];
      const record = bytes.length >= 5 && (flag === 0 || flag === 1) ? consoleRecordCodec.decode(bytes.subarray(5)) : undefined;
      if (!record) return undefined;
      const writer = bytes.readUInt32LE(1);
      return { ...record, ...(flag === 1 ? { beforeStart: true } : {}), ...(writer > 0 ? { pid: writer } : {}) } satisfies EarlyRecord;
    },
  };
}

export interface SyslogDriver extends ConsoleDriver {
  /** Flushes and closes everything by the kernel's deadline. */
  close(options: CloseOptions): Promise<void>;
}

export function createSyslogDriver(ctx: KlibContext<SyslogOptions>): SyslogDriver {
  const o = ctx.options;
  const timers = ctx.timers;
  const closers: ((options: CloseOptions) => Promise<void>)[] = [];
  let fileBatcher: Batcher<ConsoleRecord> | undefined;
  let serverBatcher: Batcher<ConsoleRecord> | undefined;
  // Backpressure is the Batcher's (pause at half the buffer, read on at a quarter).
  const backpressure = o.backpressure ? {} : undefined;

  if (o.file) {
    const rotations = ctx.counter('rotations');
    const output = new FileOutput({ path: o.file, maxSize: o.fileMaxSize, rotate: o.fileRotate, onRotate: () => rotations.add() });
    const batcher: Batcher<ConsoleRecord> = new Batcher<ConsoleRecord>({
      name: 'syslog',
      noun: 'lines',
      heap: ctx.heaps.create('syslog.file', o.bufferSize),
      timers,
      log: prefixLog(ctx.log, `file ${o.file}`),
      sizeOf,
      maxBatchItems: 100_000,
      maxBatchBytes: 1024 * 1024,
      flushIntervalMs: FILE_FLUSH_MS,
      send: (batch: ConsoleRecord[]) => attempt(output.write(batch)),
      backpressure,
      counters: { sent: ctx.counter('file_written'), dropped: ctx.counter('file_dropped'), retries: ctx.counter('file_retries') },
    });
    fileBatcher = batcher;
    closers.push(async (options) => {
      await batcher.close(options);
      await output.close();
    });
  }

  const budget = { stdout: 0, stderr: 0, kernel: 0 };
  let split: ReturnType<typeof ctx.counter> | undefined;
  if (o.server) {
    const formatter = new Rfc5424Formatter({
      facility: o.facility,
      severity: o.severity,
      hostname: o.hostname,
      appName: appNameOf(ctx.env.IMAGE_NAME || ctx.program.name),
      procId: (record) => ((record as EarlyRecord).beforeStart === true ? undefined : ((record as EarlyRecord).pid ?? ctx.program.pid)),
    });
    for (const source of ['stdout', 'stderr', 'kernel'] as const) budget[source] = o.maxMessageSize - formatter.maxHeaderBytes(source);
    split = ctx.counter('split');
    const sent = ctx.counter('sent');
    const dropped = ctx.counter('dropped');
    const retries = ctx.counter('retries');
    const where = `${o.transport}://${o.server}:${o.port}`;
    const log = prefixLog(ctx.log, where);
    let send: (batch: ConsoleRecord[]) => Promise<void>;
    let closeOutput: (deadlineMs: number) => Promise<void>;
    if (o.transport === 'udp') {
      const udp = new UdpOutput({ host: o.server, port: o.port, log, dropped, threadStarts: ctx.counter('sender_thread') });
      send = (batch) => udp.send(encodeBatch(batch, formatter, false));
      closeOutput = (deadlineMs) => udp.close(deadlineMs);
    } else {
      const stream = new StreamOutput({
        host: o.server,
        port: o.port,
        secure: o.transport === 'tls' ? ctx.services.get(SecureTransportService, 'syslog') : undefined,
        timers,
        log,
        resendWindowMs: o.resendWindowMs,
        retainBytes: Math.floor(o.bufferSize / 2),
        counters: { reconnects: ctx.counter('reconnects'), resent: ctx.counter('resent'), dropped, unconfirmed: ctx.counter('unconfirmed') },
      });
      send = (batch) => stream.send(encodeBatch(batch, formatter, true).buffer, batch.length);
      closeOutput = (deadlineMs) => stream.close(deadlineMs);
      // Connect now (without waiting) so the first line does not wait for the handshake.
      stream.ensure().catch(() => {});
    }
    const batcher: Batcher<ConsoleRecord> = new Batcher<ConsoleRecord>({
      name: 'syslog',
      noun: 'messages',
      heap: ctx.heaps.create('syslog.server', o.bufferSize),
      timers,
      log,
      sizeOf,
      maxBatchItems: o.transport === 'udp' ? 1024 : 8192,
      maxBatchBytes: o.transport === 'udp' ? 256 * 1024 : 1024 * 1024,
      flushIntervalMs: SERVER_FLUSH_MS,
      send: (batch) => attempt(send(batch)),
      backpressure,
      counters: { sent, dropped, retries },
      // The disk spool (uk.spool_dir), for this server as configured.
      spool: o.spool.enabled
        ? ctx.spool(
            `${o.server}:${o.port}:${o.transport}`,
            spoolCodec(() => ctx.program.pid),
          )
        : undefined,
    });
    serverBatcher = batcher;
    closers.push(async (options) => {
      await batcher.close(options);
      await closeOutput(Math.max(0, options.deadline - timers.clock.monotonic()));
    });
  }

  const push = (server: Batcher<ConsoleRecord>, record: ConsoleRecord): void => {
    // Records from before the program started (uk's boot messages) keep PROCID "-" even though
    // they are formatted later, when the pid is known.
    if (ctx.program.pid === undefined) {
      const early: EarlyRecord = { ...record, beforeStart: true };
      server.push(early);
    } else {
      server.push(record);
    }
  };
  const toServer = (record: ConsoleRecord): void => {
    const server = serverBatcher as Batcher<ConsoleRecord>;
    const max = budget[record.source];
    // Cheap test first: a UTF-8 character is at most 3 bytes per UTF-16 unit.
    if (record.text.length * 3 <= max || Buffer.byteLength(record.text, 'utf8') <= max) {
      push(server, record);
      return;
    }
    split?.add();
    // A trace (a record of several lines) is cut between lines where it can be.
    for (const text of splitMessage(record.text, max)) push(server, { text, time: record.time, source: record.source });
  };

  let closing = false;
  let closed: Promise<void> | undefined;
  let markClosed: () => void = () => {};
  const closedSignal = new Promise<void>((resolve) => (markClosed = resolve));
  const driver: SyslogDriver = {
    name: 'syslog',
    write(record) {
      // Once shutdown has begun only uk's messages about the shutdown itself still come; they
      // are on stderr already, and counting them as dropped would only blur the count.
      if (closing && record.source === 'kernel') return;
      fileBatcher?.push(record);
      if (serverBatcher) toServer(record);
    },
    async flush() {
      const flushed = Promise.all([fileBatcher?.flush(), serverBatcher?.flush()]).then(() => undefined);
      // A Batcher's flush never resolves for records it gave up on at the deadline: stop
      // waiting once close() has reported them.
      await Promise.race([flushed, closedSignal]);
    },
    close(options) {
      closing = true;
      closed ??= Promise.all(closers.map((close) => close(options))).then(() => markClosed());
      return closed;
    },
  };
  if (o.backpressure) {
    driver.shouldPause = () => (fileBatcher?.shouldPause() ?? false) || (serverBatcher?.shouldPause() ?? false);
    driver.drain = async () => {
      await Promise.all([fileBatcher?.drain(), serverBatcher?.drain()]);
    };
  }
  return driver;
}
