/**
 * UDP output (RFC 5426): one datagram per message, as Nanos sends them. The server name is
 * resolved before the first send and again after a send fails; while it cannot be resolved the
 * send fails, and the Batcher keeps the records (bounded) and retries with its backoff
 * (1 s doubling to 60 s, as Nanos backs off DNS failures).
 *
 * The socket is connected to the server and only the last datagram of a batch carries a
 * callback: Node then sends the others synchronously without a completion round trip, several
 * times faster. UDP confirms nothing anyway; `sent` counts datagrams handed to the OS.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { KlibLog } from '@uk/core';
import type { EncodedBatch } from './format.js';

export interface UdpOutputOptions {
  readonly host: string;
  readonly port: number;
  readonly log: KlibLog;
}

export class UdpOutput {
  readonly #o: UdpOutputOptions;
  #socket: Socket | undefined;
  #refusedReported = false;

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
      throw new Error(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
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

  /** Sends every message of the batch as a datagram; resolves once the last is handed to the OS. */
  async send(batch: EncodedBatch): Promise<void> {
    const { buffer, ends } = batch;
    if (ends.length === 0) return;
    this.#socket ??= await this.#open();
    const socket = this.#socket;
    const last = ends.length - 1;
    const lastStart = last === 0 ? 0 : (ends[last - 1] as number);
    const lastLength = (ends[last] as number) - lastStart;
    let err = await new Promise<Error | null>((resolve) => {
      let start = 0;
      for (let i = 0; i < last; i++) {
        const end = ends[i] as number;
        socket.send(buffer, start, end - start);
        start = end;
      }
      socket.send(buffer, lastStart, lastLength, (error) => resolve(error));
    });
    if ((err as NodeJS.ErrnoException | null)?.code === 'ECONNREFUSED') {
      // A connected UDP socket reports an earlier datagram's ICMP error on a later send, which
      // is then not sent: send that one again (the error is consumed, so this does not loop).
      err = await new Promise<Error | null>((resolve) => socket.send(buffer, lastStart, lastLength, (error) => resolve(error)));
    }
    if (!err) {
      this.#refusedReported = false;
      return;
    }
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
      // The server's port answered "unreachable" to an earlier datagram: nobody listens there.
      // Retrying cannot help a datagram that was dropped on arrival, so say so once and go on.
      if (!this.#refusedReported) this.#o.log.warn(`nothing listens on ${this.#o.host}:${this.#o.port} (ICMP port unreachable); UDP messages are lost until a server does`);
      this.#refusedReported = true;
      return;
    }
    // Resolve and connect again next time: the address may have changed.
    this.#socket.close();
    this.#socket = undefined;
    throw err;
  }

  close(): void {
    this.#socket?.close();
    this.#socket = undefined;
  }
}
