/**
 * The `gcp` tuple. The keys of the Nanos gcp klib (`logging.log_id`, `metrics.interval`,
 * `metrics.disk.include_readonly`) keep their meaning and defaults; the rest are uk's additions.
 * Every problem is collected (so `uk validate` lists them all), each naming the option and value.
 *
 * Endpoints come from the tuple, else from gcloud's `CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING` /
 * `_MONITORING`, else Google's; the metadata server from `GCE_METADATA_HOST`, else 169.254.169.254.
 */
import { OptionsReader, readKlibSpoolOptions, SPOOL_OPTION_KEYS, ukError, type Env, type OptionsInput, type RecordSource, type Tuple } from '@uk/core';

/** `spool` / `spool_max_size`: the disk spool of the logs (uk.spool_dir): opt out, or a limit of its own. */
export const GCP_OPTION_KEYS = ['logging', 'metrics', 'request_timeout', ...SPOOL_OPTION_KEYS] as const;
export const LOGGING_OPTION_KEYS = [
  'log_id',
  'flush_interval',
  'buffer_size',
  'severity',
  'json_payload',
  'special_fields',
  'backpressure',
  'endpoint',
] as const;
export const METRICS_OPTION_KEYS = ['interval', 'disk', 'endpoint'] as const;
export const DISK_OPTION_KEYS = ['include_readonly'] as const;

/** Cloud Logging's LogSeverity names, with their numbers. */
export const SEVERITIES = {
  DEFAULT: 0,
  DEBUG: 100,
  INFO: 200,
  NOTICE: 300,
  WARNING: 400,
  ERROR: 500,
  CRITICAL: 600,
  ALERT: 700,
  EMERGENCY: 800,
} as const;
export type Severity = keyof typeof SEVERITIES;

export const DEFAULT_SEVERITY: Readonly<Record<RecordSource, Severity>> = { stdout: 'INFO', stderr: 'ERROR', kernel: 'NOTICE' };
export const DEFAULT_LOGGING_ENDPOINT = 'https://logging.googleapis.com';
export const DEFAULT_MONITORING_ENDPOINT = 'https://monitoring.googleapis.com';
export const DEFAULT_METADATA_HOST = '169.254.169.254';
export const DEFAULT_FLUSH_INTERVAL_MS = 1000;
export const DEFAULT_BUFFER_SIZE = 32 * 1024 * 1024;
export const MIN_BUFFER_SIZE = 64 * 1024;
export const DEFAULT_METRICS_INTERVAL_S = 60;
export const MIN_METRICS_INTERVAL_S = 60;
/** How long an `entries.write` request may take by default, ms (a 10 MB request on a slow link). */
export const DEFAULT_LOGGING_TIMEOUT_MS = 60_000;
/** How long a `timeSeries.create` request may take by default, ms. */
export const DEFAULT_MONITORING_TIMEOUT_MS = 30_000;
/** `request_timeout` bounds, ms. */
export const MIN_REQUEST_TIMEOUT_MS = 100;
export const MAX_REQUEST_TIMEOUT_MS = 600_000;
/** The Nanos klib's message for an interval below the minimum. */
export const INVALID_INTERVAL_MESSAGE = 'GCP: invalid metrics interval (minimum allowed value 60 seconds)';

export interface LoggingOptions {
  /** LOG_ID; undefined: the instance's host name from the metadata server. */
  readonly logId: string | undefined;
  readonly flushIntervalMs: number;
  readonly bufferSize: number;
  readonly severity: Readonly<Record<RecordSource, Severity>>;
  /** A line that is a JSON object becomes `jsonPayload`. */
  readonly jsonPayload: boolean;
  /** Lift structured logging's special fields (severity, labels, trace…) out of `jsonPayload`. */
  readonly specialFields: boolean;
  /** Pause reading the program's output while delivery works but is behind, instead of dropping. */
  readonly backpressure: boolean;
  /** Base URL of the Logging API (no version). */
  readonly endpoint: string;
  /** How long one `entries.write` request may take before it is abandoned (and sent again). */
  readonly requestTimeoutMs: number;
}

export interface MetricsOptions {
  readonly intervalMs: number;
  /** Disk metrics, if the `disk` tuple is present. */
  readonly disk: { readonly includeReadonly: boolean } | undefined;
  /** Base URL of the Monitoring API (no version). */
  readonly endpoint: string;
  /** How long one `timeSeries.create` request may take before it is abandoned (and sent again). */
  readonly requestTimeoutMs: number;
}

