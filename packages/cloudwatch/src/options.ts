/**
 * The `cloudwatch` tuple, compatible with the Nanos klib:
 *
 *   cloudwatch: {
 *     mem_metrics_interval: "60",              // seconds; memory metrics are off without it
 *     logging: {                                // console output to CloudWatch Logs; off without it
 *       log_group: "…", log_stream: "…",        // defaults: IMAGE_NAME / program name; instance host name
 *       retention_days: "30", flush_interval: "1", buffer_size: "8m", backpressure: true
 *     },
 *     logs_endpoint: "https://…", metrics_endpoint: "https://…",
 *     request_timeout: "30"                   // seconds; a request with no answer by then is sent again
 *   }
 *
 * Every invalid value is reported (all of them, for `uk validate`) with its path and a fix.
 * Environment values the klib relies on (endpoint URLs) are checked here too.
 */
import { OptionsReader, readKlibSpoolOptions, SPOOL_OPTION_KEYS, Tuple, ukError, type Env, type OptionsInput } from '@uk/core';

export const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;
export const CLOUDWATCH_KEYS = [
  'mem_metrics_interval',
  'logging',
  'logs_endpoint',
  'metrics_endpoint',
  'request_timeout',
  // The disk spool of the logs (uk.spool_dir): `spool: false` opts out, `spool_max_size` sets a limit of its own.
  ...SPOOL_OPTION_KEYS,
] as const;
/** Default whole-request timeout, ms: PutLogEvents answers in well under a second when healthy. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const LOGGING_KEYS = ['log_group', 'log_stream', 'retention_days', 'flush_interval', 'buffer_size', 'backpressure'] as const;

const LOG_GROUP = /^[.\-_/#A-Za-z0-9]{1,512}$/;
const LOG_STREAM_FORBIDDEN = /[:*]/;

export interface LoggingOptions {
  /** Undefined: IMAGE_NAME, else the program's name (decided at init). */
  readonly logGroup: string | undefined;
  /** Undefined: the instance's host name (from the metadata service). */
  readonly logStream: string | undefined;
  readonly retentionDays: number | undefined;
  readonly flushIntervalMs: number;
  readonly bufferBytes: number;
  /** While CloudWatch works but is behind, stop reading the program's output instead of dropping. */
  readonly backpressure: boolean;
}

export interface CloudwatchOptions {
  /** Memory metrics period, ms; undefined when metrics are off. */
  readonly memMetricsIntervalMs: number | undefined;
  /** Undefined when log shipping is off (no `logging` tuple). */
  readonly logging: LoggingOptions | undefined;
  /** Endpoint URLs given in the config or the environment (undefined: AWS's for the region). */
  readonly logsEndpoint: string | undefined;
  readonly metricsEndpoint: string | undefined;
  /**
   * Whole-request timeout of every call, ms (`request_timeout`, seconds). A call that times out
   * may still have been carried out: it is sent again and counted as resent (docs/delivery.md).
   */
  readonly requestTimeoutMs: number;
}

