/**
 * Where a klib package named in Klibs is found, and what to tell the operator when it is not.
 *
 * Packages are resolved as Node's ES module loader does (`exports` with the `node` and `import`
 * conditions, then `main`), because uk then `import()`s them: a package whose `exports` has only an
 * `import` condition is a klib like any other. Node 20's `import.meta.resolve` cannot take the
 * parent to resolve from without a flag, so the `import-meta-resolve` package does it (see the
 * dependency table in docs/architecture.md).
 *
 * The places looked in, and why (docs/security.md has the trust model):
 * - a built-in klib (`syslog`, `@uk/syslog`): next to uk's own @uk/core first, so that the code run
 *   for a built-in name is the one installed with uk; then from the config file's directory;
 * - any other package: from the config file's directory (the config chose it), then next to uk
 *   (klibs installed globally beside a global uk).
 * Never from the current directory: running uk somewhere must not run code planted there.
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { reasonOf } from './errors.js';
import { nearestName } from './nearest-name.js';

/** The directory of this module (src/ or dist/ of @uk/core): packages are looked up from here as uk's own. */
export const OWN_MODULE_DIR = dirname(fileURLToPath(import.meta.url));

/** The directory of the @uk/core package that is running (its real path). */
export const OWN_PACKAGE_DIR = realpathSync(dirname(OWN_MODULE_DIR));

/** `@scope/name` or `name` of a bare specifier (`@scope/name/sub/path` → `@scope/name`). */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

/** The node_modules directories Node looks in from `dir`, nearest first. */
function nodeModulesChain(dir: string): string[] {
  const chain: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    if (!at.endsWith(`${sep}node_modules`)) chain.push(join(at, 'node_modules'));
    if (at === dirname(at)) return chain;
  }
}

/** The directory of the package `name` that Node would find from `dir`, if one is installed. */
export function findPackageDir(name: string, dir: string): string | undefined {
  for (const modules of nodeModulesChain(dir)) {
    const candidate = join(modules, name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
  }
  return undefined;
}

type EsmResolve = (specifier: string, parent: string) => string;
let esmResolver: Promise<EsmResolve> | undefined;

/**
 * import-meta-resolve, loaded on first use: with the Node modules it loads (assert, util, v8), it
 * takes about 20 ms, which `uk --version`, `uk run` without klibs and path-only Klibs need not pay.
 */
function loadEsmResolver(): Promise<EsmResolve> {
  esmResolver ??= import('import-meta-resolve').then((m) => m.resolve);
  return esmResolver;
}

export type PackageLookup =
  | { readonly kind: 'found'; readonly file: string }
  | { readonly kind: 'missing' }
  /** Installed, but its package.json leads nowhere (no such export, a file not built). */
  | { readonly kind: 'broken'; readonly packageDir: string; readonly reason: string };

/** Resolves a bare specifier from `dir` as `import(specifier)` in a module of that directory would. */
export async function lookUpPackage(specifier: string, dir: string): Promise<PackageLookup> {
  const packageDir = findPackageDir(packageNameOf(specifier), dir);
  if (packageDir === undefined) return { kind: 'missing' };
  const esmResolve = await loadEsmResolver();
  let url: string;
  try {
    url = esmResolve(specifier, pathToFileURL(join(dir, sep)).href);
  } catch (err) {
    return { kind: 'broken', packageDir, reason: reasonOf(err) };
  }
  if (!url.startsWith('file:')) return { kind: 'broken', packageDir, reason: `it resolves to ${url}, not to a file` };
  const file = fileURLToPath(url);
  if (!existsSync(file)) return { kind: 'broken', packageDir, reason: `its entry point ${file} does not exist (is the package built?)` };
  return { kind: 'found', file };
}

/**
 * Whether the uk running is not the @uk/core installed for the config (a global install, or npx):
 * then a klib must be installed where uk looks first, beside it, with `npm install -g`.
 */
export function isGlobalUk(configDir: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.npm_config_global === 'true') return true;
  const local = findPackageDir('@uk/core', configDir);
  if (local === undefined) return true;
  try {
    return realpathSync(local) !== OWN_PACKAGE_DIR;
  } catch {
    return true;
  }
}

/** The exact command that installs `pkg` where this uk will find it. */
export function installCommand(pkg: string, configDir: string): string {
  return isGlobalUk(configDir) ? `npm install -g ${pkg}` : `npm install ${pkg}`;
}

/** Whether an installed package says it is a klib: it needs @uk/core (as a peer, usually). */
function isKlibPackage(packageDir: string): boolean {
  try {
    const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    return ['peerDependencies', 'dependencies'].some((field) => {
      const deps = manifest[field];
      return typeof deps === 'object' && deps !== null && '@uk/core' in deps;
    });
  } catch {
    return false;
  }
}

/** Names of the packages in one node_modules directory (`name`, `@scope/name`). */
function packagesIn(modules: string): string[] {
  let names: string[];
  try {
    names = readdirSync(modules);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    if (name.startsWith('.')) return [];
    if (!name.startsWith('@')) return [name];
    try {
      return readdirSync(join(modules, name)).map((inner) => `${name}/${inner}`);
    } catch {
      return [];
    }
  });
}

/**
 * The known name nearest to a Klibs entry that resolved to nothing: a built-in klib's name (as
 * `syslog`, or as `@uk/syslog` when written with the scope), else an installed klib package found
 * from the config's directory or beside uk. Only names that exist are offered.
 */
export function suggestKlibName(written: string, builtins: readonly string[], configDir: string): string | undefined {
  const builtin = nearestName(written, written.startsWith('@uk/') ? builtins.map((name) => `@uk/${name}`) : builtins);
  if (builtin !== undefined) return builtin;
  const installed = new Map<string, string>();
  for (const modules of [...nodeModulesChain(configDir), ...nodeModulesChain(OWN_MODULE_DIR)]) {
    for (const name of packagesIn(modules)) if (!installed.has(name)) installed.set(name, join(modules, name));
  }
  const near = [...installed.keys()].filter((name) => nearestName(written, [name]) !== undefined);
  const klibs = near.filter((name) => isKlibPackage(installed.get(name) as string));
  return nearestName(written, klibs);
}
