/**
 * The klib loader: resolves every `Klibs` entry to a module, checks what it declares, orders the
 * klibs by their dependencies and reports every problem with a coded error.
 *
 * Entries: a built-in name (`syslog` → `@uk/syslog`), `name=package-or-path` (the module must
 * declare `name`), a file path (`./klibs/hello.js`, relative to the config file), or a package
 * name (`@acme/uk-audit`), resolved as klib-resolution.ts describes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isUkError, reasonOf, ukError, type UkError } from './errors.js';
import { coreRangeMismatch, klibInvalid, klibNotFound, missingDependencies, type MissingDependency } from './klib-errors.js';
import { installCommand, lookUpPackage, OWN_MODULE_DIR, OWN_PACKAGE_DIR, suggestKlibName } from './klib-resolution.js';
import { klibGuard, type KlibGuard, type KlibIdentity } from './klib-guard.js';
import { dependenciesOf, isKlib, type Klib } from './klib.js';
import type { Tuple } from './manifest.js';
import { satisfies } from './semver.js';

export const BUILTIN_KLIBS = ['tls', 'syslog', 'cloudwatch', 'gcp'] as const;

export interface ResolvedKlib {
  /** The Klibs entry as written. */
  readonly entry: string;
  readonly klib: Klib;
  /** Absolute path of the module file. */
  readonly file: string;
  /** Version from the klib or from its package.json. */
  readonly version: string | undefined;
}

interface ParsedEntry {
  readonly expectedName: string | undefined;
  readonly specifier: string;
  readonly isPath: boolean;
}

function parseEntry(entry: string): ParsedEntry {
  const alias = /^([a-z][a-z0-9_-]*)=(.+)$/.exec(entry);
  const expectedName = alias ? alias[1] : (BUILTIN_KLIBS as readonly string[]).includes(entry) ? entry : undefined;
  let specifier = alias ? (alias[2] as string) : entry;
  if (!alias && expectedName) specifier = `@uk/${entry}`;
  const isPath = /^(\.{1,2}\/|\/)/.test(specifier) || /\.(m|c)?js$/.test(specifier);
  return { expectedName, specifier, isPath };
}

/** The built-in klib a package specifier names (`@uk/syslog` → `syslog`), if any. */
function builtinOf(specifier: string): string | undefined {
  const name = /^@uk\/([a-z]+)$/.exec(specifier)?.[1];
  return name !== undefined && (BUILTIN_KLIBS as readonly string[]).includes(name) ? name : undefined;
}

/**
 * The klib name a Klibs entry stands for before its module is imported: a built-in name, the name
 * of `name=…`, or the built-in a `@uk/…` package is. Undefined for a path or another package.
 */
export function klibNameOfEntry(entry: string): string | undefined {
  const { expectedName, specifier } = parseEntry(entry);
  return expectedName ?? builtinOf(specifier);
}

/**
 * The file a package entry resolves to (klib-resolution.ts says where uk looks and why), or the
 * reason it cannot: what is missing, and the fix. An unknown name gets the nearest known one,
 * never an invitation to install it.
 */
async function resolvePackageEntry(entry: string, specifier: string, baseDir: string): Promise<string> {
  const builtin = builtinOf(specifier);
  const places = builtin !== undefined ? [OWN_MODULE_DIR, baseDir] : [baseDir, OWN_MODULE_DIR];
  let broken: { packageDir: string; reason: string } | undefined;
  for (const dir of places) {
    const found = await lookUpPackage(specifier, dir);
    if (found.kind === 'found') return found.file;
    if (found.kind === 'broken') broken ??= found;
  }
  if (broken) {
    throw klibNotFound(
      entry,
      `package ${specifier} is installed (${broken.packageDir}) but cannot be loaded: ${broken.reason}`,
      builtin !== undefined
        ? `reinstall it: ${installCommand(specifier, baseDir)}`
        : `check "exports" and "main" in ${join(broken.packageDir, 'package.json')}`,
    );
  }
  if (builtin !== undefined) {
    throw klibNotFound(
      entry,
      `the built-in klib's package ${specifier} is not installed (looked beside uk's @uk/core in ${OWN_PACKAGE_DIR}, and from ${baseDir})`,
      `install it: ${installCommand(specifier, baseDir)}`,
    );
  }
  const suggestion = suggestKlibName(specifier, BUILTIN_KLIBS, baseDir);
  const what = `no package "${specifier}" is installed (looked from ${baseDir}), and it is not a built-in klib (${BUILTIN_KLIBS.join(', ')})`;
  throw klibNotFound(
    entry,
    what,
    suggestion !== undefined
      ? `did you mean "${suggestion}"?`
      : 'check the spelling: an entry is a built-in klib name, a path to a module, or the name of a klib package installed next to the config file',
  );
}

