/**
 * End-to-end helpers: the real `uk` CLI as a child process, a config file in a temp dir, the
 * program a real child of uk, and the AWS side played by @uk/testkit's loopback emulators.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { startAwsEmulators, type AwsEmulators } from '@uk/testkit';

export const UK = fileURLToPath(new URL('../../core/bin/uk.js', import.meta.url));
/** uk resolves `tls` and `cloudwatch` to @uk/tls and @uk/cloudwatch (built) from here. */
export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

export function checkBuilt(t: Test): void {
  for (const p of ['../../core/dist/cli.js', '../../tls/dist/index.js', '../dist/index.js', '../../testkit/dist/index.js']) {
    if (!existsSync(fileURLToPath(new URL(p, import.meta.url)))) t.fail(`${p} is missing: build first (nx runs build before test)`);
  }
}

export function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'uk-cw-e2e-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function emulators(t: Test, options: Parameters<typeof startAwsEmulators>[0] = {}): Promise<AwsEmulators> {
  const aws = await startAwsEmulators(options);
  t.teardown(() => aws.close());
  return aws;
}

/** uk's environment: the emulators' endpoints, and nothing of the host's AWS setup (no profile, no keys). */
export function ukEnv(dir: string, aws: AwsEmulators, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !key.startsWith('AWS_') && key !== 'NODE_OPTIONS' && key !== 'NODE_EXTRA_CA_CERTS') env[key] = value;
  return {
    ...env,
    HOME: dir,
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...aws.env,
    ...extra,
  };
}

export function writeConfig(dir: string, config: unknown, name = 'config.json'): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** A Node program for uk to run; `source` is an ES module. */
export function writeProgram(dir: string, source: string, name = 'app.mjs'): string[] {
  const file = join(dir, name);
  writeFileSync(file, source);
  return [process.execPath, file];
}

export interface UkRun {
  readonly child: ChildProcess;
  /** Resolves when uk exits. */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; firstStdoutMs: number | undefined }>;
  stdout(): string;
  stderr(): string;
}

/** Starts `uk run -c CONFIG -- PROGRAM…`; killed after `timeoutMs` so no test can hang. */
export function runUk(t: Test, options: { config: string; program: string[]; env: Record<string, string>; timeoutMs?: number; args?: string[] }): UkRun {
  const started = performance.now();
  const child = spawn(process.execPath, [UK, 'run', ...(options.args ?? []), '-c', options.config, '--', ...options.program], {
    cwd: PACKAGE_DIR,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let firstStdoutMs: number | undefined;
  child.stdout.on('data', (c: Buffer) => {
    firstStdoutMs ??= performance.now() - started;
    stdout += c.toString('latin1');
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => {
    t.fail(`uk did not exit within ${options.timeoutMs ?? 60_000} ms; stderr:\n${stderr}`);
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 60_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; firstStdoutMs: number | undefined }>(
    (resolve) => {
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, firstStdoutMs });
      });
    },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

/** Every message the emulator accepted, by timestamp as GetLogEvents returns them, across stream deletions. */
export function deliveries(aws: AwsEmulators): { group: string; stream: string; message: string; timestamp: number }[] {
  const all: { group: string; stream: string; message: string; timestamp: number }[] = [];
  aws.cloudwatch.onLogEvents = (group, stream, events) => {
    // In the order GetLogEvents returns them: by timestamp, in arrival order among equal ones
    // (two calls may be in flight at once, and the later one may be stored first).
    for (const e of events) {
      let at = all.length;
      while (at > 0 && (all[at - 1] as { timestamp: number }).timestamp > e.timestamp) at--;
      all.splice(at, 0, { group, stream, message: e.message, timestamp: e.timestamp });
    }
  };
  return all;
}

/** Secrets that must never appear in uk's output. */
export function secretsOf(aws: AwsEmulators): string[] {
  return aws.store.keys.flatMap((key) => {
    const c = aws.store.lookup(key);
    return c ? [c.secretAccessKey, ...(c.sessionToken ? [c.sessionToken] : [])] : [];
  });
}

/** Resolves when `file` exists or after `timeoutMs` (bounded polling), for programs to wait on. */
export const WAIT_FOR_FILE = `
import { existsSync } from 'node:fs';
export async function waitFor(file, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > end) { process.stderr.write('app: gave up waiting for ' + file + '\\n'); process.exit(3); }
    await new Promise((r) => setTimeout(r, 20));
  }
}
`;

/** Compares two long lists of lines, reporting the first difference (tap's deep diff is too slow for 100,000 lines). */
export function sameLines(t: Test, actual: readonly string[], expected: readonly string[], message: string): void {
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  if (i === actual.length && i === expected.length) {
    t.pass(`${message} (${actual.length} lines)`);
    return;
  }
  t.fail(
    `${message}: first difference at line ${i} of ${actual.length} (expected ${expected.length}): got ${JSON.stringify(actual[i]?.slice(0, 80))}, want ${JSON.stringify(expected[i]?.slice(0, 80))}`,
  );
}
