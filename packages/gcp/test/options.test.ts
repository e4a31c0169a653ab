import t from 'tap';
import { isUkError, Tuple } from '@uk/core';
import { INVALID_INTERVAL_MESSAGE, readGcpOptions, severityOf } from '../src/index.js';

const read = (config: unknown, env: Record<string, string> = {}) => readGcpOptions({ config: Tuple.fromJSON(config, 'gcp'), env });

function problems(config: unknown, env: Record<string, string> = {}): string[] {
  try {
    read(config, env);
  } catch (err) {
    if (!isUkError(err)) throw err;
    return err.problems.length > 0 ? err.problems.map((p) => p.message) : [err.message];
  }
  return [];
}

t.test('defaults, as the Nanos klib: logging and metrics only when their tuples are present', async (t) => {
  const o = read({ logging: {}, metrics: {} });
  t.same(o.logging, {
    logId: undefined,
    flushIntervalMs: 1000,
    bufferSize: 32 * 1024 * 1024,
    severity: { stdout: 'INFO', stderr: 'ERROR', kernel: 'NOTICE' },
    jsonPayload: true,
    specialFields: true,
    backpressure: true,
    endpoint: 'https://logging.googleapis.com',
    requestTimeoutMs: 60_000,
  });
  t.same(o.metrics, { intervalMs: 60_000, disk: undefined, endpoint: 'https://monitoring.googleapis.com', requestTimeoutMs: 30_000 });
  t.equal(o.metadataUrl, 'http://169.254.169.254');
  const none = read({});
  t.equal(none.logging, undefined);
  t.equal(none.metrics, undefined);
  t.same(read({ metrics: { interval: 120, disk: { include_readonly: true } } }).metrics?.disk, { includeReadonly: true });
  t.same(read({ metrics: { disk: {} } }).metrics?.disk, { includeReadonly: false });
});

t.test('every option, as JSON numbers, booleans or strings', async (t) => {
  const o = read({
    logging: {
      log_id: 'app/web.1',
      flush_interval: '0.25',
      buffer_size: '8M',
      severity: { stdout: 'debug', stderr: 'warn', kernel: 'Critical' },
      json_payload: false,
      special_fields: 'off',
      backpressure: false,
      endpoint: 'https://logging.example.com/',
    },
    metrics: { interval: 300, endpoint: 'http://127.0.0.1:9/' },
    request_timeout: '2.5',
  });
  t.same(o.logging, {
    logId: 'app/web.1',
    flushIntervalMs: 250,
    bufferSize: 8 * 1024 * 1024,
    severity: { stdout: 'DEBUG', stderr: 'WARNING', kernel: 'CRITICAL' },
    jsonPayload: false,
    specialFields: false,
    backpressure: false,
    endpoint: 'https://logging.example.com',
    requestTimeoutMs: 2500,
  });
  t.same(o.metrics, { intervalMs: 300_000, disk: undefined, endpoint: 'http://127.0.0.1:9', requestTimeoutMs: 2500 });
});

t.test('request_timeout: seconds from 0.1 to 600, for both APIs, the path named when wrong', async (t) => {
  t.equal(read({ logging: {}, request_timeout: 5 }).logging?.requestTimeoutMs, 5000);
  t.equal(read({ metrics: {}, request_timeout: '0.1' }).metrics?.requestTimeoutMs, 100);
  t.equal(read({ logging: {}, request_timeout: 600 }).logging?.requestTimeoutMs, 600_000);
  for (const bad of [0, '0.05', 601, 'soon', '-1', { x: 1 }]) {
    const [message] = problems({ logging: {}, request_timeout: bad });
    t.match(message, /^gcp\.request_timeout: expected a number of seconds from 0\.1 to 600, got /, `${JSON.stringify(bad)}: ${message}`);
  }
});

