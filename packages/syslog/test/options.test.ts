import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { Tuple, type UkError } from '@uk/core';
import syslog, { appNameOf, readSyslogOptions, syslogDependencies } from '../src/index.js';
import { tempDir } from './helpers/uk.js';

const dir = tempDir('uk-syslog-options-');
// A regular file where a directory would have to be: missing directories are created, this cannot be.
const plainFile = join(dir, 'plain-file');
writeFileSync(plainFile, '');
const optionsOf = (tuple: Record<string, unknown>) =>
  readSyslogOptions({ config: Tuple.fromJSON(tuple, 'syslog'), env: {}, manifest: Tuple.empty(), cloudConfig: Tuple.empty('CloudConfig') });

function problem(tuple: Record<string, unknown>): UkError {
  try {
    optionsOf(tuple);
  } catch (err) {
    return err as UkError;
  }
  throw new Error(`expected ${JSON.stringify(tuple)} to be refused`);
}

t.test('defaults (as Nanos: port 514, 8 MB files, one old file)', async (t) => {
  const o = optionsOf({ server: 'logs.example.com' });
  t.same(o, {
    server: 'logs.example.com',
    port: 514,
    transport: 'udp',
    file: undefined,
    fileMaxSize: 8 * 1024 * 1024,
    fileRotate: 1,
    facility: 1,
    severity: { stdout: 6, stderr: 3, kernel: 5 },
    hostname: hostname(),
    maxMessageSize: 8096,
    bufferSize: 4 * 1024 * 1024,
    resendWindowMs: 2000,
    backpressure: true,
    spool: { enabled: true, maxBytes: undefined },
  });
  t.same(
    optionsOf({ server: 'h', spool: false, spool_max_size: '2m' }).spool,
    { enabled: false, maxBytes: 2 * 1024 * 1024 },
    'the disk spool: opted out, a limit of its own',
  );
  t.equal(optionsOf({ server: 'h', transport: 'tls' }).port, 6514, 'TLS defaults to 6514 (RFC 5425)');
  t.equal(optionsOf({ server: 'h', transport: 'tcp' }).port, 514);
  t.equal(optionsOf({ file: join(dir, 'a.log') }).file, join(dir, 'a.log'));
  t.equal(optionsOf({ file: 'rel.log' }).file, resolve('rel.log'), 'relative to the working directory');
});

t.test('numbers may be JSON numbers or strings (Ops writes them as strings)', async (t) => {
  const o = optionsOf({ server: '10.0.0.1', server_port: 1514, file: join(dir, 'b.log'), file_rotate: '9', max_message_size: 2048 });
  t.equal(o.port, 1514);
  t.equal(o.fileRotate, 9);
  t.equal(o.maxMessageSize, 2048);
  t.equal(optionsOf({ file: join(dir, 'b.log'), file_rotate: 0 }).fileRotate, 0, '0 means truncate');
});

t.test('size suffixes k, m, g in either case', async (t) => {
  const size = (v: unknown) => optionsOf({ file: join(dir, 's.log'), file_max_size: v }).fileMaxSize;
  t.equal(size('4096'), 4096);
  t.equal(size(4096), 4096);
  t.equal(size('512k'), 512 * 1024);
  t.equal(size('512K'), 512 * 1024);
  t.equal(size('8m'), 8 * 1024 * 1024);
  t.equal(size('8M'), 8 * 1024 * 1024);
  t.equal(size('1g'), 1024 ** 3);
  t.equal(size('1G'), 1024 ** 3);
  t.equal(size('2MB'), 2 * 1024 * 1024, 'a trailing B is accepted');
  t.equal(optionsOf({ server: 'h', buffer_size: '128k' }).bufferSize, 128 * 1024);
});

