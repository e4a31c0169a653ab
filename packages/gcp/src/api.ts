/**
 * One authorised POST to a Google API, with the answer classified for the Batcher:
 *
 * - 2xx: success (the parsed body is returned);
 * - 401: the token is invalidated, a new one fetched and the request sent once more at once;
 * - 408, 429, 5xx, network errors and timeouts: `retryable` (the Batcher backs off with jitter);
 * - 403: retryable too (a missing role or scope can be granted while uk runs), with a hint;
 * - other 4xx: not retryable (sending the same body again cannot succeed).
 *
 * Messages carry the HTTP status, Google's status and message, never the token or the body.
 */
import type { HttpClient, HttpResponse } from '@uk/core';
import type { TokenSource } from './credentials.js';

/** Google's error body: `{ error: { code, message, status, details } }`. */
export interface GoogleError {
  readonly code?: number;
  readonly message?: string;
  readonly status?: string;
  readonly details?: readonly Record<string, unknown>[];
}

export class ApiError extends Error {
  readonly statusCode: number | undefined;
  readonly retryable: boolean;
  readonly google: GoogleError | undefined;
  constructor(message: string, statusCode: number | undefined, retryable: boolean, google?: GoogleError) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.retryable = retryable;
    this.google = google;
  }
}

export function parseGoogleError(body: Buffer): GoogleError | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: GoogleError };
    return typeof parsed?.error === 'object' && parsed.error !== null ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}

const HINTS: Readonly<Record<number, string>> = {
  403: 'check that the instance service account has the role and the access scope the API needs',
};

export interface ApiCall {
  readonly url: string;
  readonly body: string | Buffer;
  readonly timeoutMs: number;
  /** What the call is, for messages: `entries.write`. */
  readonly what: string;
}

export interface ApiResult {
  readonly response: HttpResponse;
  /** True when the call was sent again with a new token after a 401. */
  readonly reauthorised: boolean;
}

export class GoogleApi {
  readonly #http: HttpClient;
  readonly #tokens: TokenSource;
  /** 401 answers seen (counter for the operator). */
  unauthorised = 0;

  constructor(http: HttpClient, tokens: TokenSource) {
    this.#http = http;
    this.#tokens = tokens;
  }

  async #post(call: ApiCall, token: string): Promise<HttpResponse> {
    try {
      return await this.#http.request({
        method: 'POST',
        url: call.url,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8', accept: 'application/json' },
        body: call.body,
        timeoutMs: call.timeoutMs,
      });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new ApiError(`${call.what}: ${(err as Error).message ?? String(err)}${typeof code === 'string' && !String((err as Error).message).includes(code) ? ` (${code})` : ''}`, undefined, true);
    }
  }

  /** Sends the call (again with a new token after a 401); resolves with whatever the API answered. */
  async post(call: ApiCall): Promise<ApiResult> {
    let token = await this.#tokens.get();
    let response = await this.#post(call, token);
    let reauthorised = false;
    if (response.statusCode === 401) {
      this.unauthorised++;
      this.#tokens.invalidate(token);
      token = await this.#tokens.refresh().catch((err: unknown) => {
        throw new ApiError(`${call.what}: HTTP 401 and no new token: ${(err as Error).message ?? String(err)}`, 401, true);
      });
      response = await this.#post(call, token);
      reauthorised = true;
      if (response.statusCode === 401) {
        this.unauthorised++;
        this.#tokens.invalidate(token);
      }
    }
    return { response, reauthorised };
  }

  /** The error for an answer that is not a success. */
  static error(call: ApiCall, response: HttpResponse, google = parseGoogleError(response.body)): ApiError {
    const status = response.statusCode;
    const detail = google ? ` ${google.status ?? ''}${google.message ? `: ${google.message.slice(0, 300)}` : ''}`.trimEnd() : '';
    const hint = HINTS[status] ? ` (${HINTS[status]})` : '';
    return new ApiError(`${call.what}: HTTP ${status}${detail}${hint}`, status, isRetryableStatus(status), google);
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 401 || status === 403 || status === 408 || status === 429 || status >= 500;
}

/** gRPC codes worth another try: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE. */
export const RETRYABLE_CODES: ReadonlySet<number> = new Set([4, 8, 10, 13, 14]);
