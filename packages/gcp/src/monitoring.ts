/**
 * Metrics to Cloud Monitoring, as the Ops Agent names them: once setup is done and then every
 * `interval`, `agent.googleapis.com/memory/bytes_used` and `/memory/percent_used` per memory state
 * and, with `disk`, `agent.googleapis.com/disk/bytes_used` and `/disk/percent_used` per device and
 * state, on the `gce_instance` resource (`instance_id`, `zone`), one GAUGE double point each.
 *
 * Points go through the kernel's Batcher: at most 200 series per `timeSeries.create` request and
 * never one series twice in a request; a point less than 10 s after the previous point of its
 * series is not sent at all (a clock step can cause that). A request refused with a
 * CreateTimeSeriesSummary counts the refused points and is not resent, except that when a resend
 * after a lost answer is refused only because the points are already there, they count as sent.
 */
import { Batcher, delivered, reasonOf, type CloseOptions, type KlibContext, type SendResult, type TimerHandle } from '@uk/core';
import { GoogleApi, resultOf, type ApiCall } from './api.js';
import type { GcpDestination } from './logging.js';
import { DISK_STATES, MEMORY_STATES, readDisks, readMemory, type DiskSample, type MemorySample, type StatfsFn } from './host-metrics.js';
import type { InstanceInfo } from './metadata.js';
import type { MetricsOptions } from './options.js';
import { TimestampFormatter } from './entries.js';

export const MAX_SERIES_PER_REQUEST = 200;
export const MIN_POINT_SPACING_MS = 10_000;
const SUMMARY_TYPE = 'type.googleapis.com/google.monitoring.v3.CreateTimeSeriesSummary';

export interface MetricPoint {
  /** Metric type and labels: identifies the series. */
  readonly key: string;
  readonly type: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** Realtime ms. */
  readonly endTime: number;
}

