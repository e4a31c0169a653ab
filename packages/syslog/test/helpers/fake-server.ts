/**
 * A scriptable syslog TCP server (RFC 6587 octet counting) for what rsyslog cannot be told to do
 * on cue: stop reading, then drop the connection with data unread (the kernel then answers with a
 * reset and that data is gone), or read slowly.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

const HEADER = /^<(\d+)>1 \S+ \S+ \S+ \S+ - -(?: |$)/;

export interface FakeServerOptions {
  /** Port to listen on (default: any free one). */
  readonly port?: number;
  /** Called for each connection (0-based index) before any data is read. */
  readonly onConnection?: (index: number, socket: Socket, server: FakeSyslogServer) => void;
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
    this.#server = createServer((socket) => {
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