export interface GcpOptions {
  readonly logging: LoggingOptions | undefined;
  readonly metrics: MetricsOptions | undefined;
  /** Base URL of the metadata server: `http://169.254.169.254`. */
  readonly metadataUrl: string;
}

/** LOG_ID: at most 511 characters of letters, digits, `/`, `_`, `-` and `.`. */
const LOG_ID = /^[A-Za-z0-9/_.-]{1,511}$/;
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : value === undefined ? 'nothing' : 'a tuple or vector';
}

function valueError(where: string, expected: string, value: unknown, fix?: string) {
  return ukError('UK_ERR_MANIFEST_VALUE', `${where}: expected ${expected}, got ${describe(value)}`, fix === undefined ? { where } : { where, fix });
}

/** A LogSeverity name (any case) or one of the usual aliases; undefined if not one. */
export function severityOf(value: unknown): Severity | undefined {
  if (typeof value === 'number') {
    for (const [name, number] of Object.entries(SEVERITIES)) if (number === value) return name as Severity;
    return undefined;
  }
  if (typeof value !== 'string') return undefined;
  const upper = value.trim().toUpperCase();
  if (Object.hasOwn(SEVERITIES, upper)) return upper as Severity;
  return SEVERITY_ALIASES[upper];
}

const SEVERITY_ALIASES: Readonly<Record<string, Severity>> = {
  TRACE: 'DEBUG',
  WARN: 'WARNING',
  ERR: 'ERROR',
  CRIT: 'CRITICAL',
  FATAL: 'CRITICAL',
  EMERG: 'EMERGENCY',
  PANIC: 'EMERGENCY',
};

/** Decimal seconds (`1`, `0.25`) as milliseconds, within [minMs, maxMs]. */
function readSeconds(tuple: Tuple, key: string, fallbackMs: number, minMs: number, maxMs: number): number {
  const value = tuple.get(key);
  if (value === undefined) return fallbackMs;
  const ms = typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Math.round(Number(value) * 1000) : NaN;
  if (!(ms >= minMs && ms <= maxMs)) throw valueError(tuple.pathOf(key), `a number of seconds from ${minMs / 1000} to ${maxMs / 1000}`, value);
  return ms;
}

/**
 * An API base URL: https, or plain http only to a loopback address (an emulator), since the
 * requests carry the service account's token.
 */
export function checkEndpoint(text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw valueError(where, 'an https:// URL', text);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(url.hostname))) {
    throw valueError(where, 'an https:// URL (plain http:// only on loopback)', text, 'requests carry the service account token, so they must be encrypted');
  }
  if (url.username || url.password || url.search || url.hash) throw valueError(where, 'a base URL without credentials, query or fragment', text);
  return url.href.replace(/\/+$/, '');
}

function endpointOf(tuple: Tuple, key: string, env: Env, envName: string, fallback: string, problems: OptionsReader): string {
  const fromTuple = problems.read(() => tuple.string(key), undefined);
  if (fromTuple !== undefined) return problems.read(() => checkEndpoint(fromTuple, tuple.pathOf(key)), fallback);
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return problems.read(() => checkEndpoint(fromEnv, `environment variable ${envName}`), fallback);
  return fallback;
}

/** `GCE_METADATA_HOST` (`host[:port]`, or a URL as gcp-metadata accepts) as a base URL. */
export function metadataUrlOf(env: Env): string {
  const raw = (env.GCE_METADATA_HOST ?? '').trim();
  const host = raw === '' ? DEFAULT_METADATA_HOST : raw;
  const withScheme = /^https?:\/\//i.test(host) ? host : `http://${host}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw valueError('environment variable GCE_METADATA_HOST', 'a host name or address with an optional :port', raw);
  }
  if (url.pathname !== '/' || url.search || url.username)
    throw valueError('environment variable GCE_METADATA_HOST', 'a host name or address with an optional :port', raw);
  return `${url.protocol}//${url.host}`;
}

function readSeverities(reader: OptionsReader, tuple: Tuple | undefined): Record<RecordSource, Severity> {
  const severity = { ...DEFAULT_SEVERITY };
  if (!tuple) return severity;
  reader.allowKeys(['stdout', 'stderr', 'kernel'], tuple);
  for (const source of ['stdout', 'stderr', 'kernel'] as const) {
    const value = tuple.get(source);
    if (value === undefined) continue;
    const parsed = severityOf(value);
    if (parsed) severity[source] = parsed;
    else reader.problem(valueError(tuple.pathOf(source), `a LogSeverity (${Object.keys(SEVERITIES).join(', ')})`, value));
  }
  return severity;
}

