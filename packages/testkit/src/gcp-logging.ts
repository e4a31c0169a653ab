/**
 * A loopback emulator of Cloud Logging's `entries.write` (`POST /v2/entries:write`, the route
 * taken from the LoggingServiceV2 HTTP rule in Google's schema). Every request is checked as the
 * service checks it, and refused in its words:
 *
 * - a valid bearer token with the logging.write scope (401 UNAUTHENTICATED, 403);
 * - at most 10 MB (10,485,760 bytes) per request, JSON, and the body against
 *   `google.logging.v2.WriteLogEntriesRequest` from `@google-cloud/logging-api`'s protos.json
 *   (see gcp-schema.ts: unknown fields, types, enums, oneofs, round trip);
 * - each entry: a log name `projects/PROJECT/logs/LOG_ID` (LOG_ID URL-encoded, at most 511
 *   characters) for this project, a `gce_instance` resource whose labels are this instance's, at
 *   most 256 KiB (262,144 bytes of JSON), a timestamp at most a day ahead;
 * - nesting: protobuf's limits, which apply before any entry is looked at, so a request that
 *   breaks them is refused as a whole (400 INVALID_ARGUMENT, nothing stored, `partialSuccess` or
 *   not): JSON objects nested more than 100 deep in the body (Google's JSON front end, protobuf's
 *   JsonStreamParser: "Message too deep. Max recursion depth reached for key …"), and messages
 *   nested more than 100 deep once decoded (protobuf's default recursion limit; a jsonPayload is
 *   a Struct, three messages per object level and two per array level, so 33 object levels are
 *   the most a jsonPayload can hold). See NESTING below; the wording of the second refusal is
 *   the emulator's, the service documents neither;
 * - `partialSuccess`: valid entries are stored and the others reported one by one in
 *   `WriteLogEntriesPartialErrors` under the status of a failed entry; without it, one bad entry
 *   fails the whole request and nothing is stored.
 *
 * Stored entries are de-duplicated on (log name, timestamp, insertId) as Cloud Logging does, so a
 * client that resends after a lost answer does not show twice. `sorted()` lists them as a query
 * would (by timestamp, then insertId); `lines()` also joins split entries back together.
 * Faults: `faults` (injected errors, 429, resets, delays, 401), `loseAnswers`, `rejectEntries()`
 * (one entry refused, or with `wholeRequest` the whole request because of it).
 */
import { googleError, GRPC_STATUS, GcpApiEmulator, jsonReply, type GcpApiEmulatorOptions } from './gcp-api.js';
import { parseRfc3339, ProtoSchema, type SchemaProblem } from './gcp-schema.js';
import type { IncomingRequest, Reply } from './loopback-server.js';

export const LOGGING_LIMITS = Object.freeze({
  maxRequestBytes: 10_485_760,
  maxEntryBytes: 262_144,
  maxFutureMs: 24 * 3600_000,
  maxLogIdLength: 511,
  /** JSON objects nested in a request body (protobuf's JsonStreamParser, kDefaultMaxRecursionDepth). */
  maxJsonObjectDepth: 100,
  /** Messages nested in a decoded request (CodedInputStream's default recursion limit; protobufjs' too). */
  maxMessageDepth: 100,
});

/**
 * Why a request's nesting is more than protobuf decodes, or undefined. Counted as the service's
 * parsers count: the request body is JSON object level 1 and each entry level 2 (arrays are not
 * counted by the JSON parser); once decoded, the request is message 0, a LogEntry 1, its
 * jsonPayload Struct 2, then each object level adds a map entry, a Value and a Struct, each array
 * level a Value and a ListValue. The walk keeps its own stack, so any depth is safe.
 */
