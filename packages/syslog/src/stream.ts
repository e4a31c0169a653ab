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
 *
 * Accounting: a message is never lost without being counted. Whatever may not have been read
 * when uk learns it never will be (a reset, a write cut short, the shutdown deadline passing
 * before the server closed) is either written again (`resent`: the server may see it twice) or,
 * when it cannot be (older than the resend window, `resend_window: 0`, shutdown), counted as
 * `unconfirmed`: given up with its fate unknown, it may or may not have arrived. How much may be
 * unread is bounded by the socket buffers: the last `unreadBytes` written on a connection (our
 * send buffer and the server's receive buffer at their largest, tcp_wmem + tcp_rmem); anything
 * written before that must have been read by the server to make room. A batch whose write fails
 * half-way is kept and written again first on the next connection (so `send` only rejects, for the
 * Batcher to retry, when nothing of the batch was written: no connection).
 */
import { readFileSync } from 'node:fs';
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
  /** Bytes that may still be unread when a connection is lost (default: `socketBufferBytes()`). */
  readonly unreadBytes?: number;
  readonly counters: { reconnects: Counter; resent: Counter; dropped: Counter; unconfirmed: Counter };
}

interface Retained {
  readonly buffer: Buffer;
  readonly messages: number;
  /** Monotonic time the write completed. */
  readonly at: number;
}

/** A write on the current connection: its buffer while it may be resent, its size and messages always. */
interface Written {
  buffer: Buffer | undefined;
  bytes: number;
  messages: number;
  readonly at: number;
}

/**
 * Old writes (no longer resendable) are merged into buckets of at most this size, or a
 * sixteenth of `unreadBytes` if smaller: the count of what may be unread stays within a bucket.
 */
const BUCKET_BYTES = 256 * 1024;

/**
 * The most bytes that can sit unread between a write and the server's reads: our send buffer and
 * the server's receive buffer at their largest (Linux's tcp_wmem and tcp_rmem maxima, read here as
 * the estimate for both ends), 16 MiB when they cannot be read.
 */
