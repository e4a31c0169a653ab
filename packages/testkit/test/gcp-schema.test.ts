import t from 'tap';
import { existsSync } from 'node:fs';
import { parseRfc3339, ProtoSchema, protosJsonPath } from '../src/index.js';

const WRITE = 'google.logging.v2.WriteLogEntriesRequest';
const CREATE = 'google.monitoring.v3.CreateTimeSeriesRequest';

t.test('the official protos.json files are shipped by the Google packages', async (t) => {
  t.ok(existsSync(protosJsonPath('logging')), '@google-cloud/logging-api ships build/protos/protos.json');
  t.ok(existsSync(protosJsonPath('monitoring')), '@google-cloud/monitoring ships build/protos/protos.json');
  const logging = ProtoSchema.load('logging');
  t.same(logging.httpRule('google.logging.v2.LoggingServiceV2', 'WriteLogEntries'), { verb: 'POST', path: '/v2/entries:write', body: '*' });
  t.same(ProtoSchema.load('monitoring').httpRule('google.monitoring.v3.MetricService', 'CreateTimeSeries'), {
    verb: 'POST',
    path: '/v3/{name=projects/*}/timeSeries',
    body: '*',
  });
  t.equal(ProtoSchema.load('logging'), logging, 'loaded once');
});

t.test('valid bodies pass: text, JSON payload, split, labels, snake_case names, int64 as text', async (t) => {
  const schema = ProtoSchema.load('logging');
  const body = {
    logName: 'projects/p/logs/x',
    resource: { type: 'gce_instance', labels: { zone: 'z' } },
    labels: {},
    partialSuccess: true,
    entries: [
      { timestamp: '2026-01-01T00:00:00.123456789Z', insertId: 'a', severity: 'INFO', textPayload: '' },
      { timestamp: '2026-01-01T01:00:00+01:00', insert_id: 'b', severity: 500, jsonPayload: { a: 1, b: [1, 'x', null, { c: true }], n: null, e: {} } },
      {
        insertId: 'c',
        split: { uid: 'u', index: 1, totalSplits: 2 },
        textPayload: 'part',
        trace: 'projects/p/traces/1',
        traceSampled: true,
        sourceLocation: { file: 'a.js', line: '42' },
      },
    ],
  };
  t.same(schema.check(WRITE, body), []);
  const series = {
    timeSeries: [
      {
        metric: { type: 'agent.googleapis.com/memory/bytes_used', labels: { state: 'used' } },
        resource: { type: 'gce_instance', labels: { instance_id: '1234567890123456789', zone: 'z' } },
        points: [{ interval: { endTime: '2026-01-01T00:00:00Z' }, value: { int64Value: '1234567890123456789' } }],
      },
    ],
  };
  t.same(ProtoSchema.load('monitoring').check(CREATE, series), []);
});

t.test('unknown fields, wrong types, bad enums, oneof conflicts, output-only fields are found', async (t) => {
  const schema = ProtoSchema.load('logging');
  const problems = schema.check(WRITE, {
    entries: [
      { textPayload: 'x', jsonPayload: { a: 1 }, foo: 1 },
      { severity: 'LOUD', timestamp: '2026-13-01T00:00:00Z', receiveTimestamp: '2026-01-01T00:00:00Z' },
      { traceSampled: 'yes', labels: { a: 1 } },
      'not an entry',
    ],
    partialSuccess: 'true',
  });
  const paths = problems.map((p) => p.path).sort();
  t.same(paths, [
    'entries[0].foo',
    'entries[0].jsonPayload',
    'entries[1].receiveTimestamp',
    'entries[1].severity',
    'entries[1].timestamp',
    'entries[2].labels["a"]',
    'entries[2].traceSampled',
    'entries[3]',
    'partialSuccess',
  ]);
  t.match(problems.find((p) => p.path === 'entries[0].foo')?.message, /Unknown name "foo" at 'entries\[0\]': Cannot find field/);
  t.match(problems.find((p) => p.path === 'entries[0].jsonPayload')?.message, /Oneof field 'payload' is already set/);
  const monitoring = ProtoSchema.load('monitoring').check(CREATE, {
    timeSeries: [{ points: [{ value: { doubleValue: 1, int64Value: '99999999999999999999' } }] }],
  });
  t.ok(
    monitoring.some((p) => /64-bit integer/.test(p.message)),
    'int64 out of range',
  );
  t.ok(
    monitoring.some((p) => /Oneof field 'value'/.test(p.message)),
    'two values in one point',
  );
});

t.test('RFC 3339 timestamps', async (t) => {
  t.same(parseRfc3339('2026-01-01T00:00:00Z'), { seconds: 1767225600, nanos: 0 });
  t.same(parseRfc3339('2026-01-01T00:00:00.5Z'), { seconds: 1767225600, nanos: 500_000_000 });
  t.same(parseRfc3339('2026-01-01T01:00:00.000000001+01:00'), { seconds: 1767225600, nanos: 1 });
  t.equal(parseRfc3339('2026-02-30T00:00:00Z'), undefined);
  t.equal(parseRfc3339('2026-01-01 00:00:00Z'), undefined);
  t.equal(parseRfc3339('2026-01-01T00:00:00.1234567890Z'), undefined, 'at most nine digits');
});

