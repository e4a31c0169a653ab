/**
 * The disk spool with the syslog server output (TCP), end to end: the server is away, the real
 * `uk run` is killed with SIGKILL; a new `uk run` with the same configuration, the server back,
 * delivers every line the first one had taken, first, in order, with PROCID and time kept.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { destinationDirName, scanSegment } from '@uk/core';
import { FakeSyslogServer } from './helpers/fake-server.js';
import { runUk, tempDir, UK_BIN, writeConfig } from './helpers/uk.js';

async function until(predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('SIGKILL while the server is away: the next uk run delivers every spooled line first', async (t) => {
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A port nothing listens on (yet): taken from a server that is closed at once.
  const probe = await FakeSyslogServer.start();
  const port = probe.port;
  await probe.close();
  const spoolDir = join(dir, 'spool');
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    ManifestPassthrough: { uk: { spool_dir: spoolDir }, syslog: { server: '127.0.0.1', server_port: port, transport: 'tcp' } },
  });
  const spool = join(spoolDir, 'syslog', destinationDirName(`127.0.0.1:${port}:tcp`));
  const spooled = () =>
    existsSync(spool)
      ? readdirSync(spool)
          .filter((f) => f.endsWith('.seg'))
          .reduce((n, f) => n + scanSegment(readFileSync(join(spool, f))).records, 0)
      : 0;

  const app = join(dir, 'app.mjs');
  writeFileSync(
    app,
    `(await import('node:fs')).writeFileSync(${JSON.stringify(join(dir, 'pid'))}, String(process.pid));
for (let i = 0; i < 1000; i++) process.stdout.write('line ' + i + '\\n');
const { existsSync } = await import('node:fs');
const end = Date.now() + 60000;
while (!existsSync(${JSON.stringify(join(dir, 'stop'))}) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));`,
  );
  const first = spawn(process.execPath, [UK_BIN, 'run', '-c', config, '--', process.execPath, app], { stdio: ['ignore', 'ignore', 'pipe'] });
  let firstErr = '';
  first.stderr.on('data', (c: Buffer) => (firstErr += c.toString()));
  const firstDone = new Promise<NodeJS.Signals | null>((resolve) => first.on('close', (_code, signal) => resolve(signal)));
  t.teardown(() => void (first.exitCode === null && first.signalCode === null && first.kill('SIGKILL')));
  // Every line on disk, and at least one attempt failed (the server is away).
  await until(() => spooled() >= 1000 && /send failed/.test(firstErr), 'the lines in the spool');
  first.kill('SIGKILL');
  t.equal(await firstDone, 'SIGKILL');
  writeFileSync(join(dir, 'stop'), '');

  let raw = '';
  const server = await FakeSyslogServer.start({ port, onConnection: (_i, socket) => socket.on('data', (c: Buffer) => (raw += c.toString())) });
  t.teardown(() => server.close());
  const second = await runUk(config, [process.execPath, '-e', "for (let i = 0; i < 3; i++) console.log('after ' + i)"]);
  t.equal(second.code, 0, second.stderr);
  const program = server.messages.filter((m) => m.startsWith('line ') || m.startsWith('after '));
  t.same(program, [...Array.from({ length: 1000 }, (_, i) => `line ${i}`), 'after 0', 'after 1', 'after 2'], 'every line once, the spooled ones first');
  // The first run's own messages (uk: klibs …) were spooled and replayed too.
  t.ok((second.stats.spool_replayed ?? 0) >= 1000, `counted as replayed (${second.stats.spool_replayed})`);
  t.equal(second.stats.dropped, 0);
  const firstPid = readFileSync(join(dir, 'pid'), 'utf8');
  t.match(raw, new RegExp(` ${firstPid} - - line 0`), 'a spooled line keeps the PROCID of the program that wrote it');
  t.match(second.stderr, /1\d{3} records left by a previous run are delivered first/);
});
