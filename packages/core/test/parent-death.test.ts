/**
 * The program must not outlive uk: when uk is killed with SIGKILL (which it cannot catch), the
 * kernel sends the program uk.parent_death_signal (SIGTERM by default), through setpriv
 * --pdeathsig. Real `uk run`, real programs, real SIGKILLs; "off" keeps the program running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { readKernelSettings } from '../src/boot-plan.js';
import { Tuple } from '../src/manifest.js';
import { findSetpriv, launchCommand, programStartError } from '../src/parent-death.js';
import { throwsUk, until } from './helpers.js';
import { cleanEnv, node, programs, runUk, ukBin, type UkRun } from './uk-process.js';

const watcher = join(programs, 'parent-watch.mjs');
const setpriv = await findSetpriv({ pathVariable: process.env.PATH });

/** What the program noted so far (see fixtures/programs/parent-watch.mjs). */
function notes(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

interface Ready {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
}

async function waitReady(file: string): Promise<Ready> {
  await until(() => notes(file).some((n) => n.startsWith('ready ')), 'the program to start', 30_000);
  const [pid, ppid, pgid] = (notes(file).find((n) => n.startsWith('ready ')) as string).split(' ').slice(1).map(Number) as [number, number, number];
  return { pid, ppid, pgid };
}

/** The process's parent and state from /proc, or undefined once it is gone. */
function procStat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return { state: fields[0] as string, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

const gone = (pid: number): boolean => {
  const stat = procStat(pid);
  return stat === undefined || stat.state === 'Z';
};

/** Kills whatever a failed test left running: the program and uk (found from the program's notes), and `children`. */
function cleanup(t: Test, log: string, ...children: ChildProcess[]): void {
  t.teardown(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    const ready = notes(log)
      .find((n) => n.startsWith('ready '))
      ?.split(' ')
      .slice(1, 3)
      .map(Number);
    for (const [pid, marker] of [
      [ready?.[0], 'parent-watch'],
      [ready?.[1], 'uk.js'],
    ] as const) {
      // Only a process that is still the one started here (a pid can be reused).
      if (pid === undefined || gone(pid)) continue;
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) process.kill(pid, 'SIGKILL');
    }
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function configWith(dir: string, uk: Record<string, unknown>): string {
  const config = join(dir, 'uk.json');
  writeFileSync(config, JSON.stringify({ ManifestPassthrough: { uk } }));
  return config;
}

const linuxWithSetpriv = setpriv.path !== undefined;
const script = ['/usr/bin/script', '/bin/script'].find(existsSync);

t.test('SIGKILL of uk (the program in a process group of its own): the program gets SIGTERM', { skip: !linuxWithSetpriv && setpriv.reason }, async (t) => {
  const dir = t.testdir({});
  const log = join(dir, 'notes');
  // stdin is not a TTY, so the program gets a process group of its own.
  const uk = spawn(node, [ukBin, 'run', '--', node, watcher, log], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  cleanup(t, log, uk);
  const ready = await waitReady(log);
  t.equal(ready.ppid, uk.pid, "the program's parent is uk itself: setpriv exec'd it in place");
  t.equal(ready.pgid, ready.pid, 'the program leads a process group of its own');
  const ukExit = exited(uk);
  uk.kill('SIGKILL');
  t.same(await ukExit, { code: null, signal: 'SIGKILL' });
  await until(() => notes(log).includes('SIGTERM'), 'the program to note SIGTERM', 30_000);
  await until(() => gone(ready.pid), 'the program to exit', 30_000);
  t.same(notes(log).slice(1), ['SIGTERM'], 'exactly one SIGTERM, and nothing else');
});

t.test(
  "SIGKILL of uk (stdin a TTY: the program in uk's process group): the program gets SIGTERM",
  { skip: (!linuxWithSetpriv && setpriv.reason) || (!script && 'util-linux script (to give uk a terminal) is not installed') },
  async (t) => {
    const dir = t.testdir({});
    const log = join(dir, 'notes');
    // script(1) runs uk on a new pseudo-terminal: its stdin is a TTY.
    // `; exit` keeps the shell as the session leader: uk's death alone must not hang up the terminal.
    const command = `${[node, ukBin, 'run', '--', node, watcher, log].map((a) => `'${a}'`).join(' ')}; exit 0`;
    const terminal = spawn(script as string, ['-qec', command, '/dev/null'], { env: cleanEnv(), stdio: ['pipe', 'ignore', 'ignore'] });
    cleanup(t, log, terminal);
    const ready = await waitReady(log);
    const ukPid = ready.ppid;
    const ukGroup = Number(readFileSync(`/proc/${ukPid}/stat`, 'utf8').split(') ')[1]?.split(' ')[2]);
    t.equal(ready.pgid, ukGroup, "the program is in uk's process group");
    t.not(ready.pgid, ready.pid);
    process.kill(ukPid, 'SIGKILL');
    await until(() => notes(log).includes('SIGTERM'), 'the program to note SIGTERM', 30_000);
    await until(() => gone(ready.pid), 'the program to exit', 30_000);
    // The terminal closing afterwards may add a SIGHUP (which the program notes and ignores).
    t.same(
      notes(log)
        .slice(1)
        .filter((n) => n !== 'SIGHUP'),
      ['SIGTERM'],
    );
    terminal.stdin.end();
  },
);

t.test('uk.parent_death_signal names the signal ("int" is SIGINT)', { skip: !linuxWithSetpriv && setpriv.reason }, async (t) => {
  const dir = t.testdir({});
  const log = join(dir, 'notes');
  const uk = spawn(node, [ukBin, 'run', '-c', configWith(dir, { parent_death_signal: 'int' }), '--', node, watcher, log], {
    env: cleanEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  cleanup(t, log, uk);
  await waitReady(log);
  uk.kill('SIGKILL');
  await until(() => notes(log).length > 1, 'the program to note a signal', 30_000);
  t.same(notes(log).slice(1), ['SIGINT']);
});

t.test('uk.parent_death_signal "off": the program keeps running after uk is killed, as before', async (t) => {
  const dir = t.testdir({});
  const log = join(dir, 'notes');
  const uk = spawn(node, [ukBin, 'run', '-v', '-c', configWith(dir, { parent_death_signal: 'off' }), '--', node, watcher, log], {
    env: cleanEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  cleanup(t, log, uk);
  let err = '';
  uk.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const ready = await waitReady(log);
  t.equal(ready.ppid, uk.pid);
  t.match(err, /^uk: uk\.parent_death_signal is "off": the program keeps running if uk is killed$/m);
  uk.kill('SIGKILL');
  // A parent-death signal is queued as the kernel hands the orphan to its new parent: once /proc
  // shows the new parent, any such signal is pending. The ping (SIGWINCH, numbered above every
  // signal the program notes) is then noted after it.
  await until(() => procStat(ready.pid)?.ppid !== uk.pid, 'the program to be orphaned', 30_000);
  process.kill(ready.pid, 'SIGWINCH');
  await until(() => notes(log).includes('ping'), 'the program to answer the ping', 30_000);
  t.same(notes(log).slice(1), ['ping'], 'no signal came when uk died');
  t.notOk(gone(ready.pid), 'the program is still running');
});

t.test('the pid uk starts is the program, signals are forwarded and its exit status is kept', async (t) => {
  for (const signal of ['TERM', 'off']) {
    const dir = t.testdir({});
    const log = join(dir, 'notes');
    let forwarded = false;
    const result = await runUk(['run', '-v', '-c', configWith(dir, { parent_death_signal: signal }), '--', node, watcher, log], {
      onStderr: (soFar, uk) => {
        if (forwarded || !soFar.includes('the program started')) return;
        forwarded = true;
        void until(() => notes(log).length > 0, 'ready').then(() => {
          uk.kill('SIGUSR1');
          return until(() => notes(log).includes('SIGUSR1'), 'SIGUSR1')
            .then(() => uk.kill('SIGHUP'))
            .then(() => until(() => notes(log).includes('SIGHUP'), 'SIGHUP'))
            .then(() => uk.kill('SIGTERM'));
        });
      },
    });
    const ready = notes(log)[0]?.split(' ') ?? [];
    t.equal(result.code, 0, `${signal}: the program exited 0 after SIGTERM`);
    t.match(result.err, new RegExp(`^uk: the program started: pid ${ready[1]}$`, 'm'), `${signal}: uk reports the program's own pid`);
    t.same(notes(log).slice(1), ['SIGUSR1', 'SIGHUP', 'SIGTERM'], `${signal}: each forwarded signal reached the program once`);
  }
  const viaSetpriv = await runUk(['run', '-v', '--', 'sh', '-c', 'kill -USR2 $$']);
  t.equal(viaSetpriv.code, 128 + 12, 'killed by a signal: 128 + its number, as without setpriv');
  if (linuxWithSetpriv) t.match(viaSetpriv.err, /^uk: the program gets SIGTERM if uk dies \(started through \/\S*setpriv --pdeathsig\)$/m);
});

t.test('a program that cannot be started: the same error and exit status with and without setpriv', async (t) => {
  const dir = t.testdir({ 'not-executable': 'echo no\n', sub: {} });
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'runs'), '#!/bin/sh\necho ran "$0"\n');
  chmodSync(join(dir, 'bin', 'runs'), 0o755);
  const env = cleanEnv({ PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` });
  const cases = ['./missing', 'missing-from-path', './not-executable', './sub', '/etc/passwd/x', 'runs'];
  const results = new Map<string, UkRun>();
  for (const program of cases) {
    const [on, off] = await Promise.all([
      runUk(['run', '--', program], { cwd: dir, env }),
      runUk(['run', '-c', configWith(dir, { parent_death_signal: 'off' }), '--', program], { cwd: dir, env }),
    ]);
    t.same([on.code, on.out, on.err], [off.code, off.out, off.err], `${program}: the same with setpriv as without`);
    results.set(program, on);
  }
  const outcome = (program: string) => [results.get(program)?.code, results.get(program)?.out, results.get(program)?.err];
  const startError = (program: string, code: string, fix: string) => `uk: UK_ERR_PROGRAM_START: cannot run program "${program}": ${code} (${fix})\n`;
  const notFound = 'check the path (use ./name for a file in the current directory)';
  t.same(outcome('./missing'), [127, '', startError('./missing', 'ENOENT', notFound)]);
  t.same(outcome('missing-from-path'), [127, '', startError('missing-from-path', 'ENOENT', notFound)]);
  t.same(outcome('./not-executable'), [126, '', startError('./not-executable', 'EACCES', 'check that the file is executable')]);
  t.same(outcome('./sub'), [126, '', startError('./sub', 'EACCES', 'check that the file is executable')], 'a directory');
  t.same(outcome('/etc/passwd/x'), [126, '', startError('/etc/passwd/x', 'ENOTDIR', 'check that the file is executable')]);
  t.same(outcome('runs'), [0, `ran ${join(dir, 'bin', 'runs')}\n`, ''], 'found in PATH');
  const nodeEnv = cleanEnv({ PATH: `${dirname(node)}:${process.env.PATH ?? ''}` });
  const argv0 = await runUk(['run', '--', 'node', '-e', 'process.stdout.write(process.argv0)'], { env: nodeEnv });
  t.same([argv0.code, argv0.out], [0, 'node'], "the program's argv[0] is its name as given, not setpriv's lookup");
});

t.test('programStartError finds a program the way execvp does', async (t) => {
  const dir = t.testdir({ a: { tool: 'x' }, b: { tool: 'x' }, c: {}, local: 'x' });
  chmodSync(join(dir, 'b', 'tool'), 0o755);
  chmodSync(join(dir, 'local'), 0o755);
  const path = (...dirs: string[]) => dirs.map((d) => join(dir, d)).join(':');
  t.equal(programStartError('tool', path('c', 'a', 'b'), dir), undefined, 'a match that cannot be run is skipped for one that can');
  t.equal(programStartError('tool', path('a', 'c'), dir)?.code, 'EACCES', 'only a match that cannot be run: EACCES');
  t.equal(programStartError('tool', path('c'), dir)?.code, 'ENOENT');
  t.equal(programStartError('local', '', dir), undefined, 'an empty PATH entry is the current directory');
  t.equal(programStartError('./local', path('c'), dir), undefined, 'a path with a / is not looked up in PATH');
  t.equal(programStartError('local', path('c'), dir)?.code, 'ENOENT');
  t.equal(programStartError('./c', path('c'), dir)?.code, 'EACCES', 'a directory cannot be run');
  t.equal(programStartError(join(dir, 'local'), undefined, '/'), undefined);
});

t.test('findSetpriv: Linux only, and only a setpriv that knows --pdeathsig', async (t) => {
  t.same(await findSetpriv({ platform: 'darwin', pathVariable: process.env.PATH }), {
    reason: 'the parent-death signal exists on Linux only (this is darwin)',
  });
  const dir = t.testdir({ old: { setpriv: '#!/bin/sh\necho "usage: setpriv [options] <program>"\n' }, empty: {} });
  chmodSync(join(dir, 'old', 'setpriv'), 0o755);
  t.same(await findSetpriv({ platform: 'linux', pathVariable: join(dir, 'empty'), fallbacks: [] }), {
    reason: 'setpriv (util-linux) was not found in PATH or /usr/bin',
  });
  t.same(await findSetpriv({ platform: 'linux', pathVariable: `${join(dir, 'empty')}:${join(dir, 'old')}`, fallbacks: [] }), {
    reason: `${join(dir, 'old', 'setpriv')} does not support --pdeathsig (util-linux 2.33 or later does)`,
  });
  t.same(launchCommand('app', ['-x'], 'SIGTERM', undefined), { file: 'app', args: ['-x'] }, 'without setpriv the program runs as before');
  t.same(launchCommand('app', ['-x'], null, '/usr/bin/setpriv'), { file: 'app', args: ['-x'] }, '"off" runs the program as before');
  t.same(launchCommand('-app', ['-x'], 'SIGHUP', '/usr/bin/setpriv'), { file: '/usr/bin/setpriv', args: ['--pdeathsig', 'HUP', '--', '-app', '-x'] });
});

t.test('uk.parent_death_signal: a signal name or "off", checked', async (t) => {
  const read = (value?: string) => readKernelSettings(Tuple.fromJSON({ uk: value === undefined ? {} : { parent_death_signal: value } })).parentDeathSignal;
  t.equal(read(), 'SIGTERM', 'default');
  t.equal(read('KILL'), 'SIGKILL');
  t.equal(read('sighup'), 'SIGHUP');
  t.equal(read(' Off '), null);
  for (const bad of ['', 'SIG', 'TERMINATE', '15']) {
    throwsUk(
      t,
      () => read(bad),
      'UK_ERR_MANIFEST_VALUE',
      `uk.parent_death_signal: expected a signal name such as "TERM", "INT" or "KILL", or "off", got ${JSON.stringify(bad)}`,
      'uk.parent_death_signal',
    );
  }
  const dir = t.testdir({});
  const run = await runUk(['run', '-c', configWith(dir, { parent_death_signal: 'never' }), '--', 'sh', '-c', 'echo still runs']);
  t.equal(run.code, 0, 'a bad value is reported and the program runs with the default');
  t.equal(run.out, 'still runs\n');
  t.equal(
    run.err,
    'uk: UK_ERR_MANIFEST_VALUE: uk.parent_death_signal: expected a signal name such as "TERM", "INT" or "KILL", or "off", got "never" (the signal the program gets when uk dies; "off" lets the program outlive uk)\n',
  );
});
