/**
 * Rate limiting of failure reports. A thing that fails on every call (a console driver that
 * throws on each line, a klib whose timer throws every 100 ms) must not flood stderr and the
 * other drivers: its first failure is reported at once, later ones are counted and summed up in
 * one message at most every `intervalMs`.
 */

export type TallyReport =
  { readonly kind: 'first'; readonly reason: string } | { readonly kind: 'summary'; readonly count: number; readonly seconds: number; readonly reason: string };

export class FailureTally {
  readonly intervalMs: number;
  /** Failures in all. */
  total = 0;
  /** Failures since the last success. */
  streak = 0;
  #unreported = 0;
  #lastReason = '';
  #reportedAt: number | undefined;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  /** Records one failure at monotonic time `now`; returns the report to make now, if any. */
  fail(reason: string, now: number): TallyReport | undefined {
    this.total++;
    this.streak++;
    this.#lastReason = reason;
    if (this.#reportedAt === undefined) {
      this.#reportedAt = now;
      return { kind: 'first', reason };
    }
    this.#unreported++;
    if (now - this.#reportedAt < this.intervalMs) return undefined;
    return this.#summary(now);
  }

  succeed(): void {
    this.streak = 0;
  }

  /** Failures not reported yet, summed up (when the thing is disabled or uk stops), if any. */
  takeUnreported(now: number): TallyReport | undefined {
    return this.#unreported > 0 ? this.#summary(now) : undefined;
  }

  get lastReason(): string {
    return this.#lastReason;
  }

  #summary(now: number): TallyReport {
    const report = { kind: 'summary' as const, count: this.#unreported, seconds: (now - (this.#reportedAt as number)) / 1000, reason: this.#lastReason };
    this.#unreported = 0;
    this.#reportedAt = now;
    return report;
  }
}

/** "3 more times in the last 10.0 s (last: EPIPE)". */
export function describeSummary(report: Extract<TallyReport, { kind: 'summary' }>): string {
  return `${report.count} more time${report.count === 1 ? '' : 's'} in the last ${report.seconds.toFixed(1)} s (last: ${report.reason})`;
}
