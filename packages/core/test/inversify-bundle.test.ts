import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { ContainerModule, inject, injectable } from 'inversify';

// The build bundles inversify into dist/inversify.js (scripts/bundle-dependency.mjs) so that `uk`
// starts faster; the test target runs after the build.
const bundle = new URL('../dist/inversify.js', import.meta.url);

t.test('dist/inversify.js is one file with the exports of src/inversify.ts', { skip: existsSync(bundle) ? false : 'not built (npm run build)' }, async (t) => {
  const text = readFileSync(bundle, 'utf8');
  const imports = [...text.matchAll(/^\s*import\s.*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
  t.same(
    imports.filter((specifier) => !specifier?.startsWith('node:')),
    [],
    'nothing imported but Node built-ins',
  );
  t.notMatch(text, /from ["']@?inversify/, 'nothing loaded from inversify at run time');
  const bundled = (await import(bundle.href)) as Record<string, unknown>;
  const source = (await import('../src/inversify.js')) as Record<string, unknown>;
  t.same(Object.keys(bundled).sort(), Object.keys(source).sort());
});

t.test("a klib's own inversify works with the bundled container", { skip: existsSync(bundle) ? false : 'not built (npm run build)' }, async (t) => {
  const { Container } = (await import(bundle.href)) as typeof import('../src/inversify.js');
  const container = new Container();
  container.bind('base').toConstantValue(41);
  class Plus {
    readonly value: number;
    constructor(base: number) {
      this.value = base + 1;
    }
  }
  // Decorators applied by hand (the tests are not compiled with decorator support).
  inject('base')(Plus, undefined, 0);
  injectable()(Plus);
  container.load(new ContainerModule((options) => void options.bind('plus').to(Plus)));
  t.equal(container.get<Plus>('plus').value, 42, 'ContainerModule, @injectable and @inject from the installed inversify');
});

// semver is bundled the same way (src/semver.ts): the loader checks a klib's core range at every start.
const semverBundle = new URL('../dist/semver.js', import.meta.url);

t.test(
  'dist/semver.js is one file with the exports of src/semver.ts, and checks ranges as semver does',
  { skip: existsSync(semverBundle) ? false : 'not built (npm run build)' },
  async (t) => {
    const text = readFileSync(semverBundle, 'utf8');
    const imports = [...text.matchAll(/^\s*import\s.*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    t.same(
      imports.filter((specifier) => !specifier?.startsWith('node:')),
      [],
      'nothing imported but Node built-ins',
    );
    const bundled = (await import(semverBundle.href)) as typeof import('../src/semver.js');
    t.same(Object.keys(bundled).sort(), ['satisfies', 'validRange']);
    t.equal(bundled.satisfies('0.1.9', '^0.1.0'), true);
    t.equal(bundled.satisfies('0.2.0', '^0.1.0'), false);
    t.equal(bundled.validRange('latest'), null);
  },
);
