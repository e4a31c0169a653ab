import t from 'tap';
import { isUkError } from '../src/errors.js';
import { Tuple } from '../src/manifest.js';
import { OptionsReader } from '../src/options.js';
import { assertUkError, thrownBy, throwsUk } from './helpers.js';

const syslog = Tuple.fromJSON({ syslog: { server: '', server_port: 'abc', transport: 'xyz', bogus: 1, tls: { verify: 'x', extra: 'y' } } }).tuple(
  'syslog',
) as Tuple;

t.test('OptionsReader collects every problem', async (t) => {
  const reader = new OptionsReader('syslog', syslog);
  reader.allowKeys(['server', 'server_port', 'transport', 'tls']);
  const server = reader.read((c) => c.requireString('server', 'a host name'), 'fallback-host');
  const port = reader.read((c) => c.uint('server_port', { default: 514, min: 1, max: 65535, what: 'a port number' }), 514);
  const transport = reader.read((c) => c.oneOf('transport', ['udp', 'tcp', 'tls'], 'udp'), 'udp');
  const tls = reader.read((c) => c.tuple('tls'), undefined) as Tuple;
  reader.allowKeys(['verify'], tls);
  reader.read((c) => (c.tuple('tls') as Tuple).bool('verify', true), true);
  t.equal(server, 'fallback-host', 'the fallback replaces a bad value');
  t.equal(port, 514);
  t.equal(transport, 'udp');
  const messages = [
    "syslog: invalid option 'bogus'",
    'syslog.server: expected a host name, got ""',
    'syslog.server_port: expected a port number, got "abc"',
    'syslog.transport: expected one of "udp", "tcp", "tls", got "xyz"',
    "syslog.tls: invalid option 'extra'",
    'syslog.tls.verify: expected true or false, got "x"',
  ];
  t.same(
    reader.problems.map((p) => p.message),
    messages,
  );
  t.same(
    reader.problems.map((p) => p.code),
    ['UK_ERR_OPTION_UNKNOWN', 'UK_ERR_MANIFEST_VALUE', 'UK_ERR_MANIFEST_VALUE', 'UK_ERR_MANIFEST_VALUE', 'UK_ERR_OPTION_UNKNOWN', 'UK_ERR_MANIFEST_VALUE'],
  );
  const err = assertUkError(
    t,
    thrownBy(() => reader.done()),
    'UK_ERR_OPTIONS_INVALID',
    `syslog: 6 invalid options: ${messages.join('; ')}`,
    'syslog',
  );
  t.equal(err?.problems.length, 6);
  t.equal(err?.problems[0], reader.problems[0]);
});

t.test("allowKeys: syslog: invalid option 'bogus'", async (t) => {
  const reader = new OptionsReader('syslog', Tuple.fromJSON({ server: 'h', bogus: 'x' }, 'syslog'));
  reader.allowKeys(['server', 'server_port']);
  t.equal(reader.problems.length, 1);
  const err = throwsUk(t, () => reader.done(), 'UK_ERR_OPTION_UNKNOWN', "syslog: invalid option 'bogus'", 'syslog.bogus');
  t.equal(err?.fix, 'known options: server, server_port');
  t.equal(err, reader.problems[0], 'a single problem is thrown as itself');
  // A tuple with no path (the manifest root) is labelled with the klib name.
  const root = new OptionsReader('uk', Tuple.fromJSON({ typo: '1' }));
  root.allowKeys(['shutdown_timeout']);
  throwsUk(t, () => root.done(), 'UK_ERR_OPTION_UNKNOWN', "uk: invalid option 'typo'", 'typo');
});

t.test('no problems: done() returns; non-uk errors are not swallowed; problem() records', async (t) => {
  const reader = new OptionsReader('ok', Tuple.fromJSON({ a: '1' }, 'ok'));
  reader.allowKeys(['a']);
  t.equal(
    reader.read((c) => c.uint('a'), 0),
    1,
  );
  t.doesNotThrow(() => reader.done());
  t.same(reader.problems, []);
  t.throws(
    () =>
      reader.read(() => {
        throw new TypeError('a bug');
      }, 0),
    new TypeError('a bug'),
  );
  t.equal(reader.problems.length, 0);
  const other = new OptionsReader('cw', Tuple.fromJSON({}, 'cw'));
  const cross = thrownBy(() => Tuple.empty('cw').requireString('x'));
  t.ok(isUkError(cross));
  if (isUkError(cross)) other.problem(cross);
  throwsUk(t, () => other.done(), 'UK_ERR_MANIFEST_MISSING', 'cw.x: required, expected a string');
});
