#!/usr/bin/env node
// Throughput with multiline grouping on ("auto", the default) and off, in the same run,
// alternating, on ordinary log output (no traces): the cost of the grouper for programs that
// print no traces. Two measurements:
//
// - `pipeline`: in-process, the line framer and the grouper (or the framer alone) feeding a record
//   driver that only counts records, on 64 KiB reads of a log corpus: the grouper's own cost per
//   line, next to the framer's (information: no klib does this little per line).
// - `uk run`: the real `uk run` with the syslog klib writing to a file (a real klib, no network),
//   the program a generator of N lines; every run's output file is checked to hold exactly N lines.
//
// A third row (information only) is a corpus with a Java trace every 50 lines, grouped or not.
//
//   node bench/multiline.mjs [--lines N] [--runs N] [--timeout SECONDS]
//
// Exit status: 0 when every count is exact and `uk run` with "auto" reaches 0.9x of "off" on
// ordinary output.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const TARGET_RATIO = 0.9;
const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '5' },
    timeout: { type: 'string', default: '120' },
  },
});
const lines = Number(values.lines);
const runs = Number(values.runs);
const timeoutMs = Number(values.timeout) * 1000;
if (!Number.isSafeInteger(lines) || lines < 1 || !Number.isSafeInteger(runs) || runs < 1 || !(timeoutMs > 0)) {
  console.error('usage: node bench/multiline.mjs [--lines N] [--runs N] [--timeout SECONDS]');
  process.exit(2);
}
const root = fileURLToPath(new URL('..', import.meta.url));
const ukBin = join(root, 'packages/core/bin/uk.js');
if (!existsSync(join(root, 'packages/core/dist/cli.js')) || !existsSync(join(root, 'packages/syslog/dist/index.js'))) {
  console.error('bench: packages are not built; run `npm run build` first');
  process.exit(2);
}
const core = await import(join(root, 'packages/core/dist/index.js'));

/** Ordinary output: the kinds of lines servers print, some with words that look like traces' words. */
const ORDINARY = [
  (i) => `2026-12-05T21:00:${String(i % 60).padStart(2, '0')}.123Z INFO  request id=${i} method=GET path=/api/items/${i % 977} status=200 ms=${i % 83}`,
  (i) => `[worker ${i % 8}] processed batch ${i} in ${i % 17} ms`,
  (i) => `{"level":"info","time":${1700000000000 + i},"msg":"cache miss","key":"user:${i}"}`,
  (i) => `WARN  slow query (${i % 500} ms): SELECT * FROM items WHERE id = ${i}`,
  (i) => `Error: connection reset by peer, retrying (attempt ${i % 5})`,
  (i) => `GET /health 200 ${i % 9}ms - ${i % 1000}b`,
  (i) => `    attention: ${i} indented text`,
  (i) => `Listening on http://0.0.0.0:${8000 + (i % 100)}`,
];
const JAVA_TRACE = [
  'java.lang.IllegalStateException: request failed',
  '\tat com.acme.Service.handle(Service.java:42)',
  '\tat com.acme.Server.dispatch(Server.java:118)',
  '\tat java.base/java.lang.Thread.run(Thread.java:833)',
  'Caused by: java.io.IOException: broken pipe',
  '\tat com.acme.Io.write(Io.java:7)',
  '\t... 3 more',
].join('\n');

function corpus(n, traces) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(traces && i % 50 === 49 ? JAVA_TRACE : ORDINARY[i % ORDINARY.length](i));
  return Buffer.from(`${out.join('\n')}\n`);
}

