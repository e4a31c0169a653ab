import t from 'tap';
import { isUkError } from '../src/errors.js';
import { parseSize, Tuple, Vector } from '../src/manifest.js';
import { throwsUk } from './helpers.js';

const manifest = Tuple.fromJSON(
  {
    uk: { shutdown_timeout: 5 },
    cloudwatch: {
      mem_metrics_interval: 'abc',
      interval: '60',
      spaced: ' 42 ',
      negative: '-1',
      fraction: '1.5',
      huge: '99999999999999999999',
      flag_t: true,
      flag_f: false,
      yes: 'YES',
      off: 'off',
      one: 1,
      maybe: 'maybe',
      empty: '',
      size_k: '512k',
      size_m: '8M',
      size_g: '1g',
      size_G: '2G',
      size_plain: 4096,
      size_b: '16kb',
      size_spaced: '3 m',
      size_bad: '8X',
      size_neg: '-8m',
      mode: 'udp',
      nested: { a: 'b' },
      list: ['x', 2, true],
      mixed: ['x', { y: 'z' }],
    },
    consoles: ['-serial', '+syslog'],
  },
  '',
);
const cw = manifest.tuple('cloudwatch') as Tuple;

t.test('fromJSON normalises numbers and booleans to strings and keeps the tree', async (t) => {
  t.same(manifest.keys(), ['uk', 'cloudwatch', 'consoles']);
  t.equal(manifest.tuple('uk')?.get('shutdown_timeout'), '5');
  t.equal(cw.get('flag_t'), 'true');
  t.equal(cw.get('flag_f'), 'false');
  t.equal(cw.get('one'), '1');
  t.equal(Tuple.fromJSON({ n: 0.5, big: 1e21, neg: -3 }).get('n'), '0.5');
  t.equal(Tuple.fromJSON({ n: 0.5, big: 1e21, neg: -3 }).get('big'), '1e+21');
  t.equal(Tuple.fromJSON({ n: 0.5, big: 1e21, neg: -3 }).get('neg'), '-3');
  const list = cw.vector('list') as Vector;
  t.ok(list instanceof Vector);
  t.same(list.items, ['x', '2', 'true']);
  t.equal(list.length, 3);
  t.equal(list.path, 'cloudwatch.list');
  t.equal(list.itemPath(2), 'cloudwatch.list[2]');
  t.same(list.strings(), ['x', '2', 'true']);
  t.equal(cw.path, 'cloudwatch');
  t.equal(cw.pathOf('interval'), 'cloudwatch.interval');
  t.equal((cw.tuple('nested') as Tuple).path, 'cloudwatch.nested');
  t.same(manifest.toJSON(), {
    uk: { shutdown_timeout: '5' },
    cloudwatch: Object.fromEntries(
      Object.entries({
        mem_metrics_interval: 'abc',
        interval: '60',
        spaced: ' 42 ',
        negative: '-1',
        fraction: '1.5',
        huge: '99999999999999999999',
        flag_t: 'true',
        flag_f: 'false',
        yes: 'YES',
        off: 'off',
        one: '1',
        maybe: 'maybe',
        empty: '',
        size_k: '512k',
        size_m: '8M',
        size_g: '1g',
        size_G: '2G',
        size_plain: '4096',
        size_b: '16kb',
        size_spaced: '3 m',
        size_bad: '8X',
        size_neg: '-8m',
        mode: 'udp',
        nested: { a: 'b' },
        list: ['x', '2', 'true'],
        mixed: ['x', { y: 'z' }],
      }),
    ),
    consoles: ['-serial', '+syslog'],
  });
  t.equal(Tuple.fromJSON({ a: { b: 'c' } }, 'root').pathOf('a'), 'root.a');
  t.equal((Tuple.fromJSON({ a: { b: 'c' } }, 'root').tuple('a') as Tuple).pathOf('b'), 'root.a.b');
});

