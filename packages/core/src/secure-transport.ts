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

export interface HttpRequest {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'HEAD';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Whole-request timeout, ms. */
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/**
 * HTTP(S) with keep-alive, timeouts and the kernel's TLS policy. Resolves for every HTTP status
 * (the caller decides what a 4xx/5xx means); rejects only for network errors and timeouts, with
 * the error's `code` (ECONNRESET, ETIMEDOUT, …) preserved and `sent: true` when the whole request
 * had gone out before the failure (the server may have carried it out: see `isUncertain` in the
 * Batcher). Retries are the caller's (the Batcher's).
 */
export interface HttpClient {
  request(request: HttpRequest): Promise<HttpResponse>;
}

export const HttpClientService = serviceToken<HttpClient>('http-client');

/** A SHA-256 hash or HMAC in the shape @smithy/signature-v4 expects (`Checksum`). */
export interface Sha256Hash {
  update(data: string | ArrayBuffer | ArrayBufferView): void;
  digest(): Promise<Uint8Array>;
  reset(): void;
}

/** The crypto primitives request signers need. */
export interface CryptoPrimitives {
  /** A constructor: `new Sha256()` hashes, `new Sha256(secret)` is an HMAC keyed with `secret`. */
  readonly Sha256: new (secret?: string | ArrayBuffer | ArrayBufferView) => Sha256Hash;
  sha256Hex(data: string | Uint8Array): string;
  hmacSha256(key: string | Uint8Array, data: string | Uint8Array): Buffer;
}

export const CryptoService = serviceToken<CryptoPrimitives>('crypto');
