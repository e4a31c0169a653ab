import http from 'node:http';
import t, { type Test } from 'tap';
import { fromInstanceMetadata } from '@smithy/credential-provider-imds';
import { ImdsEmulator, ManualClock, type ImdsOptions } from '../src/index.js';

async function start(t: Test, options: ImdsOptions = {}): Promise<ImdsEmulator> {
  const imds = await new ImdsEmulator(options).start();
  t.teardown(() => imds.close());
  return imds;
}

async function get(imds: ImdsEmulator, path: string, token?: string) {
  const response = await fetch(`${imds.url}${path}`, { headers: token ? { 'x-aws-ec2-metadata-token': token } : {} });
  return { status: response.status, text: await response.text() };
}

/** A GET on a new connection (no pooled socket), resolving with the status or rejecting with the socket error. */
function freshGet(imds: ImdsEmulator, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${imds.url}${path}`, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
  });
}

async function token(imds: ImdsEmulator, ttl: string | null = '21600', extra: Record<string, string> = {}) {
  const response = await fetch(`${imds.url}/latest/api/token`, {
    method: 'PUT',
    headers: { ...(ttl !== null ? { 'x-aws-ec2-metadata-token-ttl-seconds': ttl } : {}), ...extra },
  });
  return { status: response.status, text: await response.text() };
}

t.test('IMDSv2: token first, then metadata with the token', async (t) => {
  const imds = await start(t, { region: 'us-west-1' });
  const session = await token(imds);
  t.equal(session.status, 200);
  t.equal((await get(imds, '/latest/meta-data/placement/region', session.text)).text, 'us-west-1');
  t.equal((await get(imds, '/latest/meta-data/local-hostname', session.text)).text, 'ip-172-31-23-224.us-west-1.compute.internal');
  t.equal((await get(imds, '/latest/meta-data/iam/security-credentials/', session.text)).text, 'CloudWatchAgentServerRole');
  const creds: unknown = JSON.parse((await get(imds, '/latest/meta-data/iam/security-credentials/CloudWatchAgentServerRole', session.text)).text);
  t.match(creds, {
    Code: 'Success',
    Type: 'AWS-HMAC',
    AccessKeyId: imds.credentials.accessKeyId,
    Token: String,
    Expiration: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
  });
  t.equal((await get(imds, '/latest/meta-data/nothing-here', session.text)).status, 404);
  t.equal((await get(imds, '/latest/meta-data/placement/region')).status, 401, 'IMDSv1 refused by default');
  t.equal((await get(imds, '/latest/meta-data/placement/region', 'forged')).status, 401, 'unknown token refused');
  t.equal(imds.v1Requests, 1);
  const east = await start(t, { region: 'us-east-1' });
  t.equal(east.hostname, 'ip-172-31-23-224.ec2.internal', 'us-east-1 host names end in ec2.internal');
});

t.test('token TTL bounds, expiry and proxies', async (t) => {
  const clock = new ManualClock();
  const imds = await start(t, { clock });
  t.equal((await token(imds, null)).status, 400, 'TTL header required');
  t.equal((await token(imds, '0')).status, 400);
  t.equal((await token(imds, '21601')).status, 400);
  t.equal((await token(imds, '60', { 'x-forwarded-for': '10.0.0.1' })).status, 403, 'proxied token requests refused');
  const session = await token(imds, '60');
  t.equal((await get(imds, '/latest/meta-data/instance-id', session.text)).status, 200);
  clock.advance(60_000);
  t.equal((await get(imds, '/latest/meta-data/instance-id', session.text)).status, 401, 'token expired after its TTL');
});

t.test('the AWS SDK’s instance metadata provider reads the role credentials (IMDSv2)', async (t) => {
  const imds = await start(t);
  const endpoint = process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
  process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds.url;
  t.teardown(() => {
    if (endpoint === undefined) delete process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
    else process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = endpoint;
  });
  const provider = fromInstanceMetadata({ timeout: 2000, maxRetries: 0 });
  const creds = await provider();
  t.equal(creds.accessKeyId, imds.credentials.accessKeyId);
  t.equal(creds.sessionToken, imds.credentials.sessionToken);
  t.equal(creds.expiration?.getTime(), Math.floor(imds.credentials.expiration! / 1000) * 1000);
  t.equal(imds.v1Requests, 0, 'no IMDSv1 request');
  const rotated = imds.rotate();
  t.not(rotated.accessKeyId, creds.accessKeyId);
  t.equal((await fromInstanceMetadata({ timeout: 2000, maxRetries: 0 })()).accessKeyId, rotated.accessKeyId, 'rotation serves new credentials');

  // Where the token call answers 404 (no IMDSv2), the SDK falls back to IMDSv1, if allowed.
  imds.tokenEndpoint = 404;
  imds.imdsV1 = 'allowed';
  t.equal((await fromInstanceMetadata({ timeout: 2000, maxRetries: 0 })()).accessKeyId, rotated.accessKeyId);
  t.ok(imds.v1Requests > 0, 'IMDSv1 used after the 404');
});

t.test('faults and down modes', async (t) => {
  const imds = await start(t, { imdsV1: 'allowed' });
  imds.faults.add({ kind: 'error', status: 500, type: 'InternalError' }, { match: '/latest/meta-data/*', times: 2 });
  t.equal((await get(imds, '/latest/meta-data/instance-id')).status, 500);
  t.equal((await get(imds, '/latest/meta-data/local-ipv4')).status, 500);
  t.equal((await get(imds, '/latest/meta-data/instance-id')).status, 200, 'fault used up');
  imds.faults.add({ kind: 'reset' });
  await t.rejects(get(imds, '/latest/meta-data/instance-id'));
  await imds.down('refuse');
  t.equal(imds.isUp, false);
  await t.rejects(freshGet(imds, '/latest/meta-data/instance-id'), { code: 'ECONNREFUSED' });
  await imds.up();
  t.equal((await get(imds, '/latest/meta-data/instance-id')).status, 200, 'back on the same port');
  await imds.down('reset');
  await t.rejects(freshGet(imds, '/latest/meta-data/instance-id'), { code: 'ECONNRESET' });
  await imds.up();
  t.equal((await get(imds, '/latest/meta-data/instance-id')).status, 200);
  const noRole = await start(t, { role: null, imdsV1: 'allowed' });
  t.equal((await get(noRole, '/latest/meta-data/iam/security-credentials/')).status, 404, 'no instance profile');
});
