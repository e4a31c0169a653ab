/**
 * Setup in the background (core's `BackgroundSetup`, as the Nanos klib does it): read the project
 * id, host name, zone, instance id and a first token from the metadata server; on failure try
 * again after a backoff that starts at 1 s and doubles up to 3600 s. The first failure is not
 * reported (the metadata server can fail for a moment right after boot). Values already read are
 * kept, so a retry only asks for what is missing. Nothing waits for setup except the sends.
 */
import { BackgroundSetup, type KlibLog, type ReadySignal, type Timers } from '@uk/core';
import type { TokenSource } from './credentials.js';
import type { InstanceInfo, MetadataClient } from './metadata.js';

export interface SetupOptions {
  readonly metadata: MetadataClient;
  readonly tokens: TokenSource;
  readonly timers: Timers;
  readonly log: KlibLog;
  /** Read the host name too (logging without a log_id). */
  readonly needHostname: boolean;
  readonly signal: AbortSignal;
}

type Known = { projectId?: string; hostname?: string; zone?: string; instanceId?: string };

export class GcpSetup implements ReadySignal {
  readonly #o: SetupOptions;
  readonly #known: Known = {};
  readonly #setup: BackgroundSetup<InstanceInfo>;
  /** Resolves with what setup read, once it succeeds. */
  readonly ready: Promise<InstanceInfo>;

  constructor(options: SetupOptions) {
    this.#o = options;
    this.#setup = new BackgroundSetup({
      attempt: () => this.#attempt(),
      timers: options.timers,
      log: options.log,
      signal: options.signal,
      describe: (info) => `project ${info.projectId}, zone ${info.zone}, instance ${info.instanceId}`,
    });
    this.ready = this.#setup.result;
  }

  get info(): InstanceInfo | undefined {
    return this.#setup.value;
  }

  /** What setup read, once done (the GcpDestination the drivers read it from). */
  get value(): InstanceInfo | undefined {
    return this.#setup.value;
  }

  /** Failed attempts so far. */
  get failures(): number {
    return this.#setup.failures;
  }

  get lastError(): string | undefined {
    return this.#setup.lastError;
  }

  isReady(): boolean {
    return this.#setup.isReady();
  }

  whenReady(): Promise<void> {
    return this.#setup.whenReady();
  }

  /** Done, or under way without a failure for less than STALL_MS (backpressure may hold the program meanwhile). */
  isHealthy(): boolean {
    return this.#setup.isHealthy();
  }

  start(): void {
    this.#setup.start();
  }

  /** Stops retrying (shutdown). */
  stop(): void {
    this.#setup.stop();
  }

  async #read(key: keyof Known, read: () => Promise<string>): Promise<void> {
    if (this.#known[key] === undefined) this.#known[key] = await read();
  }

  async #attempt(): Promise<InstanceInfo> {
    const m = this.#o.metadata;
    const reads = [
      this.#read('projectId', () => m.projectId()),
      this.#read('zone', () => m.zone()),
      this.#read('instanceId', () => m.instanceId()),
      this.#o.needHostname ? this.#read('hostname', () => m.hostname()) : Promise.resolve(),
      this.#o.tokens.hasToken ? Promise.resolve() : this.#o.tokens.refresh().then(() => undefined),
    ];
    const results = await Promise.allSettled(reads);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const k = this.#known;
    return { projectId: k.projectId as string, zone: k.zone as string, instanceId: k.instanceId as string, hostname: k.hostname ?? '' };
  }
}
