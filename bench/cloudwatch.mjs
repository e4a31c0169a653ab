#!/usr/bin/env node
// End-to-end throughput into CloudWatch Logs: lines/s from the moment the process starts until
// the last line is stored by the loopback CloudWatch emulator (@uk/testkit, which checks every
// request's signature, body and limits as the service does), with CPU time and peak RSS.
//
//   uk        `uk run` with Klibs ["tls", "cloudwatch"] running `cat` of a file of N lines of
//             100 bytes, written before the runs (as bench/gcp.mjs does; serial console off, so
//             only the CloudWatch path is measured); credentials come from the IMDS emulator, as
//             on an instance.
//   winston   what the issue names: the program logs the same lines with winston and ships them
//             with winston-cloudwatch (its defaults: upload every 2 s, up to 1 MB per call, a
//             DescribeLogStreams before the calls that need a token), then kthxbye() at the end.
//   sdk       the program ships them itself with @aws-sdk/client-cloudwatch-logs, batching up to
//             10,000 events / 1 MB per PutLogEvents, one call in flight (order must be kept).
//   uk-light  (not the headline, with --light) uk again into a second emulator that skips the
//             model check of bodies (validateEvery: 0; signatures, JSON and limits still checked),
//             to show how much of the time is the emulator's.
//
// All run in the same invocation, alternating, against the same emulators, with the same
// credentials. Every line is checked, byte for byte: delivered exactly once ("lost", "dup") and in
// order ("order": events that come after a later line in the stream, read back by timestamp as
// GetLogEvents returns them).
//
// CPU is user+system of the whole process tree (/usr/bin/time: for uk that includes the program
// printing the lines, for the peers the program is the shipper); "uk CPU" is uk's process alone.
// "sink CPU" is this process (emulators and checking) during the run. Peak RSS: the largest
// process of the tree.
//
//   node bench/cloudwatch.mjs [--lines N] [--peer-lines N] [--runs N] [--timeout SECONDS]
//                             [--only uk,winston,sdk,uk-light] [--light] [--cpu-prof DIR]
//
// Exit status: 0 when every run is exact and uk reaches >= 500,000 lines/s and >= 10x each peer.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

// The emulator (in this process) parses 1 MB of JSON per request; a larger young generation keeps
// V8 from promoting every parsed request. This tunes the measuring side only: uk and the peers
// run with Node's defaults.
if (!process.execArgv.some((arg) => arg.startsWith('--max-semi-space-size'))) {
  const self = spawn(process.execPath, ['--max-semi-space-size=64', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => self.kill(signal));
  const [code] = await once(self, 'exit');
  process.exit(code ?? 1);
}

const LINE_BYTES = 100;
const TARGET_RATE = 500_000;
const TARGET_RATIO = 10;

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '2000000' },
    'peer-lines': { type: 'string', default: '' },
    runs: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '180' },
    only: { type: 'string', default: '' },
    light: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string', default: '' },
  },
});
const lines = Number(values.lines);
// The peers get as many lines as uk by default: the same work, and start-up weighs the same.
const peerLines = values['peer-lines'] ? Number(values['peer-lines']) : lines;
const runs = Number(values.runs);
const timeoutMs = Number(values.timeout) * 1000;
const KINDS = ['uk', 'winston', 'sdk', 'uk-light'];
const kinds = values.only ? values.only.split(',') : KINDS.filter((k) => k !== 'uk-light' || values.light);
if (![lines, peerLines, runs].every((n) => Number.isSafeInteger(n) && n >= 1) || !(timeoutMs > 0) || !kinds.every((k) => KINDS.includes(k))) {
  console.error(
    'usage: node bench/cloudwatch.mjs [--lines N] [--peer-lines N] [--runs N] [--timeout SECONDS] [--only uk,winston,sdk,uk-light] [--light] [--cpu-prof DIR]',
  );
  process.exit(2);
}
const LABELS = {
  uk: 'uk + cloudwatch klib',
  winston: 'winston + winston-cloudwatch',
  sdk: '@aws-sdk/client-cloudwatch-logs',
  'uk-light': 'uk, sink without model checks *',
};

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

