#!/usr/bin/env node
// GCP throughput: lines per second from a program (`cat` of a file of 100-byte lines), through
// `uk run` and the gcp klib, to the Cloud Logging emulator of @uk/testkit (loopback), measured in
// the same run as two peers doing the same job against the same emulator (a fresh one for each
// run), reading the same lines from a pipe (bench/gcp-peer.mjs): @google-cloud/logging writing
// the lines of each read as one request ("peer"), and a winston logger with
// @google-cloud/logging-winston's transport, one `logger.info` per line ("winston"; the transport
// makes one request per line, so it gets fewer lines: its rate, not its total, is compared).
//
//   node bench/gcp.mjs [--lines N] [--peer-lines M] [--winston-lines W] [--rounds R] [--schema-sample S] [--json]
//
// A run's rate is the lines delivered divided by the time from starting the shipper until the
// emulator stored the last line. Every stored entry is checked against the line the program
// wrote (byte for byte), and each line must arrive exactly once: "lost" and "dup" are counted.
// CPU (user+system) and peak RSS are the shipper's own (uk's process, not the program's), taken
// from process.resourceUsage() at its exit; "emu cpu" is the emulator's (each run starts a fresh
// Node process for the emulator and the checks, so that no run inherits another's state).
// The emulator checks every request (token, limits, log name, resource, entry size) and, with
// --schema-sample S, the request and every S-th entry against Google's protos.json (1 = every
// entry; default 20: a full check of each entry would make the emulator the bottleneck).
// Bounded: fixed line counts, a fixed number of rounds, and a time limit per run.
// Targets: uk >= 500,000 lines/s, zero loss, >= 10 x each peer (each verdict names its peer).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

const args = process.argv.slice(2);
/** `--run-one KIND LINES DIR`: one run, in a process of its own (see `runApart`). */
const one = args.indexOf('--run-one');
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const LINES = option('--lines', 1_000_000);
const PEER_LINES = option('--peer-lines', LINES);
const WINSTON_LINES = option('--winston-lines', 20_000);
const ROUNDS = option('--rounds', 3);
const SAMPLE = option('--schema-sample', 20);
const JSON_OUT = args.includes('--json');
const RUN_LIMIT_MS = 180_000;

const dir = one === -1 ? mkdtempSync(join(tmpdir(), 'uk-bench-gcp-')) : args[one + 3];
const report = join(dir, 'report.mjs');
if (one === -1) {
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    report,
    "import { writeFileSync } from 'node:fs'; process.on('exit', () => { if (process.env.UK_BENCH_REPORT) writeFileSync(process.env.UK_BENCH_REPORT, JSON.stringify(process.resourceUsage())); });\n",
  );
}

/** Line i: exactly 99 characters (and a newline in the file). */
const PAD = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(3);
const lineOf = (i) => {
  const head = `bench line ${i} `;
  return head + PAD.slice(0, 99 - head.length);
};
/** The padding after the space at `space` (which depends on the number of digits). */
const TAIL_AFTER = Array.from({ length: 99 }, (_, space) => PAD.slice(0, Math.max(0, 99 - space - 1)));
/**
 * Whether `text` is line i, byte for byte (without building the line). slice + === rather than
 * startsWith at an offset: the same comparison, at a fraction of the cost per entry.
 */
const isLine = (text, i, space) =>
  text.length === 99 && space > 11 && text.slice(space + 1) === TAIL_AFTER[space] && text.startsWith('bench line ') && String(i) === text.slice(11, space);
if (!isLine(lineOf(123456), 123456, 17) || isLine(`${lineOf(7).slice(0, -1)}!`, 7, 12) || isLine(lineOf(7), 8, 12)) throw new Error('bench: isLine is wrong');

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

const INPUT_OF = { uk: join(dir, 'lines.txt'), peer: join(dir, 'peer-lines.txt'), winston: join(dir, 'winston-lines.txt') };

