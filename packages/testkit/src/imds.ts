/**
 * A loopback emulator of the EC2 instance metadata service: IMDSv2 sessions (`PUT
 * /latest/api/token` with a TTL of 1–21600 s, then the token on every GET), IMDSv1 refused unless
 * allowed, the instance's region, host name, address and id, and the instance role's temporary
 * credentials (issued by a CredentialStore the CloudWatch emulator checks signatures against).
 *
 * For tests: rotate or expire the role's credentials, make the token call answer 403/404/405 (an
 * environment without IMDSv2), inject faults per path, or take the whole service down.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '@uk/core';
import { CredentialStore, type IssuedCredentials } from './credentials.js';
import { Faults, metadataFaultReply } from './faults.js';
import { LoopbackServer, type IncomingRequest, type LoopbackServerOptions, type Reply } from './loopback-server.js';

export interface ImdsOptions extends LoopbackServerOptions {
  readonly clock?: Clock;
  /** Where role credentials are issued (share it with the CloudWatch emulator). */
  readonly store?: CredentialStore;
  /** Default `us-west-1`. */
  readonly region?: string;
  readonly localIpv4?: string;
  /** Default `ip-<a-b-c-d>.<region>.compute.internal` (`.ec2.internal` in us-east-1). */
  readonly hostname?: string;
  readonly instanceId?: string;
  /** Instance profile role name; null for an instance without a role. Default `CloudWatchAgentServerRole`. */
  readonly role?: string | null;
  /** Whether GETs without a token are answered (IMDSv1). Default: refused (401), as on instances that require IMDSv2. */
  readonly imdsV1?: 'allowed' | 'refused';
  /** Lifetime of role credentials, ms (default 6 h). */
  readonly credentialTtlMs?: number;
}

export interface ImdsRequestRecord {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** How the request was authorised: an IMDSv2 token, or none (IMDSv1). */
  readonly auth: 'token' | 'none';
}

const MAX_TOKEN_TTL = 21600;

export class ImdsEmulator extends LoopbackServer {
  readonly clock: Clock;
  readonly store: CredentialStore;
  readonly faults = new Faults();
  readonly requests: ImdsRequestRecord[] = [];
  region: string;
  hostname: string;
  localIpv4: string;
  instanceId: string;
  role: string | null;
  imdsV1: 'allowed' | 'refused';
  /** What `PUT /latest/api/token` answers: a token (`ok`) or an error status (no IMDSv2 here). */
  tokenEndpoint: 'ok' | 403 | 404 | 405 = 'ok';
  #credentials: IssuedCredentials;
  #lastUpdated: number;
  readonly #tokens = new Map<string, number>();
  readonly #ttlMs: number;

  constructor(options: ImdsOptions = {}) {
    super(options);
    this.clock = options.clock ?? systemClock;
    this.store = options.store ?? new CredentialStore(this.clock);
    this.region = options.region ?? 'us-west-1';
    this.localIpv4 = options.localIpv4 ?? '172.31.23.224';
    this.hostname =
      options.hostname ?? `ip-${this.localIpv4.replaceAll('.', '-')}.${this.region === 'us-east-1' ? 'ec2.internal' : `${this.region}.compute.internal`}`;
    this.instanceId = options.instanceId ?? `i-${randomBytes(8).toString('hex').slice(0, 17)}`;
    this.role = options.role === undefined ? 'CloudWatchAgentServerRole' : options.role;
    this.imdsV1 = options.imdsV1 ?? 'refused';
    this.#ttlMs = options.credentialTtlMs ?? 6 * 3600_000;
    this.#credentials = this.store.issue({ ttlMs: this.#ttlMs });
    this.#lastUpdated = this.clock.now();
  }

  /** The role credentials served now. */
  get credentials(): IssuedCredentials {
    return this.#credentials;
  }

  /** Issues new role credentials (as AWS does before the old ones expire); optionally expires the old ones at once. */
  rotate(options: { expirePrevious?: boolean; ttlMs?: number } = {}): IssuedCredentials {
    const previous = this.#credentials;
    this.#credentials = this.store.issue({ ttlMs: options.ttlMs ?? this.#ttlMs });
    this.#lastUpdated = this.clock.now();
    if (options.expirePrevious) this.store.expire(previous.accessKeyId);
    return this.#credentials;
  }

  /** Requests that carried no token (IMDSv1). */
  get v1Requests(): number {
    return this.requests.filter((r) => r.auth === 'none' && r.method === 'GET').length;
  }

