/**
 * A broken console driver or third-party klib never takes uk, or the program's output, down:
 * real `uk run` processes with klibs written as .mjs files at test time. In every case the program
 * runs to its end, its output reaches the serial console and the other drivers in full, and uk
 * exits with the program's exit code.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { fixtureKlibs, runUk } from './uk-process.js';

/**
 * The program: writes `before` numbered lines and `trigger` (which the fixture klibs react to),
 * waits until `marker` exists (the klib has failed; `-` for no wait), writes `after` lines, and
 * exits with `code`.
 */
const PROGRAM = `
import { existsSync } from 'node:fs';
const [before, marker, after, code] = process.argv.slice(2);
const write = (text) => new Promise((resolve) => process.stdout.write(text, resolve));
const lines = (prefix, n) => Array.from({ length: Number(n) }, (_, i) => \`\${prefix} \${i + 1}\\n\`).join('');
await write(lines('before', before) + 'trigger\\n');
if (marker !== '-') {
  const end = Date.now() + 30000;
  while (!existsSync(marker)) {
    if (Date.now() > end) { process.stderr.write('the klib never failed\\n'); process.exit(99); }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
await write(lines('after', after));
process.exitCode = Number(code);
`;

/** The lines the program writes. */
function programLines(before: number, after: number): string[] {
  return [...Array.from({ length: before }, (_, i) => `before ${i + 1}`), 'trigger', ...Array.from({ length: after }, (_, i) => `after ${i + 1}`)];
}

/**
 * A klib whose driver keeps every record it gets in `<name>.jsonl` (so the test can count what it
 * stored), and runs `onTrigger` (klib code, as text) when the program writes `trigger`.
 */
function keepingKlib(name: string, onTrigger: string, initExtra = ''): string {
  return `
import { appendFileSync, writeFileSync } from 'node:fs';
import { defineKlib } from '@uk/core';
export default defineKlib({
  name: '${name}',
  whenUnconfigured: 'init',
  init(ctx) {
    let triggered = false;
    ${initExtra}
    ctx.console.attach({
      name: '${name}',
      write(record) {
        appendFileSync('${name}.jsonl', JSON.stringify({ source: record.source, text: record.text }) + '\\n');
        if (record.text === 'trigger') {
          triggered = true;
          ${onTrigger}
        }
      },
    });
  },
});
`;
}

interface Kept {
  readonly source: string;
  readonly text: string;
}

function kept(dir: string, file: string): Kept[] {
  const path = join(dir, file);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Kept);
}

const programText = (records: readonly Kept[]) => records.filter((r) => r.source !== 'kernel').map((r) => r.text);

/** `console: a=1 b=2` from uk's stats lines at exit. */
function statsOf(stderr: string, group: string): Record<string, number> {
  const line = stderr.split('\n').find((l) => l.startsWith(`uk: stats ${group}: `));
  if (!line) return {};
  return Object.fromEntries(
    line
      .slice(`uk: stats ${group}: `.length)
      .split(' ')
      .map((pair): [string, number] => [pair.split('=')[0] ?? '', Number(pair.split('=')[1])]),
  );
}

/** A config that also loads recfile (every record into records.jsonl), the driver that works. */
function config(dir: string, klibs: string[], extra: Record<string, unknown> = {}): string {
  const file = join(dir, 'uk.json');
  writeFileSync(
    file,
    JSON.stringify({
      Klibs: [`recfile=${join(fixtureKlibs, 'recfile.mjs')}`, ...klibs],
      ManifestPassthrough: { recfile: { path: join(dir, 'records.jsonl') }, ...extra },
    }),
  );
  return file;
}

async function run(dir: string, configFile: string, before: number, marker: string, after: number, code: number) {
  return runUk(
    [
      'run',
      '-c',
      configFile,
      '--',
      process.execPath,
      join(dir, 'program.mjs'),
      String(before),
      marker === '-' ? '-' : join(dir, marker),
      String(after),
      String(code),
    ],
    { cwd: dir, timeoutMs: 60000 },
  );
}

