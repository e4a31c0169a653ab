/**
 * Runs the real uk CLI (`node packages/core/bin/uk.js run -c CONFIG -- PROGRAM`) with a config
 * written to a temporary directory, and real child programs.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const UK_BIN = resolve(here, '../../../core/bin/uk.js');
/** The line emitter every test runs as its program (see fixtures/emit.mjs). */
export const EMIT = resolve(here, '../fixtures/emit.mjs');
chmodSync(EMIT, 0o755);

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory, removed when the test process exits. */
export function tempDir(prefix = 'uk-syslog-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function writeConfig(dir: string, config: unknown, name = 'config.json'): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export interface UkResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** Counters from `uk: stats syslog: a=1 b=2` (printed with --verbose or after losses). */
  readonly stats: Record<string, number>;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly verbose?: boolean;
  readonly strict?: boolean;
  readonly command?: 'run' | 'validate';
  readonly env?: NodeJS.ProcessEnv;
  /** Called with each chunk of uk's stdout (the program's output through the serial console). */
  readonly onStdout?: (text: string, all: string) => void;
  readonly timeoutMs?: number;
}

export function parseStats(stderr: string, group = 'syslog'): Record<string, number> {
  const line = stderr.split('\n').find((l) => l.startsWith(`uk: stats ${group}: `));
  if (!line) return {};
  return Object.fromEntries(
    line
      .slice(`uk: stats ${group}: `.length)
      .split(' ')
      .map((pair) => pair.split('='))
      .map(([k, v]) => [k as string, Number(v)]),
  );
}

export function runUk(configFile: string, program: readonly string[], options: RunOptions = {}): Promise<UkResult> {
  const command = options.command ?? 'run';
  const args = [UK_BIN, command, '-c', configFile];
  if (options.verbose ?? command === 'run') args.push('--verbose');
  if (options.strict) args.push('--strict');
  if (command === 'run') args.push('--', ...program);
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    options.onStdout?.(d.toString(), stdout);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, stats: parseStats(stderr) });
    });
  });
}
