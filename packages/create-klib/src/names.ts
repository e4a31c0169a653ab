/**
 * The names a generated klib gets: its klib name (checked with defineKlib's rule, so a bad name is
 * found when scaffolding, not when uk first imports the klib) and its npm package name.
 */

/** defineKlib's name rule (packages/core/src/klib.ts). */
export const KLIB_NAME_RULE = /^[a-z][a-z0-9_-]*$/;

/** npm's rule for new package names: lowercase, URL-safe, optionally scoped, at most 214 characters. */
const PACKAGE_NAME_RULE = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;
const MAX_PACKAGE_NAME = 214;

/** A klib name made from `text` (lowercased, other characters as `-`), to suggest in an error. */
export function suggestKlibName(text: string): string | undefined {
  const name = text
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '');
  return KLIB_NAME_RULE.test(name) ? name : undefined;
}

/**
 * Why `name` is not a klib name (undefined when it is one), saying where it came from (`from`)
 * and how to fix it (a name to pass, or renaming the directory it was taken from).
 */
export function klibNameProblem(name: string, from: string, fromDirectory = false): string | undefined {
  if (KLIB_NAME_RULE.test(name)) return undefined;
  const suggestion = suggestKlibName(name) ?? 'my-klib';
  return (
    `"${name}" (${from}) is not a valid klib name: it must start with a lowercase letter, then only lowercase letters, digits, "-" or "_" (${KLIB_NAME_RULE.source}). ` +
    `Pass --name ${suggestion}${fromDirectory ? ', or rename the directory' : ''}.`
  );
}

/** The default package name of a klib. */
export function defaultPackageName(klibName: string): string {
  return `uk-klib-${klibName}`;
}

/** Why `name` cannot be an npm package name (undefined when it can). */
export function packageNameProblem(name: string): string | undefined {
  if (name.length > MAX_PACKAGE_NAME) return `package name "${name}" is longer than ${MAX_PACKAGE_NAME} characters`;
  if (!PACKAGE_NAME_RULE.test(name) || name.startsWith('.') || name.startsWith('_')) {
    return `"${name}" is not a valid npm package name: use lowercase letters, digits, "-", "." or "_" (not first), optionally under a scope (@acme/uk-klib-audit)`;
  }
  return undefined;
}
