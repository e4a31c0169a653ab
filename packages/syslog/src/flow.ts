/**
 * Backpressure: when an output that works is merely behind (a burst bigger than the network or
 * disk takes at once), uk stops reading the program's output until the queue has drained to a
 * quarter, so the program waits on its write as it would on a slow terminal, instead of records
 * being dropped. When an output is failing (server down, disk full) or a send has made no
 * progress for `stallMs`, reading goes on and the queue fills up to `buffer_size`, then drops and
 * counts: a dead or stuck server never stalls the program.
 *
 * The kernel pauses a program stream when a console driver's `writeRaw` returns false and
 * resumes it when the driver's `drain` resolves; the syslog driver takes no raw bytes and uses
 * only that signal.
 */
export interface FlowOutput {
  /** Bytes queued (the Batcher's pendingBytes). */
  readonly pendingBytes: () => number;
  readonly highWater: number;
  readonly lowWater: number;
}

interface OutputState extends FlowOutput {
  failing: boolean;
  sendingSince: number | undefined;
  paused: boolean;
}

export class FlowControl {
  readonly #outputs: OutputState[] = [];
  readonly #stallMs: number;
  readonly #now: () => number;
  #waiters: (() => void)[] = [];
  #recheck: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(stallMs: number, now: () => number = () => performance.now()) {
    this.#stallMs = stallMs;
    this.#now = now;
  }

  /** Adds an output; wrap its send with the returned function to track health and progress. */
  track<T>(output: FlowOutput, send: (batch: T[]) => Promise<void>): (batch: T[]) => Promise<void> {
    const state: OutputState = { ...output, failing: false, sendingSince: undefined, paused: false };
    this.#outputs.push(state);
    return async (batch) => {
      state.sendingSince = this.#now();
      try {
        await send(batch);
        state.failing = false;
      } catch (err) {
        state.failing = true;
        throw err;
      } finally {
        state.sendingSince = undefined;
        // After the Batcher has taken the batch off its queue (it does so once send resolves).
        if (this.#waiters.length > 0) setImmediate(() => this.#wake());
      }
    };
  }

  #holds(state: OutputState): boolean {
    if (state.failing) return false;
    if (state.sendingSince !== undefined && this.#now() - state.sendingSince > this.#stallMs) return false;
    const pending = state.pendingBytes();
    // Hysteresis: pause at the high mark, resume only at the low one.
    state.paused = state.paused ? pending > state.lowWater : pending >= state.highWater;
    return state.paused;
  }

  /** True when the program's output should stop being read for now. */
  shouldPause(): boolean {
    if (this.#closed) return false;
    let hold = false;
    for (const state of this.#outputs) if (this.#holds(state)) hold = true;
    return hold;
  }

  /** Resolves when reading may go on. */
  drain(): Promise<void> {
    if (!this.shouldPause()) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#armRecheck();
    return done;
  }

  /** Checks again after stallMs even if no send completes (a stuck send). */
  #armRecheck(): void {
    if (this.#recheck) return;
    this.#recheck = setTimeout(() => {
      this.#recheck = undefined;
      this.#wake();
      if (this.#waiters.length > 0) this.#armRecheck();
    }, this.#stallMs);
    this.#recheck.unref();
  }

  #wake(): void {
    if (this.#waiters.length === 0 || this.shouldPause()) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    clearTimeout(this.#recheck);
    this.#recheck = undefined;
    for (const resolve of waiters) resolve();
  }

  /** Shutdown: never pause again, release anyone waiting. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }
}
