/**
 * The two semver functions the loader needs (a klib's `core` range), from the `semver` package.
 * Only re-exports: the build bundles this file into one (scripts/bundle-dependency.mjs), as it
 * does inversify, so that uk does not load semver's dozens of modules at every start.
 */
export { default as satisfies } from 'semver/functions/satisfies.js';
export { default as validRange } from 'semver/ranges/valid.js';
