/**
 * A scriptable syslog TCP server (RFC 6587 octet counting) for what rsyslog cannot be told to do
 * on cue: stop reading, then drop the connection with data unread (the kernel then answers with a
 * reset and that data is gone), or read slowly.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

const HEADER = /^<(\d+)>1 \S+ \S+ \S+ \S+ - -(?: |$)/;

export interface FakeServerOptions {
  /** Port to listen on (default: any free one). */
  readonly port?: number;
  /** Called for each connection (0-based index) before any data is read. */
  readonly onConnection?: (index: number, socket: Socket, server: FakeSyslogServer) => void;
  /**
   * How far Node reads ahead of a paused socket, bytes (Node's default: 16 KiB). A small value
   * makes pause() leave what follows in the kernel, as a server that stops reading does.
   */
  readonly readAheadBytes?: number;
  /** Called after each message is parsed. */
  readonly onMessage?: (text: string, server: FakeSyslogServer, socket: Socket) => void;
}

export class FakeSyslogServer {
  readonly messages: string[] = [];
  connections = 0;
  framingErrors = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(options: FakeServerOptions) {
    this.#server = createServer(options.readAheadBytes ? { highWaterMark: options.readAheadBytes } : {}, (socket) => {
      const index = this.connections++;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {});
      options.onConnection?.(index, socket, this);
      let pending: Buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        const buf: Buffer = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
        let at = 0;
        for (;;) {
          const space = buf.indexOf(32, at);
          if (space === -1) break;
          const length = Number(buf.toString('latin1', at, space));
          if (!Number.isInteger(length) || length <= 0 || space - at > 7) {
            this.framingErrors++;
            socket.destroy();
            return;
          }
          if (buf.length < space + 1 + length) break;
          const message = buf.toString('utf8', space + 1, space + 1 + length);
          at = space + 1 + length;
          const header = HEADER.exec(message);
          if (!header) {
            this.framingErrors++;
            continue;
          }
          const text = message.slice(header[0].length);
          this.messages.push(text);
          options.onMessage?.(text, this, socket);
          if (socket.destroyed) return;
        }
        pending = buf.subarray(at);
      });
    });
  }

  static async start(options: FakeServerOptions = {}): Promise<FakeSyslogServer> {
    const server = new FakeSyslogServer(options);
    server.#server.listen(options.port ?? 0, '127.0.0.1');
    await once(server.#server, 'listening');
    return server;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Checks `texts` against `line 0` … `line n-1`: what is missing, duplicated, or out of order. */
export function audit(texts: readonly string[], count: number, prefix = 'line'): { missing: number[]; duplicates: number; outOfOrder: number } {
  const seen = new Set<number>();
  let duplicates = 0;
  let outOfOrder = 0;
  let last = -1;
  for (const text of texts) {
    const match = new RegExp(`^${prefix} (\\d+)`).exec(text);
    if (!match) continue;
    const i = Number(match[1]);
    if (seen.has(i)) {
      duplicates++;
      continue;
    }
    // First occurrences must come in order; a resent tail only repeats lines already seen.
    if (i < last) outOfOrder++;
    last = i;
    seen.add(i);
  }
  const missing: number[] = [];
  for (let i = 0; i < count; i++) if (!seen.has(i)) missing.push(i);
  return { missing, duplicates, outOfOrder };
}

/**
 * Bytes the kernel has received on this (server-side, IPv4) connection that the process has not
 * read yet: the `rx_queue` column of /proc/net/tcp. Linux answers a close with a reset only when
 * this is above zero, so a test that needs that reset waits for it instead of guessing a delay.
 */
export async function kernelUnreadBytes(socket: Socket): Promise<number> {
  const hex = (port: number | undefined): string => (port ?? 0).toString(16).toUpperCase().padStart(4, '0');
  const local = `:${hex(socket.localPort)}`;
  const remote = `:${hex(socket.remotePort)}`;
  for (const row of (await readFile('/proc/net/tcp', 'latin1')).split('\n').slice(1)) {
    const [, localAddress, remoteAddress, , queues] = row.trim().split(/\s+/);
    if (localAddress?.endsWith(local) && remoteAddress?.endsWith(remote)) return parseInt(queues?.split(':')[1] ?? '0', 16);
  }
  return 0;
}

/**
 * Stops reading, waits until Node has stopped reading too and the kernel holds bytes the server
 * never read, hands what Node had already read to the parser (the server did receive those), then
 * closes: the kernel answers with a reset and discards the unread bytes, though every write of
 * the client had succeeded.
 */
export async function closeWithUnreadData(socket: Socket, timeoutMs = 60_000): Promise<void> {
  socket.pause();
  const deadline = Date.now() + timeoutMs;
  // Bytes Node holds for the paused stream mean it has stopped reading the socket (with a small
  // read-ahead, the first chunk after pause() does that): from then on what the kernel holds stays
  // unread. Unread bytes seen before that point could still be read by Node before the close.
  while (socket.readableLength === 0 || (await kernelUnreadBytes(socket)) === 0) {
    if (socket.destroyed) throw new Error('the client closed before any data was left unread');
    if (Date.now() > deadline) throw new Error(`no unread data in the kernel after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // read() in paused mode still emits 'data': the parser takes what Node buffered.
  while (!socket.destroyed && socket.read() !== null);
  socket.destroy();
}