export function socketBufferBytes(readProc: (path: string) => string = (path) => readFileSync(path, 'utf8')): number {
  try {
    const max = (path: string): number => {
      const value = Number(readProc(path).trim().split(/\s+/)[2]);
      if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${path}: unexpected content`);
      return value;
    };
    return max('/proc/sys/net/ipv4/tcp_wmem') + max('/proc/sys/net/ipv4/tcp_rmem');
  } catch {
    return 16 * 1024 * 1024;
  }
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
  /** Written on the current connection, as far back as may be unread (`unreadBytes`); the newest keep their buffer for resending. */
  #written: Written[] = [];
  #writtenBytes = 0;
  /** Bytes of the entries of #written that still hold their buffer. */
  #retainedBytes = 0;
  readonly #unreadBytes: number;
  readonly #bucketBytes: number;
  /** From a lost connection: to write first on the next one. */
  #resend: Retained[] = [];
  #reconnectTimer: TimerHandle | undefined;
  readonly #reconnectBackoff = new Backoff({ initial: 1000, max: 30_000, jitter: 0.5 });
  /** True while a batch is being sent (the Batcher then drives reconnection itself). */
  #busy = false;
  /** Time the last TCP connect took, ms: an upper bound of the round trip. */
  #connectMs = 0;

  constructor(options: StreamOutputOptions) {
    this.#o = options;
    this.#unreadBytes = options.unreadBytes ?? socketBufferBytes();
    this.#bucketBytes = Math.min(BUCKET_BYTES, Math.floor(this.#unreadBytes / 16));
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
        timer = this.#o.timers.oneShot(timeoutMs, () =>
          socket.destroy(new ConnectionLost(`connect to ${host}:${port} timed out after ${timeoutMs} ms`, 'ETIMEDOUT')),
        );
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
    this.#forgetWritten();
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
      for (const r of resend) this.#record(r.buffer, r.messages);
    }
    return socket;
  }

  /** How far back to resend after a clean close (see the top of this file). */
  get cleanCloseWindowMs(): number {
    return Math.max(200, 4 * this.#connectMs);
  }

  /** The connection went away: keep what may not have been read, count what cannot be resent, and come back. */
  #lost(socket: Socket, why: string, clean: boolean): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    socket.destroy();
    if (this.#closing) return;
    const { resend, unconfirmed } = this.#atRisk(clean);
    this.#resend.push(...resend);
    const resending = resend.reduce((n, r) => n + r.messages, 0);
    this.#o.log.warn(
      `lost the connection to ${this.#o.host}:${this.#o.port} (${why})${resending > 0 ? `; will write the last ${resending} message(s) again` : ''}${unconfirmed > 0 ? `; ${unconfirmed} earlier message(s) may not have been read and cannot be written again (counted as unconfirmed)` : ''}`,
    );
    this.#scheduleReconnect();
  }

  /**
   * What of the current connection's writes may not have been read, and forgets them: after a
   * clean close only the last `cleanCloseWindowMs`, after a reset (or at shutdown) everything
   * within `unreadBytes`. Those still held (within the resend window) are returned for resending;
   * the others are counted as unconfirmed here.
   */
  #atRisk(clean: boolean): { resend: Retained[]; unconfirmed: number } {
    const cutoff = clean ? this.#o.timers.clock.monotonic() - this.cleanCloseWindowMs : -Infinity;
    const resend: Retained[] = [];
    let unconfirmed = 0;
    for (const w of this.#written) {
      if (w.at < cutoff) continue;
      if (w.buffer && this.#o.resendWindowMs > 0) resend.push({ buffer: w.buffer, messages: w.messages, at: w.at });
      else unconfirmed += w.messages;
    }
    this.#forgetWritten();
    if (unconfirmed > 0) this.#o.counters.unconfirmed.add(unconfirmed);
    return { resend, unconfirmed };
  }

  #forgetWritten(): void {
    this.#written = [];
    this.#writtenBytes = 0;
    this.#retainedBytes = 0;
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

  /**
   * Notes a completed write on the current connection. The newest writes keep their buffer
   * (within the resend window and `retainBytes`); older ones keep only their size and messages,
   * merged into buckets, as far back as `unreadBytes`.
   */
  #record(buffer: Buffer, messages: number): void {
    const at = this.#o.timers.clock.monotonic();
    const keep = this.#o.resendWindowMs > 0;
    this.#written.push({ buffer: keep ? buffer : undefined, bytes: buffer.length, messages, at });
    this.#writtenBytes += buffer.length;
    if (keep) this.#retainedBytes += buffer.length;
    const cutoff = at - this.#o.resendWindowMs;
    // The oldest buffers go first (always keeping the newest), by age or by the byte budget.
    let first = this.#written.findIndex((w) => w.buffer !== undefined);
    while (first !== -1 && first < this.#written.length - 1) {
      const w = this.#written[first] as Written;
      if (w.at >= cutoff && this.#retainedBytes <= this.#o.retainBytes) break;
      w.buffer = undefined;
      this.#retainedBytes -= w.bytes;
      const before = this.#written[first - 1];
      if (before && before.bytes + w.bytes <= this.#bucketBytes) {
        before.bytes += w.bytes;
        before.messages += w.messages;
        this.#written.splice(first, 1);
      } else {
        first++;
      }
    }
    if (!keep) this.#mergeTail();
    // Anything written before the last unreadBytes has been read by the server.
    let drop = 0;
    while (drop < this.#written.length - 1 && this.#writtenBytes - (this.#written[drop] as Written).bytes >= this.#unreadBytes) {
      const w = this.#written[drop] as Written;
      this.#writtenBytes -= w.bytes;
      if (w.buffer) this.#retainedBytes -= w.bytes;
      drop++;
    }
    if (drop > 0) this.#written.splice(0, drop);
  }

  /** Without resending, the newest entry joins the one before when both fit in a bucket. */
  #mergeTail(): void {
    const n = this.#written.length;
    const last = this.#written[n - 1];
    const before = this.#written[n - 2];
    if (last && before && before.bytes + last.bytes <= this.#bucketBytes) {
      before.bytes += last.bytes;
      before.messages += last.messages;
      this.#written.pop();
    }
  }

  /** A batch whose fate is unknown (its write was cut short, or the connection went as it completed): resent first on the next connection, or counted as unconfirmed. */
  #unknownFate(buffer: Buffer, messages: number): void {
    if (this.#o.resendWindowMs > 0) this.#resend.push({ buffer, messages, at: this.#o.timers.clock.monotonic() });
    else this.#o.counters.unconfirmed.add(messages);
    this.#scheduleReconnect();
  }

  /**
   * Sends one encoded batch (the Batcher's `send`). Rejects, so that the Batcher retries it, only
   * when nothing of it was written (no connection); a write cut short keeps the batch for the
   * next connection instead (see the top of this file).
   */
  async send(buffer: Buffer, messages: number): Promise<void> {
    this.#busy = true;
    try {
      const socket = await this.ensure();
      try {
        await this.#write(socket, buffer);
      } catch (err) {
        // After shutdown began the Batcher has given up on this batch and counted it.
        if (this.#closing) throw err;
        // Part of it may have reached the server: the connection is lost (#lost keeps what was
        // written before), and this batch goes after that, first thing on the next connection.
        this.#lost(socket, (err as NodeJS.ErrnoException).code ?? (err as Error).message, false);
        this.#unknownFate(buffer, messages);
        return;
      }
      // Lost in the same instant the write completed: it belongs with what must be resent.
      if (this.#socket === socket) this.#record(buffer, messages);
      else if (!this.#closing) this.#unknownFate(buffer, messages);
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
      // Written once on a connection that was lost: they may or may not have been read.
      const left = this.resendPending;
      this.#resend = [];
      this.#o.counters.unconfirmed.add(left);
      this.#o.log.error(
        `shutdown: ${left} message(s) of a lost connection could not be written again (counted as unconfirmed: the server may or may not have read them)`,
      );
    }
    const socket = this.#socket;
    if (!socket) return;
    // The server closes after reading to the end ('end' comes first); anything else (a reset, the
    // deadline) leaves what may be unread unconfirmed.
    const confirmed = await new Promise<boolean>((resolve) => {
      let ended = false;
      const timer = this.#o.timers.oneShot(Math.max(0, end - clock.monotonic()), () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('end', () => (ended = true));
      socket.once('close', () => {
        timer.cancel();
        resolve(ended);
      });
      socket.end();
    });
    this.#socket = undefined;
    if (!confirmed) {
      const { resend, unconfirmed } = this.#atRisk(false);
      const left = unconfirmed + resend.reduce((n, r) => n + r.messages, 0);
      if (resend.length > 0) this.#o.counters.unconfirmed.add(left - unconfirmed);
      if (left > 0)
        this.#o.log.error(`shutdown: the server did not close the connection in time; ${left} message(s) may not have been read (counted as unconfirmed)`);
    }
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
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