export function nestingProblem(entries: readonly unknown[]): string | undefined {
  let deepest: { index: number; depth: number } | undefined;
  // One stack for every entry, as parallel arrays: a value, the message depth of the Value
  // holding it, its JSON object depth, and the key it is under (for the front end's message).
  const values: unknown[] = [];
  const messageDepths: number[] = [];
  const objectDepths: number[] = [];
  const keys: string[] = [];
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index] as Record<string, unknown> | null;
    const payload = typeof entry === 'object' && entry !== null ? entry.jsonPayload : undefined;
    if (typeof payload !== 'object' || payload === null) continue;
    values.push(payload);
    messageDepths.push(1);
    objectDepths.push(2);
    keys.push('jsonPayload');
    while (values.length > 0) {
      const value = values.pop();
      const messageDepth = messageDepths.pop() as number;
      const objectDepth = objectDepths.pop() as number;
      const key = keys.pop() as string;
      const container = typeof value === 'object' && value !== null;
      // The Value at messageDepth; a Struct or ListValue in it one further. Recorded, not
      // returned: the JSON front end's refusal comes first, wherever it is.
      const depth = container ? messageDepth + 1 : messageDepth;
      if (depth > LOGGING_LIMITS.maxMessageDepth && (!deepest || deepest.index === index)) deepest = { index, depth: Math.max(deepest?.depth ?? 0, depth) };
      if (!container) continue;
      const isArray = Array.isArray(value);
      const objects = isArray ? objectDepth : objectDepth + 1;
      if (objects > LOGGING_LIMITS.maxJsonObjectDepth) return `Message too deep. Max recursion depth reached for key '${key}'`;
      // The Values inside: one further for a list, two for a Struct (its map entry between).
      const childDepth = messageDepth + (isArray ? 2 : 3);
      if (isArray) {
        for (const item of value as unknown[]) {
          values.push(item);
          messageDepths.push(childDepth);
          objectDepths.push(objects);
          keys.push('');
        }
        continue;
      }
      for (const k in value) {
        values.push((value as Record<string, unknown>)[k]);
        messageDepths.push(childDepth);
        objectDepths.push(objects);
        keys.push(k);
      }
    }
  }
  if (!deepest) return undefined;
  return `Request message too deep: entries[${deepest.index}].jsonPayload nests protobuf messages ${deepest.depth} deep (a Struct takes 3 per object level, 2 per array level); at most ${LOGGING_LIMITS.maxMessageDepth} are decoded`;
}

const LOGGING_SCOPE = 'https://www.googleapis.com/auth/logging.write';
const GCE_LABELS = ['project_id', 'instance_id', 'zone'];
const PARTIAL_ERRORS_TYPE = 'type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors';

export interface StoredLogEntry {
  readonly logName: string;
  readonly resource: { readonly type: string; readonly labels: Readonly<Record<string, string>> };
  /** As sent. */
  readonly timestamp: string;
  readonly seconds: number;
  readonly nanos: number;
  readonly insertId: string;
  readonly severity: string;
  readonly textPayload?: string;
  readonly jsonPayload?: Record<string, unknown>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly split?: { readonly uid: string; readonly index: number; readonly totalSplits: number };
  readonly trace?: string;
  readonly spanId?: string;
  readonly traceSampled?: boolean;
  /** Arrival order. */
  readonly sequence: number;
}

export interface EntryRejection {
  /** Which entries (default: all). */
  readonly match?: (entry: Record<string, unknown>) => boolean;
  /** gRPC code (default 3, INVALID_ARGUMENT). */
  readonly code?: number;
  readonly message?: string;
  /** How many entries it applies to (default 1; Infinity for every match). */
  times?: number;
  /**
   * The entry fails the whole request, as an entry the service cannot decode does: 400, nothing
   * stored, `partialSuccess` or not (default false: the entry alone is refused).
   */
  readonly wholeRequest?: boolean;
}

export interface GcpLoggingEmulatorOptions extends GcpApiEmulatorOptions {
  /** Keep stored entries (default true); off, only `count` and `onEntry` see them (benchmarks). */
  readonly retainEntries?: boolean;
  /** De-duplicate on (log name, timestamp, insertId) as Cloud Logging does (default true). */
  readonly dedupe?: boolean;
  /** Called for each stored entry, in arrival order. */
  readonly onEntry?: (entry: StoredLogEntry) => void;
  /**
   * Schema check of each body (default true: every entry). A number N checks the request and
   * every Nth entry of it (1 = all), for benchmarks where checking each entry would make the
   * emulator the bottleneck; false turns it off.
   */
  readonly schemaCheck?: boolean | number;
}

/** The entry's JSON size; exact when it could be near the limit, cheap otherwise. */
function entrySize(entry: Record<string, unknown>): number {
  const text = entry.textPayload;
  if (
    entry.jsonPayload === undefined &&
    entry.labels === undefined &&
    (text === undefined || (typeof text === 'string' && text.length * 6 + 4096 < LOGGING_LIMITS.maxEntryBytes))
  )
    return 0;
  return Buffer.byteLength(JSON.stringify(entry));
}

