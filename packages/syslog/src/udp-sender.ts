/**
 * The UDP sender thread (see udp.ts). It owns its own connected socket and sends the datagrams of
 * each batch the main thread posts, in the order posted, and answers every batch with how many of
 * its datagrams went out. After a send error it sends nothing more until the main thread opens
 * the socket again, so the main thread knows exactly which datagrams still need sending.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parentPort } from 'node:worker_threads';
import { sendDatagrams } from './udp-datagrams.js';
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

async function send(id: number, buffer: Uint8Array, ends: Uint32Array): Promise<void> {
  const s = socket;
  if (!s || failed) {
    reply({ kind: 'sent', id, sent: 0, skipped: true });
    return;
  }
  const error = await sendDatagrams(s, buffer, ends);
  if (!error) reply({ kind: 'sent', id, sent: ends.length });
  // Nobody listens on the server's port: the batch counts as sent, as on the main thread.
  else if (error.code === 'ECONNREFUSED') reply({ kind: 'sent', id, sent: ends.length, refused: true });
  else {
    // Only the last datagram's fate is known: it is counted as unsent and sent again.
    failed = true;
    reply({ kind: 'sent', id, sent: ends.length - 1, error: error.message });
  }
}

// One batch at a time, in order: a batch starts only once the one before it has its answer, so a
// failure stops everything after it.
let queue = Promise.resolve();
port.on('message', (m: SenderRequest) => {
  if (m.kind === 'open') queue = queue.then(() => open(m.address, m.family, m.port));
  else queue = queue.then(() => send(m.id, m.buffer, m.ends));
});
