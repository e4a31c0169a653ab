/**
 * The disk spool end to end (uk.spool_dir), with the real `uk run`, a real program and the
 * CloudWatch emulator: uk killed with SIGKILL during an outage, then a new `uk run` with the same
 * configuration delivers every line the first one had taken; a segment cut mid-record and a
 * changed byte lose only the damaged blocks (counted and reported); the spool full drops and
 * counts; a second uk on the same spool is refused and keeps its lines in memory; events older
 * than 14 days at replay are counted as rejected; a disk that fills up falls back to memory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { destinationDirName, encodeFrame, frameAt, scanSegment, SEGMENT_MAGIC } from '@uk/core';
import { blockCodec, EventBlockEncoder } from '../src/event-blocks.js';
import { checkBuilt, deliveries, emulators, runUk, sameLines, tempDir, ukEnv, WAIT_FOR_FILE, writeConfig, writeProgram } from './e2e-helpers.js';

checkBuilt(t);

const GROUP = 'spooled';
const STREAM = 'app-1';
const spoolOf = (root: string) => join(root, 'cloudwatch', destinationDirName(`${GROUP}/${STREAM}`));

const config = (spoolDir: string, uk: object = {}, logging: object = {}) => ({
  Klibs: ['tls', 'cloudwatch'],
  ManifestPassthrough: {
    uk: { spool_dir: spoolDir, ...uk },
    cloudwatch: { logging: { log_group: GROUP, log_stream: STREAM, flush_interval: '0.1', ...logging } },
  },
});

/** Writes `lines` lines ("line N"), then waits for the file `stop` (so uk can be killed while it runs). */
function program(dir: string, lines: number, name = 'app.mjs', prefix = 'line'): string[] {
  return writeProgram(
    dir,
    `${WAIT_FOR_FILE}
for (let i = 0; i < ${lines}; i++) process.stdout.write(${JSON.stringify(prefix)} + ' ' + i + '\\n');
await waitFor(${JSON.stringify(join(dir, 'stop'))});`,
    name,
  );
}
const expected = (n: number, prefix = 'line') => Array.from({ length: n }, (_, i) => `${prefix} ${i}`);
const programLines = (delivered: { message: string }[]) => delivered.map((d) => d.message).filter((m) => !m.startsWith('uk: '));

