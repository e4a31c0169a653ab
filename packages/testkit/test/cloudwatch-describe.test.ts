import t, { type Test } from 'tap';
import { CloudWatchLogs, CloudWatchLogsClient, DescribeLogGroupsCommand, DescribeLogStreamsCommand } from '@aws-sdk/client-cloudwatch-logs';
import winston from 'winston';
import WinstonCloudWatch from 'winston-cloudwatch';
import { CloudWatchEmulator, ServiceModel, type CloudWatchEmulatorOptions, type IssuedCredentials } from '../src/index.js';
import { call } from './helpers.js';

const model = ServiceModel.load('logs-2014-03-28');

async function start(t: Test, options: CloudWatchEmulatorOptions = {}) {
  const emulator = await new CloudWatchEmulator(options).start();
  t.teardown(() => emulator.close());
  const credentials = emulator.store.issue();
  return { emulator, credentials };
}

function sdk(t: Test, url: string, credentials: IssuedCredentials) {
  const client = new CloudWatchLogsClient({
    region: 'us-west-1',
    endpoint: url,
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken! },
    maxAttempts: 1,
  });
  t.teardown(() => client.destroy());
  return client;
}

const describeStreams = (url: string, credentials: IssuedCredentials, body: unknown) =>
  call(url, { target: 'Logs_20140328.DescribeLogStreams', credentials, body });
const describeGroups = (url: string, credentials: IssuedCredentials, body: unknown) =>
  call(url, { target: 'Logs_20140328.DescribeLogGroups', credentials, body });

t.test('DescribeLogStreams: filters, order, paging, and answers that fit the model', async (t) => {
  const { emulator, credentials } = await start(t);
  emulator.createLogGroup('app', 30);
  for (const name of ['web-2', 'web-1', 'worker', 'web-3']) emulator.createLogStream('app', name);
  const now = Date.now();
  const put = (stream: string, timestamp: number) =>
    call(emulator.url, {
      target: 'Logs_20140328.PutLogEvents',
      credentials,
      body: { logGroupName: 'app', logStreamName: stream, logEvents: [{ timestamp, message: `to ${stream}` }] },
    });
  t.equal((await put('worker', now - 2000)).status, 200);
  t.equal((await put('web-1', now - 1000)).status, 200);
  t.equal((await put('web-1', now)).status, 200);

  const client = sdk(t, emulator.url, credentials);
  const all = await client.send(new DescribeLogStreamsCommand({ logGroupName: 'app' }));
  t.same(
    all.logStreams?.map((s) => s.logStreamName),
    ['web-1', 'web-2', 'web-3', 'worker'],
    'ordered by name',
  );
  const web1 = all.logStreams?.[0];
  t.equal(web1?.firstEventTimestamp, now - 1000);
  t.equal(web1?.lastEventTimestamp, now);
  t.ok(typeof web1?.lastIngestionTime === 'number' && typeof web1.creationTime === 'number');
  t.equal(web1?.arn, `arn:aws:logs:us-west-1:${emulator.accountId}:log-group:app:log-stream:web-1`);
  t.equal(all.logStreams?.[1]?.firstEventTimestamp, undefined, 'a stream without events has no event times');
  t.equal(all.nextToken, undefined);

  const prefixed = await client.send(new DescribeLogStreamsCommand({ logGroupName: 'app', logStreamNamePrefix: 'web-', descending: true }));
  t.same(
    prefixed.logStreams?.map((s) => s.logStreamName),
    ['web-3', 'web-2', 'web-1'],
  );
  const byTime = await client.send(
    new DescribeLogStreamsCommand({
      logGroupIdentifier: `arn:aws:logs:us-west-1:${emulator.accountId}:log-group:app`,
      orderBy: 'LastEventTime',
      descending: true,
    }),
  );
  t.same(
    byTime.logStreams?.map((s) => s.logStreamName),
    ['web-1', 'worker', 'web-3', 'web-2'],
    'by last event time, by ARN',
  );

  const names: string[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const page = await client.send(new DescribeLogStreamsCommand({ logGroupName: 'app', limit: 3, ...(nextToken ? { nextToken } : {}) }));
    names.push(...(page.logStreams ?? []).map((s) => s.logStreamName as string));
    nextToken = page.nextToken;
    pages++;
  } while (nextToken);
  t.same([names, pages], [['web-1', 'web-2', 'web-3', 'worker'], 2], 'paged by limit');

  const raw = await describeStreams(emulator.url, credentials, { logGroupName: 'app' });
  t.same(model.validateOutput('DescribeLogStreams', raw.json), [], 'the answer fits the output shape');
});

