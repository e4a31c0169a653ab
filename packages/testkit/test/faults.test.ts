// The faults that act on a request's fate (hung, answered after the client gave up, answer lost),
// fault rules that match a body, and the counters a test waits on instead of a time. Real HTTP on
// loopback, signed as AWS's SDK signs.
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { CloudWatchEmulator, startGcpEmulators, TcpFaultProxy, type IssuedCredentials } from '../src/index.js';
import { call } from './helpers.js';

async function start(t: Test) {
  const emulator = await new CloudWatchEmulator().start();
  t.teardown(() => emulator.close());
  emulator.createLogStream('g', 's');
  return { emulator, credentials: emulator.store.issue() };
}

const put = (url: string, credentials: IssuedCredentials, message: string, signal?: AbortSignal) =>
  call(url, {
    target: 'Logs_20140328.PutLogEvents',
    credentials,
    body: { logGroupName: 'g', logStreamName: 's', logEvents: [{ timestamp: Date.now(), message }] },
    ...(signal ? { signal } : {}),
  });

t.test('hang: accepted, never answered, nothing stored, until the client gives up', async (t) => {
  const { emulator, credentials } = await start(t);
  emulator.faults.add({ kind: 'hang' }, { match: 'PutLogEvents' });
  await t.rejects(put(emulator.url, credentials, 'hung', AbortSignal.timeout(300)));
  await emulator.waitFor(() => emulator.requests.length === 1, { what: 'the hung request to be recorded' });
  t.equal(emulator.requests[0]?.errorType, 'Hung');
  t.same(emulator.messages('g', 's'), [], 'nothing stored');
  t.equal(emulator.faults.applied.hang, 1);
  t.equal((await put(emulator.url, credentials, 'after')).status, 200, 'the next request is answered');
});

t.test('slow: stored at once, answered late, or never if the client gave up first', async (t) => {
  const { emulator, credentials } = await start(t);
  emulator.faults.add({ kind: 'slow', ms: 60_000 }, { match: 'PutLogEvents' });
  await t.rejects(put(emulator.url, credentials, 'late', AbortSignal.timeout(300)), 'the client gave up');
  t.same(emulator.messages('g', 's'), ['late'], 'but the request was carried out');
  await emulator.waitFor(() => emulator.requests.length === 1, { what: 'the lost answer to be recorded' });
  t.equal(emulator.requests[0]?.errorType, 'AnswerLost');
  emulator.faults.add({ kind: 'slow', ms: 200 });
  const started = performance.now();
  t.equal((await put(emulator.url, credentials, 'waited')).status, 200, 'a client that waits gets its answer');
  t.ok(performance.now() - started >= 190, 'late');
  t.same(emulator.messages('g', 's'), ['late', 'waited']);
});

t.test('lose-answer: stored, then the connection is reset', async (t) => {
  const { emulator, credentials } = await start(t);
  emulator.faults.add({ kind: 'lose-answer' });
  await t.rejects(put(emulator.url, credentials, 'stored'));
  t.same(emulator.messages('g', 's'), ['stored']);
  t.equal(emulator.requests[0]?.errorType, 'AnswerLost');
});

t.test('contains, clear(kind), seen, log and until', async (t) => {
  const { emulator, credentials } = await start(t);
  const faults = emulator.faults;
  faults
    .add({ kind: 'error', status: 500, type: 'InternalFailure' }, { match: 'PutLogEvents', contains: 'needle', times: Infinity })
    .add({ kind: 'throttle' }, { match: 'CreateLogGroup' });
  t.equal((await put(emulator.url, credentials, 'hay')).status, 200, 'a body without the text is not affected');
  const waiting = faults.until(() => faults.applied.error >= 2, { timeoutMs: 10_000, what: 'two errors' });
  t.equal((await put(emulator.url, credentials, 'a needle')).status, 500);
  t.equal((await put(emulator.url, credentials, 'another needle')).status, 500);
  await waiting;
  t.equal(faults.seen.get('PutLogEvents'), 3, 'every request is seen');
  t.same(
    faults.log.map((e) => [e.kind, e.name]),
    [
      ['error', 'PutLogEvents'],
      ['error', 'PutLogEvents'],
    ],
  );
  t.ok((faults.log[1]?.at ?? 0) >= (faults.log[0]?.at ?? Infinity), 'in order, with times');
  faults.clear('error');
  t.equal(faults.pending, 1, 'the other fault stays');
  t.equal((await put(emulator.url, credentials, 'needle again')).status, 200, 'the outage is over');
  await t.rejects(
    faults.until(() => false, { timeoutMs: 50, what: 'nothing' }),
    /timed out after 50 ms waiting for nothing/,
  );
});

