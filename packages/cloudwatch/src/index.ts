/**
 * @uk/cloudwatch: the `cloudwatch` klib. Console output to CloudWatch Logs and memory metrics to
 * CloudWatch (namespace CWAgent), with the instance's credentials, configured as the Nanos klib
 * is (`cloudwatch: { mem_metrics_interval, logging: { log_group, log_stream } }`). It needs the
 * `tls` klib (HTTPS and the signing primitives); without a `cloudwatch` tuple it loads and does
 * nothing, as in Nanos.
 */
import { CryptoService, defineKlib, HttpClientService } from '@uk/core';
import { shareAwsEnv } from './credentials.js';
import { readCloudwatchOptions, type CloudwatchOptions } from './options.js';
import { CloudWatchShipper } from './shipper.js';

export { AwsCallError, AwsJsonClient, classify, errorTypeOf, type ErrorKind } from './aws-json.js';
export { CredentialSource, REFRESH_BEFORE_MS, shareAwsEnv, type AwsCredentials, type CredentialProvider } from './credentials.js';
export { regionOfZone, resolveHostname, resolveRegion } from './identity.js';
export { ImdsClient, imdsDisabled, imdsEndpoint } from './imds-client.js';
export { BLOCK_BYTES, BLOCK_EVENTS, canJoinBlocks, canOverlapBlocks, eventCount, EventBlockEncoder, trimFullBlocks, type EventBlock } from './event-blocks.js';
export { bodyPrefix, EVENT_OVERHEAD_BYTES, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_BATCH_SPAN_MS, MAX_MESSAGE_BYTES, putLogEventsPayload, rejectedCount, splitMessage } from './log-events.js';
export { memoryMetrics, readMemoryMetrics, type MemoryMetric, type MemoryMetricName } from './memory.js';
export { CLOUDWATCH_KEYS, LOGGING_KEYS, readCloudwatchOptions, RETENTION_DAYS, type CloudwatchOptions, type LoggingOptions } from './options.js';
export { CloudWatchShipper, defaultEndpoint, METRICS_NAMESPACE, type MetricSample, type ShipperDeps } from './shipper.js';

export default defineKlib<CloudwatchOptions>({
  name: 'cloudwatch',
  version: '0.1.0',
  description: 'console output to CloudWatch Logs and memory metrics to CloudWatch, with instance credentials',
  dependencies: ['tls'],
  options: readCloudwatchOptions,
  init(ctx) {
    const copied = shareAwsEnv(ctx.env);
    if (copied.length > 0) ctx.log.debug(`AWS settings from the config's Env: ${copied.join(', ')}`);
    // The Ops config's CloudConfig (Zone: the last region fallback).
    const cloudConfig = ctx.cloudConfig;
    const shipper = new CloudWatchShipper(ctx, {
      http: ctx.services.get(HttpClientService, 'cloudwatch'),
      crypto: ctx.services.get(CryptoService, 'cloudwatch'),
      cloudConfig,
    });
    shipper.start();
  },
});
