import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadOpsConfig, OPS_KEYS, opsConfigFromJSON } from '../src/config.js';
import { isUkError } from '../src/errors.js';
import { Tuple } from '../src/manifest.js';
import { thrownBy, throwsUk } from './helpers.js';

t.test('an Ops config becomes a manifest, Klibs, Env, Program and Args', async (t) => {
  const config = opsConfigFromJSON(
    {
      Program: '/usr/bin/webg',
      Args: ['--port', '8080'],
      Env: { FOO: 'bar', PORT: 8080, DEBUG: true },
      Klibs: ['syslog', './klibs/audit.mjs'],
      ManifestPassthrough: {
        syslog: { server: '10.0.0.1', server_port: 514, debug: true },
        consoles: ['-serial', '+syslog'],
      },
      CloudConfig: { Zone: 'eu-west-1', Platform: 'aws', BucketName: 'b' },
      RunConfig: { Ports: ['8080'], Memory: '2G', Verbose: true },
      BaseVolumeSz: '1g',
      Dirs: ['static'],
      NanosVersion: '0.1.50',
      Tpyo: 1,
      AlsoUnknown: {},
    },
    'app.json',
    '/srv/app',
  );
  t.equal(config.file, 'app.json');
  t.equal(config.baseDir, '/srv/app');
  t.same(config.klibs, ['syslog', './klibs/audit.mjs']);
  t.equal(config.program, '/usr/bin/webg');
  t.same(config.args, ['--port', '8080']);
  t.same(config.env, { FOO: 'bar', PORT: '8080', DEBUG: 'true' });
  t.ok(config.manifest instanceof Tuple);
  t.same(config.manifest.toJSON(), {
    syslog: { server: '10.0.0.1', server_port: '514', debug: 'true' },
    consoles: ['-serial', '+syslog'],
  });
  t.equal(config.manifest.tuple('syslog')?.uint('server_port', { min: 1, max: 65535 }), 514);
  t.equal(config.manifest.tuple('syslog')?.bool('debug', false), true);
  t.equal(config.cloudConfig.string('Zone'), 'eu-west-1');
  t.equal(config.cloudConfig.path, 'CloudConfig');
  t.same(config.unknownKeys, ['Tpyo', 'AlsoUnknown'], 'RunConfig, CloudConfig, BaseVolumeSz, Dirs and NanosVersion are Ops keys');
  for (const key of ['RunConfig', 'CloudConfig', 'BaseVolumeSz', 'Klibs', 'ManifestPassthrough', 'Env', 'Program', 'Args']) {
    t.ok((OPS_KEYS as readonly string[]).includes(key), `${key} is an Ops key`);
  }
  t.ok(Object.isFrozen(config.manifest));
});

t.test('defaults for an empty config', async (t) => {
  const config = opsConfigFromJSON({});
  t.equal(config.file, undefined);
  t.equal(config.baseDir, process.cwd());
  t.same(config.klibs, []);
  t.same(config.env, {});
  t.equal(config.program, undefined);
  t.same(config.args, []);
  t.same(config.manifest.keys(), []);
  t.same(config.cloudConfig.keys(), []);
  t.same(config.unknownKeys, []);
});

t.test('Klibs at the top level or in RunConfig, not both', async (t) => {
  t.same(opsConfigFromJSON({ RunConfig: { Klibs: ['gcp', 'tls'], Ports: ['80'] } }).klibs, ['gcp', 'tls']);
  t.same(opsConfigFromJSON({ Klibs: ['cloudwatch'], RunConfig: { Ports: ['80'] } }).klibs, ['cloudwatch']);
  const err = throwsUk(
    t,
    () => opsConfigFromJSON({ Klibs: ['a'], RunConfig: { Klibs: ['b'] } }),
    'UK_ERR_CONFIG_SHAPE',
    'Klibs: set both at the top level and in RunConfig',
    'Klibs',
  );
  t.equal(err?.fix, 'keep one Klibs list');
  t.equal(err?.describe(), 'Klibs: set both at the top level and in RunConfig (keep one Klibs list)');
  // Even an empty list in each place is two lists.
  throwsUk(t, () => opsConfigFromJSON({ Klibs: [], RunConfig: { Klibs: [] } }), 'UK_ERR_CONFIG_SHAPE', 'Klibs: set both at the top level and in RunConfig');
});