async function until(predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const segmentFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.seg')) : []).sort();

/** Events in the spool's segments, as a reader outside uk finds them. */
function spooledEvents(dir: string): number {
  return segmentFiles(dir).reduce((n, f) => n + scanSegment(readFileSync(join(dir, f))).records, 0);
}

/** The messages of each good frame of a segment, in order (a frame is one block of events). */
function framesOf(path: string): { start: number; end: number; messages: string[] }[] {
  const buf = readFileSync(path);
  const frames: { start: number; end: number; messages: string[] }[] = [];
  for (let at = SEGMENT_MAGIC.length; at < buf.length;) {
    const found = frameAt(buf, at);
    if (found.kind !== 'frame') break;
    const body = buf.toString('utf8', found.payloadStart + 24, found.end);
    frames.push({ start: at, end: found.end, messages: (JSON.parse(`[${body}]`) as { message: string }[]).map((e) => e.message) });
    at = found.end;
  }
  return frames;
}

const counter = (stderr: string, name: string) => Number(new RegExp(`\\b${name}=(\\d+)`).exec(stderr)?.[1] ?? NaN);

/** A first uk during an outage: it takes `lines` lines into the spool, and is killed with SIGKILL. */
async function killedDuringOutage(t: Test, dir: string, spoolDir: string, lines: number): Promise<void> {
  const aws = await emulators(t);
  aws.cloudwatch.faults.add({ kind: 'error', status: 500, type: 'InternalFailure' }, { match: 'PutLogEvents', times: Infinity });
  const run = runUk(t, { config: writeConfig(dir, config(spoolDir)), program: program(dir, lines), env: ukEnv(dir, aws) });
  await until(() => spooledEvents(spoolOf(spoolDir)) >= lines && aws.cloudwatch.faults.applied.error > 0, `${lines} lines in the spool`);
  run.child.kill('SIGKILL');
  const first = await run.done;
  t.equal(first.signal, 'SIGKILL', 'the first uk was killed');
  // The program, orphaned, ends on its own.
  writeFileSync(join(dir, 'stop'), '');
  t.ok(existsSync(join(spoolOf(spoolDir), 'lock')), 'the dead uk left its lock behind');
}

/** A second uk with the same configuration, healthy destination; its program writes `after` lines "after N". */
async function secondRun(t: Test, dir: string, spoolDir: string, after: number, uk: object = {}) {
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  const result = await runUk(t, {
    config: writeConfig(dir, config(spoolDir, uk), 'config2.json'),
    program: writeProgram(dir, `for (let i = 0; i < ${after}; i++) process.stdout.write('after ' + i + '\\n');`, 'app2.mjs'),
    env: ukEnv(dir, aws),
    args: ['--verbose'],
  }).done;
  return { aws, delivered, result };
}

t.test('SIGKILL during an outage: the next uk run delivers every spooled line first, in order', async (t) => {
  const dir = tempDir(t);
  const spoolDir = join(dir, 'spool');
  await killedDuringOutage(t, dir, spoolDir, 3000);
  const { delivered, result } = await secondRun(t, dir, spoolDir, 10);
  t.equal(result.code, 0, result.stderr);
  sameLines(t, programLines(delivered), [...expected(3000), ...expected(10, 'after')], 'every line of both runs, the spooled ones first');
  t.equal(counter(result.stderr, 'spool_replayed'), 3000, 'counted as replayed');
  t.equal(counter(result.stderr, 'events_dropped'), 0);
  t.match(result.stderr, /spool .*: 3000 events left by a previous run are delivered first|left by a previous run/);
  t.same(segmentFiles(spoolOf(spoolDir)), [], 'every segment acknowledged and removed');
  t.notOk(existsSync(join(spoolOf(spoolDir), 'lock')), 'the lock given back');
});

t.test('a segment cut mid-record and a changed byte: the damaged blocks are skipped and reported, the rest delivered', async (t) => {
  const dir = tempDir(t);
  const spoolDir = join(dir, 'spool');
  await killedDuringOutage(t, dir, spoolDir, 3000);
  const files = segmentFiles(spoolOf(spoolDir)).map((f) => join(spoolOf(spoolDir), f));
  const all = files.map(framesOf);
  const frames = all.flat();
  t.ok(frames.length >= 3, `${frames.length} blocks spooled`);
  // A changed byte in the first block's messages; the last block of the last segment cut in the middle.
  const firstFile = files[0] as string;
  const changed = (all[0] ?? [])[0] as { start: number; end: number; messages: string[] };
  const bytes = readFileSync(firstFile);
  bytes.writeUInt8((bytes[changed.end - 5] as number) ^ 0x01, changed.end - 5);
  writeFileSync(firstFile, bytes);
  const lastFile = files.at(-1) as string;
  const cut = (all.at(-1) ?? []).at(-1) as { start: number; end: number; messages: string[] };
  const lastBytes = readFileSync(lastFile);
  writeFileSync(lastFile, lastBytes.subarray(0, cut.start + Math.floor((cut.end - cut.start) / 2)));
  const kept = frames.filter((f) => f !== changed && f !== cut).flatMap((f) => f.messages);

  const { delivered, result } = await secondRun(t, dir, spoolDir, 10);
  t.equal(result.code, 0, result.stderr);
  sameLines(t, programLines(delivered), [...kept, ...expected(10, 'after')], 'every good block, in order, then the new lines');
  t.match(result.stderr, /damaged bytes in [12] place\(s\)/, 'the damage is reported');
  t.equal(counter(result.stderr, 'spool_corrupt_bytes'), changed.end - changed.start + Math.floor((cut.end - cut.start) / 2), 'the damaged bytes are counted');
  t.equal(counter(result.stderr, 'spool_replayed'), kept.length);
});

t.test('events older than 14 days at replay are counted as rejected, not failures', async (t) => {
  const dir = tempDir(t);
  const spoolDir = join(dir, 'spool');
  const spool = spoolOf(spoolDir);
  mkdirSync(spool, { recursive: true });
  // A segment a run 15 days ago left: one block of three old events, then one of two recent ones.
  const encoder = new EventBlockEncoder(() => {});
  const blocks: ReturnType<EventBlockEncoder['restore']>[] = [];
  const made = new EventBlockEncoder((b) => blocks.push(b));
  const old = Date.now() - 15 * 24 * 3600_000;
  for (let i = 0; i < 3; i++) made.addText(`old ${i}`, old + i);
  made.finish();
  for (let i = 0; i < 2; i++) made.addText(`recent ${i}`, Date.now() - 60_000 + i);
  made.finish();
  const codec = blockCodec(encoder);
  writeFileSync(join(spool, '000000000001.seg'), Buffer.concat([SEGMENT_MAGIC, ...blocks.map((b) => encodeFrame(codec.encode(b), b.count))]));
  const { delivered, result } = await secondRun(t, dir, spoolDir, 2);
  t.equal(result.code, 0, result.stderr);
  sameLines(t, programLines(delivered), ['recent 0', 'recent 1', 'after 0', 'after 1'], 'the recent ones delivered');
  t.equal(counter(result.stderr, 'events_rejected'), 3, 'the old ones rejected');
  t.equal(counter(result.stderr, 'spool_replayed'), 5);
  t.match(result.stderr, /CloudWatch Logs refused 3 events \(3 older than 14 days\)/);
  t.notMatch(result.stderr, /send failed/, 'not a failure');
});

t.test('memory and the spool full: the oldest lines are dropped and counted; every line is accounted for', async (t) => {
  const dir = tempDir(t);
  const spoolDir = join(dir, 'spool');
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  aws.cloudwatch.faults.add({ kind: 'error', status: 500, type: 'InternalFailure' }, { match: 'PutLogEvents', times: Infinity });
  // 2 MiB of memory and 1 MiB of disk hold about 80,000 of these lines; records in memory are
  // not lost when the spool drops its oldest segment, so both must be full.
  const lines = 200_000;
  const run = runUk(t, {
    config: writeConfig(dir, config(spoolDir, { spool_max_size: '1m' }, { buffer_size: '2m' })),
    program: program(dir, lines),
    env: ukEnv(dir, aws),
    args: ['--verbose'],
  });
  await until(() => run.stderr().includes('spool full'), 'the spool full');
  aws.cloudwatch.faults.clear();
  writeFileSync(join(dir, 'stop'), '');
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);
  const got = programLines(delivered);
  const dropped = counter(result.stderr, 'events_dropped');
  t.ok(dropped > 0, `${dropped} dropped`);
  t.equal(got.length + dropped, lines, 'delivered + dropped = written');
  sameLines(t, got.slice(-100), expected(lines).slice(-100), 'the newest lines kept');
  t.match(result.stderr, /dropped \d+ events \(spool full: the oldest records were dropped/);
});

t.test('a spool in use by another uk: a clear error, and that uk keeps its lines in memory', async (t) => {
  const dir = tempDir(t);
  const spoolDir = join(dir, 'spool');
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  const first = runUk(t, { config: writeConfig(dir, config(spoolDir)), program: program(dir, 5), env: ukEnv(dir, aws) });
  await until(() => programLines(delivered).length >= 5, 'the first uk delivering');
  const second = await runUk(t, {
    config: writeConfig(dir, config(spoolDir), 'config2.json'),
    program: writeProgram(dir, `for (let i = 0; i < 5; i++) process.stdout.write('second ' + i + '\\n');`, 'app2.mjs'),
    env: ukEnv(dir, aws),
    args: ['--verbose'],
  }).done;
  t.equal(second.code, 0, second.stderr);
  const pid = Number(readFileSync(join(spoolOf(spoolDir), 'lock'), 'utf8'));
  t.equal(pid, first.child.pid, 'the lock is the first uk');
  t.match(second.stderr, new RegExp(`UK_ERR_SPOOL_LOCKED: destination ${GROUP}/${STREAM}: the spool directory .* is in use by process ${pid}`));
  t.equal(counter(second.stderr, 'spool_fallbacks'), 1);
  await until(() => programLines(delivered).filter((m) => m.startsWith('second')).length === 5, 'the second uk delivering from memory');
  writeFileSync(join(dir, 'stop'), '');
  t.equal((await first.done).code, 0);
});

/** A small file system of its own (a tmpfs: root only), or why there is none. */
function smallFileSystem(): { mount: string } | { problem: string } {
  const mount = mkdtempSync(join(tmpdir(), 'uk-small-fs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mount], { stdio: 'pipe' });
    return { mount };
  } catch (err) {
    rmSync(mount, { recursive: true, force: true });
    return { problem: `cannot mount a small tmpfs here (needs root): ${String(err).split('\n')[0]}` };
  }
}
const small = smallFileSystem();

t.test(
  'a disk that fills up: UK_ERR_SPOOL_WRITE, the lines go on in memory, every line accounted for',
  { skip: 'problem' in small ? small.problem : false },
  async (t) => {
    if (!('mount' in small)) return;
    const { mount } = small;
    const dir = tempDir(t);
    t.teardown(() => {
      execFileSync('umount', ['-l', mount]);
      rmSync(mount, { recursive: true, force: true });
    });
    const aws = await emulators(t);
    const delivered = deliveries(aws);
    aws.cloudwatch.faults.add({ kind: 'error', status: 500, type: 'InternalFailure' }, { match: 'PutLogEvents', times: Infinity });
    const lines = 20_000;
    const run = runUk(t, { config: writeConfig(dir, config(mount)), program: program(dir, lines), env: ukEnv(dir, aws), args: ['--verbose'] });
    await until(() => run.stderr().includes('UK_ERR_SPOOL_WRITE'), 'the disk full');
    aws.cloudwatch.faults.clear();
    writeFileSync(join(dir, 'stop'), '');
    const result = await run.done;
    t.equal(result.code, 0, result.stderr);
    t.match(result.stderr, /UK_ERR_SPOOL_WRITE: spool .*: writing failed \(ENOSPC/);
    t.equal(counter(result.stderr, 'spool_fallbacks'), 1);
    const got = programLines(delivered);
    const dropped = counter(result.stderr, 'events_dropped');
    const kept = counter(result.stderr, 'spool_kept');
    t.equal(got.length + dropped + kept, lines, `delivered ${got.length} + dropped ${dropped} + kept on disk for the next run ${kept} = written`);
  },
);
