// TLS (RFC 5425) against a real rsyslogd with the gtls netstream driver and a CA and server
// certificate made by openssl for the test; the connection comes from the tls klib's service.
import t from 'tap';
import { makePki } from '@uk/testkit';
import { freePort, Rsyslog } from './helpers/rsyslog.js';
import { everyLineArrives, serverRestartLosesNothing, unreachableServerIsBounded } from './helpers/scenarios.js';
import { EMIT, runUk, tempDir, writeConfig } from './helpers/uk.js';

const pki = makePki('uk syslog test CA');

t.test('TLS: every line arrives in order and rsyslog parses every field', (t) => everyLineArrives(t, 'tls', pki));

t.test('TLS: rsyslogd restarted during the run: nothing lost, reconnects >= 1, dropped 0', (t) => serverRestartLosesNothing(t, 'tls', pki));

t.test('TLS: no server at all: uk exits by the shutdown deadline and counts the loss', async (t) =>
  unreachableServerIsBounded(t, 'tls', await freePort(), pki),
);

t.test('TLS: a server whose certificate is not trusted gets nothing; the reason is shown and the loss counted', async (t) => {
  const rsyslog = await Rsyslog.start('tls', pki);
  t.teardown(() => rsyslog.stop());
  const dir = tempDir();
  // No ca_file: only the public roots are trusted, and the test CA is not one of them.
  const config = writeConfig(dir, {
    Klibs: ['tls', 'syslog'],
    ManifestPassthrough: { uk: { shutdown_timeout: 2 }, syslog: { server: '127.0.0.1', server_port: rsyslog.port, transport: 'tls' } },
  });
  const result = await runUk(config, [EMIT, '--count', '5']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  t.match(
    result.stderr,
    /send failed, retrying in \d\.\d s \(\d+ messages waiting\): (self-signed certificate in certificate chain|unable to get local issuer certificate|unable to verify the first certificate)/,
  );
  t.equal(result.stats.sent, 0);
  t.ok((result.stats.dropped ?? 0) >= 5);
  t.same(rsyslog.messages(), [], 'rsyslog received nothing');
  t.notMatch(result.stderr, /BEGIN|PRIVATE KEY/, 'no key material in the output');
});

t.test('TLS: the certificate name is checked against the server address', async (t) => {
  const other = makePki('uk syslog other CA');
  const rsyslog = await Rsyslog.start('tls', pki);
  t.teardown(() => rsyslog.stop());
  const dir = tempDir();
  // Trusting a different CA than the one that signed the server: refused.
  const config = writeConfig(dir, {
    Klibs: ['tls', 'syslog'],
    ManifestPassthrough: {
      uk: { shutdown_timeout: 1 },
      tls: { ca_file: other.caFile },
      syslog: { server: '127.0.0.1', server_port: rsyslog.port, transport: 'tls' },
    },
  });
  const result = await runUk(config, [EMIT, '--count', '1']);
  t.match(
    result.stderr,
    /send failed.*(self-signed certificate in certificate chain|unable to get local issuer certificate|unable to verify the first certificate)/,
  );
  t.equal(result.stats.sent, 0);
});

t.test('transport tls without the tls klib: syslog does not load, with the dependency named', async (t) => {
  const dir = tempDir();
  const config = writeConfig(dir, { Klibs: ['syslog'], ManifestPassthrough: { syslog: { server: '127.0.0.1', transport: 'tls' } } });
  const validate = await runUk(config, [], { command: 'validate' });
  t.equal(validate.code, 1);
  t.match(validate.stdout, /error UK_ERR_KLIB_MISSING_DEP: missing dependencies for syslog klib: tls \(add "tls" to Klibs\)/);
  const strict = await runUk(config, [EMIT, '--count', '1'], { strict: true });
  t.equal(strict.code, 2, '--strict refuses to run the program');
  t.match(strict.stderr, /uk: UK_ERR_KLIB_MISSING_DEP: missing dependencies for syslog klib: tls/);
  // transport tcp needs no tls klib: the dependency depends on the configuration.
  const tcpConfig = writeConfig(dir, { Klibs: ['syslog'], ManifestPassthrough: { syslog: { server: '127.0.0.1', transport: 'tcp' } } }, 'tcp.json');
  const tcp = await runUk(tcpConfig, [], { command: 'validate' });
  t.equal(tcp.code, 0, tcp.stdout);
  t.match(tcp.stdout, /OK; klibs load in this order: syslog/);
  const tlsConfig = writeConfig(dir, { Klibs: ['syslog', 'tls'], ManifestPassthrough: { syslog: { server: '127.0.0.1', transport: 'tls' } } }, 'tls.json');
  const tls = await runUk(tlsConfig, [], { command: 'validate' });
  t.equal(tls.code, 0, tls.stdout);
  t.match(tls.stdout, /OK; klibs load in this order: tls, syslog/, 'tls loads first even when listed after syslog');
});
