/**
 * Monotonic timers that never keep the process alive (uk exits when the program does, not when a
 * klib's retry timer is pending), an exponential backoff, and a clock tests can drive by hand.
 */

export interface TimerHandle {
  cancel(): void;
}

/** The source of time for everything in uk; swap in a ManualClock to test time-based code. */
export interface Clock {
  /** Monotonic milliseconds: only differences mean anything. */
  monotonic(): number;
  /** Realtime milliseconds since the Unix epoch (record timestamps). */
  now(): number;
  /**
   * Runs `fn` once after `ms`; the timer does not keep the process alive unless `keepAlive` is
   * set (the kernel's own deadlines: when nothing else is pending they are what ends the wait).
   */
  schedule(ms: number, fn: () => void, options?: ScheduleOptions): TimerHandle;
}

export interface ScheduleOptions {
  readonly keepAlive?: boolean;
}

export const systemClock: Clock = {
  monotonic: () => performance.now(),
  now: () => Date.now(),
  schedule(ms, fn, options) {
    const timer = setTimeout(fn, Math.max(0, ms));
    if (!options?.keepAlive) timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

interface PendingTimer {
  readonly due: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. Timers fire in due order (ties in scheduling order)
 * during `advance`, each seeing `monotonic()` equal to its due time.
 */
export class ManualClock implements Clock {
  #monotonic = 0;
  #wallOffset: number;
  #seq = 0;
  #timers: PendingTimer[] = [];

  constructor(startWallMs = Date.UTC(2026, 0, 1)) {
    this.#wallOffset = startWallMs;
  }

  monotonic(): number {
    return this.#monotonic;
  }

  now(): number {
    return this.#wallOffset + this.#monotonic;
  }

  /** Moves realtime (e.g. an NTP step) without moving monotonic time. */
  setWallTime(ms: number): void {
    this.#wallOffset = ms - this.#monotonic;
  }

  schedule(ms: number, fn: () => void): TimerHandle {
    const timer: PendingTimer = { due: this.#monotonic + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  #nextDue(limit: number): PendingTimer | undefined {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    let next: PendingTimer | undefined;
    for (const t of this.#timers) {
      if (t.due <= limit && (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq))) next = t;
    }
    return next;
  }

  /** Advances time by `ms`, firing every timer that falls due, synchronously. */
  advance(ms: number): void {
    const target = this.#monotonic + ms;
    for (let t = this.#nextDue(target); t; t = this.#nextDue(target)) {
      t.cancelled = true;
      this.#monotonic = t.due;
      t.fn();
    }
    this.#monotonic = target;
  }

  /** Like advance, but lets promises settle after each timer (for async timer callbacks). */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#monotonic + ms;
    await settle();
    for (let t = this.#nextDue(target); t; t = this.#nextDue(target)) {
      t.cancelled = true;
      this.#monotonic = t.due;
      t.fn();
      await settle();
    }
    this.#monotonic = target;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** One-shot and periodic timers on a clock. */
export class Timers {
  readonly clock: Clock;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  oneShot(ms: number, fn: () => void, options?: ScheduleOptions): TimerHandle {
    return this.clock.schedule(ms, fn, options);
  }

  /**
   * Calls `fn` every `ms`, on a fixed schedule measured on the monotonic clock so that slow
   * callbacks do not make the period drift. A tick that is late by more than a period is skipped
   * rather than run twice in a row.
   */
  periodic(ms: number, fn: () => void): TimerHandle {
    if (!(ms > 0)) throw new RangeError(`periodic timer needs a positive period, got ${ms}`);
    let next = this.clock.monotonic() + ms;
    let handle: TimerHandle | undefined;
    let stopped = false;
    const tick = (): void => {
      if (stopped) return;
      const now = this.clock.monotonic();
      // This tick is done: the next one is at least one period on, even if the timer fired a
      // hair before `next` by the monotonic clock (Node's timers keep their own clock).
      do next += ms;
      while (next <= now);
      handle = this.clock.schedule(next - now, tick);
      fn();
    };
    handle = this.clock.schedule(ms, tick);
    return {
      cancel: () => {
        stopped = true;
        handle?.cancel();
      },
    };
  }

  /** Resolves after `ms` (without keeping the process alive). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.schedule(ms, resolve));
  }
}

export interface BackoffOptions {
  /** First delay, ms. */
  readonly initial: number;
  readonly factor?: number;
  /** Largest delay, ms. */
  readonly max: number;
  /**
   * Fraction of each delay that is randomised (0 = none, 1 = "full jitter"), so that many
   * instances retrying the same service do not retry in step.
   */
  readonly jitter?: number;
  readonly random?: () => number;
}

/** Exponential backoff: initial, ×factor per failure, capped at max. The klibs use 1 s → 3600 s. */
export class Backoff {
  readonly #options: Required<BackoffOptions>;
  #current: number;
  #attempts = 0;

  constructor(options: BackoffOptions) {
    if (!(options.initial > 0) || !(options.max >= options.initial)) {
      throw new RangeError(`backoff needs 0 < initial <= max, got ${options.initial} and ${options.max}`);
    }
    this.#options = { factor: 2, jitter: 0, random: Math.random, ...options };
    this.#current = options.initial;
  }

  /** Delay before the next attempt without jitter (what the next call to next() is based on). */
  get current(): number {
    return this.#current;
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The delay to wait now; the following one grows by the factor up to max. */
  next(): number {
    const base = this.#current;
    this.#attempts++;
    this.#current = Math.min(this.#options.max, base * this.#options.factor);
    const jitter = this.#options.jitter;
    return jitter > 0 ? Math.round(base * (1 - jitter * this.#options.random())) : base;
  }

  reset(): void {
    this.#current = this.#options.initial;
    this.#attempts = 0;
  }
}
