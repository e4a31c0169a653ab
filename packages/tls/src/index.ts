/**
 * @uk/tls: the `tls` klib. It provides the secure transport service (TLS connections with
 * verification on unless the operator turns it off) to klibs that declare `tls` as a dependency.
 * It loads without a `tls` tuple, with the defaults, as the Nanos tls klib does.
 */
import { readFileSync } from 'node:fs';
import { CryptoService, defineKlib, HttpClientService, SecureTransportService } from '@uk/core';
import { cryptoPrimitives } from './crypto.js';
import { createHttpClient } from './http-client.js';
import { readTlsOptions, type TlsOptions } from './options.js';
import { NodeSecureTransport, trustStore } from './transport.js';

// The version and the @uk/core range come from package.json, which `nx release version` rewrites
// (RELEASING.md): a second copy here would have to be edited by hand at every release.
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; peerDependencies: Record<string, string> };

export { readTlsOptions, pemCertificates, TLS_OPTION_KEYS, TLS_VERSIONS, type TlsOptions, type TlsVersion } from './options.js';
export { NodeSecureTransport, trustStore, type TrustStore } from './transport.js';
export { createHttpClient, GotHttpClient, HttpRequestError, type HttpClientOptions, type HttpTlsPolicy } from './http-client.js';
export { cryptoPrimitives, hmacSha256, Sha256, sha256Hex } from './crypto.js';

export default defineKlib<TlsOptions>({
  name: 'tls',
  version: manifest.version,
  core: manifest.peerDependencies['@uk/core'],
  description: 'TLS connections for other klibs: verification on, extra CAs, minimum version',
  whenUnconfigured: 'init',
  options: readTlsOptions,
  init(ctx) {
    const options = ctx.options;
    const store = trustStore(options);
    if (store.extraCaProblem) ctx.log.warn(`${store.extraCaProblem}; trusting the default roots and ca_file only`);
    if (!options.rejectUnauthorized) {
      ctx.log.warn(
        'reject_unauthorized is false: server certificates are NOT verified, so connections can be intercepted; use ca_file to trust a private CA instead',
      );
    }
    ctx.services.provide(SecureTransportService, new NodeSecureTransport(options, store), 'tls');
    // HTTPS for the klibs that call web APIs (cloudwatch, gcp): the same trust store and policy.
    const http = createHttpClient({ tls: { ca: store.ca, minVersion: options.minVersion, rejectUnauthorized: options.rejectUnauthorized } });
    http.preload();
    ctx.services.provide(HttpClientService, http, 'tls');
    ctx.services.provide(CryptoService, cryptoPrimitives, 'tls');
    ctx.log.debug(`minimum version ${options.minVersion}${options.caFile ? `, extra CAs from ${options.caFile}` : ''}`);
  },
});