  protected async handle(request: IncomingRequest): Promise<Reply | 'reset'> {
    const path = request.url.split('?')[0] as string;
    const reply = await this.#answer(request, path);
    if (reply !== 'reset')
      this.requests.push({ method: request.method, path, status: reply.status, auth: request.headers['x-aws-ec2-metadata-token'] ? 'token' : 'none' });
    return reply;
  }

  async #answer(request: IncomingRequest, path: string): Promise<Reply | 'reset'> {
    const faulted = await metadataFaultReply(this.faults.take(path), request, text);
    if (faulted) return faulted;
    if (path === '/latest/api/token') return this.#token(request);
    if (request.method !== 'GET') return text(405, 'Method Not Allowed');

    const token = request.headers['x-aws-ec2-metadata-token'];
    if (typeof token === 'string') {
      const expires = this.#tokens.get(token);
      if (expires === undefined || expires <= this.clock.now()) return text(401, 'Unauthorized');
    } else if (this.imdsV1 === 'refused') {
      return text(401, 'Unauthorized');
    }
    return this.#metadata(path);
  }

  #token(request: IncomingRequest): Reply {
    if (request.method !== 'PUT') return text(405, 'Method Not Allowed');
    if (this.tokenEndpoint !== 'ok') return text(this.tokenEndpoint, 'Forbidden');
    // Requests that went through a proxy are refused, as on EC2.
    if (request.headers['x-forwarded-for'] !== undefined) return text(403, 'Forbidden');
    const ttlText = request.headers['x-aws-ec2-metadata-token-ttl-seconds'];
    const ttl = typeof ttlText === 'string' && /^\d+$/.test(ttlText) ? Number(ttlText) : NaN;
    if (!(ttl >= 1 && ttl <= MAX_TOKEN_TTL)) return text(400, 'Bad Request');
    const token = randomBytes(40).toString('base64url');
    this.#tokens.set(token, this.clock.now() + ttl * 1000);
    return { status: 200, headers: { 'content-type': 'text/plain', 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) }, body: token };
  }

  #metadata(path: string): Reply {
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const base = '/latest/meta-data/';
    if (path === '/latest/dynamic/instance-identity/document') {
      return json({
        accountId: '123456789012',
        architecture: 'x86_64',
        availabilityZone: `${this.region}a`,
        instanceId: this.instanceId,
        instanceType: 't3.micro',
        privateIp: this.localIpv4,
        region: this.region,
        version: '2017-09-30',
      });
    }
    if (!path.startsWith(base)) return text(404, 'Not Found');
    const key = path.slice(base.length);
    const values: Record<string, string> = {
      'placement/region': this.region,
      'placement/availability-zone': `${this.region}a`,
      'local-hostname': this.hostname,
      hostname: this.hostname,
      'local-ipv4': this.localIpv4,
      'instance-id': this.instanceId,
      'instance-type': 't3.micro',
      'ami-id': 'ami-0123456789abcdef0',
    };
    if (key === '') return text(200, [...Object.keys(values).filter((k) => !k.includes('/')), 'iam/', 'placement/'].join('\n'));
    if (Object.hasOwn(values, key)) return text(200, values[key] as string);
    if (this.role === null) return text(404, 'Not Found');
    if (key === 'iam/info') {
      return json({
        Code: 'Success',
        LastUpdated: iso(this.#lastUpdated),
        InstanceProfileArn: `arn:aws:iam::123456789012:instance-profile/${this.role}`,
        InstanceProfileId: 'AIPAEXAMPLEEXAMPLE',
      });
    }
    if (key === 'iam/security-credentials/' || key === 'iam/security-credentials') return text(200, this.role);
    if (key === `iam/security-credentials/${this.role}`) {
      const c = this.#credentials;
      return json({
        Code: 'Success',
        LastUpdated: iso(this.#lastUpdated),
        Type: 'AWS-HMAC',
        AccessKeyId: c.accessKeyId,
        SecretAccessKey: c.secretAccessKey,
        Token: c.sessionToken,
        Expiration: iso(c.expiration ?? this.clock.now() + this.#ttlMs),
      });
    }
    return text(404, 'Not Found');
  }
}

function text(status: number, body: string): Reply {
  return { status, headers: { 'content-type': 'text/plain' }, body };
}

function json(value: unknown): Reply {
  return { status: 200, headers: { 'content-type': 'text/plain' }, body: JSON.stringify(value, null, 2) };
}