export class GcpLoggingEmulator extends GcpApiEmulator {
  protected readonly scope = LOGGING_SCOPE;
  protected readonly rpcName = 'WriteLogEntries';
  readonly schema = ProtoSchema.load('logging');
  readonly rpcRoute: { verb: string; path: string };
  readonly #retain: boolean;
  readonly #dedupe: boolean;
  /** Called for each stored entry, in arrival order (settable). */
  onEntry: ((entry: StoredLogEntry) => void) | undefined;
  /** Keys of stored entries per log name, for de-duplication. */
  readonly #seen = new Map<string, { byId: Map<string, { seconds: number; nanos: number }>; more: Set<string> }>();
  readonly #stored: StoredLogEntry[] = [];
  #rejections: EntryRejection[] = [];
  schemaCheck: boolean | number;
  /** Entries stored (also when not retained). */
  count = 0;
  /** Entries received again after they were stored (de-duplicated). */
  duplicates = 0;
  /** Entries refused one by one. */
  refusedEntries = 0;
  /** Requests refused as a whole because of an entry (`rejectEntries` with `wholeRequest`). */
  refusedRequests = 0;
  /** Every problem found in requests (for assertions), newest last. */
  readonly problems: SchemaProblem[] = [];

  constructor(options: GcpLoggingEmulatorOptions = {}) {
    super(options);
    this.#retain = options.retainEntries ?? true;
    this.onEntry = options.onEntry;
    this.#dedupe = options.dedupe ?? true;
    this.schemaCheck = options.schemaCheck ?? true;
    const rule = this.schema.httpRule('google.logging.v2.LoggingServiceV2', 'WriteLogEntries');
    this.rpcRoute = { verb: rule.verb, path: rule.path };
  }

  /** Makes the next matching entries fail one by one (a partial error). */
  rejectEntries(rule: EntryRejection): this {
    this.#rejections.push({ ...rule, times: rule.times ?? 1 });
    return this;
  }