/** Lines per second through framer (and grouper) into a driver that reads each record's bytes. */
function pipeline(bytes, grouping) {
  let records = 0;
  let checksum = 0;
  const consume = (block) => {
    for (let i = 0; i < block.count; i++) {
      // Touch each record's first byte: the least a driver does.
      checksum += block.buf[block.bounds[2 * i]] ?? 0;
      records++;
    }
  };
  const timers = new core.Timers(new core.ManualClock());
  const grouper = grouping
    ? new core.LineGrouper({ rule: core.autoRule, maxRecordBytes: 1 << 20, maxLines: 1000, timeoutMs: 300, timers, emit: consume })
    : undefined;
  const framer = new core.LineFramer({ maxRecordBytes: 1 << 20, emit: grouper ? (b) => grouper.push(b) : consume });
  const started = performance.now();
  for (let at = 0; at < bytes.length; at += 65536) framer.push(bytes.subarray(at, at + 65536), 0);
  framer.flush();
  grouper?.flush();
  const ms = performance.now() - started;
  return { ms, records, checksum };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rate = (n, ms) => `${(((n / ms) * 1000) / 1e6).toFixed(2)} M lines/s`;

let ok = true;
console.log(`multiline bench: ${lines} lines per run, ${runs} runs each, alternating; median shown`);

// 1. In-process pipeline.
for (const [label, traces] of [
  ['ordinary output', false],
  ['a trace every 50 lines (info)', true],
]) {
  const bytes = corpus(lines, traces);
  pipeline(bytes, true); // warm-up both paths
  pipeline(bytes, false);
  const on = [];
  const off = [];
  let recordsOn = 0;
  let recordsOff = 0;
  for (let r = 0; r < runs; r++) {
    const a = pipeline(bytes, false);
    const b = pipeline(bytes, true);
    off.push(a.ms);
    on.push(b.ms);
    recordsOff = a.records;
    recordsOn = b.records;
  }
  const ratio = median(off) / median(on);
  const traceLines = traces ? Math.floor(lines / 50) * JAVA_TRACE.split('\n').length : 0;
  const expectedOff = lines - (traces ? Math.floor(lines / 50) : 0) + traceLines;
  const expectedOn = lines;
  const exact = recordsOff === expectedOff && recordsOn === expectedOn;
  if (!exact) ok = false;
  console.log(
    `pipeline, ${label.padEnd(30)} off ${rate(expectedOff, median(off))}  auto ${rate(expectedOff, median(on))}  ratio ${ratio.toFixed(3)}  records off ${recordsOff} auto ${recordsOn}${exact ? '' : '  COUNT MISMATCH'}`,
  );
  const extraNs = ((median(on) - median(off)) * 1e6) / lines;
  console.log(`  grouper cost: ${extraNs.toFixed(0)} ns per line`);
}

// 2. The real uk run, syslog klib writing to a file.
const dir = mkdtempSync(join(tmpdir(), 'uk-bench-ml-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const input = join(dir, 'input.txt');
writeFileSync(input, corpus(lines, false));
function ukRun(mode, n) {
  const out = join(dir, `out-${mode}-${n}.log`);
  const config = join(dir, `config-${mode}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      Klibs: ['syslog'],
      ManifestPassthrough: { consoles: ['-serial'], uk: { multiline: mode }, syslog: { file: out, buffer_size: '64m', file_max_size: '1g' } },
    }),
  );
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [ukBin, 'run', '-c', config, '--', '/bin/cat', input], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (code !== 0) return reject(new Error(`uk exited ${code}: ${stderr}`));
      const written = readFileSync(out, 'utf8').split('\n').length - 1;
      rmSync(out, { force: true });
      resolve({ ms, written });
    });
  });
}
const times = { off: [], auto: [] };
for (let r = 0; r < runs; r++) {
  for (const mode of ['off', 'auto']) {
    const { ms, written } = await ukRun(mode, r);
    if (written !== lines) {
      ok = false;
      console.log(`uk run ${mode}: COUNT MISMATCH, ${written} lines written of ${lines}`);
    }
    times[mode].push(ms);
  }
}
const ukRatio = median(times.off) / median(times.auto);
console.log(
  `uk run (syslog file), ordinary output     off ${rate(lines, median(times.off))}  auto ${rate(lines, median(times.auto))}  ratio ${ukRatio.toFixed(3)}  (${median(times.off).toFixed(0)} ms vs ${median(times.auto).toFixed(0)} ms, start-up included)`,
);
if (ukRatio < TARGET_RATIO) ok = false;
console.log(ok ? `OK: uk run with auto >= ${TARGET_RATIO}x of off on ordinary output, every count exact` : 'FAILED: see above');
process.exit(ok ? 0 : 1);
