/**
 * The klib loader: resolves every `Klibs` entry to a module, checks what it declares, orders the
 * klibs by their dependencies and reports every problem with a coded error.
 *
 * Entries: a built-in name (`syslog` → `@uk/syslog`), `name=package-or-path` (the module must
 * declare `name`), a file path (`./klibs/hello.js`, relative to the config file), or a package
 * name (`@acme/uk-audit`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isUkError, reasonOf, ukError, type UkError } from './errors.js';
import { coreRangeMismatch, klibInvalid, klibNotFound, missingDependencies } from './klib-errors.js';
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

/** Finds the file a package specifier resolves to, from the config's directory, cwd, then uk's own install. */
function resolvePackage(specifier: string, baseDir: string): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [baseDir, process.cwd(), here]) {
    try {
      return createRequire(join(dir, 'noop.js')).resolve(specifier);
    } catch {
      // next place
    }
  }
  try {
    // ESM-only packages (exports with only an "import" condition) resolve here.
    return fileURLToPath(import.meta.resolve(specifier));
  } catch {
    return undefined;
  }
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
    file = resolvePackage(specifier, baseDir);
    if (!file) {
      const what =
        expectedName && specifier.startsWith('@uk/')
          ? `the built-in klib's package ${specifier} is not installed`
          : `no package "${specifier}" is installed and it is not a built-in klib (${BUILTIN_KLIBS.join(', ')})`;
      throw klibNotFound(entry, what, `npm install ${specifier}`);
    }
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

export interface OrderResult {
  /** Klibs that can load, in dependency order. */
  readonly order: ResolvedKlib[];
  readonly problems: UkError[];
}

/**
 * Orders klibs so that each comes after its dependencies, keeping the Klibs order otherwise.
 * Duplicates, missing dependencies and cycles are reported; the klibs involved (and those that
 * depend on them) are left out, and the rest still load.
 */
export function orderKlibs(resolved: readonly ResolvedKlib[], manifest: Tuple): OrderResult {
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
        problems.push(
          missingDependencies(
            name,
            missing.map((dep) => ({ name: dep, state: byName.has(dep) ? 'cannot-load' : 'absent' })),
          ),
        );
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
