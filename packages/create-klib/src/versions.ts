/**
 * The version ranges a generated klib depends on. scripts/write-versions.mjs writes them to
 * dist/versions.json when create-klib is built, from this monorepo's packages/core/package.json
 * (the `@uk/core` range) and root devDependencies (tap, typescript, @types/node).
 */
import { readFileSync } from 'node:fs';

export interface TemplateVersions {
  /** `^<core version>`: peer and dev dependency range of @uk/core, and defineKlib's `core`. */
  readonly core: string;
  readonly node: string;
  readonly tap: string;
  readonly typescript: string;
  readonly typesNode: string;
}

/** Read from dist/versions.json, which is `../dist/` from both src/ (tests) and dist/ (the bin). */
export function templateVersions(): TemplateVersions {
  return JSON.parse(readFileSync(new URL('../dist/versions.json', import.meta.url), 'utf8')) as TemplateVersions;
}
