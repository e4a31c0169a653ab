// Writes dist/versions.json: the version ranges a generated klib depends on, taken from this
// monorepo when create-klib is built, so a release of @uk/core and the template move together
// (the published create-klib has no monorepo to read them from).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const readJson = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));
const core = readJson('../../core/package.json');
const root = readJson('../../../package.json');

const devRange = (name) => {
  const range = root.devDependencies?.[name];
  if (!range) throw new Error(`write-versions: the root package.json has no devDependency "${name}"`);
  return range;
};

const versions = {
  // The generated klib works with the core it was made against and its compatible releases.
  core: `^${core.version}`,
  node: '>=20.19',
  tap: devRange('tap'),
  typescript: devRange('typescript'),
  typesNode: devRange('@types/node'),
};
mkdirSync(new URL('../dist/', import.meta.url), { recursive: true });
writeFileSync(new URL('../dist/versions.json', import.meta.url), `${JSON.stringify(versions, null, 2)}\n`);
