/**
 * The disk spool with gcp, end to end: the real `uk run` is killed with SIGKILL while Cloud
 * Logging is down; a new `uk run` with the same configuration delivers every line the first one
 * had taken, before its own, with their original timestamps.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { destinationDirName, scanSegment } from '@uk/core';
import type { GcpEmulators } from '@uk/testkit';
import { emulators } from './helpers.js';

const UK = join(dirname(fileURLToPath(import.meta.url)), '../../core/bin/uk.js');

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'uk-gcp-spool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function until(predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts `uk run` on a program; resolves its exit with uk's stderr. */
function startUk(t: Test, e: GcpEmulators, dir: string, source: string, name: string) {
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      Klibs: ['tls', 'gcp'],
      ManifestPassthrough: { uk: { spool_dir: join(dir, 'spool') }, gcp: { logging: { log_id: 'spooled', flush_interval: '0.1' } } },
    }),
  );
  const program = join(dir, name);
  writeFileSync(program, source);
  const child = spawn(process.execPath, [UK, 'run', '--verbose', '-c', config, '--', process.execPath, program], {
    env: { ...process.env, ...e.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal });
    }),
  );
  t.teardown(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  return { child, done, stderr: () => stderr };
}

const spooled = (dir: string) => {
  const spool = join(dir, 'spool', 'gcp', destinationDirName('log:spooled'));
  return existsSync(spool)
    ? readdirSync(spool)
        .filter((f) => f.endsWith('.seg'))
        .reduce((n, f) => n + scanSegment(readFileSync(join(spool, f))).records, 0)
    : 0;
};

t.test('SIGKILL while Cloud Logging is down: the next uk run delivers every spooled line first, with its original time', async (t) => {
  const dir = tempDir(t);
  const down = await emulators(t);
  down.logging.faults.add({ kind: 'error', status: 503, type: 'UNAVAILABLE' }, { times: Infinity });
  const written = Date.now();
  const first = startUk(
    t,
    down,
    dir,
    `for (let i = 0; i < 2000; i++) process.stdout.write('spooled ' + i + '\\n');
const stop = ${JSON.stringify(join(dir, 'stop'))};
const { existsSync } = await import('node:fs');
const end = Date.now() + 60000;
while (!existsSync(stop) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));`,
    'app.mjs',
  );
  await until(() => spooled(dir) >= 2000 && down.logging.faults.applied.error > 0, 'every line in the spool');
  first.child.kill('SIGKILL');
  t.equal((await first.done).signal, 'SIGKILL');
  writeFileSync(join(dir, 'stop'), '');
  const up = await emulators(t);
  const second = startUk(t, up, dir, `for (let i = 0; i < 5; i++) process.stdout.write('after ' + i + '\\n');`, 'app2.mjs');
  const { code } = await second.done;
  t.equal(code, 0, second.stderr());
  const entries = up.logging.sorted().filter((x) => !x.textPayload?.startsWith('uk: '));
  const texts = entries.map((x) => x.textPayload);
  t.same(
    texts,
    [...Array.from({ length: 2000 }, (_, i) => `spooled ${i}`), ...Array.from({ length: 5 }, (_, i) => `after ${i}`)],
    'every line once, the spooled ones first',
  );
  const firstTime = Date.parse(String(entries[0]?.timestamp));
  t.ok(firstTime >= written - 1000 && firstTime < written + 30_000, 'the spooled entries keep the time the first run read them');
  t.match(second.stderr(), /spool_replayed=2000/);
  t.match(second.stderr(), /\bdropped=0\b/);
});
