/** Secrets: registered values and credential fields become [REDACTED] in uk's messages, and nothing else changes. */
import t from 'tap';
import { MAX_SECRETS, MIN_SECRET_LENGTH, REDACTED, Secrets, SECRET_HEAD } from '../src/redact.js';
import { SecretsService } from '../src/tokens.js';
import { memoryDriver, testKernel } from '../src/testing.js';
import { runUk } from './uk-process.js';

/** Ordinary uk messages: none may change, with or without registered secrets. */
const ORDINARY = [
  'cloudwatch: send failed, retrying in 1.2 s (12 events waiting): PutLogEvents: ThrottlingException: Rate exceeded (HTTP 400)',
  'gcp: entries.write: HTTP 403 PERMISSION_DENIED: Permission denied (check that the instance service account has the role and the access scope the API needs)',
  'syslog: server 10.0.0.5:514 unreachable: ECONNREFUSED; retrying in 2 s',
  'uk.shutdown_timeout: expected a whole number of seconds, got "soon"',
  'stats cloudwatch: sent=1000 dropped=0 credential_refreshes=1',
  'cloudwatch: ExpiredTokenException: renewing credentials and sending again',
  'authorization: denied by policy; token: expired; access_token=short',
  'authorization: forbidden for this role',
  'Basic settings are fine; Bearer tokens are documented',
  'Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/logs/aws4_request, SignedHeaders=host;x-amz-date',
];

t.test('nothing registered: ordinary messages are unchanged', async (t) => {
  const secrets = new Secrets();
  t.equal(secrets.size, 0);
  for (const message of ORDINARY) t.equal(secrets.redact(message), message);
  t.equal(secrets.redact(''), '');
});

t.test('a registered value is replaced wherever it appears, however often, also URL-encoded', async (t) => {
  const secrets = new Secrets();
  const token = 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH+abc=';
  t.ok(secrets.add(token));
  t.equal(secrets.size, 2, 'the value and its URL-encoded form');
  t.equal(secrets.redact(`invalid token ${token}, again:${token}.`), `invalid token ${REDACTED}, again:${REDACTED}.`);
  t.equal(secrets.redact(`?token=${encodeURIComponent(token)}&x=1`), `?token=${REDACTED}&x=1`);
  t.equal(secrets.redact(`${token}${token}`), REDACTED, 'two adjacent copies become one mark');
  for (const message of ORDINARY) t.equal(secrets.redact(message), message, 'ordinary messages still unchanged');
  t.ok(secrets.add(token), 'adding again is harmless');
  t.equal(secrets.size, 2);
});

t.test('a value cut short is redacted down to its first SECRET_HEAD characters', async (t) => {
  const secrets = new Secrets();
  const token = 'ya29.uk-' + 'Q'.repeat(20) + 'abcdefghijklmnopqrstuvwxyz0123456789';
  secrets.add(token);
  const cut = token.slice(0, 40);
  t.equal(secrets.redact(`HTTP 401: token ${cut} (HTTP 401)`), `HTTP 401: token ${REDACTED} (HTTP 401)`, 'a 40-character prefix');
  t.equal(secrets.redact(`token ${token.slice(0, SECRET_HEAD)}!`), `token ${REDACTED}!`, 'exactly the head');
  const short = token.slice(0, SECRET_HEAD - 1);
  t.equal(secrets.redact(`token ${short}!`), `token ${short}!`, 'shorter than the head: too little to matter, and left alone');
  t.equal(secrets.redact(`${token}XYZ`), `${REDACTED}XYZ`, 'the match stops where the text stops agreeing');
});

t.test('overlapping and nested secrets: every character of each is covered', async (t) => {
  const secrets = new Secrets();
  secrets.add('abcdefgh12');
  secrets.add('12345678ZZ');
  t.equal(secrets.redact('x abcdefgh12345678ZZ y'), `x ${REDACTED} y`, 'two overlapping values: one mark over both');
  secrets.add('0123456789abcdef0123');
  secrets.add('6789abcd');
  t.equal(secrets.redact('<0123456789abcdef0123>'), `<${REDACTED}>`, 'a value inside another');
  t.equal(secrets.redact('<6789abcd>'), `<${REDACTED}>`, 'the inner one alone');
  t.equal(secrets.redact('abcdefgh1 and 2345678ZZ'), 'abcdefgh1 and 2345678ZZ', 'fragments of them are not secrets');
});

