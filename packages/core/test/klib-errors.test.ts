// Each klib error code is worded by one function: these are the words.
import t from 'tap';
import { configMissing, initFailed, klibCrashed, klibNotFound, missingDependencies } from '../src/klib-errors.js';
import { assertUkError } from './helpers.js';

t.test('missing dependencies: absent, unable to load, in a cycle, failed; each with its fix', async (t) => {
  const absent = assertUkError(
    t,
    missingDependencies('cloudwatch', [{ name: 'tls', state: 'absent' }]),
    'UK_ERR_KLIB_MISSING_DEP',
    'missing dependencies for cloudwatch klib: tls',
    'cloudwatch',
  );
  t.equal(absent?.describe(), 'missing dependencies for cloudwatch klib: tls (add "tls" to Klibs)');
  const mixed = missingDependencies('b', [
    { name: 'a', state: 'absent' },
    { name: 'x', state: 'absent' },
    { name: 'c', state: 'cannot-load' },
  ]);
  t.equal(mixed.describe(), 'missing dependencies for b klib: a, x, c (which cannot load) (add "a", "x" to Klibs; fix the problem reported for c)');
  t.equal(
    missingDependencies('u', [{ name: 'cyc', state: 'in-cycle' }]).describe(),
    'missing dependencies for u klib: cyc (which cannot load) (break the dependency cycle)',
  );
  t.equal(
    missingDependencies('after', [{ name: 'boom', state: 'failed' }]).describe(),
    'missing dependencies for after klib: boom (which failed to load) (fix the problem reported for boom)',
  );
  // Listed, but its entry could not be loaded: what is wrong with it, and that problem's fix.
  const notInstalled = klibNotFound('tls', "the built-in klib's package @uk/tls is not installed", 'install it: npm install @uk/tls');
  const listed = missingDependencies('cloudwatch', [{ name: 'tls', state: 'not-loaded', problem: notInstalled }]);
  t.equal(listed.message, "missing dependencies for cloudwatch klib: tls (listed in Klibs, but the built-in klib's package @uk/tls is not installed)");
  t.equal(listed.fix, 'install it: npm install @uk/tls');
  t.equal(
    missingDependencies('b', [
      { name: 'a', state: 'absent' },
      { name: 'tls', state: 'not-loaded', problem: notInstalled },
      { name: 'x', state: 'not-loaded' },
    ]).describe(),
    'missing dependencies for b klib: a, tls (listed in Klibs, but the built-in klib\'s package @uk/tls is not installed), x (listed in Klibs, but it could not be loaded) (add "a" to Klibs; install it: npm install @uk/tls; fix the problem reported for x)',
  );
});

t.test('the other klib errors', async (t) => {
  const missing = assertUkError(
    t,
    configMissing('syslog', 'syslog'),
    'UK_ERR_KLIB_CONFIG_MISSING',
    'syslog: configuration tuple "syslog" is missing from ManifestPassthrough',
    'syslog',
  );
  t.equal(missing?.fix, 'add "syslog": { … } to ManifestPassthrough');
  const cause = new Error('cannot open /dev/thing');
  const init = assertUkError(t, initFailed('boom', cause), 'UK_ERR_KLIB_INIT_FAILED', 'klib boom failed to start: cannot open /dev/thing', 'boom');
  t.equal(init?.cause, cause);
  assertUkError(
    t,
    initFailed('boom', cause, 'options'),
    'UK_ERR_KLIB_INIT_FAILED',
    'klib boom failed to start: checking its options failed: cannot open /dev/thing',
  );
  const failure = { kind: 'uncaught exception', error: new Error('late bug'), at: '/k/crashy.mjs:3:9' };
  assertUkError(
    t,
    klibCrashed('crashy', failure, 'running'),
    'UK_ERR_KLIB_CRASHED',
    'klib crashy failed: uncaught exception: late bug (at /k/crashy.mjs:3:9)',
    'crashy',
  );
  assertUkError(
    t,
    klibCrashed('crashy', failure, 'init'),
    'UK_ERR_KLIB_CRASHED',
    'klib crashy failed during init: uncaught exception: late bug (at /k/crashy.mjs:3:9)',
  );
  assertUkError(
    t,
    klibCrashed('crashy', { kind: 'unhandled rejection', error: 'no stack' }, 'import'),
    'UK_ERR_KLIB_CRASHED',
    'klib crashy failed while its module was imported: unhandled rejection: no stack',
  );
});
