/**
 * The cloudwatch klib at work: the `cloudwatch` console driver and the memory sampler feed two
 * Batchers (the core's one batching and retry mechanism); a background setup finds the region,
 * the host name and the credentials and creates the log group and stream, retrying with a
 * backoff from 1 s doubling to 3600 s while the Batchers keep buffering (bounded). Nothing here
 * waits in init: the program starts at once, and what it writes before setup finishes is
 * delivered afterwards.
 */
import { Backoff, Batcher, DELIVERY_BACKOFF, reasonOf, tokens, type ConsoleDriver, type CryptoPrimitives, type HttpClient, type KlibContext, type SendOutcome, type TimerHandle, type Tuple } from '@uk/core';
import { AwsCallError, AwsJsonClient } from './aws-json.js';
import { CredentialSource, defaultChain, type CredentialProvider } from './credentials.js';
import { resolveHostname, resolveRegion } from './identity.js';
import { ImdsClient, imdsDisabled } from './imds-client.js';
import { BodyPool } from './block-arena.js';
import { canJoinBlocks, canOverlapBlocks, eventCount, EventBlockEncoder, trimFullBlocks, type EventBlock } from './event-blocks.js';
import { bodyPrefix, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, putLogEventsPayload, rejectedCount, type RejectedLogEventsInfo } from './log-events.js';
import { readMemoryMetrics, type MemoryMetric } from './memory.js';
import { sanitizeLogGroup, sanitizeLogStream, type CloudwatchOptions } from './options.js';

export const METRICS_NAMESPACE = 'CWAgent';
const SETUP_BACKOFF = { initial: 1000, max: 3_600_000, factor: 2, jitter: 0 } as const;
/** While the first setup attempt runs, backpressure may hold the program for at most this long. */
const FIRST_SETUP_HOLD_MS = 5000;
/** Datums per PutMetricData: 1,000 allowed, 7 per sample. */
const SAMPLES_PER_CALL = Math.floor(1000 / 7);

export interface MetricSample {
  readonly time: number;
  readonly metrics: readonly MemoryMetric[];
}

export interface ShipperDeps {
  readonly http: HttpClient;
  readonly crypto: CryptoPrimitives;
  /** The Ops config's CloudConfig tuple (Zone is the last region fallback), when the kernel gives it. */
  readonly cloudConfig: Tuple | undefined;
  /** Credential provider chain (default: AWS's, imported when setup first runs). */
  readonly credentialProvider?: () => Promise<CredentialProvider>;
  readonly readMemory?: () => Promise<MemoryMetric[]>;
}

