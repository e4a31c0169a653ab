/**
 * AWS credentials from AWS's maintained provider chain (@aws-sdk/credential-provider-node:
 * environment, shared config and credentials files with profiles, SSO, credential process, web
 * identity, ECS and EKS container credentials, then the instance profile through IMDSv2), with
 * the refresh rules the klib needs: renew 5 minutes before `Expiration`, and at once when the
 * service says the credentials are expired or unknown.
 *
 * The chain reads uk's own environment (process.env). The klib first copies the `AWS_*`
 * variables of the config's Env there, so that what the config says applies to the chain too.
 *
 * Every secret access key and session token obtained (the first and each renewal, from whichever
 * provider) is registered with the kernel's secrets, so no uk message can show it, even when a
 * service echoes the request (AWS's signature errors quote the security token). Access key ids are
 * not secrets and stay visible (see packages/core/src/redact.ts).
 */
import { reasonOf, type Clock, type Env, type KlibLog, type Secrets } from '@uk/core';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export type CredentialProvider = (options?: { forceRefresh?: boolean }) => Promise<AwsCredentials>;

/** Renew credentials this long before they expire. */
export const REFRESH_BEFORE_MS = 5 * 60_000;
/** After a renewal that still returned soon-expiring credentials, wait this long before the next. */
const MIN_RENEW_INTERVAL_MS = 30_000;

/** Copies the config's `AWS_*` variables into uk's environment, where the provider chain reads them. */
export function shareAwsEnv(env: Env, target: NodeJS.ProcessEnv = process.env): string[] {
  const copied: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('AWS_') && target[key] !== value) {
      target[key] = value;
      copied.push(key);
    }
  }
  return copied;
}

/** AWS's default provider chain, imported when first needed (it is large; boot must stay fast). */
export async function defaultChain(log: KlibLog): Promise<CredentialProvider> {
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  // The SDK's own messages go to the klib log as text only (never objects, which could hold secrets).
  const text = (args: unknown[]): string => args.filter((a) => typeof a === 'string').join(' ');
  const logger = {
    debug: () => {},
    info: () => {},
    warn: (...args: unknown[]) => log.warn(`credentials: ${text(args)}`),
    error: (...args: unknown[]) => log.error(`credentials: ${text(args)}`),
  };
  return defaultProvider({ logger, timeout: 2000, maxRetries: 1 });
}

export class CredentialSource {
  readonly #provider: CredentialProvider;
  readonly #clock: Clock;
  readonly #secrets: Pick<Secrets, 'add'> | undefined;
  #current: AwsCredentials | undefined;
  #pending: Promise<AwsCredentials> | undefined;
  #lastRenewal = -Infinity;
  refreshes = 0;

  constructor(provider: CredentialProvider, clock: Clock, secrets?: Pick<Secrets, 'add'>) {
    this.#provider = provider;
    this.#clock = clock;
    this.#secrets = secrets;
  }

  /** The credentials in use, if any were obtained. */
  get current(): AwsCredentials | undefined {
    return this.#current;
  }

  #expiresSoon(credentials: AwsCredentials): boolean {
    return credentials.expiration !== undefined && credentials.expiration.getTime() - this.#clock.now() <= REFRESH_BEFORE_MS;
  }

  /** Valid credentials: the cached ones, or new ones when they expire within 5 minutes. */
  async get(): Promise<AwsCredentials> {
    const current = this.#current;
    if (current && !this.#expiresSoon(current)) return current;
    if (current && current.expiration!.getTime() > this.#clock.now() && this.#clock.monotonic() - this.#lastRenewal < MIN_RENEW_INTERVAL_MS) return current;
    return this.refresh();
  }

  /** New credentials now (after ExpiredTokenException / UnrecognizedClientException); concurrent calls share one fetch. */
  refresh(): Promise<AwsCredentials> {
    this.#pending ??= (async () => {
      try {
        const credentials = await this.#provider(this.#current ? { forceRefresh: true } : undefined);
        if (!credentials?.accessKeyId || !credentials.secretAccessKey) throw new Error('the credential provider returned no access key');
        // Before anything can use them (and so quote them in an error).
        this.#secrets?.add(credentials.secretAccessKey);
        this.#secrets?.add(credentials.sessionToken);
        this.#current = credentials;
        this.#lastRenewal = this.#clock.monotonic();
        this.refreshes++;
        return credentials;
      } catch (err) {
        throw new Error(`no AWS credentials: ${reasonOf(err).split('\n')[0]}`, { cause: err });
      } finally {
        this.#pending = undefined;
      }
    })();
    return this.#pending;
  }
}
