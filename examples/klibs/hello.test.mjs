// Tests for the hello klib with @uk/core/testing. Run: node examples/klibs/hello.test.mjs
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { isUkError } from '@uk/core';
import { memoryDriver, testKernel } from '@uk/core/testing';

const klibDir = fileURLToPath(new URL('.', import.meta.url));

/** Waits (in real time) for a file write started by the klib: ManualClock moves timers, not disks. */
async function eventually(check, ms = 2000) {
  for (const end = Date.now() + ms; !check(); await sleep(10)) if (Date.now() > end) throw new Error('timed out');
}

t.test('hello writes records as JSON lines, on its timer and at shutdown', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hello-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'out.jsonl');
  const { kernel, clock } = testKernel({ Klibs: ['./hello.mjs'], ManifestPassthrough: { hello: { file } } }, { baseDir: klibDir });
  const seen = memoryDriver();
  kernel.console.attach(seen);

  const boot = await kernel.boot();
  t.same(
    boot.klibs.map((k) => [k.name, k.status]),
    [['hello', 'loaded']],
  );
  t.same(boot.problems, []);

  kernel.console.write({ text: 'log 1', time: clock.now(), source: 'stdout' });
  t.equal(seen.records.length, 1, 'other drivers see the record too');

  t.notOk(existsSync(file), 'nothing written before the flush interval');
  await clock.advanceAsync(1000); // the periodic flush
  await eventually(() => existsSync(file) && readFileSync(file, 'utf8').endsWith('\n'));
  const first = readFileSync(file, 'utf8');
  t.same(JSON.parse(first), { time: '2026-01-01T00:00:00.000Z', source: 'stdout', text: 'log 1' });

  kernel.console.write({ text: 'log 2', time: clock.now(), source: 'stderr' });
  await kernel.stop(); // flush at shutdown
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(
    lines.map((l) => l.text),
    ['log 1', 'log 2'],
  );
  t.same(kernel.stats.snapshot().hello, { written: 2, dropped: 0, failed: 0 });
});

t.test('hello rejects unknown keys and needs a file', async (t) => {
  const { kernel } = testKernel({ Klibs: ['./hello.mjs'], ManifestPassthrough: { hello: { path: 'x' } } }, { baseDir: klibDir });
  const boot = await kernel.boot();
  t.equal(boot.klibs[0]?.status, 'failed');
  const err = boot.problems[0];
  t.ok(isUkError(err));
  t.equal(err?.code, 'UK_ERR_OPTIONS_INVALID');
  t.same(
    err?.problems.map((p) => p.code),
    ['UK_ERR_OPTION_UNKNOWN', 'UK_ERR_MANIFEST_MISSING'],
  );
});
