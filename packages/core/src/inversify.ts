/**
 * The part of inversify that the kernel uses. It is its own module so that the build can replace
 * its compiled form, dist/inversify.js, with inversify bundled into that one file
 * (../../scripts/bundle-dependency.mjs): inversify 8 is about 250 ES modules, and loading them was about
 * 90 ms of the 0.2 s `uk` takes to start; the bundle loads in about 10 ms. Tests and a plain `tsc`
 * build use inversify as installed, with the same behaviour.
 */
export { Container } from 'inversify';
