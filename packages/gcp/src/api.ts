/**
 * One authorised POST to a Google API, with the answer classified for the Batcher:
 *
 * - 2xx: success (the parsed body is returned);
 * - 401: the token is invalidated, a new one fetched and the request sent once more at once;
 * - 408, 429, 5xx, network errors and timeouts: `retryable` (the Batcher backs off with jitter);
 *   a timeout or a broken connection after the request went out is also `uncertain`: the
 *   service may have carried the request out (see `mayHaveBeenCarriedOut`);
 * - 403: retryable too (a missing role or scope can be granted while uk runs), with a hint;
 * - other 4xx: not retryable (sending the same body again cannot succeed).
 *
 * Messages carry the HTTP status, Google's status and message, never the token or the body.
 */
import { drop, reasonOf, retry, type HttpClient, type HttpResponse, type SendResult } from '@uk/core';
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
  /**
   * The request may have been carried out although it failed (it timed out, or the connection
   * broke, after it was sent): sending it again may store it twice, unless the service
   * de-duplicates (Cloud Logging does, by insertId and timestamp). The Batcher counts such resends.
   */
  readonly uncertain: boolean;
  constructor(message: string, statusCode: number | undefined, retryable: boolean, google?: GoogleError, uncertain = false) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.retryable = retryable;
    this.google = google;
    this.uncertain = uncertain;
  }
}

/** Network errors after which the server cannot have had the request: nothing to count as resent. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ERR_INVALID_URL',
  'ERR_UNSUPPORTED_PROTOCOL',
]);
/** Network errors that break a request once under way: a reset, a closed pipe, a garbled answer. */
const BROKEN_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_RESPONSE_TOO_LARGE']);
/** got's timeout events before anything of the request is sent (`Timeout awaiting 'connect' for …`). */
const BEFORE_SEND_EVENTS = /awaiting '(lookup|connect|secureConnect|socket)'/;

/**
 * Whether a failed request may have been carried out by the server. The HTTP client says so
 * with `sent` (the whole request had gone out) where it knows; otherwise the error's code decides:
 * a timeout other than while connecting, a reset or a garbled answer may come after the server
 * got the request; a refused connection or an unknown host cannot. A reset of a kept-alive
 * connection just before the request was written also counts as uncertain: resending is safe
 * here (Cloud Logging de-duplicates), it is only counted.
 */
export function mayHaveBeenCarriedOut(err: unknown): boolean {
  const { sent, code, message } = (err ?? {}) as { sent?: unknown; code?: unknown; message?: unknown };
  if (typeof sent === 'boolean') return sent;
  if (typeof code !== 'string') return false;
  if (NOT_SENT_CODES.has(code) || /CERT|SSL|TLS|ERR_OSSL/.test(code)) return false;
  if (code === 'ETIMEDOUT') return !BEFORE_SEND_EVENTS.test(typeof message === 'string' ? message : '');
  return BROKEN_CODES.has(code) || code.startsWith('HPE_');
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
      throw new ApiError(
        `${call.what}: ${(err as Error).message ?? String(err)}${typeof code === 'string' && !String((err as Error).message).includes(code) ? ` (${code})` : ''}`,
        undefined,
        true,
        undefined,
        mayHaveBeenCarriedOut(err),
      );
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

/** What a failed call means: a passing failure is a retry (uncertain if it may have been stored), any other a drop. */
export function resultOf(err: unknown): SendResult {
  const reason = reasonOf(err);
  if (err instanceof ApiError && !err.retryable) return drop(reason);
  return retry(reason, { uncertain: err instanceof ApiError && err.uncertain });
}
