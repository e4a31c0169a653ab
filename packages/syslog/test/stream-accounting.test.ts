// The TCP output's accounting: a message whose fate is unknown when the connection goes (a reset
// with data unread, a shutdown before the server closed) is written again or counted as
// unconfirmed, never lost without a count. Real sockets on loopback, a scripted server.
import type { Socket } from 'node:net';
import t from 'tap';
import { Counter, Timers, type KlibLog } from '@uk/core';
import { socketBufferBytes, StreamOutput } from '../src/stream.js';
import { FakeSyslogServer } from './helpers/fake-server.js';

/** Resolves when the socket closes (an 'error' before it is expected here: the reset). */
const closed = (socket: Socket): Promise<void> => new Promise((resolve) => socket.once('close', () => resolve()));

const quiet: KlibLog = { debug() {}, info() {}, warn() {}, error() {} };

/** `count` RFC 6587 frames of `line <n>` from `first`, in one buffer. */
function frames(first: number, count: number): Buffer {
  let out = '';
  for (let i = first; i < first + count; i++) {
    const message = `<14>1 2025-01-01T00:00:00.000000Z host app - - - line ${i}`;
    out += `${Buffer.byteLength(message)} ${message}`;
  }
  return Buffer.from(out);
}

function output(port: number, options: { resendWindowMs: number; unreadBytes?: number }) {
  const counters = { reconnects: new Counter(), resent: new Counter(), dropped: new Counter(), unconfirmed: new Counter() };
  const stream = new StreamOutput({
    host: '127.0.0.1',
    port,
    secure: undefined,
    timers: new Timers(),
    log: quiet,
    retainBytes: 1024 * 1024,
    counters,
    ...options,
  });
  return { stream, counters };
}

t.test('a reset with data unread and no resend window: everything that may be unread is counted as unconfirmed', async (t) => {
  let held: Socket | undefined;
  // A server that accepts and never reads, then resets (its kernel answers with a RST: data unread).
  const server = await FakeSyslogServer.start({
    onConnection: (_i, socket) => {
      socket.pause();
      held = socket;
    },
  });
  t.teardown(() => server.close());
  const { stream, counters } = output(server.port, { resendWindowMs: 0 });
  for (let b = 0; b < 10; b++) await stream.send(frames(b * 100, 100), 100);
  t.ok(held, 'connected');
  const client = await stream.ensure();
  const gone = closed(client);
  (held as Socket).resetAndDestroy();
  await gone;
  t.same(server.messages, [], 'the server read nothing');
  t.equal(counters.unconfirmed.value, 1000, 'the 1,000 messages of unknown fate are counted');
  t.equal(counters.resent.value, 0);
  await stream.close(100);
});

t.test('a reset inside the resend window: written again on the next connection and counted as resent', async (t) => {
  let connections = 0;
  let firstSocket: Socket | undefined;
  const server = await FakeSyslogServer.start({
    onConnection: (i, socket) => {
      connections++;
      // The first connection is never read, then reset.
      if (i === 0) {
        socket.pause();
        firstSocket = socket;
      }
    },
  });
  t.teardown(() => server.close());
  const { stream, counters } = output(server.port, { resendWindowMs: 60_000 });
  await stream.send(frames(0, 300), 300);
  const first = await stream.ensure();
  const gone = closed(first);
  (firstSocket as Socket).resetAndDestroy();
  await gone;
  await stream.send(frames(300, 100), 100);
  await stream.close(5000);
  t.equal(connections, 2);
  t.same(
    server.messages,
    Array.from({ length: 400 }, (_, i) => `line ${i}`),
    'every line, once, in order',
  );
  t.equal(counters.resent.value, 300, 'the 300 lines written again were counted as resent');
  t.equal(counters.unconfirmed.value, 0);
});

t.test('shutdown before a hung server closed: what it may not have read is unconfirmed; a server that closes confirms everything', async (t) => {
  const hung = await FakeSyslogServer.start({ onConnection: (_i, socket) => socket.pause() });
  t.teardown(() => hung.close());
  const a = output(hung.port, { resendWindowMs: 2000 });
  await a.stream.send(frames(0, 500), 500);
  await a.stream.close(200);
  t.equal(a.counters.unconfirmed.value, 500, 'no close from the server by the deadline: 500 unconfirmed');

  const healthy = await FakeSyslogServer.start({ onConnection: (_i, socket) => socket.once('end', () => socket.end()) });
  t.teardown(() => healthy.close());
  const b = output(healthy.port, { resendWindowMs: 2000 });
  await b.stream.send(frames(0, 500), 500);
  await b.stream.close(5000);
  t.equal(healthy.messages.length, 500);
  t.equal(b.counters.unconfirmed.value, 0, 'the server read to the end and closed: nothing unconfirmed');
});

t.test('what may be unread is bounded by the socket buffers (unreadBytes)', async (t) => {
  let held: Socket | undefined;
  const server = await FakeSyslogServer.start({
    onConnection: (_i, socket) => {
      socket.pause();
      held = socket;
    },
  });
  t.teardown(() => server.close());
  const batch = frames(0, 10);
  // Room for two batches: only the last two can still be unread when the connection goes.
  const { stream, counters } = output(server.port, { resendWindowMs: 0, unreadBytes: 2 * batch.length });
  for (let b = 0; b < 8; b++) await stream.send(frames(b * 10, 10), 10);
  const client = await stream.ensure();
  const gone = closed(client);
  (held as Socket).resetAndDestroy();
  await gone;
  t.equal(counters.unconfirmed.value, 20, 'the last two batches (20 messages)');
  await stream.close(100);
});

t.test('socketBufferBytes: tcp_wmem + tcp_rmem maxima, 16 MiB when they cannot be read', async (t) => {
  const files: Record<string, string> = { '/proc/sys/net/ipv4/tcp_wmem': '4096\t16384\t4194304\n', '/proc/sys/net/ipv4/tcp_rmem': '4096\t131072\t6291456\n' };
  t.equal(
    socketBufferBytes((path) => files[path] ?? ''),
    4194304 + 6291456,
  );
  t.equal(
    socketBufferBytes(() => {
      throw new Error('ENOENT');
    }),
    16 * 1024 * 1024,
  );
  t.equal(
    socketBufferBytes(() => 'garbage'),
    16 * 1024 * 1024,
  );
});
