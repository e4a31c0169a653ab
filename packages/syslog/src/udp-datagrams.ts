/**
 * Sends a batch's datagrams on a connected UDP socket, the same way from the main thread and from
 * the sender thread. Only the last datagram carries a callback: Node then sends the others
 * synchronously without a completion round trip, several times faster (and reports no error for
 * them: only the last one's fate is known).
 */
import type { Socket } from 'node:dgram';

function sendLast(socket: Socket, buffer: Uint8Array, start: number, end: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => socket.send(buffer, start, end - start, (error) => resolve(error)));
}

/**
 * Sends each `ends` range of `buffer` as a datagram; resolves with the last datagram's error, or
 * null. `ECONNREFUSED` means nobody listens on the server's port.
 */
export async function sendDatagrams(socket: Socket, buffer: Uint8Array, ends: ArrayLike<number>): Promise<NodeJS.ErrnoException | null> {
  const last = ends.length - 1;
  let start = 0;
  for (let i = 0; i < last; i++) {
    const end = ends[i] as number;
    socket.send(buffer, start, end - start);
    start = end;
  }
  const error = await sendLast(socket, buffer, start, ends[last] as number);
  if (error?.code !== 'ECONNREFUSED') return error;
  // A connected UDP socket reports an earlier datagram's ICMP "port unreachable" on a later send,
  // which is then not sent: send that one again (the error is consumed, so this does not loop).
  return sendLast(socket, buffer, start, ends[last] as number);
}
