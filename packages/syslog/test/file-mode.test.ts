// Rotation keeps the log private: through the real CLI, a file at 0600 (or 0640, 0660) is rotated
// by real writes, and the new file and the rotated ones keep its mode (and owner and group, as root).
import { chmodSync, chownSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EMIT, runUk, tempDir, writeConfig } from './helpers/uk.js';

const modeOf = (path: string) => `0${(statSync(path).mode & 0o777).toString(8)}`;

/** A log file that already exists with `mode`, and a config that rotates it every 20 lines of 50 bytes. */
function setup(mode: number): { path: string; config: string } {
  const dir = tempDir();
  const path = join(dir, 'app.log');
  writeFileSync(path, '');
  // chmod after creating it: the umask (022 here) would strip group write from 0660.
  chmodSync(path, mode);
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    ManifestPassthrough: { consoles: ['-serial'], syslog: { file: path, file_max_size: '1k', file_rotate: 2 } },
  });
  return { path, config };
}

for (const mode of [0o600, 0o640, 0o660]) {
  const octal = `0${mode.toString(8)}`;
  t.test(`a file at ${octal} stays at ${octal} after rotations, and so do app.log.1 and app.log.2`, async (t) => {
    const { path, config } = setup(mode);
    const result = await runUk(config, [EMIT, '--count', '100', '--size', '50'], { verbose: true });
    t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
    t.equal(result.stats.rotations, 4, '100 lines of 51 bytes, 20 per file: 4 rotations');
    t.ok(existsSync(`${path}.2`), 'app.log.2 exists');
    t.same([path, `${path}.1`, `${path}.2`].map(modeOf), [octal, octal, octal], 'app.log, app.log.1, app.log.2');
  });
}

t.test('the mode an operator sets during the run is the one the next file gets', async (t) => {
  const { path, config } = setup(0o644);
  // The program writes 30 lines (one rotation at line 20), waits until the file is 0600, writes 30 more.
  const go = `${path}.go`;
  const program = [
    process.execPath,
    '-e',
    `const fs = require('fs');
     const write = (from) => { for (let i = from; i < from + 30; i++) process.stdout.write('line ' + i + '.'.repeat(44 - String(i).length) + '\\n'); };
     write(0);
     const wait = () => (fs.existsSync(${JSON.stringify(go)}) ? write(30) : setTimeout(wait, 20));
     wait();`,
  ];
  const running = runUk(config, program, { verbose: true });
  const deadline = Date.now() + 20_000;
  // After the first rotation, once the new file has lines (so uk has finished making it).
  while (!existsSync(`${path}.1`) || !existsSync(path) || statSync(path).size === 0) {
    if (Date.now() > deadline) throw new Error('no first rotation');
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(modeOf(path), '0644', 'the file made by the first rotation is 0644, as the original');
  chmodSync(path, 0o600);
  writeFileSync(go, '');
  const result = await running;
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  t.equal(result.stats.rotations, 2);
  t.same([path, `${path}.1`, `${path}.2`].map(modeOf), ['0600', '0600', '0644'], 'the new file follows the mode set in between');
});

t.test('as root, the new file also keeps the owner and group (0640 for a log group)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  const { path, config } = setup(0o640);
  chownSync(path, 65534, 65534);
  const result = await runUk(config, [EMIT, '--count', '50', '--size', '50'], { verbose: true });
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  t.equal(result.stats.rotations, 2);
  for (const file of [path, `${path}.1`, `${path}.2`]) {
    const stat = statSync(file);
    t.same({ mode: modeOf(file), uid: stat.uid, gid: stat.gid }, { mode: '0640', uid: 65534, gid: 65534 }, file);
  }
});
