/**
 * The supervisor through the real `uk run` command, with real child processes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import type { ConsoleRecord } from '../src/console.js';
import { cleanEnv, fixtureKlibs, node, programs, runUk } from './uk-process.js';

const program = (name: string) => join(programs, name);

/** A config (in a fresh directory) loading the recfile klib by a path relative to the config. */
function recfileConfig(dir: string, extra: Record<string, unknown> = {}, passthrough: Record<string, unknown> = {}): { config: string; records: string } {
  const records = join(dir, 'records.jsonl');
  const config = join(dir, 'uk.json');
  const klib = relative(dir, join(fixtureKlibs, 'recfile.mjs'));
  writeFileSync(config, JSON.stringify({ Klibs: [`recfile=${klib}`], ManifestPassthrough: { recfile: { path: records }, ...passthrough }, ...extra }));
  return { config, records };
}

/** A config that makes uk pipe the program's output through the serial driver (no passthrough). */
function pipeConfig(dir: string): string {
  const file = join(dir, 'pipe.json');
  writeFileSync(file, JSON.stringify({ ManifestPassthrough: { uk: { passthrough: false } } }));
  return file;
}

function readRecords(file: string): ConsoleRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ConsoleRecord);
}

t.test('the exit code of the program is passed through', async (t) => {
  const three = await runUk(['run', '--', 'sh', '-c', 'echo before; exit 3']);
  t.equal(three.code, 3);
  t.equal(three.out, 'before\n');
  t.equal(three.err, '');
  const zero = await runUk(['run', '--', 'sh', '-c', 'true']);
  t.equal(zero.code, 0);
});

t.test('a program killed by a signal gives 128 + the signal number', async (t) => {
  const killed = await runUk(['run', '--', 'sh', '-c', 'echo dying; kill -KILL $$']);
  t.equal(killed.code, 137);
  t.equal(killed.signal, null, 'uk itself exits normally');
  t.equal(killed.out, 'dying\n');
  const term = await runUk(['run', '--', 'sh', '-c', 'kill -TERM $$']);
  t.equal(term.code, 143);
});

t.test('SIGTERM sent to uk is forwarded to the program', async (t) => {
  const dir = t.testdir({});
  // Once with the program's output piped through uk's serial driver, once passed straight through.
  for (const args of [['-c', pipeConfig(dir)], []]) {
    let sent = false;
    const result = await runUk(['run', ...args, '--', node, program('trap.mjs'), 'SIGTERM'], {
      onStdout: (soFar, child) => {
        if (!sent && soFar.includes('ready\n')) {
          sent = true;
          child.kill('SIGTERM');
        }
      },
    });
    t.ok(sent, 'the program started');
    t.equal(result.code, 0, 'the program handled it and exited 0');
    t.equal(result.signal, null);
    t.equal(result.out, 'ready\ngot SIGTERM\n', 'the output written after the signal arrived');
    t.equal(result.err, '');
  }
});

t.test('SIGINT is forwarded when stdin is not a terminal', async (t) => {
  let sent = false;
  const result = await runUk(['run', '--', node, program('trap.mjs'), 'SIGINT'], {
    onStdout: (soFar, child) => {
      if (!sent && soFar.includes('ready\n')) {
        sent = true;
        child.kill('SIGINT');
      }
    },
  });
  t.equal(result.code, 0);
  t.equal(result.out, 'ready\ngot SIGINT\n');
});