  /** Stored entries in arrival order (optionally of one log). */
  entries(logName?: string): StoredLogEntry[] {
    return logName === undefined ? [...this.#stored] : this.#stored.filter((e) => e.logName === logName);
  }

  /** Stored entries as a query lists them: by timestamp, then insertId. */
  sorted(logName?: string): StoredLogEntry[] {
    return this.entries(logName).sort((a, b) => a.seconds - b.seconds || a.nanos - b.nanos || (a.insertId < b.insertId ? -1 : a.insertId > b.insertId ? 1 : 0));
  }

  /**
   * The lines as a reader would rebuild them: sorted, split entries joined; text entries as their
   * text, structured ones as their jsonPayload.
   */
  lines(logName?: string): (string | Record<string, unknown>)[] {
    const out: (string | Record<string, unknown>)[] = [];
    let joining: { uid: string; text: string; next: number } | undefined;
    for (const entry of this.sorted(logName)) {
      if (entry.split) {
        if (entry.split.index === 0) joining = { uid: entry.split.uid, text: '', next: 0 };
        if (joining && joining.uid === entry.split.uid && joining.next === entry.split.index) {
          joining.text += entry.textPayload ?? '';
          joining.next++;
          if (joining.next === entry.split.totalSplits) {
            out.push(joining.text);
            joining = undefined;
          }
        }
        continue;
      }
      out.push(entry.jsonPayload ?? entry.textPayload ?? '');
    }
    return out;
  }

  // async to match the base class's route; this emulator answers without waiting.
  // eslint-disable-next-line @typescript-eslint/require-await
  protected async route(request: IncomingRequest, path: string): Promise<{ reply: Reply; items: number }> {
    if (path !== this.rpcRoute.path) return { reply: googleError(404, `The requested URL ${path} was not found on this server.`), items: 0 };
    if (request.method !== this.rpcRoute.verb) return { reply: googleError(405, `Method ${request.method} not allowed`), items: 0 };
    if (request.body.length > LOGGING_LIMITS.maxRequestBytes)
      return { reply: googleError(400, `Request payload size exceeds the limit: ${LOGGING_LIMITS.maxRequestBytes} bytes.`), items: 0 };
    const parsed = this.parseBody(request);
    if ('reply' in parsed) return { reply: parsed.reply, items: 0 };
    return this.#write(parsed.body);
  }

  #write(body: unknown): { reply: Reply; items: number } {
    const request = body as Record<string, unknown>;
    const entries = Array.isArray(request?.entries) ? (request.entries as Record<string, unknown>[]) : [];
    const items = entries.length;
    // Before anything else: a request nested deeper than protobuf decodes is not read at all.
    const tooDeep = nestingProblem(entries);
    if (tooDeep) {
      this.problems.push({ path: 'entries', message: tooDeep });
      return { reply: googleError(400, tooDeep), items };
    }
    const poison = this.#wholeRequestRejection(entries);
    if (poison) return { reply: googleError(GRPC_STATUS[poison.code]?.http ?? 400, poison.message, undefined, GRPC_STATUS[poison.code]?.name), items };
    const problems = this.#schemaProblems(request, entries);
    // Problems inside one entry are that entry's; anything else fails the whole request.
    const entryErrors = new Map<number, { code: number; message: string }>();
    for (const problem of problems) {
      this.problems.push(problem);
      const match = /^entries\[(\d+)\]/.exec(problem.path);
      if (!match) return { reply: googleError(400, problem.message), items };
      const index = Number(match[1]);
      if (!entryErrors.has(index)) entryErrors.set(index, { code: 3, message: problem.message });
    }
    if (entries.length === 0) return { reply: googleError(400, 'entries: at least one log entry is required'), items };
    const defaultLog = request.logName;
    if (defaultLog !== undefined) {
      const problem = this.#checkLogName(defaultLog);
      if (problem) return { reply: googleError(problem.code === 7 ? 403 : 400, problem.message), items };
    }
    const defaultResource = request.resource;
    if (defaultResource !== undefined) {
      const problem = this.#checkResource(defaultResource);
      if (problem) return { reply: googleError(400, problem), items };
    }
    const now = this.clock.now();
    // Plain loops, and nothing allocated for an entry that passes: a benchmark sends a million.
    for (let index = 0; index < entries.length; index++) {
      const entry = entries[index] as Record<string, unknown>;
      if (typeof entry !== 'object' || entry === null || entryErrors.has(index)) continue;
      const error = this.#entryError(entry, defaultLog, defaultResource, now);
      if (error) entryErrors.set(index, error);
    }

    const partial = request.partialSuccess === true;
    if (entryErrors.size > 0 && !partial) {
      const first = entryErrors.values().next().value as { code: number; message: string };
      return { reply: googleError(GRPC_STATUS[first.code]?.http ?? 400, first.message, undefined, GRPC_STATUS[first.code]?.name), items };
    }
    if (request.dryRun !== true) {
      for (let index = 0; index < entries.length; index++) {
        const entry = entries[index] as Record<string, unknown>;
        if (entryErrors.size === 0 || !entryErrors.has(index))
          this.#store(entry, (entry.logName ?? defaultLog) as string, (entry.resource ?? defaultResource) as StoredLogEntry['resource'], now);
      }
    }
    if (entryErrors.size === 0) return { reply: jsonReply({}), items };
    this.refusedEntries += entryErrors.size;
    const first = [...entryErrors.values()][0] as { code: number; message: string };
    const logEntryErrors = Object.fromEntries([...entryErrors].map(([index, e]) => [String(index), { code: e.code, message: e.message }]));
    return {
      reply: googleError(
        GRPC_STATUS[first.code]?.http ?? 400,
        `Log entry with index ${[...entryErrors.keys()][0]} is invalid: ${first.message}`,
        [{ '@type': PARTIAL_ERRORS_TYPE, logEntryErrors }],
        GRPC_STATUS[first.code]?.name,
      ),
      items,
    };
  }

