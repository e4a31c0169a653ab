/**
 * @smithy/signature-v4, as aws-json.ts signs with it. It is its own module so that the build can
 * replace its compiled form, dist/signature-v4.js, with the package bundled into that one file
 * (../../scripts/bundle-dependency.mjs): about 40 ms to load as installed, about 20 ms bundled.
 */
export { SignatureV4 } from '@smithy/signature-v4';
