/**
 * Counters that klibs keep for the operator (sent, dropped, reconnects, …). uk prints them at
 * exit when something was dropped or failed (always with --verbose) and on demand with
 * `--stats-interval`.
 */

export class Counter {
  value = 0;

  add(n = 1): void {
    this.value += n;
  }
}

/** Counter names whose non-zero value means data was lost, may have been lost (unconfirmed), or a request failed. */
const LOSS_NAMES = /dropped|rejected|failed|lost|truncated|unconfirmed/;

export class Stats {
  readonly #groups = new Map<string, Map<string, Counter>>();

  /** The counter `name` of `group` (usually the klib), created at 0 the first time. */
  counter(group: string, name: string): Counter {
    let counters = this.#groups.get(group);
    if (!counters) this.#groups.set(group, (counters = new Map<string, Counter>()));
    let counter = counters.get(name);
    if (!counter) counters.set(name, (counter = new Counter()));
    return counter;
  }

  snapshot(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [group, counters] of this.#groups) {
      out[group] = Object.fromEntries([...counters].map(([name, counter]) => [name, counter.value]));
    }
    return out;
  }

  /** True when a loss/failure counter is non-zero. */
  hasLosses(): boolean {
    for (const counters of this.#groups.values()) {
      for (const [name, counter] of counters) if (LOSS_NAMES.test(name) && counter.value > 0) return true;
    }
    return false;
  }

  /** One line per group: `syslog: sent=10 dropped=0 reconnects=1`. */
  lines(): string[] {
    return [...this.#groups].map(([group, counters]) => `${group}: ${[...counters].map(([name, c]) => `${name}=${c.value}`).join(' ')}`);
  }
}
