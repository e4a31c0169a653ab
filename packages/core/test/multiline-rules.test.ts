// The multiline rules and grouper on traces of runtimes that are not on this machine (Go, Ruby,
// .NET, PHP: written down here from their documented output), on near misses that must stay
// ordinary lines, and the grouper's limits: custom start pattern, JSON lines, timeout, size and
// line limits.
import t, { type Test } from 'tap';
import { lineText, type LineBlock } from '../src/line-framer.js';
import { autoRule } from '../src/multiline/auto-rules.js';
import { LineGrouper } from '../src/multiline/grouper.js';
import { startRule } from '../src/multiline/start-rule.js';
import { ManualClock, Timers } from '../src/timers.js';
import { groupBytes } from './multiline-helpers.js';

/** The stream a program would write for these records (one line each, or a trace). */
const streamOf = (records: readonly string[]): Buffer => Buffer.from(records.map((r) => `${r}\n`).join(''));

/** Asserts that the records come out as given, however the bytes arrive. */
function roundTrip(t: Test, records: readonly string[], what: string): void {
  for (const reads of ['whole', 'lines', 5] as const) {
    t.same(groupBytes(streamOf(records), { reads }).records, records, `${what} (reads ${reads})`);
  }
}

const GO_PANIC = [
  'panic: runtime error: invalid memory address or nil pointer dereference',
  '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4d6]',
  '',
  'goroutine 18 [running]:',
  'main.(*Server).handle(0x0, {0x4d6a20, 0xc000012345})',
  '\t/app/server.go:41 +0x16',
  'created by main.main in goroutine 1',
  '\t/app/main.go:20 +0x85',
  '',
  'goroutine 1 [chan receive]:',
  'main.main()',
  '\t/app/main.go:22 +0xa5',
].join('\n');
const GO_RECOVERED = ['panic: first [recovered]', '\tpanic: second', '', 'goroutine 1 [running]:', 'main.main()', '\t/app/main.go:9 +0x25'].join('\n');
const GO_DEADLOCK = ['fatal error: all goroutines are asleep - deadlock!', '', 'goroutine 1 [chan receive]:', 'main.main()', '\t/tmp/x.go:5 +0x2d'].join('\n');
const RUBY_33 = ["app.rb:2:in `parse': invalid value (ArgumentError)", "\tfrom app.rb:6:in `load'", "\tfrom app.rb:9:in `<main>'"].join('\n');
const RUBY_34_CAUSE = [
  "/srv/app.rb:6:in 'Object#load': config could not be loaded (RuntimeError)",
  "\tfrom /srv/app.rb:9:in '<main>'",
  '/srv/app.rb:2:in \'Integer\': invalid value for Integer(): "x" (ArgumentError)',
  "\tfrom /srv/app.rb:2:in 'Object#parse'",
  "\tfrom /srv/app.rb:9:in '<main>'",
].join('\n');
const DOTNET = [
  'Unhandled exception. System.InvalidOperationException: config could not be loaded',
  " ---> System.FormatException: The input string 'x' was not in a correct format.",
  '   at System.Number.ThrowFormatException[TChar](ReadOnlySpan`1 value)',
  '   at System.Int32.Parse(String s)',
  '   at Program.Load() in /app/Program.cs:line 12',
  '   --- End of inner exception stack trace ---',
  '   at Program.Load() in /app/Program.cs:line 16',
  '   at Program.<Main>$(String[] args) in /app/Program.cs:line 3',
].join('\n');
const PHP_CHAINED = [
  'PHP Fatal error:  Uncaught InvalidArgumentException: invalid value in /app/index.php:3',
  'Stack trace:',
  "#0 /app/index.php(7): parse('x')",
  '#1 /app/index.php(12): load()',
  '#2 {main}',
  '',
  'Next RuntimeException: config could not be loaded in /app/index.php:9',
  'Stack trace:',
  '#0 /app/index.php(12): load()',
  '#1 {main}',
  '  thrown in /app/index.php on line 9',
].join('\n');
const PHP_LOGGED = ['RuntimeException: not found in /app/Repo.php:40', 'Stack trace:', '#0 /app/index.php(12): Repo->get()', '#1 {main}'].join('\n');
const NODE_SYSTEM_ERROR = [
  'Error: connect ECONNREFUSED 127.0.0.1:5432',
  '    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1606:16) {',
  '  errno: -111,',
  "  code: 'ECONNREFUSED',",
  "  syscall: 'connect',",
  "  address: '127.0.0.1',",
  '  port: 5432',
  '}',
].join('\n');
const NODE_CODE = ['Error [ERR_MODULE_NOT_FOUND]: Cannot find package', '    at packageResolve (node:internal/modules/esm/resolve:854:9)'].join('\n');
const JAVA_LOGBACK = [
  'com.acme.Boom: custom exception without Exception in its name',
  '\tat com.acme.Service.run(Service.java:10) ~[app.jar:1.0]',
  '\t... 5 common frames omitted',
].join('\n');