t.test('wrong shapes are reported with the path of the bad value', async (t) => {
  const cases: [unknown, string][] = [
    [[], 'app.json: expected a JSON object at the top level'],
    ['text', 'app.json: expected a JSON object at the top level'],
    [null, 'app.json: expected a JSON object at the top level'],
    [{ Klibs: 'syslog' }, 'app.json: Klibs: expected an array of strings, got "syslog"'],
    [{ Klibs: null }, 'app.json: Klibs: expected an array of strings, got null'],
    [{ Klibs: ['syslog', 3] }, 'app.json: Klibs[1]: expected a non-empty string, got 3'],
    [{ Klibs: [''] }, 'app.json: Klibs[0]: expected a non-empty string, got ""'],
    [{ RunConfig: { Klibs: ['syslog', { name: 'x' }] } }, 'app.json: RunConfig.Klibs[1]: expected a non-empty string, got {"name":"x"}'],
    [{ RunConfig: { Klibs: 'gcp' } }, 'app.json: RunConfig.Klibs: expected an array of strings, got "gcp"'],
    [{ RunConfig: [] }, 'app.json: RunConfig: expected an object'],
    [{ RunConfig: null }, 'app.json: RunConfig: expected an object'],
    [{ ManifestPassthrough: ['a'] }, 'app.json: ManifestPassthrough: expected an object'],
    [{ ManifestPassthrough: 'a' }, 'app.json: ManifestPassthrough: expected an object'],
    [{ Env: ['A=1'] }, 'app.json: Env: expected an object of NAME: value'],
    [{ Env: { A: null } }, 'app.json: Env.A: expected a string, got null'],
    [{ Env: { A: 'ok', B: { x: 1 } } }, 'app.json: Env.B: expected a string, got {"x":1}'],
    [{ Program: 5 }, 'app.json: Program: expected a non-empty string, got 5'],
    [{ Program: '' }, 'app.json: Program: expected a non-empty string, got ""'],
    [{ Program: null }, 'app.json: Program: expected a non-empty string, got null'],
    [{ Args: '--port 80' }, 'app.json: Args: expected an array of strings, got "--port 80"'],
    [{ Args: ['--port', 80] }, 'app.json: Args[1]: expected a non-empty string, got 80'],
    [{ CloudConfig: 'aws' }, 'app.json: CloudConfig: expected an object'],
  ];
  for (const [json, message] of cases) {
    throwsUk(t, () => opsConfigFromJSON(json, 'app.json'), 'UK_ERR_CONFIG_SHAPE', message);
    // A config built in memory has no file to name.
    if (!message.includes('top level')) throwsUk(t, () => opsConfigFromJSON(json), 'UK_ERR_CONFIG_SHAPE', message.slice('app.json: '.length));
  }
  throwsUk(t, () => opsConfigFromJSON(42), 'UK_ERR_CONFIG_SHAPE', 'config: expected a JSON object at the top level', 'config');
});

t.test('null values in ManifestPassthrough are errors', async (t) => {
  throwsUk(
    t,
    () => opsConfigFromJSON({ ManifestPassthrough: { syslog: { server: null } } }),
    'UK_ERR_MANIFEST_VALUE',
    'syslog.server: expected a string, number, boolean, object or array, got null',
    'syslog.server',
  );
  throwsUk(
    t,
    () => opsConfigFromJSON({ ManifestPassthrough: { consoles: [null] } }),
    'UK_ERR_MANIFEST_VALUE',
    'consoles[0]: expected a string, number, boolean, object or array, got null',
  );
  throwsUk(
    t,
    () => opsConfigFromJSON({ CloudConfig: { Zone: null } }),
    'UK_ERR_MANIFEST_VALUE',
    'CloudConfig.Zone: expected a string, number, boolean, object or array, got null',
  );
});

t.test('loadOpsConfig reads a file and resolves paths against its directory', async (t) => {
  const dir = t.testdir({ conf: { 'app.json': JSON.stringify({ Klibs: ['./k.mjs'], Program: 'p', ManifestPassthrough: { x: { y: 1 } } }) } });
  const file = join(dir, 'conf', 'app.json');
  const config = loadOpsConfig(file);
  t.equal(config.file, file);
  t.equal(config.baseDir, join(dir, 'conf'));
  t.same(config.klibs, ['./k.mjs']);
  t.equal(config.program, 'p');
  t.equal(config.manifest.tuple('x')?.get('y'), '1');
});

