/**
 * Where the cloudwatch klib ships to, and how it gets there: a background setup (core's
 * `BackgroundSetup`, 1 s doubling to 3600 s) finds the region, the host name and the credentials
 * and creates the log group (with its retention) and the stream; the Batchers read it as their
 * `ReadySignal`. Every call to the service goes through `call`, which renews the credentials once
 * when they are refused and creates the group and stream again once when they have been deleted.
 */
import { BackgroundSetup, DELIVERY_BACKOFF, tokens, type CryptoPrimitives, type HttpClient, type KlibContext, type ReadySignal, type Tuple } from '@uk/core';
import { AwsCallError, AwsJsonClient } from './aws-json.js';
import { CredentialSource, defaultChain, type CredentialProvider } from './credentials.js';
import { resolveHostname, resolveRegion } from './identity.js';
import { ImdsClient, imdsDisabled } from './imds-client.js';
import { bodyPrefix } from './log-events.js';
import { sanitizeLogGroup, sanitizeLogStream, type CloudwatchOptions } from './options.js';

export interface DestinationDeps {
  readonly http: HttpClient;
  readonly crypto: CryptoPrimitives;
  /** The Ops config's CloudConfig tuple (Zone is the last region fallback), when the kernel gives it. */
  readonly cloudConfig: Tuple | undefined;
  /** Credential provider chain (default: AWS's, imported when setup first runs). */
  readonly credentialProvider?: () => Promise<CredentialProvider>;
}

export interface DestinationNeeds {
  /** CloudWatch Logs: a client, the log group and the stream. */
  readonly logs: boolean;
  /** CloudWatch (metrics): a client. */
  readonly metrics: boolean;
  /** Records wait to be delivered (setup is then retried at least every 30 s). */
  readonly recordsWaiting: () => boolean;
}

export type Service = 'logs' | 'metrics';