/** Checks an endpoint URL: http or https, no credentials, query or fragment. Returns it without a trailing slash. */
export function checkEndpoint(value: string, where: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw ukError('UK_ERR_MANIFEST_VALUE', `${where}: expected an http:// or https:// URL, got ${JSON.stringify(value)}`, {
      where,
      fix: 'e.g. https://logs.us-east-1.amazonaws.com',
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw ukError('UK_ERR_MANIFEST_VALUE', `${where}: expected an http:// or https:// URL, got ${JSON.stringify(value)}`, {
      where,
      fix: 'plain http:// is used only when the URL says so',
    });
  }
  if (url.username || url.password || url.search || url.hash) {
    throw ukError('UK_ERR_MANIFEST_VALUE', `${where}: the URL must not carry credentials, a query or a fragment`, { where });
  }
  return url.href.replace(/\/+$/, '');
}

/** A log group name made valid: characters CloudWatch refuses become `_` (for derived defaults only). */
export function sanitizeLogGroup(name: string): string {
  const cleaned = name.replace(/[^.\-_/#A-Za-z0-9]/g, '_').slice(0, 512);
  return cleaned === '' ? 'uk' : cleaned;
}

/** A log stream name made valid: `:` and `*` become `_`. */
export function sanitizeLogStream(name: string): string {
  const cleaned = name.replace(/[:*]/g, '_').slice(0, 512);
  return cleaned === '' ? 'uk' : cleaned;
}

/** Seconds with up to three decimals, as milliseconds. */
function seconds(tuple: Tuple, key: string, options: { default: number; min: number; max: number }): number {
  const value = tuple.get(key);
  if (value === undefined) return Math.round(options.default * 1000);
  const where = tuple.pathOf(key);
  if (typeof value !== 'string' || !/^\s*\d+(\.\d{1,3})?\s*$/.test(value) || Number(value) < options.min || Number(value) > options.max) {
    throw ukError(
      'UK_ERR_MANIFEST_VALUE',
      `${where}: expected a number of seconds from ${options.min} to ${options.max}, got ${typeof value === 'string' ? JSON.stringify(value) : 'a tuple or vector'}`,
      { where },
    );
  }
  return Math.round(Number(value) * 1000);
}

function endpointFrom(reader: OptionsReader, env: Env, configKey: string, envKeys: readonly string[]): string | undefined {
  if (reader.tuple.has(configKey)) {
    return reader.read((t) => checkEndpoint(t.requireString(configKey, 'an http:// or https:// URL'), t.pathOf(configKey)), undefined);
  }
  for (const key of envKeys) {
    const value = env[key];
    if (value !== undefined && value !== '') return reader.read(() => checkEndpoint(value, key), undefined);
  }
  return undefined;
}

export function readCloudwatchOptions({ config, env }: OptionsInput): CloudwatchOptions {
  const reader = new OptionsReader('cloudwatch', config);
  reader.allowKeys(CLOUDWATCH_KEYS);
  // Checked here so that `uk validate` reports them; the kernel applies them (ctx.spool).
  readKlibSpoolOptions(reader);

  let memMetricsIntervalMs: number | undefined;
  if (config.has('mem_metrics_interval')) {
    const where = config.pathOf('mem_metrics_interval');
    const raw = config.get('mem_metrics_interval');
    const text = typeof raw === 'string' ? raw.trim() : undefined;
    if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 86_400) {
      // Nanos's wording, then what is expected.
      reader.problem(
        ukError(
          'UK_ERR_MANIFEST_VALUE',
          `CloudWatch: invalid memory metrics interval (${where}: expected a whole number of seconds from 1 to 86400, got ${text === undefined ? 'a tuple or vector' : JSON.stringify(raw)})`,
          {
            where,
            fix: 'e.g. "mem_metrics_interval": "60"',
          },
        ),
      );
    } else {
      memMetricsIntervalMs = Number(text) * 1000;
    }
  }

  let logging: LoggingOptions | undefined;
  const loggingTuple = reader.read((t) => t.tuple('logging'), undefined);
  if (loggingTuple) {
    reader.allowKeys(LOGGING_KEYS, loggingTuple);
    const logGroup = reader.read(() => {
      const t = loggingTuple;
      const value = t.string('log_group');
      if (value !== undefined && !LOG_GROUP.test(value)) {
        throw ukError('UK_ERR_MANIFEST_VALUE', `${t.pathOf('log_group')}: ${JSON.stringify(value)} is not a valid log group name`, {
          where: t.pathOf('log_group'),
          fix: '1 to 512 characters among a-z A-Z 0-9 . - _ / #',
        });
      }
      return value;
    }, undefined);
    const logStream = reader.read(() => {
      const t = loggingTuple;
      const value = t.string('log_stream');
      if (value !== undefined && (value.length < 1 || value.length > 512 || LOG_STREAM_FORBIDDEN.test(value))) {
        throw ukError('UK_ERR_MANIFEST_VALUE', `${t.pathOf('log_stream')}: ${JSON.stringify(value)} is not a valid log stream name`, {
          where: t.pathOf('log_stream'),
          fix: '1 to 512 characters, without : or *',
        });
      }
      return value;
    }, undefined);
    const retentionDays = reader.read(() => {
      const t = loggingTuple;
      if (!t.has('retention_days')) return undefined;
      const value = t.get('retention_days');
      const days = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
      if (!(RETENTION_DAYS as readonly number[]).includes(days)) {
        throw ukError(
          'UK_ERR_MANIFEST_VALUE',
          `${t.pathOf('retention_days')}: CloudWatch Logs does not allow a retention of ${typeof value === 'string' ? JSON.stringify(value) : 'a tuple or vector'} days`,
          {
            where: t.pathOf('retention_days'),
            fix: `one of ${RETENTION_DAYS.join(', ')}`,
          },
        );
      }
      return days;
    }, undefined);
    const flushIntervalMs = reader.read(() => seconds(loggingTuple, 'flush_interval', { default: 1, min: 0.01, max: 600 }), 1000);
    const bufferBytes = reader.read(
      () => loggingTuple.size('buffer_size', { default: 8 * 1024 * 1024, min: 2 * 1024 * 1024, max: 1024 * 1024 * 1024 }),
      8 * 1024 * 1024,
    );
    const backpressure = reader.read(() => loggingTuple.bool('backpressure', true), true);
    logging = { logGroup, logStream, retentionDays, flushIntervalMs, bufferBytes, backpressure };
  }

  const logsEndpoint = endpointFrom(reader, env, 'logs_endpoint', ['AWS_ENDPOINT_URL_CLOUDWATCH_LOGS', 'AWS_ENDPOINT_URL']);
  const metricsEndpoint = endpointFrom(reader, env, 'metrics_endpoint', ['AWS_ENDPOINT_URL_CLOUDWATCH', 'AWS_ENDPOINT_URL']);
  const requestTimeoutMs = reader.read(
    () => seconds(config, 'request_timeout', { default: DEFAULT_REQUEST_TIMEOUT_MS / 1000, min: 1, max: 600 }),
    DEFAULT_REQUEST_TIMEOUT_MS,
  );
  if (env.AWS_EC2_METADATA_SERVICE_ENDPOINT)
    reader.read(() => checkEndpoint(env.AWS_EC2_METADATA_SERVICE_ENDPOINT as string, 'AWS_EC2_METADATA_SERVICE_ENDPOINT'), undefined);
  reader.done();
  return { memMetricsIntervalMs, logging, logsEndpoint, metricsEndpoint, requestTimeoutMs };
}
