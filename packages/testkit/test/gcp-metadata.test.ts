import t, { type Test } from 'tap';
import { GcpMetadataEmulator, GcpTokenStore, ManualClock, randomInstanceId } from '../src/index.js';

async function start(t: Test, options: ConstructorParameters<typeof GcpMetadataEmulator>[0] = {}): Promise<GcpMetadataEmulator> {
  const server = await new GcpMetadataEmulator(options).start();
  t.teardown(() => server.close());
  return server;
}

async function get(server: GcpMetadataEmulator, path: string, headers: Record<string, string> = { 'metadata-flavor': 'Google' }) {
  const response = await fetch(`${server.url}/computeMetadata/v1/${path}`, { headers });
  return { status: response.status, flavor: response.headers.get('metadata-flavor'), text: await response.text() };
}

t.test('instance values, each answer with Metadata-Flavor: Google', async (t) => {
  const server = await start(t, { projectId: 'my-project', zone: 'europe-west1-b', projectNumber: '42', hostname: 'vm.c.my-project.internal' });
  t.same(await get(server, 'project/project-id'), { status: 200, flavor: 'Google', text: 'my-project' });
  t.same((await get(server, 'instance/zone')).text, 'projects/42/zones/europe-west1-b');
  t.same((await get(server, 'instance/hostname')).text, 'vm.c.my-project.internal');
  const id = (await get(server, 'instance/id')).text;
  t.match(id, /^[1-9]\d{18}$/, 'a 19-digit instance id');
  t.ok(BigInt(id) > BigInt(Number.MAX_SAFE_INTEGER), 'larger than a double can hold exactly');
  t.equal((await get(server, 'instance/nothing')).status, 404);
  t.equal((await get(server, 'instance/nothing')).flavor, 'Google', 'errors carry the header too');
  t.equal(server.host, `127.0.0.1:${server.port}`);
  t.match(randomInstanceId(), /^[1-9]\d{18}$/);
});

t.test('requests without Metadata-Flavor or through a proxy are refused', async (t) => {
  const server = await start(t);
  t.equal((await get(server, 'project/project-id', {})).status, 403);
  t.equal((await get(server, 'project/project-id', { 'metadata-flavor': 'Google', 'x-forwarded-for': '10.0.0.1' })).status, 403);
  t.same(
    server.requests.map((r) => [r.path, r.status, r.flavor]),
    [
      ['project/project-id', 403, false],
      ['project/project-id', 403, true],
    ],
  );
});

t.test('tokens: the same token until five minutes before expiry, then a new one; expired tokens are replaced', async (t) => {
  const clock = new ManualClock();
  const tokens = new GcpTokenStore({ clock, ttlSeconds: 3599 });
  const server = await start(t, { clock, tokens });
  const token = async (): Promise<{ access_token: string; expires_in: number }> =>
    JSON.parse((await get(server, 'instance/service-accounts/default/token')).text) as { access_token: string; expires_in: number };
  const first = await token();
  t.match(first, { access_token: /^ya29\./, expires_in: 3599, token_type: 'Bearer' });
  t.equal(tokens.check(first.access_token, 'https://www.googleapis.com/auth/logging.write'), 'valid');
  clock.advance(1000_000);
  const same = await token();
  t.equal(same.access_token, first.access_token);
  t.equal(same.expires_in, 2599, 'expires_in shrinks');
  clock.advance(2400_000);
  const renewed = await token();
  t.not(renewed.access_token, first.access_token, 'renewed with less than 5 minutes left');
  tokens.expire(renewed.access_token);
  t.equal(tokens.check(renewed.access_token), 'expired');
  const third = await token();
  t.not(third.access_token, renewed.access_token, 'a revoked token is replaced');
  t.equal(server.tokenRequests, 4);
  t.equal(tokens.check('ya29.forged'), 'unknown');
});

t.test('faults, down/up, and a server that is not a metadata server', async (t) => {
  const server = await start(t);
  server.faults.add(
    { kind: 'error', status: 500, type: 'internal', message: 'Failed to authenticate request (Type 0)' },
    { match: 'instance/service-accounts/default/token' },
  );
  t.equal((await get(server, 'instance/service-accounts/default/token')).status, 500);
  t.equal((await get(server, 'instance/service-accounts/default/token')).status, 200, 'only once');
  server.faults.add({ kind: 'error', status: 503, type: 'unavailable' }, { match: '*', times: 2 });
  t.equal((await get(server, 'instance/id')).status, 503);
  t.equal((await get(server, 'project/project-id')).status, 503);
  server.flavorHeader = false;
  const plain = await get(server, 'instance/id');
  t.equal(plain.status, 200);
  t.equal(plain.flavor, null, 'no Metadata-Flavor header');
  server.flavorHeader = true;
  await server.down();
  await t.rejects(get(server, 'instance/id'), 'refused while down');
  await server.up();
  t.equal((await get(server, 'instance/id')).status, 200, 'back on the same port');
});
