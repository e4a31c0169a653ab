/**
 * One `uk run -v` of a case: the real CLI as a child process (started by the cloudwatch e2e
 * helpers' runUk, which kills it and fails the test if it outlives its timeout), its peak RSS
 * (VmHWM, read from /proc until it exits), its stats lines, the number of its own messages
 * (`uk: …`), and how long its shutdown took after the program finished.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { runUk, type UkRun } from '../../../../packages/cloudwatch/test/e2e-helpers.js';

export interface UkOutcome {
  readonly code: number | null;
  readonly stderr: string;
  /** Counters by klib from the last `uk: stats KLIB: a=1 b=2` line of each. */
  readonly stats: Record<string, Record<string, number>>;
  /** uk's own messages on stderr: an upper bound of those that also reached a driver. */
  readonly ukLines: number;
  readonly peakRssMiB: number;
  /** From the program's last line (its `done` file) to uk's exit, ms; undefined if it never finished. */
  readonly shutdownMs: number | undefined;
  readonly seconds: number;
}

/** Counters from every `uk: stats KLIB: …` line; a later line (the one at exit) wins. */
export function parseStats(stderr: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const line of stderr.split('\n')) {
    const m = /^uk: stats ([\w-]+): (.*)$/.exec(line);
    if (!m) continue;
    out[m[1] as string] = Object.fromEntries(
      (m[2] as string)
        .split(' ')
        .map((pair) => pair.split('='))
        .filter((kv) => kv.length === 2)
        .map(([k, v]) => [k as string, Number(v)]),
    );
  }
  return out;
}

/** The environment uk runs with: the test runner's, without its hooks or the host's AWS setup, plus `extra`. */
export function cleanEnv(dir: string, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      value === undefined ||
      key.startsWith('AWS_') ||
      key === 'NODE_OPTIONS' ||
      key === 'NODE_EXTRA_CA_CERTS' ||
      key.startsWith('TAP') ||
      key.startsWith('_TAPJS')
    )
      continue;
    env[key] = value;
  }
  return { ...env, HOME: dir, ...extra };
}

/** Peak resident memory of a process, MiB (VmHWM), or 0 once it is gone. */
function peakRss(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export interface RunOptions {
  readonly dir: string;
  readonly config: string;
  readonly program: string[];
  readonly env: Record<string, string>;
  /** Extra uk options (before -c), e.g. --stats-interval. */
  readonly args?: string[];
  readonly timeoutMs: number;
  /** Runs while uk runs: waits for the fault's events and lets the program go on. */
  readonly during?: (run: UkRun) => Promise<void>;
}

export async function runCase(t: Test, options: RunOptions): Promise<UkOutcome> {
  const started = performance.now();
  const run = runUk(t, {
    config: options.config,
    program: options.program,
    env: options.env,
    timeoutMs: options.timeoutMs,
    args: ['-v', ...(options.args ?? [])],
  });
  const pid = run.child.pid as number;
  let peak = peakRss(pid);
  let doneAt: number | undefined;
  // Bounded by uk's exit (runUk kills it at the timeout).
  const poller = setInterval(() => {
    peak = Math.max(peak, peakRss(pid));
    if (doneAt === undefined && existsSync(join(options.dir, 'done'))) doneAt = performance.now();
  }, 25);
  try {
    if (options.during) {
      try {
        await options.during(run);
      } catch (err) {
        t.fail(`the fault script failed: ${(err as Error).message}`);
        run.child.kill('SIGKILL');
      }
    }
    const result = await run.done;
    const ended = performance.now();
    doneAt ??= existsSync(join(options.dir, 'done')) ? ended : undefined;
    return {
      code: result.code,
      stderr: result.stderr,
      stats: parseStats(result.stderr),
      ukLines: result.stderr.split('\n').filter((l) => l.startsWith('uk: ')).length,
      peakRssMiB: peak,
      shutdownMs: doneAt === undefined ? undefined : ended - doneAt,
      seconds: (ended - started) / 1000,
    };
  } finally {
    clearInterval(poller);
  }
}

/** Waits (polling, bounded by `timeoutMs`) until `check` holds; rejects naming `what`. */
export async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
