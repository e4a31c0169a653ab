/**
 * An HTTP (or HTTPS) server on 127.0.0.1 for the emulators: reads whole bodies with a size limit,
 * remembers its port so it can be taken down (connections refused, reset, or left hanging) and
 * brought back up on the same address.
 */
import { isAscii } from 'node:buffer';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface LoopbackServerOptions {
  /** Port to listen on (default: any free port). */
  readonly port?: number;
  /** Serve HTTPS with this key and certificate (PEM) instead of plain HTTP. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Largest request body read, bytes (default 8 MiB); larger ones get 413. */
  readonly maxBodyBytes?: number;
}

/** How a server that is down behaves: refuse connections, reset them, or accept and never answer. */
export type DownMode = 'refuse' | 'reset' | 'hang';

export interface IncomingRequest {
  readonly method: string;
  /** Path and query as sent. */
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly socket: Socket;
}

export interface Reply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
}

export abstract class LoopbackServer {
  readonly #options: LoopbackServerOptions;
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;
  #listening = false;
  #down: DownMode | undefined;

  constructor(options: LoopbackServerOptions = {}) {
    this.#options = options;
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.#onRequest(req, res);
    this.#server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, onRequest) : http.createServer(onRequest);
    this.#server.keepAliveTimeout = 5000;
    this.#server.on(options.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      if (this.#down === 'reset') {
        socket.destroy();
        return;
      }
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('tlsClientError', () => {});
    this.#server.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Starts listening on 127.0.0.1. */
  async start(): Promise<this> {
    await this.#listen(this.#options.port ?? 0);
    return this;
  }

  async #listen(port: number): Promise<void> {
    this.#server.listen(port, '127.0.0.1');
    await once(this.#server, 'listening');
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#listening = true;
  }

  get port(): number {
    return this.#port;
  }

  /** Base URL: `http://127.0.0.1:PORT` (https with the tls option). */
  get url(): string {
    return `${this.#options.tls ? 'https' : 'http'}://127.0.0.1:${this.#port}`;
  }

  /** Is the server up (answering)? */
  get isUp(): boolean {
    return this.#down === undefined;
  }

  /** Takes the server down: new and open connections are refused, reset, or left hanging. */
  async down(mode: DownMode = 'refuse'): Promise<void> {
    this.#down = mode;
    if (mode !== 'hang') for (const socket of this.#sockets) socket.destroy();
    if (mode === 'refuse' && this.#listening) {
      this.#listening = false;
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    }
  }

  /** Brings the server back on the same port. */
  async up(): Promise<void> {
    const wasRefusing = this.#down === 'refuse';
    if (this.#down === 'hang') for (const socket of this.#sockets) socket.destroy();
    this.#down = undefined;
    if (wasRefusing && !this.#listening) await this.#listen(this.#port);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    if (!this.#listening) return;
    this.#listening = false;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  protected abstract handle(request: IncomingRequest): Promise<Reply | 'reset'> | Reply | 'reset';

  async #onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.#down === 'hang') return;
    const limit = this.#options.maxBodyBytes ?? 8 * 1024 * 1024;
    // Read into one buffer sized from Content-Length when it is given (one copy instead of two).
    const declared = Number(req.headers['content-length']);
    const known = Number.isSafeInteger(declared) && declared >= 0 && declared <= limit;
    const whole = known ? Buffer.allocUnsafe(declared) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number.isSafeInteger(declared) && declared > limit;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (whole && size + chunk.length <= declared) chunk.copy(whole, size);
      else if (!tooLarge) chunks.push(chunk);
      size += chunk.length;
      if (size > limit) tooLarge = true;
    }
    if (tooLarge) {
      this.#reply(res, {
        status: 413,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ __type: 'RequestEntityTooLargeException', message: `Request body larger than ${limit} bytes` }),
      });
      return;
    }
    let reply: Reply | 'reset';
    try {
      const body = whole && size === declared ? whole : Buffer.concat(whole ? [whole.subarray(0, Math.min(size, declared)), ...chunks] : chunks);
      reply = await this.handle({ method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body, socket: req.socket });
    } catch (err) {
      reply = {
        status: 500,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ __type: 'InternalFailure', message: `emulator error: ${(err as Error).message}` }),
      };
    }
    if (reply === 'reset') {
      req.socket.destroy();
      return;
    }
    this.#reply(res, reply);
  }

  #reply(res: http.ServerResponse, reply: Reply): void {
    if (res.destroyed) return;
    const body = reply.body ?? '';
    res.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  }
}

/**
 * A request body as UTF-8 text. ASCII bytes (`ascii`: nearly every body) read the same in
 * Latin-1, whose decoder is a plain copy: about three times faster than the UTF-8 decoder on the
 * megabytes of JSON a busy client sends.
 */
export function bodyText(body: Buffer, ascii = isAscii(body)): string {
  return body.toString(ascii ? 'latin1' : 'utf8');
}

/** Resolves after `ms` of real time. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
