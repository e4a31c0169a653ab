/**
 * What a klib is: `export default defineKlib({ name, dependencies, init })`.
 */
import type { ConsoleDriverList } from './console.js';
import type { Heaps } from './heap.js';
import type { KernelLog } from './kernel-log.js';
import type { Tuple } from './manifest.js';
import type { Services } from './services.js';
import type { Counter } from './stats.js';
import type { Timers } from './timers.js';
import type { ShutdownHook } from './shutdown.js';
import type { KernelSettings } from './boot-plan.js';
import { validRange } from './semver.js';
import type { BatcherSpool, SpoolCodec } from './spool/destinations.js';

export type Env = Readonly<Record<string, string>>;

/** The supervised program, as klibs see it. `pid` is known once the program has started. */
export interface ProgramInfo {
  /** Base name of the program (`webg` for `./bin/webg`). */
  readonly name: string;
  readonly path: string;
  readonly args: readonly string[];
  readonly pid: number | undefined;
}

/** Messages of one klib, prefixed with its name: `syslog: server unreachable`. */
export interface KlibLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface KlibContext<Options = unknown> {
  readonly name: string;
  /** The klib's configuration tuple (`ManifestPassthrough.<configKey>`), if present. */
  readonly config: Tuple | undefined;
  /** What the klib's `options()` returned (undefined without `options`). */
  readonly options: Options;
  /** The manifest's root tuple. */
  readonly manifest: Tuple;
  /** The Ops config's `CloudConfig` (e.g. `Zone`, for a region fallback); empty when absent. */
  readonly cloudConfig: Tuple;
  /** The program's environment (uk's plus the config's Env). */
  readonly env: Env;
  readonly program: ProgramInfo;
  readonly services: Services;
  readonly timers: Timers;
  readonly heaps: Heaps;
  readonly console: ConsoleDriverList;
  readonly log: KlibLog;
  readonly kernelLog: KernelLog;
  /** Kernel settings (e.g. `shutdownTimeoutMs`, to size a klib's own flush deadline). */
  readonly settings: KernelSettings;
  /**
   * The disk spool for one destination of this klib (`key`: the destination as configured, e.g.
   * log group and stream), to pass as the Batcher's `spool` option with the codec of the klib's
   * items. Undefined when `uk.spool_dir` is not set, the klib's tuple says `spool: false`, or the
   * spool cannot be used (reported; the klib goes on in memory). See docs/delivery.md.
   */
  spool<T>(key: string, codec: SpoolCodec<T>): BatcherSpool<T> | undefined;
  /** A counter of this klib shown to the operator (sent, dropped, reconnects, …). */
  counter(name: string): Counter;
  /**
   * Runs at shutdown, after every klib that depends on this one has closed (and before the klibs
   * this one depends on close), with the kernel's one deadline and a signal aborted when uk must
   * exit at once. The flush of this klib's console drivers starts at the same time.
   */
  onShutdown(hook: ShutdownHook): void;
  /** Aborted when shutdown starts: stop retrying, flush what you have. */
  readonly signal: AbortSignal;
}

export interface OptionsInput {
  readonly config: Tuple;
  readonly env: Env;
  readonly manifest: Tuple;
  /** The Ops config's `CloudConfig`; empty when absent. */
  readonly cloudConfig: Tuple;
}

export interface KlibDefinition<Options = unknown> {
  /** The name used in `Klibs` and in other klibs' dependencies: lowercase, digits, `-`, `_`. */
  readonly name: string;
  readonly version?: string;
  readonly description?: string;
  /**
   * The versions of @uk/core the klib works with, as a semver range (`'^0.1.0'`). Checked when the
   * klib is loaded (UK_ERR_KLIB_CORE_RANGE): a klib loaded by path bypasses npm's peer checks.
   */
  readonly core?: string;
  /**
   * Klibs that must load first. A function decides from the configuration tuple, so a dependency
   * can apply only to some settings (syslog needs `tls` only for `transport: tls`).
   */
  readonly dependencies?: readonly string[] | ((config: Tuple | undefined) => readonly string[]);
  /** ManifestPassthrough key of the configuration tuple; defaults to `name`. */
  readonly configKey?: string;
  /**
   * Without a configuration tuple: `skip` loads and does nothing (the default, as cloudwatch and
   * gcp in Nanos), `fail` is an error (as syslog), `init` runs init anyway (as tls).
   */
  readonly whenUnconfigured?: 'skip' | 'fail' | 'init';
  /** Longest time init may take; default 10 s. */
  readonly initTimeoutMs?: number;
  /** Checks and parses the configuration tuple without starting anything (also run by `uk validate`). */
  options?(input: OptionsInput): Options;
  init(context: KlibContext<Options>): void | Promise<void>;
}

const KLIB_BRAND = Symbol.for('uk.klib');
const NAME_PATTERN = /^[a-z][a-z0-9_-]*$/;

export type Klib<Options = unknown> = KlibDefinition<Options> & { readonly [KLIB_BRAND]: true };

/** Declares a klib. Checks the shape now so that mistakes show up when the module is imported. */
export function defineKlib<Options = undefined>(definition: KlibDefinition<Options>): Klib<Options> {
  if (typeof definition?.name !== 'string' || !NAME_PATTERN.test(definition.name)) {
    throw new TypeError(`defineKlib: name must match ${NAME_PATTERN}, got ${JSON.stringify(definition?.name)}`);
  }
  if (typeof definition.init !== 'function') throw new TypeError(`defineKlib(${definition.name}): init must be a function`);
  const deps = definition.dependencies;
  if (deps !== undefined && typeof deps !== 'function' && !(Array.isArray(deps) && deps.every((d) => typeof d === 'string'))) {
    throw new TypeError(`defineKlib(${definition.name}): dependencies must be an array of klib names or a function`);
  }
  if (definition.core !== undefined && (typeof definition.core !== 'string' || validRange(definition.core) === null)) {
    throw new TypeError(`defineKlib(${definition.name}): core must be a semver range of @uk/core such as "^0.1.0", got ${JSON.stringify(definition.core)}`);
  }
  return Object.freeze({ ...definition, [KLIB_BRAND]: true as const });
}

export function isKlib(value: unknown): value is Klib {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[KLIB_BRAND] === true;
}

/** The dependencies of a klib for a given configuration tuple. */
export function dependenciesOf(klib: KlibDefinition<unknown>, config: Tuple | undefined): readonly string[] {
  const deps = klib.dependencies;
  return typeof deps === 'function' ? deps(config) : (deps ?? []);
}
