// The multiline settings: `uk.multiline` ("auto", "off", {"start": …}) and `uk.multiline_timeout`,
// checked with the path named; the `multiline` key of a klib's tuple ("off": one record per
// line for that klib's drivers); and real `uk run` with a third-party record driver (recfile).
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import t from 'tap';
import { readKernelSettings } from '../src/boot-plan.js';
import { ConsoleDriverList, splitGroups } from '../src/console.js';
import { lineText, type LineBlock } from '../src/line-framer.js';
import { Stats } from '../src/stats.js';
import { Tuple } from '../src/manifest.js';
import { throwsUk } from './helpers.js';
import { fixtureKlibs, node, runUk } from './uk-process.js';

const settings = (uk: unknown) => readKernelSettings(Tuple.fromJSON({ uk })).multiline;

t.test('uk.multiline and uk.multiline_timeout', async (t) => {
  t.same(settings({}), { mode: 'auto', timeoutMs: 300 }, 'auto by default, 300 ms');
  t.same(settings({ multiline: 'off', multiline_timeout: '50' }), { mode: 'off', timeoutMs: 50 });
  const custom = settings({ multiline: { start: '^\\d{4}-' } });
  t.equal(custom.mode, 'start');
  t.ok(custom.mode === 'start' && custom.start.test('2026-01-01 x') && !custom.start.test('x 2026-'), 'the pattern as given');
  throwsUk(
    t,
    () => settings({ multiline: { start: '^(\\d+' } }),
    'UK_ERR_MULTILINE_PATTERN',
    'uk.multiline.start: "^(\\\\d+" is not a valid regular expression: Invalid regular expression: /^(\\d+/: Unterminated group',
    'uk.multiline.start',
  );
  throwsUk(
    t,
    () => settings({ multiline: 'on' }),
    'UK_ERR_MANIFEST_VALUE',
    'uk.multiline: expected "auto", "off" or a tuple {"start": "<regular expression>"}, got "on"',
    'uk.multiline',
  );
  throwsUk(
    t,
    () => settings({ multiline: {} }),
    'UK_ERR_MANIFEST_MISSING',
    'uk.multiline.start: required, expected a regular expression',
    'uk.multiline.start',
  );
  throwsUk(t, () => settings({ multiline: { start: 'x', flags: 'i' } }), 'UK_ERR_OPTION_UNKNOWN', "uk.multiline: invalid option 'flags'", 'uk.multiline.flags');
  throwsUk(
    t,
    () => settings({ multiline_timeout: 0 }),
    'UK_ERR_MANIFEST_VALUE',
    'uk.multiline_timeout: expected a whole number of milliseconds from 1 to 60000, got "0"',
    'uk.multiline_timeout',
  );
});

t.test('splitGroups gives a grouped record its lines back', async (t) => {
  const buf = Buffer.from('a\nbb\n\nc|plain|x');
  const block = { buf, bounds: Int32Array.of(0, 7, 8, 13, 14, 15), count: 3, time: 7, lines: 6 };
  const split = splitGroups(block);
  t.equal(split.count, 6);
  t.same(
    Array.from({ length: split.count }, (_, i) => buf.toString('utf8', split.bounds[2 * i], split.bounds[2 * i + 1])),
    ['a', 'bb', '', 'c', 'plain', 'x'],
  );
  t.equal(split.time, 7);
  t.equal(split.lines, undefined, 'one line per record now');
});

/** A config for `uk run` with the recfile klib (a third-party record driver taking text records). */
function recfileConfig(dir: string, uk: object, recfile: object): string {
  const file = join(dir, 'c.json');
  writeFileSync(
    file,
    JSON.stringify({
      Klibs: [`recfile=${relative(dir, join(fixtureKlibs, 'recfile.mjs'))}`],
      ManifestPassthrough: { uk, consoles: ['-serial'], recfile: { path: join(dir, 'records.jsonl'), ...recfile } },
    }),
  );
  return file;
}

const APP = `
const e = new Error('boom');
console.log('before');
console.error(e);
console.log('after');
`;

