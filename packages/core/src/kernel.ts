/**
 * The kernel: builds the services from an Ops config, loads the klibs in dependency order with
 * timeouts, and shuts everything down within a deadline.
 */
import { basename } from 'node:path';
import type { OpsConfig } from './config.js';
import { ConsoleDriverList, parseConsoleToggles } from './console.js';
import { isUkError, reasonOf, ukError, type UkError } from './errors.js';
import { describeSummary, FailureTally } from './failure-tally.js';
import { Heaps } from './heap.js';
import { KernelLog } from './kernel-log.js';
import { klibGuard, type KlibFailure, type KlibIdentity } from './klib-guard.js';
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

/** How often further failures of a klib already disabled are summed up, ms. */
const KLIB_FAILURE_SUMMARY_MS = 10_000;

/** A klib disabled because it failed after (or while) starting. */
interface FailedKlib {
  readonly error: UkError;
  readonly tally: FailureTally;
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
  readonly secrets: Secrets;
  readonly stats = new Stats();
  readonly console: ConsoleDriverList;
  readonly log: KernelLog;
  readonly shutdown: Shutdown;
  readonly #abort = new AbortController();
  /** Each klib's identity for the klib guard, by name (by Klibs entry until imported). */
  readonly #identities = new Map<string, KlibIdentity>();
  readonly #ownIdentities = new WeakSet<KlibIdentity>();
  /** Klibs disabled because they failed after or while starting (uncaught error, process.exit). */
  readonly #failedKlibs = new Map<string, FailedKlib>();
  /** Klibs whose init is running. */
  readonly #initing = new Set<string>();
  /** Problems already written to the log when they happened (not written again at the end of boot). */
  readonly #logged = new WeakSet<UkError>();
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
    const clock = this.timers.clock;
    this.console = new ConsoleDriverList({ stats: this.stats, monotonic: () => clock.monotonic() });
    const stderr = options.stderr ?? process.stderr;
    this.secrets = options.secrets ?? new Secrets();
    this.log = new KernelLog(this.console, this.timers.clock, (text) => void stderr.write(text), this.secrets);
    this.log.verbose = options.verbose ?? false;
    // A driver's failure is reported to every driver but itself, rate limited by the list.
    this.console.report = (driver, message) => this.log.error(message, driver);
    // A driver attached from a klib's code (its init, its timers) belongs to that klib.
    this.console.ownerNow = () => {
      const identity = klibGuard.current();
      return identity && this.#ownIdentities.has(identity) ? identity.name : undefined;
    };
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
      const identity = this.#newIdentity(entry);
      try {
        const item = await resolveKlib(entry, this.config.baseDir, { importTimeoutMs: this.settings.klibInitTimeoutMs, identity });
        if (!this.#identities.has(item.klib.name)) this.#identities.set(item.klib.name, identity);
        resolved.push(item);
      } catch (err) {
        problems.push(toUkError(err, entry));
      }
    }
    return { resolved, problems };
  }

  #newIdentity(name: string): KlibIdentity {
    const identity: KlibIdentity = { name, onFailure: (failure) => this.#klibFailed(identity, failure) };
    this.#ownIdentities.add(identity);
    return identity;
  }

  #identity(name: string): KlibIdentity {
    let identity = this.#identities.get(name);
    if (!identity) this.#identities.set(name, (identity = this.#newIdentity(name)));
    return identity;
  }

  /**
   * A klib failed outside any call uk made to it (an uncaught exception or unhandled rejection
   * from its timers, callbacks or promises, or a process.exit call): it is disabled (its console
   * drivers get nothing more; what they miss is counted), its counters stay, and the program keeps
   * running. Further failures of it are summed up at most every 10 s.
   */
  #klibFailed(identity: KlibIdentity, failure: KlibFailure): void {
    const name = identity.name;
    const reason = reasonOf(failure.error);
    const now = this.timers.clock.monotonic();
    this.stats.counter('klibs', 'failures').add();
    const known = this.#failedKlibs.get(name);
    if (known) {
      const report = known.tally.fail(reason, now);
      if (report?.kind === 'summary') this.log.error(`klib ${name} failed ${describeSummary(report)}`, { owner: name });
      return;
    }
    const drivers = this.console.disableOwner(name);
    this.stats.counter('klibs', 'disabled').add();
    const at = failure.at ? ` (at ${failure.at})` : '';
    const consequence = `klib ${name} is disabled${drivers.length > 0 ? ` (console driver${drivers.length === 1 ? '' : 's'} ${drivers.join(', ')}: no more lines, counted as dropped)` : ''}; the program keeps running`;
    const error = isUkError(failure.error) && failure.kind === 'process.exit'
      ? failure.error
      : ukError('UK_ERR_KLIB_CRASHED', `klib ${name} failed${this.#initing.has(name) ? ' during init' : ''}: ${failure.kind}: ${reason}${at}`, {
          where: name,
          cause: failure.error,
          fix: "a klib must catch the errors of its own timers, callbacks and promises; report it to the klib's author",
        });
    const tally = new FailureTally(KLIB_FAILURE_SUMMARY_MS);
    tally.fail(reason, now);
    this.#failedKlibs.set(name, { error, tally });
    this.#logged.add(error);
    this.log.error(`${error.message}${failure.kind === 'process.exit' && failure.at ? ` (at ${failure.at})` : ''}; ${consequence}${error.fix ? ` (${error.fix})` : ''}`, { owner: name });
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
    for (const problem of problems) if (!this.#logged.has(problem)) this.log.error(problem.describe());
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
    const leaveOut = (error: UkError): KlibReport => {
      // A klib that failed is left out: drivers it attached (or attaches later) get nothing more.
      this.console.disableOwner(klib.name);
      return report('failed', error);
    };
    this.#initing.add(klib.name);
    try {
      // In the klib's context, so that what init starts (timers, promises) is attributed to it.
      const init = klibGuard.run(this.#identity(klib.name), () => Promise.resolve(klib.init(context)));
      const outcome = await Promise.race([init.then(() => 'ok' as const), timeout]);
      if (outcome === 'timeout') {
        return leaveOut(ukError('UK_ERR_KLIB_INIT_TIMEOUT', `klib ${klib.name} did not finish init within ${timeoutMs} ms`, { where: klib.name, fix: 'a klib must not wait for the network in init; raise uk.klib_init_timeout if it must' }));
      }
      const crashed = this.#failedKlibs.get(klib.name);
      return crashed ? leaveOut(crashed.error) : report('loaded');
    } catch (err) {
      if (klibGuard.isExitError(err)) return leaveOut(err);
      return leaveOut(ukError('UK_ERR_KLIB_INIT_FAILED', `klib ${klib.name} failed to start: ${reasonOf(err)}`, { where: klib.name, cause: err }));
    } finally {
      this.#initing.delete(klib.name);
      timer?.cancel();
    }
  }

  #context(name: string, config: Tuple | undefined, options: unknown): KlibContext<unknown> {
    const prefix = (message: string): string => `${name}: ${message}`;
    // A klib's own messages never go into its own drivers: a failing driver's complaints
    // ("send failed, retrying", "dropped …") would otherwise queue up behind the failure they report.
    const own = { owner: name };
    const log: KlibLog = {
      debug: (m) => this.log.debug(prefix(m)),
      info: (m) => this.log.info(prefix(m), own),
      warn: (m) => this.log.warn(prefix(m), own),
      error: (m) => this.log.error(prefix(m), own),
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
    this.console.reportPendingFailures();
    for (const [name, { tally }] of this.#failedKlibs) {
      const summary = tally.takeUnreported(this.timers.clock.monotonic());
      if (summary?.kind === 'summary') this.log.error(`klib ${name} failed ${describeSummary(summary)}`, { owner: name });
    }
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
