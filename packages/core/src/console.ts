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
 */
import { ukError, type UkError } from './errors.js';
import { lineText, type LineBlock } from './line-framer.js';
import type { Vector } from './manifest.js';

export type RecordSource = 'stdout' | 'stderr' | 'kernel';
export type ProgramStream = 'stdout' | 'stderr';

export interface ConsoleRecord {
  /** One line without its newline, valid UTF-8 text (invalid bytes became U+FFFD). */
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

interface Entry {
  readonly driver: ConsoleDriver;
  enabled: boolean;
}

export class ConsoleDriverList {
  #entries: Entry[] = [];
  #toggles = new Map<string, Toggle>();
  #rawDrivers: ConsoleDriver[] = [];
  #recordDrivers: ConsoleDriver[] = [];
  #lineDrivers: ConsoleDriver[] = [];
  /** Record drivers that take the program's lines one record at a time. */
  #textDrivers: ConsoleDriver[] = [];
  #pausingDrivers: ConsoleDriver[] = [];
  /** Called when a driver throws; the kernel log reports it without sending it back to that driver. */
  onDriverError: (driver: ConsoleDriver, err: unknown) => void = () => {};

  /** Applies the manifest's `consoles` toggles to drivers attached now and later. */
  setToggles(toggles: Map<string, Toggle>): void {
    this.#toggles = toggles;
    for (const entry of this.#entries) this.#applyToggle(entry);
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

  /** Attaches a driver: enabled at the front, disabled at the end, unless `consoles` says otherwise. */
  attach(driver: ConsoleDriver, options: { disabled?: boolean } = {}): void {
    if (this.#entries.some((e) => e.driver.name === driver.name)) throw new RangeError(`console driver ${driver.name} is already attached`);
    if (driver.writeLines && !driver.write) throw new RangeError(`console driver ${driver.name} has writeLines but no write (uk's own messages arrive as records)`);
    const entry: Entry = { driver, enabled: !options.disabled };
    this.#applyToggle(entry);
    if (entry.enabled) this.#entries.unshift(entry);
    else this.#entries.push(entry);
    this.#reorder();
  }

  /** Enables or disables a driver by name at run time. */
  setEnabled(name: string, enabled: boolean): boolean {
    const entry = this.#entries.find((e) => e.driver.name === name);
    if (!entry) return false;
    entry.enabled = enabled;
    this.#reorder();
    return true;
  }

  #reorder(): void {
    // Keep the Nanos invariant: enabled drivers first (in attach order), disabled at the end.
    this.#entries = [...this.#entries.filter((e) => e.enabled), ...this.#entries.filter((e) => !e.enabled)];
    const enabled = this.#entries.filter((e) => e.enabled).map((e) => e.driver);
    this.#rawDrivers = enabled.filter((d) => d.writeRaw);
    this.#recordDrivers = enabled.filter((d) => d.write);
    this.#lineDrivers = enabled.filter((d) => d.writeLines);
    this.#textDrivers = enabled.filter((d) => d.write && !d.writeLines);
    this.#pausingDrivers = enabled.filter((d) => d.shouldPause);
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

  /** True when some enabled driver takes records, so lines must be framed. */
  get wantsRecords(): boolean {
    return this.#recordDrivers.length > 0;
  }

  /** Sends raw program bytes to the raw drivers; false if one asked to pause. */
  writeRaw(chunk: Buffer, stream: ProgramStream): boolean {
    let keepGoing = true;
    for (const driver of this.#rawDrivers) {
      try {
        if (driver.writeRaw!(chunk, stream) === false) keepGoing = false;
      } catch (err) {
        this.onDriverError(driver, err);
      }
    }
    return keepGoing;
  }

  /** True when an enabled record driver asks the reader to pause (it is behind). */
  wantsPause(): boolean {
    for (const driver of this.#pausingDrivers) if (driver.shouldPause!()) return true;
    return false;
  }

  /**
   * Resolves when every raw driver can take more bytes and no record driver asks to pause
   * (`records: false`: the raw drivers only, once the program has exited).
   */
  async drain(stream: ProgramStream, options: { records?: boolean } = {}): Promise<void> {
    const drivers = options.records === false ? this.#rawDrivers : [...new Set([...this.#rawDrivers, ...this.#pausingDrivers])];
    await Promise.all(drivers.map((d) => d.drain?.(stream)));
  }

  /** Sends the program's lines of one read to every enabled record driver: as bytes to those that take them, as records to the rest. */
  writeLines(block: LineBlock, source: ProgramStream): void {
    for (const driver of this.#lineDrivers) {
      try {
        driver.writeLines!(block, source);
      } catch (err) {
        this.onDriverError(driver, err);
      }
    }
    if (this.#textDrivers.length === 0) return;
    for (let i = 0; i < block.count; i++) {
      const record: ConsoleRecord = { text: lineText(block, i), time: block.time, source };
      for (const driver of this.#textDrivers) {
        try {
          driver.write!(record);
        } catch (err) {
          this.onDriverError(driver, err);
        }
      }
    }
  }

  /** Sends one record to every enabled record driver, optionally skipping one (no feedback loops). */
  write(record: ConsoleRecord, skip?: ConsoleDriver): void {
    for (const driver of this.#recordDrivers) {
      if (driver === skip) continue;
      try {
        driver.write!(record);
      } catch (err) {
        this.onDriverError(driver, err);
      }
    }
  }
}
