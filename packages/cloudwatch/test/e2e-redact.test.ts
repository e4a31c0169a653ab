/**
 * Credentials never appear in what uk prints or ships, even when the service echoes the request:
 * the CloudWatch Logs emulator is made to answer with the request's session token and
 * Authorization header in its error message (as AWS's signature errors quote the canonical
 * request). The real `uk run` ships to the emulator and to a syslog file; neither they nor stderr
 * hold the secret key or the token, and the messages still say what went wrong. The program's own
 * lines are its business: they arrive unchanged, credential-looking text included.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { IncomingRequest, Reply } from '@uk/testkit';
import { checkBuilt, deliveries, emulators, runUk, secretsOf, tempDir, ukEnv, WAIT_FOR_FILE, writeConfig, writeProgram } from './e2e-helpers.js';

checkBuilt(t);

async function until(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const header = (request: IncomingRequest, name: string): string => String(request.headers[name] ?? '');

t.test('a service that echoes the session token and the Authorization header: no credential in stderr, CloudWatch or the file', async (t) => {
  const dir = tempDir(t);
  const aws = await emulators(t);
  const delivered = deliveries(aws);
  const cloudwatch = aws.cloudwatch as unknown as { handle(request: IncomingRequest): Promise<Reply | 'reset'> };
  const handle = cloudwatch.handle.bind(aws.cloudwatch);
  const echoed: string[] = [];
  // The first PutLogEvents answers 500 quoting the raw token (no field name: only its registration
  // can find it); the next two (the credentials renewal resends once) answer as AWS does to a bad
  // signature, quoting the Authorization header and the canonical headers. Then all is normal.
  let puts = 0;
  cloudwatch.handle = async (request) => {
    if (!header(request, 'x-amz-target').endsWith('.PutLogEvents') || ++puts > 3) return handle(request);
    const token = header(request, 'x-amz-security-token');
    echoed.push(token);
    const error =
      puts === 1
        ? { __type: 'InternalFailure', message: `could not check the security token ${token}` }
        : {
            __type: 'InvalidSignatureException',
            // The Authorization header first: the token after it is cut short by the klib's 300-character
            // limit, and the part shown must go too.
            message: `Authorization=${header(request, 'authorization')} x-amz-security-token:${token}`,
          };
    return { status: error.__type === 'InternalFailure' ? 500 : 400, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify(error) };
  };

  const log = join(dir, 'app.log');
  const programToken = 'Authorization: Bearer the-programs-own-line-0123456789';
  const program = writeProgram(
    dir,
    `${WAIT_FOR_FILE}
for (let i = 0; i < 50; i++) process.stdout.write('line ' + i + '\\n');
process.stdout.write(${JSON.stringify(programToken)} + '\\n');
await waitFor(${JSON.stringify(join(dir, 'go'))});`,
  );
  const config = writeConfig(dir, {
    Klibs: ['tls', 'cloudwatch', 'syslog'],
    ManifestPassthrough: { consoles: ['-serial'], cloudwatch: { logging: { log_group: 'redact', flush_interval: '0.1' } }, syslog: { file: log } },
  });
  const run = runUk(t, { config, program, env: ukEnv(dir, aws), args: ['--verbose'] });
  const programLines = () => delivered.map((d) => d.message).filter((m) => !m.startsWith('uk: '));
  await until(() => programLines().length >= 51, 'the program lines delivered after the faults');
  await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('delivering again'), 'the file to get the messages');
  writeFileSync(join(dir, 'go'), '');
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);

  t.equal(puts > 3, true, `${puts} PutLogEvents calls`);
  t.equal(echoed.length, 3, 'three answers echoed the request');
  t.ok(
    echoed.every((token) => token.length > 100),
    'each carried the session token',
  );
  const secrets = [...secretsOf(aws), ...echoed];
  t.ok(secrets.length >= 2, `${secrets.length} secrets to look for`);
  const file = readFileSync(log, 'utf8');
  const shipped = delivered.map((d) => d.message).join('\n');
  const signatures = /Signature=[0-9a-f]{16,}/;
  for (const [where, text] of [
    ['stderr', result.stderr],
    ['CloudWatch', shipped],
    ['the syslog file', file],
  ] as [string, string][]) {
    for (const secret of new Set(secrets)) t.notOk(text.includes(secret), `${where} does not hold ${secret.slice(0, 8)}…`);
    for (const secret of new Set(secrets)) t.notOk(text.includes(secret.slice(0, 20)), `${where} does not hold a part of it`);
    t.notMatch(text, signatures, `${where} holds no request signature`);
    // cloudwatch's own messages never go into cloudwatch's own driver (a failing destination
    // does not feed on its reports): they are said on stderr and shipped by the other klibs.
    if (where === 'CloudWatch') {
      t.notMatch(text, /uk: cloudwatch:/, 'CloudWatch did not get its own messages');
      continue;
    }
    // What went wrong is still said: the error, the status, and which credentials (the access key id).
    t.match(
      text,
      /uk: cloudwatch: send failed, retrying in [\d.]+ s \(\d+ events waiting\): PutLogEvents: InternalFailure: could not check the security token \[REDACTED\] \(HTTP 500\)/,
      `${where}: the 500, token redacted`,
    );
    t.match(text, /uk: cloudwatch: InvalidSignatureException: renewing credentials and sending again/, `${where}: the renewal`);
    t.match(
      text,
      /PutLogEvents: InvalidSignatureException: Authorization=AWS4-HMAC-SHA256 Credential=\S+, SignedHeaders=\S+, Signature=\[REDACTED\] x-amz-security-token:\[REDACTED\] \(HTTP 400\)/,
      `${where}: the signature error, signature and token redacted`,
    );
    t.match(text, new RegExp(`Authorization=AWS4-HMAC-SHA256 Credential=${aws.imds.credentials.accessKeyId}/`), `${where}: the access key id is kept`);
  }
  t.ok(programLines().includes(programToken), "the program's own line reaches CloudWatch unchanged");
  t.ok(file.split('\n').includes(programToken), 'and the file unchanged');
});