t.test('regular-expression characters in a secret are taken literally', async (t) => {
  const secrets = new Secrets();
  const odd = 'a.b*c+d?(e)[f]{g}|h\\i^$/-k';
  secrets.add(odd);
  t.equal(secrets.redact(`x${odd}y`), `x${REDACTED}y`);
  t.equal(secrets.redact('aXbbbbcdd(e)[f]{g}|h\\i^$/-k'), 'aXbbbbcdd(e)[f]{g}|h\\i^$/-k', 'a string the value would match as a pattern stays');
  t.equal(secrets.redact('a.b*c+d?'), 'a.b*c+d?', 'nor is a short prefix of it redacted');
});

t.test('short values and non-strings are not registered', async (t) => {
  const secrets = new Secrets();
  t.equal(MIN_SECRET_LENGTH, 8);
  t.notOk(secrets.add('seven77'));
  t.notOk(secrets.add(''));
  t.notOk(secrets.add(undefined));
  t.notOk(secrets.add(null));
  t.equal(secrets.size, 0);
  t.equal(secrets.redact('the word seven77 stays'), 'the word seven77 stays');
  t.ok(secrets.add('eight888'));
  t.equal(secrets.redact('eight888'), REDACTED);
});

t.test('credential fields are redacted without registration; access key ids stay', async (t) => {
  const secrets = new Secrets();
  const cases: [string, string][] = [
    ['Authorization: Bearer ya29.a0AfH6SMBx3abcdefghijkl', `Authorization: Bearer ${REDACTED}`],
    ['{"authorization":"Bearer ya29.a0AfH6SMBx3abcdefghijkl","x":1}', `{"authorization":"Bearer ${REDACTED}","x":1}`],
    ['headers: authorization=Basic dXNlcjpwYXNzd29yZA==', `headers: authorization=Basic ${REDACTED}`],
    ['Proxy-Authorization: Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg', `Proxy-Authorization: Negotiate ${REDACTED}`],
    ['the header said bearer ya29.a0AfH6SMBx3abcdefghijkl, refused', `the header said bearer ${REDACTED}, refused`],
    [
      'Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/logs/aws4_request, SignedHeaders=host;x-amz-security-token, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
      `Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/logs/aws4_request, SignedHeaders=host;x-amz-security-token, Signature=${REDACTED}`,
    ],
    [
      "Canonical String: 'POST\n/\n\nhost:logs\nx-amz-security-token:IQoJb3JpZ2luX2Vj//wEa\nx-amz-target:Logs.PutLogEvents'",
      `Canonical String: 'POST\n/\n\nhost:logs\nx-amz-security-token:${REDACTED}\nx-amz-target:Logs.PutLogEvents'`,
    ],
    [
      'https://h/?X-Amz-Credential=AKIDEXAMPLE%2F20240101&X-Amz-Security-Token=IQoJb3JpZ2lu%2FX2Vj&X-Amz-Signature=abcdef0123456789abcdef',
      `https://h/?X-Amz-Credential=AKIDEXAMPLE%2F20240101&X-Amz-Security-Token=${REDACTED}&X-Amz-Signature=${REDACTED}`,
    ],
    ['X-aws-ec2-metadata-token: AQAEAFT6ZJ9kLzQ1bHk4ZnU=', `X-aws-ec2-metadata-token: ${REDACTED}`],
    ['aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', `aws_secret_access_key = ${REDACTED}`],
    ['AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJr', `AWS_SESSION_TOKEN=${REDACTED}`],
    [
      '{"Code":"Success","AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG","Token":"IQoJb3JpZ2luX2Vj==","Expiration":"2024-01-01T00:00:00Z"}',
      `{"Code":"Success","AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"${REDACTED}","Token":"${REDACTED}","Expiration":"2024-01-01T00:00:00Z"}`,
    ],
    [
      '{"access_token":"ya29.c.b0AXv0zTOabc","expires_in":3599,"token_type":"Bearer"}',
      `{"access_token":"${REDACTED}","expires_in":3599,"token_type":"Bearer"}`,
    ],
    ['client_secret: GOCSPX-abcdefghijkl; refresh_token=1//0gabcdefghijk', `client_secret: ${REDACTED}; refresh_token=${REDACTED}`],
  ];
  for (const [input, output] of cases) t.equal(secrets.redact(input), output, input.slice(0, 40));
});

