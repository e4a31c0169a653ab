import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMeminfo, readMeminfo } from '../src/meminfo.js';

const SAMPLE = 'MemTotal:        2048 kB\nMemFree:          512 kB\nHugePages_Total:       4\nDirectMap4k(x):   8 kB\ngarbage line\n';

t.test('fields in kB become bytes; unitless counts stay as they are', (t) => {
  const fields = parseMeminfo(SAMPLE);
  t.equal(fields.get('MemTotal'), 2048 * 1024);
  t.equal(fields.get('MemFree'), 512 * 1024);
  t.equal(fields.get('HugePages_Total'), 4, 'a count, not kB');
  t.equal(fields.get('DirectMap4k(x)'), 8 * 1024);
  t.equal(fields.size, 4, 'lines that are not fields are skipped');
  t.end();
});

t.test('readMeminfo reads a file (and the real /proc/meminfo has MemTotal)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'uk-meminfo-'));
  writeFileSync(join(dir, 'meminfo'), SAMPLE);
  t.equal((await readMeminfo(join(dir, 'meminfo'))).get('MemFree'), 512 * 1024);
  t.ok(((await readMeminfo()).get('MemTotal') ?? 0) > 0);
});
