/**
 * The kernel's HTTP client (the `HttpClientService` of @uk/core), built on got: keep-alive agents,
 * connect and whole-request timeouts, and the kernel's TLS policy (verification on unless the
 * operator turns it off, extra trust anchors, minimum TLS version).
 *
 * - The scheme is the URL's: `https:` always verifies with the policy; plain `http:` is used only
 *   when the URL itself says `http://` (a loopback emulator, the metadata service). Nothing is
 *   upgraded or downgraded, and redirects are never followed (a redirect cannot move a signed
 *   request to another host or to plain HTTP).
 * - Every HTTP status resolves; only network errors and timeouts reject, with the error's `code`
 *   (ECONNRESET, ECONNREFUSED, ETIMEDOUT, DEPTH_ZERO_SELF_SIGNED_CERT, …) kept. Retries are the
 *   caller's (the Batcher's), so got's own retry is off.
 * - Error messages name the method and host only, never headers, query strings or bodies, so no
 *   signature or token can leak into a log.
 * - got is imported without waiting for it: `preload()` starts the import (the klib calls it at
 *   boot, as the klibs that depend on tls make requests at once), or the first request does.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { SecureVersion } from 'node:tls';
import type { HttpClient, HttpRequest, HttpResponse } from '@uk/core';

/** The TLS policy of HTTPS requests, as node:tls options. */
export interface HttpTlsPolicy {
  /**
   * Trust anchors (PEM). When set they replace Node's default store, so they must include the
   * roots wanted: the tls klib passes its `trustStore()` (bundled roots + NODE_EXTRA_CA_CERTS +
   * ca_file), the same store its secure transport uses. Undefined: Node's default store.
   */
  readonly ca?: readonly string[];
  readonly minVersion?: SecureVersion;
  /** Default true. */
  readonly rejectUnauthorized?: boolean;
}

export interface HttpClientOptions {
  readonly tls?: HttpTlsPolicy;
  /** Whole-request timeout when the request gives none, ms (default 30 s). */
  readonly defaultTimeoutMs?: number;
  /** Longest time to open a connection (TCP and TLS handshake), ms (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Concurrent sockets per host (default 16). */
  readonly maxSockets?: number;
  /** Idle keep-alive sockets are closed after this long, ms (default 4 s, under common server idle timeouts of 5 s). */
  readonly idleSocketTimeoutMs?: number;
  /** Largest response body accepted, bytes (default 16 MiB). */
  readonly maxResponseBytes?: number;
}

/**
 * A network failure or timeout of one request; `code` is Node's or got's (`ETIMEDOUT` for
 * timeouts). `sent`: the whole request had gone out when it failed, so the server may have
 * carried it out (a timeout waiting for the answer, a reset after the upload).
 */
export class HttpRequestError extends Error {
  readonly code: string;
  readonly sent: boolean;
  constructor(message: string, code: string, sent = false) {
    super(message);
    this.name = 'HttpRequestError';
    this.code = code;
    this.sent = sent;
  }
}

type GotModule = typeof import('./got.js');
let gotModule: Promise<GotModule> | undefined;
const loadGot = (): Promise<GotModule> => (gotModule ??= import('./got.js'));

/** Method and host of a URL, for messages (no userinfo, path or query). */
function describe(method: string, url: URL): string {
  return `${method} ${url.protocol}//${url.host}`;
}

export class GotHttpClient implements HttpClient {
  readonly #httpAgent: HttpAgent;
  readonly #httpsAgent: HttpsAgent;
  readonly #tls: HttpTlsPolicy;
  readonly #defaultTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxResponseBytes: number;
  #requests = 0;

  constructor(options: HttpClientOptions = {}) {
    this.#tls = options.tls ?? {};
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    const common = {
      keepAlive: true,
      maxSockets: options.maxSockets ?? 16,
      maxFreeSockets: options.maxSockets ?? 16,
      timeout: options.idleSocketTimeoutMs ?? 4000,
      scheduling: 'lifo' as const,
    };
    this.#httpAgent = new HttpAgent(common);
    this.#httpsAgent = new HttpsAgent({
      ...common,
      rejectUnauthorized: this.#tls.rejectUnauthorized ?? true,
      ...(this.#tls.ca ? { ca: [...this.#tls.ca] } : {}),
      ...(this.#tls.minVersion ? { minVersion: this.#tls.minVersion } : {}),
    });
  }

