import t from 'tap';
import { Tuple, type UkError } from '@uk/core';
import { readCloudwatchOptions, sanitizeLogGroup, sanitizeLogStream } from '../src/options.js';

const read = (tuple: Record<string, unknown>, env: Record<string, string> = {}) =>
  readCloudwatchOptions({ config: Tuple.fromJSON(tuple, 'cloudwatch'), env, manifest: Tuple.empty(), cloudConfig: Tuple.empty('CloudConfig') });
const problems = (tuple: Record<string, unknown>, env: Record<string, string> = {}): string[] => {
  try {
    read(tuple, env);
    return [];
  } catch (err) {
    const e = err as UkError;
    return (e.problems.length > 0 ? e.problems : [e]).map((p) => `${p.code} ${p.message}`);
  }
};

t.test('Nanos configuration and defaults', async (t) => {
  t.same(
    read({}),
    { memMetricsIntervalMs: undefined, logging: undefined, logsEndpoint: undefined, metricsEndpoint: undefined, requestTimeoutMs: 30_000 },
    'an empty tuple turns everything off',
  );
  t.same(read({ mem_metrics_interval: '60' }).memMetricsIntervalMs, 60_000);
  t.same(read({ mem_metrics_interval: 5 }).memMetricsIntervalMs, 5000, 'numbers are accepted, as Ops writes them as strings');
  t.same(read({ logging: {} }).logging, {
    logGroup: undefined,
    logStream: undefined,
    retentionDays: undefined,
    flushIntervalMs: 1000,
    bufferBytes: 8 * 1024 * 1024,
    backpressure: true,
  });
  t.same(read({ logging: { log_group: 'ian-test', log_stream: 'my_log_stream' } }).logging, {
    logGroup: 'ian-test',
    logStream: 'my_log_stream',
    retentionDays: undefined,
    flushIntervalMs: 1000,
    bufferBytes: 8 * 1024 * 1024,
    backpressure: true,
  });
  t.same(read({ logging: { retention_days: '30', flush_interval: '0.25', buffer_size: '16m', backpressure: false } }).logging, {
    logGroup: undefined,
    logStream: undefined,
    retentionDays: 30,
    flushIntervalMs: 250,
    bufferBytes: 16 * 1024 * 1024,
    backpressure: false,
  });
  t.match(problems({ logging: { backpressure: 'maybe' } }), [/cloudwatch\.logging\.backpressure: expected true or false/]);
});

t.test('every invalid value is reported with a clear error', async (t) => {
  t.equal(read({ request_timeout: '2.5' }).requestTimeoutMs, 2500, 'request_timeout in seconds');
  t.match(problems({ request_timeout: '0' }), [/^UK_ERR_MANIFEST_VALUE cloudwatch\.request_timeout: expected a number of seconds from 1 to 600, got "0"$/]);
  t.match(problems({ mem_metrics_interval: 'often' }), [
    /^UK_ERR_MANIFEST_VALUE CloudWatch: invalid memory metrics interval \(cloudwatch\.mem_metrics_interval: expected a whole number of seconds from 1 to 86400, got "often"\)$/,
  ]);
  t.match(problems({ mem_metrics_interval: '0' }), [/CloudWatch: invalid memory metrics interval/]);
  t.match(problems({ mem_metrics_interval: '-5' }), [/CloudWatch: invalid memory metrics interval/]);
  t.match(problems({ mem_metrics_interval: { x: 1 } }), [/CloudWatch: invalid memory metrics interval/]);
  t.match(problems({ interval: '5' }), [/^UK_ERR_OPTION_UNKNOWN cloudwatch: invalid option 'interval'$/]);
  t.match(problems({ logging: { group: 'x' } }), [/^UK_ERR_OPTION_UNKNOWN cloudwatch\.logging: invalid option 'group'$/]);
  t.match(problems({ logging: 'yes' }), [/cloudwatch\.logging: expected a tuple/]);
  t.match(problems({ logging: { log_group: 'bad group!' } }), [/cloudwatch\.logging\.log_group: "bad group!" is not a valid log group name/]);
  t.match(problems({ logging: { log_group: '' } }), [/log_group: "" is not a valid log group name/]);
  t.match(problems({ logging: { log_group: 'x'.repeat(513) } }), [/not a valid log group name/]);
  t.match(problems({ logging: { log_stream: 'a:b' } }), [/cloudwatch\.logging\.log_stream: "a:b" is not a valid log stream name/]);
  t.match(problems({ logging: { log_stream: 'a*' } }), [/not a valid log stream name/]);
  t.match(problems({ logging: { retention_days: '2' } }), [/cloudwatch\.logging\.retention_days: CloudWatch Logs does not allow a retention of "2" days/]);
  t.match(problems({ logging: { retention_days: 'forever' } }), [/does not allow a retention of "forever"/]);
  t.match(problems({ logging: { flush_interval: '0' } }), [/flush_interval: expected a number of seconds from 0.01 to 600, got "0"/]);
  t.match(problems({ logging: { flush_interval: 'soon' } }), [/flush_interval/]);
  t.match(problems({ logging: { buffer_size: '1k' } }), [/buffer_size: expected a size from 2097152/]);
  t.match(problems({ logs_endpoint: 'ftp://x' }), [/cloudwatch\.logs_endpoint: expected an http:\/\/ or https:\/\/ URL/]);
  t.match(problems({ metrics_endpoint: 'https://user:pw@host' }), [/must not carry credentials/]);
  t.match(problems({}, { AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: 'not a url' }), [/^UK_ERR_MANIFEST_VALUE AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: expected an http/]);
  t.match(problems({}, { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'nope' }), [/AWS_EC2_METADATA_SERVICE_ENDPOINT: expected/]);
  const all = problems({ mem_metrics_interval: 'x', bogus: 1, logging: { retention_days: '2', flush_interval: '0' } });
  t.equal(all.length, 4, 'all problems at once, for uk validate');
});

t.test('endpoints: config, then the service variable, then AWS_ENDPOINT_URL', async (t) => {
  t.same(read({}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:9/' }), {
    memMetricsIntervalMs: undefined,
    logging: undefined,
    logsEndpoint: 'http://127.0.0.1:9',
    metricsEndpoint: 'http://127.0.0.1:9',
    requestTimeoutMs: 30_000,
  });
  const o = read(
    { logs_endpoint: 'https://logs.example' },
    { AWS_ENDPOINT_URL: 'http://a', AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: 'http://b', AWS_ENDPOINT_URL_CLOUDWATCH: 'http://c' },
  );
  t.equal(o.logsEndpoint, 'https://logs.example');
  t.equal(o.metricsEndpoint, 'http://c');
});

t.test('derived names are made valid', async (t) => {
  t.equal(sanitizeLogGroup('my app (v2)'), 'my_app__v2_');
  t.equal(sanitizeLogGroup(''), 'uk');
  t.equal(sanitizeLogStream('host:1*'), 'host_1_');
});
