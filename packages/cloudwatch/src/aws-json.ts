/**
 * Calls to AWS JSON RPC services (CloudWatch Logs: JSON 1.1, CloudWatch metrics: JSON 1.0),
 * signed with @smithy/signature-v4 using the tls klib's SHA-256, sent through its HTTP client.
 * Errors are classified once, here, for every caller: what to retry, what means "renew the
 * credentials", what means "recreate the destination", what to give up on.
 */
import { SignatureV4 } from './signature-v4.js';
import type { Clock, CryptoPrimitives, HttpClient } from '@uk/core';
import type { CredentialSource } from './credentials.js';

export type ErrorKind = 'credentials' | 'not-found' | 'throttled' | 'server' | 'network' | 'client';

/**
 * A failed call. `retryable: false` makes the send a `drop` instead of a `retry` (`resultOf` in
 * log-requests.ts);
 * `uncertain: true` that the service may have carried it out (no answer to a request that went out).
 */
export class AwsCallError extends Error {
  readonly kind: ErrorKind;
  /** AWS error type (`ThrottlingException`) or network code (`ECONNRESET`). */
  readonly type: string;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly uncertain: boolean;

  constructor(message: string, kind: ErrorKind, type: string, status?: number, uncertain = false) {
    super(message);
    this.name = 'AwsCallError';
    this.kind = kind;
    this.type = type;
    this.status = status;
    // Only a request the service refuses for what it is (4xx other than the kinds above) is not retried.
    this.retryable = kind !== 'client';
    this.uncertain = uncertain;
  }
}

const CREDENTIAL_ERRORS = new Set([
  'ExpiredTokenException',
  'ExpiredToken',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'RequestExpired',
  'AccessDeniedException',
  'AccessDenied',
]);
const THROTTLING_ERRORS = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottledException',
  'TooManyRequestsException',
  'LimitExceededException',
  'RequestLimitExceeded',
  'ServiceUnavailableException',
  'OperationAbortedException',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** `com.amazonaws.cloudwatch#InvalidParameterValueException` or `Type:http://…` → the bare type. */
export function errorTypeOf(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  return raw.split(':')[0]?.split('#').pop()?.trim() || undefined;
}

export function classify(status: number, type: string | undefined): ErrorKind {
  if (type && CREDENTIAL_ERRORS.has(type)) return 'credentials';
  if (type === 'ResourceNotFoundException') return 'not-found';
  if (status === 429 || (type && THROTTLING_ERRORS.has(type))) return 'throttled';
  if (status >= 500) return 'server';
  if (status === 401 || status === 403) return 'credentials';
  return 'client';
}

const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';
const UNSIGNED = new Set([PAYLOAD_HASH_HEADER]);

export interface AwsJsonClientOptions {
  readonly http: HttpClient;
  readonly crypto: CryptoPrimitives;
  readonly clock: Clock;
  readonly credentials: CredentialSource;
  /** `https://logs.us-east-1.amazonaws.com` (or an override). */
  readonly endpoint: string;
  readonly region: string;
  /** SigV4 service name: `logs`, `monitoring`. */
  readonly signingName: string;
  /** `Logs_20140328`, `GraniteServiceVersion20100801`. */
  readonly targetPrefix: string;
  readonly jsonVersion: '1.0' | '1.1';
  readonly timeoutMs?: number;
}

export class AwsJsonClient {
  readonly #o: AwsJsonClientOptions;
  readonly #url: URL;
  readonly #signer: SignatureV4;
  #credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;

  constructor(options: AwsJsonClientOptions) {
    this.#o = options;
    this.#url = new URL(options.endpoint);
    this.#signer = new SignatureV4({
      service: options.signingName,
      region: options.region,
      sha256: options.crypto.Sha256,
      applyChecksum: false,
      credentials: () => Promise.resolve(this.#credentials as { accessKeyId: string; secretAccessKey: string }),
    });
  }

  get endpoint(): string {
    return this.#url.href;
  }

  /**
   * Calls `operation` with a JSON body (already serialised, as text or UTF-8 bytes); resolves with
   * the parsed answer (`{}` when empty). `payloadHash`: the body's SHA-256 in hex when the caller
   * already has it (computed ahead), so signing does not hash the body again; it goes into the
   * signature only, not into a header.
   */
  async call(operation: string, body: string | Buffer, payloadHash?: string): Promise<Record<string, unknown>> {
    // Encoded once: the signer hashes these bytes and the client sends them.
    const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const credentials = await this.#o.credentials.get();
    this.#credentials = {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
    };
    const url = this.#url;
    const signed = await this.#signer.sign(
      {
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname || '/',
        query: {},
        headers: {
          host: url.host,
          'content-type': `application/x-amz-json-${this.#o.jsonVersion}`,
          'x-amz-target': `${this.#o.targetPrefix}.${operation}`,
          // The signer takes the payload hash from this header; it is neither signed nor sent.
          ...(payloadHash ? { [PAYLOAD_HASH_HEADER]: payloadHash } : {}),
        },
        body: payload,
      },
      { signingDate: new Date(this.#o.clock.now()), ...(payloadHash ? { unsignableHeaders: UNSIGNED } : {}) },
    );
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) if (name !== 'host' && name !== PAYLOAD_HASH_HEADER) headers[name] = String(value);
    let response;
    try {
      response = await this.#o.http.request({ method: 'POST', url: url.href, headers, body: payload, timeoutMs: this.#o.timeoutMs ?? 30_000 });
    } catch (err) {
      const { code, sent } = err as { code?: unknown; sent?: unknown };
      const uncertain = sent === true;
      throw new AwsCallError(
        `${operation}: ${(err as Error).message}${uncertain ? ' (sent; no answer)' : ''}`,
        'network',
        typeof code === 'string' ? code : 'ERR_NETWORK',
        undefined,
        uncertain,
      );
    }
    const text = response.body.toString('utf8');
    let parsed: Record<string, unknown> = {};
    if (text.trim() !== '') {
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        if (response.statusCode < 300) throw new AwsCallError(`${operation}: the answer is not JSON`, 'server', 'InvalidResponse', response.statusCode);
      }
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return parsed;
    const header = response.headers['x-amzn-errortype'];
    const type = errorTypeOf(typeof parsed.__type === 'string' ? parsed.__type : Array.isArray(header) ? header[0] : header) ?? `HTTP${response.statusCode}`;
    const message = typeof parsed.message === 'string' ? parsed.message : typeof parsed.Message === 'string' ? parsed.Message : '';
    throw new AwsCallError(
      `${operation}: ${type}${message ? `: ${message.slice(0, 300)}` : ''} (HTTP ${response.statusCode})`,
      classify(response.statusCode, type),
      type,
      response.statusCode,
    );
  }
}
