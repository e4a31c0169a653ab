/**
 * `uk validate`: everything boot would check, without starting anything: the config's shape, and
 * the plan of the boot (kernel settings, `consoles`, klib resolution and dependencies, each klib's
 * options), made by the same `planBoot` as `uk run`, so each problem has the same code and message.
 * Lists every problem rather than stopping at the first.
 */
import { planBoot } from './boot-plan.js';
import { loadOpsConfig, type OpsConfig } from './config.js';
import { isUkError, type UkError } from './errors.js';
import { programEnv } from './kernel.js';
import { klibCrashed } from './klib-errors.js';
import { klibGuard, type KlibGuard, type KlibIdentity } from './klib-guard.js';
import type { ResolvedKlib } from './loader.js';

export interface ValidationResult {
  readonly config: OpsConfig | undefined;
  readonly klibs: ResolvedKlib[];
  /** Klib names in the order they would load. */
  readonly order: string[];
  readonly problems: UkError[];
  /** Things that work but are probably not meant (unknown top-level keys, no Program). */
  readonly warnings: string[];
}

/** An aggregate error (several invalid options) is listed as its problems, one by one. */
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
      onFailure: (failure) => {
        problems.push(failure.kind === 'process.exit' && isUkError(failure.error) ? failure.error : klibCrashed(id.name, failure, 'import'));
      },
    };
    return id;
  };
  return { identity, problems };
}

export async function validateConfig(file: string, options: { guard?: KlibGuard } = {}): Promise<ValidationResult> {
  const warnings: string[] = [];
  let config: OpsConfig;
  try {
    config = loadOpsConfig(file);
  } catch (err) {
    // loadOpsConfig reports every problem of the file as a UkError; anything else is a bug.
    if (!isUkError(err)) throw err;
    return { config: undefined, klibs: [], order: [], problems: [err], warnings };
  }
  for (const key of config.unknownKeys) warnings.push(`${key}: not an Ops key; ignored (check the spelling)`);
  if (!config.program) warnings.push('Program: not set; give the program on the command line (uk run -c FILE -- PROGRAM)');

  const failures = importFailures();
  const plan = await planBoot(config, {
    env: programEnv(process.env, config.env, config.program),
    identity: failures.identity,
    guard: options.guard ?? klibGuard,
  });
  const problems = plan.problems.flatMap(flatten);
  // Failures of the klibs' top-level code not already reported by their import (a refused exit is).
  for (const failure of failures.problems) if (!problems.includes(failure)) problems.push(failure);
  const driverNames = new Set(['serial', ...plan.resolved.map((k) => k.klib.name)]);
  for (const [name, toggle] of plan.toggles) {
    if (!driverNames.has(name)) warnings.push(`${toggle.where}: no console driver named "${name}" is provided by serial or the Klibs listed`);
  }
  return { config, klibs: plan.resolved, order: plan.klibs.map((k) => k.item.klib.name), problems, warnings };
}