t.test('facility and severity by name or number', async (t) => {
  const o = optionsOf({ server: 'h', facility: 'local3', severity: { stdout: 'notice', stderr: 'warning', kernel: 'err' } });
  t.equal(o.facility, 19);
  t.same(o.severity, { stdout: 5, stderr: 4, kernel: 3 });
  t.equal(optionsOf({ server: 'h', facility: 'DAEMON' }).facility, 3);
  t.equal(optionsOf({ server: 'h', facility: 23 }).facility, 23);
  t.same(optionsOf({ server: 'h', severity: { stderr: '2' } }).severity, { stdout: 6, stderr: 2, kernel: 5 }, 'unset sources keep their default');
});

t.test('the tls dependency applies only to transport tls', async (t) => {
  t.same(syslogDependencies(undefined), []);
  t.same(syslogDependencies(Tuple.fromJSON({ server: 'h' })), []);
  t.same(syslogDependencies(Tuple.fromJSON({ server: 'h', transport: 'tcp' })), []);
  t.same(syslogDependencies(Tuple.fromJSON({ server: 'h', transport: 'tls' })), ['tls']);
  t.equal(syslog.whenUnconfigured, 'fail');
  t.equal(syslog.name, 'syslog');
});

t.test('APP-NAME is cleaned to at most 48 printable ASCII characters', async (t) => {
  t.equal(appNameOf('webg'), 'webg');
  t.equal(appNameOf('my app\tv2'), 'my_app_v2');
  t.equal(appNameOf('x'.repeat(60)), 'x'.repeat(48));
  t.equal(appNameOf(''), '-');
  t.equal(appNameOf(undefined), '-');
});

