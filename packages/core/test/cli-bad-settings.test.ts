// A bad `uk` tuple is reported and the program still runs (defaults in place of the bad values);
// with --strict uk refuses to start it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runUk } from './uk-process.js';

t.test('uk run with a bad uk tuple runs the program and reports the value', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'bad-uk.json');
  writeFileSync(file, JSON.stringify({ ManifestPassthrough: { uk: { shutdown_timeout: '0' } } }));
  const run = await runUk(['run', '-c', file, '--', 'sh', '-c', 'echo program-ran; exit 4']);
  t.equal(run.code, 4, "the program's own exit status");
  t.equal(run.out, 'program-ran\n');
  t.match(run.err, /^uk: UK_ERR_MANIFEST_VALUE: uk\.shutdown_timeout: expected a whole number of seconds from 1 to 3600, got "0"$/m);
  const strict = await runUk(['run', '--strict', '-c', file, '--', 'sh', '-c', 'echo program-ran']);
  t.equal(strict.code, 2);
  t.equal(strict.out, '', 'not started with --strict');
  t.match(strict.err, /--strict: 1 problem\(s\) at boot; not starting the program/);
});
