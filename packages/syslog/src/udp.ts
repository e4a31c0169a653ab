/**
 * UDP output (RFC 5426): one datagram per message, as Nanos sends them. The server name is
 * resolved before the first send and again after a send fails; while it cannot be resolved the
 * send fails, and the Batcher keeps the records (bounded) and retries with its backoff
 * (1 s doubling to 30 s, the delivery backoff cap for records).
 *
 * The socket is connected to the server and only the last datagram of a batch carries a
 * callback: Node then sends the others synchronously without a completion round trip, several
 * times faster. UDP confirms nothing anyway; `sent` counts datagrams handed to the OS.
 *
 * Under sustained load (a batch of `threadMinBatch` datagrams or more, i.e. tens of thousands of
 * lines a second) the sending moves to a sender thread (udp-sender.ts): one sendmsg per datagram
 * is most of the cost, and on its own thread it overlaps with reading and formatting the next
 * batch instead of following it. Two batches may be with the thread at once; a send that fails
 * there leaves its unsent datagrams to go out first next time, so order is kept and nothing is
 * counted twice. If the thread cannot start, sending stays on the main thread.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Counter, KlibLog } from '@uk/core';
import type { EncodedBatch } from './format.js';
import { availableParallelism } from 'node:os';
import { sendDatagrams } from './udp-datagrams.js';
import { SenderThread, type SenderThreadHandle } from './udp-thread.js';

export interface UdpOutputOptions {
  readonly host: string;
  readonly port: number;
  readonly log: KlibLog;
  /** Datagrams in one batch that start the sender thread (default 512; Infinity: never). */
  readonly threadMinBatch?: number;
  /** Counts datagrams given up at shutdown. */
  readonly dropped?: Counter;
  /** Counts sender thread starts. */
  readonly threadStarts?: Counter;
  /** Starts the sender thread (tests substitute their own). */
  readonly startThread?: (onEnd: () => void) => SenderThreadHandle;
}

/** A batch of this many datagrams means sustained load (the batch filled within its 10 ms). */
export const THREAD_MIN_BATCH = 512;

interface Outstanding {
  readonly batch: EncodedBatch;
  readonly reply: ReturnType<SenderThreadHandle['send']>;
}

/** The datagrams of `batch` from index `from` on, as a batch of their own. */
function remainder(batch: EncodedBatch, from: number): EncodedBatch {
  if (from === 0) return batch;
  const offset = batch.ends[from - 1] as number;
  return { buffer: batch.buffer.subarray(offset), ends: batch.ends.slice(from).map((end) => end - offset) };
}

function joinBatches(batches: readonly EncodedBatch[]): EncodedBatch | undefined {
  if (batches.length <= 1) return batches[0];
  const ends: number[] = [];
  let offset = 0;
  for (const b of batches) {
    for (const end of b.ends) ends.push(offset + end);
    offset += b.buffer.length;
  }
  return { buffer: Buffer.concat(batches.map((b) => b.buffer)), ends };
}

export class UdpOutput {
  readonly #o: UdpOutputOptions;
  #socket: Socket | undefined;
  #refusedReported = false;
  #thread: SenderThreadHandle | undefined;
  #threadUnavailable = false;
  #outstanding: Outstanding[] = [];
  /** Datagrams the sender thread could not send; they go out before anything newer. */
  #carry: EncodedBatch | undefined;

  constructor(options: UdpOutputOptions) {
    this.#o = options;
  }

