// Running npm, nx and uk as a user would, in a clean environment: none of the npm settings of the
// `npm test` that runs this suite, none of tap's, so each command sees only what the test gives it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment of this process without what `npm test` and tap add to it (`npm_config_*`,
 * `npm_package_*`, `TAP*`, `NODE_OPTIONS`…) and any AWS setting of the host, which would otherwise steer the inner npm (its
 * registry, its user config) or make an inner tap report to this test.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    // NODE_EXTRA_CA_CERTS stays: Verdaccio's proxy (and npm) may need it to reach the upstream registry.
    if (/^(npm_|TAP|_TAP|NODE_OPTIONS$|INIT_CWD$|AWS_|NX_)/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, CI: 'true', npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false', ...extra };
}

/** Runs a command to its end (killed after `timeoutMs`), collecting its output. */
export function run(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timeoutMs = options.timeoutMs ?? 300_000;
    const guard = setTimeout(() => {
      stderr += `\n[test: killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(guard);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The last lines of a command's output, for a failed assertion's diagnostics. */
export function tail(ran: Ran, lines = 40): string {
  return `${ran.stdout}\n${ran.stderr}`.trim().split('\n').slice(-lines).join('\n');
}

export function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
