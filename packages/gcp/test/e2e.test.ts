/**
 * End to end: the real `uk` CLI runs a real program with Klibs ["tls", "gcp"], pointed at the
 * loopback emulators by GCE_METADATA_HOST and the CLOUDSDK_API_ENDPOINT_OVERRIDES_* variables.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GcpEmulators, StoredLogEntry } from '@uk/testkit';
import { emulators, eventually, PROJECT } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const UK = join(here, '../../core/bin/uk.js');
const EMIT = join(here, 'fixtures/emit.mjs');

interface Run {
  readonly code: number | null;
  readonly stderr: string;
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'uk-gcp-e2e-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `uk run` with a config holding `gcp`; `during` runs while the program runs (gets the child). */
async function runUk(
  t: Test,
  e: GcpEmulators,
  gcp: unknown,
  programArgs: string[],
  options: {
    during?: (child: ReturnType<typeof spawn>, stderr: () => string) => Promise<void>;
    env?: Record<string, string>;
    uk?: Record<string, unknown>;
    serial?: boolean;
    ukArgs?: string[];
  } = {},
): Promise<Run> {
  const dir = tempDir(t);
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      Klibs: ['tls', 'gcp'],
      ManifestPassthrough: { gcp, consoles: [options.serial ? '+serial' : '-serial'], ...(options.uk ? { uk: options.uk } : {}) },
    }),
  );
  const child = spawn(process.execPath, [UK, 'run', ...(options.ukArgs ?? []), '-c', config, '--', process.execPath, EMIT, ...programArgs], {
    env: { ...process.env, ...e.env, ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  if (options.during) await options.during(child, () => stderr);
  const code = await exited;
  clearTimeout(guard);
  return { code, stderr };
}

function linesFile(t: Test, lines: (({ text: string } | { base64: string }) & { stream?: 'stdout' | 'stderr' })[]): string {
  const file = join(tempDir(t), 'lines.json');
  writeFileSync(file, JSON.stringify(lines));
  return file;
}

/** Entries written by the program (not uk's own messages), as a query lists them, split parts joined. */
function programLines(e: GcpEmulators): (string | Record<string, unknown>)[] {
  return e.logging.lines().filter((l) => typeof l !== 'string' || !l.startsWith('uk: '));
}

function programEntries(e: GcpEmulators): StoredLogEntry[] {
  return e.logging.sorted().filter((x) => !x.textPayload?.startsWith('uk: '));
}

const numbered = (n: number) => Array.from({ length: n }, (_, i) => `numbered ${i}`);

t.test('every line arrives once, in order, byte for byte, with severities and JSON payloads', async (t) => {
  const e = await emulators(t);
  const tricky = [
    'plain ASCII',
    'quotes " and \\ backslashes \\n not a newline',
    'tab\tseparated\tvalues and a carriage return\r in the middle',
    'UTF-8: déjà vu, Ελληνικά, 日本語, emoji 😀👍🏽, zero width\u200bspace',
    'control characters \u0001\u0007\u001b[31m red \u001b[0m',
    '   leading and trailing spaces   ',
    '',
    `a long line: ${'0123456789'.repeat(40_000)} end`,
    '{"severity":"error","message":"structured","user":{"id":7,"tags":["a","b"]},"ok":false,"n":null}',
    '{"not":"json",}',
    '[1,2,3]',
  ];
  const file = linesFile(t, [
    ...tricky.map((text) => ({ text })),
    { text: 'on stderr', stream: 'stderr' },
    { text: '{"message":"warn via json","severity":"WARNING"}', stream: 'stderr' },
  ]);
  const run = await runUk(t, e, { logging: { log_id: 'e2e' } }, ['--lines', file, '--count', '2000']);
  t.equal(run.code, 0, run.stderr);
  const entries = programEntries(e);
  const stdout = programLines(e).filter((l) => l !== 'on stderr' && l !== 'warn via json');
  t.same(
    stdout.slice(0, tricky.length),
    [...tricky.slice(0, 8), { message: 'structured', user: { id: 7, tags: ['a', 'b'] }, ok: false, n: null }, '{"not":"json",}', '[1,2,3]'],
    'byte-exact text, JSON objects as jsonPayload',
  );
  t.same(stdout.slice(tricky.length), numbered(2000), 'the numbered lines, each once and in order');
  t.equal(e.logging.duplicates, 0);
  const bySeverity = (text: string) => entries.find((x) => x.textPayload === text)?.severity;
  t.equal(bySeverity('plain ASCII'), 'INFO', 'stdout is INFO');
  t.equal(bySeverity('on stderr'), 'ERROR', 'stderr is ERROR');
  t.equal(entries.find((x) => x.jsonPayload?.message === 'structured')?.severity, 'ERROR', 'the severity field of a JSON line');
  t.equal(bySeverity('warn via json'), 'WARNING', 'a JSON line with only message and severity becomes text');
  t.ok(entries.filter((x) => x.split).length >= 2, 'the 400 KB line was split into entries');
  t.ok(entries.every((x) => x.logName === `projects/${PROJECT}/logs/e2e`));
  t.same(e.logging.problems, [], 'every request matched the official schema');
  t.ok(e.logging.requests.every((r) => r.bytes <= 10_485_760));
});

t.test('bytes as the program wrote them: invalid UTF-8 becomes U+FFFD, the rest is exact, on either stream', async (t) => {
  const e = await emulators(t);
  const raw = (bytes: number[]) => ({ base64: Buffer.from(bytes).toString('base64') });
  const file = linesFile(t, [
    { text: 'plain before' },
    raw([0x62, 0x61, 0x64, 0x20, 0xff, 0x80, 0x20, 0x63, 0x61, 0x74]),
    { ...raw([0xed, 0xa0, 0x80, 0x7b, 0x7d]), stream: 'stderr' },
    { text: 'a "quoted" word' },
    { text: 'ünïcödé and "quotes" and \\ and \u0007' },
    { text: '{"severity":"notice","message":"json","k":"v"}', stream: 'stderr' },
    { text: 'plain after', stream: 'stderr' },
  ]);
  const run = await runUk(t, e, { logging: { log_id: 'bytes' } }, ['--lines', file, '--count', '50']);
  t.equal(run.code, 0, run.stderr);
  // Each stream in its order (the two pipes are read independently).
  const entries = programEntries(e);
  t.same(
    entries.filter((x) => x.severity === 'INFO').map((x) => x.textPayload),
    ['plain before', 'bad \ufffd\ufffd cat', 'a "quoted" word', 'ünïcödé and "quotes" and \\ and \u0007', ...numbered(50)],
  );
  t.same(
    entries.filter((x) => x.severity !== 'INFO').map((x) => [x.severity, x.textPayload ?? x.jsonPayload]),
    [
      ['ERROR', '\ufffd\ufffd\ufffd{}'],
      ['NOTICE', { message: 'json', k: 'v' }],
      ['ERROR', 'plain after'],
    ],
  );
  t.same(e.logging.problems, [], 'every request matched the official schema');
});

/** The counters uk prints at exit with --verbose: `uk: stats gcp: sent=10 dropped=0 …`. */
function statsOf(stderr: string, group: string): Record<string, number> {
  const line = stderr.split('\n').find((l) => l.startsWith(`uk: stats ${group}: `)) ?? '';
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1] as string, Number(m[2])]));
}

