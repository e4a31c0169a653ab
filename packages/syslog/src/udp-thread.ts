/**
 * The main thread's handle on the UDP sender thread (udp-sender.ts): starts it, opens its socket,
 * posts batches and matches the answers to them. The thread is unref'd: it never keeps uk alive.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EncodedBatch } from './format.js';
import type { SenderReply, SenderRequest } from './udp-protocol.js';

export type SentReply = Extract<SenderReply, { kind: 'sent' }>;

/** What the UDP output needs of a sender thread (tests substitute their own). */
export interface SenderThreadHandle {
  readonly ready: boolean;
  needsOpen: boolean;
  open(address: string, family: 4 | 6, port: number): Promise<void>;
  send(batch: EncodedBatch): Promise<SentReply>;
  close(): void;
}

/** Next to this file, with its extension (.js when built, .ts under the test runner). */
const senderUrl = new URL(`./udp-sender${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export class SenderThread implements SenderThreadHandle {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, (reply: SentReply) => void>();
  #opened: ((error?: string) => void) | undefined;
  #nextId = 0;
  #ended = false;
  ready = false;
  /** Set after a failure: the socket is opened again (and the name resolved again) before the next batch. */
  needsOpen = false;

  constructor(onEnd: () => void) {
    this.#worker = new Worker(senderUrl);
    this.#worker.unref();
    this.#worker.on('message', (m: SenderReply) => {
      if (m.kind === 'opened') {
        this.#opened?.(m.error);
        this.#opened = undefined;
        return;
      }
      const resolve = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      resolve?.(m);
    });
    const end = (why: string) => {
      if (this.#ended) return;
      this.#ended = true;
      this.ready = false;
      // Batches the thread never answered went nowhere: say so, so they are sent again.
      for (const [id, resolve] of this.#waiting) resolve({ kind: 'sent', id, sent: 0, skipped: true, error: why });
      this.#waiting.clear();
      this.#opened?.(why);
      onEnd();
    };
    this.#worker.on('error', (err) => end(`sender thread failed: ${err.message}`));
    this.#worker.on('exit', () => end('sender thread exited'));
  }

  /** Connects the thread's socket; rejects if the thread is gone or the connect failed. */
  open(address: string, family: 4 | 6, port: number): Promise<void> {
    if (this.#ended) return Promise.reject(new Error('sender thread exited'));
    return new Promise<void>((resolve, reject) => {
      this.#opened = (error) => {
        if (error) {
          this.needsOpen = true;
          reject(new Error(error));
          return;
        }
        this.ready = true;
        this.needsOpen = false;
        resolve();
      };
      this.#post({ kind: 'open', address, family, port });
    });
  }

  /** Posts a batch (copied: the caller keeps its buffer, to send again what the thread could not). */
  send(batch: EncodedBatch): Promise<SentReply> {
    const id = ++this.#nextId;
    if (this.#ended) return Promise.resolve({ kind: 'sent', id, sent: 0, skipped: true, error: 'sender thread exited' });
    return new Promise<SentReply>((resolve) => {
      this.#waiting.set(id, resolve);
      this.#post({ kind: 'send', id, buffer: batch.buffer, ends: Uint32Array.from(batch.ends) });
    });
  }

  #post(message: SenderRequest): void {
    this.#worker.postMessage(message);
  }

  close(): void {
    if (this.#ended) return;
    void this.#worker.terminate();
  }
}
