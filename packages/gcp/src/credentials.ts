/**
 * The service account's access token, shared by logging and metrics. A token is used until about
 * five minutes before it expires; from then on a new one is fetched in the background while the
 * old one still serves, and only a token that has (nearly) run out makes a request wait. A 401
 * from an API invalidates the token at once. Concurrent callers share one fetch.
 */
import type { Clock } from '@uk/core';
import type { AccessToken } from './metadata.js';

/** Refresh this long before the token runs out. */
export const REFRESH_BEFORE_MS = 5 * 60_000;
/** Closer than this to expiry, a token is not used at all. */
export const EXPIRY_MARGIN_MS = 10_000;

export class TokenSource {
  readonly #fetch: () => Promise<AccessToken>;
  readonly #clock: Clock;
  #token: string | undefined;
  #expiresAt = 0;
  #fetching: Promise<string> | undefined;
  /** Tokens fetched so far (tests and counters). */
  fetched = 0;

  constructor(fetch: () => Promise<AccessToken>, clock: Clock) {
    this.#fetch = fetch;
    this.#clock = clock;
  }

  /** Takes a token fetched elsewhere (by setup). */
  seed(token: AccessToken): void {
    this.#token = token.token;
    this.#expiresAt = this.#clock.monotonic() + token.expiresInMs;
    this.fetched++;
  }

  get hasToken(): boolean {
    return this.#token !== undefined && this.#clock.monotonic() < this.#expiresAt - EXPIRY_MARGIN_MS;
  }

  /** A token good for the next request. */
  async get(): Promise<string> {
    const now = this.#clock.monotonic();
    const token = this.#token;
    if (token !== undefined && now < this.#expiresAt - REFRESH_BEFORE_MS) return token;
    if (token !== undefined && now < this.#expiresAt - EXPIRY_MARGIN_MS) {
      // Still valid: refresh in the background; a failure is retried on the next request.
      this.refresh().catch(() => {});
      return token;
    }
    return this.refresh();
  }

  /** Fetches a new token (one fetch at a time). */
  refresh(): Promise<string> {
    this.#fetching ??= this.#fetch()
      .then((fresh) => {
        this.seed(fresh);
        return fresh.token;
      })
      .finally(() => {
        this.#fetching = undefined;
      });
    return this.#fetching;
  }

  /** The API refused `token` (401): never use it again. */
  invalidate(token: string): void {
    if (this.#token === token) {
      this.#token = undefined;
      this.#expiresAt = 0;
    }
  }
}
