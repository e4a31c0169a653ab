/**
 * Writes a klib package: the files under template/ with the names filled in, and a package.json.
 * The target must be new or empty: nothing the user has is ever overwritten.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { klibPackageJson } from './package-json.js';
import type { TemplateVersions } from './versions.js';

export const TEMPLATE_DIR = fileURLToPath(new URL('../template/', import.meta.url));

/** npm leaves `.gitignore` out of published packages, so the template keeps it under another name. */
const RENAMED: Readonly<Record<string, string>> = { gitignore: '.gitignore' };

export interface ScaffoldOptions {
  readonly dir: string;
  readonly klibName: string;
  readonly packageName: string;
  readonly versions: TemplateVersions;
}

/** Why `dir` cannot receive a new package (undefined when it can). */
export function targetProblem(dir: string): string | undefined {
  let stat;
  try {
    stat = statSync(dir);
  } catch {
    return undefined; // does not exist yet: created
  }
  if (!stat.isDirectory()) return `${dir} exists and is not a directory: choose a new directory name`;
  const entries = readdirSync(dir);
  if (entries.length > 0) {
    const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? ', …' : '');
    return `${dir} is not empty (${shown}): create-klib only writes into a new or empty directory, so choose another one or empty it`;
  }
  return undefined;
}

function templateFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...templateFiles(path));
    else files.push(path);
  }
  return files.sort();
}

/** Writes the package; returns the files written, relative to `dir`. */
export function scaffold(options: ScaffoldOptions): string[] {
  const fill = (text: string): string =>
    text.replaceAll('__KLIB_NAME__', options.klibName).replaceAll('__PACKAGE_NAME__', options.packageName).replaceAll('__CORE_RANGE__', options.versions.core);
  mkdirSync(options.dir, { recursive: true });
  const written: string[] = [];
  const write = (name: string, text: string): void => {
    const path = join(options.dir, name);
    mkdirSync(dirname(path), { recursive: true });
    // 'wx': fail rather than overwrite, should something appear in the directory meanwhile.
    writeFileSync(path, text, { flag: 'wx' });
    written.push(name);
  };
  for (const file of templateFiles(TEMPLATE_DIR)) {
    const rel = relative(TEMPLATE_DIR, file);
    const base = rel.split('/').pop() as string;
    const target = RENAMED[base] ? join(dirname(rel), RENAMED[base]) : rel;
    write(target, fill(readFileSync(file, 'utf8')));
  }
  write('package.json', `${JSON.stringify(klibPackageJson(options.klibName, options.packageName, options.versions), null, 2)}\n`);
  return written.sort();
}
