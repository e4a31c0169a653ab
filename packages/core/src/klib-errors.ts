/**
 * The errors of a klib's life (resolving, ordering, configuring, starting, failing), each code
 * worded by exactly one function here, so that `uk validate`, boot and the loader say the same
 * thing in the same words.
 */
import { reasonOf, ukError, type UkError } from './errors.js';

/**
 * Why a dependency is missing: not in Klibs; in Klibs but its entry could not be loaded (not
 * installed, not found, not a klib); unable to load (its own problem, or a cycle); failed to start.
 */
export type DependencyState = 'absent' | 'not-loaded' | 'cannot-load' | 'in-cycle' | 'failed';

export interface MissingDependency {
  readonly name: string;
  readonly state: DependencyState;
  /** For 'not-loaded': the problem of the Klibs entry that names it. */
  readonly problem?: UkError;
}

/** What an entry's problem says without its `klib "entry": ` lead (klibNotFound and klibInvalid put it there). */
function withoutEntry(problem: UkError): string {
  return problem.message.replace(/^klib "[^"]*": /, '');
}

/**
 * UK_ERR_KLIB_MISSING_DEP: `missing dependencies for syslog klib: tls (add "tls" to Klibs)`, or,
 * when tls is listed but its package is not installed, that and the command that installs it.
 */
export function missingDependencies(klib: string, deps: readonly MissingDependency[]): UkError {
  const describe = ({ name, state, problem }: MissingDependency): string => {
    if (state === 'absent') return name;
    if (state === 'not-loaded') return `${name} (listed in Klibs, but ${problem ? withoutEntry(problem) : 'it could not be loaded'})`;
    return state === 'failed' ? `${name} (which failed to load)` : `${name} (which cannot load)`;
  };
  const absent = deps.filter((d) => d.state === 'absent').map((d) => `"${d.name}"`);
  const broken = deps.filter((d) => d.state === 'cannot-load' || d.state === 'failed').map((d) => d.name);
  const fixes = [
    ...(absent.length > 0 ? [`add ${absent.join(', ')} to Klibs`] : []),
    ...deps.filter((d) => d.state === 'not-loaded').map((d) => d.problem?.fix ?? `fix the problem reported for ${d.name}`),
    ...(deps.some((d) => d.state === 'in-cycle') ? ['break the dependency cycle'] : []),
    ...(broken.length > 0 ? [`fix the problem reported for ${broken.join(', ')}`] : []),
  ];
  return ukError('UK_ERR_KLIB_MISSING_DEP', `missing dependencies for ${klib} klib: ${deps.map(describe).join(', ')}`, { where: klib, fix: fixes.join('; ') });
}

/** UK_ERR_KLIB_CONFIG_MISSING: a klib with `whenUnconfigured: 'fail'` and no tuple. */
export function configMissing(klib: string, configKey: string): UkError {
  return ukError('UK_ERR_KLIB_CONFIG_MISSING', `${klib}: configuration tuple "${configKey}" is missing from ManifestPassthrough`, {
    where: configKey,
    fix: `add "${configKey}": { … } to ManifestPassthrough`,
  });
}

/** What a klib was doing when uk gave up on starting it. */
export type StartStep = 'options' | 'init';

/** UK_ERR_KLIB_INIT_FAILED: init threw or rejected, or options() threw something that is not a UkError. */
export function initFailed(klib: string, err: unknown, step: StartStep = 'init'): UkError {
  const what = step === 'options' ? `checking its options failed: ${reasonOf(err)}` : reasonOf(err);
  return ukError('UK_ERR_KLIB_INIT_FAILED', `klib ${klib} failed to start: ${what}`, { where: klib, cause: err });
}

/** When a klib failed outside any call uk made to it. */
export type CrashPhase = 'import' | 'init' | 'running';

export interface CrashFailure {
  readonly kind: string;
  readonly error: unknown;
  readonly at?: string | undefined;
}

/** UK_ERR_KLIB_CRASHED: an uncaught exception or unhandled rejection of a klib's own code. */
export function klibCrashed(klib: string, failure: CrashFailure, phase: CrashPhase): UkError {
  const when = phase === 'import' ? ' while its module was imported' : phase === 'init' ? ' during init' : '';
  const at = failure.at ? ` (at ${failure.at})` : '';
  return ukError('UK_ERR_KLIB_CRASHED', `klib ${klib} failed${when}: ${failure.kind}: ${reasonOf(failure.error)}${at}`, {
    where: klib,
    cause: failure.error,
    fix: "a klib must catch the errors of its own timers, callbacks and promises; report it to the klib's author",
  });
}

/** UK_ERR_KLIB_NOT_FOUND: `klib "./nope.mjs": no file at …`. */
export function klibNotFound(entry: string, what: string, fix: string): UkError {
  return ukError('UK_ERR_KLIB_NOT_FOUND', `klib "${entry}": ${what}`, { where: entry, fix });
}

/** UK_ERR_KLIB_INVALID: the module cannot be imported, or exports no klib. */
export function klibInvalid(entry: string, what: string, details: { fix?: string; cause?: unknown } = {}): UkError {
  return ukError('UK_ERR_KLIB_INVALID', `klib "${entry}": ${what}`, { where: entry, ...details });
}

/** UK_ERR_KLIB_CORE_RANGE: the klib states a range of @uk/core that the running core is not in. */
export function coreRangeMismatch(klib: string, range: string, coreVersion: string): UkError {
  return ukError('UK_ERR_KLIB_CORE_RANGE', `klib ${klib} works with @uk/core ${range}, but this is @uk/core ${coreVersion}`, {
    where: klib,
    fix: `install a version of the klib made for @uk/core ${coreVersion}, or a @uk/core in ${range}`,
  });
}
