/**
 * The access token never appears in what uk prints or ships, even when Cloud Logging echoes the
 * request: the emulator answers entries.write with the bearer token in its error message (alone,
 * then inside the request's headers). The real `uk run` ships to Cloud Logging and to a syslog
 * file; neither they nor stderr hold the token, and the messages still say what went wrong. The
 * program's own lines arrive unchanged, credential-looking text included.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { googleError, type IncomingRequest, type Reply } from '@uk/testkit';
import { emulators, eventually } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const UK = join(here, '../../core/bin/uk.js');

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'uk-gcp-redact-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('Cloud Logging echoes the bearer token: no token in stderr, in the entries or in the file', async (t) => {
  const e = await emulators(t);
  const dir = tempDir(t);
  const logging = e.logging as unknown as { handle(request: IncomingRequest): Promise<Reply | 'reset'> };
  const handle = logging.handle.bind(e.logging);
  const echoed: string[] = [];
  // The first two entries.write answer 403 (retried): the first quotes the bare token (only its
  // registration can find it), the second the request's headers as JSON. Then all is normal.
  let writes = 0;
  logging.handle = async (request) => {
    if (!request.url.startsWith('/v2/entries:write') || ++writes > 2) return handle(request);
    const authorization = String(request.headers.authorization ?? '');
    const token = authorization.replace(/^Bearer /, '');
    echoed.push(token);
    return writes === 1
      ? googleError(403, `The caller ${token} does not have permission logging.logEntries.create`, undefined, 'PERMISSION_DENIED')
      : googleError(
          403,
          `Permission denied; request headers: ${JSON.stringify({ authorization, 'content-type': request.headers['content-type'] })}`,
          undefined,
          'PERMISSION_DENIED',
        );
  };

  const log = join(dir, 'app.log');
  const go = join(dir, 'go');
  const programLine = 'Authorization: Bearer the-programs-own-line-0123456789';
  const program = join(dir, 'app.mjs');
  writeFileSync(
    program,
    `import { existsSync } from 'node:fs';
for (let i = 0; i < 20; i++) process.stdout.write('line ' + i + '\\n');
process.stdout.write(${JSON.stringify(programLine)} + '\\n');
const end = Date.now() + 30000;
while (!existsSync(${JSON.stringify(go)}) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));`,
  );
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      Klibs: ['tls', 'gcp', 'syslog'],
      ManifestPassthrough: { consoles: ['-serial'], gcp: { logging: { log_id: 'redact' } }, syslog: { file: log } },
    }),
  );
  const child = spawn(process.execPath, [UK, 'run', '-c', config, '--', process.execPath, program], {
    env: { ...process.env, ...e.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.teardown(() => clearTimeout(guard));

  const texts = () => e.logging.sorted().map((entry) => entry.textPayload ?? JSON.stringify(entry.jsonPayload));
  t.ok(await eventually(() => texts().includes(programLine), 30_000), 'the program lines got through after the 403s');
  t.ok(await eventually(() => existsSync(log) && readFileSync(log, 'utf8').includes('delivering again'), 30_000), 'the file has the messages');
  writeFileSync(go, '');
  t.equal(await exited, 0, stderr);

  t.equal(echoed.length, 2, 'two answers echoed the token');
  t.ok(
    echoed.every((token) => token.startsWith('ya29.') && token.length > 50),
    'a real token from the metadata server each time',
  );
  const file = readFileSync(log, 'utf8');
  const shipped = JSON.stringify(e.logging.sorted());
  for (const [where, text] of [
    ['stderr', stderr],
    ['Cloud Logging', shipped],
    ['the syslog file', file],
  ] as [string, string][]) {
    for (const token of new Set(echoed)) {
      t.notOk(text.includes(token), `${where} does not hold the token`);
      t.notOk(text.includes(token.slice(0, 20)), `${where} does not hold a part of it`);
    }
    // gcp's own messages never go into gcp's own driver: said on stderr, shipped by the other klibs.
    if (where === 'Cloud Logging') {
      t.notMatch(text, /uk: gcp:/, 'Cloud Logging did not get its own messages');
      continue;
    }
    // What went wrong is still said.
    t.match(
      text,
      /uk: gcp: send failed, retrying in [\d.]+ s \(\d+ log entries waiting\): entries\.write: HTTP 403 PERMISSION_DENIED: The caller \[REDACTED\] does not have permission logging\.logEntries\.create/,
      `${where}: the first 403`,
    );
    t.match(
      text,
      /entries\.write: HTTP 403 PERMISSION_DENIED: Permission denied; request headers: \{\\?"authorization\\?":\\?"Bearer \[REDACTED\]\\?",/,
      `${where}: the second 403`,
    );
  }
  t.ok(texts().includes(programLine), "the program's own line reaches Cloud Logging unchanged");
  t.ok(file.split('\n').includes(programLine), 'and the file unchanged');
});
