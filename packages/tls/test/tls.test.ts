import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { SecureTransportService, Tuple, type SecureTransport, type UkError } from '@uk/core';
import { testKernel } from '@uk/core/testing';
import tlsKlib from '../src/index.js';
import { readTlsOptions, trustStore } from '../src/index.js';
import { makePki, type TestPki } from '@uk/testkit';

const pki = makePki('uk test CA');
const otherPki = makePki('uk other CA');

/** A TLS server on loopback that answers "hello" to every connection. */
async function startServer(t: Test, identity: TestPki, options: tls.TlsOptions = {}): Promise<number> {
  const server = tls.createServer({ cert: identity.cert, key: identity.key, ...options }, (socket) => socket.end('hello'));
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** Boots a kernel with the tls klib (loaded as uk loads it: `Klibs: ["tls"]`). */
async function bootTls(tuple: Record<string, unknown> | undefined, env: NodeJS.ProcessEnv = {}) {
  const saved = process.env.NODE_EXTRA_CA_CERTS;
  if (env.NODE_EXTRA_CA_CERTS === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
  else process.env.NODE_EXTRA_CA_CERTS = env.NODE_EXTRA_CA_CERTS;
  try {
    const { kernel, stderr } = testKernel({ Klibs: ['tls'], ManifestPassthrough: tuple === undefined ? {} : { tls: tuple } });
    const report = await kernel.boot();
    return { kernel, report, stderr, transport: kernel.services.tryGet(SecureTransportService) };
  } finally {
    if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = saved;
  }
}

/** Connects and resolves with what the server said, or rejects with the TLS error. */
function exchange(transport: SecureTransport, port: number, servername?: string): Promise<{ text: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = transport.connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), timeoutMs: 5000 });
    let text = '';
    let protocol: string | null = null;
    socket.once('secureConnect', () => (protocol = socket.getProtocol()));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.once('error', reject);
    socket.once('close', () => (protocol ? resolve({ text, protocol }) : reject(new Error('closed before the handshake'))));
  });
}

const optionsOf = (tuple: Record<string, unknown>) =>
  readTlsOptions({ config: Tuple.fromJSON(tuple, 'tls'), env: {}, manifest: Tuple.empty(), cloudConfig: Tuple.empty('CloudConfig') });

