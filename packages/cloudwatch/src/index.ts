/**
 * @uk/cloudwatch: the `cloudwatch` klib. Console output to CloudWatch Logs and memory metrics to
 * CloudWatch (namespace CWAgent), with the instance's credentials, configured as the Nanos klib
 * is (`cloudwatch: { mem_metrics_interval, logging: { log_group, log_stream } }`). It needs the
 * `tls` klib (HTTPS and the signing primitives); without a `cloudwatch` tuple it loads and does
 * nothing, as in Nanos.
 *
 * The pieces: destination.ts (background setup, credentials, group and stream, every call),
 * logs-driver.ts (the console driver and its Batcher), log-requests.ts (PutLogEvents), metrics.ts
 * (the memory sampler, its Batcher and PutMetricData); here they are wired and shut down.
 */
import { readFileSync } from 'node:fs';
import { CryptoService, defineKlib, HttpClientService, type KlibContext } from '@uk/core';
import { shareAwsEnv } from './credentials.js';
import { CloudWatchDestination, type DestinationDeps } from './destination.js';
import { createLogsDriver, type LogsDriver } from './logs-driver.js';
import type { MemoryMetric } from './memory.js';
import { createMemoryMetrics, type MemoryMetricsReporter } from './metrics.js';
import { readCloudwatchOptions, type CloudwatchOptions } from './options.js';

// The version and the @uk/core range come from package.json, which `nx release version` rewrites
// (RELEASING.md): a second copy here would have to be edited by hand at every release.
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; peerDependencies: Record<string, string> };

export { AwsCallError, AwsJsonClient, classify, errorTypeOf, type ErrorKind } from './aws-json.js';
export { CredentialSource, REFRESH_BEFORE_MS, shareAwsEnv, type AwsCredentials, type CredentialProvider } from './credentials.js';
export { CloudWatchDestination, defaultEndpoint, type DestinationDeps, type DestinationNeeds, type Service } from './destination.js';
export { regionOfZone, resolveHostname, resolveRegion } from './identity.js';
export { ImdsClient, imdsDisabled, imdsEndpoint } from './imds-client.js';
export { BLOCK_BYTES, BLOCK_EVENTS, canJoinBlocks, canOverlapBlocks, eventCount, EventBlockEncoder, trimFullBlocks, type EventBlock } from './event-blocks.js';
export {
  bodyPrefix,
  EVENT_OVERHEAD_BYTES,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_BATCH_SPAN_MS,
  MAX_MESSAGE_BYTES,
  putLogEventsPayload,
  rejectedCount,
  splitMessage,
} from './log-events.js';
export { createLogSender, resultOf, type LogRequestDeps } from './log-requests.js';
export { createLogsDriver, type LogsDriver, type LogsDriverDeps } from './logs-driver.js';
export { memoryMetrics, readMemoryMetrics, type MemoryMetric, type MemoryMetricName } from './memory.js';
export { createMemoryMetrics, METRICS_NAMESPACE, putMetricDataBody, type MemoryMetricsReporter, type MetricSample } from './metrics.js';
export { CLOUDWATCH_KEYS, LOGGING_KEYS, readCloudwatchOptions, RETENTION_DAYS, type CloudwatchOptions, type LoggingOptions } from './options.js';

export interface CloudwatchDeps extends DestinationDeps {
  readonly readMemory?: () => Promise<MemoryMetric[]>;
}

export interface CloudwatchKlib {
  readonly destination: CloudWatchDestination;
  readonly logs: LogsDriver | undefined;
  readonly metrics: MemoryMetricsReporter | undefined;
}

/**
 * Attaches the console driver, starts the sampler and the background setup, and registers the
 * shutdown. Returns at once: the program starts, and what it writes before setup finishes is
 * delivered afterwards.
 */
export function startCloudwatch(ctx: KlibContext<CloudwatchOptions>, deps: CloudwatchDeps): CloudwatchKlib {
  const o = ctx.options;
  let closing = false;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  let logs: LogsDriver | undefined;
  let metrics: MemoryMetricsReporter | undefined;
  const destination = new CloudWatchDestination(ctx, deps, {
    logs: o.logging !== undefined,
    metrics: o.memMetricsIntervalMs !== undefined,
    recordsWaiting: () => (logs?.batcher.pending ?? 0) + (metrics?.batcher.pending ?? 0) > 0,
  });
  if (o.logging) logs = createLogsDriver(ctx, o.logging, { destination, closing: () => closing, closed });
  if (o.memMetricsIntervalMs !== undefined) metrics = createMemoryMetrics(ctx, o.memMetricsIntervalMs, destination, deps.readMemory);

  if (logs) ctx.console.attach(logs.driver);
  metrics?.start();
  ctx.onShutdown(async (close) => {
    metrics?.stop();
    closing = true;
    await Promise.all([logs?.batcher.close(close), metrics?.batcher.close(close)]);
    destination.stop();
    markClosed();
  });
  if (logs || metrics) destination.start();
  return { destination, logs, metrics };
}

export default defineKlib<CloudwatchOptions>({
  name: 'cloudwatch',
  version: manifest.version,
  description: 'console output to CloudWatch Logs and memory metrics to CloudWatch, with instance credentials',
  dependencies: ['tls'],
  core: manifest.peerDependencies['@uk/core'],
  options: readCloudwatchOptions,
  init(ctx) {
    const copied = shareAwsEnv(ctx.env);
    if (copied.length > 0) ctx.log.debug(`AWS settings from the config's Env: ${copied.join(', ')}`);
    startCloudwatch(ctx, {
      http: ctx.services.get(HttpClientService, 'cloudwatch'),
      crypto: ctx.services.get(CryptoService, 'cloudwatch'),
      // The Ops config's CloudConfig (Zone: the last region fallback).
      cloudConfig: ctx.cloudConfig,
    });
  },
});