  /** Why Cloud Logging would refuse `entry` (beyond the schema), or undefined. */
  #entryError(entry: Record<string, unknown>, defaultLog: unknown, defaultResource: unknown, now: number): { code: number; message: string } | undefined {
    const logName = entry.logName ?? defaultLog;
    if (logName === undefined) return { code: 3, message: 'Log name is required (in the entry or the request)' };
    const logProblem = this.#checkLogName(logName);
    if (logProblem) return logProblem;
    if ((entry.resource ?? defaultResource) === undefined) return { code: 3, message: 'Monitored resource is required (in the entry or the request)' };
    if (entry.resource !== undefined) {
      const problem = this.#checkResource(entry.resource);
      if (problem) return { code: 3, message: problem };
    }
    if (typeof entry.timestamp === 'string') {
      const t = this.#time(entry.timestamp);
      if (t && t.seconds * 1000 > now + LOGGING_LIMITS.maxFutureMs)
        return { code: 3, message: `Timestamp ${entry.timestamp} is more than 24 hours in the future` };
    }
    const size = entrySize(entry);
    if (size > LOGGING_LIMITS.maxEntryBytes)
      return { code: 3, message: `Log entry with size ${size} bytes exceeds maximum size of ${LOGGING_LIMITS.maxEntryBytes} bytes` };
    if (this.#rejections.length === 0) return undefined;
    const rule = this.#rejections.find((r) => !r.wholeRequest && (!r.match || r.match(entry)));
    return rule ? this.#take(rule, 'injected per-entry error') : undefined;
  }

  /** The first entry a `wholeRequest` rule matches fails the request: its error, or undefined. */
  #wholeRequestRejection(entries: readonly Record<string, unknown>[]): { code: number; message: string } | undefined {
    if (!this.#rejections.some((r) => r.wholeRequest)) return undefined;
    for (let index = 0; index < entries.length; index++) {
      const entry = entries[index];
      if (typeof entry !== 'object' || entry === null) continue;
      const rule = this.#rejections.find((r) => r.wholeRequest && (!r.match || r.match(entry)));
      if (rule) {
        const error = this.#take(rule, 'injected error');
        this.refusedRequests++;
        return { code: error.code, message: `entries[${index}]: ${error.message}` };
      }
    }
    return undefined;
  }

