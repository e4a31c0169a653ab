import { hostname } from 'node:os';
import t, { type Test } from 'tap';
import { systemClock, Tuple } from '@uk/core';
import { ImdsEmulator, type ImdsOptions } from '@uk/testkit';
import { createHttpClient } from '@uk/tls';
import { ImdsClient, imdsEndpoint } from '../src/imds-client.js';
import { regionOfZone, resolveHostname, resolveRegion } from '../src/identity.js';

async function emulator(t: Test, options: ImdsOptions = {}) {
  const imds = await new ImdsEmulator(options).start();
  const http = createHttpClient();
  t.teardown(async () => {
    http.close();
    await imds.close();
  });
  const client = (env: Record<string, string> = {}) =>
    new ImdsClient({ http, clock: systemClock, env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url, ...env }, timeoutMs: 1000 });
  return { imds, client };
}

t.test('IMDSv2 with a session token, reused', async (t) => {
  const { imds, client } = await emulator(t, { region: 'eu-west-3' });
  const c = client();
  t.equal(await c.get('placement/region'), 'eu-west-3');
  t.equal(await c.get('local-hostname'), imds.hostname);
  t.same(
    imds.requests.map((r) => `${r.method} ${r.path} ${r.auth}`),
    ['PUT /latest/api/token none', 'GET /latest/meta-data/placement/region token', 'GET /latest/meta-data/local-hostname token'],
    'one token for both',
  );
  t.equal(c.usingV1, false);
});

t.test('IMDSv1 only where the token call answers 403/404/405, and never when disabled', async (t) => {
  const { imds, client } = await emulator(t, { imdsV1: 'allowed' });
  imds.tokenEndpoint = 405;
  const c = client();
  t.equal(await c.get('placement/region'), 'us-west-1');
  t.equal(c.usingV1, true);
  t.equal(imds.v1Requests, 1);
  await t.rejects(client({ AWS_EC2_METADATA_V1_DISABLED: 'true' }).get('placement/region'), { code: 'IMDS_V1_DISABLED' });
  imds.tokenEndpoint = 'ok';
  imds.faults.add({ kind: 'error', status: 500, type: 'InternalError' }, { match: '/latest/api/token' });
  const strict = client();
  await t.rejects(strict.get('placement/region'), { code: 'IMDS_TOKEN_FAILED' }, 'a 500 on the token call is an error, not a reason for IMDSv1');
  t.equal(strict.usingV1, false);
  t.equal(await strict.get('placement/region'), 'us-west-1', 'works once the service recovers');
});

t.test('an expired token is renewed once', async (t) => {
  const { imds, client } = await emulator(t);
  const c = client();
  await c.get('instance-id');
  imds.faults.add({ kind: 'expired-token' }, { match: '/latest/meta-data/instance-id' });
  t.equal(await c.get('instance-id'), imds.instanceId);
  t.equal(imds.requests.filter((r) => r.path === '/latest/api/token').length, 2);
});

t.test('region: metadata, then AWS_REGION / AWS_DEFAULT_REGION, then CloudConfig.Zone', async (t) => {
  const { imds, client } = await emulator(t, { region: 'ap-south-1' });
  const zone = Tuple.fromJSON({ Zone: 'us-west-1c' }, 'CloudConfig');
  t.same(await resolveRegion({ imds: client(), env: { AWS_REGION: 'eu-north-1' }, cloudConfig: zone }), { region: 'ap-south-1', from: 'metadata' });
  await imds.down('refuse');
  t.same(await resolveRegion({ imds: client(), env: { AWS_REGION: 'eu-north-1', AWS_DEFAULT_REGION: 'x' }, cloudConfig: zone }), {
    region: 'eu-north-1',
    from: 'AWS_REGION',
  });
  t.same(await resolveRegion({ imds: client(), env: { AWS_DEFAULT_REGION: 'eu-south-2' }, cloudConfig: zone }), {
    region: 'eu-south-2',
    from: 'AWS_DEFAULT_REGION',
  });
  t.same(await resolveRegion({ imds: client(), env: {}, cloudConfig: zone }), { region: 'us-west-1', from: 'CloudConfig.Zone' });
  await t.rejects(
    resolveRegion({ imds: client(), env: {}, cloudConfig: Tuple.fromJSON({ Zone: 'nowhere' }) }),
    /no AWS region: metadata service .*ECONNREFUSED.*CloudConfig.Zone "nowhere" is not an AWS zone/,
  );
  await t.rejects(resolveRegion({ imds: undefined, env: {}, cloudConfig: undefined }), /disabled by AWS_EC2_METADATA_DISABLED/);
  t.equal(regionOfZone('us-gov-west-1a'), 'us-gov-west-1');
  t.equal(regionOfZone('eu-central-1'), undefined, 'a region is not a zone');
});

t.test('host name from the metadata service, or the kernel’s when it is disabled', async (t) => {
  const { imds, client } = await emulator(t, { hostname: 'ip-10-1-2-3.ec2.internal' });
  t.equal(await resolveHostname({ imds: client(), env: {} }), 'ip-10-1-2-3.ec2.internal');
  t.equal(await resolveHostname({ imds: client(), env: { AWS_EC2_METADATA_DISABLED: 'true' } }), hostname());
  await imds.down('reset');
  await t.rejects(resolveHostname({ imds: client(), env: {} }));
  t.equal(imdsEndpoint({}), 'http://169.254.169.254');
  t.equal(imdsEndpoint({ AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'IPv6' }), 'http://[fd00:ec2::254]');
  t.equal(imdsEndpoint({ AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:1/' }), 'http://127.0.0.1:1');
});
