/**
 * Shutdown, last in first out under one deadline: each klib's hooks (and the flush of the console
 * drivers it attached) start once every klib that depends on it has finished closing, so a
 * dependent (cloudwatch) is done with a service (tls) before that service closes; klibs that do not
 * depend on each other close at the same time; what belongs to no klib (the serial console, hooks
 * registered from outside any klib) closes last. What has not finished by the deadline is named in
 * the report instead of being waited for forever.
 */
import { reasonOf } from './errors.js';
import type { CloseOptions } from './delivery.js';
import type { Timers } from './timers.js';

/** A shutdown hook gets the kernel's one deadline and a signal aborted when uk must exit at once. */
export type ShutdownHook = (close: Required<CloseOptions>) => Promise<void> | void;

export interface ShutdownReport {
  readonly elapsedMs: number;
  /** Names of the hooks still running (or not started) when the deadline passed or uk had to exit. */
  readonly unfinished: string[];
  /** Hooks that failed, with the reason. */
  readonly failed: { name: string; reason: string }[];
}

export interface RegisterOptions {
  /**
   * The klib the hook belongs to (default: the klib whose code is registering, else `name`). A
   * hook whose owner is not a klib made known with `dependencies` closes after every klib.
   */
  readonly owner?: string;
}

interface Hook {
  readonly name: string;
  readonly owner: string;
  readonly hook: ShutdownHook;
}

export class Shutdown {
  readonly #hooks: Hook[] = [];
  /** Each klib's dependencies among the klibs made known before it (load order: never a cycle). */
  readonly #klibs = new Map<string, readonly string[]>();
  readonly #timers: Timers;
  readonly #abort = new AbortController();
  #started: Promise<ShutdownReport> | undefined;
  /** The klib whose code is running now, if any (the kernel sets it from the klib guard). */
  ownerNow: () => string | undefined = () => undefined;

  constructor(timers: Timers) {
    this.#timers = timers;
  }

  /**
   * Makes a klib known with the klibs it depends on; call in load order. Dependencies not made
   * known before are ignored (they are not loaded, so nothing of theirs waits).
   */
  dependencies(klib: string, dependsOn: readonly string[]): void {
    if (this.#klibs.has(klib)) return;
    this.#klibs.set(
      klib,
      dependsOn.filter((dep) => this.#klibs.has(dep)),
    );
  }

  /** Registers a hook. Hooks of one owner start together, in reverse registration order. */
  register(name: string, hook: ShutdownHook, options: RegisterOptions = {}): void {
    this.#hooks.push({ name, hook, owner: options.owner ?? this.ownerNow() ?? name });
  }

  get started(): boolean {
    return this.#started !== undefined;
  }

  /** Aborted at the deadline, or when uk must exit at once (`abort`). */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /**
   * uk must exit now (a second signal): every hook's signal is aborted, hooks not started yet are
   * started with it (so they can count what they give up), and `run` resolves at once.
   */
  abort(): void {
    this.#abort.abort();
  }

  /** Runs every hook once, in dependency order, and resolves by the deadline at the latest. */
  run(deadlineMs: number): Promise<ShutdownReport> {
    this.#started ??= this.#run(deadlineMs);
    return this.#started;
  }

  async #run(deadlineMs: number): Promise<ShutdownReport> {
    const start = this.#timers.clock.monotonic();
    // Hooks get a deadline a little before the kernel's own, so that what they give up on is
    // counted and reported before the kernel stops waiting for them.
    const close = { deadline: start + hookDeadline(deadlineMs), signal: this.#abort.signal };
    const unfinished = new Set<Hook>(this.#hooks);
    const failed: { name: string; reason: string }[] = [];
    const fail = (hook: Hook, err: unknown): void => void failed.push({ name: hook.name, reason: reasonOf(err) });
    // A hook that returns no promise has finished when it returns (also when started at the very end).
    const runHook = (hook: Hook): Promise<void> => {
      let result: Promise<void> | void;
      try {
        result = hook.hook(close);
      } catch (err) {
        fail(hook, err);
        unfinished.delete(hook);
        return Promise.resolve();
      }
      if (typeof (result as PromiseLike<void> | undefined)?.then !== 'function') {
        unfinished.delete(hook);
        return Promise.resolve();
      }
      return Promise.resolve(result).then(
        () => void unfinished.delete(hook),
        (err: unknown) => {
          fail(hook, err);
          unfinished.delete(hook);
        },
      );
    };

    // One stage per klib, and one for everything else, which waits for every klib.
    const KERNEL = Symbol('kernel');
    type Stage = string | typeof KERNEL;
    const stageOf = (hook: Hook): Stage => (this.#klibs.has(hook.owner) ? hook.owner : KERNEL);
    const stages: Stage[] = [...this.#klibs.keys(), KERNEL];
    const waitingFor = new Map<Stage, Set<Stage>>(stages.map((stage) => [stage, new Set()]));
    for (const [klib, deps] of this.#klibs) {
      for (const dep of deps) waitingFor.get(dep)?.add(klib);
      waitingFor.get(KERNEL)?.add(klib);
    }
    const startedStages = new Set<Stage>();
    let allDone!: () => void;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    let open = stages.length;

    const finishStage = (stage: Stage): void => {
      open -= 1;
      for (const waiting of waitingFor.values()) waiting.delete(stage);
      if (open === 0) allDone();
      else startReady();
    };
    const startStage = (stage: Stage): void => {
      startedStages.add(stage);
      const hooks = this.#hooks.filter((h) => stageOf(h) === stage).reverse();
      void Promise.all(hooks.map(runHook)).then(() => finishStage(stage));
    };
    function startReady(): void {
      for (const stage of stages) if (!startedStages.has(stage) && waitingFor.get(stage)?.size === 0) startStage(stage);
    }
    // Past the deadline (or told to exit at once) nothing waits any more: every hook not started
    // yet starts with the aborted signal, so that it can count and report what it gives up.
    const startTheRest = (): void => {
      for (const stage of stages) if (!startedStages.has(stage)) startStage(stage);
    };

    let timer: { cancel(): void } | undefined;
    const deadline = new Promise<void>((resolve) => (timer = this.#timers.oneShot(deadlineMs, resolve, { keepAlive: true })));
    const aborted = new Promise<void>((resolve) => {
      if (close.signal.aborted) resolve();
      else close.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    startReady();
    if (close.signal.aborted) startTheRest();
    const finished = await Promise.race([done.then(() => true), deadline.then(() => false), aborted.then(() => false)]);
    timer?.cancel();
    if (!finished) {
      // The deadline passed (or uk must exit): whatever still runs is told to stop now.
      this.#abort.abort();
      startTheRest();
      // One turn of the event loop for what was started only now and ends at once (a flush with
      // nothing pending): it is not reported as unfinished. Nothing longer is waited for.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return { elapsedMs: this.#timers.clock.monotonic() - start, unfinished: [...unfinished].map((h) => h.name), failed };
  }
}

/** The part of the kernel's shutdown deadline its hooks may use: 90%, and at least 250 ms kept back when there is room. */
export function hookDeadline(deadlineMs: number): number {
  return Math.max(Math.min(50, deadlineMs), Math.min(deadlineMs - 250, Math.floor(deadlineMs * 0.9)));
}
