/**
 * The config file is read in a bounded way: a wrong `-c` (a huge file, /dev/zero, a FIFO fed
 * without end) fails at once with UK_ERR_CONFIG_TOO_LARGE instead of reading gigabytes.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadOpsConfig, MAX_CONFIG_BYTES } from '../src/config.js';
import { throwsUk } from './helpers.js';
import { runUk } from './uk-process.js';

const tooLarge = (path: string) => `config file ${path} is larger than 1 MiB (1048576 bytes), the most uk reads`;
const FIX = 'check the path given to -c: an Ops config is a JSON file of a few KiB; keep large data in files the program reads';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'uk-config-size-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A valid config of exactly `bytes` bytes (JSON padded with spaces). */
function configOfSize(file: string, bytes: number): void {
  const json = JSON.stringify({ Program: '/bin/true', Env: { A: 'b' } });
  writeFileSync(file, json + ' '.repeat(bytes - json.length));
}

t.test('a config of exactly the limit loads; one byte more is refused', async (t) => {
  t.equal(MAX_CONFIG_BYTES, 1024 * 1024);
  const dir = tempDir(t);
  const atLimit = join(dir, 'at-limit.json');
  configOfSize(atLimit, MAX_CONFIG_BYTES);
  t.equal(loadOpsConfig(atLimit).program, '/bin/true', 'a 1 MiB config loads');
  const over = join(dir, 'over.json');
  configOfSize(over, MAX_CONFIG_BYTES + 1);
  const err = throwsUk(t, () => loadOpsConfig(over), 'UK_ERR_CONFIG_TOO_LARGE', tooLarge(over), over);
  t.equal(err?.fix, FIX);
});

t.test('/dev/zero (size 0 to fstat, endless to read) is refused after limit + 1 bytes', async (t) => {
  const started = performance.now();
  throwsUk(t, () => loadOpsConfig('/dev/zero'), 'UK_ERR_CONFIG_TOO_LARGE', tooLarge('/dev/zero'), '/dev/zero');
  t.comment(`refused in ${(performance.now() - started).toFixed(1)} ms`);
});

t.test('a FIFO fed without end is refused; a FIFO holding a small config is read', async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'config.fifo');
  execFileSync('mkfifo', [fifo]);
  // A writer that would write 64 MiB; it stops with EPIPE once uk has closed its end.
  const endless = spawn(
    process.execPath,
    [
      '-e',
      `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(fifo)},'w');const b=Buffer.alloc(65536,32);try{for(let i=0;i<1024;i++)fs.writeSync(fd,b)}catch(e){process.exit(e.code==='EPIPE'?0:1)}process.exit(2)`,
    ],
    { stdio: 'ignore' },
  );
  const ended = new Promise<number | null>((resolve) => endless.once('close', (code) => resolve(code)));
  throwsUk(t, () => loadOpsConfig(fifo), 'UK_ERR_CONFIG_TOO_LARGE', tooLarge(fifo), fifo);
  t.equal(await ended, 0, 'the writer saw its reader go away (EPIPE) before writing 64 MiB');

  const small = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(fifo)}, JSON.stringify({ Program: '/bin/echo' }))`], {
    stdio: 'ignore',
  });
  const smallEnded = new Promise<number | null>((resolve) => small.once('close', (code) => resolve(code)));
  t.equal(loadOpsConfig(fifo).program, '/bin/echo', 'a config through a pipe still works');
  t.equal(await smallEnded, 0);
});

t.test('uk run -c /dev/zero and -c BIGFILE exit 2 with the error, without starting the program', async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'program-ran');
  const big = join(dir, 'big.json');
  configOfSize(big, 5 * 1024 * 1024);
  for (const config of ['/dev/zero', big]) {
    const started = performance.now();
    const run = await runUk(['run', '-c', config, '--', '/bin/sh', '-c', `touch ${marker}`]);
    const ms = performance.now() - started;
    t.equal(run.code, 2, `exit 2 for ${config}`);
    t.equal(run.err, `uk: UK_ERR_CONFIG_TOO_LARGE: ${tooLarge(config)} (${FIX})\n`, 'one clear line on stderr');
    t.notOk(existsSync(marker), 'the program did not start');
    t.comment(`uk run -c ${config}: exited in ${ms.toFixed(0)} ms`);
  }
  const validate = await runUk(['validate', '-c', '/dev/zero']);
  t.equal(validate.code, 1, 'uk validate reports it as a problem');
  t.match(validate.out, `error UK_ERR_CONFIG_TOO_LARGE: ${tooLarge('/dev/zero')}`);
});
