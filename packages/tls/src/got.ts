/**
 * The part of got that the HTTP client uses. It is its own module so that the build can replace
 * its compiled form, dist/got.js, with got bundled into that one file
 * (../../scripts/bundle-dependency.mjs): got and its dependencies are about 70 ES modules, which took
 * about 75 ms to load; the bundle loads in about 37 ms.
 */
export { got, RequestError } from 'got';