t.test('fromJSON rejects null, non-finite numbers and non-objects', async (t) => {
  throwsUk(
    t,
    () => Tuple.fromJSON({ syslog: { server: null } }),
    'UK_ERR_MANIFEST_VALUE',
    'syslog.server: expected a string, number, boolean, object or array, got null',
    'syslog.server',
  );
  throwsUk(
    t,
    () => Tuple.fromJSON({ consoles: ['+a', null] }),
    'UK_ERR_MANIFEST_VALUE',
    'consoles[1]: expected a string, number, boolean, object or array, got null',
  );
  throwsUk(t, () => Tuple.fromJSON(null), 'UK_ERR_MANIFEST_VALUE', 'manifest: expected a string, number, boolean, object or array, got null');
  throwsUk(t, () => Tuple.fromJSON({ x: Infinity }), 'UK_ERR_MANIFEST_VALUE', 'x: expected a finite number, got Infinity');
  throwsUk(t, () => Tuple.fromJSON({ x: NaN }), 'UK_ERR_MANIFEST_VALUE', 'x: expected a finite number, got NaN');
  throwsUk(t, () => Tuple.fromJSON({ x: undefined }), 'UK_ERR_MANIFEST_VALUE', 'x: expected a string, number, boolean, object or array, got undefined');
  throwsUk(t, () => Tuple.fromJSON(['a']), 'UK_ERR_MANIFEST_VALUE', 'manifest: expected a JSON object, got a vector (JSON array)');
  throwsUk(t, () => Tuple.fromJSON('text', 'gcp'), 'UK_ERR_MANIFEST_VALUE', 'gcp: expected a JSON object, got "text"', 'gcp');
  try {
    Tuple.fromJSON({ a: null });
    t.fail('should throw');
  } catch (err) {
    t.equal(isUkError(err) && err.fix, 'remove the key or give it a value');
  }
});

t.test('the manifest is immutable', async (t) => {
  t.ok(Object.isFrozen(manifest));
  t.ok(Object.isFrozen(cw));
  const list = cw.vector('list') as Vector;
  t.ok(Object.isFrozen(list));
  t.ok(Object.isFrozen(list.items));
  t.throws(() => {
    (list.items as string[]).push('y');
  }, TypeError);
  t.throws(() => {
    (manifest as unknown as { path: string }).path = 'x';
  }, TypeError);
  const changed = cw.with('mode', 'tcp');
  t.equal(changed.get('mode'), 'tcp');
  t.equal(cw.get('mode'), 'udp', 'with() leaves the original alone');
  t.equal(changed.path, 'cloudwatch');
  t.equal(changed.keys().length, cw.keys().length);
  const added = cw.with('new_key', 'v');
  t.equal(added.keys().length, cw.keys().length + 1);
  t.notOk(cw.has('new_key'));
  const source = { a: { b: 'c' } };
  const built = Tuple.fromJSON(source);
  source.a.b = 'changed';
  t.equal((built.tuple('a') as Tuple).get('b'), 'c', 'later changes to the JSON do not reach the manifest');
  t.same(Tuple.empty('x').keys(), []);
  t.equal(Tuple.empty('x').path, 'x');
});

