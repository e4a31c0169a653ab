/**
 * Starting the program through setpriv (the parent-death signal, see parent-death.test.ts) must
 * not change what uk says when the program cannot be started, and uk.parent_death_signal is
 * checked like every uk setting. Real `uk run` for the first; the lookups themselves directly.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { readKernelSettings } from '../src/boot-plan.js';
import { Tuple } from '../src/manifest.js';
import { findSetpriv, launchCommand, programStartError } from '../src/parent-death.js';
import { throwsUk } from './helpers.js';
import { cleanEnv, node, runUk, type UkRun } from './uk-process.js';

function configWith(dir: string, uk: Record<string, unknown>): string {
  const config = join(dir, 'uk.json');
  writeFileSync(config, JSON.stringify({ ManifestPassthrough: { uk } }));
  return config;
}

t.test('a program that cannot be started: the same error and exit status with and without setpriv', async (t) => {
  const dir = t.testdir({ 'not-executable': 'echo no\n', sub: {} });
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'runs'), '#!/bin/sh\necho ran "$0"\n');
  chmodSync(join(dir, 'bin', 'runs'), 0o755);
  const env = cleanEnv({ PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` });
  writeFileSync(join(dir, 'bad-interpreter'), '#!/nonexistent/sh -e\necho no\n');
  chmodSync(join(dir, 'bad-interpreter'), 0o755);
  const cases = ['./missing', 'missing-from-path', './not-executable', './sub', '/etc/passwd/x', './bad-interpreter', 'runs'];
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
  t.same(outcome('./bad-interpreter'), [127, '', startError('./bad-interpreter', 'ENOENT', notFound)], 'a script whose interpreter is missing');
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
  writeFileSync(join(dir, 'script'), '#!/bin/sh\necho\n');
  chmodSync(join(dir, 'script'), 0o755);
  t.equal(programStartError('./script', undefined, dir), undefined, 'a script whose interpreter exists');
  writeFileSync(join(dir, 'script'), `#!${join(dir, 'a', 'tool')}\n`);
  t.equal(programStartError('./script', undefined, dir)?.code, 'EACCES', 'a script whose interpreter cannot be run');
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
