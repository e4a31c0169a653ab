/**
 * The service account's access token, shared by logging and metrics. A token is used until about
 * five minutes before it expires: then a timer fetches a new one (also when nothing is being
 * sent, so the next request does not wait), and a request that finds the token in that window
 * starts the fetch itself while the old token still serves. Only a token that has (nearly) run
 * out makes a request wait. A 401 from an API invalidates the token at once. Concurrent callers
 * share one fetch. Every token is registered with the kernel's secrets as soon as it is known, so
 * no uk message can show it (an API's error answer might echo the Authorization header).
 */
import type { Secrets, TimerHandle, Timers } from '@uk/core';
import type { AccessToken } from './metadata.js';

/** Refresh this long before the token runs out. */
export const REFRESH_BEFORE_MS = 5 * 60_000;
/** Closer than this to expiry, a token is not used at all. */
export const EXPIRY_MARGIN_MS = 10_000;

export class TokenSource {
  readonly #fetch: () => Promise<AccessToken>;
  readonly #timers: Timers;
  readonly #secrets: Pick<Secrets, 'add'> | undefined;
  #timer: TimerHandle | undefined;
  #stopped = false;
  #token: string | undefined;
  #expiresAt = 0;
  #fetching: Promise<string> | undefined;
  /** Tokens fetched so far (tests and counters). */
  fetched = 0;

  constructor(fetch: () => Promise<AccessToken>, timers: Timers, secrets?: Pick<Secrets, 'add'>) {
    this.#fetch = fetch;
    this.#timers = timers;
    this.#secrets = secrets;
  }

  get #now(): number {
    return this.#timers.clock.monotonic();
  }

  /** Takes a token fetched elsewhere (by setup). */
  seed(token: AccessToken): void {
    this.#secrets?.add(token.token);
    this.#token = token.token;
    this.#expiresAt = this.#now + token.expiresInMs;
    this.fetched++;
    this.#schedule(Math.max(0, token.expiresInMs - REFRESH_BEFORE_MS));
  }

  /** Refreshes after `ms` (again sooner if that fails, while the token still serves). */
  #schedule(ms: number): void {
    this.#timer?.cancel();
    if (this.#stopped) return;
    this.#timer = this.#timers.oneShot(ms, () => {
      this.#timer = undefined;
      this.refresh().catch(() => {
        const left = this.#expiresAt - EXPIRY_MARGIN_MS - this.#now;
        if (left > 1000) this.#schedule(Math.min(30_000, left / 2));
      });
    });
  }

  /** No more timed refreshes (shutdown). */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  get hasToken(): boolean {
    return this.#token !== undefined && this.#now < this.#expiresAt - EXPIRY_MARGIN_MS;
  }

  /** A token good for the next request. */
  async get(): Promise<string> {
    const now = this.#now;
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
