#!/usr/bin/env node
/**
 * Filters the raw TAP of `nx run-many -t test` (tap's `tap` reporter, lines prefixed with the
 * project name by nx) into a log a person can read at a glance: each test file's ok/not ok,
 * every failing assertion with its diagnostics, each package's totals, nx's own lines, and at
 * the end one plain line `N passed, N failed` summed over every package. Used by
 * scripts/test.sh when the output is not a terminal (CI), instead of tap's terminal reporter,
 * which repaints the screen and writes hundreds of KB of escape codes into a log.
 */
import { createInterface } from 'node:readline';

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
let passed = 0;
let failed = 0;
/** Lines of a failing assertion's YAML block are printed until its `...`. */
let inFailure = false;
let failureIndent = '';

for await (const raw of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const line = raw.replace(ANSI, '');
  const m = /^(\S+:\s)?(\s*)(.*)$/.exec(line);
  const indent = m?.[2] ?? '';
  const body = m?.[3] ?? '';
  const totals = /^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(body);
  if (totals) {
    passed += Number(totals[2]);
    failed += Number(totals[3] ?? 0);
    console.log(line);
    continue;
  }
  if (inFailure) {
    console.log(line);
    if (indent.length <= failureIndent.length + 2 && body === '...') inFailure = false;
    continue;
  }
  if (/^not ok /.test(body)) {
    console.log(line);
    inFailure = true;
    failureIndent = indent;
    continue;
  }
  // A test file's result (top level of a package's run), and nx's own lines (no TAP shape).
  if (indent === '' && /^ok \d+ - /.test(body)) {
    console.log(line);
    continue;
  }
  const tapShaped = /^(ok |not ok |# |1\.\.|TAP version|---|\.\.\.|[A-Za-z_]+:|File\s+\||-|\||\s*$)/.test(body) || indent !== '';
  if (!tapShaped) console.log(line);
}
console.log(`\n${passed} passed, ${failed} failed`);