t.test('pathological lines in the middle: every good line stored once, the deep ones as text, the refused one counted', async (t) => {
  const e = await emulators(t);
  // An entry the service cannot take fails the whole request it is in (as a request it cannot decode).
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'poison', wholeRequest: true, message: 'cannot decode', times: Infinity });
  const deep = (n: number) => `${'{"a":'.repeat(n - 1)}{"v":1}${'}'.repeat(n - 1)}`;
  const pathological = [deep(5000), deep(1500), 'poison', deep(100_000), '{"a":[}', deep(32), deep(33)];
  const N = 20_000;
  const good = numbered(N);
  const lines = [...good.slice(0, N / 2), ...pathological, ...good.slice(N / 2)];
  const file = linesFile(
    t,
    lines.map((text) => ({ text })),
  );
  const run = await runUk(t, e, { logging: { log_id: 'bad-lines', flush_interval: 0.05 } }, ['--lines', file], { ukArgs: ['--verbose'] });
  t.equal(run.code, 0, run.stderr.slice(-2000));
  t.notMatch(run.stderr, /Maximum call stack|RangeError/);
  const expected = [
    ...good.slice(0, N / 2),
    deep(5000),
    deep(1500),
    deep(100_000),
    '{"a":[}',
    JSON.parse(deep(32)) as Record<string, unknown>,
    deep(33),
    ...good.slice(N / 2),
  ];
  const stored = programLines(e);
  t.equal(stored.length, expected.length, 'every line but the refused one');
  t.ok(
    stored.every((line, i) => (typeof line === 'string' ? line === expected[i] : JSON.stringify(line) === JSON.stringify(expected[i]))),
    'each good line once, in order; the deep and invalid ones as their exact text',
  );
  t.equal(e.logging.duplicates, 0, 'nothing stored was sent again');
  const entries = programEntries(e);
  t.ok(entries.filter((x) => x.textPayload?.startsWith('{"a":{"a":')).length >= 4, 'the deep lines as textPayload (the 100,000-level one split)');
  t.same(e.logging.problems, [], 'every request was one the service reads (the poison is refused by rule)');
  const stats = statsOf(run.stderr, 'gcp');
  t.equal(stats.json_too_deep, 4, '33, 1,500, 5,000 and 100,000 levels');
  t.equal(stats.rejected, 1, 'the poison entry');
  t.equal(stats.dropped, 0);
  t.equal(stats.failed, undefined, 'no failed counter: a refused batch counts once, as dropped');
  t.equal(stats.sent, e.logging.count, "sent = stored (entries, uk's own included)");
  // Written = stored + counted: the program wrote lines.length lines.
  t.equal(stored.length + (stats.rejected ?? NaN) + (stats.dropped ?? NaN), lines.length);
  t.match(
    run.stderr,
    /gcp: entries\.write refused 1 entry of a batch of \d+ \(entries\.write: HTTP 400 INVALID_ARGUMENT: entries\[0\]: cannot decode\); the rest were stored/,
  );
});

