// A real npm registry for the test: Verdaccio, as its own process, listening on loopback only.
//
// `@uk/*` and `uk-klib-*` packages live only here (never proxied: a name taken on the public
// registry must not be installed in place of what the test published). Every other package (got,
// inversify, tap…, what the published packages and the generated klib depend on) is proxied from
// the registry npm is configured with, as `npm ci` itself fetches them; npm's cache serves the
// tarballs `npm ci` already downloaded.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { cleanEnv, run } from './commands.js';

const require = createRequire(import.meta.url);

export interface Registry {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  /** An npm user config file: this registry for everything, and a publishing token for it. */
  readonly npmrc: string;
  /** Stops Verdaccio; its output so far, for diagnostics. */
  close(): Promise<string>;
  output(): string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The registry npm uses outside this test (the proxied upstream), as `npm config get registry` says. */
async function upstreamRegistry(dir: string): Promise<string> {
  const ran = await run('npm', ['config', 'get', 'registry'], { cwd: dir, env: cleanEnv(), timeoutMs: 60_000 });
  const url = ran.stdout.trim();
  return ran.code === 0 && /^https?:\/\//.test(url) ? url : 'https://registry.npmjs.org/';
}

function verdaccioConfig(dir: string, upstream: string): string {
  const local = { access: '$all', publish: '$authenticated' };
  const file = join(dir, 'config.yaml');
  // JSON is YAML: no YAML writer needed.
  writeFileSync(
    file,
    JSON.stringify({
      storage: join(dir, 'storage'),
      auth: { htpasswd: { file: join(dir, 'htpasswd'), max_users: 10 } },
      uplinks: { upstream: { url: upstream, timeout: '60s' } },
      packages: { '@uk/*': local, 'uk-klib-*': local, '**': { ...local, proxy: 'upstream' } },
      log: { type: 'stdout', format: 'pretty', level: 'warn' },
    }),
  );
  return file;
}

/** Polls until `url` answers 200 (Verdaccio prints its address before it serves), or fails after `timeoutMs`. */
async function untilServing(url: string, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Verdaccio exited (${child.exitCode}):\n${output()}`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Verdaccio did not answer ${url} within ${timeoutMs} ms:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts Verdaccio in `dir` and creates a user whose token can publish. */
export async function startRegistry(dir: string): Promise<Registry> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const config = verdaccioConfig(dir, await upstreamRegistry(dir));
  const bin = join(dirname(require.resolve('verdaccio/package.json')), 'bin', 'verdaccio');
  const child = spawn(process.execPath, [bin, '--config', config, '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  const output = (): string => log;
  const close = async (): Promise<string> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    return log;
  };
  try {
    await untilServing(`${url}-/ping`, child, output, 60_000);
    // npm adduser's request, made directly: the answer carries the token npm would store.
    const answer = await fetch(`${url}-/user/org.couchdb.user:publisher`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'publisher', password: `pw-${Math.random().toString(36).slice(2)}` }),
    });
    const { token } = (await answer.json()) as { token?: string };
    if (!answer.ok || !token) throw new Error(`Verdaccio refused to create a user: HTTP ${answer.status}`);
    const npmrc = join(dir, 'npmrc');
    writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
    return { url, npmrc, close, output };
  } catch (err) {
    await close();
    throw err;
  }
}
