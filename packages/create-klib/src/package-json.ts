/** The generated klib's package.json: made here, not copied, because its names and ranges vary. */
import type { TemplateVersions } from './versions.js';

export function klibPackageJson(klibName: string, packageName: string, versions: TemplateVersions): Record<string, unknown> {
  return {
    name: packageName,
    version: '0.1.0',
    description: `uk klib "${klibName}": appends the supervised program's output to a file`,
    type: 'module',
    // Not a licence chosen for the author: they pick one before publishing (see the README).
    license: 'UNLICENSED',
    engines: { node: versions.node },
    exports: {
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
      './package.json': './package.json',
    },
    types: './dist/index.d.ts',
    files: ['dist/**/*.js', 'dist/**/*.d.ts', 'README.md'],
    keywords: ['uk', 'uk-klib', 'klib'],
    scripts: {
      build: 'tsc -p tsconfig.build.json',
      typecheck: 'tsc -p tsconfig.json',
      // The tests load the built klib (dist/), as uk will once it is installed.
      pretest: 'npm run build',
      test: 'tap',
      prepack: 'npm run build',
    },
    tap: { include: ['test/**/*.test.ts'], 'allow-incomplete-coverage': true },
    // A scoped package is private on the registry unless published with public access.
    ...(packageName.startsWith('@') ? { publishConfig: { access: 'public' } } : {}),
    // One kernel: the klib runs against the @uk/core that loads it, never a copy of its own.
    peerDependencies: { '@uk/core': versions.core },
    devDependencies: {
      '@types/node': versions.typesNode,
      '@uk/core': versions.core,
      tap: versions.tap,
      typescript: versions.typescript,
    },
  };
}