t.test('gcp: the same faults on entries.write', async (t) => {
  const gcp = await startGcpEmulators({ projectId: 'p-1', zone: 'us-west2-a', instanceId: '1234567890123456789' });
  t.teardown(() => gcp.close());
  const token = gcp.tokens.issue().token;
  const write = (text: string, signal?: AbortSignal) =>
    fetch(`${gcp.logging.url}/v2/entries:write`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        logName: 'projects/p-1/logs/x',
        resource: { type: 'gce_instance', labels: { project_id: 'p-1', instance_id: '1234567890123456789', zone: 'us-west2-a' } },
        entries: [{ timestamp: new Date().toISOString(), insertId: text, textPayload: text }],
      }),
      ...(signal ? { signal } : {}),
    });
  gcp.logging.faults.add({ kind: 'hang' }).add({ kind: 'slow', ms: 60_000 }).add({ kind: 'lose-answer' });
  await t.rejects(write('hung', AbortSignal.timeout(300)));
  await t.rejects(write('late', AbortSignal.timeout(300)));
  await t.rejects(write('lost'));
  t.equal((await write('fine')).status, 200);
  t.same(gcp.logging.lines(), ['late', 'lost', 'fine'], 'the hung request stored nothing; the slow and lost ones were carried out');
  t.same(gcp.logging.faults.applied, { error: 0, throttle: 0, reset: 0, delay: 0, 'expired-token': 0, hang: 1, slow: 1, 'lose-answer': 1 });
});

/** A TCP server that keeps what it reads and closes after the client's FIN. */
async function sink(t: Test) {
  const received: Buffer[] = [];
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.on('data', (c: Buffer) => received.push(c));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, text: () => Buffer.concat(received).toString(), connections: () => connections };
}

const closed = (socket: Socket): Promise<boolean> => new Promise((resolve) => socket.once('close', (hadError: boolean) => resolve(hadError)));
const connected = async (port: number): Promise<Socket> => {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
};

t.test('TcpFaultProxy: forwards, slows, cuts, resets and refuses', async (t) => {
  const target = await sink(t);
  const proxy = await TcpFaultProxy.start({ target: { host: '127.0.0.1', port: target.port } });
  t.teardown(() => proxy.close());

  // Slow reader: every chunk forwarded late, all of it, and the client's FIN after the last one.
  proxy.readDelayMs = 50;
  const a = await connected(proxy.port);
  const aClosed = closed(a);
  a.write('x'.repeat(1000));
  a.end();
  await aClosed;
  t.equal(target.text(), 'x'.repeat(1000), 'everything forwarded before the FIN');
  proxy.readDelayMs = 0;

  // A cut: both sides reset once 100 more bytes went through.
  proxy.cutAfter(100);
  const b = await connected(proxy.port);
  const bClosed = closed(b);
  b.write('y'.repeat(5000));
  t.ok(await bClosed, 'the client saw an error (reset)');
  await proxy.until(() => proxy.resets >= 1, { timeoutMs: 5000 });
  t.equal(target.text().split('y').length - 1, 100, 'exactly 100 bytes reached the server');

  // Refusing: new connections are reset at once, and counted.
  proxy.mode = 'reset';
  const c = connect(proxy.port, '127.0.0.1');
  c.on('error', () => {});
  t.ok(await closed(c), 'reset at once');
  t.equal(proxy.resets, 2);
  t.equal(proxy.accepted, 3);
  t.equal(target.connections(), 2, 'the refused connection never reached the server');
});