t.test('a driver that throws on every write: two messages, disabled, counted; the others get every line', async (t) => {
  const dir = t.testdir({
    'program.mjs': PROGRAM,
    'throwy.mjs': `
import { defineKlib } from '@uk/core';
export default defineKlib({
  name: 'throwy',
  whenUnconfigured: 'init',
  init(ctx) {
    ctx.console.attach({ name: 'throwy', write() { throw new Error('the disk is on fire'); } });
  },
});
`,
  });
  const lines = 20_000;
  const result = await run(dir, config(dir, ['./throwy.mjs']), lines, '-', 0, 3);
  const expected = programLines(lines, 0);
  t.equal(result.code, 3, "uk exits with the program's code");
  t.equal(result.out, expected.map((l) => `${l}\n`).join(''), 'the serial console got every line');
  const aboutThrowy = result.err.split('\n').filter((l) => l.includes('throwy') && !l.startsWith('uk: stats'));
  t.same(aboutThrowy, [
    'uk: console driver throwy failed: the disk is on fire (further failures are counted and reported at most every 10 s)',
    "uk: console driver throwy disabled: 100 calls in a row failed (100 in all; last: the disk is on fire); the program lines it would have received are counted as dropped (console: throwy.dropped) (a driver's write must not throw: fix or remove the klib that attached it)",
  ]);
  const records = kept(dir, 'records.jsonl');
  t.same(programText(records), expected, 'the other driver got every program line, in order');
  t.same(
    records.filter((r) => r.source === 'kernel').map((r) => r.text),
    aboutThrowy,
    'and the two messages, nothing more',
  );
  const stats = statsOf(result.err, 'console');
  t.same(stats, { driver_failures: 100, drivers_disabled: 1, 'throwy.failed': 100, 'throwy.dropped': expected.length - 100 });
  t.equal((stats['throwy.failed'] ?? 0) + (stats['throwy.dropped'] ?? 0), expected.length, 'written = stored (0) + counted');
});