t.test('every kind of field: well-known types, scalars and their ranges, maps, lists, nested messages', async (t) => {
  const logging = ProtoSchema.load('logging');
  const monitoring = ProtoSchema.load('monitoring');
  const ENTRY = 'google.logging.v2.LogEntry';
  // [schema, type, body, the problems: path and what the message says]
  const cases: [ProtoSchema, string, unknown, [string, RegExp][]][] = [
    [
      logging,
      ENTRY,
      {
        httpRequest: { latency: '1.5s', status: 200, requestSize: '123', cacheHit: true },
        sourceLocation: { line: 42 },
        split: { index: '0', totalSplits: 2 },
      },
      [],
    ],
    [
      logging,
      ENTRY,
      { httpRequest: { latency: '1.5', status: 2 ** 31, requestSize: '12a', responseSize: 2 ** 60, cacheHit: 'yes' } },
      [
        ['httpRequest.latency', /\(type.googleapis.com\/google.protobuf.Duration\), "1.5": expected a duration such as "1.5s"$/],
        ['httpRequest.status', /\(int32\), 2147483648: expected an integer from -2147483648 to 2147483647$/],
        ['httpRequest.requestSize', /\(int64\), "12a": expected a 64-bit integer$/],
        ['httpRequest.responseSize', /\(int64\), 1152921504606847000: expected a 64-bit integer$/],
        ['httpRequest.cacheHit', /\(bool\), "yes": expected true or false$/],
      ],
    ],
    [
      logging,
      ENTRY,
      { http_request: { request_method: 'GET', remote_ip: 1 }, text_payload: 'x', insert_Id: 'y' },
      [
        ['http_request.remote_ip', /^Invalid value at 'http_request.remote_ip' \(string\), 1: expected a string$/],
        ['insert_Id', /Unknown name "insert_Id" at 'body'/],
      ],
    ],
    [
      logging,
      ENTRY,
      { severity: 300, timestamp: '2026-01-01T00:00:00Z', receiveTimestamp: null, labels: null, split: { totalSplits: 1.5 } },
      [
        ['receiveTimestamp', /^Field 'receiveTimestamp' is output only and must not be set$/],
        ['split.totalSplits', /\(int32\), 1.5: expected an integer/],
      ],
    ],
    [
      logging,
      ENTRY,
      { severity: 301, timestamp: 5, labels: ['a'], resource: 'gce_instance', operation: { id: 'o', first: 'true' } },
      [
        ['severity', /\(type.googleapis.com\/google.logging.type.LogSeverity\), 301$/],
        ['timestamp', /expected an RFC 3339 timestamp$/],
        ['labels', /^Invalid value at 'labels', an array: expected a map \(JSON object\)$/],
        ['resource', /\(type.googleapis.com\/google.api.MonitoredResource\), "gce_instance": expected an object$/],
        ['operation.first', /expected true or false$/],
      ],
    ],
    [logging, ENTRY, { protoPayload: { '@type': 'type.googleapis.com/x', a: 1 } }, []],
    [logging, ENTRY, { protoPayload: { a: 1 } }, [['protoPayload', /expected an object with "@type"$/]]],
    [
      logging,
      ENTRY,
      { jsonPayload: { a: Number.NaN, b: [Number.POSITIVE_INFINITY, { c: undefined }], d: () => 1 } },
      [
        ['jsonPayload.a', /a Value number must be finite$/],
        ['jsonPayload.b[0]', /a Value number must be finite$/],
        ['jsonPayload.b[1].c', /undefined is not JSON$/],
        ['jsonPayload.d', /function is not JSON$/],
      ],
    ],
    [logging, ENTRY, { jsonPayload: [1] }, [['jsonPayload', /\(type.googleapis.com\/google.protobuf.Struct\), an array: expected a JSON object$/]]],
    [logging, 'google.protobuf.Duration', '-3.000000001s', []],
    [logging, 'google.protobuf.Duration', '3m', [['', /expected a duration such as "1.5s"$/]]],
    [logging, 'google.protobuf.FieldMask', 'a,b.c', []],
    [logging, 'google.protobuf.FieldMask', ['a'], [['', /an array: expected a comma-separated field mask$/]]],
    [logging, 'google.protobuf.Empty', {}, []],
    [logging, 'google.protobuf.Empty', { a: 1 }, [['', /an object: expected \{\}$/]]],
    [logging, 'google.protobuf.Timestamp', '0000-12-31T23:59:59Z', [['', /expected an RFC 3339 timestamp$/]]],
    [logging, 'google.protobuf.Timestamp', '2026-01-01T00:00:60Z', [['', /expected an RFC 3339 timestamp$/]]],
    [logging, 'google.protobuf.ListValue', [1, 'a', null, true, {}], []],
    [logging, 'google.protobuf.ListValue', { a: 1 }, [['', /expected a JSON array$/]]],
    [logging, 'google.protobuf.Struct', 'x', [['', /"x": expected a JSON object$/]]],
    [monitoring, 'google.protobuf.DoubleValue', 'NaN', []],
    [monitoring, 'google.protobuf.DoubleValue', '-Infinity', []],
    [monitoring, 'google.protobuf.DoubleValue', ' ', [['', /\(double\), " ": expected a number$/]]],
    [monitoring, 'google.protobuf.Int64Value', '-9223372036854775808', []],
    [monitoring, 'google.protobuf.Int64Value', '9223372036854775808', [['', /\(int64\), "9223372036854775808": expected a 64-bit integer in range$/]]],
    [monitoring, 'google.protobuf.Int64Value', '007', []],
    [monitoring, 'google.protobuf.UInt32Value', -1, [['', /\(uint32\), -1: expected an integer from 0 to 4294967295$/]]],
    [monitoring, 'google.protobuf.UInt32Value', '4294967295', []],
    [monitoring, 'google.protobuf.BoolValue', 'true', [['', /\(bool\), "true": expected true or false$/]]],
    [monitoring, 'google.protobuf.StringValue', 1, [['', /\(string\), 1: expected a string$/]]],
    [monitoring, 'google.protobuf.BytesValue', 'aGk=', []],
    [monitoring, 'google.protobuf.BytesValue', 'a b', [['', /\(bytes\), "a b": expected base64 text$/]]],
    [
      monitoring,
      CREATE,
      {
        name: 'projects/p',
        timeSeries: [
          {
            metricKind: 'GAUGE',
            valueType: 'DOUBLE',
            points: [{ interval: { endTime: '2026-01-01T00:00:00Z' }, value: { doubleValue: '1.5', boolValue: true } }],
            metric: { labels: { a: 'b' } },
          },
          'x',
        ],
      },
      [
        ['timeSeries[0].points[0].value.boolValue', /Oneof field 'value' is already set: "doubleValue" and "boolValue" cannot both be set/],
        ['timeSeries[1]', /\(type.googleapis.com\/google.monitoring.v3.TimeSeries\), "x": expected an object$/],
      ],
    ],
    [monitoring, CREATE, { timeSeries: { a: 1 } }, [['timeSeries', /an object: expected a list$/]]],
    [
      monitoring,
      'google.monitoring.v3.TimeSeries',
      {
        points: [
          { value: { distributionValue: { count: '3', mean: 1, bucketCounts: ['1', 2, '-1'], bucketOptions: { explicitBuckets: { bounds: [1, 'x'] } } } } },
        ],
      },
      [['points[0].value.distributionValue.bucketOptions.explicitBuckets.bounds[1]', /\(double\), "x": expected a number$/]],
    ],
  ];
  for (const [schema, type, body, expected] of cases) {
    const problems = schema.check(type, body);
    const label = `${type} ${JSON.stringify(body)?.slice(0, 80)}`;
    t.same(
      problems.map((p) => p.path),
      expected.map(([path]) => path),
      `${label}: where`,
    );
    problems.forEach((p, i) => t.match(p.message, (expected[i] as [string, RegExp])[1], `${label}: ${p.path || 'body'}`));
  }
});

