// END-TO-END (slow, ~30 s; offline): a generated package is built and tested for real, with its
// own scripts (`npm run typecheck`, `npm run build`, `npm test`), against this monorepo's built
// @uk/core. Its node_modules is a link to the monorepo's node_modules (which holds @uk/core as a
// link to packages/core, and tap, typescript and @types/node), so nothing is downloaded; the
// tools are the monorepo's versions, which the generated ranges are taken from.
import { execFile } from 'node:child_process';
import { realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { GENERATED_FILES, filesUnder, repoDir, runBin, tempDir } from './helpers.js';

function npm(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    // CI=true: plain output; npm_config_offline: never reach the registry.
    const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true', npm_config_offline: 'true', npm_config_update_notifier: 'false' };
    // Run under tap, the parent's TAP_* variables would make the inner tap report to this test.
    for (const key of Object.keys(env)) if (key.startsWith('TAP')) delete env[key];
    execFile('npm', args, { cwd, env, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

t.test('END-TO-END: the generated package type-checks, builds and passes its own tests', async (t) => {
  const cwd = tempDir(t, 'crt-e2e-');
  const made = await runBin(['e2e-klib'], cwd);
  t.equal(made.code, 0, made.stderr);
  const dir = join(cwd, 'e2e-klib');
  symlinkSync(join(repoDir, 'node_modules'), join(dir, 'node_modules'), 'dir');
  t.equal(realpathSync(join(dir, 'node_modules', '@uk', 'core')), join(repoDir, 'packages', 'core'), "the monorepo's @uk/core");

  const typecheck = await npm(['run', 'typecheck'], dir);
  t.equal(typecheck.code, 0, 'npm run typecheck', { output: typecheck.output });
  const build = await npm(['run', 'build'], dir);
  t.equal(build.code, 0, 'npm run build', { output: build.output });
  const built = (await import(join(dir, 'dist', 'index.js'))) as { default: { name: string; core: string } };
  t.equal(built.default.name, 'e2e-klib');

  const test = await npm(['test'], dir);
  t.equal(test.code, 0, 'npm test', { output: test.output });
  // The generated suite's own counts: every assertion ran and passed.
  const summary = /# \{ total: (\d+), pass: (\d+) \}/.exec(test.output);
  t.ok(summary, 'tap printed its summary', { output: test.output });
  t.ok(Number(summary?.[1]) >= 15, `assertions run: ${summary?.[1]}`);
  t.equal(summary?.[1], summary?.[2], 'all passed');
  t.same(filesUnder(dir), GENERATED_FILES, 'building and testing added nothing outside dist/, .tap/ and node_modules/');
});
