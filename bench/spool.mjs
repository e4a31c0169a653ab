#!/usr/bin/env node
// What the disk spool (uk.spool_dir) costs, in one run, with `uk run` shipping into the loopback
// CloudWatch emulator (@uk/testkit; the model check of bodies off, so that the sink is not what
// is measured):
//
//   throughput  N lines of 100 bytes (`cat` of a file made first), spool off and on, alternating,
//               `--runs` times each: lines/s from start until the last line is stored, and uk's
//               own CPU per line (its process alone, not the program's). Target: spool on
//               >= 0.7x spool off (the median of each).
//   outage      CloudWatch fails every PutLogEvents (HTTP 500) while the program writes M lines
//               (spool on, logging.buffer_size 8m): uk's RSS sampled as the spool grows, which
//               must stay flat (the records wait on disk, not in memory), then the disk bytes
//               per record (segment bytes / events in them).
//
//   node bench/spool.mjs [--lines N] [--outage-lines M] [--runs R] [--timeout SECONDS]
//
// Exit status: 0 when every throughput run stored every line, the ratio is >= 0.7 and the RSS
// from a quarter of the outage's spool to its end grew by less than 20 MB.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    'outage-lines': { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '180' },
  },
});
const lines = Number(values.lines);
const outageLines = Number(values['outage-lines']);
const runs = Number(values.runs);
const timeoutMs = Number(values.timeout) * 1000;
if (![lines, outageLines, runs].every((n) => Number.isSafeInteger(n) && n >= 1) || !(timeoutMs > 0)) {
  console.error('usage: node bench/spool.mjs [--lines N] [--outage-lines M] [--runs R] [--timeout SECONDS]');
  process.exit(2);
}

const root = fileURLToPath(new URL('..', import.meta.url));
const ukBin = join(root, 'packages/core/bin/uk.js');
for (const built of ['packages/core/dist/cli.js', 'packages/tls/dist/index.js', 'packages/cloudwatch/dist/index.js', 'packages/testkit/dist/index.js']) {
  if (!existsSync(join(root, built))) {
    console.error(`bench: ${built} is missing; run \`npx nx run-many -t build\` first`);
    process.exit(2);
  }
}
const { startAwsEmulators } = await import(join(root, 'packages/testkit/dist/index.js'));
const { scanSegment } = await import(join(root, 'packages/core/dist/index.js'));

const dir = mkdtempSync(join(tmpdir(), 'uk-bench-spool-'));
const cleanup = () => rmSync(dir, { recursive: true, force: true });
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    cleanup();
    process.exit(130);
  });

// The lines: 99 bytes and a newline each, made once.
const linesFile = join(dir, 'lines.txt');
{
  const fd = openSync(linesFile, 'w');
  const tail = 'x'.repeat(84);
  for (let start = 0; start < lines; start += 10_000) {
    let block = '';
    for (let i = start; i < Math.min(lines, start + 10_000); i++) block += `line ${String(i).padStart(9, '0')} ${tail}\n`;
    writeFileSync(fd, block);
  }
}

// uk's own CPU, written at exit by uk's process (loaded with --import).
const report = join(dir, 'report.mjs');
writeFileSync(
  report,
  "import { writeFileSync } from 'node:fs'; process.on('exit', () => { if (process.env.UK_BENCH_REPORT && process.argv[1]?.endsWith('uk.js')) { const r = process.resourceUsage(); writeFileSync(process.env.UK_BENCH_REPORT, JSON.stringify({ cpu: (r.userCPUTime + r.systemCPUTime) / 1e6, rssMb: r.maxRSS / 1024 })); } });\n",
);

const aws = await startAwsEmulators({ region: 'us-west-1', cloudwatch: { retainEvents: false, validateEvery: 0 } });
const stored = new Map();
aws.cloudwatch.onLogEvents = (group, stream, events) => stored.set(`${group}/${stream}`, (stored.get(`${group}/${stream}`) ?? 0) + events.length);