t.test('string and requireString', async (t) => {
  t.equal(cw.string('mode'), 'udp');
  t.equal(cw.string('absent'), undefined);
  t.equal(cw.string('absent', 'dflt'), 'dflt');
  t.equal(cw.string('empty', 'dflt'), '', 'an empty string is a value');
  throwsUk(t, () => cw.string('nested'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.nested: expected a string, got a tuple (JSON object)', 'cloudwatch.nested');
  throwsUk(t, () => cw.string('list'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.list: expected a string, got a vector (JSON array)');
  t.equal(cw.requireString('mode'), 'udp');
  throwsUk(t, () => cw.requireString('absent'), 'UK_ERR_MANIFEST_MISSING', 'cloudwatch.absent: required, expected a string', 'cloudwatch.absent');
  throwsUk(t, () => cw.requireString('absent', 'a host name'), 'UK_ERR_MANIFEST_MISSING', 'cloudwatch.absent: required, expected a host name');
  throwsUk(t, () => cw.requireString('empty', 'a host name'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.empty: expected a host name, got ""');
  throwsUk(t, () => cw.requireString('nested'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.nested: expected a string, got a tuple (JSON object)');
});

t.test('uint with range and what', async (t) => {
  t.equal(cw.uint('interval'), 60);
  t.equal(cw.uint('spaced'), 42, 'surrounding spaces are allowed');
  t.equal(cw.uint('absent'), undefined);
  t.equal(cw.uint('absent', { default: 7 }), 7);
  t.equal(cw.uint('interval', { min: 60, max: 60 }), 60, 'bounds are inclusive');
  throwsUk(
    t,
    () => cw.uint('mem_metrics_interval', { what: 'a whole number of seconds' }),
    'UK_ERR_MANIFEST_VALUE',
    'cloudwatch.mem_metrics_interval: expected a whole number of seconds, got "abc"',
    'cloudwatch.mem_metrics_interval',
  );
  throwsUk(t, () => cw.uint('mem_metrics_interval'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.mem_metrics_interval: expected a whole number, got "abc"');
  throwsUk(t, () => cw.uint('negative'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.negative: expected a whole number, got "-1"');
  throwsUk(t, () => cw.uint('fraction'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.fraction: expected a whole number, got "1.5"');
  throwsUk(t, () => cw.uint('huge'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.huge: expected a whole number, got "99999999999999999999"');
  throwsUk(
    t,
    () => cw.uint('interval', { min: 1, max: 59, what: 'a whole number of seconds' }),
    'UK_ERR_MANIFEST_VALUE',
    'cloudwatch.interval: expected a whole number of seconds from 1 to 59, got "60"',
  );
  throwsUk(
    t,
    () => cw.uint('interval', { min: 61 }),
    'UK_ERR_MANIFEST_VALUE',
    `cloudwatch.interval: expected a whole number from 61 to ${Number.MAX_SAFE_INTEGER}, got "60"`,
  );
  throwsUk(t, () => cw.uint('nested', { default: 1 }), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.nested: expected a whole number, got a tuple (JSON object)');
});

t.test('bool', async (t) => {
  t.equal(cw.bool('flag_t', false), true);
  t.equal(cw.bool('flag_f', true), false);
  t.equal(cw.bool('yes', false), true, 'YES in any case');
  t.equal(cw.bool('off', true), false);
  t.equal(cw.bool('one', false), true);
  t.equal(cw.bool('absent', true), true);
  t.equal(cw.bool('absent', false), false);
  t.equal(Tuple.fromJSON({ a: 'on', b: '0', c: 'no', d: ' True ' }).bool('a', false), true);
  t.equal(Tuple.fromJSON({ a: 'on', b: '0', c: 'no', d: ' True ' }).bool('b', true), false);
  t.equal(Tuple.fromJSON({ a: 'on', b: '0', c: 'no', d: ' True ' }).bool('c', true), false);
  t.equal(Tuple.fromJSON({ a: 'on', b: '0', c: 'no', d: ' True ' }).bool('d', false), true);
  throwsUk(t, () => cw.bool('maybe', false), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.maybe: expected true or false, got "maybe"', 'cloudwatch.maybe');
  throwsUk(t, () => cw.bool('list', false), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.list: expected true or false, got a vector (JSON array)');
});

t.test('size with k, m, g in either case', async (t) => {
  const d = { default: 1 };
  t.equal(cw.size('size_k', d), 512 * 1024);
  t.equal(cw.size('size_m', d), 8 * 1024 * 1024);
  t.equal(cw.size('size_g', d), 1024 ** 3);
  t.equal(cw.size('size_G', d), 2 * 1024 ** 3);
  t.equal(cw.size('size_plain', d), 4096);
  t.equal(cw.size('size_b', d), 16 * 1024);
  t.equal(cw.size('size_spaced', d), 3 * 1024 * 1024);
  t.equal(cw.size('absent', { default: 123 }), 123);
  const what = 'a size in bytes with an optional k, m or g suffix (e.g. 8M)';
  throwsUk(t, () => cw.size('size_bad', d), 'UK_ERR_MANIFEST_VALUE', `cloudwatch.size_bad: expected ${what}, got "8X"`, 'cloudwatch.size_bad');
  throwsUk(t, () => cw.size('size_neg', d), 'UK_ERR_MANIFEST_VALUE', `cloudwatch.size_neg: expected ${what}, got "-8m"`);
  throwsUk(t, () => cw.size('nested', d), 'UK_ERR_MANIFEST_VALUE', `cloudwatch.nested: expected ${what}, got a tuple (JSON object)`);
  throwsUk(
    t,
    () => cw.size('size_k', { default: 1, min: 1024 * 1024 }),
    'UK_ERR_MANIFEST_VALUE',
    `cloudwatch.size_k: expected a size from 1048576 to ${Number.MAX_SAFE_INTEGER} bytes, got "512k"`,
  );
  throwsUk(
    t,
    () => cw.size('size_m', { default: 1, min: 1024, max: 1024 * 1024 }),
    'UK_ERR_MANIFEST_VALUE',
    'cloudwatch.size_m: expected a size from 1024 to 1048576 bytes, got "8M"',
  );
  t.equal(cw.size('size_m', { default: 1, min: 8 * 1024 * 1024, max: 8 * 1024 * 1024 }), 8 * 1024 * 1024, 'bounds are inclusive');
});

t.test('parseSize', async (t) => {
  t.equal(parseSize('8M'), 8 * 1024 * 1024);
  t.equal(parseSize('8m'), 8 * 1024 * 1024);
  t.equal(parseSize('512K'), 512 * 1024);
  t.equal(parseSize('1G'), 1024 ** 3);
  t.equal(parseSize(' 77 '), 77);
  t.equal(parseSize('4MB'), 4 * 1024 * 1024);
  t.equal(parseSize('0'), 0);
  t.equal(parseSize('1.5m'), undefined);
  t.equal(parseSize('m'), undefined);
  t.equal(parseSize('10t'), undefined);
  t.equal(parseSize(''), undefined);
  t.equal(parseSize('99999999999999g'), undefined, 'beyond a safe integer');
});

t.test('oneOf', async (t) => {
  t.equal(cw.oneOf('mode', ['udp', 'tcp', 'tls'], 'tcp'), 'udp');
  t.equal(cw.oneOf('absent', ['udp', 'tcp'], 'tcp'), 'tcp');
  throwsUk(
    t,
    () => cw.oneOf('mode', ['tcp', 'tls'], 'tcp'),
    'UK_ERR_MANIFEST_VALUE',
    'cloudwatch.mode: expected one of "tcp", "tls", got "udp"',
    'cloudwatch.mode',
  );
  throwsUk(t, () => cw.oneOf('nested', ['a'], 'a'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.nested: expected one of "a", got a tuple (JSON object)');
});

t.test('tuple and vector', async (t) => {
  t.same((cw.tuple('nested') as Tuple).toJSON(), { a: 'b' });
  t.equal(cw.tuple('absent'), undefined);
  t.equal(cw.vector('absent'), undefined);
  throwsUk(t, () => cw.tuple('mode'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.mode: expected a tuple (JSON object), got "udp"', 'cloudwatch.mode');
  throwsUk(t, () => cw.tuple('list'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.list: expected a tuple (JSON object), got a vector (JSON array)');
  throwsUk(t, () => cw.vector('mode'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.mode: expected a vector (JSON array), got "udp"');
  throwsUk(t, () => cw.vector('nested'), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.nested: expected a vector (JSON array), got a tuple (JSON object)');
  const mixed = cw.vector('mixed') as Vector;
  throwsUk(t, () => mixed.strings(), 'UK_ERR_MANIFEST_VALUE', 'cloudwatch.mixed[1]: expected a string, got a tuple (JSON object)', 'cloudwatch.mixed[1]');
  t.equal((mixed.items[1] as Tuple).path, 'cloudwatch.mixed[1]');
  t.same(mixed.toJSON(), ['x', { y: 'z' }]);
  t.same(manifest.vector('consoles')?.strings(), ['-serial', '+syslog']);
  t.equal(manifest.vector('consoles')?.itemPath(0), 'consoles[0]');
});
