/**
 * The console: the program's output and uk's own messages go to every enabled console driver, in
 * list order. As in Nanos, an enabled driver is attached at the front and a disabled one at the
 * end, and the manifest's `consoles` list (`["-serial", "+syslog"]`) toggles drivers by name.
 *
 * Drivers take either raw bytes (the serial driver: the program's output unchanged) or records
 * (one per line, valid UTF-8, with a realtime timestamp and the source); lines are only framed
 * when some enabled driver wants records. A record driver that encodes bytes itself may also take
 * the program's lines as bytes, a block per read (`writeLines`): no string per line is made for
 * it. uk's own messages always reach it as records (`write`).
 *
 * A driver must not throw, but a broken one may. Its failures are reported without flooding
 * (the first at once, then a summary at most every 10 s), and a driver that keeps failing (100
 * calls in a row, or 1,000 in all) is disabled with one message. From then on, the program lines
 * it would have received are counted as dropped for it, so that for every driver the lines
 * written are those it stored plus those counted.
 */
import { reasonOf, ukError, type UkError } from './errors.js';
import { describeSummary, FailureTally } from './failure-tally.js';
import { lineText, type LineBlock } from './line-framer.js';
import type { Vector } from './manifest.js';
import { Stats, type Counter } from './stats.js';

export type RecordSource = 'stdout' | 'stderr' | 'kernel';
export type ProgramStream = 'stdout' | 'stderr';

export interface ConsoleRecord {
  /**
   * One line without its newline, valid UTF-8 text (invalid bytes became U+FFFD); or, for a
   * record made by multiline grouping (a stack trace), its lines joined by `\n` (docs/multiline.md).
   */
  readonly text: string;
  /** Realtime milliseconds since the epoch when uk read the bytes. */
  readonly time: number;
  readonly source: RecordSource;
}

export interface ConsoleDriver {
  readonly name: string;
  /** Raw bytes exactly as the program wrote them. Return false to ask the reader to pause until `drain` resolves. */
  writeRaw?(chunk: Buffer, stream: ProgramStream): boolean | void;
  /** Resolves when a driver that returned false from writeRaw, or asked to pause, can take more. */
  drain?(stream: ProgramStream): Promise<void>;
  /**
   * A record driver that is behind (but working) returns true to stop the program's output from
   * being read for now (the program then waits on its write); `drain` says when to read on.
   * Checked after each read, so a driver needs room for one read (64 KiB) beyond its mark.
   */
  shouldPause?(): boolean;
  /** One framed record. Must not throw for bad data; must not block. */
  write?(record: ConsoleRecord): void;
  /**
   * The program's lines of one read as bytes, instead of one `write` per line (a driver with
   * `writeLines` must also have `write`, for uk's own messages). Bytes may be invalid UTF-8;
   * `lineText` decodes a line as `write` would have received it. Must not keep the block.
   */
  writeLines?(block: LineBlock, source: ProgramStream): void;
  /** Sends everything pending; called at shutdown under the kernel's deadline. */
  flush?(): Promise<void>;
  /**
   * False: this driver takes one record per line, also when multiline grouping made one record
   * of a stack trace (the console splits such a record back at its `\n`s for it). The same as
   * `multiline: "off"` in the tuple of the klib that attached it. Default: records as grouped.
   */
  readonly multiline?: boolean;
}

interface Toggle {
  readonly enabled: boolean;
  readonly where: string;
  used: boolean;
}

/** Parses the manifest's `consoles` vector: `+name` enables, `-name` disables. */
export function parseConsoleToggles(consoles: Vector | undefined): { toggles: Map<string, Toggle>; problems: UkError[] } {
  const toggles = new Map<string, Toggle>();
  const problems: UkError[] = [];
  consoles?.items.forEach((item, index) => {
    const where = consoles.itemPath(index);
    const match = typeof item === 'string' ? /^([+-])([A-Za-z0-9_.-]+)$/.exec(item.trim()) : null;
    if (!match) {
      problems.push(
        ukError('UK_ERR_CONSOLES_ENTRY', `${where}: expected "+name" or "-name", got ${typeof item === 'string' ? JSON.stringify(item) : 'a non-string'}`, {
          where,
          fix: 'write "+syslog" to enable the syslog driver or "-serial" to disable the serial one',
        }),
      );
      return;
    }
    toggles.set(match[2] as string, { enabled: match[1] === '+', where, used: false });
  });
  return { toggles, problems };
}

