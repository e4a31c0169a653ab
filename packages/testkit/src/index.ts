/**
 * @uk/testkit: loopback emulators of the EC2 instance metadata service and CloudWatch (Logs and
 * metrics) for testing klibs, ours and third parties'. They check requests as the services do
 * (SigV4 with the independent aws4 package, bodies against AWS's published models, service
 * limits), keep what they stored for inspection, and take injected faults.
 */
import type { Clock } from '@uk/core';
import { CloudWatchEmulator, type CloudWatchEmulatorOptions } from './cloudwatch.js';
import { CredentialStore } from './credentials.js';
import { ImdsEmulator, type ImdsOptions } from './imds.js';

export { ManualClock } from '@uk/core/testing';
export { CredentialStore, type CredentialState, type IssuedCredentials, type IssueOptions } from './credentials.js';
export { Faults, untilClosed, type AppliedFault, type Fault, type FaultKind, type FaultRule } from './faults.js';
export { TcpFaultProxy, type ProxyMode, type TcpFaultProxyOptions } from './tcp-proxy.js';
export { LoopbackServer, type DownMode, type IncomingRequest, type LoopbackServerOptions, type Reply } from './loopback-server.js';
export { ServiceModel, type ModelFile, type ModelName, type Operation, type ProblemKind, type Shape, type ValidationProblem } from './model.js';
export { MAX_CLOCK_SKEW_MS, verifySigV4, type AuthFailure, type AuthSuccess, type SignedRequest } from './sigv4.js';
export { ImdsEmulator, type ImdsOptions, type ImdsRequestRecord } from './imds.js';
export {
  CloudWatchEmulator,
  LOGS_LIMITS,
  METRICS_LIMITS,
  RETENTION_DAYS,
  type CloudWatchEmulatorOptions,
  type LogGroupData,
  type LogStreamData,
  type MetricRecord,
  type RequestRecord,
  type StoredEvent,
} from './cloudwatch.js';

export interface AwsEmulators {
  readonly store: CredentialStore;
  readonly imds: ImdsEmulator;
  readonly cloudwatch: CloudWatchEmulator;
  /**
   * Environment for a process under test: the metadata endpoint and the CloudWatch Logs and
   * metrics endpoints pointing at the emulators (plain http:// on loopback unless started with TLS).
   */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts an IMDS and a CloudWatch emulator that share one credential store and clock. */
export async function startAwsEmulators(
  options: { clock?: Clock; region?: string; imds?: ImdsOptions; cloudwatch?: CloudWatchEmulatorOptions } = {},
): Promise<AwsEmulators> {
  const store = new CredentialStore(options.clock);
  const region = options.region ?? 'us-west-1';
  const imds = await new ImdsEmulator({ region, store, ...(options.clock ? { clock: options.clock } : {}), ...options.imds }).start();
  const cloudwatch = await new CloudWatchEmulator({ region, store, ...(options.clock ? { clock: options.clock } : {}), ...options.cloudwatch })
    .start()
    .catch(async (err: unknown) => {
      await imds.close();
      throw err;
    });
  return {
    store,
    imds,
    cloudwatch,
    env: {
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: cloudwatch.url,
      AWS_ENDPOINT_URL_CLOUDWATCH: cloudwatch.url,
    },
    close: async () => {
      await Promise.all([imds.close(), cloudwatch.close()]);
    },
  };
}

// GCP: metadata server, Cloud Logging entries.write and Cloud Monitoring timeSeries.create.
export { GcpTokenStore, DEFAULT_SCOPES, type IssuedToken, type TokenState } from './gcp-tokens.js';
export { ProtoSchema, parseRfc3339, protosJsonPath, type SchemaName, type SchemaProblem } from './gcp-schema.js';
export { GcpApiEmulator, googleError, GRPC_STATUS, jsonReply, type ApiRequestRecord, type GcpApiEmulatorOptions } from './gcp-api.js';
export { GcpMetadataEmulator, randomInstanceId, type GcpMetadataOptions, type MetadataRequestRecord } from './gcp-metadata.js';
export { GcpLoggingEmulator, LOGGING_LIMITS, type EntryRejection, type GcpLoggingEmulatorOptions, type StoredLogEntry } from './gcp-logging.js';
export { GcpMonitoringEmulator, AGENT_METRICS, MONITORING_LIMITS, type StoredPoint } from './gcp-monitoring.js';
export { startGcpEmulators, type GcpEmulators, type GcpEmulatorsOptions } from './gcp-emulators.js';
export { makePki, type TestPki } from './pki.js';
