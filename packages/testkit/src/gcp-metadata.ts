/**
 * A loopback emulator of the GCE metadata server (`/computeMetadata/v1/…`), as Google's client
 * libraries and the gcp klib see it:
 *
 * - every request must carry `Metadata-Flavor: Google` (else 403), and requests that went through
 *   a proxy (`X-Forwarded-For`) are refused, as on GCE;
 * - every answer carries `Metadata-Flavor: Google`;
 * - project id and number, host name, zone (`projects/NUM/zones/ZONE`), instance id (19 digits),
 *   and the default service account: email, scopes, and an access token from a GcpTokenStore that
 *   the API emulators check. As the real server, it hands out the same token with a shrinking
 *   `expires_in` until about five minutes before expiry, then a new one.
 *
 * For tests: faults per path (`faults.add(fault, { match: 'instance/service-accounts/default/token' })`,
 * `'*'` for all), `down()`/`up()`, answers without the Metadata-Flavor header (`flavorHeader =
 * false`, a server that is not a metadata server), and the list of requests.
 */
import { randomInt } from 'node:crypto';
import { systemClock, type Clock } from '@uk/core';
import { Faults, metadataFaultReply } from './faults.js';
import { GcpTokenStore, type IssuedToken } from './gcp-tokens.js';
import { LoopbackServer, type IncomingRequest, type LoopbackServerOptions, type Reply } from './loopback-server.js';

export interface GcpMetadataOptions extends LoopbackServerOptions {
  readonly clock?: Clock;
  readonly tokens?: GcpTokenStore;
  readonly projectId?: string;
  readonly projectNumber?: string;
  /** Zone name (`us-west2-a`); the server answers `projects/NUM/zones/ZONE`. */
  readonly zone?: string;
  readonly instanceId?: string;
  readonly hostname?: string;
  readonly serviceAccount?: string;
}

export interface MetadataRequestRecord {
  /** Path under /computeMetadata/v1/ (or the full path when outside it). */
  readonly path: string;
  readonly status: number | 'reset';
  readonly flavor: boolean;
}

const PREFIX = '/computeMetadata/v1/';
/** The real server renews its cached token when less than this is left. */
const TOKEN_RENEW_S = 300;

/** A 19-digit instance id, as GCE assigns (larger than 2^53: must stay a string). */
export function randomInstanceId(): string {
  let id = String(randomInt(1, 10));
  for (let i = 0; i < 18; i++) id += String(randomInt(0, 10));
  return id;
}

export class GcpMetadataEmulator extends LoopbackServer {
  readonly clock: Clock;
  readonly tokens: GcpTokenStore;
  readonly faults = new Faults();
  readonly requests: MetadataRequestRecord[] = [];
  projectId: string;
  projectNumber: string;
  zone: string;
  instanceId: string;
  hostname: string;
  serviceAccount: string;
  /** Set false to answer without the Metadata-Flavor header (not a metadata server). */
  flavorHeader = true;
  #current: IssuedToken | undefined;

  constructor(options: GcpMetadataOptions = {}) {
    super(options);
    this.clock = options.clock ?? systemClock;
    this.tokens = options.tokens ?? new GcpTokenStore({ clock: this.clock });
    this.projectId = options.projectId ?? 'uk-test-project';
    this.projectNumber = options.projectNumber ?? '123456789012';
    this.zone = options.zone ?? 'us-west2-a';
    this.instanceId = options.instanceId ?? randomInstanceId();
    this.hostname = options.hostname ?? `uk-test.${this.zone}.c.${this.projectId}.internal`;
    this.serviceAccount = options.serviceAccount ?? `${this.projectNumber}-compute@developer.gserviceaccount.com`;
  }

  /** `host:port`, the value for GCE_METADATA_HOST. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The token handed out now, if any. */
  get currentToken(): IssuedToken | undefined {
    return this.#current;
  }

  /** Token requests answered with a token. */
  get tokenRequests(): number {
    return this.requests.filter((r) => r.path === 'instance/service-accounts/default/token' && r.status === 200).length;
  }

  protected async handle(request: IncomingRequest): Promise<Reply | 'reset'> {
    const full = request.url.split('?')[0] as string;
    const path = full.startsWith(PREFIX) ? full.slice(PREFIX.length) : full;
    const flavor = request.headers['metadata-flavor'] === 'Google';
    const reply = await this.#answer(request, path, flavor);
    this.requests.push({ path, status: reply === 'reset' ? 'reset' : reply.status, flavor });
    if (reply === 'reset' || this.flavorHeader) return reply;
    const headers = { ...reply.headers };
    delete (headers as Record<string, string>)['metadata-flavor'];
    return { ...reply, headers };
  }

  async #answer(request: IncomingRequest, path: string, flavor: boolean): Promise<Reply | 'reset'> {
    const faulted = await metadataFaultReply(this.faults.take(path), request, text);
    if (faulted) return faulted;
    if (request.headers['x-forwarded-for'] !== undefined) return text(403, 'Request had a X-Forwarded-For header and was rejected.');
    if (!flavor) return text(403, 'Missing required header "Metadata-Flavor": "Google"');
    if (request.method !== 'GET') return text(405, 'Method Not Allowed');
    if (path === '/' || path === '/computeMetadata/' || path === '/computeMetadata/v1' || path === '')
      return text(200, path === '/' ? 'computeMetadata/\n' : 'instance/\nproject/\n');
    const values: Record<string, string> = {
      'project/project-id': this.projectId,
      'project/numeric-project-id': this.projectNumber,
      'instance/hostname': this.hostname,
      'instance/name': this.hostname.split('.')[0] as string,
      'instance/zone': `projects/${this.projectNumber}/zones/${this.zone}`,
      'instance/id': this.instanceId,
      'instance/machine-type': `projects/${this.projectNumber}/machineTypes/e2-small`,
      'instance/service-accounts/default/email': this.serviceAccount,
      'instance/service-accounts/default/scopes': `${this.tokens.scopes.join('\n')}\n`,
    };
    if (Object.hasOwn(values, path)) return text(200, values[path] as string);
    if (path === 'instance' || path === 'instance/') return text(200, 'hostname\nid\nname\nservice-accounts/\nzone\n');
    if (path === 'project' || path === 'project/') return text(200, 'numeric-project-id\nproject-id\n');
    if (path === 'instance/service-accounts' || path === 'instance/service-accounts/') return text(200, `default/\n${this.serviceAccount}/\n`);
    if (path === 'instance/service-accounts/default/token' || path === `instance/service-accounts/${this.serviceAccount}/token`) {
      const current = this.#current;
      const left = current ? this.tokens.remainingSeconds(current.token) : 0;
      if (!current || left <= TOKEN_RENEW_S || this.tokens.check(current.token) !== 'valid') this.#current = this.tokens.issue();
      const token = this.#current as IssuedToken;
      return {
        status: 200,
        headers: { 'metadata-flavor': 'Google', 'content-type': 'application/json' },
        body: JSON.stringify({ access_token: token.token, expires_in: this.tokens.remainingSeconds(token.token), token_type: 'Bearer' }),
      };
    }
    return text(404, 'Not Found');
  }
}

function text(status: number, body: string): Reply {
  return { status, headers: { 'metadata-flavor': 'Google', 'content-type': 'application/text' }, body };
}
