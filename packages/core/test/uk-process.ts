/** Runs the real `uk` command (bin/uk.js → dist/cli.js) as a child process, for the CLI tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ukBin = fileURLToPath(new URL('../bin/uk.js', import.meta.url));
export const programs = fileURLToPath(new URL('./fixtures/programs/', import.meta.url));
export const fixtureKlibs = fileURLToPath(new URL('./fixtures/klibs/', import.meta.url));
export const node = process.execPath;

export interface UkRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly out: string;
  readonly err: string;
}

/** The test runner's environment without its hooks (uk and the programs start faster and cleaner). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === 'NODE_OPTIONS' || key.startsWith('TAP') || key.startsWith('_TAPJS') || key.startsWith('TS_NODE')) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export interface UkOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  /** Called with uk's stdout as it arrives. */
  readonly onStdout?: (soFar: string, child: ChildProcess) => void;
  /** Called with uk's stderr as it arrives. */
  readonly onStderr?: (soFar: string, child: ChildProcess) => void;
  readonly timeoutMs?: number;
}

/** Starts uk with `args`; resolves when it exits. Killed (and the test fails) after timeoutMs. */
export function runUk(args: readonly string[], options: UkOptions = {}): Promise<UkRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [ukBin, ...args], { cwd: options.cwd, env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`uk ${args.join(' ')} did not exit within ${options.timeoutMs ?? 20000} ms; stderr: ${Buffer.concat(err).toString()}`));
    }, options.timeoutMs ?? 20000);
    child.stdout.on('data', (chunk: Buffer) => {
      out.push(chunk);
      options.onStdout?.(Buffer.concat(out).toString(), child);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err.push(chunk);
      options.onStderr?.(Buffer.concat(err).toString(), child);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      resolve({ code, signal, stdout, stderr, out: stdout.toString(), err: stderr.toString() });
    });
  });
}
