// What every published package must carry, checked on the real packages after their build (the
// repo-files test target depends on every package's build): the registry metadata, LICENSE in the
// tarball, the built files in `npm pack`'s listing and nothing from src/ or test/, the klibs it
// needs at run time as dependencies, and README links that work on the registry's page.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const run = promisify(execFile);
const repo = new URL('../..', import.meta.url).pathname;
const github = 'https://github.com/uk-klibs/uk';
const rootLicense = readFileSync(join(repo, 'LICENSE'), 'utf8');

const packages = readdirSync(join(repo, 'packages'))
  .filter((dir) => existsSync(join(repo, 'packages', dir, 'package.json')))
  .map((dir) => ({ dir, path: join(repo, 'packages', dir), manifest: JSON.parse(readFileSync(join(repo, 'packages', dir, 'package.json'), 'utf8')) }))
  .filter(({ manifest }) => manifest.private !== true);

t.ok(packages.length >= 6, `found the packages (${packages.map((p) => p.dir).join(', ')})`);

t.test('the root package.json asks for the Node that can require() ESM', async (t) => {
  t.equal(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).engines.node, '>=20.19');
});

for (const { dir, path, manifest } of packages) {
  t.test(`${manifest.name}: registry metadata`, async (t) => {
    t.same(manifest.publishConfig, { access: 'public' }, 'a scoped package is private on npm unless published public');
    t.same(manifest.repository, { type: 'git', url: `git+${github}.git`, directory: `packages/${dir}` });
    t.equal(manifest.homepage, `${github}/tree/main/packages/${dir}#readme`);
    t.same(manifest.bugs, { url: `${github}/issues` });
    t.equal(manifest.license, 'Apache-2.0');
    t.equal(manifest.engines?.node, '>=20.19', 'ESM-only: require() of it works from Node 20.19');
    t.ok(manifest.files.includes('LICENSE'), '`files` names LICENSE');
    t.equal(manifest.scripts?.prepack, 'node ../../scripts/check-pack.mjs', 'npm pack and npm publish run the check first');
    t.equal(readFileSync(join(path, 'LICENSE'), 'utf8'), rootLicense, 'LICENSE is the root LICENSE');
  });

  t.test(`${manifest.name}: npm pack lists the built files, LICENSE and nothing from src/ or test/`, async (t) => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts=false'], { cwd: path });
    const files = JSON.parse(stdout)[0].files.map((f) => f.path);
    const targets = (value) => (typeof value === 'string' ? [value] : value && typeof value === 'object' ? Object.values(value).flatMap(targets) : []);
    const named = [manifest.types, ...targets(manifest.exports), ...targets(manifest.bin ?? {})].filter(Boolean).map((file) => file.replace(/^\.\//, ''));
    for (const file of new Set([...named, 'LICENSE', 'README.md', 'CHANGELOG.md', 'package.json'])) t.ok(files.includes(file), `the tarball has ${file}`);
    t.ok(
      files.some((file) => file.startsWith('dist/')),
      'the tarball has dist/',
    );
    t.same(
      files.filter((file) => /^(src|test)\//.test(file) || file.endsWith('.ts.map') || file.endsWith('.tsbuildinfo')),
      [],
      'no sources, tests or build leftovers',
    );
  });

  t.test(`${manifest.name}: README links work on the registry's page`, async (t) => {
    const readme = readFileSync(join(path, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
    t.same(
      links.filter((link) => !/^(https?:|#|mailto:)/.test(link)),
      [],
      'no relative links: npm shows the README without the repository around it',
    );
    t.ok(links.includes(`${github}/blob/main/docs/authoring-klibs.md`), 'links the authoring guide');
    for (const link of links.filter((l) => l.startsWith(`${github}/blob/main/`) || l.startsWith(`${github}/tree/main/`))) {
      const file = link.replace(/^https:\/\/github\.com\/uk-klibs\/uk\/(blob|tree)\/main\//, '').replace(/[#?].*$/, '');
      t.ok(existsSync(join(repo, file)), `${link} names a file of the repository`);
    }
  });
}

t.test('a klib states its version and @uk/core range as its package.json does, and depends on the klibs it needs', async (t) => {
  for (const { path, manifest } of packages.filter(({ manifest }) => manifest.peerDependencies?.['@uk/core'] && manifest.name !== '@uk/testkit')) {
    const { default: klib } = await import(pathToFileURL(join(path, 'dist/index.js')).href);
    t.equal(klib.version, manifest.version, `${manifest.name}: version`);
    t.equal(klib.core, manifest.peerDependencies['@uk/core'], `${manifest.name}: core range = the peer range, so nx release carries both`);
    const needs = Array.isArray(klib.dependencies) ? klib.dependencies : [];
    for (const name of needs) t.ok(manifest.dependencies?.[`@uk/${name}`], `${manifest.name} needs ${name}: @uk/${name} is a dependency, installed with it`);
  }
});
