#!/usr/bin/env node
// Bundles a dependency into one file at build time, for start-up time.
//
//   node ../../scripts/bundle-dependency.mjs dist/FILE.js     (from a package's directory, after tsc)
//
// dist/FILE.js must be tsc's output of a module that only re-exports from installed packages
// (src/inversify.ts: `export { Container } from 'inversify'`). It is replaced by the same exports
// bundled, with everything they load, into that one file: Node's ES module loader costs about
// 0.3 ms per module, and inversify alone is about 250 of them. The packages stay dependencies of
// the package (their types are in its .d.ts files); tests and a plain `tsc` build use them as
// installed, with the same behaviour.
import { build } from 'esbuild';
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const target = process.argv[2];
if (!target || process.argv.length > 3) {
  console.error('usage: node scripts/bundle-dependency.mjs dist/FILE.js');
  process.exit(2);
}
const file = resolve(target);
const compiled = existsSync(file) ? readFileSync(file, 'utf8') : '';
const specifiers = [...compiled.matchAll(/from\s+['"]([^'".][^'"]*)['"]/g)].map((m) => m[1]);
if (specifiers.length === 0 || /^\s*(?:const|let|var|function|class)\s/m.test(compiled)) {
  console.error(`bundle-dependency: ${target} must be tsc's output of a module that only re-exports installed packages (already bundled? run tsc first)`);
  process.exit(1);
}

/** `name@version (licence)` of an installed package, from the package.json above its entry point. */
function describe(specifier) {
  let dir = dirname(fileURLToPath(import.meta.resolve(specifier, pathToFileURL(file).href)));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  const { name, version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return `${name} ${version} (${license})`;
}

// The exports before and after must be the same names, and the bundle must load nothing but Node's
// built-in modules: checked here, so that a broken bundle fails the build.
const before = Object.keys(await import(pathToFileURL(file).href)).sort();

const { metafile } = await build({
  entryPoints: [file],
  outfile: file,
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  legalComments: 'inline',
  banner: {
    js: [
      `// ${specifiers.map(describe).join(', ')} and what they load, bundled into one file by scripts/bundle-dependency.mjs.`,
      // CommonJS code in the bundle still require()s Node's built-in modules.
      "import { createRequire as __ukCreateRequire } from 'node:module';",
      'const require = __ukCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  metafile: true,
  logLevel: 'warning',
});

// What the bundle still imports at run time (esbuild's own account): Node's built-ins only.
const loaded = Object.values(metafile.outputs).flatMap((output) =>
  output.imports.filter((i) => i.external && !i.path.startsWith('node:') && !isBuiltin(i.path)).map((i) => i.path),
);
const after = Object.keys(await import(`${pathToFileURL(file).href}?bundled`)).sort();
if (loaded.length > 0 || JSON.stringify(after) !== JSON.stringify(before)) {
  console.error(
    `bundle-dependency: ${target} is not a faithful bundle: it loads ${JSON.stringify(loaded)}, exports ${JSON.stringify(after)} instead of ${JSON.stringify(before)}`,
  );
  process.exit(1);
}
