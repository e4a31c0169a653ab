/**
 * What the Cloud Logging and Cloud Monitoring emulators share: Google's JSON error shape
 * (`{ error: { code, message, status, details } }`), bearer-token checks against the
 * GcpTokenStore, injected faults (see faults.ts: errors, 429, 401, resets, delays, hung requests,
 * answers later than the client waits, lost answers), and `loseAnswers` (the request is carried
 * out, then the connection is reset before the answer, as when a client times out on a slow answer).
 */
import { systemClock, type Clock } from '@uk/core';
import { answerAfterFault, Faults, untilClosed } from './faults.js';
import { GcpTokenStore } from './gcp-tokens.js';
import { bodyText, delay, LoopbackServer, type IncomingRequest, type LoopbackServerOptions, type Reply } from './loopback-server.js';

/** gRPC status names by code, and the HTTP status Google maps each to. */
export const GRPC_STATUS: Readonly<Record<number, { name: string; http: number }>> = {
  1: { name: 'CANCELLED', http: 499 },
  2: { name: 'UNKNOWN', http: 500 },
  3: { name: 'INVALID_ARGUMENT', http: 400 },
  4: { name: 'DEADLINE_EXCEEDED', http: 504 },
  5: { name: 'NOT_FOUND', http: 404 },
  6: { name: 'ALREADY_EXISTS', http: 409 },
  7: { name: 'PERMISSION_DENIED', http: 403 },
  8: { name: 'RESOURCE_EXHAUSTED', http: 429 },
  9: { name: 'FAILED_PRECONDITION', http: 400 },
  10: { name: 'ABORTED', http: 409 },
  13: { name: 'INTERNAL', http: 500 },
  14: { name: 'UNAVAILABLE', http: 503 },
  16: { name: 'UNAUTHENTICATED', http: 401 },
};

const STATUS_BY_HTTP: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Google's error answer. */
export function googleError(httpStatus: number, message: string, details?: readonly unknown[], status = STATUS_BY_HTTP[httpStatus] ?? 'UNKNOWN'): Reply {
  return {
    status: httpStatus,
    headers: { 'content-type': 'application/json; charset=UTF-8' },
    body: JSON.stringify({ error: { code: httpStatus, message, status, ...(details ? { details } : {}) } }),
  };
}

export function jsonReply(value: unknown, status = 200): Reply {
  return { status, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: JSON.stringify(value) };
}

export interface GcpApiEmulatorOptions extends LoopbackServerOptions {
  readonly clock?: Clock;
  /** Tokens the bearer tokens are checked against (share the metadata emulator's). */
  readonly tokens?: GcpTokenStore;
  /** Project the instance belongs to (requests for another are refused). */
  readonly projectId?: string;
  readonly zone?: string;
  readonly instanceId?: string;
}

export interface ApiRequestRecord {
  readonly method: string;
  readonly path: string;
  readonly status: number | 'reset';
  readonly bytes: number;
  /** Entries or series in the request. */
  readonly items: number;
}

export abstract class GcpApiEmulator extends LoopbackServer {
  readonly clock: Clock;
  readonly tokens: GcpTokenStore;
  readonly faults = new Faults();
  readonly requests: ApiRequestRecord[] = [];
  projectId: string;
  zone: string;
  instanceId: string;
  /** Requests carried out whose answer is then lost (connection reset). */
  loseAnswers = 0;
  /** 401 answers given. */
  unauthenticated = 0;
  protected abstract readonly scope: string;
  protected abstract readonly rpcName: string;

  constructor(options: GcpApiEmulatorOptions = {}) {
    super({ maxBodyBytes: 16 * 1024 * 1024, ...options });
    this.clock = options.clock ?? systemClock;
    this.tokens = options.tokens ?? new GcpTokenStore({ clock: this.clock });
    this.projectId = options.projectId ?? 'uk-test-project';
    this.zone = options.zone ?? 'us-west2-a';
    this.instanceId = options.instanceId ?? '0';
  }

  protected abstract route(request: IncomingRequest, path: string): Promise<{ reply: Reply; items: number }> | { reply: Reply; items: number };

  protected async handle(request: IncomingRequest): Promise<Reply | 'reset'> {
    const path = request.url.split('?')[0] as string;
    const record = (status: number | 'reset', items = 0): void =>
      void this.requests.push({ method: request.method, path, status, bytes: request.body.length, items });
    const fault = this.faults.take(this.rpcName, request.body);
    if (fault) {
      switch (fault.kind) {
        case 'reset':
          record('reset');
          return 'reset';
        case 'hang':
          // Accepted, never answered, nothing stored: the client's timeout (or the server closing) ends it.
          await untilClosed(request.socket);
          record('reset');
          return 'reset';
        case 'slow':
        case 'lose-answer':
          // Carried out below; the answer is late or lost.
          break;
        case 'delay':
          await delay(fault.ms);
          if (request.socket.destroyed) {
            record('reset');
            return 'reset';
          }
          break;
        case 'error': {
          const reply = googleError(fault.status, fault.message ?? `injected ${fault.type}`, undefined, fault.type);
          record(reply.status);
          return reply;
        }
        case 'throttle': {
          const reply = googleError(
            429,
            "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute'",
            undefined,
            'RESOURCE_EXHAUSTED',
          );
          record(429);
          return reply;
        }
        case 'expired-token': {
          this.unauthenticated++;
          record(401);
          return unauthenticated();
        }
      }
    }
    const auth = request.headers.authorization;
    const token = typeof auth === 'string' && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '') : undefined;
    const state = this.tokens.check(token, this.scope);
    if (state === 'unknown' || state === 'expired') {
      this.unauthenticated++;
      record(401);
      return unauthenticated();
    }
    if (state === 'missing-scope') {
      record(403);
      return googleError(403, 'Request had insufficient authentication scopes.', [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', domain: 'googleapis.com' },
      ]);
    }
    const { reply, items } = await this.route(request, path);
    if (this.loseAnswers > 0 && reply.status < 300) {
      this.loseAnswers--;
      record('reset', items);
      return 'reset';
    }
    const out = await answerAfterFault(fault, request, reply);
    record(out === 'reset' ? 'reset' : reply.status, items);
    return out;
  }

  /** Parses a JSON request body, or the error Google gives for one that is not. */
  protected parseBody(request: IncomingRequest): { body: unknown } | { reply: Reply } {
    const type = request.headers['content-type'];
    if (typeof type !== 'string' || !/^application\/json\b/i.test(type))
      return { reply: googleError(400, `Invalid Content-Type ${JSON.stringify(type ?? '')}: expected application/json`) };
    try {
      return { body: JSON.parse(bodyText(request.body)) as unknown };
    } catch (err) {
      return { reply: googleError(400, `Invalid JSON payload received. ${(err as Error).message}`) };
    }
  }
}

function unauthenticated(): Reply {
  return googleError(
    401,
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_EXPIRED', domain: 'googleapis.com' }],
  );
}
