/**
 * The plan of a boot: kernel settings, console toggles, the klibs resolved and their load order,
 * and for each klib its configuration tuple and checked options, or the problem that keeps it
 * from loading. Boot carries the plan out; `uk validate` reports it. Both use this one function,
 * so a configuration error has the same code and message from `uk validate` and from `uk run`.
 */
import type { OpsConfig } from './config.js';
import { parseConsoleToggles } from './console.js';
import { isUkError, ukError, type UkError } from './errors.js';
import { configMissing, initFailed, klibInvalid, missingDependencies } from './klib-errors.js';
import type { KlibGuard, KlibIdentity } from './klib-guard.js';
import { dependenciesOf, type Env } from './klib.js';
import { orderKlibs, resolveKlib, type ResolvedKlib, type UnloadedEntry } from './loader.js';
import { Tuple } from './manifest.js';
import { KLIB_MULTILINE_KEY, klibMultiline, readMultilineSettings, type MultilineSettings } from './multiline/settings.js';
import { OptionsReader } from './options.js';
import { readParentDeathSignal } from './parent-death.js';
import { readSpoolKernelSettings, SPOOL_KERNEL_KEYS, type SpoolKernelSettings } from './spool/settings.js';

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
  /**
   * The signal the program gets from the kernel when uk dies, even by SIGKILL
   * (`uk.parent_death_signal`, default SIGTERM); null (`"off"`) lets the program outlive uk.
   */
  readonly parentDeathSignal: NodeJS.Signals | null;
  /**
   * How the program's lines are grouped into records (`uk.multiline`: "auto", "off" or
   * `{"start": "<regex>"}`; `uk.multiline_timeout`, ms, default 300). See docs/multiline.md.
   */
  readonly multiline: MultilineSettings;
  /** The disk spool (`uk.spool_dir`, `uk.spool_max_size`, `uk.spool_fsync`, `uk.spool_full`); off without a directory. */
  readonly spool: SpoolKernelSettings;
}

/** Throws every problem of the `uk` tuple. */
export function readKernelSettings(manifest: Tuple): KernelSettings {
  const { settings, reader } = readSettings(manifest);
  reader.done();
  return settings;
}

/**
 * The settings with the default in place of every bad value, and the problems found one by one:
 * uk still runs the program with a bad `uk` tuple, and reports it at boot (exit 2 only with --strict).
 */
export function readKernelSettingsLeniently(manifest: Tuple): { settings: KernelSettings; problems: UkError[] } {
  let tuple: Tuple | undefined;
  try {
    tuple = manifest.tuple('uk');
  } catch (err) {
    return { settings: readSettings(Tuple.empty()).settings, problems: [asUkError(err, 'uk')] };
  }
  const { settings, reader } = readSettings(tuple ? manifest : Tuple.empty());
  return { settings, problems: reader.problems };
}

function readSettings(manifest: Tuple): { settings: KernelSettings; reader: OptionsReader } {
  const reader = new OptionsReader('uk', manifest.tuple('uk') ?? Tuple.empty('uk'));
  reader.allowKeys([
    'shutdown_timeout',
    'max_record_size',
    'partial_line_timeout',
    'klib_init_timeout',
    'passthrough',
    'parent_death_signal',
    'multiline',
    'multiline_timeout',
    ...SPOOL_KERNEL_KEYS,
  ]);
  const settings: KernelSettings = {
    shutdownTimeoutMs: reader.read((t) => t.uint('shutdown_timeout', { default: 10, min: 1, max: 3600, what: 'a whole number of seconds' }), 10) * 1000,
    maxRecordBytes: reader.read((t) => t.size('max_record_size', { default: 1024 * 1024, min: 1024, max: 64 * 1024 * 1024 }), 1024 * 1024),
    partialLineMs: reader.read((t) => t.uint('partial_line_timeout', { default: 100, min: 1, max: 60000, what: 'a whole number of milliseconds' }), 100),
    klibInitTimeoutMs: reader.read((t) => t.uint('klib_init_timeout', { default: 10, min: 1, max: 3600, what: 'a whole number of seconds' }), 10) * 1000,
    passthrough: reader.read((t) => t.bool('passthrough', true), true),
    parentDeathSignal: reader.read((t) => readParentDeathSignal(t), 'SIGTERM'),
    multiline: readMultilineSettings(reader),
    spool: readSpoolKernelSettings(reader),
  };
  return { settings, reader };
}

