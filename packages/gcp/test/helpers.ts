/** Helpers shared by the test files (not a test file itself). */
import { Heaps, Kernel, ManualClock, opsConfigFromJSON, Stats, Timers, type KlibContext } from '@uk/core';
import { MemoryStream } from '@uk/core/testing';
import { startGcpEmulators, type GcpEmulators, type GcpEmulatorsOptions } from '@uk/testkit';
import type { Test } from 'tap';

export const PROJECT = 'uk-test-project';
export const ZONE = 'us-west2-a';
export const INSTANCE = '4815162342108151623';

/** Emulators with a fixed identity, closed when the test ends. */
export async function emulators(t: Test, options: GcpEmulatorsOptions = {}): Promise<GcpEmulators> {
  const e = await startGcpEmulators({ projectId: PROJECT, zone: ZONE, instanceId: INSTANCE, hostname: `vm-1.${ZONE}.c.${PROJECT}.internal`, ...options });
  t.teardown(() => e.close());
  return e;
}

/** A kernel (real clock, real HTTP) with `Klibs: ['tls', 'gcp']` and the emulators' environment, booted. */
export async function bootKernel(t: Test, e: GcpEmulators, gcp: unknown, extra: Record<string, unknown> = {}) {
  const stderr = new MemoryStream();
  const kernel = new Kernel({
    config: opsConfigFromJSON({ Klibs: ['tls', 'gcp'], ManifestPassthrough: { gcp, consoles: ['-serial'], ...extra } }, 'test.json'),
    program: { path: '/usr/bin/test-program', args: [] },
    baseEnv: e.env,
    stdout: new MemoryStream(),
    stderr,
  });
  const boot = await kernel.boot();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await kernel.stop();
  };
  t.teardown(stop);
  return { kernel, boot, stderr, stop, counter: (name: string): number => kernel.stats.snapshot().gcp?.[name] ?? 0 };
}

/** Writes records as the supervisor would. */
export function writeLines(kernel: Kernel, lines: readonly string[], source: 'stdout' | 'stderr' = 'stdout'): void {
  for (const text of lines) kernel.console.write({ text, time: Date.now(), source });
}

/** Waits (real time, bounded) until `check` holds. */
export async function eventually(check: () => boolean, timeoutMs = 60_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

/** What a driver needs of a klib context, outside a kernel: timers on `clock`, counters in `stats`. */
export function driverContext(clock = new ManualClock()): { ctx: KlibContext<unknown>; counter: (name: string) => number } {
  const stats = new Stats();
  const ctx = {
    timers: new Timers(clock),
    log: { debug() {}, info() {}, warn() {}, error() {} },
    heaps: new Heaps(),
    counter: (name: string) => stats.counter('gcp', name),
    // No uk.spool_dir: memory only.
    spool: () => undefined,
    signal: new AbortController().signal,
  } as unknown as KlibContext<unknown>;
  return { ctx, counter: (name) => stats.counter('gcp', name).value };
}
