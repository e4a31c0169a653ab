/**
 * Runs the program as a child process, feeds its stdout and stderr through the console, forwards
 * signals, and on exit flushes every driver within the deadline. Returns the exit code uk should
 * exit with: the program's own, or 128 + the signal number if a signal killed it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import type { ProgramStream } from './console.js';
import { LineFramer } from './line-framer.js';
import type { Kernel } from './kernel.js';
import { describeWithCode, ukError } from './errors.js';
import { launchCommand, programStartError, setprivOnce } from './parent-death.js';

export const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/**
 * After the program exits its pipes are read to the end. If they stay open (a process it started
 * holds them) and nothing arrives for this long, uk stops waiting for them and shuts down.
 */
const PIPE_GRACE_MS = 2000;

export interface SuperviseOptions {
  readonly path: string;
  readonly args: readonly string[];
  /** Install process signal handlers (the CLI does; tests that embed the supervisor may not). */
  readonly forwardSignals?: boolean;
  /**
   * Let the program inherit uk's stdout/stderr when only the serial console is enabled (default
   * true). False always pipes the output through uk (the benchmark measures both).
   */
  readonly passthrough?: boolean;
}

export interface SuperviseResult {
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal ? (constants.signals as Record<string, number>)[signal] : undefined;
  return 128 + (number ?? 0);
}

interface AttachedStream {
  readonly name: ProgramStream;
  readonly framer: LineFramer;
  /** When bytes last arrived (now while uk holds the stream paused: its partial line is not complete). */
  lastData(): number;
  readonly ended: Promise<void>;
  isEnded(): boolean;
  /** The program has exited: stop holding its output back for record drivers that are behind. */
  stopHolding(): void;
}

/** Feeds one program stream into the console: raw bytes to raw drivers, framed lines to record drivers. */
function attachStream(kernel: Kernel, stream: Readable, name: ProgramStream): AttachedStream {
  const clock = kernel.timers.clock;
  const framer = new LineFramer({
    maxRecordBytes: kernel.settings.maxRecordBytes,
    emit: kernel.lineSink(name),
  });
  let lastData = 0;
  let paused = false;
  let holding = true;
  let ended = false;
  // One wait for drivers at a time; a newer one (after stopHolding) supersedes an older one.
  let waitId = 0;
  const waitThenResume = (): void => {
    const id = ++waitId;
    void kernel.console.drain(name, { records: holding }).then(() => {
      if (id !== waitId || !paused) return;
      paused = false;
      lastData = clock.monotonic();
      stream.resume();
    });
  };
  stream.on('data', (chunk: Buffer) => {
    lastData = clock.monotonic();
    if (kernel.console.wantsRecords) framer.push(chunk, clock.now());
    const rawFull = !kernel.console.writeRaw(chunk, name);
    if (rawFull || (holding && kernel.console.wantsPause())) {
      // A driver is full (the terminal) or behind: stop reading so the program feels the backpressure.
      stream.pause();
      paused = true;
      waitThenResume();
    }
  });
  const endedPromise = new Promise<void>((resolve) => {
    const end = (): void => {
      ended = true;
      resolve();
    };
    stream.once('end', end);
    stream.once('close', end);
    stream.once('error', end);
  });
  return {
    name,
    framer,
    lastData: () => (paused ? clock.monotonic() : lastData),
    ended: endedPromise,
    isEnded: () => ended,
    stopHolding: () => {
      // Nobody is left to slow down: what the pipe holds is read now, and whatever does not fit
      // in a klib's buffer is dropped and counted there, instead of waiting in the pipe to be
      // thrown away uncounted. The terminal (a raw driver) still paces the reading.
      holding = false;
      if (paused) waitThenResume();
    },
  };
}

/**
 * After the program exited: reads its pipes to the end. Returns when both ended, or when they
 * stayed open with nothing arriving for PIPE_GRACE_MS (a process the program started holds them);
 * then says so. Reading goes on during shutdown, so lines written later reach the klibs, which
 * count them as dropped once they are closed.
 */
