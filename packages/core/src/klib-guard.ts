/**
 * Klib isolation: a broken third-party klib must never take uk, and with it the program's output,
 * down. Once installed (by the `uk` command, before any klib is imported), the guard:
 *
 * - catches uncaught exceptions and unhandled rejections, and attributes each to a klib, which
 *   the kernel then disables (the program keeps running);
 * - refuses `process.exit()` called by a klib (the call throws instead), so uk exits only through
 *   its own paths, when the program does.
 *
 * Attribution, in order: the top-most stack frame that lies in a klib's files (its module file,
 * and its package directory when it has one of its own), then the klib whose code started the
 * work that failed: a klib's import and init run in an AsyncLocalStorage context naming it, which
 * its timers, promises, sockets and callbacks inherit. A failure that neither names is reported
 * as such (uk keeps running: it may be a uk bug, and the program matters more).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reasonOf, ukError, type UkError } from './errors.js';
import { describeSummary, FailureTally } from './failure-tally.js';

export type KlibFailureKind = 'uncaught exception' | 'unhandled rejection' | 'process.exit';

export interface KlibFailure {
  readonly kind: KlibFailureKind;
  readonly error: unknown;
  /** `file:line:column` of the klib's top-most stack frame, when the stack named the klib. */
  readonly at: string | undefined;
}

/** Who a failure belongs to. The kernel makes one per klib and decides what a failure does. */
export interface KlibIdentity {
  /** The klib's name; its Klibs entry while the module is being imported. */
  name: string;
  readonly onFailure: (failure: KlibFailure) => void;
}

interface Claim {
  /** A module file, or a package directory ending in the path separator. */
  readonly path: string;
  readonly identity: KlibIdentity;
}

/** Files of uk itself (this directory: `dist/`, or `src/` under the tests). */
const coreDir = dirname(fileURLToPath(import.meta.url));
const corePackage = dirname(coreDir);
/** How often failures that no klib can be blamed for are summed up after the first, ms. */
const UNATTRIBUTED_SUMMARY_MS = 10_000;
/** Frames kept when looking for a klib in the stack of a process.exit call. */
const EXIT_STACK_FRAMES = 100;

/** Paths of the frames of a V8 stack, top first (`file://` URLs turned into paths). */
export function stackPaths(stack: string): { path: string; at: string }[] {
  const frames: { path: string; at: string }[] = [];
  for (const line of stack.split('\n')) {
    const match = /^\s+at (?:.*?\()?((?:file:\/\/|\/)[^()\s]*?):(\d+):(\d+)\)?$/.exec(line);
    if (!match) continue;
    let path = match[1] as string;
    if (path.startsWith('file://')) {
      try {
        path = fileURLToPath(path);
      } catch {
        continue;
      }
    }
    frames.push({ path, at: `${path}:${match[2]}:${match[3]}` });
  }
  return frames;
}

/** The directory of the package a file belongs to, if it has a package.json of its own. */
function packageDirOf(file: string): string | undefined {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  return undefined;
}

function realpath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

export class KlibGuard {
  readonly #context = new AsyncLocalStorage<KlibIdentity>();
  #claims: Claim[] = [];
  #installed = false;
  readonly #unattributed = new FailureTally(UNATTRIBUTED_SUMMARY_MS);
  /** The exit errors already reported when process.exit was called (not reported again when they surface). */
  readonly #exitErrors = new WeakSet<object>();
  /** Writes a message about a failure no klib can be blamed for (the `uk` command points it at the kernel log). */
  report: (message: string) => void = (message) => void process.stderr.write(`uk: ${message}\n`);

  /** Runs `fn` (a klib's import or init) in the klib's context: work it starts is attributed to it. */
  run<T>(identity: KlibIdentity, fn: () => T): T {
    return this.#context.run(identity, fn);
  }

  /** The klib whose code started the work running now, if any. */
  current(): KlibIdentity | undefined {
    return this.#context.getStore();
  }

  /**
   * Claims a klib's module file for stack attribution, and its package directory when the
   * package is the klib's own (not one that holds uk itself, as a monorepo or an app would).
   */
  claimFile(identity: KlibIdentity, file: string): void {
    const real = realpath(file);
    this.#claims.push({ path: real, identity });
    const pkg = packageDirOf(real);
    if (pkg !== undefined && !`${corePackage}${sep}`.startsWith(`${pkg}${sep}`)) this.#claims.push({ path: `${pkg}${sep}`, identity });
  }