t.test('a Struct nested 100,000 deep is a problem reported, never a stack overflow', async (t) => {
  let objects: Record<string, unknown> = { v: 1 };
  for (let i = 0; i < 100_000; i++) objects = { a: objects };
  let arrays: unknown = [1];
  for (let i = 0; i < 100_000; i++) arrays = [arrays];
  const logging = ProtoSchema.load('logging');
  for (const [what, payload] of [
    ['objects', objects],
    ['arrays', { k: arrays }],
  ] as const) {
    const problems = logging.check('google.logging.v2.WriteLogEntriesRequest', { entries: [{ textPayload: 'fine' }, { jsonPayload: payload }] });
    t.equal(problems.length, 1, what);
    t.match(problems[0]?.message, /^Message too deep: 'entries\[1\]\.jsonPayload[.a-z[\]0-9]*' nests JSON objects or arrays more than 100 levels$/, what);
  }
  const deepest = logging.check('google.logging.v2.WriteLogEntriesRequest', {
    entries: [{ jsonPayload: JSON.parse(`${'{"a":'.repeat(32)}{"v":1}${'}'.repeat(32)}`) as unknown }],
  });
  t.same(deepest, [], 'the 33 levels protobuf decodes pass the schema');
  const monitoring = ProtoSchema.load('monitoring');
  const series = monitoring.check('google.monitoring.v3.CreateTimeSeriesRequest', {
    name: 'projects/p',
    timeSeries: [{ metadata: { systemLabels: objects } }],
  });
  t.match(series[0]?.message, /^Message too deep/, 'Cloud Monitoring bodies too');
});