async function drainPipes(kernel: Kernel, streams: readonly AttachedStream[]): Promise<void> {
  for (const s of streams) s.stopHolding();
  const allEnded = Promise.all(streams.map((s) => s.ended));
  const clock = kernel.timers.clock;
  for (;;) {
    if (streams.every((s) => s.isEnded())) return;
    const idleFor = clock.monotonic() - Math.max(...streams.map((s) => s.lastData()));
    if (idleFor >= PIPE_GRACE_MS) break;
    const wait = new Promise<void>((resolve) => kernel.timers.oneShot(PIPE_GRACE_MS - idleFor, resolve));
    await Promise.race([allEnded, wait]);
  }
  const open = streams.filter((s) => !s.isEnded()).map((s) => s.name);
  kernel.log.warn(
    `the program exited but its ${open.join(' and ')} ${open.length > 1 ? 'are' : 'is'} still open after ${PIPE_GRACE_MS / 1000} s without output (a process it started holds ${open.length > 1 ? 'them' : 'it'}); shutting down: lines written from now on are counted as dropped by the klibs until uk exits`,
  );
}

/** Reports a program that could not be started (UK_ERR_PROGRAM_START); exit 127 if not found, else 126. */
function startFailed(kernel: Kernel, path: string, cause: NodeJS.ErrnoException): SuperviseResult {
  const err = ukError('UK_ERR_PROGRAM_START', `cannot run program ${JSON.stringify(path)}: ${cause.code ?? cause.message}`, {
    where: path,
    fix: cause.code === 'ENOENT' ? 'check the path (use ./name for a file in the current directory)' : 'check that the file is executable',
  });
  kernel.log.error(describeWithCode(err));
  return { exitCode: cause.code === 'ENOENT' ? 127 : 126, signal: null };
}

/**
 * How to start the program so that the kernel sends it uk.parent_death_signal when uk dies: through
 * setpriv where it can (see parent-death.ts), else directly, as uk says once with -v.
 */
async function launchOf(kernel: Kernel, options: SuperviseOptions): Promise<{ file: string; args: string[]; wrapped: boolean }> {
  const signal = kernel.settings.parentDeathSignal;
  const setpriv = signal === null ? undefined : await setprivOnce();
  if (signal === null) kernel.log.debug('uk.parent_death_signal is "off": the program keeps running if uk is killed');
  else if (setpriv?.path !== undefined) kernel.log.debug(`the program gets ${signal} if uk dies (started through ${setpriv.path} --pdeathsig)`);
  else kernel.log.debug(`the program keeps running if uk is killed with SIGKILL: ${setpriv?.reason ?? 'no setpriv'}`);
  return { ...launchCommand(options.path, options.args, signal, setpriv?.path), wrapped: signal !== null && setpriv?.path !== undefined };
}

