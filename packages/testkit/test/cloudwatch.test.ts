import t, { type Test } from 'tap';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchEmulator, ManualClock, startAwsEmulators, type CloudWatchEmulatorOptions, type IssuedCredentials } from '../src/index.js';
import { call } from './helpers.js';

async function start(t: Test, options: CloudWatchEmulatorOptions = {}) {
  const emulator = await new CloudWatchEmulator(options).start();
  t.teardown(() => emulator.close());
  const credentials = emulator.store.issue();
  return { emulator, credentials };
}

const put = (url: string, credentials: IssuedCredentials, logEvents: unknown, extra: object = {}) =>
  call(url, { target: 'Logs_20140328.PutLogEvents', credentials, body: { logGroupName: 'g', logStreamName: 's', logEvents, ...extra } });

t.test('AWS’s own client (@aws-sdk/client-cloudwatch-logs) works against the emulator', async (t) => {
  const { emulator, credentials } = await start(t);
  const client = new CloudWatchLogsClient({
    region: 'us-west-1',
    endpoint: emulator.url,
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken! },
    maxAttempts: 1,
  });
  t.teardown(() => client.destroy());
  await client.send(new CreateLogGroupCommand({ logGroupName: 'app' }));
  await t.rejects(client.send(new CreateLogGroupCommand({ logGroupName: 'app' })), { name: 'ResourceAlreadyExistsException' });
  await client.send(new PutRetentionPolicyCommand({ logGroupName: 'app', retentionInDays: 30 }));
  await t.rejects(client.send(new PutRetentionPolicyCommand({ logGroupName: 'app', retentionInDays: 2 })), { name: 'InvalidParameterException' });
  await client.send(new CreateLogStreamCommand({ logGroupName: 'app', logStreamName: 'host-1' }));
  const now = Date.now();
  const out = await client.send(
    new PutLogEventsCommand({
      logGroupName: 'app',
      logStreamName: 'host-1',
      logEvents: [
        { timestamp: now, message: 'one' },
        { timestamp: now, message: 'two "quoted" \\ ✓' },
      ],
    }),
  );
  t.equal(out.rejectedLogEventsInfo, undefined);
  t.same(emulator.messages('app', 'host-1'), ['one', 'two "quoted" \\ ✓']);
  t.equal(emulator.groups.get('app')?.retentionInDays, 30);
  await t.rejects(client.send(new PutLogEventsCommand({ logGroupName: 'app', logStreamName: 'nope', logEvents: [{ timestamp: now, message: 'x' }] })), {
    name: 'ResourceNotFoundException',
  });

  const wrongKey = new CloudWatchLogsClient({
    region: 'us-west-1',
    endpoint: emulator.url,
    credentials: { accessKeyId: 'AKIAWRONGWRONGWRONG1', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
  t.teardown(() => wrongKey.destroy());
  await t.rejects(wrongKey.send(new CreateLogGroupCommand({ logGroupName: 'other' })), { name: 'UnrecognizedClientException' });
  const wrongRegion = new CloudWatchLogsClient({
    region: 'eu-west-1',
    endpoint: emulator.url,
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken! },
    maxAttempts: 1,
  });
  t.teardown(() => wrongRegion.destroy());
  await t.rejects(wrongRegion.send(new CreateLogGroupCommand({ logGroupName: 'other' })), { name: 'InvalidSignatureException' });
  t.equal(emulator.groups.has('other'), false);
});

t.test('PutLogEvents limits are enforced as the service enforces them', async (t) => {
  const clock = new ManualClock(Date.now());
  const { emulator, credentials } = await start(t, { clock });
  emulator.createLogStream('g', 's');
  const now = clock.now();
  const errorOf = async (events: unknown) => {
    const r = await put(emulator.url, credentials, events);
    return `${r.status} ${r.errorType}: ${String(r.json.message)}`;
  };
  t.match(
    await errorOf([{ timestamp: now, message: '' }]),
    /^400 InvalidParameterException: 1 validation error detected: Value '' at 'logEvents.1.member.message'/,
  );
  t.match(
    await errorOf(Array.from({ length: 10_001 }, () => ({ timestamp: now, message: 'x' }))),
    /^400 InvalidParameterException: .*less than or equal to 10000/,
  );
  // 26 bytes per event count: 8 events of 131,046 bytes fill 1,048,576 exactly; one more byte is too much.
  const exact = Array.from({ length: 8 }, () => ({ timestamp: now, message: 'x'.repeat(131_072 - 26) }));
  t.equal((await put(emulator.url, credentials, exact)).status, 200, 'exactly 1,048,576 bytes is accepted');
  exact[0] = { timestamp: now, message: `${exact[0]!.message}y` };
  t.match(await errorOf(exact), /^400 InvalidParameterException: Upload too large: 1048577 bytes/);
  const multiByte = [{ timestamp: now, message: 'é'.repeat(524_276) }]; // 1,048,552 bytes in UTF-8
  t.match(await errorOf(multiByte), /Upload too large: 1048578/, 'bytes are UTF-8 bytes, not characters');
  // The same message as \u escapes: the body is ASCII, but the message is still 2 bytes a character.
  const escaped = JSON.stringify({ logGroupName: 'g', logStreamName: 's', logEvents: multiByte }).replaceAll('é', '\\u00e9');
  t.ok(
    Buffer.from(escaped).every((byte) => byte < 0x80),
    'the escaped body is ASCII',
  );
  const escapedReply = await call(emulator.url, { target: 'Logs_20140328.PutLogEvents', credentials, body: escaped });
  t.match(
    `${escapedReply.status} ${escapedReply.errorType}: ${String(escapedReply.json.message)}`,
    /^400 InvalidParameterException: Upload too large: 1048578/,
    'escaped characters count as UTF-8 bytes',
  );
  t.match(
    await errorOf([
      { timestamp: now, message: 'b' },
      { timestamp: now - 1, message: 'a' },
    ]),
    /^400 InvalidParameterException: Log events in a single PutLogEvents request must be in chronological order/,
  );
  t.match(
    await errorOf([
      { timestamp: now - 25 * 3600_000, message: 'a' },
      { timestamp: now, message: 'b' },
    ]),
    /^400 InvalidParameterException: The batch of log events in a single PutLogEvents request cannot span more than 24 hours/,
  );

  const r = await put(emulator.url, credentials, [
    { timestamp: now - 15 * 86_400_000, message: 'too old' },
    { timestamp: now - 60_000, message: 'fine 1' },
    { timestamp: now, message: 'fine 2' },
    { timestamp: now + 3 * 3600_000, message: 'too new' },
  ]);
  t.equal(r.status, 200);
  t.same(r.json.rejectedLogEventsInfo, { tooNewLogEventStartIndex: 3, tooOldLogEventEndIndex: 1 });
  t.same(
    emulator.messages('g', 's').filter((m) => m.startsWith('fine') || m.startsWith('too')),
    ['fine 1', 'fine 2'],
    'the valid events are stored, the rejected ones not',
  );

  t.match(
    await errorOf([{ timestamp: now, message: 'x' }]).then(() =>
      put(emulator.url, credentials, [{ timestamp: now, message: 'x' }], { logStreamName: 'missing' }),
    ),
    { errorType: 'ResourceNotFoundException' },
  );
  const typo = await put(emulator.url, credentials, [{ timestamp: now, message: 'x' }], { sequenceTokn: '1' });
  t.equal(typo.errorType, 'SerializationException', 'unknown members are refused');
  const notJson = await call(emulator.url, { target: 'Logs_20140328.PutLogEvents', credentials, body: '{"logGroupName":' });
  t.equal(notJson.errorType, 'SerializationException');
  const wrongType = await call(emulator.url, {
    target: 'Logs_20140328.PutLogEvents',
    credentials,
    body: { logGroupName: 'g', logStreamName: 's', logEvents: [] },
    contentType: 'application/json',
  });
  t.equal(wrongType.errorType, 'SerializationException', 'content type checked');
  const unknown = await call(emulator.url, { target: 'Logs_20140328.StartLiveTail', credentials, body: {} });
  t.equal(unknown.errorType, 'UnknownOperationException');
  t.ok(emulator.errors.length >= 8, 'errors are recorded');
});

t.test('events are read back by timestamp, as GetLogEvents returns them, whatever order the calls came in', async (t) => {
  const { emulator, credentials } = await start(t);
  await call(emulator.url, { target: 'Logs_20140328.CreateLogGroup', credentials, body: { logGroupName: 'g' } });
  await call(emulator.url, { target: 'Logs_20140328.CreateLogStream', credentials, body: { logGroupName: 'g', logStreamName: 's' } });
  const now = Date.now();
  const ev = (dt: number, message: string) => ({ timestamp: now + dt, message });
  for (const events of [[ev(5, 'e'), ev(6, 'f')], [ev(1, 'a'), ev(2, 'b')], [ev(2, 'c'), ev(5, 'd'), ev(9, 'g')], [ev(10, 'h')]]) {
    const res = await put(emulator.url, credentials, events);
    t.equal(res.status, 200);
  }
  t.same(emulator.messages('g', 's'), ['a', 'b', 'c', 'e', 'd', 'f', 'g', 'h'], 'by timestamp; on equal timestamps, the event stored first comes first');
});

t.test('retention expires old events individually', async (t) => {
  const clock = new ManualClock(Date.now());
  const { emulator, credentials } = await start(t, { clock });
  emulator.createLogGroup('g', 1);
  emulator.createLogStream('g', 's');
  const now = clock.now();
  const r = await put(emulator.url, credentials, [
    { timestamp: now - 2 * 86_400_000, message: 'expired' },
    { timestamp: now, message: 'kept' },
  ]);
  t.same(r.json.rejectedLogEventsInfo, { expiredLogEventEndIndex: 1 });
  t.same(emulator.messages('g', 's'), ['kept']);
});

t.test('signatures and credentials are checked on every request', async (t) => {
  const { emulator, credentials } = await start(t);
  emulator.createLogStream('g', 's');
  const ok = await put(emulator.url, credentials, [{ timestamp: Date.now(), message: 'x' }]);
  t.equal(ok.status, 200);
  const tampered = await call(emulator.url, {
    target: 'Logs_20140328.PutLogEvents',
    credentials,
    body: { logGroupName: 'g', logStreamName: 's', logEvents: [{ timestamp: Date.now(), message: 'x' }] },
    tamper: (r) => (r.body = r.body.replace('"x"', '"y"')),
  });
  t.equal(tampered.errorType, 'InvalidSignatureException');
  const old = await call(emulator.url, {
    target: 'Logs_20140328.CreateLogGroup',
    credentials,
    body: { logGroupName: 'h' },
    signingDate: new Date(Date.now() - 10 * 60_000),
  });
  t.equal(old.errorType, 'InvalidSignatureException');
  t.match(old.json.message, /Signature expired/);
  const asMetrics = await call(emulator.url, {
    target: 'Logs_20140328.CreateLogGroup',
    credentials,
    body: { logGroupName: 'h' },
    service: 'monitoring',
    contentType: 'application/x-amz-json-1.1',
  });
  t.equal(asMetrics.errorType, 'InvalidSignatureException', 'Logs requests must be signed for the logs service');
  emulator.store.expire(credentials.accessKeyId);
  const expired = await put(emulator.url, credentials, [{ timestamp: Date.now(), message: 'x' }]);
  t.same([expired.status, expired.errorType], [400, 'ExpiredTokenException']);
  t.equal(emulator.messages('g', 's').length, 1, 'nothing stored by refused requests');
});

t.test('PutMetricData over AWS JSON 1.0', async (t) => {
  const { emulator, credentials } = await start(t);
  const datum = (name: string, value: number, unit: string) => ({
    MetricName: name,
    Dimensions: [{ Name: 'host', Value: 'ip-1' }],
    Value: value,
    Unit: unit,
    StorageResolution: 60,
    Timestamp: Date.now() / 1000,
  });
  const send = (body: unknown) => call(emulator.url, { target: 'GraniteServiceVersion20100801.PutMetricData', credentials, body });
  const ok = await send({ Namespace: 'CWAgent', MetricData: [datum('mem_used', 1024, 'Bytes'), datum('mem_used_percent', 12.5, 'Percent')] });
  t.equal(ok.status, 200, ok.text);
  t.same(
    emulator.metrics.map((m) => [m.namespace, m.metricName, m.value, m.unit, m.dimensions]),
    [
      ['CWAgent', 'mem_used', 1024, 'Bytes', [{ Name: 'host', Value: 'ip-1' }]],
      ['CWAgent', 'mem_used_percent', 12.5, 'Percent', [{ Name: 'host', Value: 'ip-1' }]],
    ],
  );
  const bad = async (body: unknown) => {
    const r = await send(body);
    t.equal(r.headers.get('x-amzn-query-error')?.split(';')[1], r.status >= 500 ? 'Receiver' : 'Sender');
    return r.errorType;
  };
  t.equal(await bad({ Namespace: 'CWAgent', MetricData: [datum('m', 1, 'Bytez')] }), 'InvalidParameterValueException');
  t.equal(await bad({ Namespace: 'CWAgent', MetricData: [{ MetricName: 'm', Unit: 'Bytes' }] }), 'InvalidParameterCombinationException');
  t.equal(await bad({ Namespace: 'CWAgent', MetricData: [{ ...datum('m', 1, 'Bytes'), StorageResolution: 5 }] }), 'InvalidParameterValueException');
  t.equal(
    await bad({ Namespace: 'CWAgent', MetricData: [{ ...datum('m', 1, 'Bytes'), Timestamp: Date.now() / 1000 - 15 * 86_400 }] }),
    'InvalidParameterValueException',
  );
  t.equal(await bad({ Namespace: 'AWS/EC2', MetricData: [datum('m', 1, 'Bytes')] }), 'InvalidParameterValueException');
  t.equal(await bad({ Namespace: 'CWAgent', MetricData: Array.from({ length: 1001 }, () => datum('m', 1, 'Bytes')) }), 'InvalidParameterValueException');
  t.equal(await bad({ MetricData: [datum('m', 1, 'Bytes')] }), 'MissingRequiredParameterException');
  t.equal(await bad({ Namespace: 'CWAgent', MetricData: [{ ...datum('m', 1, 'Bytes'), Value: null }] }), 'SerializationException');
  t.equal(emulator.metrics.length, 2, 'nothing stored from refused requests');
});

t.test('faults: throttling, 5xx, resets, delays, expired tokens, deleted streams', async (t) => {
  const { emulator, credentials } = await start(t);
  emulator.createLogStream('g', 's');
  const event = () => [{ timestamp: Date.now(), message: 'x' }];
  emulator.faults.add({ kind: 'throttle' }, { match: 'PutLogEvents' });
  t.same([(await put(emulator.url, credentials, event())).errorType], ['ThrottlingException']);
  emulator.faults.add({ kind: 'error', status: 503, type: 'ServiceUnavailableException' }, { times: 2 });
  t.equal((await put(emulator.url, credentials, event())).status, 503);
  t.equal((await put(emulator.url, credentials, event())).status, 503);
  emulator.faults.add({ kind: 'expired-token' });
  t.equal((await put(emulator.url, credentials, event())).errorType, 'ExpiredTokenException');
  emulator.faults.add({ kind: 'reset' });
  await t.rejects(put(emulator.url, credentials, event()));
  emulator.faults.add({ kind: 'delay', ms: 300 });
  const started = performance.now();
  t.equal((await put(emulator.url, credentials, event())).status, 200);
  t.ok(performance.now() - started >= 290, 'answered late');
  t.equal(emulator.messages('g', 's').length, 1, 'only the delayed request stored its event');
  t.same(emulator.faults.applied, { error: 2, throttle: 1, reset: 1, delay: 1, 'expired-token': 1, hang: 0, slow: 0, 'lose-answer': 0 });
  emulator.deleteLogStream('g', 's');
  t.equal((await put(emulator.url, credentials, event())).errorType, 'ResourceNotFoundException');
  t.same(
    emulator.requests.map((r) => r.errorType ?? r.status),
    [
      'ThrottlingException',
      'ServiceUnavailableException',
      'ServiceUnavailableException',
      'ExpiredTokenException',
      'ConnectionReset',
      200,
      'ResourceNotFoundException',
    ],
    'every request is recorded',
  );
  await emulator.waitFor(() => emulator.requests.length >= 7);
  await t.rejects(
    emulator.waitFor(() => false, { timeoutMs: 50, what: 'nothing' }),
    /timed out waiting for nothing/,
  );
});

t.test('startAwsEmulators shares credentials between IMDS and CloudWatch', async (t) => {
  const aws = await startAwsEmulators({ region: 'eu-central-1' });
  t.teardown(() => aws.close());
  t.same(Object.keys(aws.env).sort(), ['AWS_EC2_METADATA_SERVICE_ENDPOINT', 'AWS_ENDPOINT_URL_CLOUDWATCH', 'AWS_ENDPOINT_URL_CLOUDWATCH_LOGS']);
  const r = await call(aws.cloudwatch.url, {
    target: 'Logs_20140328.CreateLogGroup',
    credentials: aws.imds.credentials,
    body: { logGroupName: 'x' },
    region: 'eu-central-1',
  });
  t.equal(r.status, 200, 'role credentials from IMDS are accepted by CloudWatch');
  t.equal(aws.imds.region, 'eu-central-1');
});