t.test('DescribeLogStreams refuses what the service refuses', async (t) => {
  const { emulator, credentials } = await start(t);
  emulator.createLogStream('app', 's');
  const errorOf = async (body: unknown) => {
    const r = await describeStreams(emulator.url, credentials, body);
    return `${r.status} ${r.errorType}: ${String(r.json.message)}`;
  };
  t.match(await errorOf({}), /^400 InvalidParameterException: Either logGroupName or logGroupIdentifier/);
  t.match(await errorOf({ logGroupName: 'app', logGroupIdentifier: 'app' }), /^400 InvalidParameterException: Either logGroupName or logGroupIdentifier/);
  t.match(await errorOf({ logGroupName: 'nope' }), /^400 ResourceNotFoundException/);
  t.match(
    await errorOf({ logGroupName: 'app', limit: 51 }),
    /^400 InvalidParameterException: 1 validation error detected: Value 51 at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50/,
  );
  t.match(await errorOf({ logGroupName: 'app', orderBy: 'Size' }), /^400 InvalidParameterException: .*enum value set: \[LogStreamName, LastEventTime\]/);
  t.match(
    await errorOf({ logGroupName: 'app', orderBy: 'LastEventTime', logStreamNamePrefix: 's' }),
    /^400 InvalidParameterException: Cannot order by LastEventTime with a logStreamNamePrefix/,
  );
  t.match(await errorOf({ logGroupName: 'app', nextToken: 'bm9wZQ' }), /^400 InvalidParameterException: The specified nextToken is invalid/);
  t.match(await errorOf({ logGroupName: 'app', logStreamNamePrefx: 's' }), /^400 SerializationException: Unknown member/);
  t.match(
    await errorOf({ logGroupIdentifier: 'arn:aws:logs:eu-west-1:123456789012:log-group:app' }),
    /^400 ResourceNotFoundException/,
    'another region’s group',
  );
  const tampered = await call(emulator.url, {
    target: 'Logs_20140328.DescribeLogStreams',
    credentials,
    body: { logGroupName: 'app' },
    tamper: (r) => (r.body = r.body.replace('app', 'ap2')),
  });
  t.equal(tampered.errorType, 'InvalidSignatureException', 'signatures are checked');
  t.same(
    emulator.calls('DescribeLogStreams').map((r) => r.status),
    [400, 400, 400, 400, 400, 400, 400, 400, 400, 400],
  );
});

