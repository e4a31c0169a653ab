/**
 * The `cloudwatch` console driver: the program's lines (and uk's own messages) are encoded into
 * event blocks as they arrive (event-blocks.ts) and wait in a Batcher (the core's one batching and
 * retry mechanism, bounded by `logging.buffer_size`) until PutLogEvents takes them
 * (log-requests.ts).
 */
import { Batcher, type ConsoleDriver, type KlibContext } from '@uk/core';
import type { CloudWatchDestination } from './destination.js';
import { blockCodec, canJoinBlocks, canOverlapBlocks, EventBlockEncoder, trimFullBlocks, type EventBlock } from './event-blocks.js';
import { createLogSender } from './log-requests.js';
import { MAX_BATCH_BYTES, MAX_BATCH_EVENTS } from './log-events.js';
import type { CloudwatchOptions, LoggingOptions } from './options.js';

export interface LogsDriver {
  readonly driver: ConsoleDriver;
  readonly batcher: Batcher<EventBlock>;
}

export interface LogsDriverDeps {
  readonly destination: CloudWatchDestination;
  /** Shutdown has begun: uk's own messages are no longer program output to keep. */
  readonly closing: () => boolean;
  /** Resolves once the klib's shutdown hook has sent what it could and reported the rest. */
  readonly closed: Promise<void>;
}

export function createLogsDriver(ctx: KlibContext<CloudwatchOptions>, logging: LoggingOptions, deps: LogsDriverDeps): LogsDriver {
  const empty = ctx.counter('empty_lines_skipped');
  const split = ctx.counter('events_split');
  const encoder: EventBlockEncoder = new EventBlockEncoder(
    (block) => void batcher.push(block),
    () => split.add(),
  );
  const batcher: Batcher<EventBlock> = new Batcher<EventBlock>({
    name: 'cloudwatch',
    noun: 'events',
    heap: ctx.heaps.create('cloudwatch-logs', logging.bufferBytes),
    timers: ctx.timers,
    log: ctx.log,
    // Events wait encoded, in blocks (event-blocks.ts). The buffer and a batch both count an
    // event as its UTF-8 bytes plus the service's 26.
    sizeOf: (block) => block.bytes,
    countOf: (block) => block.count,
    maxBatchItems: MAX_BATCH_EVENTS,
    maxBatchBytes: MAX_BATCH_BYTES,
    flushIntervalMs: logging.flushIntervalMs,
    canJoin: canJoinBlocks,
    // Two calls at once (the service allows parallel puts to a stream), so the service works
    // on one batch while the next is built and sent. It orders a stream's events by
    // timestamp, so a batch may overlap the one before only if its first event is strictly
    // later than that one's last: then the order does not depend on which call lands first.
    maxInFlight: 2,
    canOverlap: canOverlapBlocks,
    trimFull: trimFullBlocks,
    send: createLogSender({ destination: deps.destination, log: ctx.log }),
    // Nothing goes before setup is done. Pause the program's output while CloudWatch works but is
    // behind, and while the first setup attempt runs (at most STALL_MS: a program that prints a
    // burst at once would otherwise overflow the buffer before the first call); never once setup
    // failed or while sends fail (then the buffer fills, drops and counts).
    ready: deps.destination,
    // Blocks go back to the encoder's arena once done with, whatever happened to them.
    release: (blocks) => {
      for (const block of blocks) encoder.release(block);
    },
    ...(logging.backpressure ? { backpressure: {} } : {}),
    // The disk spool (uk.spool_dir) of this log group and stream as configured (defaults: the
    // image or program name, the host name: the same for the next run of this configuration).
    spool: ctx.spool(`${logging.logGroup ?? '(default group)'}/${logging.logStream ?? '(default stream)'}`, blockCodec(encoder)),
    counters: {
      sent: ctx.counter('events_sent'),
      dropped: ctx.counter('events_dropped'),
      retries: ctx.counter('log_retries'),
      rejected: ctx.counter('events_rejected'),
      resent: ctx.counter('events_resent'),
      unconfirmed: ctx.counter('events_unconfirmed'),
    },
  });

  const pausing: Pick<ConsoleDriver, 'shouldPause' | 'drain'> = logging.backpressure
    ? { shouldPause: () => batcher.shouldPause(), drain: () => batcher.drain() }
    : {};
  const driver: ConsoleDriver = {
    ...pausing,
    name: 'cloudwatch',
    // The program's lines, as bytes: one block per read (see event-blocks.ts).
    writeLines: (block) => {
      const { buf, bounds, time } = block;
      for (let i = 0; i < block.count; i++) {
        const start = bounds[2 * i] as number;
        const end = bounds[2 * i + 1] as number;
        // CloudWatch refuses empty messages.
        if (start === end) empty.add();
        else encoder.addBytes(buf, start, end, time);
      }
      encoder.finish();
    },
    // uk's own messages.
    write: (record) => {
      if (record.text === '') {
        empty.add();
        return;
      }
      // uk's own messages during shutdown (this klib's included) are not program output to keep.
      if (deps.closing() && record.source === 'kernel') return;
      encoder.addText(record.text, record.time);
      encoder.finish();
    },
    // At shutdown the klib's own hook sends what it can within the deadline and reports the
    // rest; the kernel's flush of the driver ends with it.
    flush: () => Promise.race([batcher.flush(), deps.closed]),
  };
  return { driver, batcher };
}