/**
 * An error for a problem found while planning. Everything uk itself throws is a UkError already;
 * anything else (a bug) is reported as the module being unusable rather than ending boot.
 */
function asUkError(err: unknown, where: string): UkError {
  return isUkError(err) ? err : klibInvalid(where, String(err instanceof Error ? err.message : err), { cause: err });
}

export interface ResolveEntriesOptions {
  /** Longest time an import may take, ms (`uk.klib_init_timeout`). */
  readonly importTimeoutMs: number;
  /** The identity a module's failures are attributed to, for each Klibs entry. */
  readonly identity?: (entry: string) => KlibIdentity;
  readonly guard?: KlibGuard;
  /** Told of every entry resolved, with the identity it was imported under. */
  readonly onResolved?: (item: ResolvedKlib, identity: KlibIdentity | undefined) => void;
}

/** Resolves the Klibs entries in order, reporting every entry that cannot be resolved. */
export async function resolveEntries(
  entries: readonly string[],
  baseDir: string,
  options: ResolveEntriesOptions,
): Promise<{ resolved: ResolvedKlib[]; problems: UkError[]; unloaded: UnloadedEntry[] }> {
  const resolved: ResolvedKlib[] = [];
  const problems: UkError[] = [];
  const unloaded: UnloadedEntry[] = [];
  for (const entry of entries) {
    const identity = options.identity?.(entry);
    try {
      const item = await resolveKlib(entry, baseDir, {
        importTimeoutMs: options.importTimeoutMs,
        ...(identity ? { identity } : {}),
        ...(options.guard ? { guard: options.guard } : {}),
      });
      options.onResolved?.(item, identity);
      resolved.push(item);
    } catch (err) {
      const problem = asUkError(err, entry);
      problems.push(problem);
      unloaded.push({ entry, problem });
    }
  }
  return { resolved, problems, unloaded };
}

/** What boot does with one klib that has a place in the load order. */
export type PlannedKlib =
  | {
      readonly action: 'init';
      readonly item: ResolvedKlib;
      readonly dependencies: readonly string[];
      readonly config: Tuple | undefined;
      readonly options: unknown;
    }
  | { readonly action: 'skip'; readonly item: ResolvedKlib; readonly dependencies: readonly string[] }
  | { readonly action: 'fail'; readonly item: ResolvedKlib; readonly dependencies: readonly string[]; readonly error: UkError };

export interface BootPlan {
  readonly settings: KernelSettings;
  readonly toggles: ReturnType<typeof parseConsoleToggles>['toggles'];
  /** Every Klibs entry resolved, in Klibs order (duplicates included). */
  readonly resolved: ResolvedKlib[];
  /** The klibs that have a place in the load order, in that order. */
  readonly klibs: PlannedKlib[];
  /**
   * Every problem, in this order: the `uk` tuple, `consoles`, resolving, ordering, each klib's
   * configuration (in Klibs order), then the klibs left out because a dependency cannot load.
   */
  readonly problems: UkError[];
}

export interface PlanOptions extends Omit<ResolveEntriesOptions, 'importTimeoutMs'> {
  /** The program's environment, given to each klib's options(). */
  readonly env: Env;
}

