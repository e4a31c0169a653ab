/**
 * The credentials the emulators know: issued here (by the IMDS emulator's instance role, or by a
 * test for environment credentials), looked up by access key when a request's signature is
 * checked, and expired or revoked on demand to test rotation.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '@uk/core';

export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Set for temporary credentials (`ASIA…`), absent for long-term keys (`AKIA…`). */
  readonly sessionToken: string | undefined;
  /** Realtime ms when they stop working; undefined for long-term keys. */
  readonly expiration: number | undefined;
}

export type CredentialState = 'valid' | 'expired' | 'unknown';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function keyId(prefix: string): string {
  const bytes = randomBytes(16);
  let id = prefix;
  for (let i = 0; i < 16; i++) id += ALNUM[(bytes[i] as number) % ALNUM.length];
  return id;
}

export interface IssueOptions {
  /** Long-term key without session token or expiry (as in AWS_ACCESS_KEY_ID for an IAM user). */
  readonly permanent?: boolean;
  /** Lifetime of temporary credentials, ms (default 6 h, as instance role credentials). */
  readonly ttlMs?: number;
}

export class CredentialStore {
  readonly clock: Clock;
  readonly #byKey = new Map<string, { credentials: IssuedCredentials; expiredAt: number | undefined }>();

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  issue(options: IssueOptions = {}): IssuedCredentials {
    const credentials: IssuedCredentials = options.permanent
      ? { accessKeyId: keyId('AKIA'), secretAccessKey: randomBytes(30).toString('base64'), sessionToken: undefined, expiration: undefined }
      : {
          accessKeyId: keyId('ASIA'),
          secretAccessKey: randomBytes(30).toString('base64'),
          sessionToken: randomBytes(96).toString('base64'),
          expiration: this.clock.now() + (options.ttlMs ?? 6 * 3600_000),
        };
    this.#byKey.set(credentials.accessKeyId, { credentials, expiredAt: undefined });
    return credentials;
  }

  /** Adds credentials chosen by the caller (e.g. the example keys of AWS's signing test suite). */
  register(credentials: IssuedCredentials): IssuedCredentials {
    this.#byKey.set(credentials.accessKeyId, { credentials: { ...credentials }, expiredAt: undefined });
    return credentials;
  }

  /** The credentials of an access key, if this store issued it and has not revoked it. */
  lookup(accessKeyId: string): IssuedCredentials | undefined {
    return this.#byKey.get(accessKeyId)?.credentials;
  }

  state(accessKeyId: string): CredentialState {
    const entry = this.#byKey.get(accessKeyId);
    if (!entry) return 'unknown';
    const now = this.clock.now();
    if (entry.expiredAt !== undefined && entry.expiredAt <= now) return 'expired';
    if (entry.credentials.expiration !== undefined && entry.credentials.expiration <= now) return 'expired';
    return 'valid';
  }

  /** Makes a key expired from now on (the service answers ExpiredTokenException). */
  expire(accessKeyId: string): void {
    const entry = this.#byKey.get(accessKeyId);
    if (entry) entry.expiredAt = this.clock.now();
  }

  /** Forgets a key (the service answers UnrecognizedClientException). */
  revoke(accessKeyId: string): void {
    this.#byKey.delete(accessKeyId);
  }

  /** Every access key id issued and not revoked. */
  get keys(): string[] {
    return [...this.#byKey.keys()];
  }
}
