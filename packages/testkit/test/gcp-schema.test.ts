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
  t.same(ProtoSchema.load('monitoring').httpRule('google.monitoring.v3.MetricService', 'CreateTimeSeries'), { verb: 'POST', path: '/v3/{name=projects/*}/timeSeries', body: '*' });
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
      { insertId: 'c', split: { uid: 'u', index: 1, totalSplits: 2 }, textPayload: 'part', trace: 'projects/p/traces/1', traceSampled: true, sourceLocation: { file: 'a.js', line: '42' } },
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
  const monitoring = ProtoSchema.load('monitoring').check(CREATE, { timeSeries: [{ points: [{ value: { doubleValue: 1, int64Value: '99999999999999999999' } }] }] });
  t.ok(monitoring.some((p) => /64-bit integer/.test(p.message)), 'int64 out of range');
  t.ok(monitoring.some((p) => /Oneof field 'value'/.test(p.message)), 'two values in one point');
});

t.test('RFC 3339 timestamps', async (t) => {
  t.same(parseRfc3339('2026-01-01T00:00:00Z'), { seconds: 1767225600, nanos: 0 });
  t.same(parseRfc3339('2026-01-01T00:00:00.5Z'), { seconds: 1767225600, nanos: 500_000_000 });
  t.same(parseRfc3339('2026-01-01T01:00:00.000000001+01:00'), { seconds: 1767225600, nanos: 1 });
  t.equal(parseRfc3339('2026-02-30T00:00:00Z'), undefined);
  t.equal(parseRfc3339('2026-01-01 00:00:00Z'), undefined);
  t.equal(parseRfc3339('2026-01-01T00:00:00.1234567890Z'), undefined, 'at most nine digits');
});
