// Configuration errors as the operator sees them: `uk validate` and `uk run --strict` with the
// real CLI, each with its code and message.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EMIT, runUk, tempDir, writeConfig } from './helpers/uk.js';

t.test('no syslog tuple: the klib fails to load with UK_ERR_KLIB_CONFIG_MISSING', async (t) => {
  const dir = tempDir();
  const config = writeConfig(dir, { Klibs: ['syslog'] });
  const validate = await runUk(config, [], { command: 'validate' });
  t.equal(validate.code, 1);
  t.match(
    validate.stdout,
    /^error UK_ERR_KLIB_CONFIG_MISSING: syslog: configuration tuple "syslog" is missing from ManifestPassthrough \(add "syslog": \{ … \} to ManifestPassthrough\)$/m,
  );

  const run = await runUk(config, [EMIT, '--count', '2']);
  t.equal(run.code, 0, 'without --strict the program still runs (as Nanos boots without a failed klib)');
  t.equal(run.stdout, 'line 0\nline 1\n');
  t.match(run.stderr, /uk: UK_ERR_KLIB_CONFIG_MISSING: syslog: configuration tuple "syslog" is missing from ManifestPassthrough/);
  t.match(run.stderr, /klibs: syslog \(failed/);

  const strict = await runUk(config, [EMIT, '--count', '2'], { strict: true });
  t.equal(strict.code, 2);
  t.equal(strict.stdout, '', 'the program did not run');
});

t.test('an unknown key: syslog: invalid option, with UK_ERR_OPTION_UNKNOWN', async (t) => {
  const dir = tempDir();
  const config = writeConfig(dir, { Klibs: ['syslog'], ManifestPassthrough: { syslog: { server: 'h', sever_port: 514 } } });
  const validate = await runUk(config, [], { command: 'validate' });
  t.equal(validate.code, 1);
  t.match(
    validate.stdout,
    /^error UK_ERR_OPTION_UNKNOWN: syslog: invalid option 'sever_port' \(known options: server, server_port, transport, file, file_max_size, file_rotate, facility, severity, hostname, max_message_size, buffer_size, resend_window, backpressure, spool, spool_max_size\)$/m,
  );
  const strict = await runUk(config, [EMIT], { strict: true });
  t.equal(strict.code, 2);
  t.match(strict.stderr, /uk: UK_ERR_OPTION_UNKNOWN: syslog: invalid option 'sever_port'/);
});

t.test('every problem of the tuple is listed at once, each with its code, option and value', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'plain'), '');
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    ManifestPassthrough: {
      syslog: {
        server: 'h',
        server_port: 65536,
        file: join(dir, 'plain', 'a.log'),
        file_max_size: '10q',
        file_rotate: 10,
        transport: 'sctp',
        facility: 'kernel',
      },
    },
  });
  const validate = await runUk(config, [], { command: 'validate' });
  t.equal(validate.code, 1);
  const errors = validate.stdout.split('\n').filter((l) => l.startsWith('error '));
  t.same(errors, [
    'error UK_ERR_MANIFEST_VALUE: syslog.transport: expected one of "udp", "tcp", "tls", got "sctp"',
    'error UK_ERR_MANIFEST_VALUE: syslog.server_port: expected a port number from 1 to 65535, got "65536"',
    `error UK_ERR_MANIFEST_VALUE: syslog.file: cannot write to ${join(dir, 'plain', 'a.log')}: ${join(dir, 'plain')} is not a directory`,
    'error UK_ERR_MANIFEST_VALUE: syslog.file_max_size: expected a size in bytes with an optional k, m or g suffix (e.g. 8M), got "10q"',
    'error UK_ERR_MANIFEST_VALUE: syslog.file_rotate: expected a whole number from 0 to 9, got "10"',
    'error UK_ERR_MANIFEST_VALUE: syslog.facility: expected a facility name (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron, local0, local1, local2, local3, local4, local5, local6, local7) or a number from 0 to 23, got "kernel"',
  ]);
  t.match(validate.stdout, /: 6 problem\(s\)/);
  const run = await runUk(config, [EMIT]);
  t.match(run.stderr, /uk: UK_ERR_OPTIONS_INVALID: syslog: 6 invalid options: syslog\.transport: expected one of/, 'at run time, one message listing all six');
});

t.test('a valid configuration validates, with the load order', async (t) => {
  const dir = tempDir();
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    ManifestPassthrough: { syslog: { server: 'logs.example.com', file: join(dir, 'a.log'), file_max_size: '16M', file_rotate: 5 } },
  });
  const validate = await runUk(config, [], { command: 'validate' });
  t.equal(validate.code, 0, validate.stdout);
  t.match(validate.stdout, /OK; klibs load in this order: syslog/);
});
