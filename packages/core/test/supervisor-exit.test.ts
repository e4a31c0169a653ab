/**
 * What happens to the program's output when it exits, through the real `uk run` and real
 * programs: output held back by a slow klib is read to the end and every line is stored or
 * counted; pipes held open by a process the program started are reported; a second signal
 * during shutdown says what it gives up.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { fixtureKlibs, node, programs, runUk } from './uk-process.js';

/** A config loading the slow_sink fixture klib (a destination that answers `delayMs` late). */
function slowSinkConfig(
  dir: string,
  sink: Record<string, unknown>,
  uk: Record<string, unknown> = {},
  consoles: string[] = ['-serial'],
): { config: string; stored: string } {
  const stored = join(dir, 'stored.txt');
  const config = join(dir, 'uk.json');
  const klib = relative(dir, join(fixtureKlibs, 'slow-sink.mjs'));
  writeFileSync(config, JSON.stringify({ Klibs: [`slow_sink=${klib}`], ManifestPassthrough: { uk, consoles, slow_sink: { path: stored, ...sink } } }));
  return { config, stored };
}

/** uk's counters of one klib from its `uk: stats <klib>: a=1 b=2` line. */
function statsOf(stderr: string, klib: string): Record<string, number> {
  const line = stderr.split('\n').find((l) => l.startsWith(`uk: stats ${klib}: `));
  if (!line) throw new Error(`no stats line for ${klib} in: ${stderr}`);
  return Object.fromEntries(
    line
      .slice(`uk: stats ${klib}: `.length)
      .split(' ')
      .map((kv) => [kv.split('=')[0] as string, Number(kv.split('=')[1])]),
  );
}

const storedLines = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];

// The destination answers 6 s late: longer than the Batcher's stall limit (5 s) and the pipe
// grace (2 s), so the program's last writes sit in the pipe while uk holds it paused. 15,000
// lines (about 165 KB) pass the buffer's high-water mark (128 KB) and fit in the pipe beyond it,
// so the program exits while paused; 60,000 lines overflow the buffer as well.
for (const written of [15_000, 60_000]) {
  t.test(`a program that exits while its output is held back (${written} lines): every line is stored or counted as dropped`, async (t) => {
    const dir = t.testdir({});
    const { config, stored } = slowSinkConfig(dir, { delay_ms: 6000, buffer: '256k' }, { shutdown_timeout: 4 });
    const result = await runUk(['run', '-v', '-c', config, '--', node, join(programs, 'flood.mjs'), String(written)], { timeoutMs: 90_000 });
    t.equal(result.code, 0, result.err);
    const lines = storedLines(stored);
    const distinct = new Set(lines);
    t.equal(distinct.size, lines.length, 'no line stored twice');
    for (const line of distinct) {
      if (!/^line \d+$/.test(line) || Number(line.slice(5)) < 1 || Number(line.slice(5)) > written) t.fail(`not a program line: ${line}`);
    }
    const c = statsOf(result.err, 'slow_sink');
    // The accounting invariant: lines written = stored + counted as dropped (or unconfirmed: sent
    // with no answer before the deadline; this destination stores them only after uk has gone).
    t.equal(
      distinct.size + c.dropped! + c.unconfirmed!,
      written,
      `written ${written} = stored ${distinct.size} + dropped ${c.dropped} + unconfirmed ${c.unconfirmed}`,
    );
    t.equal(c.sent, distinct.size, 'every line counted as sent was stored');
    t.ok(c.dropped! > 0, 'some could not be sent in time, and that was said');
    t.match(result.err, /slow_sink: (shutdown deadline passed: )?dropped \d+ lines/);
  });
}

t.test('pipes held open by a process the program started are reported, and uk does not wait for them', async (t) => {
  const dir = t.testdir({});
  const { config, stored } = slowSinkConfig(dir, { delay_ms: 10 });
  // The background sleep inherits the program's stdout and stderr and keeps them open for 60 s.
  const script = 'echo first; (exec sleep 60) & echo last; exit 0';
  const result = await runUk(['run', '-c', config, '--', 'sh', '-c', script], { timeoutMs: 30_000 });
  t.equal(result.code, 0, result.err);
  t.match(result.err, /uk: the program exited but its stdout and stderr are still open after 2 s without output \(a process it started holds them\)/);
  t.same(storedLines(stored), ['first', 'last'], 'the lines written before were delivered');
});

t.test('a second signal during shutdown exits at once, saying how many records were given up', async (t) => {
  const dir = t.testdir({});
  // The destination never answers within the (long) shutdown deadline.
  const { config } = slowSinkConfig(dir, { delay_ms: 60_000 }, { shutdown_timeout: 60 }, []);
  // Prints 100 lines and its pid (101 lines), then waits to be terminated.
  const program = join(dir, 'waits.mjs');
  writeFileSync(program, "for (let i = 0; i < 100; i++) console.log('line ' + i);\nconsole.log('pid ' + process.pid);\nsetInterval(() => {}, 1000);\n");
  let phase = 0;
  const result = await runUk(['run', '-c', config, '--', node, program], {
    timeoutMs: 60_000,
    onStdout: (soFar, child) => {
      const pid = /pid (\d+)/.exec(soFar)?.[1];
      if (phase !== 0 || !pid) return;
      phase = 1;
      child.kill('SIGTERM');
      // The second signal once the program has gone (uk is then flushing).
      const poll = setInterval(() => {
        try {
          process.kill(Number(pid), 0);
        } catch {
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 20);
    },
  });
  t.equal(result.code, 130, result.err);
  t.match(result.err, /uk: SIGINT during shutdown: exiting without waiting for the flush; 101 record\(s\) not sent/);
  // How the 101 lines split between the batch out (no answer) and those behind it depends on how
  // fast they arrived: the first batch leaves 10 ms after its first line.
  t.match(result.err, /uk: slow_sink: SIGINT during shutdown: dropped \d+ lines that could not be sent; \d+ more were sent without an answer/);
  const c = statsOf(result.err, 'slow_sink');
  t.ok(c.unconfirmed! >= 1, 'the batch out with no answer is counted as unconfirmed');
  t.equal(c.dropped! + c.unconfirmed!, 101, 'every line given up is counted: dropped (never sent) or unconfirmed');
  t.equal(c.sent, 0);
});
