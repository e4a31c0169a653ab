#!/usr/bin/env node
// Throughput of the serial console: lines per second through `uk run -- cat FILE` (serial
// driver only, so bytes are passed through unframed) against reading `cat FILE`'s pipe directly.
// Both are measured in the same run, alternating, on the same file, and each run's line count is
// checked exactly. The run is bounded (a timeout per child) and removes its temp files.
//
//   node bench/serial.mjs [--lines N] [--runs N] [--timeout SECONDS]
//
// Exit status: 0 when every count is exact and uk reaches the target ratio, 1 otherwise.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const LINE_BYTES = 100;
const TARGET_RATIO = 0.5;

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '2000000' },
    runs: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '120' },
  },
});
const lines = Number(values.lines);
const runs = Number(values.runs);
const timeoutMs = Number(values.timeout) * 1000;
if (!Number.isSafeInteger(lines) || lines < 1 || !Number.isSafeInteger(runs) || runs < 1 || !(timeoutMs > 0)) {
  console.error('usage: node bench/serial.mjs [--lines N] [--runs N] [--timeout SECONDS]');
  process.exit(2);
}

const root = fileURLToPath(new URL('..', import.meta.url));
const ukBin = join(root, 'packages/core/bin/uk.js');
if (!existsSync(join(root, 'packages/core/dist/cli.js'))) {
  console.error('bench: packages/core is not built; run `npm run build` (or `npm run bench`) first');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'uk-bench-'));
const file = join(dir, 'lines.txt');
const cleanup = () => rmSync(dir, { recursive: true, force: true });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanup();
    process.exit(130);
  });
}

/** Writes `count` lines of LINE_BYTES bytes (99 printable characters and a newline). */
function writeLines(path, count) {
  const perBlock = 10_000;
  const block = Buffer.alloc(perBlock * LINE_BYTES);
  for (let i = 0; i < perBlock; i++) {
    const text = `line ${String(i).padStart(7, '0')} `.padEnd(LINE_BYTES - 1, 'abcdefghij'.charAt(i % 10));
    block.write(`${text}\n`, i * LINE_BYTES, 'latin1');
  }
  const fd = openSync(path, 'w');
  try {
    for (let left = count; left > 0; left -= perBlock) {
      const n = Math.min(perBlock, left);
      writeSync(fd, block, 0, n * LINE_BYTES);
    }
  } finally {
    closeSync(fd);
  }
}

/** Spawns a command, counts the newlines on its stdout pipe, and times it from spawn to close. */
function countLines(command, args) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let count = 0;
    let bytes = 0;
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: no result within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.stdout.on('data', (chunk) => {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) count++;
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}: ${stderr.trim()}`));
      else resolve({ count, bytes, seconds });
    });
  });
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (n) => Math.round(n).toLocaleString('en-US');

let ok = true;
try {
  writeLines(file, lines);
  const size = statSync(file).size;
  console.log(`bench/serial: ${fmt(lines)} lines of ${LINE_BYTES} bytes (${(size / 1e6).toFixed(0)} MB), ${runs} runs each, alternating`);
  console.log(`node ${process.version}, uk ${ukBin}\n`);

  const cases = {
    direct: { command: 'cat', args: [file], rates: [], counts: [] },
    uk: { command: process.execPath, args: [ukBin, 'run', '--', 'cat', file], rates: [], counts: [] },
  };
  // Warm the page cache (and Node's compile cache) so the first measured run is not penalised.
  await countLines('cat', [file]);
  for (let run = 1; run <= runs; run++) {
    for (const [name, c] of Object.entries(cases)) {
      const { count, seconds } = await countLines(c.command, c.args);
      c.counts.push(count);
      c.rates.push(count / seconds);
      console.log(`  run ${run} ${name.padEnd(6)} ${fmt(count / seconds).padStart(12)} lines/s  ${seconds.toFixed(3)} s  ${fmt(count)} lines`);
    }
  }

  const direct = median(cases.direct.rates);
  const uk = median(cases.uk.rates);
  const ratio = uk / direct;
  const exact = (c) => c.counts.every((n) => n === lines);
  console.log('');
  console.log('| path   | median lines/s | MB/s   | line counts exact |');
  console.log('|--------|---------------:|-------:|-------------------|');
  for (const [name, rate] of [['direct', direct], ['uk', uk]]) {
    const c = cases[name];
    console.log(`| ${name.padEnd(6)} | ${fmt(rate).padStart(14)} | ${((rate * LINE_BYTES) / 1e6).toFixed(0).padStart(6)} | ${exact(c) ? `yes (${fmt(lines)})` : `NO: ${c.counts.join(', ')}`.padEnd(17)} |`);
  }
  console.log('');
  console.log(`ratio uk/direct: ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}) ${ratio >= TARGET_RATIO ? 'OK' : 'BELOW TARGET'}`);
  ok = exact(cases.direct) && exact(cases.uk) && ratio >= TARGET_RATIO;
} catch (err) {
  console.error(`bench/serial: ${err.message}`);
  ok = false;
} finally {
  cleanup();
}
process.exit(ok ? 0 : 1);
