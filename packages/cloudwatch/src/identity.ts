/**
 * Where the klib is: the region (metadata service, else AWS_REGION / AWS_DEFAULT_REGION, else
 * the Ops config's CloudConfig.Zone without its zone letter) and the host name (metadata service
 * `local-hostname`; the kernel's host name when the metadata service is disabled).
 */
import { hostname as osHostname } from 'node:os';
import { reasonOf, type Env, type Tuple } from '@uk/core';
import { imdsDisabled, type ImdsClient } from './imds-client.js';

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** `us-west-1c` → `us-west-1`; undefined when the zone does not look like an AWS zone. */
export function regionOfZone(zone: string | undefined): string | undefined {
  if (!zone) return undefined;
  const match = /^([a-z]{2}(?:-[a-z]+)+-\d+)[a-z]$/.exec(zone.trim());
  return match ? match[1] : undefined;
}

export interface RegionSource {
  readonly region: string;
  readonly from: 'metadata' | 'AWS_REGION' | 'AWS_DEFAULT_REGION' | 'CloudConfig.Zone';
}

/**
 * The region, in the order of the issue's rule. The metadata service is asked first; when it
 * cannot answer, the environment and the config decide without waiting for it. Throws only when
 * no source has a region.
 */
export async function resolveRegion(options: { imds: ImdsClient | undefined; env: Env; cloudConfig: Tuple | undefined }): Promise<RegionSource> {
  let imdsProblem = 'disabled by AWS_EC2_METADATA_DISABLED';
  if (options.imds) {
    try {
      const region = await options.imds.get('placement/region');
      if (REGION.test(region)) return { region, from: 'metadata' };
      imdsProblem = `answered an invalid region ${JSON.stringify(region.slice(0, 40))}`;
    } catch (err) {
      imdsProblem = reasonOf(err);
    }
  }
  for (const key of ['AWS_REGION', 'AWS_DEFAULT_REGION'] as const) {
    const value = options.env[key];
    if (value) return { region: value, from: key };
  }
  let zone: string | undefined;
  try {
    zone = options.cloudConfig?.string('Zone');
  } catch {
    zone = undefined;
  }
  const fromZone = regionOfZone(zone);
  if (fromZone) return { region: fromZone, from: 'CloudConfig.Zone' };
  throw new Error(
    `no AWS region: metadata service ${imdsProblem}, AWS_REGION and AWS_DEFAULT_REGION are not set${zone ? `, and CloudConfig.Zone ${JSON.stringify(zone)} is not an AWS zone` : ' and CloudConfig has no Zone'}`,
  );
}

/** The instance's host name (the `host` dimension and the default log stream). */
export async function resolveHostname(options: { imds: ImdsClient | undefined; env: Env }): Promise<string> {
  if (!options.imds || imdsDisabled(options.env)) return osHostname();
  const name = await options.imds.get('local-hostname');
  if (name === '') throw new Error('metadata service answered an empty local-hostname');
  // Some instances list several names separated by spaces; the first is the primary one.
  return name.split(/\s+/)[0] as string;
}
