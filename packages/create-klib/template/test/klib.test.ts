// Tests for the __KLIB_NAME__ klib with @uk/core/testing: a real kernel (manual clock, no program)
// loads the built klib (dist/, built by `npm test`'s pretest) as uk would, and real files are
// written. Run: npm test
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { isUkError } from '@uk/core';
import { testKernel } from '@uk/core/testing';

const NAME = '__KLIB_NAME__';
const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** A kernel loading this klib with `options` as its tuple (none: no tuple at all). */
function kernelWith(options?: Record<string, unknown>) {
  return testKernel({ Klibs: ['./dist/index.js'], ManifestPassthrough: options ? { [NAME]: options } : {} }, { baseDir: packageDir });
}

/** Waits in real time for `check` (the klib writes real files; the manual clock moves timers, not disks). */
async function eventually(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !check(); await sleep(10)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

function tempFile(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), `${NAME}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'logs', 'app.log');
}

const read = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');

t.test('options: unknown keys, a missing file and bad numbers are refused, each named', async (t) => {
  const { kernel } = kernelWith({ path: 'x', flush_interval_ms: 5 });
  const boot = await kernel.boot();
  t.same(
    boot.klibs.map((k) => [k.name, k.status]),
    [[NAME, 'failed']],
  );
  const err = boot.problems[0];
  t.ok(isUkError(err));
  t.equal(err?.code, 'UK_ERR_OPTIONS_INVALID');
  t.same(
    err?.problems.map((p) => p.code),
    ['UK_ERR_OPTION_UNKNOWN', 'UK_ERR_MANIFEST_MISSING', 'UK_ERR_MANIFEST_VALUE'],
  );
  t.match(err?.message, `${NAME}: invalid option 'path'`);
  t.match(err?.message, `${NAME}.file: required`);
  t.match(err?.message, `${NAME}.flush_interval_ms`);
});

t.test('without its tuple the klib fails at boot, saying which tuple is missing', async (t) => {
  const { kernel } = kernelWith();
  const boot = await kernel.boot();
  t.equal(boot.problems[0]?.code, 'UK_ERR_KLIB_CONFIG_MISSING');
});

t.test('lines are appended in order, one per record, after the flush interval', async (t) => {
  const file = tempFile(t);
  const { kernel, clock } = kernelWith({ file, flush_interval_ms: 500 });
  const boot = await kernel.boot();
  t.same(boot.problems, []);

  for (const text of ['first', 'second', 'third']) kernel.console.write({ text, time: clock.now(), source: 'stdout' });
  kernel.console.write({ text: 'from stderr', time: clock.now(), source: 'stderr' });
  t.equal(read(file), '', 'nothing written before the flush interval');

  await clock.advanceAsync(500);
  await eventually(() => read(file).endsWith('from stderr\n'), 'the first batch');
  t.equal(read(file), 'first\nsecond\nthird\nfrom stderr\n');

  await kernel.stop();
  t.same(kernel.stats.snapshot()[NAME], { written: 4, dropped: 0, retries: 0 });
});

t.test('what is still queued is written at shutdown', async (t) => {
  const file = tempFile(t);
  const { kernel, clock } = kernelWith({ file });
  await kernel.boot();
  kernel.console.write({ text: 'last words', time: clock.now(), source: 'stdout' });
  kernel.console.write({ text: 'really last', time: clock.now(), source: 'stdout' });
  t.equal(read(file), '');

  await kernel.stop(); // no clock movement: the shutdown flush writes them
  t.equal(read(file), 'last words\nreally last\n');
  t.same(kernel.stats.snapshot()[NAME], { written: 2, dropped: 0, retries: 0 });
});

t.test('a failing write is retried, and the lines arrive once it works again', async (t) => {
  const file = tempFile(t);
  mkdirSync(file, { recursive: true }); // a directory where the file should be: EISDIR
  const { kernel, clock } = kernelWith({ file });
  await kernel.boot();
  kernel.console.write({ text: 'kept', time: clock.now(), source: 'stdout' });

  await clock.advanceAsync(1000);
  await eventually(() => (kernel.stats.snapshot()[NAME]?.retries ?? 0) >= 1, 'a failed append');
  rmSync(file, { recursive: true }); // the operator fixes it

  await clock.advanceAsync(30_000); // past the longest retry backoff
  await eventually(() => read(file) === 'kept\n', 'the retried append');
  await kernel.stop();
  t.same(kernel.stats.snapshot()[NAME], { written: 1, dropped: 0, retries: 1 });
});