t.test('DescribeLogGroups: prefix, pattern, identifiers, paging', async (t) => {
  const { emulator, credentials } = await start(t);
  for (const name of ['/app/web', '/app/worker', 'other', '/APP/upper']) emulator.createLogGroup(name);
  emulator.groups.get('other')!.retentionInDays = 7;
  const client = sdk(t, emulator.url, credentials);
  const all = await client.send(new DescribeLogGroupsCommand({}));
  t.same(
    all.logGroups?.map((g) => g.logGroupName),
    ['/APP/upper', '/app/web', '/app/worker', 'other'],
  );
  const other = all.logGroups?.[3];
  t.same(
    [other?.retentionInDays, other?.logGroupArn, other?.arn, other?.logGroupClass],
    [7, `arn:aws:logs:us-west-1:${emulator.accountId}:log-group:other`, `arn:aws:logs:us-west-1:${emulator.accountId}:log-group:other:*`, 'STANDARD'],
  );
  t.same(
    (await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/app/' }))).logGroups?.map((g) => g.logGroupName),
    ['/app/web', '/app/worker'],
  );
  t.same(
    (await client.send(new DescribeLogGroupsCommand({ logGroupNamePattern: 'app' }))).logGroups?.map((g) => g.logGroupName),
    ['/APP/upper', '/app/web', '/app/worker'],
    'patterns match case-insensitively',
  );
  t.same(
    (
      await client.send(new DescribeLogGroupsCommand({ logGroupIdentifiers: ['other', `arn:aws:logs:us-west-1:${emulator.accountId}:log-group:/app/web`] }))
    ).logGroups?.map((g) => g.logGroupName),
    ['/app/web', 'other'],
  );
  const first = await client.send(new DescribeLogGroupsCommand({ limit: 3 }));
  t.equal(first.logGroups?.length, 3);
  const second = await client.send(new DescribeLogGroupsCommand({ limit: 3, nextToken: first.nextToken! }));
  t.same([second.logGroups?.map((g) => g.logGroupName), second.nextToken], [['other'], undefined]);
  const wrongQuery = await describeGroups(emulator.url, credentials, { limit: 3, logGroupNamePrefix: '/', nextToken: first.nextToken });
  t.equal(wrongQuery.errorType, 'InvalidParameterException', 'a token only pages the query it came from');
  const both = await describeGroups(emulator.url, credentials, { logGroupNamePrefix: '/app', logGroupNamePattern: 'app' });
  t.match(String(both.json.message), /mutually exclusive/);
  const tooMany = await describeGroups(emulator.url, credentials, { limit: 0 });
  t.match(String(tooMany.json.message), /Member must have value greater than or equal to 1/);
  const raw = await describeGroups(emulator.url, credentials, {});
  t.same(model.validateOutput('DescribeLogGroups', raw.json), [], 'the answer fits the output shape');
});

t.test('winston-cloudwatch ships to the emulator (DescribeLogStreams, CreateLogGroup/Stream, PutLogEvents with tokens)', async (t) => {
  const { emulator, credentials } = await start(t);
  // winston-cloudwatch takes the SDK's aggregated client (methods per operation).
  const client = new CloudWatchLogs({
    region: 'us-west-1',
    endpoint: emulator.url,
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken! },
    maxAttempts: 1,
  });
  t.teardown(() => client.destroy());
  const transport = new WinstonCloudWatch({
    logGroupName: 'winston',
    logStreamName: 'host-1',
    cloudWatchLogs: client,
    messageFormatter: (info) => String(info.message),
    uploadRate: 50,
  });
  const logger = winston.createLogger({ transports: [transport] });
  // Its upload timer keeps running until kthxbye.
  t.teardown(() => new Promise<void>((resolve) => transport.kthxbye(() => resolve())));
  const lines = ['first', 'second "quoted" \\ ✓', 'third'];
  for (const line of lines) logger.info(line);
  await emulator.waitFor(() => emulator.messages('winston', 'host-1').length >= 3, { what: 'three events' });
  logger.info('fourth');
  await new Promise<void>((resolve, reject) => transport.kthxbye((err) => (err ? reject(err) : resolve())));
  // winston-cloudwatch sorts each batch with a comparator that is never 0, so lines logged in the
  // same millisecond may arrive in another order: compare as sets.
  t.same([...emulator.messages('winston', 'host-1')].sort(), [...lines, 'fourth'].sort());
  t.ok(emulator.calls('DescribeLogStreams').length >= 2, 'it looked the group and the stream up');
  t.same(
    emulator.calls('CreateLogGroup').map((r) => r.status),
    [200],
  );
  t.same(
    emulator.calls('CreateLogStream').map((r) => r.status),
    [200],
  );
  // It looks the group up before creating it: the first DescribeLogStreams finds none.
  t.same(
    emulator.errors.map((r) => `${r.operation} ${r.errorType}`),
    ['DescribeLogStreams ResourceNotFoundException'],
    'nothing else refused',
  );
  logger.close();
});

t.test('validateEvery samples the model checks; signatures and limits are always checked', async (t) => {
  const body = (extra: object = {}) => ({ logGroupName: 'g', logStreamName: 's', logEvents: [{ timestamp: Date.now(), message: 'x' }], ...extra });
  const send = (url: string, credentials: IssuedCredentials, b: unknown) => call(url, { target: 'Logs_20140328.PutLogEvents', credentials, body: b });
  {
    const { emulator, credentials } = await start(t, { validateEvery: 0 });
    emulator.createLogStream('g', 's');
    t.equal((await send(emulator.url, credentials, body({ sequenceTokn: '1' }))).status, 200, 'model checks off');
    const tooMany = await send(
      emulator.url,
      credentials,
      body({
        logEvents: [
          { timestamp: Date.now(), message: 'b' },
          { timestamp: Date.now() - 1, message: 'a' },
        ],
      }),
    );
    t.equal(tooMany.errorType, 'InvalidParameterException', 'service rules still checked');
    const tampered = await call(emulator.url, {
      target: 'Logs_20140328.PutLogEvents',
      credentials,
      body: body(),
      tamper: (r) => (r.body = r.body.replace('"x"', '"y"')),
    });
    t.equal(tampered.errorType, 'InvalidSignatureException', 'signatures still checked');
    t.equal((await send(emulator.url, credentials, '[1]')).errorType, 'SerializationException');
  }
  {
    const { emulator, credentials } = await start(t, { validateEvery: 2 });
    emulator.createLogStream('g', 's');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(emulator.url, credentials, body({ sequenceTokn: '1' }))).status);
    t.same(statuses, [400, 200, 400, 200], 'every second body checked');
  }
  t.throws(() => new CloudWatchEmulator({ validateEvery: -1 }), /validateEvery/);
});
