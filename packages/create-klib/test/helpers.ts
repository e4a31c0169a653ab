/** Runs the real bin, as `npm init @uk/klib` does, in a temporary directory. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const repoDir = fileURLToPath(new URL('../../..', import.meta.url));
const bin = join(packageDir, 'bin', 'create-klib.js');

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs create-klib with `args` in `cwd`; stdin is not a terminal, so it asks nothing. */
export function runBin(args: readonly string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

export function tempDir(t: Test, prefix = 'crt-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every file under `dir` (relative, sorted), node_modules and build output left out. */
export function filesUnder(dir: string, root = dir): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === '.tap') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...filesUnder(path, root));
    else files.push(relative(root, path));
  }
  return files.sort();
}

export const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** `^<version>` of this monorepo's @uk/core: the range a generated klib must have. */
export const coreRange = (): string => `^${readJson(join(repoDir, 'packages', 'core', 'package.json')).version as string}`;

export const GENERATED_FILES = ['.gitignore', 'README.md', 'package.json', 'src/index.ts', 'test/klib.test.ts', 'tsconfig.build.json', 'tsconfig.json'];
