/**
 * The program must not outlive uk. uk's `exit` handler covers the deaths it can see; a SIGKILL of
 * uk (the OOM killer, `kill -9`) it cannot, and the program, in a process group of its own when
 * stdin is not a TTY, would run on unsupervised. Linux's parent-death signal (prctl
 * PR_SET_PDEATHSIG) makes the kernel signal the program when uk dies, however it dies. Node cannot
 * call prctl, so uk starts the program through util-linux `setpriv --pdeathsig SIG -- program`:
 * setpriv sets it and execs the program in place, so the pid, the signals, the exit status and
 * stdio are the program's own.
 */
import { execFile } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, readSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { wrongValue, type Tuple } from './manifest.js';

/** Where setpriv is looked for after PATH (service managers often start uk with a short PATH). */
const SETPRIV_FALLBACKS = ['/usr/bin/setpriv', '/bin/setpriv'];

/** The outcome of looking for a setpriv that can set the parent-death signal. */
export type SetprivLookup = { readonly path: string } | { readonly path?: undefined; readonly reason: string };

export interface SetprivSearch {
  readonly platform?: NodeJS.Platform;
  /** The PATH to search (uk's own). */
  readonly pathVariable?: string | undefined;
  readonly fallbacks?: readonly string[];
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Looks for a setpriv that knows `--pdeathsig` (util-linux 2.33 and later; busybox's setpriv and
 * older util-linux do not, and would refuse to start the program): runs `setpriv --help`.
 */
export async function findSetpriv(search: SetprivSearch = {}): Promise<SetprivLookup> {
  const platform = search.platform ?? process.platform;
  if (platform !== 'linux') return { reason: `the parent-death signal exists on Linux only (this is ${platform})` };
  const dirs = (search.pathVariable ?? '').split(delimiter).filter((dir) => isAbsolute(dir));
  const candidates = [...dirs.map((dir) => join(dir, 'setpriv')), ...(search.fallbacks ?? SETPRIV_FALLBACKS)];
  const path = candidates.find(isExecutableFile);
  if (!path) return { reason: 'setpriv (util-linux) was not found in PATH or /usr/bin' };
  const help = await new Promise<string>((resolve) => {
    execFile(path, ['--help'], { timeout: 5000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
  if (!help.includes('--pdeathsig')) return { reason: `${path} does not support --pdeathsig (util-linux 2.33 or later does)` };
  return { path };
}

let lookedUp: Promise<SetprivLookup> | undefined;

/**
 * findSetpriv for this uk process, run on first use only. The CLI starts it before boot, so that
 * `setpriv --help` (some 5 to 30 ms) runs while the klibs load rather than after.
 */
export function setprivOnce(): Promise<SetprivLookup> {
  lookedUp ??= findSetpriv({ pathVariable: process.env.PATH });
  return lookedUp;
}

/** The file and arguments to spawn: the program itself, or setpriv exec'ing it with the signal set. */
export function launchCommand(
  program: string,
  args: readonly string[],
  signal: NodeJS.Signals | null,
  setpriv: string | undefined,
): { file: string; args: string[] } {
  if (signal === null || setpriv === undefined) return { file: program, args: [...args] };
  // setpriv knows signal names without the SIG prefix only; `--` keeps a program named -x a program.
  return { file: setpriv, args: ['--pdeathsig', signal.slice(3), '--', program, ...args] };
}

function errnoError(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${path}`), { code, path });
}

/** The interpreter a `#!` line names, if the file starts with one and can be read. */
function interpreterOf(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(256);
    const text = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString('latin1');
    return text.startsWith('#!') ? text.slice(2).split('\n')[0]?.trim().split(/[ \t]/)[0] || undefined : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function fileError(file: string, checkInterpreter = true): NodeJS.ErrnoException | undefined {
  try {
    // execve refuses a directory with EACCES, and so does spawn.
    if (statSync(file).isDirectory()) return errnoError('EACCES', file);
    accessSync(file, fsConstants.X_OK);
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  // A script whose interpreter is missing fails in execve with ENOENT (EACCES if it cannot be run).
  const interpreter = checkInterpreter ? interpreterOf(file) : undefined;
  const interpreterError = interpreter ? fileError(interpreter, false) : undefined;
  return interpreterError ? errnoError(interpreterError.code ?? 'ENOENT', file) : undefined;
}

/**
 * Why spawning `program` directly would fail (ENOENT, EACCES, ENOTDIR, …), found the way execvp
 * finds a program: a name with a `/` is a path from `cwd`; a bare name is looked up in `PATH`,
 * where a match that cannot be executed is skipped and reported as EACCES only if nothing else
 * matches. Through setpriv the program is exec'd by setpriv, which would report a failure itself
 * (its own message, on the program's stderr); checking first keeps uk's UK_ERR_PROGRAM_START
 * error and exit status (127 not found, 126 not executable) exactly as without it.
 */
export function programStartError(program: string, pathVariable: string | undefined, cwd: string): NodeJS.ErrnoException | undefined {
  if (program.includes('/')) return fileError(isAbsolute(program) ? program : join(cwd, program));
  let denied: NodeJS.ErrnoException | undefined;
  // Without PATH, the C library's default search path.
  for (const dir of (pathVariable ?? '/usr/bin:/bin').split(delimiter)) {
    const err = fileError(join(dir === '' ? cwd : isAbsolute(dir) ? dir : join(cwd, dir), program));
    if (!err) return undefined;
    if (err.code === 'EACCES') denied ??= err;
  }
  return denied ?? errnoError('ENOENT', program);
}

/** Reads `uk.parent_death_signal`: a signal name (`TERM`, `SIGTERM`, `int`…) or `off`; default SIGTERM. */
export function readParentDeathSignal(tuple: Tuple, key = 'parent_death_signal'): NodeJS.Signals | null {
  const value = tuple.string(key);
  if (value === undefined) return 'SIGTERM';
  const word = value.trim().toUpperCase();
  if (word === 'OFF') return null;
  const name = word.startsWith('SIG') ? word : `SIG${word}`;
  if (word !== '' && Object.hasOwn(osConstants.signals, name)) return name as NodeJS.Signals;
  throw wrongValue(
    tuple.pathOf(key),
    'a signal name such as "TERM", "INT" or "KILL", or "off"',
    JSON.stringify(value),
    'the signal the program gets when uk dies; "off" lets the program outlive uk',
  );
}
