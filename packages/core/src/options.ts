/**
 * Reads a klib's configuration tuple and collects every problem instead of stopping at the first,
 * so that `uk validate` can list them all. Klibs use it in their `options()` hook.
 */
import { isUkError, ukError, type UkError } from './errors.js';
import type { Tuple } from './manifest.js';

/** The key of every klib tuple that the core reads (multiline/settings.ts; not imported from there, which imports this file). */
const KLIB_MULTILINE_KEY = 'multiline';

export class OptionsReader {
  readonly tuple: Tuple;
  readonly klib: string;
  readonly problems: UkError[] = [];

  constructor(klib: string, tuple: Tuple) {
    this.klib = klib;
    this.tuple = tuple;
  }

  /** Runs one accessor; a thrown UkError is recorded and `fallback` returned in its place. */
  read<T>(readValue: (tuple: Tuple) => T, fallback: T): T {
    try {
      return readValue(this.tuple);
    } catch (err) {
      if (!isUkError(err)) throw err;
      this.problems.push(err);
      return fallback;
    }
  }

  /** Records a problem found by the klib's own cross-field checks. */
  problem(error: UkError): void {
    this.problems.push(error);
  }

  /** Every key not in `known` is an error, worded as Nanos words it: `syslog: invalid option 'x'`. */
  allowKeys(known: readonly string[], tuple: Tuple = this.tuple): void {
    const label = tuple.path || this.klib;
    // `multiline` in a klib's own tuple is the core's (checked by the boot plan), whatever the klib knows.
    const coreKey = tuple === this.tuple && this.klib !== 'uk' ? KLIB_MULTILINE_KEY : undefined;
    for (const key of tuple.keys()) {
      if (!known.includes(key) && key !== coreKey) {
        this.problems.push(
          ukError('UK_ERR_OPTION_UNKNOWN', `${label}: invalid option '${key}'`, {
            where: tuple.pathOf(key),
            fix: `known options: ${known.join(', ')}`,
          }),
        );
      }
    }
  }

  /** Throws one error carrying every problem, if there were any. */
  done(): void {
    if (this.problems.length === 0) return;
    if (this.problems.length === 1) throw this.problems[0] as UkError;
    throw ukError('UK_ERR_OPTIONS_INVALID', `${this.klib}: ${this.problems.length} invalid options: ${this.problems.map((p) => p.message).join('; ')}`, {
      where: this.klib,
      problems: this.problems,
    });
  }
}
