/**
 * The HTTP client the tls klib provides (HttpClientService): TLS verification with the tls
 * options, keep-alive, timeouts, error codes, and plain HTTP only when the URL says so. Every
 * test talks to a real server on loopback; certificates come from the real openssl command.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { CryptoService, HttpClientService, type HttpClient } from '@uk/core';
import { testKernel } from '@uk/core/testing';
import { createHttpClient, HttpRequestError, type GotHttpClient } from '../src/http-client.js';

interface Pki {
  readonly caFile: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** A CA and a server certificate for 127.0.0.1/localhost it signs, made by openssl in a temp dir. */
function makePki(t: Test, name: string, san = 'IP:127.0.0.1,DNS:localhost'): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'uk-http-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${name}`]);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${san}\n`);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf']);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { caFile: join(dir, 'ca.pem'), ca: read('ca.pem'), cert: read('server.pem'), key: read('server.key') };
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  remotePort: number;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

const echo: Handler = (req, res, body) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ method: req.method, body }));
};

/** An HTTP or HTTPS server on loopback that records requests and connections. */
async function startServer(t: Test, options: { pki?: Pki; tls?: https.ServerOptions; handler?: Handler } = {}) {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, remotePort: req.socket.remotePort ?? 0 });
      (options.handler ?? echo)(req, res, body);
    });
  };
  const server = options.pki ? https.createServer({ cert: options.pki.cert, key: options.pki.key, ...options.tls }, onRequest) : http.createServer(onRequest);
  server.on(options.pki ? 'secureConnection' : 'connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  return { port, seen, connections: () => connections, url: `${options.pki ? 'https' : 'http'}://127.0.0.1:${port}` };
}

function client(t: Test, options: Parameters<typeof createHttpClient>[0] = {}): GotHttpClient {
  const c = createHttpClient(options);
  t.teardown(() => c.close());
  return c;
}

async function failure(promise: Promise<unknown>): Promise<HttpRequestError> {
  try {
    await promise;
  } catch (err) {
    return err as HttpRequestError;
  }
  throw new Error('expected the request to fail');
}

const tlsKlibPath = fileURLToPath(new URL('../src/index.ts', import.meta.url));

/** Boots a kernel with the tls klib from this package's source and returns its HTTP client. */
async function bootTls(t: Test, tuple: Record<string, unknown> | undefined) {
  const { kernel } = testKernel({ Klibs: [`tls=${tlsKlibPath}`], ManifestPassthrough: tuple === undefined ? {} : { tls: tuple } });
  const report = await kernel.boot();
  t.same(
    report.problems.map((p) => p.message),
    [],
    'boots without problems',
  );
  return { kernel, http: kernel.services.get(HttpClientService) };
}