/** The program's records as recfile stored them, per source. */
function stored(dir: string): { stdout: string[]; stderr: string[] } {
  const records = readFileSync(join(dir, 'records.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { text: string; source: string });
  return {
    stdout: records.filter((r) => r.source === 'stdout').map((r) => r.text),
    stderr: records.filter((r) => r.source === 'stderr').map((r) => r.text),
  };
}

t.test('uk run: a third-party text driver gets a trace as one record; "off" in its tuple gives it lines', async (t) => {
  const dir = t.testdir({ 'app.mjs': APP });
  const grouped = await runUk(['run', '-v', '-c', recfileConfig(dir, {}, {}), '--', node, join(dir, 'app.mjs')]);
  t.equal(grouped.code, 0, grouped.err);
  const records = stored(dir);
  t.same(records.stdout, ['before', 'after']);
  t.equal(records.stderr.length, 1, 'the trace is one record');
  // Without colour codes: with FORCE_COLOR (nx sets it) Node colours the frames.
  t.match(stripVTControlCharacters(records.stderr[0] as string), /^Error: boom\n {4}at .*app\.mjs:2:11\)?\n {4}at /, 'with its lines joined by newlines');
  const lines = (records.stderr[0] as string).split('\n').length;
  t.match(grouped.err, new RegExp(`^uk: stats multiline: records=1 lines=${lines}$`, 'm'), 'the counters say how lines map to records');

  const ungroupedDir = t.testdir({ 'app.mjs': APP });
  const ungrouped = await runUk(['run', '-c', recfileConfig(ungroupedDir, {}, { multiline: 'off' }), '--', node, join(ungroupedDir, 'app.mjs')]);
  t.equal(ungrouped.code, 0, ungrouped.err);
  const perLine = stored(ungroupedDir);
  t.same(perLine.stderr, (records.stderr[0] as string).split('\n'), 'recfile.multiline "off": the same lines, one record each');
});

t.test('uk validate names the path of every multiline problem', async (t) => {
  const dir = t.testdir({});
  const file = recfileConfig(dir, { multiline: { start: '(' } }, { multiline: 'sometimes' });
  const result = await runUk(['validate', '-c', file]);
  t.equal(result.code, 1);
  t.match(result.out, /^error UK_ERR_MULTILINE_PATTERN: uk\.multiline\.start: "\(" is not a valid regular expression: .*$/m);
  t.match(result.out, /^error UK_ERR_MANIFEST_VALUE: recfile\.multiline: expected one of "auto", "off", got "sometimes"$/m);
  const good = recfileConfig(dir, { multiline: { start: '^\\S' }, multiline_timeout: 100 }, { multiline: 'off' });
  const ok = await runUk(['validate', '-c', good]);
  t.equal(ok.code, 0, ok.out);
});

t.test('console: grouped records to grouped and ungrouped drivers; a failed-out driver counts records, or lines when ungrouped', async (t) => {
  const stats = new Stats();
  const list = new ConsoleDriverList({ stats });
  const got: Record<string, string[]> = { grouped: [], lines: [], text: [], dead: [], deadLines: [] };
  const linesOf = (name: string) => (block: LineBlock) => {
    for (let i = 0; i < block.count; i++) got[name]!.push(lineText(block, i));
  };
  list.attach({ name: 'grouped', writeLines: linesOf('grouped'), write: () => {} });
  list.attach({ name: 'lines', writeLines: linesOf('lines'), write: () => {}, multiline: false });
  list.attach({ name: 'text', write: (r) => got.text!.push(r.text) }, { owner: 'textklib' });
  list.ungroupFor('textklib');
  list.attach({ name: 'dead', writeLines: linesOf('dead'), write: () => {} }, { owner: 'gone' });
  list.attach({ name: 'deadLines', writeLines: linesOf('deadLines'), write: () => {}, multiline: false }, { owner: 'gone' });
  list.disableOwner('gone');
  const trace = 'Error: x\n    at a (b.js:1:1)\n    at c (d.js:2:2)';
  const buf = Buffer.from(trace);
  list.writeLines({ buf, bounds: Int32Array.of(0, buf.length), count: 1, time: 1, lines: 3 }, 'stderr');
  const plain = Buffer.from('plain');
  list.writeLines({ buf: plain, bounds: Int32Array.of(0, 5), count: 1, time: 2 }, 'stdout');
  t.same(got.grouped, [trace, 'plain'], 'a driver that takes groups gets the trace as one record');
  t.same(got.lines, [...trace.split('\n'), 'plain'], 'multiline: false on the driver: one record per line');
  t.same(got.text, [...trace.split('\n'), 'plain'], 'multiline "off" for its klib (a text driver): one record per line');
  const console_ = stats.snapshot().console ?? {};
  t.equal(console_['dead.dropped'], 2, 'a failed-out driver counts records: the trace is one');
  t.equal(console_['deadLines.dropped'], 4, 'an ungrouped failed-out driver counts the lines it would have had');
});