/** Plans the boot of `config`: imports the klib modules and checks every klib's options; starts nothing. */
export async function planBoot(config: OpsConfig, options: PlanOptions): Promise<BootPlan> {
  const manifest = config.manifest;
  const { settings, problems } = readKernelSettingsLeniently(manifest);
  let consoles;
  try {
    consoles = manifest.vector('consoles');
  } catch (err) {
    problems.push(asUkError(err, 'consoles'));
  }
  const { toggles, problems: toggleProblems } = parseConsoleToggles(consoles);
  problems.push(...toggleProblems);

  const {
    resolved,
    problems: resolveProblems,
    unloaded,
  } = await resolveEntries(config.klibs, config.baseDir, {
    ...options,
    importTimeoutMs: settings.klibInitTimeoutMs,
  });
  problems.push(...resolveProblems);
  const { order, problems: orderProblems } = orderKlibs(resolved, manifest, unloaded);
  problems.push(...orderProblems);

  // Each klib's configuration is checked once (the first of duplicates), also for a klib that
  // cannot load for want of a dependency: every problem is found in one go.
  const prepared = new Map<string, Prepared>();
  for (const item of resolved) {
    if (prepared.has(item.klib.name)) continue;
    const outcome = prepare(item, config, options.env);
    prepared.set(item.klib.name, outcome);
    if (outcome.action === 'fail') problems.push(outcome.error);
  }

  const klibs: PlannedKlib[] = [];
  const cannotLoad = new Set<string>();
  for (const item of order) {
    const outcome = prepared.get(item.klib.name) as Prepared;
    const dependencies = dependenciesOf(item.klib, outcome.config);
    const broken = dependencies.filter((dep) => cannotLoad.has(dep));
    if (outcome.action !== 'fail' && broken.length > 0) {
      const error = missingDependencies(
        item.klib.name,
        broken.map((name) => ({ name, state: 'cannot-load' })),
      );
      problems.push(error);
      cannotLoad.add(item.klib.name);
      klibs.push({ action: 'fail', item, dependencies, error });
      continue;
    }
    if (outcome.action === 'fail') cannotLoad.add(item.klib.name);
    klibs.push({ ...outcome, item, dependencies });
  }
  return { settings, toggles, resolved, klibs, problems };
}

type Prepared =
  | { readonly action: 'init'; readonly config: Tuple | undefined; readonly options: unknown }
  | { readonly action: 'skip'; readonly config: undefined }
  | { readonly action: 'fail'; readonly config: Tuple | undefined; readonly error: UkError };

/** A klib's configuration tuple and options, checked as boot would before its init. */
function prepare({ klib }: ResolvedKlib, config: OpsConfig, env: Env): Prepared {
  const configKey = klib.configKey ?? klib.name;
  let tuple: Tuple | undefined;
  try {
    tuple = config.manifest.tuple(configKey);
  } catch (err) {
    return { action: 'fail', config: undefined, error: asUkError(err, configKey) };
  }
  if (!tuple) {
    const mode = klib.whenUnconfigured ?? 'skip';
    if (mode === 'skip') return { action: 'skip', config: undefined };
    if (mode === 'fail') return { action: 'fail', config: undefined, error: configMissing(klib.name, configKey) };
  }
  // The core's own key of every klib tuple (`multiline: "off"`), checked along with the klib's options.
  let multilineProblem: UkError | undefined;
  try {
    klibMultiline(tuple);
  } catch (err) {
    multilineProblem = asUkError(err, `${configKey}.${KLIB_MULTILINE_KEY}`);
  }
  try {
    const options = klib.options
      ? klib.options({ config: tuple ?? Tuple.empty(configKey), env, manifest: config.manifest, cloudConfig: config.cloudConfig })
      : undefined;
    if (multilineProblem) return { action: 'fail', config: tuple, error: multilineProblem };
    return { action: 'init', config: tuple, options };
  } catch (err) {
    const error = isUkError(err) ? err : initFailed(klib.name, err, 'options');
    return { action: 'fail', config: tuple, error: multilineProblem ? withProblem(klib.name, error, multilineProblem) : error };
  }
}

/** The klib's options error and the problem of its `multiline` key, as one error listing both. */
function withProblem(klib: string, error: UkError, problem: UkError): UkError {
  const problems = [problem, ...(error.problems.length > 0 ? error.problems : [error])];
  return ukError('UK_ERR_OPTIONS_INVALID', `${klib}: ${problems.length} invalid options: ${problems.map((p) => p.message).join('; ')}`, {
    where: klib,
    problems,
  });
}