export function defaultEndpoint(service: 'logs' | 'monitoring', region: string): string {
  return `https://${service}.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

export class CloudWatchShipper {
  readonly #ctx: KlibContext<CloudwatchOptions>;
  readonly #deps: ShipperDeps;
  readonly #o: CloudwatchOptions;
  readonly #backoff = new Backoff(SETUP_BACKOFF);
  readonly #counters;
  #ready = false;
  #readyPromise: Promise<void>;
  #markReady!: () => void;
  #setupTimer: TimerHandle | undefined;
  #setupRunning = false;
  /** The first setup attempt has ended (succeeded or failed). */
  #firstAttemptDone = false;
  #startedAt = 0;
  #lastSetupError = '';
  #closing = false;
  #imds: ImdsClient | undefined;
  #credentials: CredentialSource | undefined;
  #logs: AwsJsonClient | undefined;
  #metrics: AwsJsonClient | undefined;
  #hostname = '';
  #region: string | undefined;
  #group: string | undefined;
  #stream: string | undefined;
  #prefix: Buffer = Buffer.alloc(0);
  #metricsTimer: TimerHandle | undefined;
  #lastSampleError = '';
  #lastSampleAt = -Infinity;
  #shutdownDone: Promise<void>;
  #markShutdownDone!: () => void;
  readonly logBatcher: Batcher<EventBlock> | undefined;
  /** Encodes the events into blocks as they arrive (see event-blocks.ts). */
  readonly #encoder: EventBlockEncoder;
  readonly #bodies = new BodyPool();
  readonly metricsBatcher: Batcher<MetricSample> | undefined;

  constructor(ctx: KlibContext<CloudwatchOptions>, deps: ShipperDeps) {
    this.#ctx = ctx;
    this.#deps = deps;
    this.#o = ctx.options;
    this.#readyPromise = new Promise<void>((resolve) => (this.#markReady = resolve));
    this.#shutdownDone = new Promise<void>((resolve) => (this.#markShutdownDone = resolve));
    this.#counters = {
      empty: ctx.counter('empty_lines_skipped'),
      split: ctx.counter('events_split'),
      refreshes: ctx.counter('credential_refreshes'),
      recreated: ctx.counter('destination_recreated'),
    };
    const logging = this.#o.logging;
    this.#encoder = new EventBlockEncoder(
      (block) => {
        if (!this.logBatcher?.push(block)) this.#encoder.release(block);
      },
      () => this.#counters.split.add(),
    );
    if (logging) {
      this.#group = logging.logGroup ?? sanitizeLogGroup(ctx.env.IMAGE_NAME || ctx.program.name || 'uk');
      this.#stream = logging.logStream;
      this.logBatcher = new Batcher<EventBlock>({
        name: 'cloudwatch',
        noun: 'events',
        heap: ctx.heaps.create('cloudwatch-logs', logging.bufferBytes),
        timers: ctx.timers,
        log: ctx.log,
        // Events wait encoded, in blocks (event-blocks.ts). The buffer and a batch both count an
        // event as its UTF-8 bytes plus the service's 26.
        sizeOf: (block) => block.bytes,
        countOf: (block) => block.count,
        maxBatchItems: MAX_BATCH_EVENTS,
        maxBatchBytes: MAX_BATCH_BYTES,
        flushIntervalMs: logging.flushIntervalMs,
        canJoin: canJoinBlocks,
        // Two calls at once (the service allows parallel puts to a stream), so the service works
        // on one batch while the next is built and sent. It orders a stream's events by
        // timestamp, so a batch may overlap the one before only if its first event is strictly
        // later than that one's last: then the order does not depend on which call lands first.
        maxInFlight: 2,
        canOverlap: canOverlapBlocks,
        trimFull: trimFullBlocks,
        send: (batch) => this.#sendLogs(batch),
        ready: () => this.#ready,
        // Pause the program's output while CloudWatch works but is behind, and while the first
        // setup attempt runs (at most 5 s: a program that prints a burst at once would otherwise
        // overflow the buffer before the first call); never once setup failed or while sends fail
        // (then the buffer fills, drops and counts).
        ...(logging.backpressure ? { backpressure: { ready: () => this.#ready || this.#holdingForFirstSetup() } } : {}),
        counters: {
          sent: ctx.counter('events_sent'),
          dropped: ctx.counter('events_dropped'),
          retries: ctx.counter('log_retries'),
          rejected: ctx.counter('events_rejected'),
          failed: ctx.counter('events_failed'),
          resent: ctx.counter('events_resent'),
          unconfirmed: ctx.counter('events_unconfirmed'),
        },
      });
    }
    if (this.#o.memMetricsIntervalMs !== undefined) {
      this.metricsBatcher = new Batcher<MetricSample>({
        name: 'cloudwatch',
        noun: 'memory metric samples',
        heap: ctx.heaps.create('cloudwatch-metrics', 1024 * 1024),
        timers: ctx.timers,
        log: ctx.log,
        sizeOf: () => 1024,
        maxBatchItems: SAMPLES_PER_CALL,
        maxBatchBytes: SAMPLES_PER_CALL * 1024,
        flushIntervalMs: 10,
        send: (batch) => this.#sendMetrics(batch),
        ready: () => this.#ready,
        counters: {
          sent: ctx.counter('metric_samples_sent'),
          dropped: ctx.counter('metric_samples_dropped'),
          retries: ctx.counter('metric_retries'),
          failed: ctx.counter('metric_samples_failed'),
          resent: ctx.counter('metric_samples_resent'),
          unconfirmed: ctx.counter('metric_samples_unconfirmed'),
        },
      });
    }
  }

  /** Resolves once region, host name, credentials and the log destination are ready. */
  get ready(): Promise<void> {
    return this.#readyPromise;
  }

  get isReady(): boolean {
    return this.#ready;
  }

  get destination(): { region: string | undefined; hostname: string; group: string | undefined; stream: string | undefined } {
    return { region: this.#region, hostname: this.#hostname, group: this.#group, stream: this.#stream };
  }

  #holdingForFirstSetup(): boolean {
    return !this.#firstAttemptDone && this.#ctx.timers.clock.monotonic() - this.#startedAt < FIRST_SETUP_HOLD_MS;
  }

  /** Attaches the console driver, starts the sampler and the background setup. Returns at once. */
  start(): void {
    const ctx = this.#ctx;
    this.#startedAt = ctx.timers.clock.monotonic();
    if (this.logBatcher) ctx.console.attach(this.#driver(this.logBatcher));
    if (this.metricsBatcher && this.#o.memMetricsIntervalMs) {
      this.#metricsTimer = ctx.timers.periodic(this.#o.memMetricsIntervalMs, () => void this.#sample());
    }
    ctx.onShutdown(() => this.#shutdown());
    // A shutdown while setup waits for its next attempt tries once more right away.
    ctx.signal.addEventListener('abort', () => {
      if (!this.#ready) this.#attemptSoon(0);
    });
    if (this.logBatcher || this.metricsBatcher) this.#attemptSoon(0);
  }

  #driver(batcher: Batcher<EventBlock>): ConsoleDriver {
    const pausing: Pick<ConsoleDriver, 'shouldPause' | 'drain'> = this.#o.logging?.backpressure ? { shouldPause: () => batcher.shouldPause(), drain: () => batcher.drain() } : {};
    const encoder = this.#encoder;
    const empty = this.#counters.empty;
    return {
      ...pausing,
      name: 'cloudwatch',
      // The program's lines, as bytes: one block per read (see event-blocks.ts).
      writeLines: (block) => {
        const { buf, bounds, time } = block;
        for (let i = 0; i < block.count; i++) {
          const start = bounds[2 * i] as number;
          const end = bounds[2 * i + 1] as number;
          // CloudWatch refuses empty messages.
          if (start === end) empty.add();
          else encoder.addBytes(buf, start, end, time);
        }
        encoder.finish();
      },
      // uk's own messages.
      write: (record) => {
        if (record.text === '') {
          empty.add();
          return;
        }
        // uk's own messages during shutdown (this klib's included) are not program output to keep.
        if (this.#closing && record.source === 'kernel') return;
        encoder.addText(record.text, record.time);
        encoder.finish();
      },
      // At shutdown the klib's own hook sends what it can within the deadline and reports the
      // rest; the kernel's flush of the driver ends with it.
      flush: () => Promise.race([batcher.flush(), this.#shutdownDone]),
    };
  }

  // ---- setup --------------------------------------------------------------------------------

  #attemptSoon(ms: number): void {
    if (this.#ready || this.#setupRunning) return;
    this.#setupTimer?.cancel();
    this.#setupTimer = this.#ctx.timers.oneShot(ms, () => {
      this.#setupTimer = undefined;
      void this.#runSetup();
    });
  }

  async #runSetup(): Promise<void> {
    if (this.#ready || this.#setupRunning) return;
    this.#setupRunning = true;
    try {
      await this.#setup();
      this.#ready = true;
      if (this.#backoff.attempts > 0) this.#ctx.log.info(`setup succeeded after ${this.#backoff.attempts} failed attempt(s)`);
      this.#ctx.log.debug(`ready: ${this.#logs?.endpoint ?? this.#metrics?.endpoint}${this.#group ? ` log group ${this.#group}, stream ${this.#stream}` : ''}`);
      this.#firstAttemptDone = true;
      this.#markReady();
    } catch (err) {
      this.#firstAttemptDone = true;
      // Nanos' setup backoff grows to an hour; while records wait to be delivered, uk tries at
      // least as often as the delivery backoff allows, so they go soon after the service is back.
      const waiting = (this.logBatcher?.pending ?? 0) + (this.metricsBatcher?.pending ?? 0) > 0;
      const delay = waiting ? Math.min(this.#backoff.next(), DELIVERY_BACKOFF.max) : this.#backoff.next();
      const reason = reasonOf(err);
      if (reason !== this.#lastSetupError) this.#ctx.log.warn(`setup failed, retrying in ${delay / 1000} s (buffering meanwhile): ${reason}`);
      this.#lastSetupError = reason;
      this.#setupRunning = false;
      this.#attemptSoon(delay);
      return;
    }
    this.#setupRunning = false;
  }

  async #setup(): Promise<void> {
    const ctx = this.#ctx;
    const { http, crypto } = this.#deps;
    if (!imdsDisabled(ctx.env)) this.#imds ??= new ImdsClient({ http, clock: ctx.timers.clock, env: ctx.env });
    const { region, from } = await resolveRegion({ imds: this.#imds, env: ctx.env, cloudConfig: this.#deps.cloudConfig });
    if (!this.#hostname) this.#hostname = await resolveHostname({ imds: this.#imds, env: ctx.env });
    if (this.logBatcher && this.#stream === undefined) this.#stream = sanitizeLogStream(this.#hostname);
    if (!this.#credentials) {
      const provider = await (this.#deps.credentialProvider ?? (() => defaultChain(ctx.log)))();
      this.#credentials = new CredentialSource(provider, ctx.timers.clock, ctx.services.tryGet(tokens.SecretsService));
    }
    await this.#credentials.get();
    const common = { http, crypto, clock: ctx.timers.clock, credentials: this.#credentials, region, timeoutMs: this.#o.requestTimeoutMs };
    if (this.logBatcher && !this.#logs) {
      this.#logs = new AwsJsonClient({ ...common, endpoint: this.#o.logsEndpoint ?? defaultEndpoint('logs', region), signingName: 'logs', targetPrefix: 'Logs_20140328', jsonVersion: '1.1' });
    }
    if (this.metricsBatcher && !this.#metrics) {
      this.#metrics = new AwsJsonClient({ ...common, endpoint: this.#o.metricsEndpoint ?? defaultEndpoint('monitoring', region), signingName: 'monitoring', targetPrefix: 'GraniteServiceVersion20100801', jsonVersion: '1.0' });
    }
    if (this.#logs) {
      this.#prefix = bodyPrefix(this.#group as string, this.#stream as string);
      await this.#ensureDestination();
    }
    this.#region = region;
    ctx.log.debug(`region ${region} (from ${from}), host ${this.#hostname}`);
  }

  /** Creates the log group (with its retention) and the stream; existing ones are fine. */
  async #ensureDestination(): Promise<void> {
    const logs = this.#logs as AwsJsonClient;
    const group = JSON.stringify(this.#group);
    const tolerate = async (operation: string, body: string, what: string): Promise<void> => {
      try {
        await logs.call(operation, body);
      } catch (err) {
        if (err instanceof AwsCallError && err.type === 'ResourceAlreadyExistsException') return;
        // Without logs:CreateLogGroup or logs:PutRetentionPolicy the group may still exist: go on.
        if (err instanceof AwsCallError && err.type === 'AccessDeniedException' && operation !== 'CreateLogStream') {
          this.#ctx.log.warn(`${what}: access denied; continuing (grant ${operation === 'CreateLogGroup' ? 'logs:CreateLogGroup' : 'logs:PutRetentionPolicy'} or create it beforehand)`);
          return;
        }
        throw err;
      }
    };
    await tolerate('CreateLogGroup', `{"logGroupName":${group}}`, `creating log group ${this.#group}`);
    const retention = this.#o.logging?.retentionDays;
    if (retention !== undefined) await tolerate('PutRetentionPolicy', `{"logGroupName":${group},"retentionInDays":${retention}}`, `setting the retention of ${this.#group}`);
    await tolerate('CreateLogStream', `{"logGroupName":${group},"logStreamName":${JSON.stringify(this.#stream)}}`, `creating log stream ${this.#stream}`);
  }

  /** Runs a call; on a credentials error renews the credentials and resends once, on a missing group or stream recreates them and resends once. */
  async #call(client: AwsJsonClient, operation: string, body: string | Buffer, payloadHash?: string): Promise<Record<string, unknown>> {
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
        if (err.kind === 'not-found' && !recreated && client === this.#logs) {
          recreated = true;
          this.#counters.recreated.add();
          this.#ctx.log.warn(`log group ${this.#group} or stream ${this.#stream} is missing; creating it again`);
          await this.#ensureDestination();
          continue;
        }
        throw err;
      }
    }
  }

  // ---- logs ---------------------------------------------------------------------------------

  async #sendLogs(batch: EventBlock[]): Promise<SendOutcome> {
    await this.#readyPromise;
    const payload = putLogEventsPayload(this.#prefix, batch, this.#bodies);
    let out: Record<string, unknown>;
    try {
      out = await this.#call(this.#logs as AwsJsonClient, 'PutLogEvents', payload);
    } catch (err) {
      // Refused for good: the Batcher drops the batch (and counts it), so its memory is free.
      if ((err as { retryable?: unknown })?.retryable === false) this.#releaseBlocks(batch);
      throw err;
    } finally {
      this.#bodies.give(payload);
    }
    this.#releaseBlocks(batch);
    const rejected = rejectedCount(out.rejectedLogEventsInfo as RejectedLogEventsInfo | undefined, eventCount(batch));
    if (rejected.total > 0) {
      const parts = [rejected.tooOld && `${rejected.tooOld} older than 14 days`, rejected.expired && `${rejected.expired} older than the retention`, rejected.tooNew && `${rejected.tooNew} more than 2 hours ahead`].filter(Boolean);
      this.#ctx.log.warn(`CloudWatch Logs refused ${rejected.total} events (${parts.join(', ')}); they are counted as rejected and not sent again`);
    }
    return { rejected: rejected.total };
  }

  #releaseBlocks(batch: readonly EventBlock[]): void {
    for (const block of batch) this.#encoder.release(block);
  }

  // ---- metrics ------------------------------------------------------------------------------

  async #sample(): Promise<void> {
    // A timer that fired late is followed at once by the next tick: keep one sample per interval.
    const now = this.#ctx.timers.clock.monotonic();
    if (now - this.#lastSampleAt < (this.#o.memMetricsIntervalMs ?? 0) / 2) return;
    this.#lastSampleAt = now;
    try {
      const metrics = await (this.#deps.readMemory ?? readMemoryMetrics)();
      this.metricsBatcher?.push({ time: this.#ctx.timers.clock.now(), metrics });
      this.#lastSampleError = '';
    } catch (err) {
      const reason = reasonOf(err);
      if (reason !== this.#lastSampleError) this.#ctx.log.error(`cannot read memory metrics: ${reason}`);
      this.#lastSampleError = reason;
    }
  }

  async #sendMetrics(batch: MetricSample[]): Promise<void> {
    await this.#readyPromise;
    const dimensions = `[{"Name":"host","Value":${JSON.stringify(this.#hostname)}}]`;
    let body = `{"Namespace":"${METRICS_NAMESPACE}","MetricData":[`;
    let first = true;
    for (const sample of batch) {
      const timestamp = Math.trunc(sample.time) / 1000;
      for (const m of sample.metrics) {
        body += `${first ? '' : ','}{"MetricName":"${m.name}","Dimensions":${dimensions},"Timestamp":${timestamp},"Value":${m.value},"Unit":"${m.unit}","StorageResolution":60}`;
        first = false;
      }
    }
    await this.#call(this.#metrics as AwsJsonClient, 'PutMetricData', `${body}]}`);
  }

  // ---- shutdown -----------------------------------------------------------------------------

  async #shutdown(): Promise<void> {
    this.#metricsTimer?.cancel();
    // Leave a little of the kernel's deadline for the report of what could not be sent.
    const deadline = Math.max(100, this.#ctx.settings.shutdownTimeoutMs - 300);
    this.#closing = true;
    await Promise.all([this.logBatcher?.close(deadline), this.metricsBatcher?.close(deadline)]);
    this.#setupTimer?.cancel();
    this.#markShutdownDone();
  }
}
