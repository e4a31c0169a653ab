// The file output, through the real CLI: raw lines (as Nanos writes them), rotation, truncation,
// appending across runs, size suffixes.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EMIT, runUk, tempDir, writeConfig } from './helpers/uk.js';

function fileConfig(dir: string, syslog: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return writeConfig(dir, { Klibs: ['syslog'], ManifestPassthrough: { consoles: ['-serial'], ...extra, syslog: { file: join(dir, 'app.log'), ...syslog } } });
}

const lines = (from: number, to: number, size = 0) =>
  Array.from({ length: to - from }, (_, k) => {
    const text = `line ${from + k}`;
    return size > text.length ? text + '.'.repeat(size - text.length) : text;
  });

t.test('the file gets each line as the program wrote it (no syslog header), stdout, stderr and uk messages', async (t) => {
  const dir = tempDir();
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    ManifestPassthrough: { consoles: ['-serial', '+nosuchdriver'], syslog: { file: join(dir, 'app.log') } },
  });
  const result = await runUk(config, [EMIT, '--count', '3', '--extra', '', '--extra', 'ünï ✓']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  const text = readFileSync(join(dir, 'app.log'), 'utf8');
  t.equal(
    text
      .split('\n')
      .filter((l) => !l.startsWith('uk: '))
      .join('\n'),
    'line 0\nline 1\nline 2\n\nünï ✓\n',
    'program lines, unchanged, empty line kept',
  );
  t.match(text, /^uk: consoles\[1\]: no console driver named "nosuchdriver"/m, "uk's own messages too, as on Nanos' console");
  t.equal(result.stats.file_written, 6);
  t.equal(result.stats.file_dropped, 0);
});

t.test('rotation: file.N-1 → file.N … file → file.1 at file_max_size, lines never split, old files beyond file_rotate gone', async (t) => {
  const dir = tempDir();
  // 200 lines of 50 bytes + newline = 10200 bytes; 1 KiB files hold 20 lines each.
  const result = await runUk(fileConfig(dir, { file_max_size: '1k', file_rotate: 3 }), [EMIT, '--count', '200', '--size', '50']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  const path = join(dir, 'app.log');
  t.ok(existsSync(`${path}.3`), 'app.log.3 exists');
  t.notOk(existsSync(`${path}.4`), 'no app.log.4 with file_rotate 3');
  const files = [`${path}.3`, `${path}.2`, `${path}.1`, path].map((f) => readFileSync(f, 'utf8'));
  for (const [i, content] of files.entries()) {
    t.ok(Buffer.byteLength(content) <= 1024, `file ${i}: ${Buffer.byteLength(content)} bytes <= 1024`);
    t.ok(
      content.endsWith('\n') &&
        content
          .split('\n')
          .slice(0, -1)
          .every((l) => /^line \d+\.+$/.test(l) && l.length === 50),
      `file ${i}: whole lines only`,
    );
  }
  t.same(
    files.slice(0, 3).map((c) => c.split('\n').length - 1),
    [20, 20, 20],
    'each rotated file is full: 20 lines of 51 bytes',
  );
  const kept = files.join('').split('\n').slice(0, -1);
  t.same(kept, lines(200 - kept.length, 200, 50), 'the newest lines, in order, across the files');
  t.equal(kept.length, 60 + (files[3] as string).split('\n').length - 1);
  t.equal(result.stats.rotations, 9, '200 lines / 20 per file = 10 files, 9 rotations');
});

t.test('truncate mode (file_rotate 0): the file starts over at file_max_size, no other files', async (t) => {
  const dir = tempDir();
  const result = await runUk(fileConfig(dir, { file_max_size: '1K', file_rotate: 0 }), [EMIT, '--count', '50', '--size', '50']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  const path = join(dir, 'app.log');
  t.notOk(existsSync(`${path}.1`), 'no rotated file');
  const content = readFileSync(path, 'utf8');
  t.equal(content, `${lines(40, 50, 50).join('\n')}\n`, '50 lines → truncated twice (at 20 and 40), the last 10 remain');
  t.equal(result.stats.rotations, 2);
});

t.test('appends to an existing file across runs; a file already at the maximum is rotated first', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'app.log');
  writeFileSync(path, 'from before\n');
  const config = fileConfig(dir, { file_max_size: '2k' });
  await runUk(config, [EMIT, '--count', '3', '--prefix', 'run1']);
  await runUk(config, [EMIT, '--count', '3', '--prefix', 'run2']);
  t.equal(readFileSync(path, 'utf8'), 'from before\nrun1 0\nrun1 1\nrun1 2\nrun2 0\nrun2 1\nrun2 2\n', 'old content kept, runs appended in order');

  writeFileSync(path, 'x'.repeat(2048) + '\n');
  const result = await runUk(config, [EMIT, '--count', '1', '--prefix', 'run3']);
  t.equal(readFileSync(`${path}.1`, 'utf8').length, 2049, 'the full file became app.log.1');
  t.equal(readFileSync(path, 'utf8'), 'run3 0\n');
  t.equal(result.stats.rotations, 1);
});

