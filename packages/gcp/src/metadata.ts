/**
 * The GCE metadata server: plain HTTP GETs under `/computeMetadata/v1/`, each with
 * `Metadata-Flavor: Google`, and each answer must carry the same header (anything else is not a
 * metadata server: a captive portal, a proxy, a wrong GCE_METADATA_HOST). Values are read as text;
 * the instance id stays a string (19 digits do not fit a double). The token is never put in an
 * error message.
 */
import type { HttpClient, HttpResponse } from '@uk/core';

export const METADATA_PREFIX = '/computeMetadata/v1/';
export const TOKEN_PATH = 'instance/service-accounts/default/token';

/** What the klib needs to know about the instance. */
export interface InstanceInfo {
  readonly projectId: string;
  /** The instance's host name (the default LOG_ID). */
  readonly hostname: string;
  /** The zone name: the part of `projects/NUM/zones/ZONE` after `/zones/`. */
  readonly zone: string;
  /** The instance id, a string of digits. */
  readonly instanceId: string;
}

export interface AccessToken {
  readonly token: string;
  /** Lifetime from the moment it was received, ms. */
  readonly expiresInMs: number;
}

/** A failed metadata request; `status` is the HTTP status, if there was an answer. */
export class MetadataError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'MetadataError';
    this.status = status;
  }
}

function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A short, printable excerpt of an error body (the metadata server answers in text). */
function excerpt(body: Buffer): string {
  const text = body.toString('utf8', 0, Math.min(body.length, 200)).replace(/\s+/g, ' ').trim();
  return text === '' ? '' : `: ${text}`;
}

export class MetadataClient {
  readonly #http: HttpClient;
  readonly #base: string;
  readonly #timeoutMs: number;

  /** `baseUrl`: `http://169.254.169.254` or what GCE_METADATA_HOST says. */
  constructor(http: HttpClient, baseUrl: string, timeoutMs = 5000) {
    this.#http = http;
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
  }

  get baseUrl(): string {
    return this.#base;
  }

  /** GETs one metadata path (relative to /computeMetadata/v1/) as text. */
  async get(path: string): Promise<string> {
    let response: HttpResponse;
    try {
      response = await this.#http.request({
        method: 'GET',
        url: `${this.#base}${METADATA_PREFIX}${path}`,
        headers: { 'metadata-flavor': 'Google' },
        timeoutMs: this.#timeoutMs,
      });
    } catch (err) {
      throw new MetadataError(`metadata server ${this.#base}: ${(err as Error).message ?? String(err)}`);
    }
    if (header(response, 'metadata-flavor') !== 'Google') {
      throw new MetadataError(
        `${path}: the answer from ${this.#base} has no "Metadata-Flavor: Google" header, so it is not a metadata server (HTTP ${response.statusCode})`,
        response.statusCode,
      );
    }
    if (response.statusCode !== 200) {
      // A token error body could in theory echo request data; it never holds a token, but keep it short.
      throw new MetadataError(`${path}: HTTP ${response.statusCode}${path === TOKEN_PATH ? '' : excerpt(response.body)}`, response.statusCode);
    }
    return response.body.toString('utf8');
  }

  async projectId(): Promise<string> {
    const id = (await this.get('project/project-id')).trim();
    if (!/^[a-z][a-z0-9.:-]{0,62}[a-z0-9]$/.test(id)) throw new MetadataError(`project/project-id: not a project id: ${JSON.stringify(id.slice(0, 80))}`);
    return id;
  }

  async hostname(): Promise<string> {
    const name = (await this.get('instance/hostname')).trim();
    if (name === '') throw new MetadataError('instance/hostname: empty');
    return name;
  }

  async zone(): Promise<string> {
    const text = (await this.get('instance/zone')).trim();
    const at = text.lastIndexOf('/zones/');
    const zone = at === -1 ? '' : text.slice(at + '/zones/'.length);
    if (!/^[a-z0-9-]+$/.test(zone)) throw new MetadataError(`instance/zone: expected projects/NUM/zones/ZONE, got ${JSON.stringify(text.slice(0, 80))}`);
    return zone;
  }

  async instanceId(): Promise<string> {
    const id = (await this.get('instance/id')).trim();
    if (!/^\d{1,20}$/.test(id)) throw new MetadataError(`instance/id: expected digits, got ${JSON.stringify(id.slice(0, 40))}`);
    return id;
  }

  /** The default service account's access token. */
  async token(): Promise<AccessToken> {
    const text = await this.get(TOKEN_PATH);
    let parsed: { access_token?: unknown; expires_in?: unknown; token_type?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new MetadataError(`${TOKEN_PATH}: the answer is not JSON`);
    }
    if (typeof parsed?.access_token !== 'string' || parsed.access_token === '') throw new MetadataError(`${TOKEN_PATH}: the answer has no access_token`);
    const expiresIn = typeof parsed.expires_in === 'number' ? parsed.expires_in : Number(parsed.expires_in);
    if (!(expiresIn > 0)) throw new MetadataError(`${TOKEN_PATH}: the answer has no valid expires_in`);
    if (parsed.token_type !== undefined && (typeof parsed.token_type !== 'string' || parsed.token_type.toLowerCase() !== 'bearer'))
      throw new MetadataError(`${TOKEN_PATH}: unexpected token_type ${JSON.stringify(parsed.token_type)}`);
    return { token: parsed.access_token, expiresInMs: expiresIn * 1000 };
  }
}