function point(type: string, labels: Record<string, string>, value: number, endTime: number): MetricPoint {
  const key = `${type}|${Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;
  return { key, type, labels, value, endTime };
}

/** The points of one memory sample. */
export function memoryPoints(sample: MemorySample, endTime: number): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (const state of MEMORY_STATES) out.push(point('agent.googleapis.com/memory/bytes_used', { state }, sample.bytes[state], endTime));
  for (const state of MEMORY_STATES)
    out.push(point('agent.googleapis.com/memory/percent_used', { state }, (100 * sample.bytes[state]) / sample.total, endTime));
  return out;
}

/** The points of one disk sample. */
export function diskPoints(disks: readonly DiskSample[], endTime: number): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (const disk of disks) {
    for (const state of DISK_STATES) out.push(point('agent.googleapis.com/disk/bytes_used', { device: disk.device, state }, disk.bytes[state], endTime));
    for (const state of DISK_STATES)
      out.push(point('agent.googleapis.com/disk/percent_used', { device: disk.device, state }, (100 * disk.bytes[state]) / disk.total, endTime));
  }
  return out;
}

export interface MetricsDeps {
  readonly api: GoogleApi;
  readonly setup: GcpDestination;
  /** Sources, replaceable in tests. */
  readonly readMemory?: () => Promise<MemorySample>;
  readonly mountsPath?: string;
  readonly statfs?: StatfsFn;
}

export interface MetricsReporter {
  readonly batcher: Batcher<MetricPoint>;
  /** Takes one sample now (also what the timer does). */
  sample(): Promise<void>;
  close(options: CloseOptions | number): Promise<void>;
}

export function createMetricsReporter(ctx: KlibContext<unknown>, o: MetricsOptions, deps: MetricsDeps): MetricsReporter {
  const log = ctx.log;
  const timers = ctx.timers;
  const ts = new TimestampFormatter();
  const lastEnd = new Map<string, number>();
  const skipped = ctx.counter('metrics_skipped');
  let resourceJson = '';
  let url = '';
  let ambiguous: MetricPoint[] | undefined;
  let lastProblem = '';

  const send = async (batch: MetricPoint[]): Promise<SendResult> => {
    // The Batcher sends only once setup is done.
    const info = deps.setup.value as InstanceInfo;
    if (!url) {
      const base = `${o.endpoint}${/\/v3$/.test(o.endpoint) ? '' : '/v3'}`;
      url = `${base}/projects/${encodeURIComponent(info.projectId)}/timeSeries`;
      resourceJson = JSON.stringify({ type: 'gce_instance', labels: { instance_id: info.instanceId, zone: info.zone } });
    }
    const series = batch.map(
      (p) =>
        `{"metric":${JSON.stringify({ type: p.type, labels: p.labels })},"resource":${resourceJson},"points":[{"interval":{"endTime":"${ts.format(p.endTime)}"},"value":{"doubleValue":${Number.isFinite(p.value) ? p.value : 0}}}]}`,
    );
    const call: ApiCall = { url, body: `{"timeSeries":[${series.join(',')}]}`, timeoutMs: o.requestTimeoutMs, what: 'timeSeries.create' };
    let result;
    try {
      result = await deps.api.post(call);
    } catch (err) {
      ambiguous = batch;
      return resultOf(err);
    }
    // The Batcher resends from the same head of its queue (in a new array).
    const resent = ambiguous !== undefined && ambiguous[0] === batch[0];
    ambiguous = undefined;
    const { response } = result;
    if (response.statusCode >= 200 && response.statusCode < 300) {
      lastProblem = '';
      return delivered();
    }
    const error = GoogleApi.error(call, response);
    const summary = error.google?.details?.find((d) => d['@type'] === SUMMARY_TYPE) as { totalPointCount?: number; successPointCount?: number } | undefined;
    if (response.statusCode === 400 && summary) {
      if (resent) {
        log.debug(`timeSeries.create: a resent request was refused (${error.message}); its points were stored by the first attempt`);
        return delivered();
      }
      const refused = Math.max(0, Math.min(batch.length, (summary.totalPointCount ?? batch.length) - (summary.successPointCount ?? 0)));
      if (error.message !== lastProblem) log.warn(`${error.message}; ${refused} of ${batch.length} points refused, the rest stored`);
      lastProblem = error.message;
      return delivered(refused);
    }
    return resultOf(error);
  };

  const batcher = new Batcher<MetricPoint>({
    name: 'gcp',
    noun: 'metric points',
    heap: ctx.heaps.create('gcp.metrics', 4 * 1024 * 1024),
    timers,
    log,
    sizeOf: (p) => 256 + p.key.length,
    maxBatchItems: MAX_SERIES_PER_REQUEST,
    maxBatchBytes: 1_000_000,
    flushIntervalMs: 100,
    canJoin: (batch, next) => !batch.some((p) => p.key === next.key),
    send,
    ready: deps.setup,
    counters: {
      sent: ctx.counter('metrics_sent'),
      dropped: ctx.counter('metrics_dropped'),
      retries: ctx.counter('metrics_retries'),
      rejected: ctx.counter('metrics_rejected'),
    },
  });

  const readMem = deps.readMemory ?? (() => readMemory());
  let sampleProblem = '';
  const sample = async (): Promise<void> => {
    const endTime = timers.clock.now();
    const points: MetricPoint[] = [];
    const problems: string[] = [];
    try {
      points.push(...memoryPoints(await readMem(), endTime));
    } catch (err) {
      problems.push(`memory: ${reasonOf(err)}`);
    }
    if (o.disk) {
      try {
        const { disks, failures } = await readDisks({
          includeReadonly: o.disk.includeReadonly,
          ...(deps.mountsPath ? { mountsPath: deps.mountsPath } : {}),
          ...(deps.statfs ? { statfs: deps.statfs } : {}),
        });
        points.push(...diskPoints(disks, endTime));
        problems.push(...failures.map((f) => `disk ${f}`));
      } catch (err) {
        problems.push(`disks: ${reasonOf(err)}`);
      }
    }
    const problem = problems.join('; ');
    if (problem && problem !== sampleProblem) log.warn(`metrics: cannot read ${problem}`);
    sampleProblem = problem;
    for (const p of points) {
      const last = lastEnd.get(p.key);
      if (last !== undefined && p.endTime < last + MIN_POINT_SPACING_MS) {
        skipped.add();
        continue;
      }
      lastEnd.set(p.key, p.endTime);
      batcher.push(p);
    }
  };

  let timer: TimerHandle | undefined;
  let closed = false;
  void deps.setup.whenReady().then(() => {
    if (closed) return;
    void sample();
    timer = timers.periodic(o.intervalMs, () => void sample());
  });

  return {
    batcher,
    sample,
    async close(options) {
      closed = true;
      timer?.cancel();
      await batcher.close(options);
    },
  };
}
