/**
 * Checks a request's AWS Signature Version 4 as the services do, computing the expected signature
 * with the `aws4` package (an implementation independent of @smithy/signature-v4, which the
 * klibs use), so that a signer bug cannot hide behind the same bug in the checker.
 *
 * Checked: the Authorization header's form, the credential scope (date, region, service), that
 * `host` and `x-amz-date` are signed, the clock skew (5 minutes), the access key (known, not
 * expired, revoked), the session token, the body hash when `x-amz-content-sha256` is sent, and
 * the signature itself over exactly the headers the client says it signed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import aws4 from 'aws4';
import type { CredentialStore, IssuedCredentials } from './credentials.js';

export interface SignedRequest {
  readonly method: string;
  /** Path and query as sent (`req.url`). */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface AuthFailure {
  readonly ok: false;
  readonly status: number;
  readonly type: string;
  readonly message: string;
}

export interface AuthSuccess {
  readonly ok: true;
  readonly credentials: IssuedCredentials;
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{8})T(\d{6})Z$/;
/** Headers aws4 leaves out unless told to include them. */
const AWS4_IGNORED = ['authorization', 'connection', 'x-amzn-trace-id', 'user-agent', 'expect', 'presigned-expires', 'range'];
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

function fail(type: string, message: string, status = 400): AuthFailure {
  return { ok: false, status, type, message };
}

function amzDateToMs(text: string): number {
  const m = AMZ_DATE.exec(text) as RegExpExecArray;
  const d = m[1] as string;
  const t = m[2] as string;
  return Date.UTC(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8)), Number(t.slice(0, 2)), Number(t.slice(2, 4)), Number(t.slice(4, 6)));
}

function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[:-]|\.\d{3}/g, '');
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

export function verifySigV4(request: SignedRequest, scope: { service: string; region: string }, store: CredentialStore): AuthSuccess | AuthFailure {
  const authorization = headerValue(request.headers.authorization);
  if (!authorization) return fail('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const match = AUTH.exec(authorization);
  if (!match) {
    return fail(
      'IncompleteSignatureException',
      `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters in the form AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`,
    );
  }
  const [, accessKeyId, date, region, service, signedList, signature] = match as unknown as [string, string, string, string, string, string, string];
  const signedNames = signedList.split(';');
  if (signedNames.join(';') !== [...signedNames].sort().join(';') || new Set(signedNames).size !== signedNames.length) {
    return fail('IncompleteSignatureException', 'SignedHeaders must be sorted, lowercase and without duplicates');
  }
  if (!signedNames.includes('host')) return fail('IncompleteSignatureException', "'Host' must be a signed header");
  const amzDate = headerValue(request.headers['x-amz-date']);
  if (!amzDate || !AMZ_DATE.test(amzDate))
    return fail('IncompleteSignatureException', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header");
  if (!signedNames.includes('x-amz-date')) return fail('IncompleteSignatureException', "'X-Amz-Date' must be a signed header");
  if (amzDate.slice(0, 8) !== date)
    return fail(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  if (region !== scope.region) return fail('InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'.`);
  if (service !== scope.service) return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${scope.service}'.`);

  const now = store.clock.now();
  const signedAt = amzDateToMs(amzDate);
  if (signedAt < now - MAX_CLOCK_SKEW_MS) {
    return fail(
      'InvalidSignatureException',
      `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(now - MAX_CLOCK_SKEW_MS)} (${formatAmzDate(now)} - 5 min.)`,
    );
  }
  if (signedAt > now + MAX_CLOCK_SKEW_MS) {
    return fail(
      'InvalidSignatureException',
      `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(now + MAX_CLOCK_SKEW_MS)} (${formatAmzDate(now)} + 5 min.)`,
    );
  }

  const state = store.state(accessKeyId);
  const credentials = store.lookup(accessKeyId);
  if (state === 'unknown' || !credentials) return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (state === 'expired') return fail('ExpiredTokenException', 'The security token included in the request is expired');
  const token = headerValue(request.headers['x-amz-security-token']);
  if ((credentials.sessionToken ?? '') !== (token ?? '')) return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (token !== undefined && !signedNames.includes('x-amz-security-token'))
    return fail('IncompleteSignatureException', "'X-Amz-Security-Token' must be a signed header");

  const contentSha = headerValue(request.headers['x-amz-content-sha256']);
  if (contentSha !== undefined && contentSha !== createHash('sha256').update(request.body).digest('hex')) {
    return fail('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }

  const headers: Record<string, string> = {};
  for (const name of signedNames) {
    const value = headerValue(request.headers[name]);
    if (value === undefined) return fail('IncompleteSignatureException', `Signed header '${name}' is not in the request`);
    headers[name] = value;
  }
  const include = Object.fromEntries(signedNames.filter((n) => AWS4_IGNORED.includes(n)).map((n) => [n, true]));
  const signer = new aws4.RequestSigner(
    {
      method: request.method,
      path: request.path,
      headers,
      body: request.body,
      service,
      region,
      doNotModifyHeaders: true,
      extraHeadersToInclude: include,
    } as aws4.Request,
    { accessKeyId, secretAccessKey: credentials.secretAccessKey, ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}) },
  );
  (signer as unknown as { datetime: string }).datetime = amzDate;
  const expected = Buffer.from(signer.signature(), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  if (signer.signedHeaders() !== signedList || expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return fail(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }
  return { ok: true, credentials };
}