/** One shipper run against fresh emulators (in this process). */
async function run(kind, n) {
  const { startGcpEmulators } = await import(pathToFileURL(testkit).href);
  const seen = new Uint8Array(n);
  const state = { stored: 0, bad: 0, dup: 0, first: 0, last: 0, stamping: false };
  const e = await startGcpEmulators({
    logging: {
      retainEntries: false,
      dedupe: false,
      schemaCheck: SAMPLE,
      onEntry: (entry) => {
        // A request's entries are stored in one synchronous run: its end, a microtask later, is
        // when they were stored (a clock read per request instead of per entry).
        if (!state.stamping) {
          state.stamping = true;
          if (state.first === 0) state.first = performance.now();
          queueMicrotask(() => {
            state.last = performance.now();
            state.stamping = false;
          });
        }
        // The winston transport sends a line as jsonPayload.message.
        const text = entry.textPayload ?? (typeof entry.jsonPayload?.message === 'string' ? entry.jsonPayload.message : '');
        const space = text.indexOf(' ', 11);
        const i = Number(text.slice(11, space));
        if (!(i >= 0 && i < n) || !isLine(text, i, space)) {
          // The peers' library adds one entry of its own (its version, as jsonPayload without a
          // message); uk's own messages start with "uk: ".
          if ((!entry.jsonPayload || entry.textPayload !== undefined || text !== '') && !text.startsWith('uk: ')) state.bad++;
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
    child = spawn(process.execPath, ['--import', report, ukBin, 'run', '-c', config, '--', 'cat', INPUT_OF.uk], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  } else {
    cat = spawn('cat', [INPUT_OF[kind]], { stdio: ['ignore', 'pipe', 'ignore'] });
    const mode = kind === 'peer' ? 'logging' : 'winston';
    child = spawn(process.execPath, ['--import', report, peerBin, mode, e.logging.url, e.metadata.projectId, e.metadata.instanceId, e.metadata.zone, 'bench'], {
      env,
      stdio: [cat.stdout, 'ignore', 'pipe'],
    });
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

/**
 * One run in a Node process of its own, which hosts the emulator: each shipper meets an emulator
 * in the same state (V8 adapts the emulator's code to the entries it has seen, and one run's
 * garbage is not the next one's). A larger young generation keeps V8 from promoting every parsed
 * request (up to 10 MB of JSON) to the old generation; this tunes the measuring side only: uk and
 * the peers run with Node's defaults.
 */
async function runApart(kind, n) {
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=64', ...process.execArgv, fileURLToPath(import.meta.url), ...args, '--run-one', kind, String(n), dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`bench/gcp: the ${kind} run failed (exit ${code})`);
  return JSON.parse(out);
}

if (one !== -1) {
  process.stdout.write(JSON.stringify(await run(args[one + 1], Number(args[one + 2]))));
  process.exit(0);
}

const KINDS = ['uk', 'peer', 'winston'];
const LINES_OF = { uk: LINES, peer: PEER_LINES, winston: WINSTON_LINES };
for (const kind of KINDS) await writeLines(INPUT_OF[kind], LINES_OF[kind]);
const NAME_OF = { uk: 'uk', peer: '@google-cloud/logging', winston: '@google-cloud/logging-winston' };
const results = [];
for (let round = 1; round <= ROUNDS; round++) {
  // A different order each round, so that no kind always runs first or last.
  for (const kind of [...KINDS.slice(round % 3), ...KINDS.slice(0, round % 3)]) {
    const result = await runApart(kind, LINES_OF[kind]);
    results.push({ round, ...result });
    if (!JSON_OUT) {
      const r = result;
      console.log(
        `round ${round} ${kind.padEnd(7)} ${String(r.linesPerSec).padStart(8)} lines/s (steady ${r.steadyLinesPerSec})  ${r.stored}/${r.lines} stored, lost ${r.lost}, dup ${r.dup}, bad ${r.bad}  delivered in ${r.deliveryMs} ms (exit ${r.exitMs} ms, code ${r.code})  cpu ${r.cpuMs} ms  rss ${r.peakRssMb} MB  emu cpu ${r.emulatorCpuMs} ms  ${r.requests} requests${r.problems ? `  SCHEMA PROBLEMS ${r.problems}` : ''}${r.stderr ? `  stderr: ${r.stderr}` : ''}`,
      );
    }
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const summary = {};
for (const kind of KINDS) {
  const mine = results.filter((r) => r.kind === kind);
  summary[kind] = {
    linesPerSec: median(mine.map((r) => r.linesPerSec)),
    steadyLinesPerSec: median(mine.map((r) => r.steadyLinesPerSec ?? 0)),
    cpuUsPerLine: median(mine.map((r) => ((r.cpuMs ?? NaN) * 1000) / r.lines)),
    peakRssMb: median(mine.map((r) => r.peakRssMb ?? NaN)),
    emulatorCpuMs: median(mine.map((r) => r.emulatorCpuMs)),
    lost: mine.reduce((sum, r) => sum + r.lost, 0),
    dup: mine.reduce((sum, r) => sum + r.dup, 0),
    bad: mine.reduce((sum, r) => sum + r.bad, 0),
  };
}
const ratio = summary.uk.linesPerSec / summary.peer.linesPerSec;
const winstonRatio = summary.uk.linesPerSec / summary.winston.linesPerSec;
const verdict = {
  target500k: summary.uk.linesPerSec >= 500_000,
  zeroLoss: summary.uk.lost === 0 && summary.uk.dup === 0 && summary.uk.bad === 0,
  // Against @google-cloud/logging, the library itself; only a peer that delivered every line counts.
  tenTimesPeer: ratio >= 10 && summary.peer.lost === 0 && summary.peer.bad === 0,
  // Against @google-cloud/logging-winston, the library through its winston transport.
  tenTimesWinston: winstonRatio >= 10 && summary.winston.lost === 0 && summary.winston.bad === 0,
};
if (JSON_OUT) {
  console.log(
    JSON.stringify(
      {
        lines: LINES,
        peerLines: PEER_LINES,
        winstonLines: WINSTON_LINES,
        rounds: ROUNDS,
        schemaSample: SAMPLE,
        results,
        summary,
        ratio,
        winstonRatio,
        verdict,
      },
      null,
      2,
    ),
  );
} else {
  console.log(`\nmedian of ${ROUNDS}:`);
  for (const kind of KINDS) {
    const m = summary[kind];
    console.log(
      `  ${NAME_OF[kind].padEnd(30)} ${String(m.linesPerSec).padStart(8)} lines/s end to end, ${m.steadyLinesPerSec} steady, ${m.cpuUsPerLine.toFixed(2)} µs CPU/line, ${m.peakRssMb} MB peak RSS, emulator ${m.emulatorCpuMs} ms CPU; lost ${m.lost}, duplicated ${m.dup}`,
    );
  }
  console.log(`uk / @google-cloud/logging: ${ratio.toFixed(1)} x; uk / @google-cloud/logging-winston: ${winstonRatio.toFixed(1)} x`);
  const peerVerdict = (met, kind) => (met ? 'met' : summary[kind].lost > 0 || summary[kind].bad > 0 ? 'NOT MEASURED (the peer lost lines)' : 'MISSED');
  console.log(
    `targets: >= 500,000 lines/s ${verdict.target500k ? 'met' : 'MISSED'}; zero loss ${verdict.zeroLoss ? 'met' : 'MISSED'}; >= 10 x @google-cloud/logging ${peerVerdict(verdict.tenTimesPeer, 'peer')}; >= 10 x @google-cloud/logging-winston ${peerVerdict(verdict.tenTimesWinston, 'winston')}`,
  );
}
