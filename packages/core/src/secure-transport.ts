/**
 * The secure transport service: TLS connections and HTTPS with the kernel's TLS policy
 * (verification on unless the operator turns it off, extra CAs, minimum version). The `tls` klib
 * provides it; klibs that need it (syslog over TLS, cloudwatch, gcp) declare `tls` as a dependency
 * and get it from the services. Defined here so klibs depend on the kernel, not on each other.
 */
import type { TLSSocket } from 'node:tls';
import { serviceToken } from './services.js';

export interface SecureConnectOptions {
  readonly host: string;
  readonly port: number;
  /** SNI and certificate name to check; defaults to host. */
  readonly servername?: string;
  readonly timeoutMs?: number;
}

export interface SecureTransport {
  /** Opens a TLS connection; the socket emits `secureConnect` once the peer is verified. */
  connect(options: SecureConnectOptions): TLSSocket;
}

export const SecureTransportService = serviceToken<SecureTransport>('secure-transport');