t.test('Go panics, a recovered panic and a deadlock, between ordinary lines', async (t) => {
  roundTrip(
    t,
    ['starting', GO_PANIC, 'exit status 2', GO_RECOVERED, 'panic: is just a word here', 'next line', GO_DEADLOCK, 'done'],
    'each Go dump is one record',
  );
});

t.test('Ruby traces (3.3 and 3.4 quoting, with a cause)', async (t) => {
  roundTrip(t, ['booting', RUBY_33, 'app.rb is a file name', RUBY_34_CAUSE, 'bye'], 'each Ruby trace is one record');
});

t.test('.NET: inner exception and its end marker', async (t) => {
  roundTrip(t, ['host started', DOTNET, 'System.Exception: a header without frames', 'host stopped'], 'the .NET trace is one record');
});

t.test('PHP: uncaught with a chained exception; a logged exception', async (t) => {
  roundTrip(t, ['request 1', PHP_CHAINED, 'request 2', PHP_LOGGED, 'request 3'], 'each PHP trace is one record');
});

t.test('Node.js system error with properties, an error with a code; a JVM class without Exception in its name', async (t) => {
  roundTrip(t, ['connecting', NODE_SYSTEM_ERROR, NODE_CODE, JAVA_LOGBACK, '}'], 'each trace is one record, and a later } stays alone');
});

t.test('near misses stay ordinary lines', async (t) => {
  const lines = [
    'Error: something failed',
    'TypeError: no frames',
    '',
    '    at this frame follows a blank line',
    'Traceback of the request follows',
    'panic: not a Go panic',
    'goroutine 5 [running] is mentioned in text',
    '/var/log/app.log:12',
    'the next line is not a caret',
    'localhost:8080',
    'java.lang.String: value',
    'At the end of the day',
    '\tat a tab-indented line with no header',
    'fatal error: disk full',
    'retrying',
    '  + Exception Group Traceback (most recent call last):',
    'unindented: the exception group ended',
  ];
  const { records } = groupBytes(streamOf(lines));
  // The exception-group start line opens a group that only indented lines continue.
  t.same(records, lines, 'no two of these lines are merged');
});

t.test('a JSON line is never merged, neither opening nor continuing a trace', async (t) => {
  const header = 'java.lang.IllegalStateException: boom';
  const json = '{"level":"error","msg":"x","stack":"at y"}';
  roundTrip(t, [header, json, '\tat not.joined(A.java:1)'], 'a JSON line after a header ends it');
  roundTrip(t, ['Error: with frames\n    at a (b.js:1:1)', json, '    at c (d.js:2:2)'], 'a JSON line after frames ends the trace');
  const custom = groupBytes(streamOf(['START one', 'cont', json, '{}', 'cont after json']), { rule: startRule(/^START/) });
  t.same(custom.records, ['START one\ncont', json, '{}', 'cont after json'], 'custom pattern: JSON lines stand alone, and end the record');
  t.same(groupBytes(streamOf(['{ a: 1 } is not JSON', '{"a": 1}'])).records, ['{ a: 1 } is not JSON', '{"a": 1}'], 'util.inspect text is not a JSON object');
});

t.test('custom start pattern: a matching line starts a record, other lines continue it', async (t) => {
  const rule = startRule(/^\d{4}-\d{2}-\d{2} /);
  const lines = ['before any match', '2026-01-01 first', '  detail 1', 'detail 2', '2026-01-01 second', '2026-01-02 third', 'its detail', ''];
  const { records, lines: counts } = groupBytes(streamOf(lines), { rule });
  t.same(
    records,
    ['before any match', '2026-01-01 first\n  detail 1\ndetail 2', '2026-01-01 second', '2026-01-02 third\nits detail\n'],
    'grouped by the pattern',
  );
  t.same(counts, [1, 3, 1, 3], 'lines per record');
  const global = startRule(/^S/g);
  t.same(groupBytes(streamOf(['S1', 'x', 'S2', 'y']), { rule: global }).records, ['S1\nx', 'S2\ny'], 'a /g pattern does not carry lastIndex between lines');
});