t.test('every invalid option is refused with its code, naming the option and the value', async (t) => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ server: 'h', servr: 'x' }, 'UK_ERR_OPTION_UNKNOWN', "syslog: invalid option 'servr'"],
    [{ server: 'h', server_port: 70000 }, 'UK_ERR_MANIFEST_VALUE', 'syslog.server_port: expected a port number from 1 to 65535, got "70000"'],
    [{ server: 'h', server_port: 0 }, 'UK_ERR_MANIFEST_VALUE', 'syslog.server_port: expected a port number from 1 to 65535, got "0"'],
    [{ server: 'h', server_port: 'http' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.server_port: expected a port number, got "http"'],
    [{ server: '' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.server: expected a host name or address, got ""'],
    [{ server: 'logs:514' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.server: expected a host name or address (put the port in server_port), got "logs:514"'],
    [{ server: { host: 'h' } }, 'UK_ERR_MANIFEST_VALUE', 'syslog.server: expected a string, got a tuple (JSON object)'],
    [{ server: 'h', transport: 'TLS' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.transport: expected one of "udp", "tcp", "tls", got "TLS"'],
    [{ file: '' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.file: expected a file path, got ""'],
    [
      { file: join(plainFile, 'sub', 'app.log') },
      'UK_ERR_MANIFEST_VALUE',
      `syslog.file: cannot write to ${join(plainFile, 'sub', 'app.log')}: ${plainFile} is not a directory`,
    ],
    [{ file: dir }, 'UK_ERR_MANIFEST_VALUE', `syslog.file: cannot write to ${dir}: it is a directory`],
    [
      { file: 'a.log', file_max_size: '8x' },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.file_max_size: expected a size in bytes with an optional k, m or g suffix (e.g. 8M), got "8x"',
    ],
    [{ file: 'a.log', file_max_size: '0' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.file_max_size: expected a size from 1 to 9007199254740991 bytes, got "0"'],
    [
      { file: 'a.log', file_max_size: '-1M' },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.file_max_size: expected a size in bytes with an optional k, m or g suffix (e.g. 8M), got "-1M"',
    ],
    [{ file: 'a.log', file_rotate: 10 }, 'UK_ERR_MANIFEST_VALUE', 'syslog.file_rotate: expected a whole number from 0 to 9, got "10"'],
    [{ file: 'a.log', file_rotate: 'two' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.file_rotate: expected a whole number, got "two"'],
    [
      { server: 'h', facility: 'local8' },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.facility: expected a facility name (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron, local0, local1, local2, local3, local4, local5, local6, local7) or a number from 0 to 23, got "local8"',
    ],
    [
      { server: 'h', facility: 24 },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.facility: expected a facility name (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron, local0, local1, local2, local3, local4, local5, local6, local7) or a number from 0 to 23, got "24"',
    ],
    [{ server: 'h', severity: 'info' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.severity: expected a tuple (JSON object), got "info"'],
    [{ server: 'h', severity: { stdin: 'info' } }, 'UK_ERR_OPTION_UNKNOWN', "syslog.severity: invalid option 'stdin'"],
    [
      { server: 'h', severity: { stderr: 'loud' } },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.severity.stderr: expected a severity name (emerg, alert, crit, err, error, warning, warn, notice, info, debug) or a number from 0 to 7, got "loud"',
    ],
    [
      { server: 'h', severity: { stdout: 8 } },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.severity.stdout: expected a severity name (emerg, alert, crit, err, error, warning, warn, notice, info, debug) or a number from 0 to 7, got "8"',
    ],
    [
      { server: 'h', hostname: 'my host' },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.hostname: expected a host name of 1 to 255 printable ASCII characters without spaces, got "my host"',
    ],
    [
      { server: 'h', hostname: '' },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.hostname: expected a host name of 1 to 255 printable ASCII characters without spaces, got ""',
    ],
    [{ server: 'h', max_message_size: 100 }, 'UK_ERR_MANIFEST_VALUE', 'syslog.max_message_size: expected a size from 480 to 65507 bytes, got "100"'],
    [{ server: 'h', max_message_size: '64k' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.max_message_size: expected a size from 480 to 65507 bytes, got "64k"'],
    [
      { server: 'h', transport: 'tcp', max_message_size: '2m' },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.max_message_size: expected a size from 480 to 1048576 bytes, got "2m"',
    ],
    [{ server: 'h', buffer_size: '1k' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.buffer_size: expected a size from 65536 to 1073741824 bytes, got "1k"'],
    [
      { server: 'h', resend_window: 70000 },
      'UK_ERR_MANIFEST_VALUE',
      'syslog.resend_window: expected a whole number of milliseconds from 0 to 60000, got "70000"',
    ],
    [{ server: 'h', backpressure: 'sometimes' }, 'UK_ERR_MANIFEST_VALUE', 'syslog.backpressure: expected true or false, got "sometimes"'],
    [{}, 'UK_ERR_MANIFEST_MISSING', 'syslog: neither server nor file is set, so there is nowhere to send the output'],
    [{ transport: 'tcp', file: 'a.log' }, 'UK_ERR_MANIFEST_MISSING', 'syslog.transport: set, but there is no server'],
    [{ server_port: 514, file: 'a.log' }, 'UK_ERR_MANIFEST_MISSING', 'syslog.server_port: set, but there is no server'],
  ];
  for (const [tuple, code, message] of cases) {
    const err = problem(tuple);
    t.equal(err.code, code, `${JSON.stringify(tuple)}: code`);
    t.equal(err.message, message, `${JSON.stringify(tuple)}: message`);
  }
});

t.test('several problems are reported together', async (t) => {
  writeFileSync(join(dir, 'ok.log'), '');
  const err = problem({ server: 'h', server_port: 99999, file_rotate: 12, colour: 'red' });
  t.equal(err.code, 'UK_ERR_OPTIONS_INVALID');
  t.equal(err.problems.length, 3);
  t.same(
    err.problems.map((p) => p.code),
    ['UK_ERR_OPTION_UNKNOWN', 'UK_ERR_MANIFEST_VALUE', 'UK_ERR_MANIFEST_VALUE'],
  );
  t.match(err.message, /^syslog: 3 invalid options: syslog: invalid option 'colour'; syslog\.server_port: .*; syslog\.file_rotate: /);
});
