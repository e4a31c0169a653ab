/** Test helpers: requests signed with @smithy/signature-v4 (the signer AWS's SDK uses). */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { IssuedCredentials } from '../src/index.js';

type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data): string | Buffer =>
  typeof data === 'string' ? data : data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

class Sha256 {
  readonly #secret: string | Buffer | undefined;
  #hash: Hash | Hmac;
  constructor(secret?: Data) {
    this.#secret = secret === undefined ? undefined : bytes(secret);
    this.#hash = this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }
  update(data: Data): void {
    this.#hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }
  reset(): void {
    this.#hash = this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }
}

export interface CallOptions {
  readonly target: string;
  readonly body: unknown;
  readonly credentials: IssuedCredentials;
  readonly region?: string;
  readonly service?: 'logs' | 'monitoring';
  readonly contentType?: string;
  /** Change the request after signing (to test that tampering is caught). */
  readonly tamper?: (request: { headers: Record<string, string>; body: string }) => void;
  readonly signingDate?: Date;
  /** Gives up on the request (a client timeout). */
  readonly signal?: AbortSignal;
}

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
  /** `__type` without a namespace. */
  readonly errorType: string | undefined;
}

/** A signed AWS JSON request to an emulator. */
export async function call(baseUrl: string, options: CallOptions): Promise<CallResult> {
  const url = new URL(baseUrl);
  const service = options.service ?? (options.target.startsWith('Logs_') ? 'logs' : 'monitoring');
  const body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const signer = new SignatureV4({
    service,
    region: options.region ?? 'us-west-1',
    sha256: Sha256,
    credentials: {
      accessKeyId: options.credentials.accessKeyId,
      secretAccessKey: options.credentials.secretAccessKey,
      ...(options.credentials.sessionToken ? { sessionToken: options.credentials.sessionToken } : {}),
    },
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      query: {},
      headers: {
        host: url.host,
        'content-type': options.contentType ?? (service === 'logs' ? 'application/x-amz-json-1.1' : 'application/x-amz-json-1.0'),
        'x-amz-target': options.target,
      },
      body,
    },
    options.signingDate ? { signingDate: options.signingDate } : {},
  );
  const request = { headers: { ...(signed.headers as Record<string, string>) }, body };
  options.tamper?.(request);
  delete request.headers.host;
  const response = await fetch(`${baseUrl}/`, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // not JSON
  }
  const type = typeof json.__type === 'string' ? json.__type.split('#').pop() : undefined;
  return { status: response.status, headers: response.headers, text, json, errorType: type };
}