function readLogging(reader: OptionsReader, tuple: Tuple, env: Env, requestTimeoutMs: number | undefined): LoggingOptions {
  reader.allowKeys(LOGGING_OPTION_KEYS, tuple);
  const logId = reader.read(() => tuple.string('log_id'), undefined);
  if (logId !== undefined && !LOG_ID.test(logId)) {
    reader.problem(valueError(tuple.pathOf('log_id'), 'a log ID of 1 to 511 letters, digits, "/", "_", "-" or "."', logId));
  }
  const severityTuple = reader.read(() => tuple.tuple('severity'), undefined);
  return {
    logId: logId !== undefined && LOG_ID.test(logId) ? logId : undefined,
    flushIntervalMs: reader.read(() => readSeconds(tuple, 'flush_interval', DEFAULT_FLUSH_INTERVAL_MS, 1, 60_000), DEFAULT_FLUSH_INTERVAL_MS),
    bufferSize: reader.read(() => tuple.size('buffer_size', { default: DEFAULT_BUFFER_SIZE, min: MIN_BUFFER_SIZE, max: 4 * 1024 ** 3 }), DEFAULT_BUFFER_SIZE),
    severity: readSeverities(reader, severityTuple),
    jsonPayload: reader.read(() => tuple.bool('json_payload', true), true),
    specialFields: reader.read(() => tuple.bool('special_fields', true), true),
    backpressure: reader.read(() => tuple.bool('backpressure', true), true),
    endpoint: endpointOf(tuple, 'endpoint', env, 'CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING', DEFAULT_LOGGING_ENDPOINT, reader),
    requestTimeoutMs: requestTimeoutMs ?? DEFAULT_LOGGING_TIMEOUT_MS,
  };
}

function readMetrics(reader: OptionsReader, tuple: Tuple, env: Env, requestTimeoutMs: number | undefined): MetricsOptions {
  reader.allowKeys(METRICS_OPTION_KEYS, tuple);
  let intervalS = DEFAULT_METRICS_INTERVAL_S;
  const raw = tuple.get('interval');
  if (raw !== undefined) {
    const number = typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(number) || number < MIN_METRICS_INTERVAL_S || number > 86_400) {
      const where = tuple.pathOf('interval');
      const message =
        Number.isSafeInteger(number) && number > 86_400
          ? `${where}: expected at most 86400 seconds, got ${describe(raw)}`
          : `${INVALID_INTERVAL_MESSAGE}: ${where} is ${describe(raw)}`;
      reader.problem(ukError('UK_ERR_MANIFEST_VALUE', message, { where, fix: 'give a whole number of seconds from 60 to 86400' }));
    } else {
      intervalS = number;
    }
  }
  const diskTuple = reader.read(() => tuple.tuple('disk'), undefined);
  let disk: MetricsOptions['disk'];
  if (diskTuple) {
    reader.allowKeys(DISK_OPTION_KEYS, diskTuple);
    disk = { includeReadonly: reader.read(() => diskTuple.bool('include_readonly', false), false) };
  }
  return {
    intervalMs: intervalS * 1000,
    disk,
    endpoint: endpointOf(tuple, 'endpoint', env, 'CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING', DEFAULT_MONITORING_ENDPOINT, reader),
    requestTimeoutMs: requestTimeoutMs ?? DEFAULT_MONITORING_TIMEOUT_MS,
  };
}

/** The klib's `options()` hook: checks the whole tuple and the environment it depends on. */
export function readGcpOptions({ config, env }: Pick<OptionsInput, 'config' | 'env'>): GcpOptions {
  const reader = new OptionsReader('gcp', config);
  reader.allowKeys(GCP_OPTION_KEYS);
  // Checked here so that `uk validate` reports them; the kernel applies them (ctx.spool).
  readKlibSpoolOptions(reader);
  const loggingTuple = reader.read((t) => t.tuple('logging'), undefined);
  const metricsTuple = reader.read((t) => t.tuple('metrics'), undefined);
  // One timeout for both APIs; unset, each keeps its own default.
  const requestTimeoutMs = reader.read(
    (t) => (t.get('request_timeout') === undefined ? undefined : readSeconds(t, 'request_timeout', 0, MIN_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS)),
    undefined,
  );
  const logging = loggingTuple ? readLogging(reader, loggingTuple, env, requestTimeoutMs) : undefined;
  const metrics = metricsTuple ? readMetrics(reader, metricsTuple, env, requestTimeoutMs) : undefined;
  const metadataUrl = reader.read(() => metadataUrlOf(env), `http://${DEFAULT_METADATA_HOST}`);
  reader.done();
  return { logging, metrics, metadataUrl };
}
