/**
 * The UDP sender thread (see udp.ts). It owns its own connected socket and sends the datagrams of
 * each batch the main thread posts, in the order posted, and answers every batch with how many of
 * its datagrams went out. After a send error it sends nothing more until the main thread opens
 * the socket again, so the main thread knows exactly which datagrams still need sending.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parentPort } from 'node:worker_threads';
import type { SenderReply, SenderRequest } from './udp-protocol.js';

const port = parentPort;
if (!port) throw new Error('udp-sender.js runs as a worker thread of the syslog klib');

let socket: Socket | undefined;
let failed = false;

function reply(message: SenderReply): void {
  port!.postMessage(message);
}

function open(address: string, family: 4 | 6, serverPort: number): Promise<void> {
  socket?.close();
  failed = false;
  const s = createSocket(family === 6 ? 'udp6' : 'udp4');
  socket = s;
  return new Promise<void>((resolve) => {
    s.once('error', (err) => {
      // Could not connect (no route, bad address): answer anyway; sends then fail and say why.
      failed = true;
      reply({ kind: 'opened', error: err.message });
      resolve();
    });
    s.connect(serverPort, address, () => {
      s.removeAllListeners('error');
      // Send errors arrive through the callbacks; an 'error' event must never end the thread.
      s.on('error', () => {});
      reply({ kind: 'opened' });
      resolve();
    });
  });
}

/** Sends datagram `i` of the batch; resolves with the error code, if any. */
function sendOne(s: Socket, buffer: Uint8Array, start: number, end: number, last: boolean): Promise<NodeJS.ErrnoException | null> | undefined {
  // Only the last datagram carries a callback: Node then sends the others synchronously.
  if (!last) {
    s.send(buffer, start, end - start);
    return undefined;
  }
  return new Promise((resolve) => s.send(buffer, start, end - start, (error) => resolve(error as NodeJS.ErrnoException | null)));
}

async function send(id: number, buffer: Uint8Array, ends: Uint32Array): Promise<void> {
  const s = socket;
  if (!s || failed) {
    reply({ kind: 'sent', id, sent: 0, skipped: true });
    return;
  }
  const last = ends.length - 1;
  let start = 0;
  for (let i = 0; i < last; i++) {
    const end = ends[i] as number;
    sendOne(s, buffer, start, end, false);
    start = end;
  }
  const lastStart = start;
  const lastEnd = ends[last] as number;
  const error = await sendOne(s, buffer, lastStart, lastEnd, true);
  if (error?.code === 'ECONNREFUSED') {
    // An earlier datagram's ICMP "port unreachable" surfaced on this send, which therefore did not
    // go out: send it again (the error is consumed, so this does not loop). Nobody listens there,
    // so the batch counts as sent either way, as on the main thread.
    const again = await sendOne(s, buffer, lastStart, lastEnd, true);
    if (again && again.code !== 'ECONNREFUSED') {
      failed = true;
      reply({ kind: 'sent', id, sent: last, error: again.message });
    } else reply({ kind: 'sent', id, sent: ends.length, refused: true });
    return;
  }
  if (error) {
    // Datagrams sent without a callback report no error (Node drops it), so only the last one is
    // known to be unsent; the main thread sends it again.
    failed = true;
    reply({ kind: 'sent', id, sent: last, error: error.message });
    return;
  }
  reply({ kind: 'sent', id, sent: ends.length });
}

// One batch at a time, in order: a batch starts only once the one before it has its answer, so a
// failure stops everything after it.
let queue = Promise.resolve();
port.on('message', (m: SenderRequest) => {
  if (m.kind === 'open') queue = queue.then(() => open(m.address, m.family, m.port));
  else if (m.kind === 'send') queue = queue.then(() => send(m.id, m.buffer, m.ends));
  else {
    socket?.close();
    socket = undefined;
    port.close();
  }
});
