/** Every access token the klib obtains (from setup's seed, a refresh or the timer) is registered for redaction. */
import t from 'tap';
import { ManualClock, REDACTED, Secrets, Timers } from '@uk/core';
import { REFRESH_BEFORE_MS, TokenSource } from '../src/credentials.js';

t.test('seeded, refreshed and timer-refreshed tokens are all registered', async (t) => {
  const clock = new ManualClock();
  const secrets = new Secrets();
  let n = 0;
  const token = (i: number) => `ya29.c.token-${i}-b0AXv0zTOabcdefghij`;
  const source = new TokenSource(async () => ({ token: token(++n + 1), expiresInMs: 3600_000 }), new Timers(clock), secrets);
  t.equal(secrets.redact(token(1)), token(1), 'nothing before a token is known');
  source.seed({ token: token(1), expiresInMs: 3600_000 });
  t.equal(await source.refresh(), token(2));
  clock.advance(3600_000 - REFRESH_BEFORE_MS);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(source.fetched, 3, 'the timer fetched the third');
  for (let i = 1; i <= 3; i++) t.equal(secrets.redact(`HTTP 401: token ${token(i)} refused`), `HTTP 401: token ${REDACTED} refused`, `token ${i}`);
  source.stop();
});