t.test('stdout and stderr are passed through byte-exact, by the serial driver and by passthrough', async (t) => {
  const dir = t.testdir({});
  for (const args of [['-c', pipeConfig(dir)], []]) {
    const result = await runUk(['run', ...args, '--', node, program('bytes.mjs')]);
    t.equal(result.code, 0);
    t.same(result.stdout, Buffer.from([0x6f, 0x6b, 0x0a, 0xff, 0xfe, 0x41, 0x0d, 0x0a, 0x00, 0xc3, 0x28, 0x0a, 0xe2, 0x82]));
    t.same(result.stderr, Buffer.from([0x65, 0x72, 0x72, 0xc0, 0xaf, 0x0a]));
  }
  // --verbose says which way the output went.
  const piped = await runUk(['run', '-v', '-c', pipeConfig(dir), '--', 'sh', '-c', 'true']);
  t.notMatch(piped.err, /writes to uk's stdout\/stderr directly/);
  const direct = await runUk(['run', '-v', '--', 'sh', '-c', 'true']);
  t.match(direct.err, /^uk: only the serial console is enabled: the program writes to uk's stdout\/stderr directly$/m);
});

t.test('a flood of 200,000 lines through the serial driver alone: every line, in order', async (t) => {
  const dir = t.testdir({});
  const n = 200_000;
  const result = await runUk(['run', '-c', pipeConfig(dir), '--', node, program('flood.mjs'), String(n)], { timeoutMs: 60000 });
  t.equal(result.code, 0);
  t.equal(result.out, Array.from({ length: n }, (_, i) => `line ${i + 1}\n`).join(''));
});

t.test('a flood of 200,000 lines: every line arrives, in order, through serial and a record driver', async (t) => {
  const dir = t.testdir({});
  const { config, records } = recfileConfig(dir);
  const n = 200_000;
  const result = await runUk(['run', '-c', config, '--', node, program('flood.mjs'), String(n)], { timeoutMs: 60000 });
  t.equal(result.code, 0);
  t.equal(result.err, '');
  const lines = result.out.split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  t.equal(lines.length, n);
  let firstBad = -1;
  for (let i = 0; i < lines.length && firstBad < 0; i++) if (lines[i] !== `line ${i + 1}`) firstBad = i;
  t.equal(firstBad, -1, 'serial: every line in order');
  const recs = readRecords(records);
  t.equal(recs.length, n);
  let badRecord = -1;
  for (let i = 0; i < recs.length && badRecord < 0; i++) if (recs[i]?.text !== `line ${i + 1}` || recs[i]?.source !== 'stdout') badRecord = i;
  t.equal(badRecord, -1, 'records: every line in order, from stdout');
  const times = recs.map((r) => r.time);
  t.ok(
    times.every((time, i) => i === 0 || time >= (times[i - 1] as number)),
    'record times never go back',
  );
  t.ok(Math.abs((times[0] as number) - Date.now()) < 60000, 'records carry realtime timestamps');
});

t.test('a path-loaded record driver gets every line with its source; per-stream order holds; partial last lines arrive at exit', async (t) => {
  const dir = t.testdir({});
  const { config, records } = recfileConfig(dir);
  const n = 500;
  const result = await runUk(['run', '-c', config, '--', 'sh', program('interleave.sh'), String(n)]);
  t.equal(result.code, 0);
  const recs = readRecords(records);
  t.equal(recs.length, 2 * n + 2);
  const out = recs.filter((r) => r.source === 'stdout').map((r) => r.text);
  const err = recs.filter((r) => r.source === 'stderr').map((r) => r.text);
  t.same(out, [...Array.from({ length: n }, (_, i) => `out ${i}`), 'out partial']);
  t.same(err, [...Array.from({ length: n }, (_, i) => `err ${i}`), 'err partial']);
  t.same(
    recs.filter((r) => r.source === 'kernel'),
    [],
  );
  t.equal(result.out, `${Array.from({ length: n }, (_, i) => `out ${i}\n`).join('')}out partial`, 'serial gets the same bytes');
  t.equal(result.err, `${Array.from({ length: n }, (_, i) => `err ${i}\n`).join('')}err partial`);
});

t.test('records: invalid UTF-8 becomes U+FFFD, CR is kept, serial can be turned off', async (t) => {
  const dir = t.testdir({});
  const { config, records } = recfileConfig(dir, {}, { consoles: ['-serial'] });
  const result = await runUk(['run', '-c', config, '--', node, program('bytes.mjs')]);
  t.equal(result.code, 0);
  t.equal(result.stdout.length, 0, 'serial is off');
  t.equal(result.stderr.length, 0);
  const recs = readRecords(records);
  t.same(
    recs.filter((r) => r.source === 'stdout').map((r) => r.text),
    ['ok', '\ufffd\ufffdA\r', '\u0000\ufffd(', '\ufffd'],
  );
  t.same(
    recs.filter((r) => r.source === 'stderr').map((r) => r.text),
    ['err\ufffd\ufffd'],
  );
  t.equal(recs.length, 5);
});

t.test('a partial line is delivered after uk.partial_line_timeout while the program keeps running', async (t) => {
  const dir = t.testdir({});
  const { config, records } = recfileConfig(dir, {}, { uk: { partial_line_timeout: 50 }, consoles: ['-serial'] });
  // Prints a prompt without a newline, then the rest of the line half a second later.
  const script = `printf 'prompt> '; sleep 0.5; echo rest`;
  const result = await runUk(['run', '-c', config, '--', 'sh', '-c', script]);
  t.equal(result.code, 0);
  t.same(
    readRecords(records).map((r) => r.text),
    ['prompt> ', 'rest'],
    'the prompt became a record of its own before the rest of the line came',
  );
});

t.test('Env from the config, and IMAGE_NAME from the program name', async (t) => {
  const dir = t.testdir({});
  const config = join(dir, 'env.json');
  writeFileSync(config, JSON.stringify({ Env: { GREETING: 'hello', PORT: 8080, PASSED: 'config wins' } }));
  const show = 'printf "%s|%s|%s|%s|%s" "$GREETING" "$PORT" "$IMAGE_NAME" "$FROM_UK" "$PASSED"';
  const result = await runUk(['run', '-c', config, '--', '/bin/sh', '-c', show], { env: cleanEnv({ FROM_UK: 'outer', PASSED: 'outer' }) });
  t.equal(result.code, 0);
  t.equal(result.out, 'hello|8080|sh|outer|config wins');
  const named = join(dir, 'named.json');
  writeFileSync(named, JSON.stringify({ Env: { IMAGE_NAME: 'webg' }, Program: '/bin/sh', Args: ['-c', 'printf "%s" "$IMAGE_NAME"'] }));
  const fromConfig = await runUk(['run', '-c', named]);
  t.equal(fromConfig.code, 0);
  t.equal(fromConfig.out, 'webg', 'Env can set IMAGE_NAME; Program and Args come from the config');
});

t.test('a program that cannot be found exits 127', async (t) => {
  const result = await runUk(['run', '--', '/nonexistent/bin/prog', '--flag']);
  t.equal(result.code, 127);
  t.equal(result.out, '');
  t.equal(
    result.err,
    'uk: UK_ERR_PROGRAM_START: cannot run program "/nonexistent/bin/prog": ENOENT (check the path (use ./name for a file in the current directory))\n',
  );
});

t.test('a klib whose init hangs does not stop the program from running', async (t) => {
  const dir = t.testdir({});
  const config = join(dir, 'hang.json');
  writeFileSync(config, JSON.stringify({ Klibs: [relative(dir, join(fixtureKlibs, 'hangs.mjs'))], ManifestPassthrough: { uk: { klib_init_timeout: 1 } } }));
  const result = await runUk(['run', '-c', config, '--', 'sh', '-c', 'echo ran; exit 4']);
  t.equal(result.code, 4);
  t.equal(result.out, 'ran\n');
  t.equal(
    result.err,
    'uk: UK_ERR_KLIB_INIT_TIMEOUT: klib hangs did not finish init within 1000 ms (a klib must not wait for the network in init; raise uk.klib_init_timeout if it must)\n',
  );
  const strict = await runUk(['run', '--strict', '-c', config, '--', 'sh', '-c', 'echo ran']);
  t.equal(strict.code, 2);
  t.equal(strict.out, '', 'the program did not run');
  t.match(strict.err, /\nuk: --strict: 1 problem\(s\) at boot; not starting the program\n$/);
});

t.test('--verbose prints the klib load order and the consoles', async (t) => {
  const dir = t.testdir({});
  const config = join(dir, 'v.json');
  const rel = (name: string) => relative(dir, join(fixtureKlibs, name));
  writeFileSync(
    config,
    JSON.stringify({ Klibs: [rel('beta.mjs'), rel('gamma.mjs'), rel('alpha.mjs')], ManifestPassthrough: { alpha: {}, beta: {}, gamma: {} } }),
  );
  const result = await runUk(['run', '--verbose', '-c', config, '--', 'sh', '-c', 'exit 0']);
  t.equal(result.code, 0);
  const lines = result.err.split('\n');
  t.match(lines[0], /^uk: klibs: gamma \(loaded, \d+\.\d ms\) → alpha \(loaded, \d+\.\d ms\) → beta \(loaded, \d+\.\d ms\)$/);
  t.equal(lines[1], 'uk: consoles: +serial');
});