t.test(`at most ${MAX_SECRETS} values are kept; adding one again keeps it`, async (t) => {
  const secrets = new Secrets();
  const keep = 'static-key-00000000';
  secrets.add(keep);
  // Distinct within their first SECRET_HEAD characters, so that no prefix of one matches another.
  const rotated = (i: number) => `${String(i).padStart(4, '0')}-rotated-token`;
  const first = rotated(0);
  secrets.add(first);
  for (let i = 1; i < MAX_SECRETS + 10; i++) {
    secrets.add(rotated(i));
    secrets.add(keep); // the static key comes back with every refresh
  }
  t.equal(secrets.size, MAX_SECRETS);
  t.equal(secrets.redact(keep), REDACTED, 'the value still in use is kept');
  t.equal(secrets.redact(first), first, 'the oldest rotated value is gone');
  t.equal(secrets.redact(rotated(MAX_SECRETS + 9)), REDACTED, 'the newest is there');
});

t.test('a long message stays linear (bounded repetitions in the patterns)', async (t) => {
  const secrets = new Secrets();
  secrets.add('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
  const spaces = `${'token' + ' '.repeat(1000) + ':'}`.repeat(800);
  const started = performance.now();
  t.equal(secrets.redact(spaces), spaces);
  const ms = performance.now() - started;
  // Quadratic patterns take about 1 s for 200 KB, so some 16 s for these 800 KB; linear ones a
  // few ms. 3 s leaves a slow, loaded CI machine plenty of room and still catches quadratic ones.
  t.ok(ms < 3000, `800 KB of spaced field names in ${ms.toFixed(1)} ms`);
});

t.test('the kernel provides its Secrets, and the kernel log redacts stderr and the records it ships', async (t) => {
  const { kernel, stderr } = testKernel({});
  const records = memoryDriver('memory');
  kernel.console.attach(records);
  const secrets = kernel.services.get(SecretsService);
  t.equal(secrets, kernel.secrets);
  t.equal(secrets, kernel.log.secrets);
  const token = 'ya29.uk-ZXhhbXBsZS10b2tlbi1mb3ItdGVzdHM';
  secrets.add(token);
  kernel.log.error(`gcp: entries.write: HTTP 400 INVALID_ARGUMENT: bad token ${token}\nsecond line ${token}`);
  kernel.log.warn('cloudwatch: Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345');
  t.notMatch(stderr.text, token);
  t.notMatch(stderr.text, 'abcdefghijklmnopqrstuvwxyz012345');
  t.match(stderr.text, `uk: gcp: entries.write: HTTP 400 INVALID_ARGUMENT: bad token ${REDACTED}\nsecond line ${REDACTED}\n`);
  const texts = records.records.map((r) => r.text);
  t.same(texts, [
    `uk: gcp: entries.write: HTTP 400 INVALID_ARGUMENT: bad token ${REDACTED}`,
    `second line ${REDACTED}`,
    `uk: cloudwatch: Authorization: Bearer ${REDACTED}`,
  ]);
  t.ok(records.records.every((r) => r.source === 'kernel'));
});

t.test('errors the CLI prints itself (before the kernel) are redacted too', async (t) => {
  // A config path that carries a credential field (a presigned URL saved as a directory name).
  const path = '/nonexistent/X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJrwEaCXVzLWVhc3QtMSJH/app.json';
  const run = await runUk(['run', '-c', path, '--', 'true']);
  t.equal(run.code, 2);
  t.equal(run.err, `uk: UK_ERR_CONFIG_NOT_FOUND: cannot read config file /nonexistent/X-Amz-Security-Token=${REDACTED}: ENOENT (check the path given to -c)\n`);
});
