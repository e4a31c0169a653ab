/**
 * Multiline through real `uk run` into the Cloud Logging emulator: stack traces printed at test
 * time by real node, python3 and java are one entry each, textPayload exactly as the runtime
 * printed them (the form Error Reporting recognises in a multi-line textPayload), severity ERROR
 * on stderr and INFO on stdout; nothing else merged, nothing lost, each stream in order.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import t, { type Test } from 'tap';
import type { StoredLogEntry } from '@uk/testkit';
import { emulators } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const UK = join(here, '../../core/bin/uk.js');
/** The trace programs of @uk/core's multiline tests. */
const TRACES = join(here, '../../core/test/fixtures/multiline/');
const hasPython = spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;
const hasJava = spawnSync('javac', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0;

interface Record_ {
  readonly text: string;
  readonly stream: 'stdout' | 'stderr';
}

/** What an entry says, comparable with a record: its text, or its JSON payload re-serialised. */
const keyOfEntry = (e: StoredLogEntry): string => e.textPayload ?? JSON.stringify(e.jsonPayload);
const keyOfRecord = (text: string): string => {
  if (!text.startsWith('{')) return text;
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
};

t.test('traces are one entry each, with severity by stream, exactly as printed', async (t) => {
  const e = await emulators(t);
  const dir = mkdtempSync(join(tmpdir(), 'uk-gcp-ml-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const steps = [`'${process.execPath}' '${TRACES}node-traces.mjs' '${dir}/node.json'`];
  if (hasPython) steps.push(`python3 '${TRACES}py_traces.py' '${dir}/py.json'`);
  if (hasJava) {
    t.equal(spawnSync('javac', ['-d', dir, `${TRACES}JavaTraces.java`], { stdio: 'inherit' }).status, 0, 'javac');
    steps.push(`java -cp '${dir}' JavaTraces '${dir}/java.json'`);
  }
  writeFileSync(join(dir, 'run.sh'), `cd '${TRACES}'\n${steps.join('\n')}\necho all done\n`);
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ Klibs: ['tls', 'gcp'], ManifestPassthrough: { gcp: { logging: { log_id: 'traces' } }, consoles: ['-serial'] } }));
  const child = spawn(process.execPath, [UK, 'run', '-c', config, '--', '/bin/sh', join(dir, 'run.sh')], {
    env: { ...process.env, ...e.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(guard);
  t.equal(code, 0, stderr);

  const expected: Record_[][] = [[], []];
  const add = (file: string) => {
    const r = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { stdout: string[]; stderr: string[] };
    expected[0]!.push(...r.stdout.map((text) => ({ text, stream: 'stdout' as const })));
    expected[1]!.push(...r.stderr.map((text) => ({ text, stream: 'stderr' as const })));
  };
  add('node.json');
  // Node's own uncaught-exception report comes after the records the program listed.
  expected[1]!.push({ text: 'NODE_REPORT', stream: 'stderr' });
  if (hasPython) add('py.json');
  if (hasJava) add('java.json');
  expected[0]!.push({ text: 'all done', stream: 'stdout' });

  const entries = e.logging.sorted().filter((x) => !x.textPayload?.startsWith('uk: '));
  const queues = expected.map((q) => [...q]);
  const matched: { entry: StoredLogEntry; record: Record_ }[] = [];
  for (const entry of entries) {
    const key = keyOfEntry(entry);
    const queue = queues.find((q) => {
      const next = q[0];
      if (!next) return false;
      if (next.text === 'NODE_REPORT') return /^file:\/\/.*\n.*\n *\^\n\nSyntaxError: uncaught at the end\n[^]*\n\nNode\.js v[\d.]+$/.test(key);
      return keyOfRecord(next.text) === key;
    });
    if (!queue) {
      t.fail(
        `entry is not the next record of either stream: ${JSON.stringify(key.slice(0, 300))}; next: ${JSON.stringify(queues.map((q) => q[0]?.text.slice(0, 200)))}`,
      );
      break;
    }
    matched.push({ entry, record: queue.shift()! });
  }
  t.same(
    queues.map((q) => q.length),
    [0, 0],
    `every record is one entry, each stream in order (${entries.length} entries)`,
  );
  const traces = matched.filter((m) => m.entry.textPayload?.includes('\n'));
  t.ok(traces.length >= 5, `${traces.length} entries hold a trace`);
  t.ok(
    matched.every((m) => m.entry.severity === (m.record.stream === 'stderr' ? 'ERROR' : 'INFO') || m.entry.jsonPayload !== undefined),
    'text entries from stderr are ERROR (traces included), from stdout INFO',
  );
  t.ok(
    traces.some((m) => m.record.stream === 'stderr' && /^Traceback \(most recent call last\):\n/.test(m.entry.textPayload!)) || !hasPython,
    'a Python traceback starts its entry, as Error Reporting reads it',
  );
  t.same(e.logging.problems, [], 'every request matched the official schema');
});

t.test('gcp.multiline "off": one entry per line', async (t: Test) => {
  const e = await emulators(t);
  const dir = mkdtempSync(join(tmpdir(), 'uk-gcp-ml-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({ Klibs: ['tls', 'gcp'], ManifestPassthrough: { gcp: { multiline: 'off', logging: { log_id: 'off' } }, consoles: ['-serial'] } }),
  );
  const program = join(dir, 'app.mjs');
  writeFileSync(program, "console.error(new Error('boom'));\n");
  // Not spawnSync: the emulators answer from this process.
  const child = spawn(process.execPath, [UK, 'run', '-c', config, '--', process.execPath, program], {
    env: { ...process.env, ...e.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(guard);
  t.equal(code, 0, stderr);
  const texts = e.logging
    .sorted()
    .map((x) => x.textPayload)
    .filter((x) => !x?.startsWith('uk: '));
  t.equal(texts[0], 'Error: boom', 'the header alone');
  t.ok(texts.length > 3, `${texts.length} entries`);
  t.ok(
    // Without colour codes: with FORCE_COLOR (nx sets it) Node colours the frames.
    texts.slice(1).every((x) => x !== undefined && stripVTControlCharacters(x).startsWith('    at ')),
    'then one entry per frame',
  );
});
