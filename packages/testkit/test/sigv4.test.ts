import t from 'tap';
import { CredentialStore, ManualClock, verifySigV4, type IssuedCredentials } from '../src/index.js';

// AWS's Signature Version 4 test suite, "get-vanilla".
const EXAMPLE: IssuedCredentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: undefined,
  expiration: undefined,
};
const VANILLA = {
  method: 'GET',
  path: '/',
  headers: {
    host: 'example.amazonaws.com',
    'x-amz-date': '20150830T123600Z',
    authorization:
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  },
  body: Buffer.alloc(0),
};

function setup() {
  const clock = new ManualClock(Date.UTC(2015, 7, 30, 12, 36, 0));
  const store = new CredentialStore(clock);
  store.register(EXAMPLE);
  return { clock, store };
}

const scope = { service: 'service', region: 'us-east-1' };

t.test('accepts the get-vanilla example of the AWS test suite', async (t) => {
  const { store } = setup();
  const result = verifySigV4(VANILLA, scope, store);
  t.equal(result.ok, true);
});

t.test('refuses a wrong signature, secret, scope, date or header set', async (t) => {
  const { store, clock } = setup();
  const check = (
    change: (r: { method: string; path: string; headers: Record<string, string>; body: Buffer }) => void,
    type: string,
    message?: RegExp,
    s = scope,
  ) => {
    const request = { ...VANILLA, headers: { ...VANILLA.headers } };
    change(request);
    const result = verifySigV4(request, s, store);
    t.equal(result.ok, false, type);
    if (!result.ok) {
      t.equal(result.type, type);
      if (message) t.match(result.message, message);
    }
  };
  check((r) => (r.headers.authorization = r.headers.authorization!.replace('5fa00f', '5fa00e')), 'InvalidSignatureException', /does not match/);
  check((r) => (r.body = Buffer.from('x')), 'InvalidSignatureException', /does not match/);
  check((r) => (r.path = '/other'), 'InvalidSignatureException');
  check((r) => (r.method = 'POST'), 'InvalidSignatureException');
  check((r) => (r.headers.host = 'example.amazonaws.com:444'), 'InvalidSignatureException');
  check(() => {}, 'InvalidSignatureException', /scoped to a valid region/, { service: 'service', region: 'eu-west-1' });
  check(() => {}, 'InvalidSignatureException', /scoped to correct service: 'logs'/, { service: 'logs', region: 'us-east-1' });
  check((r) => delete r.headers.authorization, 'MissingAuthenticationTokenException');
  check((r) => (r.headers.authorization = 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE'), 'IncompleteSignatureException');
  check((r) => (r.headers.authorization = r.headers.authorization!.replace('host;x-amz-date', 'x-amz-date')), 'IncompleteSignatureException', /Host/);
  check((r) => delete r.headers['x-amz-date'], 'IncompleteSignatureException');
  check((r) => (r.headers['x-amz-content-sha256'] = 'ab'.repeat(32)), 'InvalidSignatureException', /x-amz-content-sha256/);
  check((r) => (r.headers['x-amz-security-token'] = 'token'), 'UnrecognizedClientException');
  check(
    (r) => (r.headers.authorization = r.headers.authorization!.replace('AKIDEXAMPLE', 'AKIDUNKNOWN')),
    'UnrecognizedClientException',
    /security token included in the request is invalid/,
  );
  store.register({ ...EXAMPLE, secretAccessKey: 'another secret' });
  check(() => {}, 'InvalidSignatureException', /does not match/);
  store.register(EXAMPLE);
  clock.advance(5 * 60_000 + 1000);
  check(() => {}, 'InvalidSignatureException', /Signature expired: 20150830T123600Z is now earlier than/);
});

t.test('refuses expired and revoked credentials, and checks the session token', async (t) => {
  const { store } = setup();
  store.expire('AKIDEXAMPLE');
  const expired = verifySigV4(VANILLA, scope, store);
  t.same(expired.ok ? 'ok' : [expired.type, expired.message], ['ExpiredTokenException', 'The security token included in the request is expired']);
  store.revoke('AKIDEXAMPLE');
  const revoked = verifySigV4(VANILLA, scope, store);
  t.same(revoked.ok ? 'ok' : revoked.type, 'UnrecognizedClientException');
  const temporary = store.issue({ ttlMs: 60_000 });
  t.match(temporary.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
  t.ok(temporary.sessionToken);
  t.equal(store.state(temporary.accessKeyId), 'valid');
  (store.clock as ManualClock).advance(60_000);
  t.equal(store.state(temporary.accessKeyId), 'expired', 'temporary credentials expire with the clock');
  t.match(store.issue({ permanent: true }), { accessKeyId: /^AKIA/, sessionToken: undefined, expiration: undefined });
});
