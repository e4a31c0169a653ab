/**
 * The secure transport: `connect()` with the operator's policy. The secure context (trust store
 * and minimum version) is built once and shared by every connection.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import type { SecureConnectOptions, SecureTransport } from '@uk/core';
import { pemCertificates, type TlsOptions } from './options.js';

export interface TrustStore {
  /** PEM certificates to trust; undefined means Node's default store unchanged. */
  readonly ca: string[] | undefined;
  /** Why NODE_EXTRA_CA_CERTS could not be used, if it was set and unreadable. */
  readonly extraCaProblem: string | undefined;
}

/**
 * What to trust. Without `ca_file`, Node's default store (its bundled roots plus
 * NODE_EXTRA_CA_CERTS) is used as is. Passing `ca` replaces that store, so with `ca_file` the
 * store is rebuilt: bundled roots + NODE_EXTRA_CA_CERTS + ca_file.
 */
export function trustStore(options: TlsOptions, processEnv: NodeJS.ProcessEnv = process.env): TrustStore {
  if (options.caPem === undefined) return { ca: undefined, extraCaProblem: undefined };
  const ca = [...tls.rootCertificates];
  let extraCaProblem: string | undefined;
  const extraFile = processEnv.NODE_EXTRA_CA_CERTS;
  if (extraFile) {
    try {
      const extra = pemCertificates(readFileSync(extraFile, 'utf8'));
      if (extra.length === 0) extraCaProblem = `NODE_EXTRA_CA_CERTS=${extraFile} contains no PEM certificate`;
      ca.push(...extra);
    } catch (err) {
      extraCaProblem = `cannot read NODE_EXTRA_CA_CERTS=${extraFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`;
    }
  }
  ca.push(...pemCertificates(options.caPem));
  return { ca, extraCaProblem };
}

export class NodeSecureTransport implements SecureTransport {
  readonly #context: SecureContext;
  readonly #rejectUnauthorized: boolean;

  constructor(options: TlsOptions, store: TrustStore) {
    this.#context = tls.createSecureContext({ minVersion: options.minVersion, ...(store.ca ? { ca: store.ca } : {}) });
    this.#rejectUnauthorized = options.rejectUnauthorized;
  }

  connect(options: SecureConnectOptions): TLSSocket {
    // SNI takes a host name, never an address (RFC 6066); the certificate is still checked
    // against the address (its IP subjectAltName) when no name is given.
    const servername = options.servername ?? (isIP(options.host) ? undefined : options.host);
    const socket = tls.connect({
      host: options.host,
      port: options.port,
      secureContext: this.#context,
      rejectUnauthorized: this.#rejectUnauthorized,
      ...(servername !== undefined ? { servername } : {}),
    });
    if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`TLS connection to ${options.host}:${options.port} not established within ${options.timeoutMs} ms`), {
          code: 'ETIMEDOUT',
        });
        socket.destroy(err);
      }, options.timeoutMs);
      timer.unref();
      const clear = (): void => clearTimeout(timer);
      socket.once('secureConnect', clear);
      socket.once('close', clear);
    }
    return socket;
  }
}
