/**
 * A small EC2 instance metadata client for the region and the host name (credentials come from
 * AWS's own provider chain). IMDSv2 first: a session token from `PUT /latest/api/token`, sent on
 * every GET and renewed before it expires. Only where the token call answers 403, 404 or 405 (no
 * IMDSv2 there) does it fall back to IMDSv1, unless AWS_EC2_METADATA_V1_DISABLED forbids it.
 */
import type { Clock, Env, HttpClient } from '@uk/core';

export const IMDS_IPV4 = 'http://169.254.169.254';
export const IMDS_IPV6 = 'http://[fd00:ec2::254]';
const TOKEN_TTL_SECONDS = 21600;

export class ImdsError extends Error {
  readonly code: string;
  readonly statusCode: number | undefined;
  constructor(message: string, code: string, statusCode?: number) {
    super(message);
    this.name = 'ImdsError';
    this.code = code;
    this.statusCode = statusCode;
  }
}

const isTruthy = (value: string | undefined): boolean => value !== undefined && value !== '' && value.toLowerCase() !== 'false';

/** The metadata endpoint from the environment: AWS_EC2_METADATA_SERVICE_ENDPOINT, else by _MODE (IPv4 default). */
export function imdsEndpoint(env: Env): string {
  const explicit = env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
  if (explicit) return explicit.replace(/\/+$/, '');
  return env.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE?.toLowerCase() === 'ipv6' ? IMDS_IPV6 : IMDS_IPV4;
}

export function imdsDisabled(env: Env): boolean {
  return isTruthy(env.AWS_EC2_METADATA_DISABLED);
}

export class ImdsClient {
  readonly endpoint: string;
  readonly #http: HttpClient;
  readonly #clock: Clock;
  readonly #v1Disabled: boolean;
  readonly #timeoutMs: number;
  #token: { value: string; expires: number } | undefined;
  #v1 = false;

  constructor(options: { http: HttpClient; clock: Clock; env: Env; timeoutMs?: number }) {
    this.#http = options.http;
    this.#clock = options.clock;
    this.endpoint = imdsEndpoint(options.env);
    this.#v1Disabled = isTruthy(options.env.AWS_EC2_METADATA_V1_DISABLED);
    this.#timeoutMs = options.timeoutMs ?? 2000;
  }

  /** True once the service answered the token call with 403/404/405 and IMDSv1 is in use. */
  get usingV1(): boolean {
    return this.#v1;
  }

  async #session(): Promise<string | undefined> {
    if (this.#v1) return undefined;
    const now = this.#clock.monotonic();
    if (this.#token && this.#token.expires > now) return this.#token.value;
    const response = await this.#http.request({
      method: 'PUT',
      url: `${this.endpoint}/latest/api/token`,
      headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) },
      timeoutMs: this.#timeoutMs,
    });
    if (response.statusCode === 200) {
      // Renew a minute before the service forgets it.
      this.#token = { value: response.body.toString('utf8').trim(), expires: now + (TOKEN_TTL_SECONDS - 60) * 1000 };
      return this.#token.value;
    }
    if ([403, 404, 405].includes(response.statusCode)) {
      if (this.#v1Disabled)
        throw new ImdsError(
          `metadata token request answered ${response.statusCode} and AWS_EC2_METADATA_V1_DISABLED forbids IMDSv1`,
          'IMDS_V1_DISABLED',
          response.statusCode,
        );
      this.#v1 = true;
      return undefined;
    }
    throw new ImdsError(`metadata token request answered HTTP ${response.statusCode}`, 'IMDS_TOKEN_FAILED', response.statusCode);
  }

  /** GET a metadata path (`placement/region`), as text. */
  async get(path: string): Promise<string> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = await this.#session();
      const response = await this.#http.request({
        method: 'GET',
        url: `${this.endpoint}/latest/meta-data/${path}`,
        headers: token ? { 'x-aws-ec2-metadata-token': token } : {},
        timeoutMs: this.#timeoutMs,
      });
      if (response.statusCode === 200) return response.body.toString('utf8').trim();
      if (response.statusCode === 401 && token && attempt === 0) {
        // The token expired or the service restarted: get a new one, once.
        this.#token = undefined;
        continue;
      }
      throw new ImdsError(`metadata ${path} answered HTTP ${response.statusCode}`, 'IMDS_HTTP', response.statusCode);
    }
    throw new ImdsError(`metadata ${path}: token refused`, 'IMDS_HTTP', 401);
  }
}
