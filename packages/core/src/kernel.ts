/**
 * The kernel: builds the services from an Ops config, loads the klibs in dependency order with
 * timeouts, and shuts everything down within a deadline.
 */
import { basename } from 'node:path';
import type { OpsConfig } from './config.js';
import { planBoot, readKernelSettingsLeniently, resolveEntries, type KernelSettings, type PlannedKlib } from './boot-plan.js';
import { ConsoleDriverList, type ProgramStream } from './console.js';
import type { LineBlock } from './line-framer.js';
import { LineGrouper } from './multiline/grouper.js';
import { MULTILINE_MAX_LINES, ruleOf } from './multiline/settings.js';
import type { Counter } from './stats.js';
import { describeWithCode, isUkError, reasonOf, ukError, type UkError } from './errors.js';
import { describeSummary, FailureTally } from './failure-tally.js';
import { Heaps } from './heap.js';
import { KernelLog } from './kernel-log.js';
import { initFailed, klibCrashed, missingDependencies } from './klib-errors.js';
import { klibGuard, type KlibFailure, type KlibIdentity } from './klib-guard.js';
import { SpoolDestinations } from './spool/destinations.js';
import type { Env, KlibContext, KlibLog, ProgramInfo } from './klib.js';
import type { ResolvedKlib } from './loader.js';
import type { Tuple } from './manifest.js';
import { Secrets } from './redact.js';
import { serialDriver } from './serial.js';
import { Services } from './services.js';
import { Shutdown, type ShutdownReport } from './shutdown.js';
import { Stats } from './stats.js';
import { systemClock, Timers, type Clock } from './timers.js';
import * as tokens from './tokens.js';
import type { Writable } from 'node:stream';

export { readKernelSettings, readKernelSettingsLeniently, type KernelSettings } from './boot-plan.js';

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