/** When a failing driver is reported and when it is disabled. */
export interface DriverFailurePolicy {
  /** Failed calls in a row after which a driver is disabled. */
  readonly maxFailuresInARow: number;
  /** Failed calls in all after which a driver is disabled (one that fails every other call too). */
  readonly maxFailures: number;
  /** Shortest time between two reports of a driver's failures, ms; failures in between are counted. */
  readonly summaryIntervalMs: number;
}

export const DEFAULT_DRIVER_FAILURE_POLICY: DriverFailurePolicy = { maxFailuresInARow: 100, maxFailures: 1000, summaryIntervalMs: 10_000 };

export interface ConsoleDriverListOptions {
  /** Where the failure counters go (group `console`); the kernel passes its own. */
  readonly stats?: Stats;
  /** Monotonic milliseconds, for the failure summaries. */
  readonly monotonic?: () => number;
  readonly failurePolicy?: Partial<DriverFailurePolicy>;
}

/** Drivers a kernel message must not reach: the driver it is about, or every driver of a klib. */
export type RecordSkip = ConsoleDriver | { readonly owner: string };

/**
 * What a failing driver did not take, counted in the `console` stats group as `<driver>.<kind>`:
 * program lines (or raw bytes) handed to it in a call that threw (`failed`), and those not handed
 * to it because it was disabled for failing (`dropped`).
 */
type LossKind = 'failed' | 'failed_bytes' | 'dropped' | 'dropped_bytes';

interface Entry {
  readonly driver: ConsoleDriver;
  /** The klib that attached it, when known. */
  readonly owner: string | undefined;
  enabled: boolean;
  /** Disabled because it kept failing or its klib failed: what it misses is counted as dropped. */
  failedOut: boolean;
  tally: FailureTally | undefined;
  /** Made at the first loss of each kind, so the stats show only what happened. */
  readonly losses: Partial<Record<LossKind, Counter>>;
  /** Takes one record per line: grouped records are split back for it. */
  ungrouped: boolean;
  /** Resolves a `drain` waiting on this driver when the driver is disabled. */
  wake: (() => void) | undefined;
  disabled: Promise<void> | undefined;
}

export class ConsoleDriverList {
  #entries: Entry[] = [];
  #toggles = new Map<string, Toggle>();
  #rawEntries: Entry[] = [];
  #recordEntries: Entry[] = [];
  #lineEntries: Entry[] = [];
  /** Record drivers that take the program's lines one record at a time. */
  #textEntries: Entry[] = [];
  #pausingEntries: Entry[] = [];
  /** Failed-out drivers, whose missed program lines (or bytes) are counted. */
  #deadRecordEntries: Entry[] = [];
  #deadRawEntries: Entry[] = [];
  readonly #deadOwners = new Set<string>();
  /** Klibs whose tuple says `multiline: "off"`. */
  readonly #ungroupedOwners = new Set<string>();
  readonly #stats: Stats;
  readonly #monotonic: () => number;
  readonly #policy: DriverFailurePolicy;
  #failureCounters: { failures: Counter; disabled: Counter } | undefined;
  /**
   * Reports a driver's failure (rate limited by the list); the kernel writes it to its log
   * without sending it back to that driver.
   */
  report: (driver: ConsoleDriver, message: string) => void = () => {};
  /** The klib attaching a driver when `attach` is not told (the kernel asks its klib guard). */
  ownerNow: () => string | undefined = () => undefined;

  constructor(options: ConsoleDriverListOptions = {}) {
    this.#stats = options.stats ?? new Stats();
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#policy = { ...DEFAULT_DRIVER_FAILURE_POLICY, ...options.failurePolicy };
  }

  /** Applies the manifest's `consoles` toggles to drivers attached now and later. */
  setToggles(toggles: Map<string, Toggle>): void {
    this.#toggles = toggles;
    for (const entry of this.#entries) if (!entry.failedOut) this.#applyToggle(entry);
    this.#reorder();
  }

  #applyToggle(entry: Entry): void {
    const toggle = this.#toggles.get(entry.driver.name);
    if (toggle) {
      toggle.used = true;
      entry.enabled = toggle.enabled;
    }
  }

