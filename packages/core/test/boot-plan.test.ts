// One plan of the boot for `uk run` and `uk validate`: every configuration problem has the same
// code and message from both.
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { planBoot } from '../src/boot-plan.js';
import { loadOpsConfig } from '../src/config.js';
import type { UkError } from '../src/errors.js';
import { Kernel } from '../src/kernel.js';
import { MemoryStream } from '../src/testing.js';
import { ManualClock } from '../src/timers.js';
import { validateConfig } from '../src/validate.js';
import { klibEvents } from './helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures/klibs/', import.meta.url));

/** A config file in a fresh directory whose Klibs point at the fixture klibs. */
function writeBadConfig(dir: string): string {
  const rel = (name: string) => relative(dir, join(fixtures, name));
  const file = join(dir, 'uk.json');
  writeFileSync(
    file,
    JSON.stringify({
      Program: '/bin/true',
      Klibs: [
        rel('needs-missing.mjs'),
        rel('after-recfile.mjs'),
        rel('recfile.mjs'),
        rel('needs-config.mjs'),
        rel('alpha.mjs'),
        rel('options-bug.mjs'),
        rel('gamma.mjs'),
      ],
      ManifestPassthrough: {
        uk: { shutdown_timeout: 'soon', bogus: 1 },
        consoles: ['serial'],
        recfile: { batch: 0 },
        alpha: 'on',
        gamma: {},
      },
    }),
  );
  return file;
}

const flat = (problems: readonly UkError[]) => problems.flatMap((p) => (p.problems.length > 0 ? p.problems : [p])).map((p) => [p.code, p.message]);

t.test('uk validate and boot report the same problems, with the same codes and messages, in the same order', async (t) => {
  const file = writeBadConfig(t.testdir({}));
  const validation = await validateConfig(file);
  const kernel = new Kernel({ config: loadOpsConfig(file), baseEnv: {}, clock: new ManualClock(), stdout: new MemoryStream(), stderr: new MemoryStream() });
  klibEvents(true);
  const boot = await kernel.boot();
  const expected = [
    ['UK_ERR_OPTION_UNKNOWN', "uk: invalid option 'bogus'"],
    ['UK_ERR_MANIFEST_VALUE', 'uk.shutdown_timeout: expected a whole number of seconds, got "soon"'],
    ['UK_ERR_CONSOLES_ENTRY', 'consoles[0]: expected "+name" or "-name", got "serial"'],
    ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for needs-missing klib: nonexistent'],
    ['UK_ERR_MANIFEST_MISSING', 'recfile.path: required, expected a file path'],
    ['UK_ERR_MANIFEST_VALUE', 'recfile.batch: expected a number of records from 1 to 100000, got "0"'],
    ['UK_ERR_KLIB_CONFIG_MISSING', 'needs-config: configuration tuple "needs-config" is missing from ManifestPassthrough'],
    ['UK_ERR_MANIFEST_VALUE', 'alpha: expected a tuple (JSON object), got "on"'],
    ['UK_ERR_KLIB_INIT_FAILED', "klib options-bug failed to start: checking its options failed: Cannot read properties of undefined (reading 'port')"],
    ['UK_ERR_KLIB_MISSING_DEP', 'missing dependencies for after-recfile klib: recfile (which cannot load)'],
  ];
  t.same(flat(validation.problems), expected, 'uk validate');
  t.same(flat(boot.problems), expected, 'boot: the same');
  t.same(klibEvents(), ['init:gamma'], 'boot started only the klib without a problem');
  t.same(
    boot.klibs.map((k) => `${k.name}:${k.status}`),
    ['recfile:failed', 'after-recfile:failed', 'needs-config:failed', 'alpha:failed', 'options-bug:failed', 'gamma:loaded'],
  );
  const recfile = boot.klibs[0]?.error;
  t.equal(recfile?.code, 'UK_ERR_OPTIONS_INVALID', 'at run time, one error per klib listing its invalid options');
  t.equal(
    recfile?.message,
    'recfile: 2 invalid options: recfile.path: required, expected a file path; recfile.batch: expected a number of records from 1 to 100000, got "0"',
  );
  t.equal(boot.klibs[1]?.error?.fix, 'fix the problem reported for recfile');
});

t.test('planBoot: what boot will do with each klib, in load order', async (t) => {
  const file = writeBadConfig(t.testdir({}));
  const plan = await planBoot(loadOpsConfig(file), { env: {} });
  t.same(
    plan.klibs.map((k) => `${k.item.klib.name}:${k.action}`),
    ['recfile:fail', 'after-recfile:fail', 'needs-config:fail', 'alpha:fail', 'options-bug:fail', 'gamma:init'],
  );
  t.same(plan.settings.shutdownTimeoutMs, 10_000, 'the default in place of the bad value');
  t.same([...plan.toggles.keys()], [], 'the bad consoles entry toggles nothing');
  t.same(
    plan.resolved.map((r) => r.klib.name),
    ['needs-missing', 'after-recfile', 'recfile', 'needs-config', 'alpha', 'options-bug', 'gamma'],
  );
  const gamma = plan.klibs.at(-1);
  t.same(gamma?.action === 'init' ? gamma.config?.toJSON() : 'not init', {});
});