let ownVersion: string | undefined;

/** The version of this @uk/core, from its package.json (the same file from src/ and from dist/). */
export function coreVersion(): string {
  ownVersion ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return ownVersion;
}

/**
 * Whether the running core is in the range a klib states. npm checks a package's peer range when
 * it is installed; a klib loaded by path is never installed, so uk checks it here. A prerelease
 * core (0.2.0-rc.1) counts as its release for this check.
 */
function checkCoreRange(klib: Klib, version = coreVersion()): void {
  if (klib.core !== undefined && !satisfies(version, klib.core, { includePrerelease: true })) throw coreRangeMismatch(klib.name, klib.core, version);
}

function packageVersion(file: string): string | undefined {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown }).version;
        return typeof version === 'string' ? version : undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export interface ResolveOptions {
  /**
   * Longest time the import may take, ms (default 10 s; the kernel passes `uk.klib_init_timeout`):
   * a module whose top-level await never settles must not hang uk.
   */
  readonly importTimeoutMs?: number;
  /** Who failures of the module's top-level code belong to; named after the klib once imported. */
  readonly identity?: KlibIdentity;
  readonly guard?: KlibGuard;
  /** The core version a klib's `core` range is checked against (default: this core's; tests change it). */
  readonly coreVersion?: string;
}

const DEFAULT_IMPORT_TIMEOUT_MS = 10_000;

