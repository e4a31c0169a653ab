/**
 * `uk validate`: everything boot would check, without starting anything: the config's shape,
 * kernel settings, `consoles`, klib resolution and dependencies, and each klib's option checks.
 * Lists every problem rather than stopping at the first.
 */
import { loadOpsConfig, type OpsConfig } from './config.js';
import { parseConsoleToggles } from './console.js';
import { isUkError, reasonOf, ukError, type UkError } from './errors.js';
import { readKernelSettings, readKernelSettingsLeniently } from './kernel.js';
import { klibGuard, type KlibGuard, type KlibIdentity } from './klib-guard.js';
import { orderKlibs, resolveKlib, type ResolvedKlib } from './loader.js';
import { programEnv } from './kernel.js';
import { Tuple } from './manifest.js';

export interface ValidationResult {
  readonly config: OpsConfig | undefined;
  readonly klibs: ResolvedKlib[];
  /** Klib names in the order they would load. */
  readonly order: string[];
  readonly problems: UkError[];
  /** Things that work but are probably not meant (unknown top-level keys, no Program). */
  readonly warnings: string[];
}

function asUkError(err: unknown, where: string): UkError {
  return isUkError(err) ? err : ukError('UK_ERR_KLIB_INVALID', `${where}: ${reasonOf(err)}`, { where, cause: err });
}

/** Flattens an aggregate error into its problems. */
function flatten(err: UkError): UkError[] {
  return err.problems.length > 0 ? [...err.problems] : [err];
}

/**
 * Identities under which each klib module is imported: a failure of its top-level code (a timer
 * that throws, a process.exit) becomes a problem of the klib instead of ending `uk validate`.
 */
function importFailures(): { identity: (entry: string) => KlibIdentity; problems: UkError[] } {
  const problems: UkError[] = [];
  const identity = (entry: string): KlibIdentity => {
    const id: KlibIdentity = {
      name: entry,
      onFailure: ({ kind, error, at }) => {
        if (kind === 'process.exit' && isUkError(error)) problems.push(error);
        else problems.push(ukError('UK_ERR_KLIB_CRASHED', `klib ${id.name} failed while its module was imported: ${kind}: ${reasonOf(error)}${at ? ` (at ${at})` : ''}`, { where: id.name, cause: error }));
      },
    };
    return id;
  };
  return { identity, problems };
}

export async function validateConfig(file: string, options: { guard?: KlibGuard } = {}): Promise<ValidationResult> {
  const problems: UkError[] = [];
  const warnings: string[] = [];
  let config: OpsConfig;
  try {
    config = loadOpsConfig(file);
  } catch (err) {
    return { config: undefined, klibs: [], order: [], problems: [asUkError(err, file)], warnings };
  }
  for (const key of config.unknownKeys) warnings.push(`${key}: not an Ops key; ignored (check the spelling)`);
  if (!config.program) warnings.push('Program: not set; give the program on the command line (uk run -c FILE -- PROGRAM)');

  try {
    readKernelSettings(config.manifest);
  } catch (err) {
    problems.push(...flatten(asUkError(err, 'uk')));
  }
  let consoles;
  try {
    consoles = config.manifest.vector('consoles');
  } catch (err) {
    problems.push(asUkError(err, 'consoles'));
  }
  const { toggles, problems: toggleProblems } = parseConsoleToggles(consoles);
  problems.push(...toggleProblems);

  const klibs: ResolvedKlib[] = [];
  const failures = importFailures();
  // An import gets as long as boot would give it.
  const importTimeoutMs = readKernelSettingsLeniently(config.manifest).settings.klibInitTimeoutMs;
  for (const entry of config.klibs) {
    try {
      klibs.push(await resolveKlib(entry, config.baseDir, { importTimeoutMs, identity: failures.identity(entry), guard: options.guard ?? klibGuard }));
    } catch (err) {
      problems.push(asUkError(err, entry));
    }
  }
  const { order, problems: orderProblems } = orderKlibs(klibs, config.manifest);
  problems.push(...orderProblems);

  const env = programEnv(process.env, config.env, config.program);
  for (const { klib } of klibs) {
    const key = klib.configKey ?? klib.name;
    let tuple: Tuple | undefined;
    try {
      tuple = config.manifest.tuple(key);
    } catch (err) {
      problems.push(asUkError(err, key));
      continue;
    }
    if (!tuple && klib.whenUnconfigured === 'fail') {
      problems.push(ukError('UK_ERR_KLIB_CONFIG_MISSING', `${klib.name}: configuration tuple "${key}" is missing from ManifestPassthrough`, { where: key, fix: `add "${key}": { … } to ManifestPassthrough` }));
      continue;
    }
    if (!klib.options || (!tuple && (klib.whenUnconfigured ?? 'skip') === 'skip')) continue;
    try {
      klib.options({ config: tuple ?? Tuple.empty(key), env, manifest: config.manifest, cloudConfig: config.cloudConfig });
    } catch (err) {
      problems.push(...flatten(asUkError(err, klib.name)));
    }
  }

  // Failures of the klibs' top-level code not already reported by their import (a refused exit is).
  for (const failure of failures.problems) if (!problems.includes(failure)) problems.push(failure);
  const driverNames = new Set(['serial', ...klibs.map((k) => k.klib.name)]);
  for (const [name, toggle] of toggles) {
    if (!driverNames.has(name)) warnings.push(`${toggle.where}: no console driver named "${name}" is provided by serial or the Klibs listed`);
  }
  return { config, klibs, order: order.map((k) => k.klib.name), problems, warnings };
}
