/**
 * TCP and TLS output (RFC 6587 octet counting; RFC 5425 for TLS): one persistent connection,
 * opened when the first batch leaves and again after it is lost.
 *
 * A write's callback only means the bytes reached our kernel, not the server: bytes written just
 * before the server goes away vanish without an error. So the batches written in the last
 * `resend_window` ms are kept (up to `retainBytes`), and when the connection is lost without our
 * asking, the ones that may not have been read are written again, first thing, on the next
 * connection. Which ones depends on how the server went:
 *
 * - It reset the connection (ECONNRESET, EPIPE, …): a TCP stack resets instead of closing when
 *   its application closes with data unread, so an unknown amount (up to its receive buffer) is
 *   gone: everything written in the resend window goes again.
 * - It closed cleanly (FIN, the 'end' event): its receive buffer was empty when it closed, so
 *   everything that had arrived was read. At risk is only what was still in flight or written
 *   after the FIN arrived and before we saw it: the batches written in the last
 *   max(200 ms, 4 × connect round trip) go again.
 *
 * Nothing is lost when a server restarts, at the price of duplicates: what of the resent part the
 * server did read arrives twice. `resend_window: 0` turns this off (at most once, no duplicates).
 *
 * Peer close is noticed at once ('end', 'error', 'close'), and at shutdown the connection is
 * ended and the server's own close awaited: a syslog server closes only after reading to the end,
 * so that is the one acknowledgement plain syslog offers.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { Backoff, type Counter, type KlibLog, type SecureTransport, type Timers, type TimerHandle } from '@uk/core';

export interface StreamOutputOptions {
  readonly host: string;
  readonly port: number;
  /** TLS via the `tls` klib's service; plain TCP without it. */
  readonly secure: SecureTransport | undefined;
  readonly timers: Timers;
  readonly log: KlibLog;
  readonly resendWindowMs: number;
  /** Most bytes kept for resending. */
  readonly retainBytes: number;
  readonly connectTimeoutMs?: number;
  readonly counters: { reconnects: Counter; resent: Counter; dropped: Counter };
}

interface Retained {
  readonly buffer: Buffer;
  readonly messages: number;
  /** Monotonic time the write completed. */
  readonly at: number;
}

class ConnectionLost extends Error {
  readonly code: string;
  constructor(message: string, code = 'ECONNRESET') {
    super(message);
    this.code = code;
  }
}

export class StreamOutput {
  readonly #o: StreamOutputOptions;
  #socket: Socket | undefined;
  #connecting: Promise<Socket> | undefined;
  #everConnected = false;
  #closing = false;
  /** Written on the current connection, not yet old enough to forget. */
  #retained: Retained[] = [];
  #retainedBytes = 0;
  /** From a lost connection: to write first on the next one. */
  #resend: Retained[] = [];
  #reconnectTimer: TimerHandle | undefined;
  readonly #reconnectBackoff = new Backoff({ initial: 1000, max: 60_000, jitter: 0.5 });
  /** True while a batch is being sent (the Batcher then drives reconnection itself). */
  #busy = false;
  /** Time the last TCP connect took, ms: an upper bound of the round trip. */
  #connectMs = 0;

  constructor(options: StreamOutputOptions) {
    this.#o = options;
  }

  get connected(): boolean {
    return this.#socket !== undefined;
  }

  /** Messages waiting to be written again after a lost connection. */
  get resendPending(): number {
    return this.#resend.reduce((n, r) => n + r.messages, 0);
  }