/** Imports a module under the klib guard and a timeout; a refused process.exit in it is passed on as it is. */
async function importKlibModule(entry: string, file: string, options: ResolveOptions): Promise<Record<string, unknown>> {
  const guard = options.guard ?? klibGuard;
  const timeoutMs = options.importTimeoutMs ?? DEFAULT_IMPORT_TIMEOUT_MS;
  if (options.identity) guard.claimFile(options.identity, file);
  const url = pathToFileURL(file).href;
  const load = (): Promise<Record<string, unknown>> => import(url) as Promise<Record<string, unknown>>;
  let timer: NodeJS.Timeout | undefined;
  // A kept-alive timer: a pending import holds nothing else that would keep uk waiting for it.
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  try {
    const outcome = await Promise.race([options.identity ? guard.run(options.identity, load) : load(), timeout]);
    if (outcome === 'timeout') {
      throw ukError(
        'UK_ERR_KLIB_IMPORT_TIMEOUT',
        `klib "${entry}": importing ${file} did not finish within ${timeoutMs} ms (its top-level code awaits something that never settles?)`,
        {
          where: entry,
          fix: 'a klib module must not wait at its top level: start work in init; raise uk.klib_init_timeout if importing really takes this long',
        },
      );
    }
    return outcome;
  } catch (err) {
    if (isUkError(err) && (err.code === 'UK_ERR_KLIB_IMPORT_TIMEOUT' || err.code === 'UK_ERR_KLIB_EXIT')) throw err;
    throw klibInvalid(entry, `importing ${file} failed: ${reasonOf(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves and imports one Klibs entry. */
export async function resolveKlib(entry: string, baseDir: string, options: ResolveOptions = {}): Promise<ResolvedKlib> {
  const { expectedName, specifier, isPath } = parseEntry(entry);
  let file: string | undefined;
  if (isPath) {
    const candidate = isAbsolute(specifier) ? specifier : resolve(baseDir, specifier);
    if (!existsSync(candidate)) {
      throw klibNotFound(entry, `no file at ${candidate}`, 'paths in Klibs are relative to the config file');
    }
    file = candidate;
  } else {
    file = await resolvePackageEntry(entry, specifier, baseDir);
  }
  const mod = await importKlibModule(entry, file, options);
  const klib = isKlib(mod.default) ? mod.default : isKlib(mod.klib) ? mod.klib : undefined;
  if (!klib) {
    throw klibInvalid(entry, `${file} does not export a klib`, { fix: 'export default defineKlib({ name, init }) from the module' });
  }
  if (options.identity) options.identity.name = klib.name;
  if (expectedName !== undefined && klib.name !== expectedName) {
    throw ukError('UK_ERR_KLIB_NAME_MISMATCH', `klib "${entry}": the module declares the klib "${klib.name}", not "${expectedName}"`, {
      where: entry,
      fix: `use "${klib.name}=${specifier}" or point the entry at the right module`,
    });
  }
  checkCoreRange(klib, options.coreVersion);
  return { entry, klib, file, version: klib.version ?? packageVersion(file) };
}

/** A Klibs entry that could not be resolved or imported, and why. */
export interface UnloadedEntry {
  readonly entry: string;
  readonly problem: UkError;
}

export interface OrderResult {
  /** Klibs that can load, in dependency order. */
  readonly order: ResolvedKlib[];
  readonly problems: UkError[];
}

/**
 * Orders klibs so that each comes after its dependencies, keeping the Klibs order otherwise.
 * Duplicates, missing dependencies and cycles are reported; the klibs involved (and those that
 * depend on them) are left out, and the rest still load. `unloaded`: the entries that could not be
 * loaded, so that a dependency listed in Klibs is not reported as absent from it.
 */
export function orderKlibs(resolved: readonly ResolvedKlib[], manifest: Tuple, unloaded: readonly UnloadedEntry[] = []): OrderResult {
  const problems: UkError[] = [];
  const byName = new Map<string, ResolvedKlib>();
  for (const item of resolved) {
    const first = byName.get(item.klib.name);
    if (first) {
      problems.push(
        ukError('UK_ERR_KLIB_DUPLICATE', `klib "${item.klib.name}" is loaded twice (by "${first.entry}" and "${item.entry}")`, {
          where: item.entry,
          fix: 'remove one of the entries from Klibs',
        }),
      );
      continue;
    }
    byName.set(item.klib.name, item);
  }
  const deps = new Map<string, readonly string[]>();
  for (const [name, item] of byName) {
    const config = manifest.get(item.klib.configKey ?? name);
    deps.set(name, dependenciesOf(item.klib, typeof config === 'object' && 'keys' in config ? config : undefined));
  }

  const unloadedByName = new Map<string, UkError>();
  for (const { entry, problem } of unloaded) {
    const name = klibNameOfEntry(entry);
    if (name !== undefined && !unloadedByName.has(name)) unloadedByName.set(name, problem);
  }
  const stateOf = (dep: string): MissingDependency => {
    if (byName.has(dep)) return { name: dep, state: 'cannot-load' };
    const problem = unloadedByName.get(dep);
    return problem ? { name: dep, state: 'not-loaded', problem } : { name: dep, state: 'absent' };
  };

  // A klib is unloadable if a dependency is absent or itself unloadable (as Nanos: missing deps).
  const unloadable = new Set<string>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const [name, list] of deps) {
      if (unloadable.has(name)) continue;
      const missing = list.filter((dep) => !byName.has(dep) || unloadable.has(dep));
      if (missing.length > 0) {
        unloadable.add(name);
        changed = true;
        problems.push(missingDependencies(name, missing.map(stateOf)));
      }
    }
  }

  const order: ResolvedKlib[] = [];
  const placed = new Set<string>();
  const waiting = [...byName.keys()].filter((name) => !unloadable.has(name));
  while (waiting.length > 0) {
    const index = waiting.findIndex((name) => (deps.get(name) ?? []).every((dep) => placed.has(dep)));
    if (index === -1) break;
    const [name] = waiting.splice(index, 1) as [string];
    placed.add(name);
    order.push(byName.get(name) as ResolvedKlib);
  }
  if (waiting.length > 0) {
    // Every klib left is in a cycle or depends on one: report each cycle once, and each klib that
    // is left out only because it depends on a cycle (it must not vanish without a word).
    const inCycle = new Set<string>();
    for (const name of waiting) {
      if (inCycle.has(name)) continue;
      const cycle = findCycle([name, ...waiting], deps);
      if (cycle.some((n) => inCycle.has(n))) continue;
      for (const n of cycle) inCycle.add(n);
      problems.push(ukError('UK_ERR_KLIB_CYCLE', `klib dependency cycle: ${cycle.join(' → ')}`, { where: cycle[0], fix: 'remove one of these dependencies' }));
    }
    for (const name of waiting) {
      if (inCycle.has(name)) continue;
      const blocked = (deps.get(name) ?? []).filter((dep) => waiting.includes(dep));
      problems.push(
        missingDependencies(
          name,
          blocked.map((dep) => ({ name: dep, state: 'in-cycle' })),
        ),
      );
    }
  }
  return { order, problems };
}

function findCycle(names: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] {
  const inSet = new Set(names);
  const start = names[0] as string;
  const path = [start];
  const seen = new Map<string, number>([[start, 0]]);
  let current = start;
  for (;;) {
    const next = (deps.get(current) ?? []).find((d) => inSet.has(d)) as string;
    const at = seen.get(next);
    if (at !== undefined) return [...path.slice(at), next];
    seen.set(next, path.length);
    path.push(next);
    current = next;
  }
}