const env = {};
for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && k !== 'NODE_OPTIONS') env[k] = v;
Object.assign(env, aws.env, { HOME: dir, AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') });

let runId = 0;
function configFor(stream, spool, logging = {}) {
  const file = join(dir, `uk-${runId}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      Klibs: ['tls', 'cloudwatch'],
      ManifestPassthrough: {
        consoles: ['-serial'],
        ...(spool ? { uk: { spool_dir: join(dir, `spool-${runId}`) } } : {}),
        cloudwatch: { logging: { log_group: 'bench', log_stream: stream, flush_interval: '0.2', ...logging } },
      },
    }),
  );
  return file;
}

function throughput(spool) {
  runId++;
  const stream = `${spool ? 'on' : 'off'}-${runId}`;
  const ukReport = join(dir, `report-${runId}.json`);
  const config = configFor(stream, spool);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', report, ukBin, 'run', '-c', config, '--', 'cat', linesFile], {
      cwd: join(root, 'packages/cloudwatch'),
      env: { ...env, UK_BENCH_REPORT: ukReport },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const count = stored.get(`bench/${stream}`) ?? 0;
      if (code !== 0) return reject(new Error(`uk exited with ${code}: ${stderr.slice(-800)}`));
      const own = JSON.parse(readFileSync(ukReport, 'utf8'));
      resolve({ spool, count, exact: count === lines, rate: count / seconds, cpuUs: (own.cpu * 1e6) / lines, rssMb: own.rssMb });
    });
  });
}

const results = [];
for (let r = 0; r < runs; r++) for (const spool of [false, true]) results.push(await throughput(spool));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (spool) => {
  const rs = results.filter((x) => x.spool === spool);
  return {
    rate: median(rs.map((x) => x.rate)),
    cpuUs: median(rs.map((x) => x.cpuUs)),
    rssMb: Math.max(...rs.map((x) => x.rssMb)),
    exact: rs.every((x) => x.exact),
  };
};
const off = summary(false);
const on = summary(true);
const ratio = on.rate / off.rate;
const fmt = (n) => Math.round(n).toLocaleString('en-US');
console.log(`throughput: ${fmt(lines)} lines of 100 bytes, ${runs} runs each, median`);
console.log(
  `  spool off  ${fmt(off.rate)} lines/s  uk CPU ${off.cpuUs.toFixed(2)} µs/line  peak RSS ${off.rssMb.toFixed(0)} MB  ${off.exact ? 'exact' : 'LOST LINES'}`,
);
console.log(
  `  spool on   ${fmt(on.rate)} lines/s  uk CPU ${on.cpuUs.toFixed(2)} µs/line  peak RSS ${on.rssMb.toFixed(0)} MB  ${on.exact ? 'exact' : 'LOST LINES'}`,
);
console.log(`  ratio on/off ${ratio.toFixed(2)} (target >= 0.70)`);

// The outage: the spool grows, the memory must not.
runId++;
aws.cloudwatch.faults.add({ kind: 'error', status: 500, type: 'InternalFailure' }, { match: 'PutLogEvents', times: Infinity });
const outageFile = join(dir, 'outage.mjs');
writeFileSync(
  outageFile,
  `const tail = 'y'.repeat(84); const n = ${outageLines};
for (let start = 0; start < n; start += 10000) {
  let block = '';
  for (let i = start; i < Math.min(n, start + 10000); i++) block += 'line ' + String(i).padStart(9, '0') + ' ' + tail + '\\n';
  if (!process.stdout.write(block)) await new Promise((r) => process.stdout.once('drain', r));
}
setTimeout(() => {}, 600000);`,
);
const spoolRoot = join(dir, `spool-${runId}`);
const child = spawn(process.execPath, [ukBin, 'run', '-c', configFor('outage', true, { buffer_size: '8m' }), '--', process.execPath, outageFile], {
  cwd: join(root, 'packages/cloudwatch'),
  env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let outageErr = '';
child.stderr.on('data', (c) => (outageErr += c));
const segments = () => {
  const found = [];
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.seg')) found.push(join(d, e.name));
    }
  };
  walk(spoolRoot);
  return found;
};
const rssMb = () => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
  } catch {
    return NaN;
  }
};
// Sample every 250 ms until the spool holds every line (counted by the segments' sizes first,
// exactly at the end), or the timeout.
const samples = [];
const deadline = Date.now() + timeoutMs;
const approxRecordBytes = 150;
for (;;) {
  const bytes = segments().reduce((n, f) => n + readFileSync(f).length, 0);
  samples.push({ bytes, rss: rssMb() });
  if (bytes >= outageLines * approxRecordBytes * 0.9 || Date.now() > deadline) break;
  await new Promise((r) => setTimeout(r, 250));
}
// Let the last writes land, then count exactly.
await new Promise((r) => setTimeout(r, 1000));
let records = 0;
let segmentBytes = 0;
for (const f of segments()) {
  const buf = readFileSync(f);
  segmentBytes += buf.length;
  records += scanSegment(buf).records;
}
samples.push({ bytes: segmentBytes, rss: rssMb() });
child.kill('SIGKILL');
// The first sample at which the spool held this share of what it holds at the end.
const at = (share) => samples.find((s) => s.bytes >= share * segmentBytes) ?? samples[samples.length - 1];
console.log(`outage: ${fmt(outageLines)} lines while every PutLogEvents fails (buffer_size 8m, spool on)`);
for (const share of [0.25, 0.5, 0.75, 1]) {
  const s = at(share);
  console.log(`  spool ${(s.bytes / 1e6).toFixed(0).padStart(5)} MB  uk RSS ${s.rss.toFixed(0)} MB`);
}
// From a quarter of the spool on, the memory buffer is long full: what grows there grows with the spool.
const growth = Math.max(...samples.filter((s) => s.bytes >= 0.25 * segmentBytes).map((s) => s.rss)) - at(0.25).rss;
console.log(`  RSS growth from a quarter of the spool to the end: ${growth.toFixed(1)} MB (flat: < 20 MB)`);
console.log(
  `  disk: ${fmt(records)} events in ${(segmentBytes / 1e6).toFixed(1)} MB = ${(segmentBytes / Math.max(1, records)).toFixed(1)} bytes per event (line of 99 bytes as PutLogEvents JSON with its timestamp, block and frame headers)`,
);
if (records < outageLines) console.log(`  (the spool held ${fmt(records)} of ${fmt(outageLines)} lines when sampling ended)`);

await aws.close();
cleanup();
const ok = off.exact && on.exact && ratio >= 0.7 && growth < 20;
if (!ok) console.log('bench: a target was missed');
process.exit(ok ? 0 : 1);
