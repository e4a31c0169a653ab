/**
 * A loopback emulator of CloudWatch Logs (AWS JSON 1.1, `Logs_20140328.*`) and CloudWatch
 * metrics' PutMetricData (AWS JSON 1.0, `GraniteServiceVersion20100801.PutMetricData`) on one
 * address. Every request is checked as the services check it, and refused with their error types:
 *
 * - the SigV4 signature, checked with the independent `aws4` package against the credential
 *   store (unknown key: UnrecognizedClientException, expired: ExpiredTokenException);
 * - the body against the operation's input shape in AWS's published model (botocore's JSON
 *   models, see models/): required members, types, enums, lengths, ranges, patterns. Members the
 *   model does not define are refused too (stricter than AWS, to catch typos) unless
 *   `strictMembers: false`;
 * - PutLogEvents' rules: at most 10,000 events and 1,048,576 bytes counting 26 bytes per event,
 *   chronological order, a span of at most 24 hours, no empty message, group and stream must
 *   exist; events more than 2 hours ahead, older than 14 days or than the retention are refused
 *   one by one in `rejectedLogEventsInfo`, as the service does;
 * - PutMetricData's: at most 1,000 datums and 1 MB, one of Value/Values/StatisticValues, values
 *   within ±2^360, StorageResolution 1 or 60, timestamps from two weeks ago to two hours ahead,
 *   no `AWS/` namespace, distinct dimension names.
 *
 * - DescribeLogGroups and DescribeLogStreams (what winston-cloudwatch and other shippers call
 *   before they write): one of logGroupName/logGroupIdentifier, prefix or pattern filters, order,
 *   `limit` (default 50) and `nextToken` paging, answered with the model's output members.
 *
 * Validating 10,000 events against the model costs the emulator as much as building them costs
 * a shipper; `validateEvery` can sample it for throughput benchmarks (the signature, the JSON and
 * the service limits are still checked on every request).
 *
 * What was stored can be read back (`events()`, `messages()`, `metrics`) in the order GetLogEvents
 * returns it: by timestamp, and in the order stored among equal timestamps (calls to one stream may
 * be in flight at once, so a call can store events earlier than some already there). Every request is
 * recorded (`requests`), and faults can be injected (`faults`, `deleteLogStream`, credential
 * expiry through the store, `down()`).
 */