  #open(): Promise<Socket> {
    const { host, port, secure } = this.#o;
    const timeoutMs = this.#o.connectTimeoutMs ?? 10_000;
    const started = this.#o.timers.clock.monotonic();
    return new Promise<Socket>((resolve, reject) => {
      const socket: Socket = secure ? secure.connect({ host, port, timeoutMs }) : netConnect({ host, port, noDelay: true });
      // The TCP handshake (before TLS's): one round trip, plus the name lookup if any.
      socket.once('connect', () => (this.#connectMs = this.#o.timers.clock.monotonic() - started));
      let timer: TimerHandle | undefined;
      if (!secure) {
        timer = this.#o.timers.oneShot(timeoutMs, () => socket.destroy(new ConnectionLost(`connect to ${host}:${port} timed out after ${timeoutMs} ms`, 'ETIMEDOUT')));
      }
      const onError = (err: Error): void => {
        timer?.cancel();
        socket.destroy();
        reject(err);
      };
      const onClose = (): void => {
        timer?.cancel();
        reject(new ConnectionLost(`connection to ${host}:${port} closed while connecting`));
      };
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        timer?.cancel();
        socket.off('error', onError);
        socket.off('close', onClose);
        socket.setNoDelay(true);
        // Notices a server that vanished while the connection is idle.
        socket.setKeepAlive(true, 30_000);
        // Never an unhandled 'error' (which would end uk) before #connect listens for it.
        socket.on('error', () => {});
        resolve(socket);
      });
    });
  }

  /** The open connection, connecting (and writing what must be resent) first if needed. */
  ensure(): Promise<Socket> {
    if (this.#socket) return Promise.resolve(this.#socket);
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connect(): Promise<Socket> {
    const socket = await this.#open();
    if (this.#everConnected) this.#o.counters.reconnects.add();
    this.#everConnected = true;
    this.#reconnectBackoff.reset();
    this.#reconnectTimer?.cancel();
    this.#reconnectTimer = undefined;
    this.#socket = socket;
    this.#retained = [];
    this.#retainedBytes = 0;
    // The server never sends anything; read anyway so that its FIN (or TLS close) is seen.
    socket.on('data', () => {});
    socket.once('end', () => this.#lost(socket, 'the server closed the connection', true));
    socket.on('error', (err: NodeJS.ErrnoException) => this.#lost(socket, err.code ?? err.message, false));
    socket.once('close', () => this.#lost(socket, 'connection closed', false));
    if (this.#resend.length > 0) {
      const resend = this.#resend;
      this.#resend = [];
      const messages = resend.reduce((n, r) => n + r.messages, 0);
      try {
        for (const r of resend) await this.#write(socket, r.buffer);
      } catch (err) {
        // Lost again before they went: keep them for the next connection.
        this.#resend = [...resend, ...this.#resend];
        throw err;
      }
      this.#o.counters.resent.add(messages);
      this.#o.log.info(`connected again; wrote the last ${messages} message(s) of the lost connection again (the server may see some twice)`);
      for (const r of resend) this.#retain({ ...r, at: this.#o.timers.clock.monotonic() });
    }
    return socket;
  }

  /** How far back to resend after a clean close (see the top of this file). */
  get cleanCloseWindowMs(): number {
    return Math.min(this.#o.resendWindowMs, Math.max(200, 4 * this.#connectMs));
  }

  /** The connection went away: keep what may not have been read, and come back. */
  #lost(socket: Socket, why: string, clean: boolean): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    socket.destroy();
    if (this.#closing) return;
    const window = clean ? this.cleanCloseWindowMs : this.#o.resendWindowMs;
    const cutoff = this.#o.timers.clock.monotonic() - window;
    const recent = this.#o.resendWindowMs > 0 ? this.#retained.filter((r) => r.at >= cutoff) : [];
    this.#resend.push(...recent);
    this.#retained = [];
    this.#retainedBytes = 0;
    this.#o.log.warn(`lost the connection to ${this.#o.host}:${this.#o.port} (${why})${recent.length > 0 ? `; will write the last ${recent.reduce((n, r) => n + r.messages, 0)} message(s) again` : ''}`);
    this.#scheduleReconnect();
  }

  /**
   * Reconnects on its own only when there is something to resend and no batch is being sent
   * (a send in progress retries through the Batcher, with its backoff).
   */
  #scheduleReconnect(): void {
    if (this.#closing || this.#reconnectTimer || this.#resend.length === 0) return;
    this.#reconnectTimer = this.#o.timers.oneShot(this.#reconnectBackoff.next(), () => {
      this.#reconnectTimer = undefined;
      if (this.#closing || this.#socket || this.#resend.length === 0) return;
      if (this.#busy) return this.#scheduleReconnect();
      this.ensure().catch(() => this.#scheduleReconnect());
    });
  }

  #write(socket: Socket, buffer: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onClose = (): void => reject(new ConnectionLost(`connection to ${this.#o.host}:${this.#o.port} lost while writing`));
      socket.once('close', onClose);
      socket.write(buffer, (err) => {
        socket.off('close', onClose);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  #retain(entry: Retained): void {
    if (this.#o.resendWindowMs === 0) return;
    this.#retained.push(entry);
    this.#retainedBytes += entry.buffer.length;
    const cutoff = entry.at - this.#o.resendWindowMs;
    let drop = 0;
    while (drop < this.#retained.length - 1) {
      const oldest = this.#retained[drop] as Retained;
      if (oldest.at >= cutoff && this.#retainedBytes <= this.#o.retainBytes) break;
      this.#retainedBytes -= oldest.buffer.length;
      drop++;
    }
    if (drop > 0) this.#retained.splice(0, drop);
  }

  /** Sends one encoded batch (the Batcher's `send`); rejects so the Batcher retries it. */
  async send(buffer: Buffer, messages: number): Promise<void> {
    this.#busy = true;
    try {
      const socket = await this.ensure();
      await this.#write(socket, buffer);
      const entry = { buffer, messages, at: this.#o.timers.clock.monotonic() };
      // Lost in the same instant the write completed: it belongs with what must be resent.
      if (this.#socket === socket) this.#retain(entry);
      else if (this.#o.resendWindowMs > 0) this.#resend.push(entry);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Writes anything still waiting to be resent, ends the connection and waits (within
   * `deadlineMs`) for the server to close its side, i.e. to have read everything.
   */
  async close(deadlineMs: number): Promise<void> {
    const clock = this.#o.timers.clock;
    const end = clock.monotonic() + deadlineMs;
    this.#reconnectTimer?.cancel();
    this.#reconnectTimer = undefined;
    while (this.#resend.length > 0 && clock.monotonic() < end) {
      try {
        await withDeadline(this.ensure(), end - clock.monotonic(), this.#o.timers);
      } catch {
        await this.#o.timers.sleep(Math.min(250, Math.max(0, end - clock.monotonic())));
      }
    }
    this.#closing = true;
    if (this.#resend.length > 0) {
      const left = this.resendPending;
      this.#resend = [];
      this.#o.counters.dropped.add(left);
      this.#o.log.error(`shutdown: ${left} message(s) of a lost connection could not be written again`);
    }
    const socket = this.#socket;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      const timer = this.#o.timers.oneShot(Math.max(0, end - clock.monotonic()), () => {
        socket.destroy();
        resolve();
      });
      socket.once('close', () => {
        timer.cancel();
        resolve();
      });
      socket.end();
    });
    this.#socket = undefined;
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number, timers: Timers): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = timers.oneShot(ms, () => reject(new Error('deadline')));
    promise.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (err: unknown) => {
        timer.cancel();
        reject(err);
      },
    );
  });
}