t.test('loads without a tls tuple and verifies servers by default', async (t) => {
  const { report, transport, stderr } = await bootTls(undefined);
  t.same(
    report.klibs.map((k) => [k.name, k.status]),
    [['tls', 'loaded']],
  );
  t.same(report.problems, []);
  t.ok(transport, 'provides the secure transport service');
  const port = await startServer(t, pki);
  // The test CA is not among Node's roots: verification must refuse the server.
  const err = await exchange(transport!, port).then<undefined, NodeJS.ErrnoException>(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  t.ok(err, 'an unknown CA is refused');
  t.match(err?.code, /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  t.notMatch(stderr.text, /reject_unauthorized/, 'no warning when verification is on');
});

t.test('ca_file is trusted in addition to the default roots', async (t) => {
  const { transport } = await bootTls({ ca_file: pki.caFile });
  const port = await startServer(t, pki);
  const result = await exchange(transport!, port);
  t.equal(result.text, 'hello');
  t.equal(result.protocol, 'TLSv1.3', 'negotiates the highest version both sides have');

  const store = trustStore(optionsOf({ ca_file: pki.caFile }), {});
  t.equal(store.ca?.length, tls.rootCertificates.length + 1, 'bundled roots + the ca_file certificate');
  t.equal(store.ca?.at(-1)?.trim(), pki.ca.trim());
  t.equal(trustStore(optionsOf({}), {}).ca, undefined, 'without ca_file Node keeps its own default store');
});

t.test('the certificate name is checked: a servername the certificate lacks is refused', async (t) => {
  const { transport } = await bootTls({ ca_file: pki.caFile });
  const port = await startServer(t, pki);
  t.equal((await exchange(transport!, port, 'localhost')).text, 'hello', 'localhost is in the certificate');
  const err = await exchange(transport!, port, 'example.org').then<undefined, NodeJS.ErrnoException>(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  t.equal(err?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

t.test('with ca_file, NODE_EXTRA_CA_CERTS is still trusted', async (t) => {
  const { transport, stderr } = await bootTls({ ca_file: pki.caFile }, { NODE_EXTRA_CA_CERTS: otherPki.caFile });
  t.equal(stderr.text, '', 'nothing to warn about');
  const portA = await startServer(t, pki);
  const portB = await startServer(t, otherPki);
  t.equal((await exchange(transport!, portA)).text, 'hello', 'server signed by the ca_file CA');
  t.equal((await exchange(transport!, portB)).text, 'hello', 'server signed by the NODE_EXTRA_CA_CERTS CA');
  const store = trustStore(optionsOf({ ca_file: pki.caFile }), { NODE_EXTRA_CA_CERTS: otherPki.caFile });
  t.equal(store.ca?.length, tls.rootCertificates.length + 2);
});

t.test('an unreadable NODE_EXTRA_CA_CERTS is reported once and the rest still works', async (t) => {
  const { transport, stderr } = await bootTls({ ca_file: pki.caFile }, { NODE_EXTRA_CA_CERTS: '/nonexistent/extra.pem' });
  t.match(stderr.text, /uk: tls: cannot read NODE_EXTRA_CA_CERTS=\/nonexistent\/extra\.pem: ENOENT/);
  const port = await startServer(t, pki);
  t.equal((await exchange(transport!, port)).text, 'hello');
});

t.test('reject_unauthorized false connects to an unknown CA and warns once', async (t) => {
  const { transport, stderr } = await bootTls({ reject_unauthorized: false });
  const port = await startServer(t, pki);
  t.equal((await exchange(transport!, port)).text, 'hello');
  t.equal((await exchange(transport!, port)).text, 'hello');
  const warnings = stderr.text.split('\n').filter((line) => line.includes('reject_unauthorized is false'));
  t.equal(warnings.length, 1, 'one warning, at load, not per connection');
  t.match(warnings[0], /^uk: tls: reject_unauthorized is false: server certificates are NOT verified/);
});

t.test('min_version TLSv1.3 refuses a TLS 1.2 server; the default accepts it', async (t) => {
  const port = await startServer(t, pki, { maxVersion: 'TLSv1.2' });
  const strict = await bootTls({ ca_file: pki.caFile, min_version: 'TLSv1.3' });
  const err = await exchange(strict.transport!, port).then<undefined, NodeJS.ErrnoException>(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  t.ok(err, 'refused');
  t.match(err?.code, /ERR_SSL_(TLSV1_ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE)/);
  const lenient = await bootTls({ ca_file: pki.caFile });
  t.equal((await exchange(lenient.transport!, port)).protocol, 'TLSv1.2');
});

t.test('connect times out against a server that never answers', async (t) => {
  const { transport } = await bootTls(undefined);
  const net = await import('node:net');
  const silent = net.createServer(() => {}).listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const sockets: import('node:net').Socket[] = [];
  silent.on('connection', (s) => sockets.push(s));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const started = Date.now();
  const socket = transport!.connect({ host: '127.0.0.1', port: (silent.address() as AddressInfo).port, timeoutMs: 300 });
  const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ETIMEDOUT');
  t.ok(Date.now() - started >= 250, 'not before the timeout');
});

t.test('option errors', async (t) => {
  const problem = (tuple: Record<string, unknown>): UkError => {
    try {
      optionsOf(tuple);
    } catch (err) {
      return err as UkError;
    }
    throw new Error('expected an error');
  };
  let err = problem({ ca_fil: 'x.pem' });
  t.equal(err.code, 'UK_ERR_OPTION_UNKNOWN');
  t.equal(err.message, "tls: invalid option 'ca_fil'");

  err = problem({ ca_file: '/nonexistent/ca.pem' });
  t.equal(err.code, 'UK_ERR_MANIFEST_VALUE');
  t.equal(err.message, 'tls.ca_file: cannot read /nonexistent/ca.pem: ENOENT');

  const dir = mkdtempSync(join(tmpdir(), 'uk-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'empty.pem'), 'not a certificate\n');
  err = problem({ ca_file: join(dir, 'empty.pem') });
  t.equal(err.code, 'UK_ERR_MANIFEST_VALUE');
  t.equal(err.message, `tls.ca_file: ${join(dir, 'empty.pem')} contains no PEM certificate`);

  err = problem({ ca_file: dir });
  t.equal(err.message, `tls.ca_file: cannot read ${dir}: EISDIR`);

  err = problem({ min_version: 'TLSv1.1' });
  t.equal(err.code, 'UK_ERR_MANIFEST_VALUE');
  t.equal(err.message, 'tls.min_version: expected one of "TLSv1.2", "TLSv1.3", got "TLSv1.1"');

  err = problem({ reject_unauthorized: 'maybe' });
  t.equal(err.message, 'tls.reject_unauthorized: expected true or false, got "maybe"');

  err = problem({ min_version: 1.3, bogus: 1 });
  t.equal(err.code, 'UK_ERR_OPTIONS_INVALID');
  t.equal(err.problems.length, 2);
  t.match(err.message, /^tls: 2 invalid options: tls: invalid option 'bogus'; tls\.min_version: expected one of/);

  const ok = optionsOf({ ca_file: pki.caFile, min_version: 'TLSv1.3', reject_unauthorized: 'false' });
  t.same({ ...ok, caPem: ok.caPem?.trim() }, { caFile: pki.caFile, caPem: pki.ca.trim(), minVersion: 'TLSv1.3', rejectUnauthorized: false });
});

t.test('a bad tuple fails the klib at boot with the coded error, and no service is provided', async (t) => {
  const { report, transport } = await bootTls({ ca_file: '/nonexistent/ca.pem' });
  t.same(
    report.klibs.map((k) => [k.name, k.status]),
    [['tls', 'failed']],
  );
  t.equal(report.problems[0]?.code, 'UK_ERR_MANIFEST_VALUE');
  t.equal(transport, undefined);
  t.equal(tlsKlib.whenUnconfigured, 'init');
});