/** Owner of the drivers that belong to no klib (not a klib name: those have no parentheses). */
const KERNEL_OWNER = '(kernel)';

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
  /** Klibs whose init has been started (a failure before is one of their module's code). */
  readonly #initStarted = new Set<string>();
  /** Whether stop has logged what did not finish (a second stop only returns the report). */
  #reported = false;
  /** Whether uk was told to exit at once. */
  #abandoned = false;
  /** Problems already written to the log when they happened (not written again at the end of boot). */
  readonly #logged = new WeakSet<UkError>();
  /** The multiline grouper of each program stream (none when `uk.multiline` is "off"). */
  readonly #groupers: LineGrouper[] = [];
  #groupCounters: { records: Counter; lines: Counter } | undefined;
  /** The disk spool of each destination (uk.spool_dir). */
  readonly #spools: SpoolDestinations;

  constructor(options: KernelOptions) {
    this.config = options.config;
    this.manifest = options.config.manifest;
    // The defaults in place of bad values; boot's plan reports the problems.
    this.settings = readKernelSettingsLeniently(this.manifest).settings;
    this.timers = new Timers(options.clock ?? systemClock);
    this.#spools = new SpoolDestinations(this.settings.spool, this.config.baseDir);
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
    this.console.ownerNow = () => this.#klibNow();
    // And so does a shutdown hook registered from it, through the Shutdown service.
    this.shutdown.ownerNow = () => this.#klibNow();
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

  /**
   * Where the line framer of a program stream sends its lines: multiline grouping (unless
   * `uk.multiline` is "off"), then every record driver. One per stream: a trace on stderr never
   * takes lines from stdout.
   */
  lineSink(stream: ProgramStream): (block: LineBlock) => void {
    const toConsole = (block: LineBlock): void => this.console.writeLines(block, stream);
    const rule = ruleOf(this.settings.multiline);
    if (!rule) return toConsole;
    const grouper = new LineGrouper({
      rule,
      maxRecordBytes: this.settings.maxRecordBytes,
      maxLines: MULTILINE_MAX_LINES,
      timeoutMs: this.settings.multiline.timeoutMs,
      timers: this.timers,
      emit: toConsole,
      onGroup: (lines) => {
        // Made at the first group: a run without traces shows no `multiline` stats line.
        this.#groupCounters ??= { records: this.stats.counter('multiline', 'records'), lines: this.stats.counter('multiline', 'lines') };
        this.#groupCounters.records.add();
        this.#groupCounters.lines.add(lines);
      },
    });
    this.#groupers.push(grouper);
    return (block) => grouper.push(block);
  }

  /**
   * Sends the groups still open and stops grouping (stop() does it first): a line arriving during
   * shutdown (a process the program started holds its pipes) goes to the drivers at once, which
   * ship or count it, instead of waiting in a group that uk might exit without sending.
   */
  closeGroups(): void {
    for (const grouper of this.#groupers) grouper.close();
  }

  /** Aborted when shutdown begins. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Resolves the Klibs entries, reporting every entry that cannot be resolved. */
  resolveAll(): Promise<{ resolved: ResolvedKlib[]; problems: UkError[] }> {
    return resolveEntries(this.config.klibs, this.config.baseDir, { importTimeoutMs: this.settings.klibInitTimeoutMs, ...this.#importIdentities() });
  }

  /** Each module is imported under an identity of its own, named after its klib once known. */
  #importIdentities() {
    return {
      identity: (entry: string) => this.#newIdentity(entry),
      onResolved: (item: ResolvedKlib, identity: KlibIdentity | undefined) => {
        if (identity && !this.#identities.has(item.klib.name)) this.#identities.set(item.klib.name, identity);
      },
    };
  }

  #klibNow(): string | undefined {
    const identity = klibGuard.current();
    return identity && this.#ownIdentities.has(identity) ? identity.name : undefined;
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
    const consequence = `klib ${name} is disabled${drivers.length > 0 ? ` (console driver${drivers.length === 1 ? '' : 's'} ${drivers.join(', ')}: no more lines, counted as dropped)` : ''}; the program keeps running`;
    const error =
      isUkError(failure.error) && failure.kind === 'process.exit'
        ? failure.error
        : klibCrashed(name, failure, this.#initing.has(name) ? 'init' : this.#initStarted.has(name) ? 'running' : 'import');
    const tally = new FailureTally(KLIB_FAILURE_SUMMARY_MS);
    tally.fail(reason, now);
    this.#failedKlibs.set(name, { error, tally });
    this.#logged.add(error);
    this.log.error(
      `${error.code}: ${error.message}${failure.kind === 'process.exit' && failure.at ? ` (at ${failure.at})` : ''}; ${consequence}${error.fix ? ` (${error.fix})` : ''}`,
      { owner: name },
    );
  }

  /**
   * Loads every klib. Problems are reported and the klibs affected are left out; the rest load
   * (as Nanos boots without a klib that fails), so the program always runs.
   */
  async boot(): Promise<BootReport> {
    const plan = await planBoot(this.config, { env: this.env, ...this.#importIdentities() });
    const problems = [...plan.problems];
    this.console.setToggles(plan.toggles);
    const order = plan.klibs;
    // Shutdown closes the klibs in reverse: each after every klib that depends on it.
    for (const planned of order) this.shutdown.dependencies(planned.item.klib.name, planned.dependencies);

    const reports: KlibReport[] = [];
    const failed = new Set<string>();
    for (const item of order) {
      const report = await this.#initOne(item, failed);
      reports.push(report);
      if (report.status === 'failed') {
        failed.add(report.name);
        // A failure the plan foresaw is among its problems already.
        if (report.error && !problems.includes(report.error)) problems.push(report.error);
      }
    }
    for (const { name, where } of this.console.unusedToggles()) {
      this.log.warn(`${where}: no console driver named "${name}" (attached: ${this.console.drivers.map((d) => d.name).join(', ')})`);
    }
    for (const problem of problems) if (!this.#logged.has(problem)) this.log.error(describeWithCode(problem));
    if (this.log.verbose) {
      this.log.debug(`klibs: ${reports.map((r) => `${r.name} (${r.status}, ${r.ms.toFixed(1)} ms)`).join(' → ') || 'none'}`);
      this.log.debug(
        `consoles: ${this.console
          .describe()
          .map((d) => `${d.enabled ? '+' : '-'}${d.name}`)
          .join(' ')}`,
      );
    }
    return { klibs: reports, problems };
  }

  async #initOne(planned: PlannedKlib, failed: ReadonlySet<string>): Promise<KlibReport> {
    const { item } = planned;
    const { klib } = item;
    const started = this.timers.clock.monotonic();
    const report = (status: KlibStatus, error?: UkError): KlibReport => ({
      name: klib.name,
      entry: item.entry,
      status,
      ms: this.timers.clock.monotonic() - started,
      ...(error ? { error } : {}),
    });
    if (planned.action === 'fail') return report('failed', planned.error);
    const deadDeps = planned.dependencies.filter((dep) => failed.has(dep));
    if (deadDeps.length > 0)
      return report(
        'failed',
        missingDependencies(
          klib.name,
          deadDeps.map((name) => ({ name, state: 'failed' })),
        ),
      );
    if (planned.action === 'skip') return report('skipped');
    const { config, options } = planned;
    // `multiline: "off"` in the klib's tuple (checked by the plan): its drivers get one record per line.
    if (config?.get('multiline') === 'off') this.console.ungroupFor(klib.name);
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
    this.#initStarted.add(klib.name);
    try {
      // In the klib's context, so that what init starts (timers, promises) is attributed to it.
      const init = klibGuard.run(this.#identity(klib.name), () => Promise.resolve(klib.init(context)));
      const outcome = await Promise.race([init.then(() => 'ok' as const), timeout]);
      if (outcome === 'timeout') {
        return leaveOut(
          ukError('UK_ERR_KLIB_INIT_TIMEOUT', `klib ${klib.name} did not finish init within ${timeoutMs} ms`, {
            where: klib.name,
            fix: 'a klib must not wait for the network in init; raise uk.klib_init_timeout if it must',
          }),
        );
      }
      const crashed = this.#failedKlibs.get(klib.name);
      return crashed ? leaveOut(crashed.error) : report('loaded');
    } catch (err) {
      if (klibGuard.isExitError(err)) return leaveOut(err);
      return leaveOut(initFailed(klib.name, err));
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
      spool: (key, codec) => this.#spools.open(name, config, key, codec, { log, timers: this.timers, counter: (c) => this.stats.counter(name, c) }),
      onShutdown: (hook) => this.shutdown.register(name, hook),
      signal: this.#abort.signal,
    };
  }

  /**
   * Closes everything within the deadline (`uk.shutdown_timeout`), last in first out: each klib's
   * shutdown hooks and the flush of its console drivers start once every klib that depends on it
   * has closed; klibs independent of each other close together; the serial console and whatever
   * belongs to no klib close last. Reports what did not finish.
   */
  async stop(deadlineMs = this.settings.shutdownTimeoutMs): Promise<ShutdownReport> {
    this.closeGroups();
    this.console.reportPendingFailures();
    for (const [name, { tally }] of this.#failedKlibs) {
      const summary = tally.takeUnreported(this.timers.clock.monotonic());
      if (summary?.kind === 'summary') this.log.error(`klib ${name} failed ${describeSummary(summary)}`, { owner: name });
    }
    this.#abort.abort();
    if (!this.shutdown.started) {
      const ownerOf = new Map<string, string>();
      for (const name of this.#identities.keys()) for (const driver of this.console.driversOf(name)) ownerOf.set(driver, name);
      for (const driver of this.console.enabledDrivers) {
        if (driver.flush) this.shutdown.register(`console driver ${driver.name}`, () => driver.flush!(), { owner: ownerOf.get(driver.name) ?? KERNEL_OWNER });
      }
    }
    const report = await this.shutdown.run(deadlineMs);
    if (this.#reported) return report;
    this.#reported = true;
    for (const { name, reason } of report.failed) this.log.error(`shutdown: ${name} failed: ${reason}`);
    if (report.unfinished.length > 0) {
      const cut = this.shutdown.signal.aborted && this.#abandoned ? 'uk had to exit at once' : `shutdown deadline of ${deadlineMs / 1000} s passed`;
      const err = ukError('UK_ERR_SHUTDOWN_TIMEOUT', `${cut}; still flushing: ${report.unfinished.join(', ')}`, {
        fix: 'raise uk.shutdown_timeout or check the destination',
      });
      this.log.error(describeWithCode(err));
    }
    return report;
  }

  /**
   * uk must exit at once (a second signal during shutdown): the shutdown signal every hook got is
   * aborted, so klibs stop waiting; every holder of records gives up what it holds and counts it.
   * Returns the number of records given up.
   */
  abandon(why: string): number {
    this.#abandoned = true;
    this.#abort.abort();
    this.shutdown.abort();
    return this.heaps.abandon(why);
  }
}
