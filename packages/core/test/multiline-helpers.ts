/** Helpers of the multiline tests (not a test file itself). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineFramer, lineText } from '../src/line-framer.js';
import { autoRule } from '../src/multiline/auto-rules.js';
import { LineGrouper } from '../src/multiline/grouper.js';
import type { GroupRule } from '../src/multiline/rule.js';
import { ManualClock, Timers } from '../src/timers.js';

export const multilineFixtures = fileURLToPath(new URL('./fixtures/multiline/', import.meta.url));

export interface Grouped {
  readonly records: string[];
  /** Lines in each record. */
  readonly lines: number[];
}

export interface GroupOptions {
  readonly rule?: GroupRule;
  readonly maxRecordBytes?: number;
  readonly maxLines?: number;
  /** How the bytes arrive: all at once, one read per line, or reads of this many bytes. */
  readonly reads?: 'whole' | 'lines' | number;
}

/** The records the framer and grouper make of `bytes` (as uk does for one stream), flushed at the end. */
export function groupBytes(bytes: Buffer, options: GroupOptions = {}): Grouped {
  const records: string[] = [];
  const lines: number[] = [];
  const clock = new ManualClock();
  const grouper = new LineGrouper({
    rule: options.rule ?? autoRule,
    maxRecordBytes: options.maxRecordBytes ?? 1024 * 1024,
    maxLines: options.maxLines ?? 1000,
    timeoutMs: 300,
    timers: new Timers(clock),
    emit: (block) => {
      for (let i = 0; i < block.count; i++) {
        const text = lineText(block, i);
        records.push(text);
        lines.push(block.count === 1 && block.lines !== undefined ? block.lines : 1);
      }
    },
  });
  const framer = new LineFramer({ maxRecordBytes: options.maxRecordBytes ?? 1024 * 1024, emit: (block) => grouper.push(block) });
  const reads = options.reads ?? 'whole';
  if (reads === 'whole') framer.push(bytes, clock.now());
  else if (reads === 'lines') {
    for (let start = 0; start < bytes.length;) {
      const nl = bytes.indexOf(10, start);
      const end = nl === -1 ? bytes.length : nl + 1;
      framer.push(bytes.subarray(start, end), clock.now());
      start = end;
    }
  } else {
    for (let start = 0; start < bytes.length; start += reads) framer.push(bytes.subarray(start, start + reads), clock.now());
  }
  framer.flush();
  grouper.flush();
  return { records, lines };
}

export interface Captured {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  /** The records the program says uk should make of each stream. */
  readonly expected: { stdout: string[]; stderr: string[] };
  readonly status: number | null;
}

/** Runs a trace program of fixtures/multiline; it writes its expected records to the file given. */
export function capture(command: string, args: (expectedFile: string) => string[], env: NodeJS.ProcessEnv = process.env): Captured {
  const file = join(mkdtempSync(join(tmpdir(), 'uk-multiline-')), 'expected.json');
  const run = spawnSync(command, args(file), { cwd: multilineFixtures, env, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  if (run.error) throw run.error;
  const expected = JSON.parse(readFileSync(file, 'utf8')) as { stdout: string[]; stderr: string[] };
  return { stdout: run.stdout, stderr: run.stderr, expected, status: run.status };
}

/** Whether a runtime is on the machine (`java -version` and the like). */
export function hasRuntime(command: string, versionArg = '--version'): boolean {
  const run = spawnSync(command, [versionArg], { stdio: 'ignore' });
  return !run.error && run.status === 0;
}
