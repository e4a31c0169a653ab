/**
 * The `uk` command line: argument parsing in-process, then the real command for help, version,
 * usage errors, config errors, `uk validate` and `uk klibs`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { HELP, parseCliArgs } from '../src/cli-args.js';
import { BUILTIN_KLIBS } from '../src/loader.js';
import { validateConfig } from '../src/validate.js';
import { throwsUk } from './helpers.js';
import { fixtureKlibs, runUk } from './uk-process.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

t.test('parseCliArgs', async (t) => {
  const base = { config: undefined, verbose: false, strict: false, statsIntervalSeconds: undefined, program: [] };
  t.same(parseCliArgs([]), { command: 'help', ...base });
  t.same(parseCliArgs(['-h']), { command: 'help', ...base });
  t.same(parseCliArgs(['run', '--help']), { command: 'help', ...base });
  t.same(parseCliArgs(['--version']), { command: 'version', ...base });
  t.same(parseCliArgs(['-V']), { command: 'version', ...base });
  t.same(parseCliArgs(['run', '-c', 'app.json', './server', '--port', '80']), {
    ...base,
    command: 'run',
    config: 'app.json',
    program: ['./server', '--port', '80'],
  });
  t.same(parseCliArgs(['run', '--config=app.json', '-v', '--strict', '--stats-interval', '30', '--', '-weird', 'x']), {
    command: 'run',
    config: 'app.json',
    verbose: true,
    strict: true,
    statsIntervalSeconds: 30,
    program: ['-weird', 'x'],
  });
  t.same(parseCliArgs(['--verbose', 'run', '--stats-interval=5']), { ...base, command: 'run', verbose: true, statsIntervalSeconds: 5 });
  t.same(parseCliArgs(['validate', '-c', 'a.json']), { ...base, command: 'validate', config: 'a.json' });
  t.same(parseCliArgs(['klibs']), { ...base, command: 'klibs' });
  t.same(parseCliArgs(['run', '-']), { ...base, command: 'run', program: ['-'] }, 'a lone dash is a word');

  throwsUk(t, () => parseCliArgs(['--bogus']), 'UK_ERR_CLI_USAGE', 'unknown option --bogus (see uk --help)');
  throwsUk(t, () => parseCliArgs(['run', '--bogus=1']), 'UK_ERR_CLI_USAGE', 'unknown option --bogus (see uk --help)');
  throwsUk(t, () => parseCliArgs(['run', '-x']), 'UK_ERR_CLI_USAGE', 'unknown option -x (see uk --help)');
  throwsUk(t, () => parseCliArgs(['frobnicate']), 'UK_ERR_CLI_USAGE', 'unknown command "frobnicate"; commands: run, validate, klibs (see uk --help)');
  throwsUk(t, () => parseCliArgs(['run', '-c']), 'UK_ERR_CLI_USAGE', 'option -c needs a value (see uk --help)');
  throwsUk(t, () => parseCliArgs(['run', '--config', '']), 'UK_ERR_CLI_USAGE', 'option --config needs a value (see uk --help)');
  throwsUk(
    t,
    () => parseCliArgs(['run', '--stats-interval', '0']),
    'UK_ERR_CLI_USAGE',
    'option --stats-interval expects a whole number of seconds ≥ 1, got "0" (see uk --help)',
  );
  throwsUk(
    t,
    () => parseCliArgs(['run', '--stats-interval=1.5']),
    'UK_ERR_CLI_USAGE',
    'option --stats-interval expects a whole number of seconds ≥ 1, got "1.5" (see uk --help)',
  );
  throwsUk(t, () => parseCliArgs(['validate']), 'UK_ERR_CLI_USAGE', 'uk validate needs -c FILE (see uk --help)');
  throwsUk(t, () => parseCliArgs(['validate', '-c', 'a.json', 'extra']), 'UK_ERR_CLI_USAGE', 'unexpected argument "extra" for uk validate (see uk --help)');
  throwsUk(t, () => parseCliArgs(['klibs', '--', 'prog']), 'UK_ERR_CLI_USAGE', 'uk klibs takes no program (see uk --help)');
});

t.test('uk --help and uk --version', async (t) => {
  const help = await runUk(['--help']);
  t.equal(help.code, 0);
  t.equal(help.out, HELP);
  t.equal(help.err, '');
  t.match(help.out, /^Usage:\n {2}uk run /m);
  const none = await runUk([]);
  t.equal(none.code, 0);
  t.equal(none.out, HELP, 'no arguments shows the help');
  const v = await runUk(['--version']);
  t.equal(v.code, 0);
  t.equal(v.out, `${version}\n`);
  t.match(v.out, /^\d+\.\d+\.\d+/);
});

t.test('usage errors: one line on stderr, exit 2', async (t) => {
  for (const [args, message] of [
    [['--bogus'], 'uk: unknown option --bogus (see uk --help)\n'],
    [['run', '--nope', '--', 'true'], 'uk: unknown option --nope (see uk --help)\n'],
    [['launch'], 'uk: unknown command "launch"; commands: run, validate, klibs (see uk --help)\n'],
    [['validate'], 'uk: uk validate needs -c FILE (see uk --help)\n'],
  ] as const) {
    const result = await runUk(args);
    t.equal(result.code, 2, `exit 2 for ${args.join(' ')}`);
    t.equal(result.err, message);
    t.equal(result.out, '');
  }
});

t.test('config problems before the program starts exit 2 with a message', async (t) => {
  const dir = t.testdir({ 'bad.json': '{\n  "Klibs": [],\n}', 'shape.json': JSON.stringify({ RunConfig: { Klibs: ['x', 1] } }) });
  const missing = join(dir, 'missing.json');
  const notFound = await runUk(['run', '-c', missing, '--', 'true']);
  t.equal(notFound.code, 2);
  t.equal(notFound.err, `uk: UK_ERR_CONFIG_NOT_FOUND: cannot read config file ${missing}: ENOENT (check the path given to -c)\n`);
  t.equal(notFound.out, '');
  const parse = await runUk(['run', '-c', join(dir, 'bad.json'), '--', 'true']);
  t.equal(parse.code, 2);
  t.match(parse.err, new RegExp(`^uk: UK_ERR_CONFIG_PARSE: ${join(dir, 'bad.json').replace(/[.]/g, '\\.')}: invalid JSON at line 3, column 1: .+\n$`));
  const shape = await runUk(['run', '-c', join(dir, 'shape.json'), '--', 'true']);
  t.equal(shape.code, 2);
  // The code, and the file that is wrong: uk run prints it among the program's own output.
  t.equal(shape.err, `uk: UK_ERR_CONFIG_SHAPE: ${join(dir, 'shape.json')}: RunConfig.Klibs[1]: expected a non-empty string, got 1\n`);
  const validateShape = await runUk(['validate', '-c', join(dir, 'shape.json')]);
  t.equal(
    validateShape.out,
    `error UK_ERR_CONFIG_SHAPE: ${join(dir, 'shape.json')}: RunConfig.Klibs[1]: expected a non-empty string, got 1\n${join(dir, 'shape.json')}: 1 problem(s)\n`,
  );
  const noProgram = await runUk(['run']);
  t.equal(noProgram.code, 2);
  t.equal(noProgram.err, 'uk: UK_ERR_NO_PROGRAM: no program to run (give one after -- or set Program in the config)\n');
});

t.test('uk validate: a good config', async (t) => {
  const dir = t.testdir({});
  const rel = (name: string) => relative(dir, join(fixtureKlibs, name));
  const file = join(dir, 'good.json');
  writeFileSync(
    file,
    JSON.stringify({
      Program: '/bin/true',
      Klibs: [rel('beta.mjs'), rel('alpha.mjs'), `recfile=${rel('recfile.mjs')}`],
      ManifestPassthrough: { uk: { shutdown_timeout: 5 }, consoles: ['+recfile', '-serial'], alpha: {}, recfile: { path: '/tmp/x.jsonl' } },
      RunConfig: { Ports: ['80'] },
    }),
  );
  const result = await runUk(['validate', '-c', file]);
  t.equal(result.code, 0);
  t.equal(result.out, `${file}: OK; klibs load in this order: alpha, beta, recfile\n`);
  t.equal(result.err, '');
});

t.test('uk validate: a bad config lists every problem and exits 1', async (t) => {
  const dir = t.testdir({});
  const rel = (name: string) => relative(dir, join(fixtureKlibs, name));
  const file = join(dir, 'bad.json');
  writeFileSync(
    file,
    JSON.stringify({
      Klibs: ['./nope.mjs', rel('needs-missing.mjs'), `recfile=${rel('recfile.mjs')}`, rel('needs-config.mjs'), `other=${rel('alpha.mjs')}`],
      ManifestPassthrough: {
        uk: { shutdown_timeout: 'soon', bogus: 1 },
        consoles: ['serial', '+ghost'],
        recfile: { batch: 0 },
      },
      Tpyo: true,
    }),
  );
  const result = await runUk(['validate', '-c', file]);
  t.equal(result.code, 1);
  t.equal(result.err, '');
  const expected = [
    'warning: Tpyo: not an Ops key; ignored (check the spelling)',
    'warning: Program: not set; give the program on the command line (uk run -c FILE -- PROGRAM)',
    'warning: consoles[1]: no console driver named "ghost" is provided by serial or the Klibs listed',
    "error UK_ERR_OPTION_UNKNOWN: uk: invalid option 'bogus' (known options: shutdown_timeout, max_record_size, partial_line_timeout, klib_init_timeout, passthrough, parent_death_signal, multiline, multiline_timeout, spool_dir, spool_max_size, spool_fsync, spool_full)",
    'error UK_ERR_MANIFEST_VALUE: uk.shutdown_timeout: expected a whole number of seconds, got "soon"',
    'error UK_ERR_CONSOLES_ENTRY: consoles[0]: expected "+name" or "-name", got "serial" (write "+syslog" to enable the syslog driver or "-serial" to disable the serial one)',
    `error UK_ERR_KLIB_NOT_FOUND: klib "./nope.mjs": no file at ${join(dir, 'nope.mjs')} (paths in Klibs are relative to the config file)`,
    `error UK_ERR_KLIB_NAME_MISMATCH: klib "other=${rel('alpha.mjs')}": the module declares the klib "alpha", not "other" (use "alpha=${rel('alpha.mjs')}" or point the entry at the right module)`,
    'error UK_ERR_KLIB_MISSING_DEP: missing dependencies for needs-missing klib: nonexistent (add "nonexistent" to Klibs)',
    'error UK_ERR_MANIFEST_MISSING: recfile.path: required, expected a file path',
    'error UK_ERR_MANIFEST_VALUE: recfile.batch: expected a number of records from 1 to 100000, got "0"',
    'error UK_ERR_KLIB_CONFIG_MISSING: needs-config: configuration tuple "needs-config" is missing from ManifestPassthrough (add "needs-config": { … } to ManifestPassthrough)',
    `${file}: 9 problem(s)`,
  ];
  t.same(result.out.split('\n'), [...expected, '']);
});

t.test('validateConfig in-process: warnings, problems and order', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ Klibs: ['./x.mjs'] }) });
  const result = await validateConfig(join(dir, 'c.json'));
  t.same(result.order, []);
  t.same(
    result.problems.map((p) => p.code),
    ['UK_ERR_KLIB_NOT_FOUND'],
  );
  t.same(result.warnings, ['Program: not set; give the program on the command line (uk run -c FILE -- PROGRAM)']);
  const missing = await validateConfig(join(dir, 'none.json'));
  t.equal(missing.config, undefined);
  t.same(
    missing.problems.map((p) => [p.code, p.message]),
    [['UK_ERR_CONFIG_NOT_FOUND', `cannot read config file ${join(dir, 'none.json')}: ENOENT`]],
  );
});

t.test('uk klibs lists the built-in klibs and those of a config', async (t) => {
  const all = await runUk(['klibs']);
  t.equal(all.code, 0);
  const lines = all.out.trimEnd().split('\n');
  t.same(
    lines.map((line) => line.split(/\s+/)[0]),
    [...BUILTIN_KLIBS],
    'one line per built-in, in order',
  );
  for (const line of lines) t.match(line, /^[a-z]+ +(\S+ +deps: .+|- +not available: .+)$/);
  const dir = t.testdir({});
  const file = join(dir, 'k.json');
  writeFileSync(
    file,
    JSON.stringify({ Klibs: [relative(dir, join(fixtureKlibs, 'beta.mjs')), relative(dir, join(fixtureKlibs, 'dyn-deps.mjs')), './missing.mjs'] }),
  );
  const withConfig = await runUk(['klibs', '-c', file]);
  t.equal(withConfig.code, 0);
  const extra = withConfig.out.trimEnd().split('\n').slice(BUILTIN_KLIBS.length);
  t.same(extra, [
    `beta         ${version.padEnd(8)} deps: alpha`,
    `dyn-deps     ${version.padEnd(8)} deps: none (more depending on configuration)`,
    `./missing.mjs -        not available: klib "./missing.mjs": no file at ${join(dir, 'missing.mjs')} (paths in Klibs are relative to the config file)`,
  ]);
});

t.test('uk validate and uk run --strict word a problem the same: a klib made for another @uk/core', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'future.json');
  writeFileSync(file, JSON.stringify({ Program: '/bin/true', Klibs: [relative(dir, join(fixtureKlibs, 'core-future.mjs'))] }));
  const message = `klib core-future works with @uk/core >=99.0.0, but this is @uk/core ${version} (install a version of the klib made for @uk/core ${version}, or a @uk/core in >=99.0.0)`;
  const validate = await runUk(['validate', '-c', file]);
  t.equal(validate.code, 1);
  t.equal(validate.out, `error UK_ERR_KLIB_CORE_RANGE: ${message}\n${file}: 1 problem(s)\n`);
  const run = await runUk(['run', '--strict', '-c', file]);
  t.equal(run.code, 2, 'not started');
  t.equal(run.err, `uk: UK_ERR_KLIB_CORE_RANGE: ${message}\nuk: --strict: 1 problem(s) at boot; not starting the program\n`);
});
