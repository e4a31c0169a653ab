/**
 * The kernel: builds the services from an Ops config, loads the klibs in dependency order with
 * timeouts, and shuts everything down within a deadline.
 */
import { basename } from 'node:path';
import type { OpsConfig } from './config.js';
import { ConsoleDriverList, parseConsoleToggles } from './console.js';
import { isUkError, reasonOf, ukError, type UkError } from './errors.js';
import { Heaps } from './heap.js';
import { KernelLog } from './kernel-log.js';
import { dependenciesOf, type Env, type KlibContext, type KlibLog, type ProgramInfo } from './klib.js';
import { orderKlibs, resolveKlib, type ResolvedKlib } from './loader.js';
import { Tuple } from './manifest.js';
import { OptionsReader } from './options.js';
import { Secrets } from './redact.js';
import { serialDriver } from './serial.js';
import { Services } from './services.js';
import { Shutdown, type ShutdownReport } from './shutdown.js';
import { Stats } from './stats.js';
import { systemClock, Timers, type Clock } from './timers.js';
import * as tokens from './tokens.js';
import type { Writable } from 'node:stream';

/** Kernel settings from the manifest's `uk` tuple. */
export interface KernelSettings {
  /** How long shutdown may take to flush every driver, ms (`uk.shutdown_timeout`, seconds, default 10). */
  readonly shutdownTimeoutMs: number;
  /** Longest record; longer lines are split (`uk.max_record_size`, default 1m). */
  readonly maxRecordBytes: number;
  /** A partial line is delivered after this idle time, ms (`uk.partial_line_timeout`, default 100). */
  readonly partialLineMs: number;
  /** Default init timeout per klib, ms (`uk.klib_init_timeout`, seconds, default 10). */
  readonly klibInitTimeoutMs: number;
  /**
   * When only the serial console is enabled, the program inherits uk's stdout/stderr instead of
   * piping through uk (`uk.passthrough`, default true).
   */
  readonly passthrough: boolean;
}

/** Throws every problem of the `uk` tuple (uk validate). */
export function readKernelSettings(manifest: Tuple): KernelSettings {
  const { settings, reader } = readSettings(manifest);
  reader.done();
  return settings;
}

/**
 * The settings with the default in place of every bad value, and the problems found: uk still
 * runs the program with a bad `uk` tuple, and reports it at boot (exit 2 only with --strict).
 */
export function readKernelSettingsLeniently(manifest: Tuple): { settings: KernelSettings; problems: UkError[] } {
  let tuple: Tuple | undefined;
  try {
    tuple = manifest.tuple('uk');
  } catch (err) {
    return { settings: readSettings(Tuple.empty()).settings, problems: [toUkError(err, 'uk')] };
  }
  const { settings, reader } = readSettings(tuple ? manifest : Tuple.empty());
  return { settings, problems: reader.problems };
}

function readSettings(manifest: Tuple): { settings: KernelSettings; reader: OptionsReader } {
  const reader = new OptionsReader('uk', manifest.tuple('uk') ?? Tuple.empty('uk'));
  reader.allowKeys(['shutdown_timeout', 'max_record_size', 'partial_line_timeout', 'klib_init_timeout', 'passthrough']);
  const settings: KernelSettings = {
    shutdownTimeoutMs: reader.read((t) => t.uint('shutdown_timeout', { default: 10, min: 1, max: 3600, what: 'a whole number of seconds' }), 10) * 1000,
    maxRecordBytes: reader.read((t) => t.size('max_record_size', { default: 1024 * 1024, min: 1024, max: 64 * 1024 * 1024 }), 1024 * 1024),
    partialLineMs: reader.read((t) => t.uint('partial_line_timeout', { default: 100, min: 1, max: 60000, what: 'a whole number of milliseconds' }), 100),
    klibInitTimeoutMs: reader.read((t) => t.uint('klib_init_timeout', { default: 10, min: 1, max: 3600, what: 'a whole number of seconds' }), 10) * 1000,
    passthrough: reader.read((t) => t.bool('passthrough', true), true),
  };
  return { settings, reader };
}

export interface KernelOptions {
  readonly config: OpsConfig;
  /** Program path and arguments (from the command line or the config). */
  readonly program?: { path: string; args: readonly string[] };
  /** Base environment (default: uk's own). The config's Env is laid over it. */
  readonly baseEnv?: NodeJS.ProcessEnv;
  readonly clock?: Clock;
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  readonly verbose?: boolean;
  /** Credentials to redact from uk's messages (the CLI shares its own, for errors printed outside the kernel). */
  readonly secrets?: Secrets;
}

export type KlibStatus = 'loaded' | 'skipped' | 'failed';

export interface KlibReport {
  readonly name: string;
  readonly entry: string;
  readonly status: KlibStatus;
  readonly ms: number;
  readonly error?: UkError;
}

export interface BootReport {
  readonly klibs: KlibReport[];
  /** Every problem found at boot (also written to the kernel log). */
  readonly problems: UkError[];
}