  /** The klib owning the top-most frame of `stack` that lies in a klib's files. */
  fromStack(stack: string | undefined): { identity: KlibIdentity; at: string } | undefined {
    if (!stack) return undefined;
    for (const frame of stackPaths(stack)) {
      if (frame.path.startsWith(`${coreDir}${sep}`)) continue;
      const identity = this.#owner(frame.path);
      if (identity) return { identity, at: frame.at };
    }
    return undefined;
  }

  #owner(path: string): KlibIdentity | undefined {
    let best: Claim | undefined;
    let tie = false;
    for (const claim of this.#claims) {
      const covers = claim.path.endsWith(sep) ? path.startsWith(claim.path) : path === claim.path;
      if (!covers) continue;
      if (!best || claim.path.length > best.path.length) {
        best = claim;
        tie = false;
      } else if (claim.path.length === best.path.length && claim.identity !== best.identity) {
        tie = true;
      }
    }
    // Two klibs in one package directory: a frame in a shared file names neither.
    return tie ? undefined : best?.identity;
  }

  /** Who a failure belongs to: the stack first, then the context that started the work. */
  attribute(error: unknown): { identity: KlibIdentity; at: string | undefined } | undefined {
    const stack = error instanceof Error ? error.stack : undefined;
    const fromStack = this.fromStack(stack);
    if (fromStack) return fromStack;
    const identity = this.current();
    return identity ? { identity, at: undefined } : undefined;
  }

  /** True for the error a refused process.exit threw (already reported when it was called). */
  isExitError(error: unknown): error is UkError {
    return typeof error === 'object' && error !== null && this.#exitErrors.has(error);
  }

  /** Installs the process-wide handlers and the process.exit interception, once. */
  install(): void {
    if (this.#installed) return;
    this.#installed = true;
    process.on('uncaughtException', (error) => this.#failed('uncaught exception', error));
    process.on('unhandledRejection', (reason) => this.#failed('unhandled rejection', reason));
    const exit = process.exit.bind(process);
    // The replacement must be a plain function (it is process.exit); it reaches the guard through this alias.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const guard = this;
    process.exit = function guardedExit(code?: number | string | null): never {
      const caller = guard.#exitCaller(guardedExit);
      if (caller === undefined) return exit(code);
      const error = ukError('UK_ERR_KLIB_EXIT', `klib ${caller.identity.name} called process.exit(${code ?? ''}): refused, uk exits when the program does`, {
        where: caller.identity.name,
        fix: 'a klib must not end the process: report the problem with ctx.log, or throw from init',
      });
      guard.#exitErrors.add(error);
      caller.identity.onFailure({ kind: 'process.exit', error, at: caller.at });
      // Throwing stops the klib's code where it meant to stop (a klib that catches it just goes on).
      throw error;
    };
  }

  /** The klib calling process.exit, or undefined when uk itself calls it. */
  #exitCaller(wrapper: (...args: never[]) => unknown): { identity: KlibIdentity; at: string | undefined } | undefined {
    const holder: { stack?: string } = {};
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = EXIT_STACK_FRAMES;
    Error.captureStackTrace(holder, wrapper);
    Error.stackTraceLimit = limit;
    // uk's own calls (the command's end, a second signal while flushing) come straight from its files.
    const direct = stackPaths(holder.stack ?? '')[0];
    if (direct?.path.startsWith(`${coreDir}${sep}`)) return undefined;
    const fromStack = this.fromStack(holder.stack);
    if (fromStack) return fromStack;
    const identity = this.current();
    return identity ? { identity, at: undefined } : undefined;
  }

  #failed(kind: KlibFailureKind, error: unknown): void {
    if (this.isExitError(error)) return; // a refused exit nobody caught: reported when it was called
    const owner = this.attribute(error);
    if (owner) {
      owner.identity.onFailure({ kind, error, at: owner.at });
      return;
    }
    const report = this.#unattributed.fail(reasonOf(error), performance.now());
    if (report?.kind === 'first') {
      const stack = error instanceof Error && error.stack ? `\n${error.stack}` : '';
      this.report(unattributedError(kind, error).describe() + stack);
    } else if (report?.kind === 'summary') {
      this.report(`more uncaught errors that no klib can be blamed for: ${describeSummary(report)}`);
    }
  }
}

function unattributedError(kind: KlibFailureKind, error: unknown): UkError {
  return ukError('UK_ERR_UNCAUGHT', `${kind} that no klib can be blamed for: ${reasonOf(error)}; uk keeps running`, {
    fix: 'if the stack below is in uk, please report it; if it is in a klib, report it to its author',
  });
}

/** The process's guard: one per process, as the handlers it installs are. */
export const klibGuard = new KlibGuard();