export function defaultEndpoint(service: 'logs' | 'monitoring', region: string): string {
  return `https://${service}.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

export class CloudWatchDestination implements ReadySignal {
  readonly #ctx: KlibContext<CloudwatchOptions>;
  readonly #deps: DestinationDeps;
  readonly #needs: DestinationNeeds;
  readonly #setup: BackgroundSetup<void>;
  readonly #counters;
  #imds: ImdsClient | undefined;
  #credentials: CredentialSource | undefined;
  #logs: AwsJsonClient | undefined;
  #metrics: AwsJsonClient | undefined;
  #hostname = '';
  #region: string | undefined;
  readonly #group: string | undefined;
  #stream: string | undefined;
  #prefix: Buffer = Buffer.alloc(0);

  constructor(ctx: KlibContext<CloudwatchOptions>, deps: DestinationDeps, needs: DestinationNeeds) {
    this.#ctx = ctx;
    this.#deps = deps;
    this.#needs = needs;
    this.#counters = { refreshes: ctx.counter('credential_refreshes'), recreated: ctx.counter('destination_recreated') };
    const logging = ctx.options.logging;
    if (needs.logs && logging) {
      this.#group = logging.logGroup ?? sanitizeLogGroup(ctx.env.IMAGE_NAME || ctx.program.name || 'uk');
      this.#stream = logging.logStream;
    }
    this.#setup = new BackgroundSetup({
      attempt: () => this.#attempt(),
      timers: ctx.timers,
      log: ctx.log,
      signal: ctx.signal,
      // Nanos' setup backoff grows to an hour; while records wait to be delivered, uk tries at
      // least as often as the delivery backoff allows, so they go soon after the service is back.
      maxDelayWhile: { ms: DELIVERY_BACKOFF.max, active: needs.recordsWaiting },
      // Said at once, and once per distinct error: the operator learns at start why nothing goes.
      reportFirstFailure: true,
      reportChangesOnly: true,
      failureNote: ' (buffering meanwhile)',
      describe: () => `${this.#logs?.endpoint ?? this.#metrics?.endpoint}${this.#group ? ` log group ${this.#group}, stream ${this.#stream}` : ''}`,
    });
  }

  /** Starts the setup in the background; returns at once. */
  start(): void {
    this.#setup.start();
  }

  /** No more setup attempts (shutdown is over). */
  stop(): void {
    this.#setup.stop();
  }

  isReady(): boolean {
    return this.#setup.isReady();
  }

  whenReady(): Promise<void> {
    return this.#setup.whenReady();
  }

  /** Set up, or the first attempt under way for less than STALL_MS: backpressure may hold the program meanwhile. */
  isHealthy(): boolean {
    return this.#setup.isHealthy();
  }

  get hostname(): string {
    return this.#hostname;
  }

  /** `{"logGroupName":…,"logStreamName":…,"logEvents":[`, once set up. */
  get bodyPrefix(): Buffer {
    return this.#prefix;
  }

  get where(): { region: string | undefined; hostname: string; group: string | undefined; stream: string | undefined } {
    return { region: this.#region, hostname: this.#hostname, group: this.#group, stream: this.#stream };
  }

  /** One setup attempt: what an earlier attempt found (host name, credentials, clients) is kept. */
  async #attempt(): Promise<void> {
    const ctx = this.#ctx;
    const { http, crypto } = this.#deps;
    const o = ctx.options;
    if (!imdsDisabled(ctx.env)) this.#imds ??= new ImdsClient({ http, clock: ctx.timers.clock, env: ctx.env });
    const { region, from } = await resolveRegion({ imds: this.#imds, env: ctx.env, cloudConfig: this.#deps.cloudConfig });
    if (!this.#hostname) this.#hostname = await resolveHostname({ imds: this.#imds, env: ctx.env });
    if (this.#group !== undefined && this.#stream === undefined) this.#stream = sanitizeLogStream(this.#hostname);
    if (!this.#credentials) {
      const provider = await (this.#deps.credentialProvider ?? (() => defaultChain(ctx.log)))();
      this.#credentials = new CredentialSource(provider, ctx.timers.clock, ctx.services.tryGet(tokens.SecretsService));
    }
    await this.#credentials.get();
    const common = { http, crypto, clock: ctx.timers.clock, credentials: this.#credentials, region, timeoutMs: o.requestTimeoutMs };
    if (this.#needs.logs && !this.#logs) {
      this.#logs = new AwsJsonClient({
        ...common,
        endpoint: o.logsEndpoint ?? defaultEndpoint('logs', region),
        signingName: 'logs',
        targetPrefix: 'Logs_20140328',
        jsonVersion: '1.1',
      });
    }
    if (this.#needs.metrics && !this.#metrics) {
      this.#metrics = new AwsJsonClient({
        ...common,
        endpoint: o.metricsEndpoint ?? defaultEndpoint('monitoring', region),
        signingName: 'monitoring',
        targetPrefix: 'GraniteServiceVersion20100801',
        jsonVersion: '1.0',
      });
    }
    if (this.#logs) {
      this.#prefix = bodyPrefix(this.#group as string, this.#stream as string);
      await this.#ensureLogDestination();
    }
    this.#region = region;
    ctx.log.debug(`region ${region} (from ${from}), host ${this.#hostname}`);
  }

  /** Creates the log group (with its retention) and the stream; existing ones are fine. */
  async #ensureLogDestination(): Promise<void> {
    const logs = this.#logs as AwsJsonClient;
    const group = JSON.stringify(this.#group);
    const tolerate = async (operation: string, body: string, what: string): Promise<void> => {
      try {
        await logs.call(operation, body);
      } catch (err) {
        if (err instanceof AwsCallError && err.type === 'ResourceAlreadyExistsException') return;
        // Without logs:CreateLogGroup or logs:PutRetentionPolicy the group may still exist: go on.
        if (err instanceof AwsCallError && err.type === 'AccessDeniedException' && operation !== 'CreateLogStream') {
          this.#ctx.log.warn(
            `${what}: access denied; continuing (grant ${operation === 'CreateLogGroup' ? 'logs:CreateLogGroup' : 'logs:PutRetentionPolicy'} or create it beforehand)`,
          );
          return;
        }
        throw err;
      }
    };
    await tolerate('CreateLogGroup', `{"logGroupName":${group}}`, `creating log group ${this.#group}`);
    const retention = this.#ctx.options.logging?.retentionDays;
    if (retention !== undefined)
      await tolerate('PutRetentionPolicy', `{"logGroupName":${group},"retentionInDays":${retention}}`, `setting the retention of ${this.#group}`);
    await tolerate('CreateLogStream', `{"logGroupName":${group},"logStreamName":${JSON.stringify(this.#stream)}}`, `creating log stream ${this.#stream}`);
  }

  /**
   * Runs a call (once set up: the caller waits for `whenReady`); on a credentials error renews the credentials and sends again once,
   * on a missing log group or stream creates them again and sends again once.
   */
  async call(service: Service, operation: string, body: string | Buffer, payloadHash?: string): Promise<Record<string, unknown>> {
    const client = (service === 'logs' ? this.#logs : this.#metrics) as AwsJsonClient;
    let renewed = false;
    let recreated = false;
    for (;;) {
      try {
        return await client.call(operation, body, payloadHash);
      } catch (err) {
        if (!(err instanceof AwsCallError)) throw err;
        if (err.kind === 'credentials' && !renewed) {
          renewed = true;
          this.#counters.refreshes.add();
          this.#ctx.log.info(`${err.type}: renewing credentials and sending again`);
          await (this.#credentials as CredentialSource).refresh();
          continue;
        }
        if (err.kind === 'not-found' && !recreated && service === 'logs') {
          recreated = true;
          this.#counters.recreated.add();
          this.#ctx.log.warn(`log group ${this.#group} or stream ${this.#stream} is missing; creating it again`);
          await this.#ensureLogDestination();
          continue;
        }
        throw err;
      }
    }
  }
}
