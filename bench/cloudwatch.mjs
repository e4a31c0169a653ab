#!/usr/bin/env node
// End-to-end throughput into CloudWatch Logs: lines/s from the moment the process starts until
// the last line is stored by the loopback CloudWatch emulator (@uk/testkit, which checks every
// request's signature, body and limits as the service does), with CPU time and peak RSS.
//
//   uk    `uk run` with Klibs ["tls", "cloudwatch"] running a program that prints N lines of 100
//         bytes (serial console off, so only the CloudWatch path is measured); credentials come
//         from the IMDS emulator, as on an instance.
//   peer  what a Node user would write instead: the program itself logs the same lines and ships
//         them with @aws-sdk/client-cloudwatch-logs, batching up to 10,000 events / 1 MB per
//         PutLogEvents, one call in flight (the order must be kept), same credentials.
//
// Both run in the same invocation, alternating, against the same emulators. Every line is
// checked: exactly once, in order, byte for byte. Bounded: a timeout per run, then it stops.
//
//   node bench/cloudwatch.mjs [--lines N] [--runs N] [--timeout SECONDS]
//
// Exit status: 0 when every run is exact and uk reaches >= 500,000 lines/s and >= 10x the peer.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const LINE_BYTES = 100;
const TARGET_RATE = 500_000;
const TARGET_RATIO = 10;

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '2000000' },
    'peer-lines': { type: 'string', default: '' },
    runs: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '180' },
    'cpu-prof': { type: 'string', default: '' },
    only: { type: 'string', default: '' },
  },
});
const lines = Number(values.lines);
// The peer is much slower; it gets fewer lines by default so the bench stays short (rates are per line).
const peerLines = values['peer-lines'] ? Number(values['peer-lines']) : Math.min(lines, 300_000);
const runs = Number(values.runs);
const timeoutMs = Number(values.timeout) * 1000;
if (![lines, peerLines, runs].every((n) => Number.isSafeInteger(n) && n >= 1) || !(timeoutMs > 0)) {
  console.error('usage: node bench/cloudwatch.mjs [--lines N] [--peer-lines N] [--runs N] [--timeout SECONDS]');
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
const timeBin = '/usr/bin/time';
const haveTime = existsSync(timeBin);
const { startAwsEmulators } = await import(join(root, 'packages/testkit/dist/index.js'));

const dir = mkdtempSync(join(tmpdir(), 'uk-bench-cw-'));
const cleanup = () => rmSync(dir, { recursive: true, force: true });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanup();
    process.exit(130);
  });
}

/** Line i: 99 bytes of text and a newline, all distinct so order and duplicates can be checked. */
const LINE_JS = `const TAILS = Array.from({ length: 10 }, (_, d) => 'abcdefghij'.charAt(d).repeat(${LINE_BYTES - 1 - 15}));
const lineText = (i) => { const n = String(i); return 'line ' + '000000000'.slice(n.length) + n + ' ' + TAILS[i % 10]; };`;
const { lineText } = new Function(`${LINE_JS}; return { lineText };`)();

// The program uk runs: prints N lines as fast as the pipe takes them.
const gen = join(dir, 'gen.mjs');
writeFileSync(
  gen,
  `import { writeSync } from 'node:fs';
${LINE_JS}
const n = Number(process.argv[2]); const per = 10000;
for (let start = 0; start < n; start += per) {
  let block = ''; const end = Math.min(n, start + per);
  for (let i = start; i < end; i++) block += lineText(i) + '\\n';
  const buf = Buffer.from(block, 'latin1'); let off = 0;
  while (off < buf.length) { try { off += writeSync(1, buf, off, buf.length - off); } catch (e) { if (e.code !== 'EAGAIN') throw e; } }
}
`,
);

