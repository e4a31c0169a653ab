/**
 * The three GCP emulators together, sharing one token store and one instance identity: what a
 * test of the gcp klib starts, and the environment that points a process at them.
 */
import type { Clock } from '@uk/core';
import { GcpLoggingEmulator, type GcpLoggingEmulatorOptions } from './gcp-logging.js';
import { GcpMetadataEmulator, randomInstanceId, type GcpMetadataOptions } from './gcp-metadata.js';
import { GcpMonitoringEmulator } from './gcp-monitoring.js';
import { GcpTokenStore } from './gcp-tokens.js';

export interface GcpEmulators {
  readonly tokens: GcpTokenStore;
  readonly metadata: GcpMetadataEmulator;
  readonly logging: GcpLoggingEmulator;
  readonly monitoring: GcpMonitoringEmulator;
  /**
   * Environment for a process under test: `GCE_METADATA_HOST` and gcloud's
   * `CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING` / `_MONITORING`, plain http:// on loopback.
   */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

export interface GcpEmulatorsOptions {
  readonly clock?: Clock;
  readonly projectId?: string;
  readonly zone?: string;
  readonly instanceId?: string;
  readonly hostname?: string;
  /** Lifetime of issued tokens, seconds (default 3599). */
  readonly tokenTtlSeconds?: number;
  readonly metadata?: GcpMetadataOptions;
  readonly logging?: GcpLoggingEmulatorOptions;
}

export async function startGcpEmulators(options: GcpEmulatorsOptions = {}): Promise<GcpEmulators> {
  const clock = options.clock;
  const tokens = new GcpTokenStore({ ...(clock ? { clock } : {}), ...(options.tokenTtlSeconds ? { ttlSeconds: options.tokenTtlSeconds } : {}) });
  const identity = {
    projectId: options.projectId ?? 'uk-test-project',
    zone: options.zone ?? 'us-west2-a',
    instanceId: options.instanceId ?? randomInstanceId(),
    ...(clock ? { clock } : {}),
    tokens,
  };
  const started: { close(): Promise<void> }[] = [];
  try {
    const metadata = await new GcpMetadataEmulator({ ...identity, ...(options.hostname ? { hostname: options.hostname } : {}), ...options.metadata }).start();
    started.push(metadata);
    const logging = await new GcpLoggingEmulator({ ...identity, ...options.logging }).start();
    started.push(logging);
    const monitoring = await new GcpMonitoringEmulator(identity).start();
    started.push(monitoring);
    return {
      tokens,
      metadata,
      logging,
      monitoring,
      env: {
        GCE_METADATA_HOST: metadata.host,
        CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING: `${logging.url}/`,
        CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING: `${monitoring.url}/`,
      },
      close: async () => {
        await Promise.all(started.map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
}