  /**
   * Starts importing got now, without waiting for it: the first request (a cloud klib's setup,
   * just after boot) then finds it loaded instead of spending about 40 ms on it while the
   * program's output waits to be sent. An import that fails is reported by that request.
   */
  preload(): void {
    loadGot().catch(() => {});
  }

  /** Requests started so far. */
  get requests(): number {
    return this.#requests;
  }

  /** The TLS policy in force (for `--verbose` and tests). */
  get tlsPolicy(): Readonly<{ verify: boolean; extraAnchors: boolean; minVersion: SecureVersion | undefined }> {
    return { verify: this.#tls.rejectUnauthorized ?? true, extraAnchors: this.#tls.ca !== undefined, minVersion: this.#tls.minVersion };
  }

  async request(request: HttpRequest): Promise<HttpResponse> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      throw new HttpRequestError(`${request.method}: invalid URL`, 'ERR_INVALID_URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new HttpRequestError(`${request.method} ${url.protocol}: only https: and http: URLs are supported`, 'ERR_UNSUPPORTED_PROTOCOL');
    }
    if (url.username || url.password) {
      throw new HttpRequestError(`${describe(request.method, url)}: credentials in URLs are not accepted`, 'ERR_INVALID_URL');
    }
    this.#requests++;
    const { got, RequestError } = await loadGot();
    const timeoutMs = request.timeoutMs ?? this.#defaultTimeoutMs;
    const connectMs = Math.min(this.#connectTimeoutMs, timeoutMs);
    const pending = got(url, {
      method: request.method,
      headers: { 'user-agent': 'uk', ...request.headers },
      ...(request.body !== undefined ? { body: request.body } : {}),
      timeout: { connect: connectMs, secureConnect: connectMs, request: timeoutMs },
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      decompress: true,
      responseType: 'buffer',
      agent: { http: this.#httpAgent, https: this.#httpsAgent },
      https: {
        rejectUnauthorized: this.#tls.rejectUnauthorized ?? true,
        ...(this.#tls.ca ? { certificateAuthority: [...this.#tls.ca] } : {}),
        ...(this.#tls.minVersion ? { minVersion: this.#tls.minVersion } : {}),
      },
    });
    let tooLarge = false;
    // on() returns `pending` itself (for chaining), awaited below: nothing is left floating.
    void pending.on('downloadProgress', (progress) => {
      if (progress.transferred > this.#maxResponseBytes) {
        tooLarge = true;
        pending.cancel();
      }
    });
    try {
      const response = await pending;
      return { statusCode: response.statusCode, headers: response.headers, body: response.body };
    } catch (err) {
      if (tooLarge)
        throw new HttpRequestError(`${describe(request.method, url)}: response larger than ${this.#maxResponseBytes} bytes`, 'ERR_RESPONSE_TOO_LARGE');
      if (err instanceof RequestError) {
        const code = err.code || 'ERR_HTTP_REQUEST';
        // got's messages are Node's ("connect ECONNREFUSED 127.0.0.1:9", "Timeout awaiting 'request' for 100ms").
        // got notes when the upload ended; before that the server cannot have had the whole request.
        throw new HttpRequestError(`${describe(request.method, url)}: ${err.message}`, code, err.timings?.upload !== undefined);
      }
      throw new HttpRequestError(`${describe(request.method, url)}: ${err instanceof Error ? err.message : String(err)}`, 'ERR_HTTP_REQUEST');
    }
  }

  /** Destroys every socket of the agents (requests in flight fail). For tests and embedders. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}

export function createHttpClient(options: HttpClientOptions = {}): GotHttpClient {
  return new GotHttpClient(options);
}
