import t from 'tap';
import { ServiceModel } from '../src/index.js';

const logs = ServiceModel.load('logs-2014-03-28');
const monitoring = ServiceModel.load('monitoring-2010-08-01');

t.test('the shipped models are botocore’s, with constraints', async (t) => {
  t.match(logs.file.source, { package: /botocore/, version: /^\d+\.\d+\.\d+ \([0-9a-f]{8}\)$/ });
  t.equal(logs.targetPrefix, 'Logs_20140328');
  t.equal(logs.jsonVersion, '1.1');
  t.equal(logs.signingName, 'logs');
  t.equal(monitoring.targetPrefix, 'GraniteServiceVersion20100801');
  t.equal(monitoring.jsonVersion, '1.0');
  t.equal(monitoring.signingName, 'monitoring');
  t.match(logs.shape('LogGroupName'), { type: 'string', min: 1, max: 512, pattern: String });
  t.match(logs.shape('InputLogEvents'), { type: 'list', min: 1, max: 10000 });
  t.ok(monitoring.shape('StandardUnit').enum?.includes('Percent'));
  t.same(monitoring.errorInfo('InvalidParameterValueException'), { code: 'InvalidParameterValue', status: 400 });
});

const good = { logGroupName: 'app/web-1', logStreamName: 'ip-10-0-0-1.ec2.internal', logEvents: [{ timestamp: 1, message: 'hello' }] };

t.test('PutLogEvents input: valid and invalid bodies', async (t) => {
  t.same(logs.validateInput('PutLogEvents', good), []);
  const problems = (body: unknown) => logs.validateInput('PutLogEvents', body).map((p) => `${p.kind} ${p.path}: ${p.message}`);
  t.match(problems({ ...good, logEvents: [{ timestamp: 1, message: '' }] }), [
    /^constraint logEvents\.1\.member\.message: Value '' at 'logEvents\.1\.member\.message' failed to satisfy constraint: Member must have length greater than or equal to 1$/,
  ]);
  t.match(problems({ ...good, logGroupName: 'bad name!' }), [/constraint logGroupName: .*regular expression pattern/]);
  t.match(problems({ ...good, logGroupName: 'x'.repeat(513) }), [/less than or equal to 512/]);
  t.match(problems({ ...good, logStreamName: 'a:b' }), [/logStreamName.*pattern/]);
  t.match(problems({ logGroupName: 'g', logStreamName: 's' }), [
    /^missing logEvents: Value null at 'logEvents' failed to satisfy constraint: Member must not be null$/,
  ]);
  t.match(problems({ ...good, logEvents: [] }), [/greater than or equal to 1/]);
  t.match(problems({ ...good, logEvents: Array.from({ length: 10_001 }, () => ({ timestamp: 1, message: 'x' })) }), [/length less than or equal to 10000/]);
  t.match(problems({ ...good, logEvents: [{ timestamp: -1, message: 'x' }] }), [/value greater than or equal to 0/]);
  t.match(problems({ ...good, logEvents: [{ timestamp: '1', message: 'x' }] }), [/^type logEvents\.1\.member\.timestamp/]);
  t.match(problems({ ...good, logEvents: [{ timestamp: 1.5, message: 'x' }] }), [/^type /]);
  t.match(problems({ ...good, logEvents: [{ timestamp: 1, message: null }] }), [/^type .*null/]);
  t.match(problems({ ...good, logEvents: [{ timestamp: 1 }] }), [/^missing logEvents\.1\.member\.message/]);
  t.match(problems({ ...good, sequenceTokn: 'x' }), [/^unknown-member sequenceTokn/]);
  t.same(logs.validateInput('PutLogEvents', { ...good, sequenceTokn: 'x' }, { strictMembers: false }), [], 'unknown members can be allowed');
  t.match(problems([]), [/^type : /]);
  t.ok(problems({ ...good, logEvents: Array.from({ length: 50 }, () => ({ timestamp: 'x', message: '' })) }).length <= 10, 'problems are bounded');
});

t.test('PutMetricData input: enums, sizes, types', async (t) => {
  const datum = { MetricName: 'mem_used', Value: 1, Unit: 'Bytes', Dimensions: [{ Name: 'host', Value: 'h' }], Timestamp: 1767225600.5, StorageResolution: 60 };
  t.same(monitoring.validateInput('PutMetricData', { Namespace: 'CWAgent', MetricData: [datum] }), []);
  const problems = (d: object, ns = 'CWAgent') =>
    monitoring.validateInput('PutMetricData', { Namespace: ns, MetricData: [d] }).map((p) => `${p.kind} ${p.path}`);
  t.same(problems({ ...datum, Unit: 'bytes' }), ['constraint MetricData.1.member.Unit']);
  t.same(problems({ ...datum, Dimensions: Array.from({ length: 31 }, (_, i) => ({ Name: `d${i}`, Value: 'v' })) }), [
    'constraint MetricData.1.member.Dimensions',
  ]);
  t.same(problems({ ...datum, Dimensions: [{ Name: 'host', Value: '' }] }), ['constraint MetricData.1.member.Dimensions.1.member.Value']);
  t.same(problems({ ...datum, Value: '1' }), ['type MetricData.1.member.Value']);
  t.same(problems({ ...datum, Timestamp: '2026-01-01T00:00:00Z' }), ['type MetricData.1.member.Timestamp']);
  t.same(problems({ ...datum, MetricName: undefined }), ['missing MetricData.1.member.MetricName']);
  t.same(problems(datum, ':bad'), ['constraint Namespace']);
  t.same(problems({ ...datum, StorageResolution: 0 }), ['constraint MetricData.1.member.StorageResolution']);
});
