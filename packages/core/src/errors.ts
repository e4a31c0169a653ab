/**
 * Every error uk raises is made here, with a stable code. `docs/errors.md` lists each code
 * with its meaning and fix; a test keeps the two in step.
 */

export const ErrorCodes = {
  UK_ERR_CLI_USAGE: 'the command line is wrong (unknown flag, missing value, unknown command)',
  UK_ERR_CONFIG_NOT_FOUND: 'the configuration file cannot be read',
  UK_ERR_CONFIG_TOO_LARGE: 'the configuration file is larger than uk reads (1 MiB)',
  UK_ERR_CONFIG_PARSE: 'the configuration file is not valid JSON',
  UK_ERR_CONFIG_SHAPE: 'an Ops key of the configuration has the wrong type',
  UK_ERR_MANIFEST_VALUE: 'a manifest value is not of the expected kind or range',
  UK_ERR_MANIFEST_MISSING: 'a required manifest value is absent',
  UK_ERR_OPTION_UNKNOWN: 'a klib configuration tuple has a key the klib does not know',
  UK_ERR_OPTIONS_INVALID: 'one or more options of a klib are invalid',
  UK_ERR_CONSOLES_ENTRY: 'an entry of the `consoles` list is malformed',
  UK_ERR_MULTILINE_PATTERN: 'the `start` pattern of `uk.multiline` is not a valid regular expression',
  UK_ERR_KLIB_NOT_FOUND: 'a Klibs entry cannot be resolved to a module',
  UK_ERR_KLIB_INVALID: 'a module does not export a klib made with defineKlib',
  UK_ERR_KLIB_NAME_MISMATCH: 'the klib a module declares is not the one the Klibs entry names',
  UK_ERR_KLIB_CORE_RANGE: 'a klib states a range of @uk/core versions that the running core is not in',
  UK_ERR_KLIB_DUPLICATE: 'two Klibs entries load the same klib',
  UK_ERR_KLIB_MISSING_DEP: 'a klib depends on a klib that is not in Klibs',
  UK_ERR_KLIB_CYCLE: 'klib dependencies form a cycle',
  UK_ERR_KLIB_CONFIG_MISSING: 'a klib that needs a configuration tuple has none',
  UK_ERR_KLIB_INIT_FAILED: 'a klib reported failure while starting',
  UK_ERR_KLIB_INIT_TIMEOUT: 'a klib did not finish starting in time',
  UK_ERR_KLIB_IMPORT_TIMEOUT: "a klib module's import (its top-level code) did not finish in time",
  UK_ERR_KLIB_CRASHED: 'a klib threw an uncaught exception or left a promise rejection unhandled; it is disabled',
  UK_ERR_KLIB_EXIT: 'a klib called process.exit; uk refused and disabled the klib',
  UK_ERR_UNCAUGHT: 'an uncaught exception or unhandled rejection that no klib can be blamed for',
  UK_ERR_CONSOLE_DRIVER_DISABLED: 'a console driver kept failing and was disabled',
  UK_ERR_SERVICE_MISSING: 'a klib asked for a service that no loaded klib provides',
  UK_ERR_NO_PROGRAM: 'there is no program to run',
  UK_ERR_PROGRAM_START: 'the program could not be started',
  UK_ERR_SPOOL_LOCKED: 'another running process uses the spool directory of a destination; records are kept in memory only',
  UK_ERR_SPOOL_UNUSABLE: 'the spool directory cannot be created, read or written; records are kept in memory only',
  UK_ERR_SPOOL_WRITE: 'writing to the spool failed (disk full, I/O error); records are kept in memory only from then on',
  UK_ERR_SHUTDOWN_TIMEOUT: 'console drivers did not finish flushing before the shutdown deadline',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface UkErrorDetails {
  /** Where the problem is: a config path (`syslog.server_port`), a file, a klib name. */
  readonly where?: string;
  /** How to fix it, when the message alone does not say. */
  readonly fix?: string;
  readonly cause?: unknown;
  /** Several problems reported together (uk validate, klib options). */
  readonly problems?: readonly UkError[];
}

const UK_ERROR = Symbol.for('uk.error');

export class UkError extends Error {
  readonly code: ErrorCode;
  readonly where: string | undefined;
  readonly fix: string | undefined;
  readonly problems: readonly UkError[];

  constructor(code: ErrorCode, message: string, details: UkErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'UkError';
    this.code = code;
    this.where = details.where;
    this.fix = details.fix;
    this.problems = details.problems ?? [];
    Object.defineProperty(this, UK_ERROR, { value: true });
  }

  /** One line for an operator: the message, then the fix if there is one. */
  describe(): string {
    return this.fix ? `${this.message} (${this.fix})` : this.message;
  }
}

/** True for errors made by any copy of @uk/core (a klib may bundle its own). */
export function isUkError(value: unknown): value is UkError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[UK_ERROR] === true;
}

/** The one factory for uk errors. */
export function ukError(code: ErrorCode, message: string, details?: UkErrorDetails): UkError {
  return new UkError(code, message, details);
}

/**
 * The line uk prints for an error: its code, then what describe() says
 * (`UK_ERR_KLIB_NOT_FOUND: klib "syslgo": … (did you mean "syslog"?)`), so that an operator can look
 * the code up in docs/errors.md. A function, not a method: the error may come from another copy of
 * @uk/core (a klib that bundles its own).
 */
export function describeWithCode(err: UkError): string {
  return `${err.code}: ${err.describe()}`;
}

/** A printable reason for any thrown value, never including a stack. */
export function reasonOf(err: unknown): string {
  if (isUkError(err)) return err.describe();
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