t.test('each fault loses nothing: 401, 429, 503, resets, lost answers and partial errors', async (t) => {
  const e = await emulators(t);
  e.logging.faults
    .add({ kind: 'expired-token' })
    .add({ kind: 'throttle' })
    .add({ kind: 'error', status: 503, type: 'UNAVAILABLE', message: 'The service is currently unavailable.' })
    .add({ kind: 'reset' })
    .add({ kind: 'error', status: 500, type: 'INTERNAL' });
  e.logging.loseAnswers = 1;
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'numbered 123', code: 14, message: 'UNAVAILABLE' });
  e.logging.rejectEntries({ match: (x) => x.textPayload === 'numbered 456', code: 8, message: 'RESOURCE_EXHAUSTED' });
  const run = await runUk(t, e, { logging: { flush_interval: 0.2 } }, ['--count', '3000', '--wait-signal'], {
    during: async (child) => {
      t.ok(await eventually(() => e.logging.faults.pending === 0 && e.logging.loseAnswers === 0 && e.logging.count >= 3000, 120_000), 'through every fault');
      child.kill('SIGTERM');
    },
  });
  t.equal(run.code, 0);
  t.same(
    programLines(e).filter((l) => l !== 'ready'),
    [...numbered(3000), 'terminated'],
    'every line once, in order',
  );
  t.ok(e.logging.duplicates > 0, 'the batch whose answer was lost was sent again and de-duplicated');
  t.equal(e.logging.faults.pending, 0, 'every fault was hit');
  t.notMatch(run.stderr, /dropped \d+/);
  t.notMatch(run.stderr, /refused \d+ entr/, 'the entries refused for a passing reason were sent again');
  t.notMatch(run.stderr, /ya29\./, 'no token in the output');
});

t.test('tokens are refreshed before they expire, and after a 401', async (t) => {
  // Tokens that live 302 s: the klib refreshes 5 minutes before expiry, i.e. at once.
  const e = await emulators(t, { tokenTtlSeconds: 302 });
  const run = await runUk(t, e, { logging: { flush_interval: 0.05 } }, ['--wait-signal'], {
    during: async (child, stderr) => {
      await eventually(() => stderr().includes('ready') || e.logging.count > 0);
      t.ok(await eventually(() => e.metadata.tokenRequests >= 3), 'refreshed by the timer before expiry, while idle');
      child.kill('SIGTERM');
    },
  });
  t.equal(run.code, 0);
  t.ok(e.metadata.tokenRequests >= 3, `${e.metadata.tokenRequests} token requests`);
  t.same(programLines(e), ['ready', 'terminated']);
  t.equal(e.logging.unauthenticated, 0, 'no request went out with an expired token');
});