  /** Toggle entries that name no attached driver (reported after boot). */
  unusedToggles(): { name: string; where: string }[] {
    return [...this.#toggles].filter(([, t]) => !t.used).map(([name, t]) => ({ name, where: t.where }));
  }

  /**
   * Attaches a driver: enabled at the front, disabled at the end, unless `consoles` says otherwise.
   * A driver attached by a klib that has been disabled for failing is attached failed out.
   */
  attach(driver: ConsoleDriver, options: { disabled?: boolean; owner?: string } = {}): void {
    if (this.#entries.some((e) => e.driver.name === driver.name)) throw new RangeError(`console driver ${driver.name} is already attached`);
    if (driver.writeLines && !driver.write)
      throw new RangeError(`console driver ${driver.name} has writeLines but no write (uk's own messages arrive as records)`);
    const owner = options.owner ?? this.ownerNow();
    const ungrouped = driver.multiline === false || (owner !== undefined && this.#ungroupedOwners.has(owner));
    const entry: Entry = {
      driver,
      owner,
      enabled: !options.disabled,
      failedOut: false,
      tally: undefined,
      losses: {},
      ungrouped,
      wake: undefined,
      disabled: undefined,
    };
    this.#applyToggle(entry);
    if (owner !== undefined && this.#deadOwners.has(owner) && entry.enabled) this.#failOut(entry);
    if (entry.enabled) this.#entries.unshift(entry);
    else this.#entries.push(entry);
    this.#reorder();
  }

  /** Enables or disables a driver by name at run time. A driver disabled for failing stays disabled (false). */
  setEnabled(name: string, enabled: boolean): boolean {
    const entry = this.#entries.find((e) => e.driver.name === name);
    if (!entry || (enabled && entry.failedOut)) return false;
    entry.enabled = enabled;
    if (!enabled) this.#wake(entry);
    this.#reorder();
    return true;
  }

  /**
   * Disables every enabled driver attached by `owner` (a klib that failed), and any it attaches
   * later; the program lines they miss are counted as dropped. Returns their names.
   */
  disableOwner(owner: string): string[] {
    this.#deadOwners.add(owner);
    const names: string[] = [];
    for (const entry of this.#entries) {
      if (entry.owner !== owner || !entry.enabled) continue;
      this.#failOut(entry);
      names.push(entry.driver.name);
    }
    this.#reorder();
    return names;
  }

  /**
   * The drivers `owner` attached, and those it attaches later, take one record per line: records
   * that multiline grouping made are split back at their `\n`s for them (`multiline: "off"` in the
   * klib's tuple).
   */
  ungroupFor(owner: string): void {
    this.#ungroupedOwners.add(owner);
    for (const entry of this.#entries) if (entry.owner === owner) entry.ungrouped = true;
  }

  /** Names of the drivers `owner` attached. */
  driversOf(owner: string): string[] {
    return this.#entries.filter((e) => e.owner === owner).map((e) => e.driver.name);
  }

  #reorder(): void {
    // Keep the Nanos invariant: enabled drivers first (in attach order), disabled at the end.
    this.#entries = [...this.#entries.filter((e) => e.enabled), ...this.#entries.filter((e) => !e.enabled)];
    const enabled = this.#entries.filter((e) => e.enabled);
    this.#rawEntries = enabled.filter((e) => e.driver.writeRaw !== undefined);
    this.#recordEntries = enabled.filter((e) => e.driver.write !== undefined);
    this.#lineEntries = enabled.filter((e) => e.driver.writeLines !== undefined);
    this.#textEntries = enabled.filter((e) => e.driver.write !== undefined && e.driver.writeLines === undefined);
    this.#pausingEntries = enabled.filter((e) => e.driver.shouldPause !== undefined);
    const dead = this.#entries.filter((e) => e.failedOut);
    this.#deadRecordEntries = dead.filter((e) => e.driver.write !== undefined);
    this.#deadRawEntries = dead.filter((e) => e.driver.writeRaw !== undefined);
  }

  /** Driver names in list order with their state, e.g. for `--verbose`. */
  describe(): { name: string; enabled: boolean }[] {
    return this.#entries.map((e) => ({ name: e.driver.name, enabled: e.enabled }));
  }

  get drivers(): readonly ConsoleDriver[] {
    return this.#entries.map((e) => e.driver);
  }

  get enabledDrivers(): readonly ConsoleDriver[] {
    return this.#entries.filter((e) => e.enabled).map((e) => e.driver);
  }

  /**
   * True when some enabled driver takes records, so lines must be framed; also when a record
   * driver was disabled for failing, so that the lines it misses are counted.
   */
  get wantsRecords(): boolean {
    return this.#recordEntries.length > 0 || this.#deadRecordEntries.length > 0;
  }

  /** Sends raw program bytes to the raw drivers; false if one asked to pause. */
  writeRaw(chunk: Buffer, stream: ProgramStream): boolean {
    for (const entry of this.#deadRawEntries) this.#lose(entry, 'dropped_bytes', chunk.length);
    let keepGoing = true;
    for (const entry of this.#rawEntries) {
      try {
        if (entry.driver.writeRaw!(chunk, stream) === false) keepGoing = false;
      } catch (err) {
        this.#failed(entry, err, 0, chunk.length);
        continue;
      }
      if (entry.tally !== undefined) entry.tally.succeed();
    }
    return keepGoing;
  }

  /** True when an enabled record driver asks the reader to pause (it is behind). */
  wantsPause(): boolean {
    for (const entry of this.#pausingEntries) {
      try {
        if (entry.driver.shouldPause!()) return true;
      } catch (err) {
        this.#failed(entry, err, 0, 0);
      }
    }
    return false;
  }

  /**
   * Resolves when every raw driver can take more bytes and no record driver asks to pause
   * (`records: false`: the raw drivers only, once the program has exited). A driver whose drain
   * fails, or that is disabled meanwhile, no longer holds the reader.
   */
  async drain(stream: ProgramStream, options: { records?: boolean } = {}): Promise<void> {
    const entries = new Set(options.records === false ? this.#rawEntries : [...this.#rawEntries, ...this.#pausingEntries]);
    await Promise.all([...entries].filter((e) => e.driver.drain !== undefined).map((e) => this.#drainOne(e, stream)));
  }

  #drainOne(entry: Entry, stream: ProgramStream): Promise<void> {
    let pending: Promise<void>;
    try {
      pending = Promise.resolve(entry.driver.drain!(stream));
    } catch (err) {
      this.#failed(entry, err, 0, 0);
      return Promise.resolve();
    }
    entry.disabled ??= new Promise<void>((resolve) => (entry.wake = resolve));
    return Promise.race([pending.catch((err: unknown) => this.#failed(entry, err, 0, 0)), entry.disabled]);
  }

  /** Sends the program's lines of one read to every enabled record driver: as bytes to those that take them, as records to the rest. */
  writeLines(block: LineBlock, source: ProgramStream): void {
    const grouped = block.lines !== undefined && block.lines > block.count;
    let split: LineBlock | undefined;
    for (const entry of this.#deadRecordEntries) this.#lose(entry, 'dropped', entry.ungrouped && grouped ? block.lines : block.count);
    for (const entry of this.#lineEntries) {
      const given = entry.ungrouped && grouped ? (split ??= splitGroups(block)) : block;
      try {
        entry.driver.writeLines!(given, source);
      } catch (err) {
        this.#failed(entry, err, given.count, 0);
        continue;
      }
      if (entry.tally !== undefined) entry.tally.succeed();
    }
    const textEntries = this.#textEntries;
    if (textEntries.length === 0) return;
    if (grouped && textEntries.some((e) => e.ungrouped)) {
      split ??= splitGroups(block);
      this.#writeText(
        textEntries.filter((e) => !e.ungrouped),
        block,
        source,
      );
      this.#writeText(
        textEntries.filter((e) => e.ungrouped),
        split,
        source,
      );
      return;
    }
    this.#writeText(textEntries, block, source);
  }

  #writeText(textEntries: readonly Entry[], block: LineBlock, source: ProgramStream): void {
    if (textEntries.length === 0) return;
    for (let i = 0; i < block.count; i++) {
      const record: ConsoleRecord = { text: lineText(block, i), time: block.time, source };
      for (const entry of textEntries) {
        if (!entry.enabled) {
          // Disabled during this block: the rest of the block is counted, not delivered.
          if (entry.failedOut) this.#lose(entry, 'dropped', 1);
          continue;
        }
        try {
          entry.driver.write!(record);
        } catch (err) {
          this.#failed(entry, err, 1, 0);
          continue;
        }
        if (entry.tally !== undefined) entry.tally.succeed();
      }
    }
  }

  /** Sends one record (usually a kernel message) to every enabled record driver but those skipped (no feedback loops). */
  write(record: ConsoleRecord, skip?: RecordSkip): void {
    if (record.source !== 'kernel') for (const entry of this.#deadRecordEntries) this.#lose(entry, 'dropped', 1);
    const skipOwner = skip !== undefined && 'owner' in skip ? skip.owner : undefined;
    for (const entry of this.#recordEntries) {
      if (entry.driver === skip || (skipOwner !== undefined && entry.owner === skipOwner) || !entry.enabled) continue;
      try {
        entry.driver.write!(record);
      } catch (err) {
        this.#failed(entry, err, record.source === 'kernel' ? 0 : 1, 0);
        continue;
      }
      if (entry.tally !== undefined) entry.tally.succeed();
    }
  }

  /** Reports failures not summed up yet (uk is stopping). */
  reportPendingFailures(): void {
    for (const entry of this.#entries) {
      const summary = entry.tally?.takeUnreported(this.#monotonic());
      if (summary?.kind === 'summary') this.report(entry.driver, `console driver ${entry.driver.name} failed ${describeSummary(summary)}`);
    }
  }

  #counters(): { failures: Counter; disabled: Counter } {
    // Made at the first failure only: a healthy run shows no `console` stats line.
    this.#failureCounters ??= { failures: this.#stats.counter('console', 'driver_failures'), disabled: this.#stats.counter('console', 'drivers_disabled') };
    return this.#failureCounters;
  }

  #lose(entry: Entry, kind: LossKind, n: number): void {
    if (n === 0) return;
    (entry.losses[kind] ??= this.#stats.counter('console', `${entry.driver.name}.${kind}`)).add(n);
  }

  #failed(entry: Entry, err: unknown, lines: number, bytes: number): void {
    this.#counters().failures.add();
    this.#lose(entry, 'failed', lines);
    this.#lose(entry, 'failed_bytes', bytes);
    if (!entry.enabled) return; // a late failure (a drain) of a driver already disabled
    const reason = reasonOf(err);
    const name = entry.driver.name;
    entry.tally ??= new FailureTally(this.#policy.summaryIntervalMs);
    const now = this.#monotonic();
    const report = entry.tally.fail(reason, now);
    const { streak, total } = entry.tally;
    if (streak >= this.#policy.maxFailuresInARow || total >= this.#policy.maxFailures) {
      entry.tally.takeUnreported(now); // the message below gives the totals
      this.#failOut(entry);
      this.#reorder();
      const why = streak >= this.#policy.maxFailuresInARow ? `${streak} calls in a row failed` : `${total} calls failed`;
      const error = ukError(
        'UK_ERR_CONSOLE_DRIVER_DISABLED',
        `console driver ${name} disabled: ${why} (${total} in all; last: ${reason}); the program lines it would have received are counted as dropped (console: ${name}.dropped)`,
        {
          where: name,
          fix: "a driver's write must not throw: fix or remove the klib that attached it",
        },
      );
      this.report(entry.driver, error.describe());
      return;
    }
    if (report?.kind === 'first') {
      this.report(
        entry.driver,
        `console driver ${name} failed: ${reason} (further failures are counted and reported at most every ${this.#policy.summaryIntervalMs / 1000} s)`,
      );
    } else if (report?.kind === 'summary') {
      this.report(entry.driver, `console driver ${name} failed ${describeSummary(report)}`);
    }
  }

  /** Disables a driver for failing: it gets nothing more, and what it misses is counted. */
  #failOut(entry: Entry): void {
    this.#counters().disabled.add();
    entry.enabled = false;
    entry.failedOut = true;
    this.#wake(entry);
  }

  #wake(entry: Entry): void {
    entry.wake?.();
    entry.wake = undefined;
    entry.disabled = undefined;
  }
}

/** A block with one record per line: the records multiline grouping made are cut at their `\n`s. */
export function splitGroups(block: LineBlock): LineBlock {
  const { buf, bounds } = block;
  const out = new Int32Array(2 * (block.lines ?? block.count));
  let n = 0;
  for (let i = 0; i < block.count; i++) {
    let start = bounds[2 * i] as number;
    const end = bounds[2 * i + 1] as number;
    for (let nl = buf.indexOf(10, start); nl !== -1 && nl < end; nl = buf.indexOf(10, start)) {
      out[2 * n] = start;
      out[2 * n + 1] = nl;
      n++;
      start = nl + 1;
    }
    out[2 * n] = start;
    out[2 * n + 1] = end;
    n++;
  }
  return { buf, bounds: out.subarray(0, 2 * n), count: n, time: block.time };
}
