/**
 * UDP output (RFC 5426): one datagram per message, as Nanos sends them. The server name is
 * resolved before the first send and again after a send fails; while it cannot be resolved the
 * send fails, and the Batcher keeps the records (bounded) and retries with its backoff
 * (1 s doubling to 60 s, as Nanos backs off DNS failures).
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { EncodedBatch } from './format.js';

export interface UdpOutputOptions {
  readonly host: string;
  readonly port: number;
}

export class UdpOutput {
  readonly #o: UdpOutputOptions;
  #socket: Socket | undefined;
  #address: string | undefined;
  #family: 4 | 6 = 4;
  #socketFamily: 4 | 6 | undefined;

  constructor(options: UdpOutputOptions) {
    this.#o = options;
  }

  async #resolve(): Promise<void> {
    const { host } = this.#o;
    const literal = isIP(host);
    if (literal !== 0) {
      this.#address = host;
      this.#family = literal as 4 | 6;
      return;
    }
    try {
      const { address, family } = await lookup(host);
      this.#address = address;
      this.#family = family === 6 ? 6 : 4;
    } catch (err) {
      throw new Error(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  #socketFor(family: 4 | 6): Socket {
    if (this.#socket && this.#socketFamily === family) return this.#socket;
    this.#socket?.close();
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    // Errors arrive through the send callbacks; an 'error' event must not crash uk.
    socket.on('error', () => {});
    socket.unref();
    this.#socket = socket;
    this.#socketFamily = family;
    return socket;
  }

  /** Sends every message of the batch as a datagram; resolves once the last is handed to the OS. */
  async send(batch: EncodedBatch): Promise<void> {
    if (this.#address === undefined) await this.#resolve();
    const address = this.#address as string;
    const socket = this.#socketFor(this.#family);
    const { buffer, ends } = batch;
    const port = this.#o.port;
    await new Promise<void>((resolve, reject) => {
      let left = ends.length;
      let failure: Error | undefined;
      const done = (err: Error | null): void => {
        if (err && !failure) failure = err;
        if (--left === 0) {
          if (failure) reject(failure);
          else resolve();
        }
      };
      let start = 0;
      for (const end of ends) {
        socket.send(buffer, start, end - start, port, address, done);
        start = end;
      }
      if (ends.length === 0) resolve();
    }).catch((err: unknown) => {
      // Resolve again next time: the address may have changed.
      this.#address = undefined;
      throw err;
    });
  }

  close(): void {
    this.#socket?.close();
    this.#socket = undefined;
  }
}
