/**
 * Multiline through real `uk run` into the CloudWatch Logs emulator: stack traces printed at test
 * time by real node, python3 and java, between ordinary lines on both streams, arrive as one event
 * each, with their newlines; nothing else is merged, nothing is lost, each stream keeps its order.
 * Also: a custom start pattern, the timeout (the program waits for the emulator to have the first
 * part), `uk.multiline: "off"`, `cloudwatch.multiline: "off"`, and the limits (a 1025-line Java
 * StackOverflowError split at 1000 lines or at `uk.max_record_size`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { AwsEmulators } from '@uk/testkit';
import { checkBuilt, deliveries, emulators, runUk, tempDir, ukEnv, WAIT_FOR_FILE, writeConfig, writeProgram } from './e2e-helpers.js';

checkBuilt(t);

/** The trace programs of @uk/core's multiline tests. */
const TRACES = fileURLToPath(new URL('../../core/test/fixtures/multiline/', import.meta.url));
const hasPython = spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;
const hasJava = spawnSync('javac', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0;

const config = (cloudwatch: object, uk: object = {}) => ({
  Klibs: ['tls', 'cloudwatch'],
  ManifestPassthrough: { uk: { shutdown_timeout: 30, ...uk }, cloudwatch: { logging: { log_group: 'e2e/multiline' }, ...cloudwatch } },
});

/** Resolves when `predicate` holds over the delivered messages (checked at each PutLogEvents). */
function delivered(
  aws: AwsEmulators,
  predicate: (messages: string[]) => boolean,
  what: string,
  timeoutMs = 60_000,
): { messages: string[]; when: Promise<void> } {
  const all = deliveries(aws);
  const messages: string[] = [];
  let wake: () => void = () => {};
  const previous = aws.cloudwatch.onLogEvents;
  aws.cloudwatch.onLogEvents = (group, stream, events) => {
    previous?.(group, stream, events);
    messages.length = 0;
    messages.push(...all.map((d) => d.message));
    wake();
  };
  const when = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages).slice(0, 2000)}`)), timeoutMs);
    wake = () => {
      if (!predicate(messages)) return;
      clearTimeout(timer);
      resolve();
    };
  });
  return { messages, when };
}

type Expected = string | ((message: string) => boolean);

/**
 * The messages are the two streams' records interleaved, each stream in its own order, nothing
 * more and nothing less (CloudWatch has no empty messages).
 */
function isInterleaving(t: Test, messages: readonly string[], streams: readonly Expected[][], what: string): void {
  const queues = streams.map((s) => s.filter((r) => r !== ''));
  for (const [i, message] of messages.entries()) {
    const q = queues.find((queue) => queue.length > 0 && (typeof queue[0] === 'string' ? queue[0] === message : (queue[0] as (m: string) => boolean)(message)));
    if (!q) {
      t.fail(
        `${what}: message ${i} is not the next record of either stream: ${JSON.stringify(message.slice(0, 300))}; next expected: ${JSON.stringify(queues.map((q) => String(q[0]).slice(0, 200)))}`,
      );
      return;
    }
    q.shift();
  }
  t.same(
    queues.map((q) => q.length),
    streams.map(() => 0),
    `${what}: every record arrived, each stream in order (${messages.length} events)`,
  );
}

t.test('traces from real node, python3 and java are one event each; nothing else merged or lost', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const classes = mkdtempSync(join(tmpdir(), 'uk-java-'));
  const steps = [`'${process.execPath}' '${TRACES}node-traces.mjs' '${dir}/node.json'`];
  if (hasPython) steps.push(`python3 '${TRACES}py_traces.py' '${dir}/py.json'`);
  if (hasJava) {
    t.equal(spawnSync('javac', ['-d', classes, `${TRACES}JavaTraces.java`], { stdio: 'inherit' }).status, 0, 'javac');
    steps.push(`java -cp '${classes}' JavaTraces '${dir}/java.json'`);
  }
  // Each program ends with an uncaught exception (exit 1): go on with the next one.
  writeFileSync(join(dir, 'run.sh'), `cd '${TRACES}'\n${steps.join('\n')}\necho all done\n`);
  const cfg = writeConfig(dir, config({}));
  const run = runUk(t, { config: cfg, program: ['/bin/sh', join(dir, 'run.sh')], env: ukEnv(dir, aws), timeoutMs: 120_000 });
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);
  const stdout: Expected[] = [];
  const stderr: Expected[] = [];
  const read = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as { stdout: string[]; stderr: string[] };
  const node = read('node.json');
  stdout.push(...node.stdout);
  // Node's own uncaught-exception report, one event: location, source, caret, error, frames, version.
  stderr.push(...node.stderr, (m) =>
    /^file:\/\/.*node-traces\.mjs:\d+\n.*\n *\^\n\nSyntaxError: uncaught at the end\n {4}at [^]*\n\nNode\.js v\d+\.\d+\.\d+$/.test(m),
  );
  for (const file of [...(hasPython ? ['py.json'] : []), ...(hasJava ? ['java.json'] : [])]) {
    const records = read(file);
    stdout.push(...records.stdout);
    stderr.push(...records.stderr);
  }
  stdout.push('all done');
  const messages = aws.cloudwatch.messages('e2e/multiline', aws.imds.hostname);
  isInterleaving(t, messages, [stdout, stderr], 'CloudWatch');
  const traces = messages.filter((m) => m.includes('\n'));
  t.ok(traces.length >= 4 + (hasPython ? 4 : 0) + (hasJava ? 3 : 0), `${traces.length} events hold a trace with its newlines`);
  t.notOk(/^uk: .*(dropped|lost)/m.test(result.stderr), 'no loss reported');
});

const STAGED = `${WAIT_FOR_FILE}
const [go] = process.argv.slice(2);
process.stderr.write('Error: printed in two parts\\n    at first (a.js:1:1)\\n');
await waitFor(go);
process.stderr.write('    at second (a.js:2:2)\\nafter\\n');
`;

t.test('timeout: a trace is sent once the stream is quiet; what comes later is not joined to it', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const go = join(dir, 'go');
  const first = delivered(aws, (m) => m.includes('Error: printed in two parts\n    at first (a.js:1:1)'), 'the first part');
  const cfg = writeConfig(dir, config({ logging: { log_group: 'e2e/multiline', flush_interval: 1 } }, { multiline_timeout: 200 }));
  const run = runUk(t, { config: cfg, program: [...writeProgram(dir, STAGED), go], env: ukEnv(dir, aws) });
  // The program waits until the emulator holds the first part: only the timeout can have sent it.
  await first.when;
  writeFileSync(go, '');
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);
  t.same(aws.cloudwatch.messages('e2e/multiline', aws.imds.hostname), [
    'Error: printed in two parts\n    at first (a.js:1:1)',
    '    at second (a.js:2:2)',
    'after',
  ]);
});

const LOG_LINES = `
const lines = [
  'before any match',
  '2026-01-01 10:00:00 ERROR request failed',
  'java.lang.IllegalStateException: x',
  '\\tat A.b(A.java:1)',
  '{"level":"info","msg":"json"}',
  'continues nothing: after JSON',
  '2026-01-01 10:00:01 INFO next',
  'detail',
];
process.stdout.write(lines.join('\\n') + '\\n');
process.stderr.write('Error: on stderr\\n    at x (y.js:1:1)\\n');
`;

t.test('custom start pattern; "off" in the uk tuple; "off" in the klib tuple', async (t) => {
  const cases: { name: string; uk: object; cloudwatch: object; stdout: string[]; stderr: string[] }[] = [
    {
      name: 'custom start',
      uk: { multiline: { start: '^\\d{4}-\\d{2}-\\d{2} ' } },
      cloudwatch: {},
      stdout: [
        'before any match',
        '2026-01-01 10:00:00 ERROR request failed\njava.lang.IllegalStateException: x\n\tat A.b(A.java:1)',
        '{"level":"info","msg":"json"}',
        'continues nothing: after JSON',
        '2026-01-01 10:00:01 INFO next\ndetail',
      ],
      stderr: ['Error: on stderr', '    at x (y.js:1:1)'],
    },
    {
      name: 'uk.multiline off',
      uk: { multiline: 'off' },
      cloudwatch: {},
      stdout: [
        'before any match',
        '2026-01-01 10:00:00 ERROR request failed',
        'java.lang.IllegalStateException: x',
        '\tat A.b(A.java:1)',
        '{"level":"info","msg":"json"}',
        'continues nothing: after JSON',
        '2026-01-01 10:00:01 INFO next',
        'detail',
      ],
      stderr: ['Error: on stderr', '    at x (y.js:1:1)'],
    },
    {
      name: 'cloudwatch.multiline off',
      uk: {},
      cloudwatch: { multiline: 'off' },
      stdout: [
        'before any match',
        '2026-01-01 10:00:00 ERROR request failed',
        'java.lang.IllegalStateException: x',
        '\tat A.b(A.java:1)',
        '{"level":"info","msg":"json"}',
        'continues nothing: after JSON',
        '2026-01-01 10:00:01 INFO next',
        'detail',
      ],
      stderr: ['Error: on stderr', '    at x (y.js:1:1)'],
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const dir = tempDir(t);
      const aws = await emulators(t);
      const cfg = writeConfig(dir, config(c.cloudwatch, c.uk));
      const run = runUk(t, { config: cfg, program: writeProgram(dir, LOG_LINES), env: ukEnv(dir, aws) });
      const result = await run.done;
      t.equal(result.code, 0, result.stderr);
      isInterleaving(t, aws.cloudwatch.messages('e2e/multiline', aws.imds.hostname), [c.stdout, c.stderr], c.name);
    });
  }
});

t.test(
  'limits: a 1025-line StackOverflowError from real java is split at 1000 lines, or at uk.max_record_size; never dropped',
  { skip: !hasJava && 'java and javac are not installed' },
  async (t) => {
    const classes = mkdtempSync(join(tmpdir(), 'uk-java-'));
    t.equal(spawnSync('javac', ['-d', classes, `${TRACES}JavaTraces.java`], { stdio: 'inherit' }).status, 0, 'javac');
    for (const { name, uk } of [
      { name: 'line limit', uk: {} },
      { name: 'max_record_size 4k', uk: { max_record_size: '4k' } },
    ]) {
      await t.test(name, async (t) => {
        const dir = tempDir(t);
        const aws = await emulators(t);
        const cfg = writeConfig(dir, config({}, uk));
        const run = runUk(t, {
          config: cfg,
          program: ['java', '-cp', classes, 'JavaTraces', join(dir, 'java.json'), 'deep'],
          env: ukEnv(dir, aws),
          timeoutMs: 120_000,
        });
        const result = await run.done;
        t.equal(result.code, 1, "uk exits with the program's code");
        const expected = JSON.parse(readFileSync(join(dir, 'java.json'), 'utf8')) as { stderr: string[] };
        const trace = expected.stderr[expected.stderr.length - 1] as string;
        const lines = trace.split('\n');
        t.ok(lines.length > 1000, `the trace has ${lines.length} lines`);
        const messages = aws.cloudwatch.messages('e2e/multiline', aws.imds.hostname);
        const first = messages.findIndex((m) => m.startsWith('Exception in thread "main" java.lang.StackOverflowError'));
        t.ok(first >= 0, 'the trace arrived');
        const parts = messages.slice(first);
        t.equal(parts.join('\n'), trace, 'its events, in order, are the whole trace');
        if (name === 'line limit') {
          t.same(
            parts.map((p) => p.split('\n').length),
            [1000, lines.length - 1000],
            'two events: 1000 lines, then the rest',
          );
        } else {
          t.ok(parts.length > 2, `${parts.length} events`);
          t.ok(
            parts.every((p) => Buffer.byteLength(p) <= 4096),
            'none longer than uk.max_record_size',
          );
        }
      });
    }
  },
);
