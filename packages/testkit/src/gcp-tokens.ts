/**
 * OAuth access tokens shared by the GCE metadata emulator (which issues them for the default
 * service account) and the Cloud Logging / Monitoring emulators (which check the bearer token of
 * every request against them). Tests expire or revoke tokens to see what a client does on 401.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '@uk/core';

export const DEFAULT_SCOPES = Object.freeze(['https://www.googleapis.com/auth/logging.write', 'https://www.googleapis.com/auth/monitoring.write']);

export interface IssuedToken {
  readonly token: string;
  /** Realtime ms when it stops being accepted. */
  readonly expiresAt: number;
  readonly scopes: readonly string[];
}

export type TokenState = 'valid' | 'expired' | 'unknown' | 'missing-scope';

export class GcpTokenStore {
  readonly clock: Clock;
  readonly #tokens = new Map<string, { expiresAt: number; scopes: readonly string[] }>();
  /** Lifetime of new tokens, seconds (the metadata server's are usually 3599). */
  ttlSeconds: number;
  /** Scopes of new tokens. */
  scopes: readonly string[];
  issued = 0;

  constructor(options: { clock?: Clock; ttlSeconds?: number; scopes?: readonly string[] } = {}) {
    this.clock = options.clock ?? systemClock;
    this.ttlSeconds = options.ttlSeconds ?? 3599;
    this.scopes = options.scopes ?? DEFAULT_SCOPES;
  }

  issue(ttlSeconds = this.ttlSeconds): IssuedToken {
    // Shaped like Google's (ya29.…), long enough that nobody mistakes it for a test constant.
    const token = `ya29.uk-${randomBytes(48).toString('base64url')}`;
    const expiresAt = this.clock.now() + ttlSeconds * 1000;
    this.#tokens.set(token, { expiresAt, scopes: this.scopes });
    this.issued++;
    return { token, expiresAt, scopes: this.scopes };
  }

  /** Whether `token` is accepted now for a call that needs `scope`. */
  check(token: string | undefined, scope?: string): TokenState {
    if (!token) return 'unknown';
    const entry = this.#tokens.get(token);
    if (!entry) return 'unknown';
    if (entry.expiresAt <= this.clock.now()) return 'expired';
    if (scope && !entry.scopes.includes(scope) && !entry.scopes.includes('https://www.googleapis.com/auth/cloud-platform')) return 'missing-scope';
    return 'valid';
  }

  /** Seconds `token` has left (0 once expired). */
  remainingSeconds(token: string): number {
    const entry = this.#tokens.get(token);
    return entry ? Math.max(0, Math.floor((entry.expiresAt - this.clock.now()) / 1000)) : 0;
  }

  /** Makes one token (or every token) expire now. */
  expire(token?: string): void {
    const now = this.clock.now();
    for (const [key, entry] of this.#tokens) if (token === undefined || key === token) entry.expiresAt = Math.min(entry.expiresAt, now);
  }
}
