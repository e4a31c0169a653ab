/**
 * Setup in the background, as the Nanos klib does it: read the project id, host name, zone,
 * instance id and a first token from the metadata server; on failure try again after a backoff
 * that starts at 1 s and doubles up to 3600 s. Failures are not reported while the backoff is
 * still 1 s (the metadata server can fail for a moment right after boot). Values already read are
 * kept, so a retry only asks for what is missing. Nothing waits for setup except the sends.
 */
import { Backoff, reasonOf, type KlibLog, type TimerHandle, type Timers } from '@uk/core';
import type { TokenSource } from './credentials.js';
import type { InstanceInfo, MetadataClient } from './metadata.js';

export const SETUP_BACKOFF = { initial: 1000, max: 3600_000, factor: 2 } as const;

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

export class GcpSetup {
  readonly #o: SetupOptions;
  readonly #backoff = new Backoff(SETUP_BACKOFF);
  readonly #known: Known = {};
  #info: InstanceInfo | undefined;
  #resolve!: (info: InstanceInfo) => void;
  readonly ready: Promise<InstanceInfo>;
  #attempting = false;
  #retry: TimerHandle | undefined;
  #started = false;
  /** Failed attempts so far. */
  failures = 0;
  lastError: string | undefined;

  constructor(options: SetupOptions) {
    this.#o = options;
    this.ready = new Promise((resolve) => (this.#resolve = resolve));
    // At shutdown, do not sit out a long backoff: try once more now so the final flush can go.
    options.signal.addEventListener('abort', () => {
      if (this.#info || this.#attempting || !this.#started) return;
      this.#retry?.cancel();
      void this.#attempt();
    }, { once: true });
  }

  get info(): InstanceInfo | undefined {
    return this.#info;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#attempt();
  }

  async #read(key: keyof Known, read: () => Promise<string>): Promise<void> {
    if (this.#known[key] === undefined) this.#known[key] = await read();
  }

  async #attempt(): Promise<void> {
    this.#attempting = true;
    const m = this.#o.metadata;
    try {
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
      this.#info = { projectId: k.projectId as string, zone: k.zone as string, instanceId: k.instanceId as string, hostname: k.hostname ?? '' };
      if (this.failures > 0) this.#o.log.info(`setup done after ${this.failures} failed attempt(s): project ${this.#info.projectId}, zone ${this.#info.zone}`);
      else this.#o.log.debug(`setup done: project ${this.#info.projectId}, zone ${this.#info.zone}, instance ${this.#info.instanceId}`);
      this.#attempting = false;
      this.#resolve(this.#info);
    } catch (err) {
      this.#attempting = false;
      this.failures++;
      this.lastError = reasonOf(err);
      const delay = this.#backoff.next();
      if (delay > SETUP_BACKOFF.initial) this.#o.log.error(`setup failed, retrying in ${delay / 1000} s: ${this.lastError}`);
      else this.#o.log.debug(`setup failed, retrying in ${delay / 1000} s: ${this.lastError}`);
      if (this.#o.signal.aborted) return;
      this.#retry = this.#o.timers.oneShot(delay, () => {
        this.#retry = undefined;
        void this.#attempt();
      });
    }
  }

  /** Stops retrying (shutdown). */
  stop(): void {
    this.#retry?.cancel();
  }
}
