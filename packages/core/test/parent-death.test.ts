/**
 * The program must not outlive uk: when uk is killed with SIGKILL (which it cannot catch), the
 * kernel sends the program uk.parent_death_signal (SIGTERM by default), through setpriv
 * --pdeathsig. Real `uk run`, real programs, real SIGKILLs; "off" keeps the program running.
 * parent-death-start.test.ts checks that start errors and settings are unchanged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { findSetpriv } from '../src/parent-death.js';
import { until } from './helpers.js';
import { cleanEnv, node, programs, runUk, ukBin } from './uk-process.js';

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

/** The programs started, by notes file, for cleanup (t.testdir removes the file before teardown). */
const started = new Map<string, Ready>();

async function waitReady(file: string): Promise<Ready> {
  await until(() => notes(file).some((n) => n.startsWith('ready ')), 'the program to start', 30_000);
  const [pid, ppid, pgid] = (notes(file).find((n) => n.startsWith('ready ')) as string).split(' ').slice(1).map(Number) as [number, number, number];
  started.set(file, { pid, ppid, pgid });
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
    const ready = started.get(log);
    for (const [pid, marker] of [
      [ready?.pid, 'parent-watch'],
      [ready?.ppid, 'uk.js'],
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