t.test('limits: a group never exceeds the record size or the line limit; split, never dropped', async (t) => {
  const frames = Array.from({ length: 25 }, (_, i) => `\tat f${i}(A.java:${i})`);
  const trace = ['java.lang.Error: long', ...frames];
  const byLines = groupBytes(streamOf(trace), { maxLines: 10 });
  t.same(byLines.lines, [10, 10, 6], 'split every 10 lines');
  t.equal(byLines.records.join('\n'), trace.join('\n'), 'together they are the trace');
  const maxRecordBytes = 100;
  const bySize = groupBytes(streamOf(trace), { maxRecordBytes });
  t.ok(
    bySize.records.every((r) => Buffer.byteLength(r) <= maxRecordBytes),
    'no record longer than the limit',
  );
  t.ok(bySize.records.length > 3, `split into ${bySize.records.length} records`);
  t.equal(bySize.records.join('\n'), trace.join('\n'), 'together they are the trace, in order');
});

/** A grouper on a manual clock, recording what it emits. */
function clocked(timeoutMs = 300) {
  const clock = new ManualClock();
  const out: { text: string; time: number; lines: number | undefined }[] = [];
  const grouper = new LineGrouper({
    rule: autoRule,
    maxRecordBytes: 1 << 20,
    maxLines: 1000,
    timeoutMs,
    timers: new Timers(clock),
    emit: (block: LineBlock) => {
      for (let i = 0; i < block.count; i++) out.push({ text: lineText(block, i), time: block.time, lines: block.lines });
    },
  });
  const push = (text: string) => {
    const buf = Buffer.from(text);
    const lines = text.split('\n');
    const bounds = new Int32Array(2 * lines.length);
    let at = 0;
    lines.forEach((line, i) => {
      bounds[2 * i] = at;
      bounds[2 * i + 1] = at + Buffer.byteLength(line);
      at += Buffer.byteLength(line) + 1;
    });
    grouper.push({ buf, bounds, count: lines.length, time: clock.now() });
  };
  return { clock, out, grouper, push };
}

t.test('timeout: a group is sent once the stream has been quiet for the timeout, not before', async (t) => {
  const { clock, out, grouper, push } = clocked(300);
  push('Error: slow\n    at a (x.js:1:1)');
  t.equal(out.length, 0, 'held while it may go on');
  t.ok(grouper.pending, 'a group is open');
  clock.advance(200);
  push('    at b (x.js:2:2)');
  clock.advance(200);
  t.equal(out.length, 0, 'a line 200 ms later kept it open (quiet for only 200 ms)');
  clock.advance(100);
  t.same(
    out.map((o) => o.text),
    ['Error: slow\n    at a (x.js:1:1)\n    at b (x.js:2:2)'],
    'sent 300 ms after its last line',
  );
  t.equal(out[0]?.lines, 3, 'a record of 3 lines');
  t.equal(out[0]?.time, Date.UTC(2026, 0, 1), 'with the time of its first line');
  push('    at c (x.js:3:3)');
  t.equal(out[1]?.text, '    at c (x.js:3:3)', 'a frame after the timeout is a line of its own');
});

t.test('timeout: held lines that never got decided go alone; a plain line is never held', async (t) => {
  const { clock, out, push } = clocked(50);
  push('just a line');
  t.same(
    out.map((o) => o.text),
    ['just a line'],
    'an ordinary line goes at once',
  );
  push('Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: x\n');
  t.equal(out.length, 1, 'the traceback waits: a chained one may follow');
  clock.advance(50);
  t.same(
    out.map((o) => o.text),
    ['just a line', 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: x', ''],
    'after the timeout: the traceback, then the held blank line on its own',
  );
});

t.test('flush sends an open group at once (the end of the stream)', async (t) => {
  const { out, grouper, push } = clocked();
  push('java.lang.Error: end\n\tat A.b(A.java:1)');
  grouper.flush();
  t.same(
    out.map((o) => o.text),
    ['java.lang.Error: end\n\tat A.b(A.java:1)'],
    'flushed',
  );
  t.notOk(grouper.pending, 'nothing open');
});

t.test('close: the open group is sent, and from then on nothing is held', async (t) => {
  const { out, grouper, push } = clocked();
  push('java.lang.Error: end\n\tat A.b(A.java:1)');
  grouper.close();
  t.same(
    out.map((o) => o.text),
    ['java.lang.Error: end\n\tat A.b(A.java:1)'],
    'sent at close',
  );
  push('Error: during shutdown\n    at x (y.js:1:1)');
  t.same(out.map((o) => o.text).slice(1), ['Error: during shutdown', '    at x (y.js:1:1)'], 'lines after close go through at once, one record each');
  t.notOk(grouper.pending, 'nothing held');
});
