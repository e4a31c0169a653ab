import t from 'tap';
import { ManualClock } from '@uk/testkit';
import { CredentialSource, shareAwsEnv, type AwsCredentials } from '../src/credentials.js';
import { classify, errorTypeOf } from '../src/aws-json.js';

function provider(clock: ManualClock, lifetimeMs: number | undefined) {
  const calls: (boolean | undefined)[] = [];
  let n = 0;
  const fn = async (options?: { forceRefresh?: boolean }): Promise<AwsCredentials> => {
    calls.push(options?.forceRefresh);
    n++;
    return { accessKeyId: `KEY${n}`, secretAccessKey: 's', ...(lifetimeMs !== undefined ? { expiration: new Date(clock.now() + lifetimeMs) } : {}) };
  };
  return { fn, calls };
}

t.test('renews 5 minutes before Expiration, not before', async (t) => {
  const clock = new ManualClock();
  const p = provider(clock, 3600_000);
  const source = new CredentialSource(p.fn, clock);
  t.equal((await source.get()).accessKeyId, 'KEY1');
  clock.advance(3600_000 - 5 * 60_000 - 1000);
  t.equal((await source.get()).accessKeyId, 'KEY1', 'still valid for more than 5 minutes');
  clock.advance(2000);
  t.equal((await source.get()).accessKeyId, 'KEY2', 'renewed within 5 minutes of expiry');
  t.same(p.calls, [undefined, true], 'the renewal bypasses the chain’s cache');
  t.equal(source.refreshes, 2);
});

t.test('forced refresh (ExpiredTokenException) and coalescing', async (t) => {
  const clock = new ManualClock();
  const p = provider(clock, undefined);
  const source = new CredentialSource(p.fn, clock);
  await source.get();
  const [a, b] = await Promise.all([source.refresh(), source.refresh()]);
  t.equal(a.accessKeyId, 'KEY2');
  t.equal(b.accessKeyId, 'KEY2', 'one fetch for concurrent refreshes');
  t.equal((await source.get()).accessKeyId, 'KEY2', 'long-term keys are kept');
});

t.test('soon-expiring credentials are not fetched again on every call', async (t) => {
  const clock = new ManualClock();
  const p = provider(clock, 60_000);
  const source = new CredentialSource(p.fn, clock);
  await source.get();
  await source.get();
  t.equal(p.calls.length, 1, 'just fetched: used although they expire within 5 minutes');
  clock.advance(29_000);
  await source.get();
  t.equal(p.calls.length, 1, 'not fetched again within 30 s');
  clock.advance(1000);
  t.equal((await source.get()).accessKeyId, 'KEY2', 'then renewed');
  clock.advance(60_000);
  t.equal((await source.get()).accessKeyId, 'KEY3', 'expired ones are always renewed');
});

t.test('provider failures become one clear line without secrets', async (t) => {
  const clock = new ManualClock();
  const source = new CredentialSource(async () => {
    throw new Error('Could not load credentials from any providers\nstack details');
  }, clock);
  await t.rejects(source.get(), { message: 'no AWS credentials: Could not load credentials from any providers' });
  const bad = new CredentialSource(async () => ({ accessKeyId: '', secretAccessKey: '' }), clock);
  await t.rejects(bad.get(), /returned no access key/);
});

t.test('the config’s AWS_* variables are shared with the provider chain', async (t) => {
  const target: NodeJS.ProcessEnv = { AWS_REGION: 'a', PATH: '/bin' };
  t.same(shareAwsEnv({ AWS_REGION: 'b', AWS_PROFILE: 'p', HOME: '/x' }, target).sort(), ['AWS_PROFILE', 'AWS_REGION']);
  t.same(target, { AWS_REGION: 'b', AWS_PROFILE: 'p', PATH: '/bin' });
  t.same(shareAwsEnv({ AWS_REGION: 'b' }, target), [], 'nothing when already equal');
});

t.test('error classification', async (t) => {
  t.equal(errorTypeOf('com.amazonaws.cloudwatch#InvalidParameterValueException'), 'InvalidParameterValueException');
  t.equal(errorTypeOf('ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/'), 'ThrottlingException');
  t.equal(classify(400, 'ExpiredTokenException'), 'credentials');
  t.equal(classify(400, 'UnrecognizedClientException'), 'credentials');
  t.equal(classify(400, 'ResourceNotFoundException'), 'not-found');
  t.equal(classify(400, 'ThrottlingException'), 'throttled');
  t.equal(classify(503, 'ServiceUnavailableException'), 'throttled');
  t.equal(classify(500, 'InternalFailure'), 'server');
  t.equal(classify(502, undefined), 'server');
  t.equal(classify(400, 'InvalidParameterException'), 'client');
  t.equal(classify(413, 'RequestEntityTooLargeException'), 'client');
});
