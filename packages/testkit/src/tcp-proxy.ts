/**
 * A TCP proxy on 127.0.0.1 in front of a real server (rsyslogd, say), for the faults of a
 * connection that the server itself cannot be told to make on cue. It forwards bytes as they are
 * (TLS passes through untouched), and on request:
 *
 * - `mode = 'reset'`: accepts new connections and resets them at once (a server that refuses);
 * - `mode = 'hang'`: accepts new connections and never reads from them (a hung server: the
 *   client's writes fill the socket buffers, then stall);
 * - `readDelayMs`: waits this long before forwarding each chunk it reads (a slow reader: the
 *   client is held back by TCP flow control);
 * - `cutAfter(n)`: resets both sides of the connection once `n` more bytes have been forwarded;
 *   what the client wrote beyond that point, and what sat in the proxy, is gone (a reset with
 *   data in flight);
 * - `resetAll()`: resets every open connection, both sides.
 *
 * When the server cannot be reached the client connection is reset. Every event is counted
 * (`accepted`, `resets`, `upstreamFailures`, `bytesForwarded`), and `until` waits for one.
 */
import { ConditionWaiters } from './waiters.js';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'reset' | 'hang';

export interface TcpFaultProxyOptions {
  /** The real server. */
  readonly target: { readonly host: string; readonly port: number };
  /** Port to listen on (default: any free one). */
  readonly port?: number;
}

interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** Resolves once every chunk read so far has been forwarded (the client's FIN waits for it). */
  forwarded: Promise<void>;
  /** Reset by the proxy: nothing more is forwarded. */
  reset: boolean;
}

export class TcpFaultProxy {
  readonly target: { readonly host: string; readonly port: number };
  /** How new connections are treated. */
  mode: ProxyMode = 'pass';
  /** Delay before each chunk read from a client is forwarded, ms (0: at once). */
  readDelayMs = 0;
  /** Connections accepted. */
  accepted = 0;
  /** Connections reset by the proxy (mode 'reset', `cutAfter`, `resetAll`, server unreachable). */
  resets = 0;
  /** Connections to the server that failed. */
  upstreamFailures = 0;
  /** Bytes forwarded from clients to the server. */
  bytesForwarded = 0;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #cutAt: number | undefined;
  readonly #waiters = new ConditionWaiters();

  private constructor(options: TcpFaultProxyOptions) {
    this.target = options.target;
    // Half-open: the client's FIN is passed on once everything before it was forwarded, and the
    // server's FIN goes back to the client (a syslog server closes after reading to the end).
    this.#server = createServer({ allowHalfOpen: true }, (client) => this.#accept(client));
  }

  static async start(options: TcpFaultProxyOptions): Promise<TcpFaultProxy> {
    const proxy = new TcpFaultProxy(options);
    proxy.#server.listen(options.port ?? 0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Connections open now. */
  get open(): number {
    return this.#pairs.size;
  }

  /** Resets both sides of the connection once `bytes` more bytes have been forwarded (once). */
  cutAfter(bytes: number): void {
    this.#cutAt = this.bytesForwarded + bytes;
  }

  /** Resets every open connection, both sides. */
  resetAll(): void {
    for (const pair of this.#pairs) this.#reset(pair);
  }

  /** Resolves once `predicate` holds, checked now and after every event; rejects after `timeoutMs`. */
  until(predicate: () => boolean, options: { timeoutMs?: number; what?: string } = {}): Promise<void> {
    return this.#waiters.until(
      predicate,
      options.what ?? 'a proxy event',
      () => `accepted ${this.accepted}, resets ${this.resets}, upstream failures ${this.upstreamFailures}`,
      options.timeoutMs,
    );
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    this.#pairs.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #wake(): void {
    this.#waiters.wake();
  }

  #reset(pair: Pair): void {
    if (pair.reset) return;
    pair.reset = true;
    this.#pairs.delete(pair);
    this.resets++;
    pair.client.resetAndDestroy();
    if (pair.upstream && !pair.upstream.destroyed) pair.upstream.resetAndDestroy();
    this.#wake();
  }

  #accept(client: Socket): void {
    this.accepted++;
    const pair: Pair = { client, upstream: undefined, forwarded: Promise.resolve(), reset: false };
    this.#pairs.add(pair);
    client.on('error', () => this.#reset(pair));
    client.on('close', () => {
      this.#pairs.delete(pair);
      // Closed without its FIN reaching us (destroyed): pass on what was read, then end.
      void pair.forwarded.then(() => pair.upstream?.end());
    });
    if (this.mode === 'reset') {
      this.#reset(pair);
      return;
    }
    if (this.mode === 'hang') {
      // Never read: the client's bytes pile up in the socket buffers.
      client.pause();
      this.#wake();
      return;
    }
    client.pause();
    const upstream = connect({ host: this.target.host, port: this.target.port, noDelay: true, allowHalfOpen: true });
    pair.upstream = upstream;
    let connected = false;
    upstream.on('error', () => {
      if (!connected && !pair.reset) this.upstreamFailures++;
      this.#reset(pair);
    });
    upstream.on('connect', () => {
      connected = true;
      client.resume();
      this.#wake();
    });
    // The server's half-close (after reading to the end) goes back to the client as a FIN.
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    upstream.on('end', () => client.end());
    client.on('end', () => void pair.forwarded.then(() => upstream.end()));
    client.on('data', (chunk: Buffer) => this.#forward(pair, upstream, chunk));
    this.#wake();
  }

  #forward(pair: Pair, upstream: Socket, chunk: Buffer): void {
    if (this.#cutAt !== undefined && this.bytesForwarded + chunk.length > this.#cutAt) {
      // Forward up to the cut (a frame may end half-way), then reset both sides.
      const part = chunk.subarray(0, this.#cutAt - this.bytesForwarded);
      this.#cutAt = undefined;
      this.bytesForwarded += part.length;
      upstream.write(part, () => this.#reset(pair));
      pair.client.pause();
      return;
    }
    if (this.readDelayMs <= 0) {
      this.bytesForwarded += chunk.length;
      if (!upstream.write(chunk)) {
        pair.client.pause();
        upstream.once('drain', () => pair.client.resume());
      }
      this.#wake();
      return;
    }
    pair.client.pause();
    pair.forwarded = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (pair.reset) return resolve();
        this.bytesForwarded += chunk.length;
        upstream.write(chunk, () => {
          pair.client.resume();
          resolve();
        });
        this.#wake();
      }, this.readDelayMs);
      timer.unref();
    });
  }
}