// The peer: the application ships its own lines with AWS's SDK.
const peer = join(dir, 'peer.mjs');
writeFileSync(
  peer,
  `import { CloudWatchLogsClient, CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from ${JSON.stringify(import.meta.resolve('@aws-sdk/client-cloudwatch-logs'))};
${LINE_JS}
const n = Number(process.argv[2]);
const client = new CloudWatchLogsClient({ region: process.env.AWS_REGION, endpoint: process.env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS });
const logGroupName = 'bench-peer', logStreamName = 'peer-' + process.pid;
try { await client.send(new CreateLogGroupCommand({ logGroupName })); } catch (e) { if (e.name !== 'ResourceAlreadyExistsException') throw e; }
await client.send(new CreateLogStreamCommand({ logGroupName, logStreamName }));
let batch = [], bytes = 0;
const flush = async () => { if (batch.length) await client.send(new PutLogEventsCommand({ logGroupName, logStreamName, logEvents: batch })); batch = []; bytes = 0; };
for (let i = 0; i < n; i++) {
  const message = lineText(i);
  const size = Buffer.byteLength(message) + 26;
  if (batch.length === 10000 || bytes + size > 1048576) await flush();
  batch.push({ timestamp: Date.now(), message }); bytes += size;
}
await flush();
client.destroy();
`,
);

const aws = await startAwsEmulators({ region: 'us-west-1', cloudwatch: { retainEvents: false } });
/** Per stream: how many lines arrived, and the first problem seen. */
const streams = new Map();
aws.cloudwatch.onLogEvents = (group, stream, events) => {
  const key = `${group}/${stream}`;
  let s = streams.get(key);
  if (!s) streams.set(key, (s = { next: 0, problem: undefined, lastAt: 0 }));
  for (const e of events) {
    if (s.problem === undefined && e.message !== lineText(s.next)) s.problem = `line ${s.next}: got ${JSON.stringify(e.message.length > 40 ? `${e.message.slice(0, 20)}…${e.message.slice(-12)}` : e.message)} (${e.message.length} bytes)`;
    s.next++;
  }
  s.lastAt = performance.now();
};