t.test('the tls klib provides the HTTP client and the crypto primitives', async (t) => {
  const { kernel, http: httpClient } = await bootTls(t, undefined);
  t.ok(httpClient, 'HttpClientService is provided');
  const crypto = kernel.services.get(CryptoService);
  t.equal(crypto.sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const server = await startServer(t);
  const response = await httpClient.request({ method: 'POST', url: `${server.url}/x?y=1`, headers: { 'content-type': 'text/plain' }, body: 'hi' });
  t.equal(response.statusCode, 200);
  t.same(JSON.parse(response.body.toString()), { method: 'POST', body: 'hi' });
  t.equal(server.seen[0]?.url, '/x?y=1');
});

t.test('HTTPS verifies the server: unknown CA refused by default, trusted with ca_file', async (t) => {
  const pki = makePki(t, 'uk http test CA');
  const server = await startServer(t, { pki });
  const url = `https://127.0.0.1:${server.port}/`;

  const { http: strict } = await bootTls(t, undefined);
  const err = await failure(strict.request({ method: 'GET', url }));
  t.type(err, HttpRequestError);
  t.match(err.code, /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE/, `refused: ${err.code}`);
  t.equal(server.seen.length, 0, 'no request reached the server');

  const { http: trusting } = await bootTls(t, { ca_file: pki.caFile });
  const ok = await trusting.request({ method: 'GET', url });
  t.equal(ok.statusCode, 200, 'ca_file makes the private CA trusted');

  const other = makePki(t, 'uk other CA');
  const { http: wrongCa } = await bootTls(t, { ca_file: other.caFile });
  const wrong = await failure(wrongCa.request({ method: 'GET', url }));
  t.match(
    wrong.code,
    /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN/,
    'another CA does not vouch for the server',
  );
});

t.test('HTTPS checks the name: a certificate for another host is refused', async (t) => {
  const pki = makePki(t, 'uk name CA', 'DNS:logs.example.com');
  const server = await startServer(t, { pki });
  const { http: c } = await bootTls(t, { ca_file: pki.caFile });
  // A trusted CA, but the certificate names logs.example.com, not 127.0.0.1.
  const err = await failure(c.request({ method: 'GET', url: `https://127.0.0.1:${server.port}/` }));
  t.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

t.test('reject_unauthorized: false accepts any certificate', async (t) => {
  const pki = makePki(t, 'uk untrusted CA');
  const server = await startServer(t, { pki });
  const { http: c } = await bootTls(t, { reject_unauthorized: false });
  const response = await c.request({ method: 'GET', url: `https://127.0.0.1:${server.port}/` });
  t.equal(response.statusCode, 200);
});

t.test('min_version TLSv1.3 refuses a TLS 1.2 server; the default accepts it', async (t) => {
  const pki = makePki(t, 'uk version CA');
  const server = await startServer(t, { pki, tls: { maxVersion: 'TLSv1.2' } });
  const url = `https://127.0.0.1:${server.port}/`;
  const { http: modern } = await bootTls(t, { ca_file: pki.caFile, min_version: 'TLSv1.3' });
  const err = await failure(modern.request({ method: 'GET', url }));
  t.match(err.code, /ERR_SSL_|EPROTO|ECONNRESET/, `refused: ${err.code}`);
  t.equal(server.seen.length, 0);
  const { http: defaults } = await bootTls(t, { ca_file: pki.caFile });
  t.equal((await defaults.request({ method: 'GET', url })).statusCode, 200, 'TLS 1.2 is the default minimum');
});

t.test('NODE_EXTRA_CA_CERTS is trusted, with and without ca_file', async (t) => {
  const distIndex = fileURLToPath(new URL('../dist/index.js', import.meta.url));
  t.ok(existsSync(distIndex), 'packages/tls is built (nx runs build before test)');
  const extra = makePki(t, 'uk extra CA');
  const fileCa = makePki(t, 'uk file CA');
  const extraServer = await startServer(t, { pki: extra });
  const fileServer = await startServer(t, { pki: fileCa });
  // Node reads NODE_EXTRA_CA_CERTS when a process starts, so a fresh process shows the real behaviour.
  const script = `
    const { readTlsOptions, trustStore, createHttpClient } = await import(${JSON.stringify(distIndex)});
    const { Tuple } = await import('@uk/core');
    const tuple = JSON.parse(process.argv[1]);
    const options = readTlsOptions({ config: Tuple.fromJSON(tuple, 'tls'), env: {}, manifest: Tuple.empty(), cloudConfig: Tuple.empty('CloudConfig') });
    const store = trustStore(options);
    const client = createHttpClient({ tls: { ca: store.ca, minVersion: options.minVersion, rejectUnauthorized: options.rejectUnauthorized } });
    const out = [];
    for (const url of process.argv.slice(2)) {
      try { out.push((await client.request({ method: 'GET', url })).statusCode); } catch (err) { out.push(err.code); }
    }
    client.close();
    console.log(JSON.stringify(out));`;
  const run = async (tuple: object): Promise<unknown[]> => {
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', script, JSON.stringify(tuple), `https://127.0.0.1:${extraServer.port}/`, `https://127.0.0.1:${fileServer.port}/`],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: extra.caFile },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await once(child, 'close');
    clearTimeout(timer);
    return JSON.parse(out) as unknown[];
  };
  t.same(await run({}), [200, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'], 'without ca_file: the extra CA is trusted, the other is not');
  t.same(await run({ ca_file: fileCa.caFile }), [200, 200], 'with ca_file: both the extra CA and the ca_file CA are trusted');
});

t.test('plain HTTP only when the URL says http://; other schemes refused', async (t) => {
  const plain = await startServer(t);
  const c = client(t);
  t.equal((await c.request({ method: 'GET', url: `http://127.0.0.1:${plain.port}/` })).statusCode, 200, 'http:// URL: plain HTTP');
  const err = await failure(c.request({ method: 'GET', url: `https://127.0.0.1:${plain.port}/` }));
  t.match(err.code, /EPROTO|ERR_SSL_/, 'https:// URL against a plain server: TLS fails, no fallback to HTTP');
  t.equal(plain.seen.length, 1, 'the plain server only saw the http:// request');
  t.equal((await failure(c.request({ method: 'GET', url: 'ftp://127.0.0.1/' }))).code, 'ERR_UNSUPPORTED_PROTOCOL');
  t.equal((await failure(c.request({ method: 'GET', url: 'not a url' }))).code, 'ERR_INVALID_URL');
  t.equal((await failure(c.request({ method: 'GET', url: `http://user:pw@127.0.0.1:${plain.port}/` }))).code, 'ERR_INVALID_URL');
});

t.test('every status resolves and redirects are not followed', async (t) => {
  const server = await startServer(t, {
    handler: (req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' });
        res.end();
      } else {
        res.writeHead(503, { 'content-type': 'application/json', 'x-amzn-errortype': 'ServiceUnavailableException' });
        res.end('{"__type":"ServiceUnavailableException"}');
      }
    },
  });
  const c = client(t);
  const unavailable = await c.request({ method: 'POST', url: `${server.url}/`, body: '{}' });
  t.equal(unavailable.statusCode, 503);
  t.equal(unavailable.headers['x-amzn-errortype'], 'ServiceUnavailableException');
  t.equal(unavailable.body.toString(), '{"__type":"ServiceUnavailableException"}');
  const redirect = await c.request({ method: 'GET', url: `${server.url}/redirect` });
  t.equal(redirect.statusCode, 302, 'the redirect is returned, not followed');
  t.equal(server.seen.length, 2);
});

t.test('keep-alive: sequential requests share one connection', async (t) => {
  const server = await startServer(t);
  const c = client(t);
  for (let i = 0; i < 5; i++) {
    const response = await c.request({ method: 'POST', url: `${server.url}/`, body: `n=${i}` });
    t.equal((JSON.parse(response.body.toString()) as { body: string }).body, `n=${i}`);
  }
  t.equal(server.connections(), 1, 'one TCP connection for five requests');
  t.equal(new Set(server.seen.map((s) => s.remotePort)).size, 1);
  t.equal(server.seen[0]?.headers.connection, 'keep-alive');
});

t.test('timeouts and network failures reject with their code', async (t) => {
  const silent = await startServer(t, { handler: () => {} });
  const c = client(t);
  const started = performance.now();
  const timeout = await failure(c.request({ method: 'GET', url: `${silent.url}/`, timeoutMs: 300 }));
  const elapsed = performance.now() - started;
  t.equal(timeout.code, 'ETIMEDOUT');
  t.ok(elapsed >= 250 && elapsed < 5000, `gave up after the timeout (${elapsed.toFixed(0)} ms)`);

  const reset = await startServer(t, { handler: (req) => req.socket.destroy() });
  t.equal((await failure(c.request({ method: 'POST', url: `${reset.url}/`, body: 'x' }))).code, 'ECONNRESET');

  // A port that was just freed refuses connections.
  const gone = http.createServer();
  gone.listen(0, '127.0.0.1');
  await once(gone, 'listening');
  const port = (gone.address() as AddressInfo).port;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  t.equal((await failure(c.request({ method: 'GET', url: `http://127.0.0.1:${port}/` }))).code, 'ECONNREFUSED');
});

t.test('errors name the method and host, never headers, query or body', async (t) => {
  const reset = await startServer(t, { handler: (req) => req.socket.destroy() });
  const c: HttpClient = client(t);
  const err = await failure(
    c.request({
      method: 'POST',
      url: `${reset.url}/path?X-Amz-Signature=secret-sig`,
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDSECRET' },
      body: 'secret-body',
    }),
  );
  t.match(err.message, new RegExp(`^POST http://127\\.0\\.0\\.1:${reset.port}: `));
  t.notMatch(err.message, /secret|AKID|path/);
  t.notMatch(JSON.stringify(err), /secret|AKID/);
  t.equal(err.stack?.includes('secret'), false);
});

t.test('a response larger than the limit is refused', async (t) => {
  const big = await startServer(t, { handler: (_req, res) => res.end(Buffer.alloc(64 * 1024, 'x')) });
  const c = client(t, { maxResponseBytes: 1024 });
  t.equal((await failure(c.request({ method: 'GET', url: `${big.url}/` }))).code, 'ERR_RESPONSE_TOO_LARGE');
  const roomy = client(t, { maxResponseBytes: 128 * 1024 });
  t.equal((await roomy.request({ method: 'GET', url: `${big.url}/` })).body.length, 64 * 1024);
});
