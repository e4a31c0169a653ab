/**
 * Memory metrics, as the Nanos klib sends them: every `mem_metrics_interval` a sample of seven
 * datums (memory.ts) waits in its own Batcher (1 MiB) and leaves in a PutMetricData call, namespace
 * CWAgent, dimension `host`. Samples taken while setup or CloudWatch is unavailable are sent later.
 */
import { Batcher, delivered, reasonOf, type KlibContext, type SendResult, type TimerHandle } from '@uk/core';
import type { CloudWatchDestination } from './destination.js';
import { resultOf } from './log-requests.js';
import { readMemoryMetrics, type MemoryMetric } from './memory.js';
import type { CloudwatchOptions } from './options.js';

export const METRICS_NAMESPACE = 'CWAgent';
/** Datums per PutMetricData: 1,000 allowed, 7 per sample. */
const SAMPLES_PER_CALL = Math.floor(1000 / 7);

export interface MetricSample {
  readonly time: number;
  readonly metrics: readonly MemoryMetric[];
}

export interface MemoryMetricsReporter {
  readonly batcher: Batcher<MetricSample>;
  /** Starts sampling every interval. */
  start(): void;
  /** Stops sampling (shutdown). */
  stop(): void;
}

/** The PutMetricData body for a batch of samples. */
export function putMetricDataBody(batch: readonly MetricSample[], hostname: string): string {
  const dimensions = `[{"Name":"host","Value":${JSON.stringify(hostname)}}]`;
  let body = `{"Namespace":"${METRICS_NAMESPACE}","MetricData":[`;
  let first = true;
  for (const sample of batch) {
    const timestamp = Math.trunc(sample.time) / 1000;
    for (const m of sample.metrics) {
      body += `${first ? '' : ','}{"MetricName":"${m.name}","Dimensions":${dimensions},"Timestamp":${timestamp},"Value":${m.value},"Unit":"${m.unit}","StorageResolution":60}`;
      first = false;
    }
  }
  return `${body}]}`;
}

export function createMemoryMetrics(
  ctx: KlibContext<CloudwatchOptions>,
  intervalMs: number,
  destination: CloudWatchDestination,
  readMemory: () => Promise<MemoryMetric[]> = readMemoryMetrics,
): MemoryMetricsReporter {
  const batcher = new Batcher<MetricSample>({
    name: 'cloudwatch',
    noun: 'memory metric samples',
    heap: ctx.heaps.create('cloudwatch-metrics', 1024 * 1024),
    timers: ctx.timers,
    log: ctx.log,
    sizeOf: () => 1024,
    maxBatchItems: SAMPLES_PER_CALL,
    maxBatchBytes: SAMPLES_PER_CALL * 1024,
    flushIntervalMs: 10,
    send: async (batch): Promise<SendResult> => {
      try {
        await destination.call('metrics', 'PutMetricData', putMetricDataBody(batch, destination.hostname));
        return delivered();
      } catch (err) {
        return resultOf(err);
      }
    },
    ready: destination,
    counters: {
      sent: ctx.counter('metric_samples_sent'),
      dropped: ctx.counter('metric_samples_dropped'),
      retries: ctx.counter('metric_retries'),
      resent: ctx.counter('metric_samples_resent'),
      unconfirmed: ctx.counter('metric_samples_unconfirmed'),
    },
  });

  let timer: TimerHandle | undefined;
  let lastSampleAt = -Infinity;
  let lastError = '';
  const sample = async (): Promise<void> => {
    // A timer that fired late is followed at once by the next tick: keep one sample per interval.
    const now = ctx.timers.clock.monotonic();
    if (now - lastSampleAt < intervalMs / 2) return;
    lastSampleAt = now;
    try {
      const metrics = await readMemory();
      batcher.push({ time: ctx.timers.clock.now(), metrics });
      lastError = '';
    } catch (err) {
      const reason = reasonOf(err);
      if (reason !== lastError) ctx.log.error(`cannot read memory metrics: ${reason}`);
      lastError = reason;
    }
  };
  return {
    batcher,
    start: () => {
      if (intervalMs > 0) timer ??= ctx.timers.periodic(intervalMs, () => void sample());
    },
    stop: () => timer?.cancel(),
  };
}