  /** Uses up one application of `rule`; its error. */
  #take(rule: EntryRejection, fallback: string): { code: number; message: string } {
    rule.times = (rule.times ?? 1) - 1;
    if (rule.times <= 0) this.#rejections.splice(this.#rejections.indexOf(rule), 1);
    return { code: rule.code ?? 3, message: rule.message ?? fallback };
  }

  #schemaProblems(request: Record<string, unknown>, entries: readonly unknown[]): SchemaProblem[] {
    const every = this.schemaCheck === true ? 1 : this.schemaCheck === false ? 0 : Math.max(0, Math.floor(this.schemaCheck));
    if (every === 0) return [];
    if (every === 1 || typeof request !== 'object' || request === null) return this.schema.check('google.logging.v2.WriteLogEntriesRequest', request);
    // A sample: the request with every Nth entry; paths are mapped back to the real indices.
    const sample = entries.filter((_, index) => index % every === 0);
    return this.schema.check('google.logging.v2.WriteLogEntriesRequest', { ...request, entries: sample }).map((p) => ({
      ...p,
      path: p.path.replace(/^entries\[(\d+)\]/, (_, i: string) => `entries[${Number(i) * every}]`),
    }));
  }

  readonly #logNames = new Map<string, { code: number; message: string } | undefined>();

  #checkLogName(value: unknown): { code: number; message: string } | undefined {
    if (typeof value === 'string' && this.#logNames.has(value)) return this.#logNames.get(value);
    const problem = this.#checkLogNameUncached(value);
    if (typeof value === 'string' && this.#logNames.size < 1000) this.#logNames.set(value, problem);
    return problem;
  }

  #checkLogNameUncached(value: unknown): { code: number; message: string } | undefined {
    const match = typeof value === 'string' ? /^projects\/([^/]+)\/logs\/([^/]+)$/.exec(value) : null;
    if (!match) return { code: 3, message: `Invalid log name ${JSON.stringify(value)}: expected projects/PROJECT_ID/logs/LOG_ID with LOG_ID URL-encoded` };
    if (match[1] !== this.projectId) return { code: 7, message: `The caller does not have permission to write to project ${match[1]}` };
    let logId: string;
    try {
      logId = decodeURIComponent(match[2] as string);
    } catch {
      return { code: 3, message: `Invalid log name: LOG_ID is not valid URL encoding` };
    }
    if (logId.length > LOGGING_LIMITS.maxLogIdLength || !/^[A-Za-z0-9/_.-]+$/.test(logId))
      return { code: 3, message: `Invalid log ID ${JSON.stringify(logId)}: at most 511 letters, digits, /, _, - and .` };
    return undefined;
  }

  #checkResource(value: unknown): string | undefined {
    const resource = value as { type?: unknown; labels?: Record<string, unknown> };
    if (typeof resource?.type !== 'string' || resource.type === '') return 'Monitored resource type is required';
    if (resource.type !== 'gce_instance') return undefined;
    const labels = resource.labels ?? {};
    for (const key of Object.keys(labels))
      if (!GCE_LABELS.includes(key))
        return `Unrecognized label ${JSON.stringify(key)} for monitored resource type gce_instance (labels: ${GCE_LABELS.join(', ')})`;
    const expected: Record<string, string> = { project_id: this.projectId, instance_id: this.instanceId, zone: this.zone };
    for (const [key, label] of Object.entries(labels))
      if (label !== expected[key]) return `Monitored resource label ${key}=${JSON.stringify(label)} does not match this instance (${expected[key]})`;
    return undefined;
  }

  #lastTime: { text: string; t: { seconds: number; nanos: number } | undefined } = { text: '', t: undefined };

  /** parseRfc3339 with a one-entry cache (consecutive entries mostly share their timestamp). */
  #time(text: string): { seconds: number; nanos: number } | undefined {
    if (text !== this.#lastTime.text) this.#lastTime = { text, t: parseRfc3339(text) };
    return this.#lastTime.t;
  }

  #store(entry: Record<string, unknown>, logName: string, resource: StoredLogEntry['resource'], now: number): void {
    const timestamp = typeof entry.timestamp === 'string' ? entry.timestamp : new Date(now).toISOString();
    const t = this.#time(timestamp) ?? { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 };
    const insertId = typeof entry.insertId === 'string' && entry.insertId !== '' ? entry.insertId : `emulator-${this.count + this.duplicates}`;
    let seen = this.#dedupe ? this.#seen.get(logName) : undefined;
    if (!seen && this.#dedupe) this.#seen.set(logName, (seen = { byId: new Map(), more: new Set() }));
    const previous = seen?.byId.get(insertId);
    if (seen && previous === undefined) seen.byId.set(insertId, t);
    else if (seen && previous) {
      // The same insertId with another timestamp is another entry; keep those apart.
      const key = `${t.seconds}.${t.nanos}`;
      if ((previous.seconds === t.seconds && previous.nanos === t.nanos) || seen.more.has(`${insertId} ${key}`)) {
        this.duplicates++;
        return;
      }
      seen.more.add(`${insertId} ${key}`);
    }
    const stored: { -readonly [K in keyof StoredLogEntry]: StoredLogEntry[K] } = {
      logName,
      resource,
      timestamp,
      seconds: t.seconds,
      nanos: t.nanos,
      insertId,
      severity: typeof entry.severity === 'string' ? entry.severity : typeof entry.severity === 'number' ? severityName(entry.severity) : 'DEFAULT',
      sequence: this.count,
    };
    if (typeof entry.textPayload === 'string') stored.textPayload = entry.textPayload;
    if (entry.jsonPayload !== undefined) stored.jsonPayload = entry.jsonPayload as Record<string, unknown>;
    if (entry.labels !== undefined) stored.labels = entry.labels as Record<string, string>;
    if (entry.split !== undefined) stored.split = normaliseSplit(entry.split);
    if (typeof entry.trace === 'string') stored.trace = entry.trace;
    if (typeof entry.spanId === 'string') stored.spanId = entry.spanId;
    if (typeof entry.traceSampled === 'boolean') stored.traceSampled = entry.traceSampled;
    this.count++;
    if (this.#retain) this.#stored.push(stored);
    this.onEntry?.(stored);
  }
}

function severityName(n: number): string {
  const names: Record<number, string> = {
    0: 'DEFAULT',
    100: 'DEBUG',
    200: 'INFO',
    300: 'NOTICE',
    400: 'WARNING',
    500: 'ERROR',
    600: 'CRITICAL',
    700: 'ALERT',
    800: 'EMERGENCY',
  };
  return names[n] ?? String(n);
}

function normaliseSplit(value: unknown): { uid: string; index: number; totalSplits: number } {
  const split = value as { uid?: unknown; index?: unknown; totalSplits?: unknown };
  return {
    uid: split.uid === undefined || split.uid === null ? '' : typeof split.uid === 'string' ? split.uid : JSON.stringify(split.uid),
    index: Number(split.index ?? 0),
    totalSplits: Number(split.totalSplits ?? 0),
  };
}
