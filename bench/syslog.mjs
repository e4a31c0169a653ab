#!/usr/bin/env node
// Syslog throughput: lines per second from a program, through `uk run` and the syslog klib, to
// a loopback sink, for UDP and for TCP (RFC 6587 octet counting), measured in the same run as
// util-linux `logger --rfc5424` sending the same lines (`-d` for UDP, `-T --octet-count` for TCP).
//
//   node bench/syslog.mjs [--lines N] [--rounds R] [--json] [--verbose] [--node-sink]   (--verbose: uk's counters per run)
//
// The sink counts messages (and, for TCP, checks the framing); a run's rate is the messages the
// sink received divided by the time from starting the sender until the last one arrived. UDP can
// lose datagrams when the sink falls behind; received and sent counts are both shown.
// The UDP sink is bench/udp-sink.c (recvmmsg, 64 datagrams per call), compiled with `cc` at start:
// a Node sink costs about 2 us per datagram, saturates near 450k/s on 2 CPUs and then measures
// itself (logger lost 7% of its datagrams to it). Without `cc`, or with --node-sink, the Node
// sink is used and the output says so. The
// sender's CPU time (user + system, program included) per million lines is shown too: unlike the
// rate, it does not depend on how many cores the sender and the sink share.
// Bounded: fixed line count, a fixed number of rounds, and a time limit per run.
// Targets: uk UDP >= logger UDP; uk TCP >= 2 x logger TCP.
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ukBin = join(root, 'packages/core/bin/uk.js');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const LINES = option('--lines', 1_000_000);
const ROUNDS = option('--rounds', 3);
const RUN_LIMIT_MS = 60_000;
const IDLE_MS = 400;

if (spawnSync('logger', ['--version']).status !== 0) {
  console.error('bench/syslog: util-linux logger is required (apt-get install bsdutils)');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'uk-bench-syslog-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// Lines like a service's log: varied length (40-160 bytes), a counter, some words.
const words = ['GET', '/api/v1/items', 'status=200', 'user=4711', 'latency_ms=12', 'cache=hit', 'region=eu-west-1', 'trace=9f86d081884c7d65'];
const lines = [];
for (let i = 0; i < LINES; i++) {
  let line = `${new Date(Date.UTC(2026, 0, 1) + i).toISOString()} INFO req=${i}`;
  for (let w = 0; w < 1 + (i % 9); w++) line += ` ${words[(i + w) % words.length]}`;
  lines.push(line);
}
const input = join(dir, 'lines.txt');
writeFileSync(input, `${lines.join('\n')}\n`);
const inputBytes = Buffer.byteLength(lines.join('\n')) + 1;

/** The C UDP sink (see the top), or undefined when it cannot be built here. */
async function nativeUdpSink() {
  if (args.includes('--node-sink')) return undefined;
  const binary = join(dir, 'udp-sink');
  const built = spawnSync('cc', ['-O2', '-o', binary, join(root, 'bench/udp-sink.c')], { encoding: 'utf8' });
  if (built.status !== 0) return undefined;
  const port = await new Promise((resolve) => {
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  const child = spawn(binary, [String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let answer = () => {};
  let text = '';
  child.stdout.on('data', (d) => {
    text += d;
    let nl;
    while ((nl = text.indexOf('\n')) !== -1) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      answer(line);
    }
  });
  const first = await new Promise((resolve) => (answer = resolve));
  if (first !== 'ready') throw new Error(`udp-sink: ${first}`);
  const sink = {
    kind: 'C sink (recvmmsg)',
    port,
    count: 0,
    last: 0,
    resetAt: 0,
    reset() {
      child.stdin.write('r');
      this.resetAt = performance.now();
      this.count = 0;
      this.last = 0;
    },
    async refresh() {
      const line = await new Promise((resolve) => {
        answer = resolve;
        child.stdin.write('?');
      });
      const [count, ms] = line.split(' ').map(Number);
      this.count = count;
      this.last = count > 0 ? this.resetAt + ms : 0;
    },
    close: () => child.kill(),
  };
  return sink;
}

/** A UDP sink in Node: counts datagrams. */
async function udpSink() {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  const sink = {
    kind: 'Node sink (dgram)',
    port: 0,
    count: 0,
    last: 0,
    reset() {
      this.count = 0;
      this.last = 0;
    },
    close: () => socket.close(),
  };
  socket.on('message', () => {
    sink.count++;
    sink.last = performance.now();
  });
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  sink.port = socket.address().port;
  return sink;
}

/** A TCP sink: parses RFC 6587 octet-counted frames and counts them; a framing error is fatal. */
async function tcpSink() {
  const sink = {
    port: 0,
    count: 0,
    last: 0,
    errors: 0,
    reset() {
      this.count = 0;
      this.last = 0;
      this.errors = 0;
    },
    close: () => server.close(),
  };
  const server = createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      let buf = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      let at = 0;
      for (;;) {
        const space = buf.indexOf(32, at);
        if (space === -1 || space - at > 8) break;
        const length = Number(buf.toString('latin1', at, space));
        if (!Number.isInteger(length) || length <= 0) {
          sink.errors++;
          socket.destroy();
          return;
        }
        if (buf.length < space + 1 + length) break;
        at = space + 1 + length;
        sink.count++;
      }
      pending = buf.subarray(at);
      sink.last = performance.now();
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.port = server.address().port;
  return sink;
}

function ukConfig(transport, port) {
  const file = join(dir, `uk-${transport}.json`);
  writeFileSync(
    file,
    JSON.stringify({ Klibs: ['syslog'], ManifestPassthrough: { consoles: ['-serial'], syslog: { server: '127.0.0.1', server_port: port, transport } } }),
  );
  return file;
}

/** Parses bash's `times` output: the second line is the CPU time of the shell's children. */
function childCpuSeconds(text) {
  const line = text.trim().split('\n').at(-1) ?? '';
  const parts = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return parts.length === 2 ? parts[0] + parts[1] : Number.NaN;
}

/**
 * Runs one sender to completion (under bash, whose `times` gives the sender's CPU time, which
 * does not depend on what else the machine is doing); resolves with the rate the sink saw.
 */
async function measure(name, sink, command, commandArgs, stdinFile) {
  sink.reset();
  const started = performance.now();
  const script = `"$@"${stdinFile ? ' < "$STDIN_FILE"' : ''} 2>"$ERR_FILE"; code=$?; times >&2; exit $code`;
  const errFile = join(dir, 'stderr.txt');
  const child = spawn('bash', ['-c', script, 'bash', command, ...commandArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, STDIN_FILE: stdinFile ?? '', ERR_FILE: errFile },
  });
  let times = '';
  child.stderr.on('data', (d) => (times += d));
  const exit = await new Promise((resolve) => {
    const limit = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      resolve(code ?? signal);
    });
  });
  // Wait until the sink has everything, or has been idle for a while (UDP losses).
  const deadline = performance.now() + 10_000;
  await sink.refresh?.();
  while (sink.count < LINES && performance.now() < deadline && (sink.last === 0 || performance.now() - sink.last < IDLE_MS)) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    await sink.refresh?.();
  }
  const end = sink.last || performance.now();
  const seconds = (end - started) / 1000;
  const { readFileSync } = await import('node:fs');
  const stderr = readFileSync(errFile, 'utf8');
  if (exit !== 0) console.error(`${name}: exited with ${exit}: ${stderr.trim()}`);
  const stats = /uk: stats syslog: (.*)/.exec(stderr)?.[1];
  const cpu = childCpuSeconds(times);
  return { name, received: sink.count, seconds, rate: sink.count / seconds, cpuPerMillion: (cpu / LINES) * 1e6, exit, errors: sink.errors ?? 0, stats };
}