t.test('metrics interval: below 60 fails with the Nanos message', async (t) => {
  for (const interval of [59, '30', 0]) {
    const [message] = problems({ metrics: { interval } });
    t.ok(message?.startsWith(INVALID_INTERVAL_MESSAGE), `${interval}: ${message}`);
  }
  t.equal(INVALID_INTERVAL_MESSAGE, 'GCP: invalid metrics interval (minimum allowed value 60 seconds)');
  t.match(problems({ metrics: { interval: 'soon' } })[0], /invalid metrics interval.*"soon"/);
  t.match(problems({ metrics: { interval: 86_401 } })[0], /at most 86400/);
  t.same(problems({ metrics: { interval: 60 } }), []);
});

t.test('unknown keys and bad values are all reported, with their paths', async (t) => {
  const found = problems({
    logging: {
      log_id: 'has space',
      flush_interval: 0,
      buffer_size: '1k',
      severity: { stdout: 'LOUD', other: 'INFO' },
      color: 'red',
      endpoint: 'http://logging.example.com',
    },
    metrics: { disk: { include_readonly: 'maybe', extra: 1 }, verbose: true },
    trace: {},
  });
  const expected = [
    /^gcp: invalid option 'trace'/,
    /gcp\.logging: invalid option 'color'/,
    /gcp\.logging\.log_id: expected a log ID/,
    /gcp\.logging\.severity: invalid option 'other'/,
    /gcp\.logging\.severity\.stdout: expected a LogSeverity/,
    /gcp\.logging\.flush_interval: expected a number of seconds/,
    /gcp\.logging\.buffer_size: expected a size from 65536/,
    /gcp\.logging\.endpoint: expected an https:\/\/ URL \(plain http:\/\/ only on loopback\)/,
    /gcp\.metrics: invalid option 'verbose'/,
    /gcp\.metrics\.disk: invalid option 'extra'/,
    /gcp\.metrics\.disk\.include_readonly: expected true or false/,
  ];
  t.equal(found.length, expected.length, found.join('\n'));
  for (const pattern of expected)
    t.ok(
      found.some((m) => pattern.test(m)),
      `${pattern}`,
    );
  t.match(problems({ logging: 'yes' })[0], /gcp\.logging: expected a tuple/);
});

t.test('endpoints and the metadata server from the environment', async (t) => {
  const env = {
    CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING: 'http://127.0.0.1:8081/',
    CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING: 'https://monitoring.example.com/',
    GCE_METADATA_HOST: '127.0.0.1:8080',
  };
  const o = read({ logging: {}, metrics: {} }, env);
  t.equal(o.logging?.endpoint, 'http://127.0.0.1:8081');
  t.equal(o.metrics?.endpoint, 'https://monitoring.example.com');
  t.equal(o.metadataUrl, 'http://127.0.0.1:8080');
  t.equal(
    read({ logging: { endpoint: 'https://logging.example.com' } }, env).logging?.endpoint,
    'https://logging.example.com',
    'the tuple wins over the environment',
  );
  t.equal(read({ logging: {} }, { GCE_METADATA_HOST: 'http://metadata.google.internal' }).metadataUrl, 'http://metadata.google.internal');
  t.match(
    problems({ logging: {} }, { CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING: 'http://10.0.0.1/' })[0],
    /environment variable CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING: expected an https:\/\/ URL/,
  );
  t.match(problems({ logging: {} }, { GCE_METADATA_HOST: 'host/path' })[0], /GCE_METADATA_HOST/);
  t.match(problems({ logging: { endpoint: 'https://user:pw@logging.example.com' } })[0], /without credentials/);
});

t.test('severity names and aliases', async (t) => {
  t.equal(severityOf('warn'), 'WARNING');
  t.equal(severityOf(' Error '), 'ERROR');
  t.equal(severityOf('FATAL'), 'CRITICAL');
  t.equal(severityOf(400), 'WARNING');
  t.equal(severityOf(401), undefined);
  t.equal(severityOf('loud'), undefined);
  t.equal(severityOf(true), undefined);
});