t.test('metadata server down at boot, then up: the buffered lines are delivered; the program is not held up', async (t) => {
  const e = await emulators(t);
  await e.metadata.down();
  const run = await runUk(t, e, { logging: {} }, ['--count', '500', '--wait-signal'], {
    serial: true,
    during: async (child, stderr) => {
      // The metadata server stays down until after this: the program ran without waiting for setup.
      t.ok(await eventually(() => stderr().includes('ready')), 'the program ran while setup could not finish');
      t.ok(await eventually(() => stderr().includes('setup failed, retrying in 2 s')), 'reported once the backoff grew');
      t.equal(e.logging.count, 0);
      await e.metadata.up();
      t.ok(await eventually(() => e.logging.count >= 500));
      child.kill('SIGTERM');
    },
  });
  t.equal(run.code, 0);
  t.same(
    programLines(e).filter((l) => typeof l === 'string' && l.startsWith('numbered')),
    numbered(500),
  );
  t.match(run.stderr, /gcp: setup done after \d+ failed attempt/);
});

t.test('SIGTERM: the program stops and everything it wrote is delivered before uk exits', async (t) => {
  const e = await emulators(t);
  // 5,000 entries stay below one request (TARGET_REQUEST_BYTES), so only the shutdown sends them.
  const run = await runUk(t, e, { logging: { flush_interval: 30 } }, ['--count', '5000', '--wait-signal'], {
    // The serial console shows the program's 'ready' on uk's stderr: the event to wait for.
    serial: true,
    during: async (child, stderr) => {
      t.ok(await eventually(() => stderr().includes('ready')), 'the program wrote everything');
      t.equal(e.logging.count, 0, 'a long flush interval: nothing sent yet');
      child.kill('SIGTERM');
    },
  });
  t.equal(run.code, 0);
  const lines = programLines(e).filter((l) => l !== 'ready');
  t.same(lines, [...numbered(5000), 'terminated'], 'all 5001 lines, in order');
});

t.test('a flood with a small buffer: backpressure slows the program, no line is lost, cut or duplicated', async (t) => {
  const e = await emulators(t, { logging: { retainEntries: false, schemaCheck: 100 } });
  const N = 300_000;
  const seen = new Uint8Array(N);
  let bad = 0;
  let duplicates = 0;
  const check = (text: string | undefined) => {
    const match = text === undefined ? null : /^flood (\d+) y+$/.exec(text);
    if (!match || text?.length !== 99) {
      if (!text?.startsWith('uk: ')) bad++;
      return;
    }
    const i = Number(match[1]);
    if (seen[i]) duplicates++;
    seen[i] = 1;
  };
  e.logging.onEntry = (entry) => check(entry.textPayload);
  // The program writes 64 KiB chunks that cut lines; on a loaded machine it may not run for the
  // default partial-line timeout between two chunks, and uk would then ship the piece as it is meant
  // to. This test is about backpressure, so it waits longer for a line's end.
  const run = await runUk(t, e, { logging: { buffer_size: '1M', flush_interval: 0.05 } }, ['--flood', String(N)], { uk: { partial_line_timeout: '5000' } });
  t.equal(run.code, 0, run.stderr);
  t.equal(bad, 0, 'no line cut in two');
  t.equal(duplicates + e.logging.duplicates, 0, 'none twice');
  t.equal(
    seen.reduce((sum, v) => sum + v, 0),
    N,
    'all of them',
  );
  t.notMatch(run.stderr, /dropped \d+/);
  t.same(e.logging.problems, []);
});

t.test('uk validate reports bad gcp options', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'bad.json');
  writeFileSync(config, JSON.stringify({ Klibs: ['tls', 'gcp'], ManifestPassthrough: { gcp: { metrics: { interval: 10 }, logging: { colour: 'red' } } } }));
  const child = spawn(process.execPath, [UK, 'validate', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  t.equal(code, 1);
  t.match(out, /GCP: invalid metrics interval \(minimum allowed value 60 seconds\)/);
  t.match(out, /gcp\.logging: invalid option 'colour'/);
});