const baseEnv = {};
for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && k !== 'NODE_OPTIONS') baseEnv[k] = v;
const env = {
  ...baseEnv,
  ...aws.env,
  AWS_REGION: 'us-west-1',
  HOME: dir,
  AWS_CONFIG_FILE: join(dir, 'none'),
  AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

let runId = 0;
/** Runs one case; resolves with rate and resource use once the process exited and all lines are stored. */
function measure(kind, count) {
  runId++;
  const group = kind === 'uk' ? 'bench-uk' : 'bench-peer';
  const stream = kind === 'uk' ? `uk-${runId}` : undefined;
  let command;
  if (kind === 'uk') {
    const config = join(dir, `uk-${runId}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        Klibs: ['tls', 'cloudwatch'],
        ManifestPassthrough: { consoles: ['-serial'], cloudwatch: { logging: { log_group: group, log_stream: stream, flush_interval: '0.2' } } },
      }),
    );
    command = [process.execPath, ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : []), ukBin, 'run', '-c', config, '--', process.execPath, gen, String(count)];
  } else {
    command = [process.execPath, peer, String(count)];
  }
  const rusageFile = join(dir, `rusage-${runId}`);
  const argv = haveTime ? [timeBin, '-o', rusageFile, '-f', '%U %S %M', ...command] : command;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(argv[0], argv.slice(1), { cwd: join(root, 'packages/cloudwatch'), env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind}: no result within ${timeoutMs / 1000} s; stderr: ${stderr.slice(-500)}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const key = kind === 'uk' ? `${group}/${stream}` : [...streams.keys()].find((k) => k.startsWith('bench-peer/peer-') && !measured.has(k));
      measured.add(key);
      const s = streams.get(key) ?? { next: 0, problem: 'nothing arrived' };
      let cpu;
      let rssMb;
      if (haveTime && existsSync(rusageFile)) {
        const [user, sys, maxKb] = readFileSync(rusageFile, 'utf8').trim().split('\n').at(-1).split(/\s+/).map(Number);
        cpu = user + sys;
        rssMb = maxKb / 1024;
      }
      if (code !== 0) reject(new Error(`${kind} exited with ${code}: ${stderr.slice(-500)}`));
      else resolve({ count: s.next, exact: s.next === count && s.problem === undefined, problem: s.problem, seconds, rate: s.next / seconds, cpu, rssMb });
    });
  });
}
const measured = new Set();

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (n) => Math.round(n).toLocaleString('en-US');

let ok = true;
try {
  console.log(`bench/cloudwatch: uk ${fmt(lines)} lines, peer ${fmt(peerLines)} lines, of ${LINE_BYTES} bytes; ${runs} runs each, alternating`);
  console.log(`node ${process.version}; emulator on loopback checks SigV4, the service model and the limits of every request\n`);
  const results = { uk: [], peer: [] };
  for (let run = 1; run <= runs; run++) {
    for (const kind of ['uk', 'peer'].filter((k) => !values.only || values.only.split(',').includes(k))) {
      const r = await measure(kind, kind === 'uk' ? lines : peerLines);
      results[kind].push(r);
      const res = r.cpu !== undefined ? `  cpu ${r.cpu.toFixed(2)} s  peak RSS ${r.rssMb.toFixed(0)} MB` : '';
      console.log(`  run ${run} ${kind.padEnd(4)} ${fmt(r.rate).padStart(10)} lines/s  ${r.seconds.toFixed(2)} s  ${fmt(r.count)} lines ${r.exact ? 'exact' : `NOT EXACT (${r.problem ?? 'count'})`}${res}`);
    }
  }
  // Create calls on a group that exists answer ResourceAlreadyExistsException, which both senders expect.
  const errors = aws.cloudwatch.errors.filter((e) => e.errorType !== 'ResourceAlreadyExistsException');
  const uk = median(results.uk.map((r) => r.rate));
  const peerRate = median(results.peer.map((r) => r.rate));
  console.log('');
  console.log('| sender | median lines/s | MB/s | median s | CPU s per 100k lines | peak RSS MB | exact |');
  console.log('|--------|---------------:|-----:|---------:|---------------------:|------------:|-------|');
  for (const [name, rs] of Object.entries(results)) {
    const n = name === 'uk' ? lines : peerLines;
    const cpu = rs[0].cpu !== undefined ? (median(rs.map((r) => r.cpu)) / n) * 100_000 : NaN;
    const rss = rs[0].rssMb !== undefined ? Math.max(...rs.map((r) => r.rssMb)) : NaN;
    console.log(
      `| ${name.padEnd(6)} | ${fmt(median(rs.map((r) => r.rate))).padStart(14)} | ${((median(rs.map((r) => r.rate)) * LINE_BYTES) / 1e6).toFixed(1).padStart(4)} | ${median(rs.map((r) => r.seconds)).toFixed(2).padStart(8)} | ${Number.isNaN(cpu) ? '-' : cpu.toFixed(3).padStart(20)} | ${Number.isNaN(rss) ? '-' : rss.toFixed(0).padStart(11)} | ${rs.every((r) => r.exact) ? 'yes' : 'NO'} |`,
    );
  }
  console.log('');
  console.log(`requests refused by the emulator: ${errors.length}${errors.length ? ` (${errors.slice(0, 3).map((e) => `${e.operation} ${e.errorType}`).join(', ')})` : ''}`);
  console.log(`uk: ${fmt(uk)} lines/s (target >= ${fmt(TARGET_RATE)}) ${uk >= TARGET_RATE ? 'OK' : 'BELOW TARGET'}`);
  console.log(`uk / peer: ${(uk / peerRate).toFixed(1)} x (target >= ${TARGET_RATIO}) ${uk / peerRate >= TARGET_RATIO ? 'OK' : 'BELOW TARGET'}`);
  ok = results.uk.every((r) => r.exact) && results.peer.every((r) => r.exact) && errors.length === 0 && uk >= TARGET_RATE && uk / peerRate >= TARGET_RATIO;
} catch (err) {
  console.error(`bench/cloudwatch: ${err.message}`);
  ok = false;
} finally {
  await aws.close();
  cleanup();
}
process.exit(ok ? 0 : 1);
