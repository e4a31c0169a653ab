/**
 * The program every case runs: a real Node script, written at test time, that prints numbered
 * lines (`fm 000123 …`, each number once) in phases. Before phase p > 0 it waits for the file
 * `go-p` that the test creates once the fault has done its work; after each phase it writes
 * `wrote-p`, and at the end `done` (so the test knows when the program finished, and can time
 * uk's shutdown from there).
 *
 * With `json: true` some lines are JSON: valid objects, invalid ones (cut short), and a few
 * nested 5,000 levels deep. Every line carries its number, so what a backend stored can be
 * matched back to what was written (`lineNumber`).
 */
import { join } from 'node:path';
import { WAIT_FOR_FILE, writeProgram } from '../../../../packages/cloudwatch/test/e2e-helpers.js';

export interface ProgramSpec {
  /** Lines per phase. */
  readonly phases: readonly number[];
  /** Mix in valid, invalid and deeply nested JSON lines. */
  readonly json?: boolean;
  /** How long the program waits for each go-file before giving up, ms. */
  readonly waitMs?: number;
}

/** Nesting of the deep JSON lines. */
export const NESTING = 5000;

/** Where the number of a stored line is: `fm 000123 …` or `{"fm":123,…}`. */
const TEXT_NUMBER = /^fm (\d{6})(?: |$)/;
const JSON_NUMBER = /^\{"fm":(\d+)[,}]/;

/** The number of a program line as stored (text, or a JSON payload), or undefined for anything else (uk's own messages). */
export function lineNumber(stored: string | Record<string, unknown>): number | undefined {
  if (typeof stored !== 'string') return typeof stored.fm === 'number' ? stored.fm : undefined;
  const m = TEXT_NUMBER.exec(stored) ?? JSON_NUMBER.exec(stored);
  return m ? Number(m[1]) : undefined;
}

/** Writes the program into `dir`; returns its command line. */
export function writeLinesProgram(dir: string, spec: ProgramSpec): string[] {
  return writeProgram(
    dir,
    `${WAIT_FOR_FILE}
import { writeFileSync } from 'node:fs';
const dir = ${JSON.stringify(dir)};
const phases = ${JSON.stringify(spec.phases)};
const json = ${spec.json === true};
// About 100 bytes a line, as a typical log line.
const filler = ' ' + 'the quick brown fox jumps over the lazy dog, '.repeat(3).slice(0, 89);
const nested = (i) => '{"fm":' + i + ',"deep":' + '{"a":'.repeat(${NESTING - 2}) + '0' + '}'.repeat(${NESTING - 2}) + '}';
function line(i) {
  if (json) {
    if (i % 1000 === 500) return nested(i);
    if (i % 50 === 7) return '{"fm":' + i + ',"cut short": [1, 2,';
    if (i % 50 === 8) return '{"fm":' + i + ',"valid":true,"text":"a JSON line"}';
  }
  return 'fm ' + String(i).padStart(6, '0') + filler;
}
let n = 0;
for (let p = 0; p < phases.length; p++) {
  if (p > 0) await waitFor(dir + '/go-' + p, ${spec.waitMs ?? 300_000});
  let chunk = '';
  for (let k = 0; k < phases[p]; k++) {
    chunk += line(n++) + '\\n';
    if (chunk.length >= 16384) {
      process.stdout.write(chunk);
      chunk = '';
    }
  }
  if (chunk) process.stdout.write(chunk);
  writeFileSync(dir + '/wrote-' + p, String(n));
}
writeFileSync(dir + '/done', String(n));
`,
  );
}

/** The file that lets the program start phase `p`. */
export const goFile = (dir: string, p: number): string => join(dir, `go-${p}`);