// The lines uk's program prints (`cat` of this file, made once before the runs).
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

// uk's own CPU: written at exit by uk's process (not the program's), loaded with --import.
const report = join(dir, 'report.mjs');
writeFileSync(
  report,
  "import { writeFileSync } from 'node:fs'; process.on('exit', () => { if (process.env.UK_BENCH_REPORT && process.argv[1]?.endsWith('uk.js')) { const r = process.resourceUsage(); writeFileSync(process.env.UK_BENCH_REPORT, JSON.stringify({ cpu: (r.userCPUTime + r.systemCPUTime) / 1e6, rssMb: r.maxRSS / 1024 })); } });\n",
);

// Peer 1: the application ships its own lines with AWS's SDK.
const sdkPeer = join(dir, 'sdk-peer.mjs');
writeFileSync(
  sdkPeer,
  `import { CloudWatchLogsClient, CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from ${JSON.stringify(import.meta.resolve('@aws-sdk/client-cloudwatch-logs'))};
${LINE_JS}
const n = Number(process.argv[2]);
const client = new CloudWatchLogsClient({ region: process.env.AWS_REGION, endpoint: process.env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS });
const logGroupName = 'bench-sdk', logStreamName = process.argv[3];
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

// Peer 2, the one the issue names: winston with the winston-cloudwatch transport, as its README
// shows (defaults, the message as it is), and kthxbye() to flush before the program ends.
const winstonPeer = join(dir, 'winston-peer.mjs');
writeFileSync(
  winstonPeer,
  `import winston from ${JSON.stringify(import.meta.resolve('winston'))};
import WinstonCloudWatch from ${JSON.stringify(import.meta.resolve('winston-cloudwatch'))};
${LINE_JS}
const n = Number(process.argv[2]);
const transport = new WinstonCloudWatch({
  logGroupName: 'bench-winston',
  logStreamName: process.argv[3],
  awsRegion: process.env.AWS_REGION,
  awsOptions: { endpoint: process.env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS },
  messageFormatter: (info) => info.message,
});
let failed;
const logger = winston.createLogger({ transports: [transport] });
transport.on('error', (e) => (failed = e));
for (let i = 0; i < n; i++) logger.info(lineText(i));
// Every line has reached the transport once it finishes; then flush what it holds.
const finished = new Promise((resolve) => transport.once('finish', resolve));
logger.end();
await finished;
// kthxbye gives up after 10 s by default; one bounded by the bench's own timeout instead.
transport.flushTimeout = Date.now() + ${JSON.stringify(timeoutMs)};
await new Promise((resolve, reject) => transport.kthxbye((e) => (e ? reject(e) : resolve())));
transport.cloudwatchlogs.destroy();
if (failed) throw failed;
`,
);

const linesFile = join(dir, 'lines.txt');
if (kinds.some((k) => k.startsWith('uk'))) {
  const made = spawn(process.execPath, [gen, String(lines)], { stdio: ['ignore', openSync(linesFile, 'w'), 'inherit'] });
  const [code] = await once(made, 'exit');
  if (code !== 0) throw new Error(`bench: writing ${linesFile} failed`);
}

const aws = await startAwsEmulators({ region: 'us-west-1', cloudwatch: { retainEvents: false } });
const light = kinds.includes('uk-light') ? await startAwsEmulators({ region: 'us-west-1', cloudwatch: { retainEvents: false, validateEvery: 0 } }) : undefined;

// The check below is m === lineText(i) without building lineText(i): same length, 'line ', nine
// digits that give i, a space, and the tail of line i.
const { TAILS } = new Function(`${LINE_JS}; return { TAILS };`)();
/** The index of line text `m`, or -1 if it is not exactly one of the lines. */
function lineIndex(m) {
  if (m.length !== LINE_BYTES - 1 || m.charCodeAt(14) !== 32) return -1;
  let i = 0;
  for (let k = 5; k < 14; k++) {
    const d = m.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return -1;
    i = i * 10 + d;
  }
  // slice + === rather than endsWith: the same comparison, at half the cost per event.
  return m.slice(15) === TAILS[i % 10] && m.startsWith('line ') ? i : -1;
}
if (lineIndex(lineText(1234567)) !== 1234567 || lineIndex(`${lineText(5).slice(0, -1)}x`) !== -1) throw new Error('bench: lineIndex is wrong');

/** Per stream: lines delivered, duplicates, events out of order, the first corrupt one. */
const streams = new Map();
const maxLines = Math.max(lines, peerLines);
// Checked right after the emulator answered (not before): the check is the bench's, not the
// service's, and should not lengthen each call. measure() waits for the checks to finish.
//
// The order checked is the stream's order as GetLogEvents returns it: by timestamp. A sender may
// have two calls in flight at once (uk does, when the second call's events are all later), so
// calls may be stored in either order; the last few calls of a stream wait in a window sorted by
// their first timestamp before they are checked, and a call whose first event is earlier than the
// last event checked counts as out of order (the service would interleave them).
const WINDOW = 4;
let unchecked = [];
function onLogEvents(group, stream, events) {
  if (unchecked.length === 0) setImmediate(checkPending);
  unchecked.push([group, stream, events]);
}
function checkPending() {
  const batches = unchecked;
  unchecked = [];
  for (const [group, stream, events] of batches) {
    if (events.length === 0) continue;
    const s = streamState(`${group}/${stream}`);
    let at = s.window.length;
    while (at > 0 && s.window[at - 1][0].timestamp > events[0].timestamp) at--;
    s.window.splice(at, 0, events);
    if (s.window.length > WINDOW) check(s, s.window.shift());
  }
}
/** Checks what is left in a stream's window (once its sender is done). */
function checkWindow(key) {
  checkPending();
  const s = streams.get(key);
  while (s?.window.length) check(s, s.window.shift());
}
function streamState(key) {
  let s = streams.get(key);
  if (!s)
    streams.set(
      key,
      (s = {
        count: 0,
        unique: 0,
        dup: 0,
        order: 0,
        next: 0,
        seen: new Uint8Array(maxLines),
        problem: undefined,
        lastAt: 0,
        window: [],
        lastTimestamp: -Infinity,
      }),
    );
  return s;
}
function check(s, events) {
  if (events[0].timestamp < s.lastTimestamp) s.order++;
  s.lastTimestamp = events[events.length - 1].timestamp;
  for (const e of events) {
    const m = e.message;
    const i = lineIndex(m);
    s.count++;
    if (i < 0 || i >= maxLines) {
      s.problem ??= `event ${s.count}: got ${JSON.stringify(m.length > 40 ? `${m.slice(0, 20)}…${m.slice(-12)}` : m)} (${m.length} chars)`;
      continue;
    }
    if (s.seen[i]) s.dup++;
    else {
      s.seen[i] = 1;
      s.unique++;
    }
    if (i !== s.next) s.order++;
    s.next = i + 1;
  }
  s.lastAt = performance.now();
}
aws.cloudwatch.onLogEvents = onLogEvents;
if (light) light.cloudwatch.onLogEvents = onLogEvents;

const envFor = (emulators) => {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && k !== 'NODE_OPTIONS') env[k] = v;
  return {
    ...env,
    ...emulators.env,
    AWS_REGION: 'us-west-1',
    HOME: dir,
    AWS_CONFIG_FILE: join(dir, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
};

let runId = 0;
/** Runs one case; resolves with rate and resource use once the process exited and all lines are stored. */
function measure(kind, count) {
  runId++;
  const isUk = kind === 'uk' || kind === 'uk-light';
  const group = `bench-${kind}`;
  const stream = `${kind}-${runId}`;
  const rusageFile = join(dir, `rusage-${runId}`);
  const ukReport = join(dir, `uk-report-${runId}.json`);
  const env = { ...envFor(kind === 'uk-light' ? light : aws), ...(isUk ? { UK_BENCH_REPORT: ukReport } : {}) };
  let command;
  if (isUk) {
    const config = join(dir, `uk-${runId}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        Klibs: ['tls', 'cloudwatch'],
        ManifestPassthrough: { consoles: ['-serial'], cloudwatch: { logging: { log_group: group, log_stream: stream, flush_interval: '0.2' } } },
      }),
    );
    const prof = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
    command = [process.execPath, '--import', report, ...prof, ukBin, 'run', '-c', config, '--', 'cat', linesFile];
  } else {
    command = [process.execPath, kind === 'sdk' ? sdkPeer : winstonPeer, String(count), stream];
  }
  const argv = haveTime ? [timeBin, '-o', rusageFile, '-f', '%U %S %M', ...command] : command;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const sinkCpu = process.cpuUsage();
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
      checkWindow(`${group}/${stream}`);
      const sink = process.cpuUsage(sinkCpu);
      const s = streams.get(`${group}/${stream}`) ?? { count: 0, unique: 0, dup: 0, order: 0, problem: 'nothing arrived' };
      let cpu;
      let rssMb;
      if (haveTime && existsSync(rusageFile)) {
        const [user, sys, maxKb] = readFileSync(rusageFile, 'utf8').trim().split('\n').at(-1).split(/\s+/).map(Number);
        cpu = user + sys;
        rssMb = maxKb / 1024;
      }
      const own = isUk && existsSync(ukReport) ? JSON.parse(readFileSync(ukReport, 'utf8')) : undefined;
      if (code !== 0) reject(new Error(`${kind} exited with ${code}: ${stderr.slice(-800)}`));
      else
        resolve({
          count: s.count,
          lost: count - s.unique,
          dup: s.dup,
          order: s.order,
          problem: s.problem,
          exact: s.unique === count && s.count === count && s.dup === 0 && s.order === 0 && s.problem === undefined,
          seconds,
          rate: s.unique / seconds,
          cpu,
          rssMb,
          ukCpu: own?.cpu,
          sinkCpu: (sink.user + sink.system) / 1e6,
        });
    });
  });
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (n) => (n === undefined || Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const fix = (n, d) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
const verdict = (r) => (r.exact ? 'exact' : `NOT EXACT: lost ${r.lost}, dup ${r.dup}, out of order ${r.order}${r.problem ? `, ${r.problem}` : ''}`);

let ok = true;
try {
  console.log(
    `bench/cloudwatch: uk ${fmt(lines)} lines, peers ${fmt(peerLines)} lines, of ${LINE_BYTES} bytes; ${runs} runs each, alternating (${kinds.join(', ')})`,
  );
  console.log(`node ${process.version}; emulator on loopback checks SigV4, the service model and the limits of every request\n`);
  const results = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let run = 1; run <= runs; run++) {
    for (const kind of kinds) {
      const r = await measure(kind, kind.startsWith('uk') ? lines : peerLines);
      results[kind].push(r);
      const res =
        r.cpu !== undefined
          ? `  cpu ${r.cpu.toFixed(2)} s${r.ukCpu !== undefined ? ` (uk ${r.ukCpu.toFixed(2)} s)` : ''}  peak RSS ${r.rssMb.toFixed(0)} MB`
          : '';
      console.log(
        `  run ${run} ${kind.padEnd(8)} ${fmt(r.rate).padStart(10)} lines/s  ${r.seconds.toFixed(2)} s  ${fmt(r.count)} lines ${verdict(r)}${res}  sink cpu ${r.sinkCpu.toFixed(2)} s`,
      );
    }
  }
  // Create calls on a group that exists answer ResourceAlreadyExistsException, which the senders
  // expect; winston-cloudwatch looks its group up before creating it (ResourceNotFoundException).
  const errors = [...aws.cloudwatch.errors, ...(light?.cloudwatch.errors ?? [])].filter(
    (e) => e.errorType !== 'ResourceAlreadyExistsException' && !(e.operation === 'DescribeLogStreams' && e.errorType === 'ResourceNotFoundException'),
  );
  const rate = (k) => (results[k] ? median(results[k].map((r) => r.rate)) : undefined);
  const uk = rate('uk');
  console.log('');
  console.log(
    '| sender | lines | median lines/s | MB/s | median s | CPU s (tree) | uk CPU s | CPU s / 100k lines | peak RSS MB | sink CPU s | delivered | uk ×  |',
  );
  console.log(
    '|--------|------:|---------------:|-----:|---------:|-------------:|---------:|-------------------:|------------:|-----------:|-----------|-----:|',
  );
  for (const [name, rs] of Object.entries(results)) {
    const n = name.startsWith('uk') ? lines : peerLines;
    const r = median(rs.map((x) => x.rate));
    const cpu = rs[0].cpu !== undefined ? median(rs.map((x) => x.cpu)) : undefined;
    const ukCpu = rs[0].ukCpu !== undefined ? median(rs.map((x) => x.ukCpu)) : undefined;
    const rss = rs[0].rssMb !== undefined ? Math.max(...rs.map((x) => x.rssMb)) : undefined;
    const delivered = rs.every((x) => x.exact)
      ? 'exact'
      : `lost ${Math.max(...rs.map((x) => x.lost))}, dup ${Math.max(...rs.map((x) => x.dup))}, reordered ${Math.max(...rs.map((x) => x.order))}`;
    console.log(
      `| ${LABELS[name]} | ${fmt(n)} | ${fmt(r)} | ${fix((r * LINE_BYTES) / 1e6, 1)} | ${fix(median(rs.map((x) => x.seconds)), 2)} | ${fix(cpu, 2)} | ${fix(ukCpu, 2)} | ${fix(cpu === undefined ? undefined : (cpu / n) * 100_000, 3)} | ${fix(rss, 0)} | ${fix(median(rs.map((x) => x.sinkCpu)), 2)} | ${delivered} | ${name.startsWith('uk') || uk === undefined ? '' : fix(uk / r, 1)} |`,
    );
  }
  if (light) console.log('\n* uk-light: the emulator skips the model check of bodies (signatures, JSON and limits still checked); not the headline.');
  console.log('');
  console.log(
    `requests refused by the emulator: ${errors.length}${
      errors.length
        ? ` (${errors
            .slice(0, 3)
            .map((e) => `${e.operation} ${e.errorType}`)
            .join(', ')})`
        : ''
    }`,
  );
  if (uk !== undefined) {
    console.log(`uk: ${fmt(uk)} lines/s (target >= ${fmt(TARGET_RATE)}) ${uk >= TARGET_RATE ? 'OK' : 'BELOW TARGET'}`);
    ok = uk >= TARGET_RATE;
    for (const peer of ['winston', 'sdk']) {
      if (!results[peer]) continue;
      const ratio = uk / rate(peer);
      console.log(`uk / ${peer}: ${ratio.toFixed(1)} x (target >= ${TARGET_RATIO}) ${ratio >= TARGET_RATIO ? 'OK' : 'BELOW TARGET'}`);
      ok &&= ratio >= TARGET_RATIO;
    }
  }
  ok &&= Object.values(results).every((rs) => rs.every((r) => r.exact)) && errors.length === 0;
} catch (err) {
  console.error(`bench/cloudwatch: ${err.message}`);
  ok = false;
} finally {
  await aws.close();
  await light?.close();
  if (values['cpu-prof']) console.log(`profiles of uk: ${readdirSync(values['cpu-prof']).length} in ${values['cpu-prof']}`);
  cleanup();
}
process.exit(ok ? 0 : 1);
