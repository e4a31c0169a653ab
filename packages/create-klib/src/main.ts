/**
 * create-klib: `npm init @uk/klib <dir>` scaffolds a klib package. It asks for the names when
 * run in a terminal, and takes the defaults without asking with --yes or when stdin is not a
 * terminal (CI, scripts), so it never waits for an answer nobody can give.
 */
import { createInterface } from 'node:readline/promises';
import type { Readable, Writable } from 'node:stream';
import { basename, relative, resolve } from 'node:path';
import { parseArgs, USAGE, type CreateArgs } from './args.js';
import { defaultPackageName, klibNameProblem, packageNameProblem } from './names.js';
import { scaffold, targetProblem } from './scaffold.js';
import { templateVersions } from './versions.js';

export interface Io {
  readonly stdin: Readable & { isTTY?: boolean };
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly cwd: string;
}

type Ask = (question: string, fallback: string, check: (answer: string) => string | undefined) => Promise<string>;

/** Asks on the terminal until the answer passes `check`; an empty answer takes the fallback. */
function terminalAsk(io: Io): { ask: Ask; close: () => void } {
  const rl = createInterface({ input: io.stdin, output: io.stdout });
  const ask: Ask = async (question, fallback, check) => {
    for (;;) {
      const answer = (await rl.question(`${question} (${fallback}): `)).trim() || fallback;
      const problem = check(answer);
      if (!problem) return answer;
      io.stderr.write(`${problem}\n`);
    }
  };
  return { ask, close: () => rl.close() };
}

async function chooseNames(args: CreateArgs, dir: string, ask: Ask | undefined): Promise<{ klibName: string; packageName: string }> {
  const from = args.name !== undefined ? '--name' : `the name of the directory ${dir}`;
  let klibName = args.name ?? basename(dir);
  if (ask && args.name === undefined) klibName = await ask('klib name', klibName, (n) => klibNameProblem(n, 'your answer'));
  const nameProblem = klibNameProblem(klibName, from, args.name === undefined);
  if (nameProblem) throw new Error(nameProblem);
  let packageName = args.packageName ?? defaultPackageName(klibName);
  if (ask && args.packageName === undefined) packageName = await ask('package name', packageName, packageNameProblem);
  const packageProblem = packageNameProblem(packageName);
  if (packageProblem) throw new Error(`--package: ${packageProblem}`);
  return { klibName, packageName };
}

/** Runs the command; resolves to the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let args: CreateArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    io.stderr.write(`create-klib: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (args.dir === undefined) {
    io.stderr.write(`create-klib: say where to create the klib: npm init @uk/klib my-klib\n\n${USAGE}`);
    return 2;
  }
  const dir = resolve(io.cwd, args.dir);
  const terminal = !args.yes && io.stdin.isTTY === true ? terminalAsk(io) : undefined;
  try {
    const problem = targetProblem(dir);
    if (problem) throw new Error(problem);
    const { klibName, packageName } = await chooseNames(args, dir, terminal?.ask);
    const files = scaffold({ dir, klibName, packageName, versions: templateVersions() });
    const shown = relative(io.cwd, dir) || '.';
    io.stdout.write(
      `Created ${packageName} (klib "${klibName}") in ${shown}:\n${files.map((f) => `  ${f}\n`).join('')}\n` +
        `Next:\n  cd ${shown}\n  npm install\n  npm test\n\nThen edit src/index.ts, and read README.md for configuring and publishing it.\n`,
    );
    return 0;
  } catch (err) {
    io.stderr.write(`create-klib: ${(err as Error).message}\n`);
    return 1;
  } finally {
    terminal?.close();
  }
}