/** Builds the program's environment: uk's, then the config's Env, then IMAGE_NAME if neither set it. */
export function programEnv(base: NodeJS.ProcessEnv, configEnv: Env, programPath: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) if (value !== undefined) env[key] = value;
  Object.assign(env, configEnv);
  if (env.IMAGE_NAME === undefined && programPath) env.IMAGE_NAME = basename(programPath);
  return env;
}

export class Kernel {
  readonly config: OpsConfig;
  readonly manifest: Tuple;
  readonly settings: KernelSettings;
  readonly env: Env;
  readonly program: { -readonly [K in keyof ProgramInfo]: ProgramInfo[K] };
  readonly services = new Services();
  readonly timers: Timers;
  readonly heaps = new Heaps();
  readonly console = new ConsoleDriverList();
  readonly log: KernelLog;
  readonly secrets: Secrets;
  readonly stats = new Stats();
  readonly shutdown: Shutdown;
  readonly #abort = new AbortController();
  /** Bad values of the `uk` tuple (defaults used instead), reported at boot. */
  readonly #settingsProblems: UkError[];

  constructor(options: KernelOptions) {
    this.config = options.config;
    this.manifest = options.config.manifest;
    const { settings, problems: settingsProblems } = readKernelSettingsLeniently(this.manifest);
    this.settings = settings;
    this.#settingsProblems = settingsProblems;
    this.timers = new Timers(options.clock ?? systemClock);
    this.shutdown = new Shutdown(this.timers);
    const stderr = options.stderr ?? process.stderr;
    this.secrets = options.secrets ?? new Secrets();
    this.log = new KernelLog(this.console, this.timers.clock, (text) => void stderr.write(text), this.secrets);
    this.log.verbose = options.verbose ?? false;
    this.console.onDriverError = (driver, err) => this.log.error(`console driver ${driver.name} failed: ${reasonOf(err)}`, driver);
    const path = options.program?.path ?? options.config.program ?? '';
    this.env = Object.freeze(programEnv(options.baseEnv ?? process.env, options.config.env, path || undefined));
    this.program = { name: path ? basename(path) : '', path, args: options.program?.args ?? options.config.args, pid: undefined };
    this.console.attach(serialDriver(options.stdout, stderr));

    const s = this.services;
    s.provide(tokens.ManifestService, this.manifest);
    s.provide(tokens.EnvService, this.env);
    s.provide(tokens.ProgramService, this.program);
    s.provide(tokens.TimersService, this.timers);
    s.provide(tokens.HeapsService, this.heaps);
    s.provide(tokens.ConsoleService, this.console);
    s.provide(tokens.KernelLogService, this.log);
    s.provide(tokens.ShutdownService, this.shutdown);
    s.provide(tokens.StatsService, this.stats);
    s.provide(tokens.SecretsService, this.secrets);
  }

  /** Aborted when shutdown begins. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Resolves the Klibs entries, reporting every entry that cannot be resolved. */
  async resolveAll(): Promise<{ resolved: ResolvedKlib[]; problems: UkError[] }> {
    const resolved: ResolvedKlib[] = [];
    const problems: UkError[] = [];
    for (const entry of this.config.klibs) {
      try {
        resolved.push(await resolveKlib(entry, this.config.baseDir));
      } catch (err) {
        problems.push(toUkError(err, entry));
      }
    }
    return { resolved, problems };
  }