import { isAscii } from 'node:buffer';
import { createHash, randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '@uk/core';
import { CredentialStore } from './credentials.js';
import { answerAfterFault, Faults, untilClosed } from './faults.js';
import { bodyText, delay, LoopbackServer, type IncomingRequest, type LoopbackServerOptions, type Reply } from './loopback-server.js';
import { ServiceModel, type ValidationProblem } from './model.js';
import { verifySigV4 } from './sigv4.js';

export const LOGS_LIMITS = Object.freeze({
  maxBatchBytes: 1_048_576,
  eventOverheadBytes: 26,
  maxBatchEvents: 10_000,
  maxSpanMs: 24 * 3600_000,
  maxFutureMs: 2 * 3600_000,
  maxAgeMs: 14 * 24 * 3600_000,
});

export const METRICS_LIMITS = Object.freeze({ maxDatums: 1000, maxBodyBytes: 1_048_576, maxDimensions: 30 });

export const RETENTION_DAYS = Object.freeze([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]);

export interface StoredEvent {
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
}

export interface LogStreamData {
  readonly name: string;
  readonly createdAt: number;
  readonly events: StoredEvent[];
  /** Events accepted, also when `retainEvents` is off. */
  eventCount: number;
  /** Timestamps of the first and last events accepted and when the last ones were (DescribeLogStreams). */
  firstEventTimestamp?: number;
  lastEventTimestamp?: number;
  lastIngestionTime?: number;
  /** Bytes accepted (UTF-8 bytes plus 26 per event). */
  storedBytes?: number;
}

export interface LogGroupData {
  readonly name: string;
  readonly createdAt: number;
  retentionInDays: number | undefined;
  readonly streams: Map<string, LogStreamData>;
}

export interface MetricRecord {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: readonly { readonly Name: string; readonly Value: string }[];
  readonly value: number | undefined;
  readonly unit: string | undefined;
  readonly storageResolution: number | undefined;
  /** Realtime ms of the datum (its Timestamp, else the time it was received). */
  readonly timestamp: number;
  readonly receivedAt: number;
  /** The datum as sent. */
  readonly datum: Readonly<Record<string, unknown>>;
}

export interface RequestRecord {
  readonly service: 'logs' | 'monitoring' | 'unknown';
  readonly operation: string;
  readonly status: number;
  readonly errorType: string | undefined;
  readonly errorMessage: string | undefined;
  readonly accessKeyId: string | undefined;
  readonly bodyBytes: number;
  readonly at: number;
}

export interface CloudWatchEmulatorOptions extends LoopbackServerOptions {
  readonly clock?: Clock;
  /** The credentials signatures are checked against (share the IMDS emulator's). */
  readonly store?: CredentialStore;
  /** The region requests must be signed for. Default `us-west-1`. */
  readonly region?: string;
  /** Keep every event (default true); off for benchmarks, which count through `onLogEvents`. */
  readonly retainEvents?: boolean;
  /** Refuse members the model does not define (default true). */
  readonly strictMembers?: boolean;
  /**
   * Check the body against the model on every request (1, the default), on every n-th request
   * (n > 1), or never (0). Only for throughput benchmarks, to see what the emulator's own checks
   * cost: signatures, JSON and the service limits are checked on every request regardless.
   */
  readonly validateEvery?: number;
  /** The account in ARNs (default 123456789012). */
  readonly accountId?: string;
}

class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

type ServiceName = 'logs' | 'monitoring';

const SERVICES: Record<ServiceName, { model: ServiceModel; contentType: string }> = {
  logs: { model: ServiceModel.load('logs-2014-03-28'), contentType: 'application/x-amz-json-1.1' },
  monitoring: { model: ServiceModel.load('monitoring-2010-08-01'), contentType: 'application/x-amz-json-1.0' },
};

function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * A body as text, and `asciiStrings`: every string in the JSON is ASCII too (an ASCII body without
 * `\u` escapes), so a string's UTF-8 length is its length.
 */
function decodeBody(body: Buffer): { text: string; asciiStrings: boolean } {
  const ascii = isAscii(body);
  return { text: bodyText(body, ascii), asciiStrings: ascii && !body.includes('\\u') };
}

/** A short tag binding a nextToken to the query it pages through. */
function tokenTag(query: string): string {
  return createHash('sha256').update(query).digest('hex').slice(0, 8);
}

export class CloudWatchEmulator extends LoopbackServer {
  readonly clock: Clock;
  readonly store: CredentialStore;
  region: string;
  readonly faults = new Faults();
  readonly groups = new Map<string, LogGroupData>();
  readonly metrics: MetricRecord[] = [];
  readonly requests: RequestRecord[] = [];
  /** Called with the events each successful PutLogEvents stored (after rejected ones are removed). */
  onLogEvents: ((group: string, stream: string, events: readonly { timestamp: number; message: string }[]) => void) | undefined;
  readonly #retain: boolean;
  readonly #strict: boolean;
  readonly #validateEvery: number;
  #validated = 0;
  readonly accountId: string;

  constructor(options: CloudWatchEmulatorOptions = {}) {
    super({ maxBodyBytes: 4 * 1024 * 1024, ...options });
    this.clock = options.clock ?? systemClock;
    this.store = options.store ?? new CredentialStore(this.clock);
    this.region = options.region ?? 'us-west-1';
    this.#retain = options.retainEvents ?? true;
    this.#strict = options.strictMembers ?? true;
    const every = options.validateEvery ?? 1;
    if (!Number.isSafeInteger(every) || every < 0) throw new Error(`validateEvery must be a whole number >= 0, got ${every}`);
    this.#validateEvery = every;
    this.accountId = options.accountId ?? '123456789012';
  }

  // ---- inspection -------------------------------------------------------------------------

  /** The events stored in a stream, by timestamp (in the order accepted among equal timestamps). */
  events(group: string, stream: string): StoredEvent[] {
    return this.groups.get(group)?.streams.get(stream)?.events ?? [];
  }

  messages(group: string, stream: string): string[] {
    return this.events(group, stream).map((e) => e.message);
  }

  /** Requests answered with an error. */
  get errors(): RequestRecord[] {
    return this.requests.filter((r) => r.status >= 400);
  }

  /** Requests of one operation. */
  calls(operation: string): RequestRecord[] {
    return this.requests.filter((r) => r.operation === operation);
  }

  /** Waits (polling, bounded) until `predicate` holds; rejects after `timeoutMs`. */
  async waitFor(predicate: () => boolean, options: { timeoutMs?: number; what?: string } = {}): Promise<void> {
    const deadline = performance.now() + (options.timeoutMs ?? 10_000);
    while (!predicate()) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'the emulator'}`);
      await delay(10);
    }
  }

  // ---- state changes for tests --------------------------------------------------------------

  createLogGroup(name: string, retentionInDays?: number): LogGroupData {
    const group: LogGroupData = { name, createdAt: this.clock.now(), retentionInDays, streams: new Map() };
    this.groups.set(name, group);
    return group;
  }

  createLogStream(group: string, stream: string): LogStreamData {
    const g = this.groups.get(group) ?? this.createLogGroup(group);
    const s: LogStreamData = { name: stream, createdAt: this.clock.now(), events: [], eventCount: 0 };
    g.streams.set(stream, s);
    return s;
  }

  /** Deletes a stream (its events with it), as an operator or a retention job would. */
  deleteLogStream(group: string, stream: string): boolean {
    return this.groups.get(group)?.streams.delete(stream) ?? false;
  }

  deleteLogGroup(group: string): boolean {
    return this.groups.delete(group);
  }

  // ---- protocol ---------------------------------------------------------------------------

  protected async handle(request: IncomingRequest): Promise<Reply | 'reset'> {
    const target = typeof request.headers['x-amz-target'] === 'string' ? request.headers['x-amz-target'] : '';
    const dot = target.lastIndexOf('.');
    const prefix = target.slice(0, dot);
    const operation = target.slice(dot + 1);
    const service: ServiceName | undefined =
      prefix === SERVICES.logs.model.targetPrefix ? 'logs' : prefix === SERVICES.monitoring.model.targetPrefix ? 'monitoring' : undefined;
    let accessKeyId: string | undefined;
    const record = (status: number, error?: ServiceError): void => {
      this.requests.push({
        service: service ?? 'unknown',
        operation,
        status,
        errorType: error?.type,
        errorMessage: error?.message,
        accessKeyId,
        bodyBytes: request.body.length,
        at: this.clock.now(),
      });
    };
    const fault = this.faults.take(operation, request.body);
    // `slow` and `lose-answer` act once the request has been carried out (or refused).
    const answer = async (status: number, error: ServiceError | undefined, reply: Reply): Promise<Reply | 'reset'> => {
      const out = await answerAfterFault(fault, request, reply);
      if (out === 'reset')
        record(
          0,
          new ServiceError(
            0,
            'AnswerLost',
            fault?.kind === 'slow'
              ? `carried out (${status}); the client gave up before the late answer`
              : `carried out (${status}); the connection was reset instead of answering`,
          ),
        );
      else record(status, error);
      return out;
    };
    try {
      if (fault?.kind === 'reset') {
        record(0, new ServiceError(0, 'ConnectionReset', 'connection reset by fault injection'));
        return 'reset';
      }
      if (fault?.kind === 'hang') {
        // Accepted, never answered: the client's timeout (or the server closing) ends it.
        await untilClosed(request.socket);
        record(0, new ServiceError(0, 'Hung', 'never answered (fault injection); the client gave up'));
        return 'reset';
      }
      if (fault?.kind === 'delay') {
        await delay(fault.ms);
        // A client that gave up does not get its request processed.
        if (request.socket.destroyed) {
          record(0, new ServiceError(0, 'ClientGone', 'the client closed the connection during the delay'));
          return 'reset';
        }
      }
      if (request.method !== 'POST' || request.url !== '/')
        throw new ServiceError(404, 'UnknownOperationException', `${request.method} ${request.url}: expected POST /`);
      if (!service) throw new ServiceError(400, 'UnknownOperationException', `unknown X-Amz-Target ${JSON.stringify(target)}`);
      const { model, contentType } = SERVICES[service];
      const givenType = String(request.headers['content-type'] ?? '')
        .split(';')[0]
        ?.trim();
      if (givenType !== contentType)
        throw new ServiceError(400, 'SerializationException', `Content-Type must be ${contentType}, got ${JSON.stringify(givenType)}`);
      if (!model.operation(operation)) throw new ServiceError(400, 'UnknownOperationException', `operation ${operation} is not emulated`);
      if (fault?.kind === 'throttle') throw new ServiceError(400, 'ThrottlingException', 'Rate exceeded');
      if (fault?.kind === 'error') throw new ServiceError(fault.status, fault.type, fault.message ?? `injected ${fault.type}`);
      if (fault?.kind === 'expired-token') throw new ServiceError(400, 'ExpiredTokenException', 'The security token included in the request is expired');

      const auth = verifySigV4(
        { method: request.method, path: request.url, headers: request.headers, body: request.body },
        { service: model.signingName, region: this.region },
        this.store,
      );
      if (!auth.ok) throw new ServiceError(auth.status, auth.type, auth.message);
      accessKeyId = auth.credentials.accessKeyId;

      let input: unknown;
      const { text, asciiStrings } = decodeBody(request.body);
      try {
        input = request.body.length === 0 ? {} : JSON.parse(text);
      } catch (err) {
        throw new ServiceError(400, 'SerializationException', `body is not valid JSON: ${(err as Error).message}`);
      }
      if (this.#shouldValidate()) {
        const problems = model.validateInput(operation, input, { strictMembers: this.#strict });
        if (problems.length > 0) throw this.#validationError(service, problems);
      } else if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new ServiceError(400, 'SerializationException', 'the body must be a JSON object');
      }
      const output =
        service === 'logs'
          ? this.#logs(operation, input as Record<string, unknown>, asciiStrings)
          : this.#putMetricData(input as Record<string, unknown>, request.body.length);
      return await answer(200, undefined, {
        status: 200,
        headers: { 'content-type': contentType, 'x-amzn-requestid': randomUUID() },
        body: output === undefined ? '' : JSON.stringify(output),
      });
    } catch (err) {
      if (!(err instanceof ServiceError)) throw err;
      return answer(err.status, err, this.#errorReply(service, err));
    }
  }

  #shouldValidate(): boolean {
    const every = this.#validateEvery;
    if (every === 1) return true;
    if (every === 0) return false;
    return this.#validated++ % every === 0;
  }

  #validationError(service: ServiceName, problems: ValidationProblem[]): ServiceError {
    const first = problems[0] as ValidationProblem;
    if (first.kind === 'type' || first.kind === 'unknown-member') return new ServiceError(400, 'SerializationException', first.message);
    if (service === 'monitoring') {
      if (first.kind === 'missing') return new ServiceError(400, 'MissingRequiredParameterException', `The parameter ${first.path} is required.`);
      return new ServiceError(400, 'InvalidParameterValueException', first.message);
    }
    const count = problems.length;
    return new ServiceError(
      400,
      'InvalidParameterException',
      `${count} validation error${count > 1 ? 's' : ''} detected: ${problems.map((p) => p.message).join('; ')}`,
    );
  }

  #errorReply(service: ServiceName | undefined, err: ServiceError): Reply {
    const headers: Record<string, string> = {
      'content-type': service ? SERVICES[service].contentType : 'application/json',
      'x-amzn-requestid': randomUUID(),
      'x-amzn-errortype': err.type,
    };
    let type = err.type;
    if (service === 'monitoring') {
      // CloudWatch is "awsQueryCompatible": JSON errors carry the query code in a header.
      const info = SERVICES.monitoring.model.errorInfo(err.type);
      headers['x-amzn-query-error'] = `${info.code};${err.status >= 500 ? 'Receiver' : 'Sender'}`;
      type = `com.amazonaws.cloudwatch#${err.type}`;
    }
    return { status: err.status, headers, body: JSON.stringify({ __type: type, message: err.message }) };
  }

  // ---- CloudWatch Logs --------------------------------------------------------------------

  #group(name: string): LogGroupData {
    const group = this.groups.get(name);
    if (!group) throw new ServiceError(400, 'ResourceNotFoundException', 'The specified log group does not exist.');
    return group;
  }

  #logs(operation: string, input: Record<string, unknown>, asciiStrings: boolean): unknown {
    const groupName = input.logGroupName as string;
    switch (operation) {
      case 'CreateLogGroup':
        if (this.groups.has(groupName)) throw new ServiceError(400, 'ResourceAlreadyExistsException', 'The specified log group already exists');
        this.createLogGroup(groupName);
        return undefined;
      case 'DeleteLogGroup':
        this.#group(groupName);
        this.groups.delete(groupName);
        return undefined;
      case 'CreateLogStream': {
        const group = this.#group(groupName);
        const streamName = input.logStreamName as string;
        if (group.streams.has(streamName)) throw new ServiceError(400, 'ResourceAlreadyExistsException', 'The specified log stream already exists');
        this.createLogStream(groupName, streamName);
        return undefined;
      }
      case 'DeleteLogStream': {
        const group = this.#group(groupName);
        if (!group.streams.delete(input.logStreamName as string))
          throw new ServiceError(400, 'ResourceNotFoundException', 'The specified log stream does not exist.');
        return undefined;
      }
      case 'PutRetentionPolicy': {
        const days = input.retentionInDays as number;
        if (!RETENTION_DAYS.includes(days)) {
          throw new ServiceError(
            400,
            'InvalidParameterException',
            `1 validation error detected: Value '${days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [${RETENTION_DAYS.join(', ')}]`,
          );
        }
        this.#group(groupName).retentionInDays = days;
        return undefined;
      }
      case 'DeleteRetentionPolicy':
        this.#group(groupName).retentionInDays = undefined;
        return undefined;
      case 'PutLogEvents':
        return this.#putLogEvents(input, asciiStrings);
      case 'DescribeLogGroups':
        return this.#describeLogGroups(input);
      case 'DescribeLogStreams':
        return this.#describeLogStreams(input);
    }
    throw new ServiceError(400, 'UnknownOperationException', `operation ${operation} is not emulated`);
  }

  #putLogEvents(input: Record<string, unknown>, asciiStrings: boolean): unknown {
    const events = input.logEvents as { timestamp: number; message: string }[];
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as { timestamp: number; message: string };
      bytes += (asciiStrings ? event.message.length : utf8Length(event.message)) + LOGS_LIMITS.eventOverheadBytes;
      if (i > 0 && event.timestamp < (events[i - 1] as { timestamp: number }).timestamp) {
        throw new ServiceError(400, 'InvalidParameterException', 'Log events in a single PutLogEvents request must be in chronological order.');
      }
    }
    if (bytes > LOGS_LIMITS.maxBatchBytes)
      throw new ServiceError(400, 'InvalidParameterException', `Upload too large: ${bytes} bytes exceeds limit of ${LOGS_LIMITS.maxBatchBytes}`);
    const group = this.#group(input.logGroupName as string);
    const stream = group.streams.get(input.logStreamName as string);
    if (!stream) throw new ServiceError(400, 'ResourceNotFoundException', 'The specified log stream does not exist.');

    const now = this.clock.now();
    const oldest = now - LOGS_LIMITS.maxAgeMs;
    const retentionStart = group.retentionInDays !== undefined ? now - group.retentionInDays * 86_400_000 : -Infinity;
    let tooOldEnd = 0;
    let expiredEnd = 0;
    let tooNewStart = events.length;
    for (let i = 0; i < events.length; i++) {
      const ts = (events[i] as { timestamp: number }).timestamp;
      if (ts < oldest) tooOldEnd = i + 1;
      if (ts < retentionStart) expiredEnd = i + 1;
      if (ts > now + LOGS_LIMITS.maxFutureMs && tooNewStart === events.length) tooNewStart = i;
    }
    const first = Math.max(tooOldEnd, expiredEnd);
    const accepted = events.slice(first, tooNewStart);
    if (
      accepted.length > 1 &&
      (accepted.at(-1) as { timestamp: number }).timestamp - (accepted[0] as { timestamp: number }).timestamp > LOGS_LIMITS.maxSpanMs
    ) {
      throw new ServiceError(400, 'InvalidParameterException', 'The batch of log events in a single PutLogEvents request cannot span more than 24 hours.');
    }
    if (this.#retain)
      storeInOrder(
        stream.events,
        accepted.map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: now })),
      );
    stream.eventCount += accepted.length;
    if (accepted.length > 0) {
      const firstTs = (accepted[0] as { timestamp: number }).timestamp;
      const lastTs = (accepted.at(-1) as { timestamp: number }).timestamp;
      stream.firstEventTimestamp = Math.min(stream.firstEventTimestamp ?? firstTs, firstTs);
      stream.lastEventTimestamp = Math.max(stream.lastEventTimestamp ?? lastTs, lastTs);
      stream.lastIngestionTime = now;
      let stored = bytes;
      if (accepted.length !== events.length) {
        stored = 0;
        for (const e of accepted) stored += utf8Length(e.message) + LOGS_LIMITS.eventOverheadBytes;
      }
      stream.storedBytes = (stream.storedBytes ?? 0) + stored;
    }
    this.onLogEvents?.(group.name, stream.name, accepted);
    const rejected: Record<string, number> = {};
    if (tooNewStart < events.length) rejected.tooNewLogEventStartIndex = tooNewStart;
    if (tooOldEnd > 0) rejected.tooOldLogEventEndIndex = tooOldEnd;
    if (expiredEnd > 0) rejected.expiredLogEventEndIndex = expiredEnd;
    return { nextSequenceToken: String(Date.now()).padStart(56, '4'), ...(Object.keys(rejected).length > 0 ? { rejectedLogEventsInfo: rejected } : {}) };
  }

  /** `arn:aws:logs:REGION:ACCOUNT:log-group:NAME` */
  #groupArn(name: string): string {
    return `arn:aws:logs:${this.region}:${this.accountId}:log-group:${name}`;
  }

  /** A log group name from a name or an ARN (`…:log-group:NAME` or `…:log-group:NAME:*`). */
  #groupFromIdentifier(identifier: string): string {
    if (!identifier.startsWith('arn:')) return identifier;
    const m = /^arn:aws[a-z-]*:logs:([^:]*):([^:]*):log-group:([^:]+)(?::\*)?$/.exec(identifier);
    if (!m) throw new ServiceError(400, 'InvalidParameterException', `Invalid log group identifier: ${identifier}`);
    if (m[1] !== this.region || m[2] !== this.accountId) throw new ServiceError(400, 'ResourceNotFoundException', 'The specified log group does not exist.');
    return m[3] as string;
  }

  /** One page of `items` from `nextToken` (an offset, as the service's tokens are opaque). */
  #page<T>(items: T[], input: Record<string, unknown>, what: string): { page: T[]; nextToken: string | undefined } {
    const limit = (input.limit as number | undefined) ?? 50;
    let start = 0;
    if (input.nextToken !== undefined) {
      const m = /^([0-9a-f]{8})\/(\d+)$/.exec(
        Buffer.from(typeof input.nextToken === 'string' ? input.nextToken : JSON.stringify(input.nextToken), 'base64url').toString('latin1'),
      );
      if (!m || m[1] !== tokenTag(what)) throw new ServiceError(400, 'InvalidParameterException', 'The specified nextToken is invalid.');
      start = Number(m[2]);
    }
    const page = items.slice(start, start + limit);
    const next = start + limit < items.length ? Buffer.from(`${tokenTag(what)}/${start + limit}`, 'latin1').toString('base64url') : undefined;
    return { page, nextToken: next };
  }

  #describeLogGroups(input: Record<string, unknown>): unknown {
    const prefix = input.logGroupNamePrefix as string | undefined;
    const pattern = input.logGroupNamePattern as string | undefined;
    const identifiers = input.logGroupIdentifiers as string[] | undefined;
    if (prefix !== undefined && pattern !== undefined)
      throw new ServiceError(400, 'InvalidParameterException', 'LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.');
    if (identifiers !== undefined && (prefix !== undefined || pattern !== undefined))
      throw new ServiceError(400, 'InvalidParameterException', 'logGroupIdentifiers cannot be combined with logGroupNamePrefix or logGroupNamePattern.');
    const wanted = identifiers && new Set(identifiers.map((id) => this.#groupFromIdentifier(id)));
    const needle = pattern?.toLowerCase();
    const cls = input.logGroupClass as string | undefined;
    const groups = [...this.groups.values()]
      .filter(
        (g) =>
          (prefix === undefined || g.name.startsWith(prefix)) &&
          (needle === undefined || g.name.toLowerCase().includes(needle)) &&
          (!wanted || wanted.has(g.name)) &&
          (cls === undefined || cls === 'STANDARD'),
      )
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { page, nextToken } = this.#page(groups, input, `groups ${prefix ?? ''} ${pattern ?? ''} ${identifiers?.join(',') ?? ''}`);
    return {
      logGroups: page.map((g) => {
        let storedBytes = 0;
        for (const s of g.streams.values()) storedBytes += s.storedBytes ?? 0;
        return {
          logGroupName: g.name,
          creationTime: g.createdAt,
          ...(g.retentionInDays !== undefined ? { retentionInDays: g.retentionInDays } : {}),
          metricFilterCount: 0,
          arn: `${this.#groupArn(g.name)}:*`,
          storedBytes,
          logGroupClass: 'STANDARD',
          logGroupArn: this.#groupArn(g.name),
        };
      }),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  #describeLogStreams(input: Record<string, unknown>): unknown {
    const name = input.logGroupName as string | undefined;
    const identifier = input.logGroupIdentifier as string | undefined;
    if ((name === undefined) === (identifier === undefined)) {
      throw new ServiceError(400, 'InvalidParameterException', 'Either logGroupName or logGroupIdentifier must be specified, but not both.');
    }
    const group = this.#group(name ?? this.#groupFromIdentifier(identifier as string));
    const prefix = input.logStreamNamePrefix as string | undefined;
    const orderBy = (input.orderBy as string | undefined) ?? 'LogStreamName';
    if (orderBy === 'LastEventTime' && prefix !== undefined)
      throw new ServiceError(400, 'InvalidParameterException', 'Cannot order by LastEventTime with a logStreamNamePrefix.');
    const streams = [...group.streams.values()].filter((s) => prefix === undefined || s.name.startsWith(prefix));
    if (orderBy === 'LastEventTime')
      streams.sort((a, b) => (a.lastEventTimestamp ?? 0) - (b.lastEventTimestamp ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    else streams.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (input.descending === true) streams.reverse();
    const { page, nextToken } = this.#page(streams, input, `streams ${group.name} ${prefix ?? ''} ${orderBy} ${input.descending === true}`);
    return {
      logStreams: page.map((s) => ({
        logStreamName: s.name,
        creationTime: s.createdAt,
        ...(s.firstEventTimestamp !== undefined
          ? { firstEventTimestamp: s.firstEventTimestamp, lastEventTimestamp: s.lastEventTimestamp, lastIngestionTime: s.lastIngestionTime }
          : {}),
        // Sequence tokens are no longer needed (PutLogEvents ignores them) but are still reported.
        uploadSequenceToken: String(s.eventCount + 1).padStart(56, '4'),
        arn: `${this.#groupArn(group.name)}:log-stream:${s.name}`,
        // Reported as zero for streams since 2019, as the model says.
        storedBytes: 0,
      })),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  // ---- CloudWatch metrics -----------------------------------------------------------------

  #putMetricData(input: Record<string, unknown>, bodyBytes: number): unknown {
    const invalid = (message: string) => new ServiceError(400, 'InvalidParameterValueException', message);
    if (bodyBytes > METRICS_LIMITS.maxBodyBytes)
      throw new ServiceError(413, 'RequestEntityTooLargeException', `Request size ${bodyBytes} exceeded ${METRICS_LIMITS.maxBodyBytes} bytes`);
    const namespace = input.Namespace as string;
    if (namespace.startsWith('AWS/')) throw invalid(`The value ${namespace} for parameter Namespace is invalid.`);
    const data = (input.MetricData ?? []) as Record<string, unknown>[];
    const entityData = (input.EntityMetricData ?? []) as { MetricData?: Record<string, unknown>[] }[];
    const all = [...data, ...entityData.flatMap((e) => e.MetricData ?? [])];
    if (all.length === 0) throw new ServiceError(400, 'MissingRequiredParameterException', 'The parameter MetricData is required.');
    if (all.length > METRICS_LIMITS.maxDatums) throw invalid(`The collection MetricData must not have a size greater than ${METRICS_LIMITS.maxDatums}.`);
    const now = this.clock.now();
    const inRange = (v: number) => v === 0 || (Math.abs(v) <= 2 ** 360 && Math.abs(v) >= 2 ** -260);
    all.forEach((datum, index) => {
      const at = `MetricData.member.${index + 1}`;
      const kinds = ['Value', 'Values', 'StatisticValues'].filter((k) => datum[k] !== undefined);
      if (kinds.length !== 1) {
        throw new ServiceError(
          400,
          'InvalidParameterCombinationException',
          `${at}: exactly one of Value, Values and StatisticValues must be given, got ${kinds.length ? kinds.join(', ') : 'none'}`,
        );
      }
      if (typeof datum.Value === 'number' && !inRange(datum.Value)) throw invalid(`The value ${datum.Value} for parameter ${at}.Value is invalid.`);
      const values = datum.Values as number[] | undefined;
      if (values?.some((v) => !inRange(v))) throw invalid(`The parameter ${at}.Values contains a value out of range.`);
      const counts = datum.Counts as number[] | undefined;
      if (counts && (!values || counts.length !== values.length))
        throw new ServiceError(400, 'InvalidParameterCombinationException', `${at}: Counts must have as many members as Values.`);
      const resolution = datum.StorageResolution as number | undefined;
      if (resolution !== undefined && resolution !== 1 && resolution !== 60)
        throw invalid(`The value ${resolution} for parameter ${at}.StorageResolution is invalid.`);
      if (typeof datum.Timestamp === 'number') {
        const ms = datum.Timestamp * 1000;
        if (ms < now - 14 * 86_400_000 || ms > now + 2 * 3600_000)
          throw invalid(`The parameter ${at}.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future.`);
      }
      const names = ((datum.Dimensions ?? []) as { Name: string }[]).map((d) => d.Name);
      if (new Set(names).size !== names.length) throw invalid(`The parameter ${at}.Dimensions has duplicate dimension names.`);
    });
    for (const datum of all) {
      this.metrics.push({
        namespace,
        metricName: datum.MetricName as string,
        dimensions: (datum.Dimensions ?? []) as { Name: string; Value: string }[],
        value: datum.Value as number | undefined,
        unit: datum.Unit as string | undefined,
        storageResolution: datum.StorageResolution as number | undefined,
        timestamp: typeof datum.Timestamp === 'number' ? Math.round(datum.Timestamp * 1000) : now,
        receivedAt: now,
        datum,
      });
    }
    return undefined;
  }
}

/**
 * Adds `events` (in chronological order) to `stored` (by timestamp), after the stored events of
 * equal timestamp, as GetLogEvents would return them.
 */
function storeInOrder(stored: StoredEvent[], events: StoredEvent[]): void {
  const first = events[0];
  if (!first) return;
  // Usually every new event is at least as late as the last stored one.
  if (stored.length === 0 || (stored[stored.length - 1] as StoredEvent).timestamp <= first.timestamp) {
    for (const e of events) stored.push(e);
    return;
  }
  // The first stored event later than the first new one (stored ones go first on equal times).
  let lo = 0;
  let hi = stored.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((stored[mid] as StoredEvent).timestamp <= first.timestamp) lo = mid + 1;
    else hi = mid;
  }
  const tail = stored.splice(lo);
  let i = 0;
  let j = 0;
  while (i < tail.length || j < events.length) {
    const a = tail[i];
    const b = events[j];
    if (a && (!b || a.timestamp <= b.timestamp)) {
      stored.push(a);
      i++;
    } else {
      stored.push(b as StoredEvent);
      j++;
    }
  }
}