t.test('a line longer than file_max_size gets a file of its own (never split, never dropped)', async (t) => {
  const dir = tempDir();
  const long = 'L'.repeat(3000);
  const result = await runUk(fileConfig(dir, { file_max_size: '1k', file_rotate: 2 }), [EMIT, '--count', '2', '--extra', long, '--extra', 'after']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  const path = join(dir, 'app.log');
  t.equal(readFileSync(`${path}.2`, 'utf8'), 'line 0\nline 1\n');
  t.equal(readFileSync(`${path}.1`, 'utf8'), `${long}\n`);
  t.equal(readFileSync(path, 'utf8'), 'after\n');
});

t.test('size suffixes reach the file output: 3k rotates after 3072 bytes', async (t) => {
  const dir = tempDir();
  // 100 lines of 63 bytes + newline = 64 bytes each: 48 lines per 3 KiB file.
  const result = await runUk(fileConfig(dir, { file_max_size: '3k', file_rotate: 1 }), [EMIT, '--count', '100', '--size', '63']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  const path = join(dir, 'app.log');
  t.equal(statSync(`${path}.1`).size, 3072, 'exactly 48 lines of 64 bytes');
  t.equal(statSync(path).size, 4 * 64, 'the last 4 lines');
  t.equal(result.stats.rotations, 2);
});

t.test('lines reach the file within the flush interval while the program runs', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'app.log');
  let seenWhileRunning = '';
  const result = await runUk(fileConfig(dir, {}, { consoles: ['+serial'] }), [EMIT, '--count', '30', '--interval', '100'], {
    onStdout: (_chunk, all) => {
      if (all.includes('line 25\n') && !seenWhileRunning) seenWhileRunning = existsSync(path) ? readFileSync(path, 'utf8') : '';
    },
  });
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  t.ok(seenWhileRunning.includes('line 10\n'), 'written about once a second, not only at exit');
  t.equal(readFileSync(path, 'utf8'), `${lines(0, 30).join('\n')}\n`, 'and everything at exit');
});

t.test('file and server together: both get every line', async (t) => {
  const dir = tempDir();
  const { FakeSyslogServer, audit } = await import('./helpers/fake-server.js');
  const server = await FakeSyslogServer.start();
  t.teardown(() => server.close());
  const result = await runUk(fileConfig(dir, { server: '127.0.0.1', server_port: server.port, transport: 'tcp' }), [EMIT, '--count', '100']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  t.equal(readFileSync(join(dir, 'app.log'), 'utf8'), `${lines(0, 100).join('\n')}\n`);
  const deadline = Date.now() + 5000;
  while (server.messages.length < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.same(audit(server.messages, 100), { missing: [], duplicates: 0, outOfOrder: 0 });
  t.equal(result.stats.sent, 100);
  t.equal(result.stats.file_written, 100);
});

t.test('missing directories of the file are created, as rsyslog does', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'logs', 'nested', 'app.log');
  const config = writeConfig(dir, { Klibs: ['syslog'], ManifestPassthrough: { consoles: ['-serial'], syslog: { file: path } } });
  const validate = await runUk(config, [], { command: 'validate' });
  t.equal(validate.code, 0, 'uk validate accepts a path whose directories do not exist yet', { stdout: validate.stdout });
  const result = await runUk(config, [EMIT, '--count', '2']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  t.equal(readFileSync(path, 'utf8'), 'line 0\nline 1\n');
});
