/**
 * Fault injection for the emulators: a queue of faults, each applied to the next matching
 * requests. Faults are consumed in the order they were added.
 */
import { delay, type IncomingRequest, type Reply } from './loopback-server.js';

export type Fault =
  /** An error answer: `status` and AWS error `type` (e.g. 503 ServiceUnavailableException). */
  | { readonly kind: 'error'; readonly status: number; readonly type: string; readonly message?: string }
  /** 400 ThrottlingException (Rate exceeded). */
  | { readonly kind: 'throttle' }
  /** The connection is destroyed when the request arrives (the client sees ECONNRESET). */
  | { readonly kind: 'reset' }
  /** The answer comes `ms` later; the request is then handled normally (or dropped if the client gave up). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** 400 ExpiredTokenException whatever the credentials. */
  | { readonly kind: 'expired-token' };

export interface FaultRule {
  readonly fault: Fault;
  /** Operation name (PutLogEvents, PutMetricData, or an IMDS path prefix); all when absent. */
  readonly match?: string;
  /** How many requests it applies to (default 1; Infinity until cleared). */
  times?: number;
}

export class Faults {
  #rules: FaultRule[] = [];
  /** How many times each fault kind was applied. */
  readonly applied: Record<Fault['kind'], number> = { error: 0, throttle: 0, reset: 0, delay: 0, 'expired-token': 0 };

  /** Adds a fault for the next `times` requests matching `match`. */
  add(fault: Fault, options: { match?: string; times?: number } = {}): this {
    const times = options.times ?? 1;
    if (!(times > 0)) throw new RangeError(`fault times must be positive, got ${times}`);
    this.#rules.push({ fault, times, ...(options.match !== undefined ? { match: options.match } : {}) });
    return this;
  }

  clear(): void {
    this.#rules = [];
  }

  /** Faults still waiting. */
  get pending(): number {
    return this.#rules.reduce((sum, r) => sum + (r.times ?? 1), 0);
  }

  /** The fault for a request, consuming it; undefined when none applies. */
  take(name: string): Fault | undefined {
    const index = this.#rules.findIndex((r) => r.match === undefined || name === r.match || (r.match.endsWith('*') && name.startsWith(r.match.slice(0, -1))));
    if (index === -1) return undefined;
    const rule = this.#rules[index] as FaultRule;
    rule.times = (rule.times ?? 1) - 1;
    if (rule.times <= 0) this.#rules.splice(index, 1);
    this.applied[rule.fault.kind]++;
    return rule.fault;
  }
}

/**
 * How a metadata server (IMDS, GCE) answers a fault, in plain text made by `text`: 'reset', an
 * error reply, or undefined to answer the request normally (after any delay).
 */
export async function metadataFaultReply(fault: Fault | undefined, request: IncomingRequest, text: (status: number, body: string) => Reply): Promise<Reply | 'reset' | undefined> {
  if (!fault) return undefined;
  switch (fault.kind) {
    case 'reset':
      return 'reset';
    case 'delay':
      await delay(fault.ms);
      return request.socket.destroyed ? 'reset' : undefined;
    case 'error':
      return text(fault.status, fault.message ?? fault.type);
    case 'throttle':
      return text(429, 'Too Many Requests');
    case 'expired-token':
      return text(401, 'Unauthorized');
  }
}
