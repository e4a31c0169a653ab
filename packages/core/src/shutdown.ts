/**
 * Shutdown: flush every console driver and run every klib's shutdown hook (in reverse load order)
 * within one deadline; report what did not finish instead of waiting for it forever.
 */
import { reasonOf } from './errors.js';
import type { CloseOptions } from './delivery.js';
import type { Timers } from './timers.js';

/** A shutdown hook gets the kernel's one deadline and a signal aborted when uk must exit at once. */
export type ShutdownHook = (close: Required<CloseOptions>) => Promise<void> | void;

export interface ShutdownReport {
  readonly elapsedMs: number;
  /** Names of the hooks still running when the deadline passed. */
  readonly unfinished: string[];
  /** Hooks that failed, with the reason. */
  readonly failed: { name: string; reason: string }[];
}

export class Shutdown {
  readonly #hooks: { name: string; hook: ShutdownHook }[] = [];
  readonly #timers: Timers;
  #started: Promise<ShutdownReport> | undefined;

  constructor(timers: Timers) {
    this.#timers = timers;
  }

  /** Registers a hook; hooks run in reverse registration order, concurrently where possible. */
  register(name: string, hook: ShutdownHook): void {
    this.#hooks.push({ name, hook });
  }

  get started(): boolean {
    return this.#started !== undefined;
  }

  /** Runs every hook once, in parallel, and resolves by the deadline at the latest. */
  run(deadlineMs: number): Promise<ShutdownReport> {
    this.#started ??= this.#run(deadlineMs);
    return this.#started;
  }

  async #run(deadlineMs: number): Promise<ShutdownReport> {
    const start = this.#timers.clock.monotonic();
    const pending = new Set<string>();
    const failed: { name: string; reason: string }[] = [];
    const abort = new AbortController();
    // Hooks get a deadline a little before the kernel's own, so that what they give up on is
    // counted and reported before the kernel stops waiting for them.
    const close = { deadline: start + hookDeadline(deadlineMs), signal: abort.signal };
    const all = [...this.#hooks].reverse().map(async ({ name, hook }) => {
      pending.add(name);
      try {
        await hook(close);
      } catch (err) {
        failed.push({ name, reason: reasonOf(err) });
      } finally {
        pending.delete(name);
      }
    });
    let timer: { cancel(): void } | undefined;
    const deadline = new Promise<void>((resolve) => (timer = this.#timers.oneShot(deadlineMs, resolve, { keepAlive: true })));
    await Promise.race([Promise.all(all), deadline]);
    timer?.cancel();
    abort.abort();
    return { elapsedMs: this.#timers.clock.monotonic() - start, unfinished: [...pending], failed };
  }
}

/** The part of the kernel's shutdown deadline its hooks may use: 90%, and at least 250 ms kept back when there is room. */
export function hookDeadline(deadlineMs: number): number {
  return Math.max(Math.min(50, deadlineMs), Math.min(deadlineMs - 250, Math.floor(deadlineMs * 0.9)));
}