  async #resolve(): Promise<{ address: string; family: 4 | 6 }> {
    const { host } = this.#o;
    const literal = isIP(host);
    if (literal !== 0) return { address: host, family: literal as 4 | 6 };
    try {
      const { address, family } = await lookup(host);
      return { address, family: family === 6 ? 6 : 4 };
    } catch (err) {
      throw new Error(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }

  async #open(): Promise<Socket> {
    const { address, family } = await this.#resolve();
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    // Send errors arrive through the callbacks; an 'error' event must never crash uk.
    socket.on('error', () => {});
    socket.unref();
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(this.#o.port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    return socket;
  }

  /** True while batches go out from the sender thread. */
  get threaded(): boolean {
    return this.#thread?.ready === true;
  }

  /**
   * Sends every message of the batch as a datagram. On the main thread it resolves once the last
   * is handed to the OS; with the sender thread, once the batch before it has been.
   */
  async send(batch: EncodedBatch): Promise<void> {
    if (batch.ends.length === 0) return;
    if (this.#carry) {
      const carry = this.#carry;
      this.#carry = undefined;
      try {
        await this.#sendHere(carry);
      } catch (err) {
        this.#carry = carry;
        throw err;
      }
    }
    const thread = await this.#threadFor(batch);
    if (!thread) {
      // The thread ended with batches still out: their fate first (a failure carries them over).
      if (this.#outstanding.length > 0) await this.#settle(0);
      return this.#sendHere(batch);
    }
    this.#outstanding.push({ batch, reply: thread.send(batch) });
    if (this.#outstanding.length > 1) await this.#settle(1);
  }

  /** The sender thread if it is ready; starts it when a batch shows sustained load. */
  async #threadFor(batch: EncodedBatch): Promise<SenderThreadHandle | undefined> {
    const thread = this.#thread;
    if (thread?.ready) {
      if (thread.needsOpen) {
        const { address, family } = await this.#resolve();
        await thread.open(address, family, this.#o.port);
      }
      return thread;
    }
    // With one CPU a second thread only adds work.
    if (
      !thread &&
      !this.#threadUnavailable &&
      batch.ends.length >= (this.#o.threadMinBatch ?? THREAD_MIN_BATCH) &&
      (this.#o.startThread || availableParallelism() > 1)
    ) {
      void this.#startThread();
    }
    return undefined;
  }

  async #startThread(): Promise<void> {
    const onEnd = () => {
      // The thread ended or could not start: send on the main thread from now on.
      this.#threadUnavailable = true;
      if (this.#thread === thread) this.#thread = undefined;
    };
    let thread: SenderThreadHandle;
    try {
      thread = this.#o.startThread ? this.#o.startThread(onEnd) : new SenderThread(onEnd);
    } catch (err) {
      this.#threadUnavailable = true;
      this.#o.log.debug(`sender thread not used: ${(err as Error).message}`);
      return;
    }
    this.#thread = thread;
    try {
      const { address, family } = await this.#resolve();
      await thread.open(address, family, this.#o.port);
      this.#o.threadStarts?.add();
    } catch (err) {
      this.#o.log.debug(`sender thread not used: ${(err as Error).message}`);
      this.#threadUnavailable = true;
      if (this.#thread === thread) this.#thread = undefined;
      thread.close();
    }
  }

  /**
   * Waits for the answers of all outstanding batches but the newest `keep`. After a failure it
   * waits for all of them, keeps the unsent datagrams of every batch but the newest (the one
   * `send` was called with, which the Batcher retries itself) and throws.
   */
  async #settle(keep: number): Promise<void> {
    while (this.#outstanding.length > keep) {
      const oldest = this.#outstanding[0] as Outstanding;
      const reply = await oldest.reply;
      this.#outstanding.shift();
      if (reply.refused) this.#reportRefused();
      else if (reply.sent === oldest.batch.ends.length) this.#refusedReported = false;
      if (reply.sent === oldest.batch.ends.length) continue;
      const unsent = [remainder(oldest.batch, reply.sent)];
      const rest = this.#outstanding.splice(0);
      // The newest batch is the one `send` was called with: the Batcher retries it itself.
      const retriedByCaller = keep > 0 ? rest.pop() : undefined;
      for (const next of rest) unsent.push(remainder(next.batch, (await next.reply).sent));
      // The thread skips every batch after a failure, so none of it went out.
      if (retriedByCaller) await retriedByCaller.reply;
      this.#carry = joinBatches(unsent);
      if (this.#thread) this.#thread.needsOpen = true;
      throw new Error(reply.error ?? 'the sender thread stopped');
    }
  }

  #reportRefused(): void {
    // The server's port answered "unreachable" to an earlier datagram: nobody listens there.
    // Retrying cannot help a datagram that was dropped on arrival, so say so once and go on.
    if (!this.#refusedReported)
      this.#o.log.warn(`nothing listens on ${this.#o.host}:${this.#o.port} (ICMP port unreachable); UDP messages are lost until a server does`);
    this.#refusedReported = true;
  }

  /** Sends the batch on the main thread's socket. */
  async #sendHere(batch: EncodedBatch): Promise<void> {
    const { buffer, ends } = batch;
    this.#socket ??= await this.#open();
    const err = await sendDatagrams(this.#socket, buffer, ends);
    if (!err) {
      this.#refusedReported = false;
      return;
    }
    if (err.code === 'ECONNREFUSED') {
      this.#reportRefused();
      return;
    }
    // Resolve and connect again next time: the address may have changed.
    this.#socket.close();
    this.#socket = undefined;
    throw err;
  }

  /**
   * Waits (within the deadline) for the sender thread's answers, sends what it could not, then
   * closes. Datagrams still unsent or unanswered at the deadline are counted as dropped.
   */
  async close(deadlineMs = 1000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs), 'deadline')));
    const work = (async () => {
      try {
        await this.#settle(0);
      } catch {
        // Left in #carry: sent below.
      }
      if (this.#carry) {
        const carry = this.#carry;
        await this.#sendHere(carry);
        if (this.#carry === carry) this.#carry = undefined;
      }
    })().catch((err: unknown) => this.#o.log.warn(`could not send the last messages: ${(err as Error).message}`));
    const outcome = await Promise.race([work, deadline]);
    clearTimeout(timer);
    const lost = (this.#carry?.ends.length ?? 0) + this.#outstanding.reduce((n, o) => n + o.batch.ends.length, 0);
    if (lost > 0) {
      this.#o.dropped?.add(lost);
      this.#o.log.warn(`${outcome === 'deadline' ? 'shutdown deadline passed' : 'shutdown'}: dropped ${lost} messages that could not be sent`);
    }
    this.#outstanding = [];
    this.#carry = undefined;
    this.#thread?.close();
    this.#thread = undefined;
    this.#socket?.close();
    this.#socket = undefined;
  }
}