  /**
   * Loads every klib. Problems are reported and the klibs affected are left out; the rest load
   * (as Nanos boots without a klib that fails), so the program always runs.
   */
  async boot(): Promise<BootReport> {
    const problems: UkError[] = [...this.#settingsProblems];
    const { toggles, problems: toggleProblems } = parseConsoleToggles(this.#consolesVector(problems));
    problems.push(...toggleProblems);
    this.console.setToggles(toggles);

    const { resolved, problems: resolveProblems } = await this.resolveAll();
    problems.push(...resolveProblems);
    const { order, problems: orderProblems } = orderKlibs(resolved, this.manifest);
    problems.push(...orderProblems);

    const reports: KlibReport[] = [];
    const failed = new Set<string>();
    for (const item of order) {
      const report = await this.#initOne(item, failed);
      reports.push(report);
      if (report.status === 'failed') {
        failed.add(report.name);
        if (report.error) problems.push(report.error);
      }
    }
    for (const { name, where } of this.console.unusedToggles()) {
      this.log.warn(`${where}: no console driver named "${name}" (attached: ${this.console.drivers.map((d) => d.name).join(', ')})`);
    }
    for (const problem of problems) this.log.error(problem.describe());
    if (this.log.verbose) {
      this.log.debug(`klibs: ${reports.map((r) => `${r.name} (${r.status}, ${r.ms.toFixed(1)} ms)`).join(' → ') || 'none'}`);
      this.log.debug(`consoles: ${this.console.describe().map((d) => `${d.enabled ? '+' : '-'}${d.name}`).join(' ')}`);
    }
    return { klibs: reports, problems };
  }

  #consolesVector(problems: UkError[]) {
    try {
      return this.manifest.vector('consoles');
    } catch (err) {
      problems.push(toUkError(err, 'consoles'));
      return undefined;
    }
  }

  async #initOne(item: ResolvedKlib, failed: ReadonlySet<string>): Promise<KlibReport> {
    const { klib } = item;
    const started = this.timers.clock.monotonic();
    const report = (status: KlibStatus, error?: UkError): KlibReport => ({ name: klib.name, entry: item.entry, status, ms: this.timers.clock.monotonic() - started, ...(error ? { error } : {}) });
    const configKey = klib.configKey ?? klib.name;
    let config: Tuple | undefined;
    try {
      config = this.manifest.tuple(configKey);
    } catch (err) {
      return report('failed', toUkError(err, configKey));
    }
    const deadDeps = dependenciesOf(klib, config).filter((dep) => failed.has(dep));
    if (deadDeps.length > 0) {
      return report('failed', ukError('UK_ERR_KLIB_MISSING_DEP', `missing dependencies for ${klib.name} klib: ${deadDeps.join(', ')} failed to load`, { where: klib.name }));
    }
    if (!config) {
      const mode = klib.whenUnconfigured ?? 'skip';
      if (mode === 'skip') return report('skipped');
      if (mode === 'fail') {
        return report('failed', ukError('UK_ERR_KLIB_CONFIG_MISSING', `${klib.name}: configuration tuple "${configKey}" is missing from ManifestPassthrough`, { where: configKey, fix: `add "${configKey}": { … } to ManifestPassthrough` }));
      }
    }
    let options: unknown;
    try {
      options = klib.options ? klib.options({ config: config ?? Tuple.empty(configKey), env: this.env, manifest: this.manifest, cloudConfig: this.config.cloudConfig }) : undefined;
    } catch (err) {
      return report('failed', toUkError(err, klib.name));
    }
    const context = this.#context(klib.name, config, options);
    const timeoutMs = klib.initTimeoutMs ?? this.settings.klibInitTimeoutMs;
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = this.timers.oneShot(timeoutMs, () => resolve('timeout'), { keepAlive: true })));
    try {
      const outcome = await Promise.race([Promise.resolve(klib.init(context)).then(() => 'ok' as const), timeout]);
      if (outcome === 'timeout') {
        return report('failed', ukError('UK_ERR_KLIB_INIT_TIMEOUT', `klib ${klib.name} did not finish init within ${timeoutMs} ms`, { where: klib.name, fix: 'a klib must not wait for the network in init; raise uk.klib_init_timeout if it must' }));
      }
      return report('loaded');
    } catch (err) {
      return report('failed', ukError('UK_ERR_KLIB_INIT_FAILED', `klib ${klib.name} failed to start: ${reasonOf(err)}`, { where: klib.name, cause: err }));
    } finally {
      timer?.cancel();
    }
  }

  #context(name: string, config: Tuple | undefined, options: unknown): KlibContext<unknown> {
    const prefix = (message: string): string => `${name}: ${message}`;
    const log: KlibLog = {
      debug: (m) => this.log.debug(prefix(m)),
      info: (m) => this.log.info(prefix(m)),
      warn: (m) => this.log.warn(prefix(m)),
      error: (m) => this.log.error(prefix(m)),
    };
    return {
      name,
      config,
      options,
      manifest: this.manifest,
      cloudConfig: this.config.cloudConfig,
      env: this.env,
      program: this.program,
      services: this.services,
      timers: this.timers,
      heaps: this.heaps,
      console: this.console,
      log,
      kernelLog: this.log,
      settings: this.settings,
      counter: (counterName) => this.stats.counter(name, counterName),
      onShutdown: (hook) => this.shutdown.register(name, hook),
      signal: this.#abort.signal,
    };
  }

  /**
   * Flushes every enabled driver and runs the klibs' shutdown hooks, within the deadline
   * (`uk.shutdown_timeout`). Reports what did not finish.
   */
  async stop(deadlineMs = this.settings.shutdownTimeoutMs): Promise<ShutdownReport> {
    this.#abort.abort();
    for (const driver of this.console.enabledDrivers) {
      if (driver.flush) this.shutdown.register(`console driver ${driver.name}`, () => driver.flush!());
    }
    const report = await this.shutdown.run(deadlineMs);
    for (const { name, reason } of report.failed) this.log.error(`shutdown: ${name} failed: ${reason}`);
    if (report.unfinished.length > 0) {
      const err = ukError('UK_ERR_SHUTDOWN_TIMEOUT', `shutdown deadline of ${deadlineMs / 1000} s passed; still flushing: ${report.unfinished.join(', ')}`, { fix: 'raise uk.shutdown_timeout or check the destination' });
      this.log.error(err.describe());
    }
    return report;
  }
}

function toUkError(err: unknown, where: string): UkError {
  return isUkError(err) ? err : ukError('UK_ERR_KLIB_INIT_FAILED', `${where}: ${reasonOf(err)}`, { where, cause: err });
}