t.test('a klib whose timer throws after init is disabled; the program runs on and every line is delivered', async (t) => {
  const dir = t.testdir({
    'program.mjs': PROGRAM,
    // The timer is started from the driver (called by uk, outside the klib's context): the stack names the klib.
    'crashy.mjs': keepingKlib('crashy', `setTimeout(() => { writeFileSync('crashed', ''); throw new Error('late bug in crashy'); }, 0);`),
  });
  const result = await run(dir, config(dir, ['./crashy.mjs']), 100, 'crashed', 1000, 3);
  const expected = programLines(100, 1000);
  t.equal(result.code, 3);
  t.equal(result.out, expected.map((l) => `${l}\n`).join(''));
  t.same(programText(kept(dir, 'records.jsonl')), expected, 'the other driver got every line');
  const message = result.err.split('\n').filter((l) => l.includes('crashy'));
  t.equal(message.length, 2, 'one message, and the stats line');
  t.match(
    message[0],
    /^uk: UK_ERR_KLIB_CRASHED: klib crashy failed: uncaught exception: late bug in crashy \(at \/.*\/crashy\.mjs:\d+:\d+\); klib crashy is disabled \(console driver crashy: no more lines, counted as dropped\); the program keeps running \(a klib must catch/,
  );
  t.notMatch(result.err, /^\s+at /m, 'no stack trace');
  const stored = programText(kept(dir, 'crashy.jsonl'));
  t.same(stored, programLines(100, 0), 'the crashed klib got the lines up to its failure');
  t.equal(stored.length + (statsOf(result.err, 'console')['crashy.dropped'] ?? 0), expected.length, 'and the rest are counted as dropped');
  t.same(statsOf(result.err, 'klibs'), { failures: 1, disabled: 1 });
});

t.test('an unhandled rejection without a stack, from a timer started in init, is attributed by its context', async (t) => {
  const dir = t.testdir({
    'program.mjs': PROGRAM,
    'rejecty.mjs': keepingKlib(
      'rejecty',
      '',
      `const poll = setInterval(() => {
        if (!triggered) return;
        clearInterval(poll);
        writeFileSync('rejected', '');
        Promise.reject('a reason without a stack');
      }, 5);`,
    ),
  });
  const result = await run(dir, config(dir, ['./rejecty.mjs']), 10, 'rejected', 500, 4);
  const expected = programLines(10, 500);
  t.equal(result.code, 4);
  t.equal(result.out, expected.map((l) => `${l}\n`).join(''));
  t.same(programText(kept(dir, 'records.jsonl')), expected);
  t.match(
    result.err,
    /^uk: UK_ERR_KLIB_CRASHED: klib rejecty failed: unhandled rejection: a reason without a stack; klib rejecty is disabled \(console driver rejecty: no more lines, counted as dropped\); the program keeps running/m,
  );
  const stored = programText(kept(dir, 'rejecty.jsonl')).length;
  t.equal(stored + (statsOf(result.err, 'console')['rejecty.dropped'] ?? 0), expected.length, 'written = stored + counted');
});

t.test('a klib module whose top-level await never settles: boot goes on after uk.klib_init_timeout; uk validate reports it', async (t) => {
  const dir = t.testdir({
    'program.mjs': PROGRAM,
    // The interval keeps the process alive, as real work would: without the timeout uk would wait forever.
    'tla.mjs': `
import { defineKlib } from '@uk/core';
await new Promise(() => setInterval(() => {}, 60000));
export default defineKlib({ name: 'tla', init() {} });
`,
    'exit-top.mjs': 'process.exit(6);\n',
  });
  const file = config(dir, ['./tla.mjs'], { uk: { klib_init_timeout: 1 } });
  const result = await run(dir, file, 200, '-', 0, 5);
  const expected = programLines(200, 0);
  t.equal(result.code, 5);
  t.equal(result.out, expected.map((l) => `${l}\n`).join(''));
  t.same(programText(kept(dir, 'records.jsonl')), expected);
  t.equal(
    result.err,
    `uk: UK_ERR_KLIB_IMPORT_TIMEOUT: klib "./tla.mjs": importing ${join(dir, 'tla.mjs')} did not finish within 1000 ms (its top-level code awaits something that never settles?) (a klib module must not wait at its top level: start work in init; raise uk.klib_init_timeout if importing really takes this long)\n`,
  );

  writeFileSync(
    join(dir, 'validate.json'),
    JSON.stringify({ Program: '/bin/true', Klibs: ['./tla.mjs', './exit-top.mjs'], ManifestPassthrough: { uk: { klib_init_timeout: 1 } } }),
  );
  const validate = await runUk(['validate', '-c', join(dir, 'validate.json')], { cwd: dir, timeoutMs: 30000 });
  t.equal(validate.code, 1);
  t.equal(
    validate.out,
    `error UK_ERR_KLIB_IMPORT_TIMEOUT: klib "./tla.mjs": importing ${join(dir, 'tla.mjs')} did not finish within 1000 ms (its top-level code awaits something that never settles?) (a klib module must not wait at its top level: start work in init; raise uk.klib_init_timeout if importing really takes this long)\n` +
      'error UK_ERR_KLIB_EXIT: klib ./exit-top.mjs called process.exit(6): refused, uk exits when the program does (a klib must not end the process: report the problem with ctx.log, or throw from init)\n' +
      `${join(dir, 'validate.json')}: 2 problem(s)\n`,
  );
});

t.test('process.exit() from a klib (at import, in init, later) is refused and reported; uk exits with the program', async (t) => {
  const dir = t.testdir({
    'program.mjs': PROGRAM,
    'exit-top.mjs': 'process.exit(6);\n',
    'exit-init.mjs': `
import { defineKlib } from '@uk/core';
export default defineKlib({
  name: 'exit-init',
  whenUnconfigured: 'init',
  init(ctx) {
    ctx.console.attach({ name: 'exit-init', write() {} });
    process.exit(3);
  },
});
`,
    'exit-late.mjs': keepingKlib('exit-late', `setTimeout(() => { writeFileSync('exited', ''); process.exit(4); }, 0);`),
  });
  const result = await run(dir, config(dir, ['./exit-top.mjs', './exit-init.mjs', './exit-late.mjs']), 50, 'exited', 300, 7);
  const expected = programLines(50, 300);
  t.equal(result.code, 7, "uk exits with the program's code, not a klib's");
  t.equal(result.out, expected.map((l) => `${l}\n`).join(''));
  t.same(programText(kept(dir, 'records.jsonl')), expected);
  const fix = '(a klib must not end the process: report the problem with ctx.log, or throw from init)';
  const messages = result.err.split('\n').filter((l) => l.includes('process.exit'));
  t.same(
    messages.map((m) => m.replace(/ \(at \/[^)]*\/(exit-[a-z]+\.mjs):\d+:\d+\)/, ' (at $1)')),
    [
      `uk: UK_ERR_KLIB_EXIT: klib ./exit-top.mjs called process.exit(6): refused, uk exits when the program does (at exit-top.mjs); klib ./exit-top.mjs is disabled; the program keeps running ${fix}`,
      `uk: UK_ERR_KLIB_EXIT: klib exit-init called process.exit(3): refused, uk exits when the program does (at exit-init.mjs); klib exit-init is disabled (console driver exit-init: no more lines, counted as dropped); the program keeps running ${fix}`,
      `uk: UK_ERR_KLIB_EXIT: klib exit-late called process.exit(4): refused, uk exits when the program does (at exit-late.mjs); klib exit-late is disabled (console driver exit-late: no more lines, counted as dropped); the program keeps running ${fix}`,
    ],
    'each is reported once, with the klib and the line that called it',
  );
  const stats = statsOf(result.err, 'console');
  t.equal(stats['exit-init.dropped'], expected.length, 'the driver of the klib that exited in init got nothing, counted');
  t.equal(programText(kept(dir, 'exit-late.jsonl')).length + (stats['exit-late.dropped'] ?? 0), expected.length);
});