const udp = (await nativeUdpSink()) ?? (await udpSink());
const tcp = await tcpSink();
const runs = {
  'uk udp': () => measure('uk udp', udp, process.execPath, [ukBin, 'run', '--verbose', '-c', ukConfig('udp', udp.port), '--', 'cat', input]),
  'logger udp': () => measure('logger udp', udp, 'logger', ['--rfc5424', '-d', '-n', '127.0.0.1', '-P', String(udp.port), '-t', 'bench'], input),
  'uk tcp': () => measure('uk tcp', tcp, process.execPath, [ukBin, 'run', '--verbose', '-c', ukConfig('tcp', tcp.port), '--', 'cat', input]),
  'logger tcp': () =>
    measure('logger tcp', tcp, 'logger', ['--rfc5424', '-T', '--octet-count', '-n', '127.0.0.1', '-P', String(tcp.port), '-t', 'bench'], input),
};

const results = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order so neither tool always runs on a warmer machine.
  const order = round % 2 === 0 ? Object.keys(runs) : Object.keys(runs).reverse();
  for (const name of order) results[name].push(await runs[name]());
}
udp.close();
tcp.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = {};
for (const [name, list] of Object.entries(results)) {
  summary[name] = {
    rate: Math.round(median(list.map((r) => r.rate))),
    received: median(list.map((r) => r.received)),
    seconds: Number(median(list.map((r) => r.seconds)).toFixed(3)),
    cpuSecondsPerMillionLines: Number(median(list.map((r) => r.cpuPerMillion)).toFixed(2)),
    framingErrors: list.reduce((n, r) => n + r.errors, 0),
    ...(list[0].stats ? { ukStats: list.map((r) => r.stats) } : {}),
  };
}
const ratio = (a, b) => summary[a].rate / summary[b].rate;
const verdict = {
  udp: { ratio: Number(ratio('uk udp', 'logger udp').toFixed(2)), target: 1, met: ratio('uk udp', 'logger udp') >= 1 },
  tcp: { ratio: Number(ratio('uk tcp', 'logger tcp').toFixed(2)), target: 2, met: ratio('uk tcp', 'logger tcp') >= 2 },
};

if (args.includes('--json')) {
  console.log(JSON.stringify({ lines: LINES, bytes: inputBytes, rounds: ROUNDS, udpSink: udp.kind, summary, verdict }, null, 2));
} else {
  console.log(`syslog bench: ${LINES} lines (${(inputBytes / 1e6).toFixed(1)} MB), median of ${ROUNDS} rounds; UDP into the ${udp.kind}, TCP into a Node sink`);
  if (udp.kind.startsWith('Node')) console.log('  (no cc here, or --node-sink: the Node UDP sink may be the limit, see the top of this file)');
  for (const [name, s] of Object.entries(summary)) {
    console.log(
      `  ${name.padEnd(11)} ${String(s.rate).padStart(9)} lines/s  received ${s.received}/${LINES} in ${s.seconds} s, sender CPU ${s.cpuSecondsPerMillionLines} s per million lines${s.framingErrors ? `  FRAMING ERRORS ${s.framingErrors}` : ''}`,
    );
    if (args.includes('--verbose') && s.ukStats) for (const line of s.ukStats) console.log(`      uk counters: ${line}`);
  }
  console.log(`  UDP: uk/logger = ${verdict.udp.ratio} (target >= 1: ${verdict.udp.met ? 'met' : 'MISSED'})`);
  console.log(`  TCP: uk/logger = ${verdict.tcp.ratio} (target >= 2: ${verdict.tcp.met ? 'met' : 'MISSED'})`);
}
