// Stack traces printed at test time by the real runtimes on the machine (node, python3, java),
// between ordinary lines on both streams, go through the line framer and the multiline grouper
// as uk's do: each trace is one record, nothing else is merged, nothing is lost, order holds;
// however the bytes arrive (one read, a read per line, reads cutting lines anywhere).
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { capture, groupBytes, hasRuntime, multilineFixtures, type Captured } from './multiline-helpers.js';

const hasJava = hasRuntime('java', '-version') && hasRuntime('javac', '-version');
/** Compiled once (the source launcher would print its own, shortened, uncaught trace). */
let javaClasses: string | undefined;
function javaArgs(file: string, ...more: string[]): string[] {
  if (javaClasses === undefined) {
    javaClasses = mkdtempSync(join(tmpdir(), 'uk-java-'));
    const built = spawnSync('javac', ['-d', javaClasses, join(multilineFixtures, 'JavaTraces.java')], { stdio: 'inherit' });
    if (built.status !== 0) throw new Error('javac failed');
  }
  return ['-cp', javaClasses, 'JavaTraces', file, ...more];
}

const READS = ['whole', 'lines', 7, 4096] as const;

/** Checks both streams against the program's own list of records (`last`: its final stderr record, when the runtime prints it). */
function checkStreams(t: Test, run: Captured, lastStderr?: (record: string) => void): void {
  for (const reads of READS) {
    for (const stream of ['stdout', 'stderr'] as const) {
      const { records } = groupBytes(run[stream], { reads });
      const expected = run.expected[stream];
      if (stream === 'stderr' && lastStderr) {
        t.same(records.slice(0, expected.length), expected, `${stream}, reads ${reads}: every record as expected, in order`);
        t.equal(records.length, expected.length + 1, `${stream}, reads ${reads}: the uncaught-exception report is one record`);
        lastStderr(records[records.length - 1] as string);
      } else {
        t.same(records, expected, `${stream}, reads ${reads}: every record as expected, in order`);
      }
    }
  }
  // Nothing lost: the records hold every byte the program wrote (a record per line or group, joined by newlines).
  for (const stream of ['stdout', 'stderr'] as const) {
    const { records } = groupBytes(run[stream]);
    t.equal(records.map((r) => `${r}\n`).join(''), run[stream].toString('utf8'), `${stream}: every byte is in the records`);
  }
}

/** The environment without FORCE_COLOR (nx sets it for its tasks), or with it. */
function colourEnv(colour: boolean): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  return colour ? { ...env, FORCE_COLOR: '1' } : env;
}

t.test('Node.js with FORCE_COLOR: frames in terminal colours (even to a pipe) still make one record per trace', async (t) => {
  const run = capture(process.execPath, (file) => ['node-traces.mjs', file], colourEnv(true));
  t.ok(run.stderr.includes('\u001b[90m    at '), 'Node coloured the frames of the traces it printed');
  checkStreams(t, run, (report) => t.match(report.split('\n')[0], /node-traces\.mjs:\d+/, 'the uncaught-exception report is one record too'));
});

t.test('Node.js: console.error of errors with [cause], [errors] and properties; the uncaught-exception report', async (t) => {
  const run = capture(process.execPath, (file) => ['node-traces.mjs', file], colourEnv(false));
  t.equal(run.status, 1, 'the program ended with its uncaught exception');
  t.ok(
    run.expected.stderr.some((r) => r.includes('[cause]: RangeError')),
    'the program printed a trace with a cause',
  );
  checkStreams(t, run, (report) => {
    const lines = report.split('\n');
    t.match(lines[0], /^file:\/\/.*node-traces\.mjs:\d+$/, 'the report starts with the location');
    t.equal(lines[1], "throw new SyntaxError('uncaught at the end');", 'then the source line');
    t.match(lines[2], /^\s*\^$/, 'then the caret');
    t.equal(lines[3], '', 'then a blank line');
    t.equal(lines[4], 'SyntaxError: uncaught at the end', 'then the error');
    t.match(lines[5], /^ {4}at /, 'its frames');
    t.equal(lines[lines.length - 1], `Node.js ${process.version}`, 'and it ends with the Node.js version');
  });
});

t.test(
  'Python: chained tracebacks (cause and context), exception groups, the uncaught traceback',
  { skip: !hasRuntime('python3') && 'python3 is not installed' },
  async (t) => {
    const run = capture('python3', (file) => ['py_traces.py', file]);
    t.equal(run.status, 1, 'the program ended with its uncaught exception');
    t.ok(
      run.expected.stderr.some((r) => r.includes('The above exception was the direct cause')),
      'the program printed a chained traceback',
    );
    checkStreams(t, run);
  },
);

t.test(
  'Java: Caused by, Suppressed, ... N more, the uncaught exception of thread main',
  { skip: !hasJava && 'java and javac are not installed' },
  async (t) => {
    const run = capture('java', (file) => javaArgs(file));
    t.equal(run.status, 1, 'the program ended with its uncaught exception');
    t.ok(
      run.expected.stderr.some((r) => r.includes('\nCaused by: ') && r.includes('\tSuppressed: ')),
      'the program printed a trace with a cause and a suppressed exception',
    );
    checkStreams(t, run);
  },
);

t.test(
  'Java: a StackOverflowError (1024 frames) is split at the line limit, never dropped',
  { skip: !hasJava && 'java and javac are not installed' },
  async (t) => {
    const run = capture('java', (file) => javaArgs(file, 'deep'));
    const trace = run.expected.stderr[run.expected.stderr.length - 1] as string;
    const traceLines = trace.split('\n');
    t.ok(traceLines.length > 1000, `the trace has ${traceLines.length} lines`);
    const { records, lines } = groupBytes(run.stderr, { maxLines: 1000 });
    const first = records.indexOf(traceLines.slice(0, 1000).join('\n'));
    t.ok(first > 0, 'the first 1000 lines are one record');
    t.equal(lines[first], 1000, 'of 1000 lines');
    t.equal(records[first + 1], traceLines.slice(1000).join('\n'), 'the rest is the next record');
    t.equal(records.length, first + 2, 'and nothing follows');
    // With a byte limit instead: no record is longer, and together they are the trace.
    const small = groupBytes(run.stderr, { maxRecordBytes: 4096 });
    const parts = small.records.slice(small.records.findIndex((r) => r.startsWith('Exception in thread')));
    t.ok(parts.length > 2, `split by size into ${parts.length} records`);
    t.ok(
      parts.every((p) => Buffer.byteLength(p) <= 4096),
      'none longer than the limit',
    );
    t.equal(parts.join('\n'), trace, 'together they are the whole trace, in order');
  },
);
