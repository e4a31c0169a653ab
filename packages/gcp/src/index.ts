/**
 * @uk/gcp: the `gcp` klib. Compatible with the Nanos gcp klib (same tuple: `logging.log_id`,
 * `metrics.interval`, `metrics.disk.include_readonly`; same metadata server setup with a backoff
 * from 1 s to 3600 s), plus severities, structured JSON lines, long lines split instead of lost,
 * partial success, retries, backpressure, flush at shutdown, endpoint overrides and counters; no
 * line, however deep its JSON or however it fails to encode, sinks the lines around it.
 *
 * It needs the `tls` klib for HTTPS (HttpClientService). Without a `gcp` tuple it loads and does
 * nothing, as in Nanos.
 */
import { readFileSync } from 'node:fs';
import { defineKlib, HttpClientService, tokens as coreTokens } from '@uk/core';
import { GoogleApi } from './api.js';
import { TokenSource } from './credentials.js';
import { createLoggingDriver, type LoggingDriver } from './logging.js';
import { MetadataClient } from './metadata.js';
import { createMetricsReporter, type MetricsReporter } from './monitoring.js';
import { readGcpOptions, type GcpOptions } from './options.js';
import { GcpSetup } from './setup.js';

// The version and the @uk/core range come from package.json, which `nx release version` rewrites
// (RELEASING.md): a second copy here would have to be edited by hand at every release.
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; peerDependencies: Record<string, string> };

export {
  ApiError,
  GoogleApi,
  resultOf,
  isRetryableStatus,
  mayHaveBeenCarriedOut,
  parseGoogleError,
  RETRYABLE_CODES,
  type ApiCall,
  type GoogleError,
} from './api.js';
export { EXPIRY_MARGIN_MS, REFRESH_BEFORE_MS, TokenSource } from './credentials.js';
export {
  EntryEncoder,
  MAX_ENTRY_BYTES,
  MAX_JSON_DEPTH,
  nestedDeeperThan,
  splitForJson,
  TimestampFormatter,
  type EncodedEntry,
  type EntryEncoderOptions,
} from './entries.js';
export {
  DISK_STATES,
  MEMORY_STATES,
  memorySample,
  parseMounts,
  readDisks,
  readMemory,
  type DiskSample,
  type MemorySample,
  type MountEntry,
} from './host-metrics.js';
export {
  createLoggingDriver,
  ENTRY_RETRIES,
  followUpBudget,
  logNameOf,
  partialErrorsOf,
  REQUESTS_IN_FLIGHT,
  TARGET_REQUEST_BYTES,
  type GcpDestination,
  type LoggingDriver,
  type LoggingDriverDeps,
} from './logging.js';
export { EntryArena, entryPosition, entrySize } from './arena.js';
export { MetadataClient, MetadataError, type AccessToken, type InstanceInfo } from './metadata.js';
export {
  createMetricsReporter,
  diskPoints,
  MAX_SERIES_PER_REQUEST,
  memoryPoints,
  MIN_POINT_SPACING_MS,
  type MetricPoint,
  type MetricsReporter,
} from './monitoring.js';
export {
  DEFAULT_BUFFER_SIZE,
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_LOGGING_ENDPOINT,
  DEFAULT_LOGGING_TIMEOUT_MS,
  DEFAULT_METADATA_HOST,
  DEFAULT_MONITORING_TIMEOUT_MS,
  DEFAULT_MONITORING_ENDPOINT,
  DEFAULT_SEVERITY,
  INVALID_INTERVAL_MESSAGE,
  readGcpOptions,
  SEVERITIES,
  severityOf,
  type GcpOptions,
  type LoggingOptions,
  type MetricsOptions,
  type Severity,
} from './options.js';
export { GcpSetup, type SetupOptions } from './setup.js';

export default defineKlib<GcpOptions>({
  name: 'gcp',
  version: manifest.version,
  description: 'console output to Google Cloud Logging, memory and disk metrics to Cloud Monitoring',
  dependencies: ['tls'],
  core: manifest.peerDependencies['@uk/core'],
  whenUnconfigured: 'skip',
  options: readGcpOptions,
  init(ctx) {
    const o = ctx.options;
    if (!o.logging && !o.metrics) {
      ctx.log.warn('neither "logging" nor "metrics" is configured: nothing to do');
      return;
    }
    const http = ctx.services.get(HttpClientService, ctx.name);
    const metadata = new MetadataClient(http, o.metadataUrl);
    const tokens = new TokenSource(() => metadata.token(), ctx.timers, ctx.services.tryGet(coreTokens.SecretsService));
    const setup = new GcpSetup({
      metadata,
      tokens,
      timers: ctx.timers,
      log: ctx.log,
      needHostname: o.logging !== undefined && o.logging.logId === undefined,
      signal: ctx.signal,
    });
    const api = new GoogleApi(http, tokens);
    // The drivers' Batchers send nothing before setup is done (GcpSetup is their ReadySignal).
    const deps = { api, setup };

    let driver: LoggingDriver | undefined;
    if (o.logging) {
      driver = createLoggingDriver(ctx, o.logging, deps);
      ctx.console.attach(driver);
    }
    let metrics: MetricsReporter | undefined;
    if (o.metrics) metrics = createMetricsReporter(ctx, o.metrics, deps);
    const unauthorised = ctx.counter('unauthorized');
    ctx.onShutdown(async (close) => {
      await Promise.all([driver?.close(close), metrics?.close(close)]);
      setup.stop();
      tokens.stop();
      unauthorised.add(api.unauthorised - unauthorised.value);
    });
    // In the background: the program starts at once, records wait in the buffer meanwhile.
    setup.start();
    ctx.log.debug(
      `${o.logging ? `logging to ${o.logging.endpoint}` : ''}${o.logging && o.metrics ? ', ' : ''}${o.metrics ? `metrics every ${o.metrics.intervalMs / 1000} s to ${o.metrics.endpoint}` : ''}; metadata server ${o.metadataUrl}`,
    );
  },
});
