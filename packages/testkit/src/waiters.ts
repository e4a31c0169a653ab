/**
 * Waiting for a condition that changes on events (a request seen, a connection reset), without
 * polling on a timer: `until` checks now and at every `wake()`, with a generous outer timeout
 * whose message says what was awaited and the state then.
 */
export class ConditionWaiters {
  #waiters: (() => void)[] = [];

  /** Resolves once `predicate` holds; rejects after `timeoutMs` (default 60 s) naming `what` and `state()`. */
  until(predicate: () => boolean, what: string, state: () => string, timeoutMs = 60_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${state()})`));
      }, timeoutMs);
      this.#waiters.push(check);
    });
  }

  /** Something changed: check every waiting condition. */
  wake(): void {
    for (const check of [...this.#waiters]) check();
  }
}
