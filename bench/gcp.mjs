#!/usr/bin/env node
// GCP throughput: lines per second from a program (`cat` of a file of 100-byte lines), through
// `uk run` and the gcp klib, to the Cloud Logging emulator of @uk/testkit (loopback), measured in
// the same run as @google-cloud/logging doing the same job (bench/gcp-peer.mjs reading the same
// lines from a pipe) against the same emulator.
//
//   node bench/gcp.mjs [--lines N] [--peer-lines M] [--rounds R] [--schema-sample S] [--json]
//
// A run's rate is the lines delivered divided by the time from starting the shipper until the
// emulator stored the last line. Every stored entry is checked against the line the program
// wrote (byte for byte), and each line must arrive exactly once: "lost" and "dup" are counted.
// CPU (user+system) and peak RSS are the shipper's own (uk's process, not the program's), taken
// from process.resourceUsage() at its exit; "emu cpu" is this process (the emulator).
// The emulator checks every request (token, limits, log name, resource, entry size) and, with
// --schema-sample S, the request and every S-th entry against Google's protos.json (1 = every
// entry; default 20: a full check of each entry would make the emulator the bottleneck).
// Bounded: fixed line counts, a fixed number of rounds, and a time limit per run.
// Target: uk >= 500,000 lines/s, zero loss, >= 10 x the peer.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The emulator (in this process) parses up to 10 MB of JSON per request; a larger young
// generation keeps V8 from promoting every parsed request to the old generation. This tunes the
// measuring side only: uk and the peer run with Node's defaults.
if (!process.execArgv.some((arg) => arg.startsWith('--max-semi-space-size'))) {
  const self = spawn(process.execPath, ['--max-semi-space-size=64', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  const [code] = await once(self, 'exit');
  process.exit(code ?? 1);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ukBin = join(root, 'packages/core/bin/uk.js');
const peerBin = join(root, 'bench/gcp-peer.mjs');
const testkit = join(root, 'packages/testkit/dist/index.js');
for (const file of [testkit, join(root, 'packages/gcp/dist/index.js'), join(root, 'packages/tls/dist/index.js')]) {
  if (!existsSync(file)) {
    console.error(`bench/gcp: ${file} is missing; build first (npx nx run-many -t build)`);
    process.exit(2);
  }
}
const { startGcpEmulators } = await import(pathToFileURL(testkit).href);

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const LINES = option('--lines', 1_000_000);
const PEER_LINES = option('--peer-lines', LINES);
const ROUNDS = option('--rounds', 3);
const SAMPLE = option('--schema-sample', 20);
const JSON_OUT = args.includes('--json');
const RUN_LIMIT_MS = 180_000;

const dir = mkdtempSync(join(tmpdir(), 'uk-bench-gcp-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const report = join(dir, 'report.mjs');
writeFileSync(report, "import { writeFileSync } from 'node:fs'; process.on('exit', () => { if (process.env.UK_BENCH_REPORT) writeFileSync(process.env.UK_BENCH_REPORT, JSON.stringify(process.resourceUsage())); });\n");

/** Line i: exactly 99 characters (and a newline in the file). */
const PAD = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(3);
const lineOf = (i) => {
  const head = `bench line ${i} `;
  return head + PAD.slice(0, 99 - head.length);
};
/** Whether `text` is line i, byte for byte (without building the line). */
const isLine = (text, i, space) => text.length === 99 && text.startsWith(PAD.slice(0, 99 - space - 1), space + 1) && text.startsWith('bench line ') && String(i) === text.slice(11, space);

async function writeLines(file, n) {
  const out = createWriteStream(file);
  let chunk = '';
  for (let i = 0; i < n; i++) {
    chunk += `${lineOf(i)}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

const ukInput = join(dir, 'lines.txt');
await writeLines(ukInput, LINES);
const peerInput = join(dir, 'peer-lines.txt');
await writeLines(peerInput, PEER_LINES);

/** One shipper run against fresh emulators. */
async function run(kind, n) {
  const seen = new Uint8Array(n);
  const state = { stored: 0, bad: 0, dup: 0, first: 0, last: 0 };
  const e = await startGcpEmulators({
    logging: {
      retainEntries: false,
      dedupe: false,
      schemaCheck: SAMPLE,
      onEntry: (entry) => {
        state.last = performance.now();
        if (state.first === 0) state.first = state.last;
        const text = entry.textPayload ?? '';
        const space = text.indexOf(' ', 11);
        const i = Number(text.slice(11, space));
        if (!(i >= 0 && i < n) || !isLine(text, i, space)) {
          // The peer's library adds one entry of its own (its version); uk's own messages start with "uk: ".
          if (!entry.jsonPayload && !text.startsWith('uk: ')) state.bad++;
          return;
        }
        if (seen[i]) state.dup++;
        else state.stored++;
        seen[i] = 1;
      },
    },
  });
  const usageFile = join(dir, `${kind}-usage.json`);
  rmSync(usageFile, { force: true });
  const env = { ...process.env, ...e.env, UK_BENCH_REPORT: usageFile };
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  let child;
  let cat;
  if (kind === 'uk') {
    const config = join(dir, 'uk.json');
    writeFileSync(config, JSON.stringify({ Klibs: ['tls', 'gcp'], ManifestPassthrough: { gcp: { logging: { log_id: 'bench' } }, consoles: ['-serial'] } }));
    child = spawn(process.execPath, ['--import', report, ukBin, 'run', '-c', config, '--', 'cat', ukInput], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  } else {
    cat = spawn('cat', [peerInput], { stdio: ['ignore', 'pipe', 'ignore'] });
    child = spawn(process.execPath, ['--import', report, peerBin, e.logging.url, e.metadata.projectId, e.metadata.instanceId, e.metadata.zone, 'bench'], { env, stdio: [cat.stdout, 'ignore', 'pipe'] });
  }
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  const exitMs = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  await e.close();
  const usage = existsSync(usageFile) ? JSON.parse(readFileSync(usageFile, 'utf8')) : undefined;
  const deliveryMs = (state.last || performance.now()) - started;
  return {
    kind,
    lines: n,
    code,
    stored: state.stored,
    lost: n - state.stored,
    dup: state.dup,
    bad: state.bad,
    deliveryMs: Math.round(deliveryMs),
    exitMs: Math.round(exitMs),
    linesPerSec: Math.round(state.stored / (deliveryMs / 1000)),
    // From the first line stored to the last: the rate once both sides are running.
    steadyLinesPerSec: state.last > state.first ? Math.round(state.stored / ((state.last - state.first) / 1000)) : undefined,
    cpuMs: usage ? Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000) : undefined,
    peakRssMb: usage ? Math.round(usage.maxRSS / 1024) : undefined,
    emulatorCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    requests: e.logging.requests.length,
    problems: e.logging.problems.length,
    stderr: stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | '),
  };
}

const results = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const kind of round % 2 ? ['uk', 'peer'] : ['peer', 'uk']) {
    const result = await run(kind, kind === 'uk' ? LINES : PEER_LINES);
    results.push({ round, ...result });
    if (!JSON_OUT) {
      const r = result;
      console.log(
        `round ${round} ${kind.padEnd(4)} ${String(r.linesPerSec).padStart(8)} lines/s (steady ${r.steadyLinesPerSec})  ${r.stored}/${r.lines} stored, lost ${r.lost}, dup ${r.dup}, bad ${r.bad}  delivered in ${r.deliveryMs} ms (exit ${r.exitMs} ms, code ${r.code})  cpu ${r.cpuMs} ms  rss ${r.peakRssMb} MB  emu cpu ${r.emulatorCpuMs} ms  ${r.requests} requests${r.problems ? `  SCHEMA PROBLEMS ${r.problems}` : ''}${r.stderr ? `  stderr: ${r.stderr}` : ''}`,
      );
    }
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const summary = {};
for (const kind of ['uk', 'peer']) {
  const mine = results.filter((r) => r.kind === kind);
  summary[kind] = {
    linesPerSec: median(mine.map((r) => r.linesPerSec)),
    steadyLinesPerSec: median(mine.map((r) => r.steadyLinesPerSec ?? 0)),
    cpuUsPerLine: median(mine.map((r) => (r.cpuMs ?? NaN) * 1000 / r.lines)),
    peakRssMb: median(mine.map((r) => r.peakRssMb ?? NaN)),
    lost: mine.reduce((sum, r) => sum + r.lost, 0),
    dup: mine.reduce((sum, r) => sum + r.dup, 0),
    bad: mine.reduce((sum, r) => sum + r.bad, 0),
  };
}
const ratio = summary.uk.linesPerSec / summary.peer.linesPerSec;
const verdict = {
  target500k: summary.uk.linesPerSec >= 500_000,
  zeroLoss: summary.uk.lost === 0 && summary.uk.dup === 0 && summary.uk.bad === 0,
  tenTimesPeer: ratio >= 10,
};
if (JSON_OUT) {
  console.log(JSON.stringify({ lines: LINES, peerLines: PEER_LINES, rounds: ROUNDS, schemaSample: SAMPLE, results, summary, ratio, verdict }, null, 2));
} else {
  console.log(`\nmedian of ${ROUNDS}: uk ${summary.uk.linesPerSec} lines/s end to end, ${summary.uk.steadyLinesPerSec} steady (${summary.uk.cpuUsPerLine.toFixed(2)} µs CPU/line, ${summary.uk.peakRssMb} MB peak RSS); @google-cloud/logging ${summary.peer.linesPerSec} lines/s end to end, ${summary.peer.steadyLinesPerSec} steady (${summary.peer.cpuUsPerLine.toFixed(2)} µs CPU/line, ${summary.peer.peakRssMb} MB)`);
  console.log(`uk / peer: ${ratio.toFixed(1)} x; loss uk ${summary.uk.lost} peer ${summary.peer.lost}; duplicates uk ${summary.uk.dup} peer ${summary.peer.dup}`);
  console.log(`targets: >= 500,000 lines/s ${verdict.target500k ? 'met' : 'MISSED'}; zero loss ${verdict.zeroLoss ? 'met' : 'MISSED'}; >= 10 x peer ${verdict.tenTimesPeer ? 'met' : 'MISSED'}`);
}