export async function supervise(kernel: Kernel, options: SuperviseOptions): Promise<SuperviseResult> {
  // With no record driver enabled and serial as the only raw driver, the program writes straight
  // to uk's own stdout/stderr: byte-exact by construction and no copy through uk at all.
  const passthrough =
    (options.passthrough ?? kernel.settings.passthrough) && !kernel.console.wantsRecords && kernel.console.enabledDrivers.every((d) => d.name === 'serial');
  const stdio = passthrough ? (['inherit', 'inherit', 'inherit'] as const) : (['inherit', 'pipe', 'pipe'] as const);
  const launch = await launchOf(kernel, options);
  // Signals reach the program exactly once. From a terminal (stdin a TTY) it stays in uk's
  // process group, so it can read the terminal, and Ctrl-C reaches it from the terminal itself
  // (uk does not forward SIGINT then). Otherwise it gets a process group of its own, and only
  // uk forwards signals to it: `timeout`, `kill -- -PGID` and service managers signal the whole
  // group, which would otherwise deliver every signal twice.
  const ownGroup = options.forwardSignals === true && process.stdin.isTTY !== true;
  let child: ChildProcess;
  try {
    // setpriv would report a program it cannot exec itself, in its own words: check first.
    const startError = launch.wrapped ? programStartError(options.path, kernel.env.PATH, process.cwd()) : undefined;
    if (startError) throw startError;
    child = spawn(launch.file, launch.args, { stdio: [...stdio], env: kernel.env, detached: ownGroup });
  } catch (err) {
    // spawn throws (rather than emitting 'error') for some failures, such as ENOTDIR.
    const failed = startFailed(kernel, options.path, err as NodeJS.ErrnoException);
    await kernel.stop();
    return failed;
  }
  const spawnError = new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
  kernel.program.pid = child.pid;
  // Through setpriv too: it execs the program in place, so this is the program's own pid.
  if (child.pid !== undefined) kernel.log.debug(`the program started: pid ${child.pid}`);
  // If uk itself dies (a bug, an uncaught error), do not leave the program running unsupervised.
  // A death uk cannot see (SIGKILL) is covered by the parent-death signal (launchOf).
  const stopOrphan = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  process.once('exit', stopOrphan);
  const streams = passthrough ? [] : [attachStream(kernel, child.stdout!, 'stdout'), attachStream(kernel, child.stderr!, 'stderr')];
  if (passthrough) kernel.log.debug("only the serial console is enabled: the program writes to uk's stdout/stderr directly");

  // Partial lines are delivered once the stream has been idle for uk.partial_line_timeout.
  const idleMs = kernel.settings.partialLineMs;
  const checkEvery = Math.max(5, Math.floor(idleMs / 2));
  let lastCheck = kernel.timers.clock.monotonic();
  const idleCheck = kernel.timers.periodic(checkEvery, () => {
    const now = kernel.timers.clock.monotonic();
    // A check that runs late means the event loop was busy: the pipe may hold data not read yet
    // (timers run before I/O), so a line is not known to be partial. Decide at the next check.
    const late = now - lastCheck > 2 * checkEvery;
    lastCheck = now;
    if (late) return;
    for (const s of streams) if (s.framer.pendingBytes > 0 && now - s.lastData() >= idleMs) s.framer.flush();
  });

  const handlers = new Map<NodeJS.Signals, () => void>();
  let exited = false;
  if (options.forwardSignals) {
    const interactive = process.stdin.isTTY === true;
    for (const signal of FORWARDED_SIGNALS) {
      const handler = (): void => {
        if (exited) {
          // A second signal while flushing after the program ended: stop waiting, and say what
          // is given up (each klib counts and reports its share).
          const abandoned = kernel.abandon(`${signal} during shutdown`);
          kernel.log.warn(`${signal} during shutdown: exiting without waiting for the flush; ${abandoned} record(s) not sent`);
          for (const line of kernel.stats.lines()) kernel.log.info(`stats ${line}`);
          process.exit(130);
        }
        // From a terminal, Ctrl-C already reached the whole foreground group, program included.
        if (signal === 'SIGINT' && interactive) return;
        child.kill(signal);
      };
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  const outcome = await Promise.race([
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    spawnError.then((err) => ({ err })),
  ]);
  exited = true;

  let result: SuperviseResult;
  if ('err' in outcome) {
    result = startFailed(kernel, options.path, outcome.err);
  } else {
    result = { exitCode: exitCodeOf(outcome.code, outcome.signal), signal: outcome.signal };
    await drainPipes(kernel, streams);
  }
  idleCheck.cancel();
  for (const s of streams) s.framer.flush();
  await kernel.stop();
  // Whatever still holds the pipes gets EPIPE from now on; uk is about to exit.
  child.stdout?.destroy();
  child.stderr?.destroy();
  for (const [signal, handler] of handlers) process.off(signal, handler);
  process.off('exit', stopOrphan);
  return result;
}
