/**
 * uk's own messages (`uk: …`). They go to uk's stderr and, as in Nanos, through the record
 * drivers too, as records from source `kernel`. A message caused by a failing driver is never
 * sent back into that driver, a klib's own messages never go into that klib's drivers (`skip`),
 * and a message raised while another is being delivered only goes to stderr, so a broken
 * driver cannot start a feedback loop.
 */
import type { Clock } from './timers.js';
import type { ConsoleDriverList, RecordSkip } from './console.js';
import { Secrets } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export class KernelLog {
  readonly #console: ConsoleDriverList;
  readonly #clock: Clock;
  readonly #writeStderr: (text: string) => void;
  #delivering = false;
  /** Credentials replaced by `[REDACTED]` in every message, before it goes anywhere. */
  readonly secrets: Secrets;
  verbose = false;
  /** Messages written so far, by level (tests and the exit summary read them). */
  readonly counts: Record<LogLevel, number> = { debug: 0, info: 0, warn: 0, error: 0 };

  constructor(console: ConsoleDriverList, clock: Clock, writeStderr: (text: string) => void, secrets = new Secrets()) {
    this.secrets = secrets;
    this.#console = console;
    this.#clock = clock;
    this.#writeStderr = writeStderr;
  }

  debug(message: string): void {
    if (this.verbose) this.#log('debug', message);
  }

  /** `skip`: the driver the message is about, or `{ owner }` for a klib's own message. */
  info(message: string, skip?: RecordSkip): void {
    this.#log('info', message, skip);
  }

  warn(message: string, skip?: RecordSkip): void {
    this.#log('warn', message, skip);
  }

  error(message: string, skip?: RecordSkip): void {
    this.#log('error', message, skip);
  }

  #log(level: LogLevel, message: string, skip?: RecordSkip): void {
    this.counts[level]++;
    const text = `uk: ${this.secrets.redact(message)}`;
    this.#writeStderr(`${text}\n`);
    if (this.#delivering || level === 'debug') return;
    this.#delivering = true;
    try {
      for (const line of text.split('\n')) this.#console.write({ text: line, time: this.#clock.now(), source: 'kernel' }, skip);
    } finally {
      this.#delivering = false;
    }
  }
}
