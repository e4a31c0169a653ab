/**
 * The accounting invariant every case is checked against, and the table of what each run did.
 *
 * uk promises that a program line is delivered or counted, never lost silently:
 *
 *     lines written = stored (distinct) + counted as dropped, duplicates counted as resends
 *
 * uk's own messages (`uk: …`) go through the same drivers and the same counters, so the check
 * counts the program's lines only (numbered, each written once) and allows for uk's messages:
 *
 *     missing = written - stored distinct program lines
 *     0 <= missing <= dropped + unconfirmed            nothing lost without being counted
 *     dropped - missing <= uk's messages               nothing counted lost that arrived
 *     stored - stored distinct <= resent               every duplicate is a counted resend
 *
 * `dropped` here is every record counted as lost: dropped, plus refused one by one (`rejected`,
 * which the Batcher does not add to `dropped`). `unconfirmed` records were given up while their
 * fate was unknown (in flight at the deadline), so they may or may not have arrived.
 */
import { writeFileSync } from 'node:fs';
import type { Test } from 'tap';
import { lineNumber } from './program.js';

export interface Stored {
  /** Distinct program lines stored. */
  readonly distinct: number;
  /** Program lines stored, copies included. */
  readonly total: number;
  /** Stored numbers that were never written (must be none). */
  readonly unknown: number;
  /** The first ranges of written lines not stored, for messages: `12-40, 97`. */
  readonly missingRanges: string;
}

/** Matches what a backend stored back to the `written` numbered lines. */
export function audit(stored: Iterable<string | Record<string, unknown>>, written: number): Stored {
  const seen = new Uint8Array(written);
  let distinct = 0;
  let total = 0;
  let unknown = 0;
  for (const item of stored) {
    const n = lineNumber(item);
    if (n === undefined) continue;
    if (n >= written) {
      unknown++;
      continue;
    }
    total++;
    if (seen[n] === 0) {
      seen[n] = 1;
      distinct++;
    }
  }
  const ranges: string[] = [];
  for (let i = 0; i < written && ranges.length < 6; i++) {
    if (seen[i] === 1) continue;
    let j = i;
    while (j + 1 < written && seen[j + 1] === 0) j++;
    ranges.push(i === j ? String(i) : `${i}-${j}`);
    i = j;
  }
  return { distinct, total, unknown, missingRanges: ranges.join(', ') };
}

/** A klib's loss counters, named alike for every klib. */
export interface Counted {
  readonly dropped: number;
  readonly rejected: number;
  readonly unconfirmed: number;
  readonly resent: number;
}

export interface Accounting extends Stored, Counted {
  readonly written: number;
  readonly ukLines: number;
}

/** Asserts the invariant (see the top of this file) for one run. */
export function checkInvariant(t: Test, a: Accounting): void {
  const missing = a.written - a.distinct;
  const lost = a.dropped + a.rejected;
  const duplicates = a.total - a.distinct;
  const numbers = `written ${a.written}, stored ${a.distinct} distinct (${a.total} in all), dropped ${a.dropped}, rejected ${a.rejected}, unconfirmed ${a.unconfirmed}, resent ${a.resent}, uk messages ${a.ukLines}${missing > 0 ? `; missing lines ${a.missingRanges}` : ''}`;
  t.equal(a.unknown, 0, 'no stored line that the program did not write');
  t.ok(
    missing >= 0 && missing <= lost + a.unconfirmed,
    `every line not stored was counted: missing ${missing} <= dropped + rejected + unconfirmed ${lost + a.unconfirmed} (${numbers})`,
  );
  t.ok(
    lost - missing <= a.ukLines,
    `nothing counted lost that arrived: dropped + rejected - missing ${lost - missing} <= uk's own messages ${a.ukLines} (${numbers})`,
  );
  t.ok(duplicates <= a.resent, `every duplicate was counted as a resend: ${duplicates} duplicates <= resent ${a.resent} (${numbers})`);
}

export interface Row extends Accounting {
  readonly case: string;
  readonly klib: string;
  readonly peakRssMiB: number;
  readonly seconds: number;
}

const COLUMNS: readonly [string, (r: Row) => string][] = [
  ['case', (r) => r.case],
  ['klib', (r) => r.klib],
  ['written', (r) => String(r.written)],
  ['stored', (r) => String(r.distinct)],
  ['duplicates', (r) => String(r.total - r.distinct)],
  ['missing', (r) => String(r.written - r.distinct)],
  ['dropped', (r) => String(r.dropped + r.rejected)],
  ['unconfirmed', (r) => String(r.unconfirmed)],
  ['resent', (r) => String(r.resent)],
  ['uk msgs', (r) => String(r.ukLines)],
  ['peak RSS MiB', (r) => r.peakRssMiB.toFixed(1)],
  ['time s', (r) => r.seconds.toFixed(1)],
];

/** The table of every run, as Markdown (readable as plain text too). */
export function renderTable(rows: readonly Row[]): string {
  const cells = [COLUMNS.map(([name]) => name), ...rows.map((r) => COLUMNS.map(([, cell]) => cell(r)))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) => `| ${c.map((v, i) => (i < 2 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join(' | ')} |`;
  const [head, ...body] = cells;
  return [line(head as string[]), `|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...body.map(line)].join('\n');
}

/** Prints the table into the TAP output and, with FAULT_MATRIX_REPORT set, writes it to that file. */
export function reportTable(t: Test, rows: readonly Row[]): void {
  const table = renderTable(rows);
  t.comment(`fault matrix (invariant: written = stored + dropped, duplicates <= resent)\n${table}`);
  const file = process.env.FAULT_MATRIX_REPORT;
  if (file) writeFileSync(file, `${table}\n`);
}
