#!/usr/bin/env node
// Throughput of the serial console: lines per second through `uk run -- node gen.mjs` (serial
// driver only) against reading the generator's pipe directly, in the same run, alternating, with
// every run's line count checked exactly. By default uk lets the program inherit its stdout when
// only serial is enabled; `uk piped` (uk.passthrough: false) forces every byte through uk.
// Context rows: `relay` (a bare Node process piping the generator through: the floor for anything
// written in Node) and `uk start` (`uk run -- true`). Bounded (a timeout per child); temp files removed.
//
//   node bench/serial.mjs [--lines N] [--runs N] [--timeout SECONDS]
//
// Exit status: 0 when every count is exact and uk reaches the target ratio, 1 otherwise.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync, writeSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const LINE_BYTES = 100;
const TARGET_RATIO = 0.5;

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '20000000' },
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
const gen = join(dir, 'gen.mjs');
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

// Set by the run below, or false if it threw.
let ok;
try {
  writeLines(file, Math.min(lines, 10_000));
  // The program: writes the same 10,000-line block (read from the file once) until `lines` lines
  // are out, so a large count costs no disk and the producer is as fast as the pipe.
  writeFileSync(
    gen,
    `import { readFileSync, writeSync } from 'node:fs';
const block = readFileSync(${JSON.stringify(file)}); const per = block.length / ${LINE_BYTES};
for (let left = ${lines}; left > 0; left -= per) { const n = Math.min(per, left); let off = 0; const end = n * ${LINE_BYTES};
  while (off < end) off += writeSync(1, block, off, end - off); }
`,
  );
  const size = lines * LINE_BYTES;
  console.log(`bench/serial: ${fmt(lines)} lines of ${LINE_BYTES} bytes (${(size / 1e6).toFixed(0)} MB), ${runs} runs each, alternating`);
  console.log(`node ${process.version}, uk ${ukBin}\n`);

  // `relay` is the floor for any Node process in the path: spawn the generator and pipe its stdout to ours,
  // nothing else. It is shown for context; the target compares uk with direct.
  const relay =
    "const c=require('node:child_process').spawn(process.execPath,[process.argv[1]],{stdio:['ignore','pipe','inherit']});c.stdout.pipe(process.stdout)";
  const pipedConfig = join(dir, 'piped.json');
  writeFileSync(pipedConfig, JSON.stringify({ ManifestPassthrough: { uk: { passthrough: false } } }));
  const cases = {
    direct: { command: process.execPath, args: [gen], rates: [], times: [], counts: [], expect: lines },
    relay: { command: process.execPath, args: ['-e', relay, gen], rates: [], times: [], counts: [], expect: lines },
    uk: { command: process.execPath, args: [ukBin, 'run', '--', process.execPath, gen], rates: [], times: [], counts: [], expect: lines },
    // uk with passthrough off: every byte is read by uk and written by the serial driver.
    'uk piped': {
      command: process.execPath,
      args: [ukBin, 'run', '-c', pipedConfig, '--', process.execPath, gen],
      rates: [],
      times: [],
      counts: [],
      expect: lines,
    },
    'uk start': { command: process.execPath, args: [ukBin, 'run', '--', 'true'], rates: [], times: [], counts: [], expect: 0 },
  };
  for (let run = 1; run <= runs; run++) {
    for (const [name, c] of Object.entries(cases)) {
      const { count, seconds } = await countLines(c.command, c.args);
      c.counts.push(count);
      c.times.push(seconds);
      c.rates.push(count / seconds);
      console.log(
        `  run ${run} ${name.padEnd(8)} ${(c.expect > 0 ? fmt(count / seconds) : '-').padStart(12)} lines/s  ${seconds.toFixed(3)} s  ${fmt(count)} lines`,
      );
    }
  }

  const direct = median(cases.direct.rates);
  const uk = median(cases.uk.rates);
  const ratio = uk / direct;
  const exact = (c) => c.counts.every((n) => n === c.expect);
  console.log('');
  console.log('| path      | median lines/s | MB/s  | median s | vs direct | line counts exact |');
  console.log('|-----------|---------------:|------:|---------:|----------:|-------------------|');
  for (const [name, c] of Object.entries(cases)) {
    const rate = median(c.rates);
    const counts = exact(c) ? `yes (${fmt(c.expect)})` : `NO: ${c.counts.join(', ')}`;
    const measured = c.expect > 0;
    console.log(
      `| ${name.padEnd(9)} | ${(measured ? fmt(rate) : '-').padStart(14)} | ${(measured ? ((rate * LINE_BYTES) / 1e6).toFixed(0) : '-').padStart(5)} | ${median(c.times).toFixed(3).padStart(8)} | ${(measured ? (rate / direct).toFixed(2) : '-').padStart(9)} | ${counts.padEnd(17)} |`,
    );
  }
  const startup = median(cases['uk start'].times);
  const steady = lines / Math.max(1e-9, median(cases.uk.times) - startup);
  console.log('');
  console.log(`ratio uk/direct: ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}) ${ratio >= TARGET_RATIO ? 'OK' : 'BELOW TARGET'}`);
  console.log(`uk without its ${startup.toFixed(3)} s start-up: ${fmt(steady)} lines/s, ${(steady / direct).toFixed(2)} x direct (context only)`);
  ok = exact(cases.direct) && exact(cases.uk) && ratio >= TARGET_RATIO;
} catch (err) {
  console.error(`bench/serial: ${err.message}`);
  ok = false;
} finally {
  cleanup();
}
process.exit(ok ? 0 : 1);