t.test('loadOpsConfig: a missing file', async (t) => {
  const dir = t.testdir({});
  const missing = join(dir, 'nope.json');
  const err = throwsUk(t, () => loadOpsConfig(missing), 'UK_ERR_CONFIG_NOT_FOUND', `cannot read config file ${missing}: ENOENT`, missing);
  t.equal(err?.fix, 'check the path given to -c');
  t.equal((err?.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
  throwsUk(t, () => loadOpsConfig(dir), 'UK_ERR_CONFIG_NOT_FOUND', `cannot read config file ${dir}: EISDIR`);
});

t.test('loadOpsConfig: invalid JSON is reported with line and column', async (t) => {
  const dir = t.testdir({
    'comma.json': '{\n  "Program": "x",\n}',
    'colon.json': '{\n  "a": 1,\n  "b" 2\n}',
  });
  const comma = join(dir, 'comma.json');
  const err = thrownBy(() => loadOpsConfig(comma));
  t.ok(isUkError(err));
  if (isUkError(err)) {
    t.equal(err.code, 'UK_ERR_CONFIG_PARSE');
    t.match(err.message, new RegExp(`^${comma.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: invalid JSON at line 3, column 1: `));
    t.equal(err.where, comma);
    t.ok(err.cause instanceof SyntaxError);
  }
  const colon = join(dir, 'colon.json');
  const err2 = thrownBy(() => loadOpsConfig(colon));
  t.ok(isUkError(err2) && err2.code === 'UK_ERR_CONFIG_PARSE');
  t.match(isUkError(err2) ? err2.message : '', /: invalid JSON at line 3, column 7: /);
});

t.test('loadOpsConfig: wrong shapes name the key', async (t) => {
  const dir = t.testdir({
    'klibs.json': JSON.stringify({ RunConfig: { Klibs: ['syslog', 7] } }),
    'array.json': '[1, 2]',
    'env.json': JSON.stringify({ Env: { A: null } }),
  });
  throwsUk(
    t,
    () => loadOpsConfig(join(dir, 'klibs.json')),
    'UK_ERR_CONFIG_SHAPE',
    `${join(dir, 'klibs.json')}: RunConfig.Klibs[1]: expected a non-empty string, got 7`,
    'RunConfig.Klibs[1]',
  );
  throwsUk(t, () => loadOpsConfig(join(dir, 'array.json')), 'UK_ERR_CONFIG_SHAPE', `${join(dir, 'array.json')}: expected a JSON object at the top level`);
  throwsUk(t, () => loadOpsConfig(join(dir, 'env.json')), 'UK_ERR_CONFIG_SHAPE', `${join(dir, 'env.json')}: Env.A: expected a string, got null`);
  // A bad value in ManifestPassthrough names the file too.
  writeFileSync(join(dir, 'null.json'), JSON.stringify({ ManifestPassthrough: { syslog: { server: null } } }));
  throwsUk(
    t,
    () => loadOpsConfig(join(dir, 'null.json')),
    'UK_ERR_MANIFEST_VALUE',
    `${join(dir, 'null.json')}: syslog.server: expected a string, number, boolean, object or array, got null`,
    'syslog.server',
  );
});

t.test('loadOpsConfig keeps a relative path as given in messages and resolves baseDir', async (t) => {
  const dir = t.testdir({ sub: { 'bad.json': '{"a": 1,}' }, ok: { 'c.json': '{}' } });
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(() => process.chdir(cwd));
  const config = loadOpsConfig('ok/c.json');
  t.equal(config.baseDir, join(dir, 'ok'));
  const err = thrownBy(() => loadOpsConfig('sub/bad.json'));
  t.ok(isUkError(err) && err.code === 'UK_ERR_CONFIG_PARSE' && err.where === 'sub/bad.json');
  t.match(isUkError(err) ? err.message : '', /^sub\/bad\.json: invalid JSON at line 1, column 9: /);
});
