/** Every secret access key and session token the klib obtains, first and renewed, is registered for redaction; access key ids are not. */
import t from 'tap';
import { REDACTED, Secrets } from '@uk/core';
import { ManualClock } from '@uk/testkit';
import { CredentialSource, type AwsCredentials } from '../src/credentials.js';

t.test('the first credentials and every renewal are registered before use', async (t) => {
  const clock = new ManualClock();
  const secrets = new Secrets();
  let n = 0;
  const issued: AwsCredentials[] = [];
  const provider = async (): Promise<AwsCredentials> => {
    n++;
    const credentials = {
      accessKeyId: `ASIAEXAMPLE0000000${n}`,
      secretAccessKey: `secret-key-${n}-wJalrXUtnFEMI/K7MDENG`,
      sessionToken: `session-token-${n}-IQoJb3JpZ2luX2Vj+/=`,
      expiration: new Date(clock.now() + 3600_000),
    };
    // Nothing is registered before the provider answers.
    t.equal(secrets.redact(credentials.secretAccessKey), credentials.secretAccessKey, `credentials ${n} not yet known`);
    issued.push(credentials);
    return credentials;
  };
  const source = new CredentialSource(provider, clock, secrets);
  await source.get();
  await source.refresh();
  clock.advance(3600_000);
  await source.get();
  t.equal(issued.length, 3, 'the first, a forced renewal and a timed one');
  for (const c of issued) {
    t.equal(
      secrets.redact(`key ${c.secretAccessKey} token ${c.sessionToken}`),
      `key ${REDACTED} token ${REDACTED}`,
      `set ${c.accessKeyId}: secret and token redacted`,
    );
    t.equal(secrets.redact(`token=${encodeURIComponent(c.sessionToken as string)}`), `token=${REDACTED}`, 'also URL-encoded');
    t.equal(secrets.redact(`id ${c.accessKeyId}`), `id ${c.accessKeyId}`, 'the access key id stays (an identifier, not a secret)');
  }
});

t.test('long-term keys without a session token; no secrets service is fine too', async (t) => {
  const clock = new ManualClock();
  const secrets = new Secrets();
  const source = new CredentialSource(
    async () => ({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }),
    clock,
    secrets,
  );
  await source.get();
  t.equal(secrets.size, 2, 'the secret key and its URL-encoded form');
  t.equal((await new CredentialSource(async () => ({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'x'.repeat(40) }), clock).get()).accessKeyId, 'AKIAEXAMPLE');
});
