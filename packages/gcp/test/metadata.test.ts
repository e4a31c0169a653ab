import t, { type Test } from 'tap';
import { ManualClock, Timers, type KlibLog } from '@uk/core';
import { GcpMetadataEmulator } from '@uk/testkit';
import { createHttpClient } from '@uk/tls';
import { GcpSetup, MetadataClient, REFRESH_BEFORE_MS, TokenSource } from '../src/index.js';

async function start(t: Test, options: ConstructorParameters<typeof GcpMetadataEmulator>[0] = {}) {
  const server = await new GcpMetadataEmulator({ projectId: 'my-project', zone: 'us-west2-a', hostname: 'vm-1.c.my-project.internal', ...options }).start();
  const http = createHttpClient();
  t.teardown(async () => {
    http.close();
    await server.close();
  });
  return { server, client: new MetadataClient(http, `http://${server.host}`) };
}

function memoryLog(): KlibLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug ${m}`),
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

t.test('reads project, host name, zone, instance id and the token', async (t) => {
  const { server, client } = await start(t);
  t.equal(await client.projectId(), 'my-project');
  t.equal(await client.hostname(), 'vm-1.c.my-project.internal');
  t.equal(await client.zone(), 'us-west2-a', 'the part after /zones/');
  const id = await client.instanceId();
  t.equal(id, server.instanceId, 'the 19 digits, as a string');
  const token = await client.token();
  t.equal(token.token, server.currentToken?.token);
  t.ok(token.expiresInMs > 3_500_000 && token.expiresInMs <= 3_599_000);
  t.ok(
    server.requests.every((r) => r.flavor),
    'every request sent Metadata-Flavor: Google',
  );
});

t.test('answers without Metadata-Flavor: Google, errors and unreachable servers are refused with a reason', async (t) => {
  const { server, client } = await start(t);
  server.flavorHeader = false;
  t.match(await client.projectId().catch((e: Error) => e), { message: /no "Metadata-Flavor: Google" header/ });
  server.flavorHeader = true;
  server.faults.add({ kind: 'error', status: 500, type: 'x', message: 'Failed to authenticate request (Type 0)' }, { match: 'instance/zone' });
  t.match(await client.zone().catch((e: Error) => e), { message: /instance\/zone: HTTP 500: Failed to authenticate request/ });
  server.faults.add({ kind: 'error', status: 403, type: 'x', message: 'secret-ish body' }, { match: 'instance/service-accounts/default/token' });
  const err = await client.token().catch((e: Error) => e);
  t.match(err, { message: /token: HTTP 403$/ }, 'token errors do not echo the body');
  await server.down();
  const down = await client.instanceId().then(
    () => undefined,
    (e: Error) => e,
  );
  t.match(down?.message, /^metadata server http:\/\/127\.0\.0\.1:\d+: /, 'unreachable');
});

t.test('TokenSource: used until 5 minutes before expiry, then refreshed in the background; 401 invalidates', async (t) => {
  const clock = new ManualClock();
  let n = 0;
  const source = new TokenSource(async () => ({ token: `t${++n}`, expiresInMs: 3600_000 }), new Timers(clock));
  t.equal(await source.get(), 't1');
  t.equal(await source.get(), 't1');
  clock.advance(3600_000 - REFRESH_BEFORE_MS + 1);
  t.equal(await source.get(), 't1', 'still valid: served while a new one is fetched');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(await source.get(), 't2', 'the refreshed token');
  source.invalidate('t2');
  t.equal(await source.get(), 't3', 'a refused token is never used again');
  source.invalidate('t1');
  t.equal(await source.get(), 't3', 'invalidating an old token changes nothing');
  const [a, b] = await Promise.all([source.refresh(), source.refresh()]);
  t.equal(a, b, 'concurrent refreshes share one fetch');
  t.equal(source.fetched, 4);
  clock.advance(3600_000 - REFRESH_BEFORE_MS);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(source.fetched, 5, 'refreshed by its timer, with no request asking');
  source.stop();
  clock.advance(3600_000);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(source.fetched, 5, 'no timed refresh after stop');
});

t.test('setup: quiet while the backoff is 1 s, then reports; backoff doubles; values read once', async (t) => {
  const { server, client } = await start(t);
  const clock = new ManualClock();
  const timers = new Timers(clock);
  const log = memoryLog();
  const abort = new AbortController();
  const tokens = new TokenSource(() => client.token(), new Timers(clock));
  const setup = new GcpSetup({ metadata: client, tokens, timers, log, needHostname: true, signal: abort.signal });
  await server.down();
  setup.start();
  const settle = async () => {
    for (let i = 0; i < 20 && clock.pending === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  await settle();
  t.equal(setup.failures, 1);
  t.same(
    log.lines.filter((l) => l.startsWith('error')),
    [],
    'the first failure is not reported',
  );
  clock.advance(1000);
  await settle();
  t.equal(setup.failures, 2);
  t.match(
    log.lines.filter((l) => l.startsWith('error')),
    [/^error setup failed, retrying in 2 s: metadata server/],
  );
  clock.advance(2000);
  await settle();
  t.match(log.lines.at(-1), /retrying in 4 s/);
  await server.up();
  server.faults.add({ kind: 'error', status: 503, type: 'x' }, { match: 'instance/service-accounts/default/token' });
  clock.advance(4000);
  await settle();
  t.equal(setup.failures, 4, 'the token failed');
  const before = server.requests.length;
  clock.advance(8000);
  const info = await setup.ready;
  t.same(info, { projectId: 'my-project', zone: 'us-west2-a', instanceId: server.instanceId, hostname: 'vm-1.c.my-project.internal' });
  t.same(
    server.requests.slice(before).map((r) => r.path),
    ['instance/service-accounts/default/token'],
    'only the missing value is read again',
  );
  t.match(log.lines.at(-1), /^info setup done after 4 failed attempt\(s\)/);
  abort.abort();
});

t.test('setup: at shutdown a pending retry is tried at once', async (t) => {
  const { server, client } = await start(t);
  const clock = new ManualClock();
  const abort = new AbortController();
  const setup = new GcpSetup({
    metadata: client,
    tokens: new TokenSource(() => client.token(), new Timers(clock)),
    timers: new Timers(clock),
    log: memoryLog(),
    needHostname: false,
    signal: abort.signal,
  });
  server.faults.add({ kind: 'error', status: 500, type: 'x' }, { match: '*', times: 4 });
  setup.start();
  for (let i = 0; i < 50 && setup.failures === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(setup.failures, 1);
  abort.abort();
  const info = await setup.ready;
  t.equal(info.projectId, 'my-project', 'done without waiting for the backoff');
  t.equal(info.hostname, '', 'host name not needed');
});
