// The UDP output's sender thread: under load the datagrams go out from a worker thread; they must
// arrive exactly as from the main thread (all of them, in order), a failure there must leave
// nothing lost or doubled, and without the thread everything still goes out.
import { createSocket, type Socket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Counter, type KlibLog } from '@uk/core';
import type { EncodedBatch } from '../src/format.js';
import { UdpOutput } from '../src/udp.js';
import type { SenderThreadHandle, SentReply } from '../src/udp-thread.js';

interface Sink {
  readonly port: number;
  readonly messages: string[];
  close(): void;
}

async function sink(): Promise<Sink> {
  const socket: Socket = createSocket('udp4');
  const messages: string[] = [];
  socket.on('message', (m) => messages.push(m.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, messages, close: () => socket.close() };
}

function batchOf(texts: readonly string[]): EncodedBatch {
  const buffer = Buffer.from(texts.join(''));
  const ends: number[] = [];
  let end = 0;
  for (const text of texts) ends.push((end += Buffer.byteLength(text)));
  return { buffer, ends };
}

const range = (from: number, count: number, prefix = 'm') => Array.from({ length: count }, (_, i) => `${prefix}${from + i}`);

function recordingLog(): KlibLog & { lines: string[] } {
  const lines: string[] = [];
  const add = (m: string) => void lines.push(m);
  return { lines, debug: add, info: add, warn: add, error: add };
}

/**
 * Waits for an event (the sender thread ready, datagrams arrived), polling; the outer limit is
 * generous because a worker thread starts slowly under the TypeScript loader on a loaded machine.
 */
async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

t.test('under load the sender thread sends every datagram, in order, and close waits for the last one', async (t) => {
  const s = await sink();
  t.teardown(() => s.close());
  const threadStarts = new Counter();
  const dropped = new Counter();
  const log = recordingLog();
  const udp = new UdpOutput({ host: '127.0.0.1', port: s.port, log, threadMinBatch: 10, threadStarts, dropped });
  const expected: string[] = [];
  for (let b = 0; b < 40; b++) {
    const texts = range(b * 50, 50);
    expected.push(...texts);
    await udp.send(batchOf(texts));
    // The first batch starts the thread; the rest go out from it.
    if (b === 0) await until(() => udp.threaded, 'the sender thread');
    // Let the sink read: its receive buffer holds a few hundred datagrams.
    await sleep(2);
  }
  t.ok(udp.threaded, 'batches went out from the thread');
  await udp.close(2000);
  await until(() => s.messages.length >= expected.length, 'every datagram');
  t.equal(threadStarts.value, 1, 'the thread started once', { log: log.lines });
  t.same(s.messages, expected, 'every datagram arrived once, in order');
  t.equal(dropped.value, 0);
});

t.test('small batches stay on the main thread', async (t) => {
  const s = await sink();
  t.teardown(() => s.close());
  const threadStarts = new Counter();
  const udp = new UdpOutput({ host: '127.0.0.1', port: s.port, log: recordingLog(), threadStarts });
  for (let b = 0; b < 5; b++) await udp.send(batchOf(range(b * 3, 3)));
  await udp.close(1000);
  await until(() => s.messages.length >= 15, 'every datagram');
  t.equal(threadStarts.value, 0, 'no thread for a trickle');
  t.same(s.messages, range(0, 15));
});

/**
 * A sender thread that sends through a real socket, but fails once: in batch `failBatch` after
 * `failAfter` datagrams, then skips everything until it is opened again, as udp-sender does.
 */
function flakyThread(port: number, failBatch: number, failAfter: number) {
  const socket = createSocket('udp4');
  let batches = 0;
  let failed = false;
  const opens: number[] = [];
  const handle: SenderThreadHandle = {
    ready: false,
    needsOpen: false,
    async open() {
      await new Promise<void>((resolve) => (socket.connect(port, '127.0.0.1', () => resolve()), undefined)).catch(() => {});
      opens.push(batches);
      failed = false;
      (handle as { ready: boolean }).ready = true;
      handle.needsOpen = false;
    },
    async send(batch: EncodedBatch): Promise<SentReply> {
      await sleep(1);
      const id = ++batches;
      if (failed) return { kind: 'sent', id, sent: 0, skipped: true };
      const count = id === failBatch ? failAfter : batch.ends.length;
      let start = 0;
      for (let i = 0; i < count; i++) {
        socket.send(batch.buffer, start, (batch.ends[i] as number) - start);
        start = batch.ends[i] as number;
      }
      if (id === failBatch) {
        failed = true;
        return { kind: 'sent', id, sent: count, error: 'send ENETUNREACH 127.0.0.1' };
      }
      return { kind: 'sent', id, sent: count };
    },
    close() {
      socket.close();
    },
  };
  return { handle, opens };
}

t.test('a failure in the thread: the unsent datagrams go out first on the next send, nothing is lost or doubled', async (t) => {
  const s = await sink();
  t.teardown(() => s.close());
  const flaky = flakyThread(s.port, 3, 4);
  const udp = new UdpOutput({ host: '127.0.0.1', port: s.port, log: recordingLog(), threadMinBatch: 1, startThread: () => flaky.handle });
  // What the Batcher does: send each batch until it goes (a retry would wait; here it is at once).
  const errors: string[] = [];
  const expected: string[] = [];
  for (let b = 0; b < 8; b++) {
    const texts = range(b * 10, 10);
    expected.push(...texts);
    for (let attempt = 0; ; attempt++) {
      try {
        await udp.send(batchOf(texts));
        break;
      } catch (err) {
        errors.push((err as Error).message);
        if (attempt > 3) throw err;
      }
    }
    await sleep(2);
  }
  await udp.close(2000);
  await until(() => s.messages.length >= expected.length, 'every datagram');
  await sleep(20);
  t.same(errors, ['send ENETUNREACH 127.0.0.1'], 'the failure reached the caller once, with its reason');
  t.same(s.messages, expected, 'every datagram once, in order: the 6 unsent of the failed batch went out before the next');
  t.ok(flaky.opens.length >= 2, 'the thread was opened again after the failure');
});

t.test('a failure at shutdown: close sends what the thread could not, or counts it as dropped', async (t) => {
  const s = await sink();
  t.teardown(() => s.close());
  const flaky = flakyThread(s.port, 2, 3);
  const dropped = new Counter();
  const udp = new UdpOutput({ host: '127.0.0.1', port: s.port, log: recordingLog(), threadMinBatch: 1, startThread: () => flaky.handle, dropped });
  await udp.send(batchOf(range(0, 5))); // main thread: the thread is still starting
  await until(() => flaky.handle.ready, 'the thread');
  await udp.send(batchOf(range(5, 5))); // thread batch 1
  await udp.send(batchOf(range(10, 5))); // thread batch 2: fails after 3; answered at close
  await udp.close(2000);
  await until(() => s.messages.length >= 15, 'every datagram');
  t.same(s.messages, range(0, 15), 'the 2 unsent datagrams were sent at close, in order');
  t.equal(dropped.value, 0);
});

t.test('when the thread cannot start, everything goes out from the main thread', async (t) => {
  const s = await sink();
  t.teardown(() => s.close());
  const log = recordingLog();
  const udp = new UdpOutput({
    host: '127.0.0.1',
    port: s.port,
    log,
    threadMinBatch: 1,
    startThread: () => {
      throw new Error('no threads here');
    },
  });
  for (let b = 0; b < 4; b++) await udp.send(batchOf(range(b * 5, 5)));
  await udp.close(1000);
  await until(() => s.messages.length >= 20, 'every datagram');
  t.same(s.messages, range(0, 20));
  t.match(log.lines.join('\n'), /sender thread not used: no threads here/);
});
