/**
 * Fault injection for the emulators: a queue of faults, each applied to the next matching
 * requests. Faults are consumed in the order they were added. Every request a server asks about
 * is counted (`seen`) and every fault applied is logged (`log`), so a test can wait for an event
 * ("the seventh failed attempt") instead of a time (`until`).
 */
import { ConditionWaiters } from './waiters.js';
import type { Socket } from 'node:net';
import type { IncomingRequest, Reply } from './loopback-server.js';

export type Fault =
  /** An error answer: `status` and AWS error `type` (e.g. 503 ServiceUnavailableException). */
  | { readonly kind: 'error'; readonly status: number; readonly type: string; readonly message?: string }
  /** 400 ThrottlingException (Rate exceeded). */
  | { readonly kind: 'throttle' }
  /** The connection is destroyed when the request arrives (the client sees ECONNRESET); nothing is stored. */
  | { readonly kind: 'reset' }
  /** The answer comes `ms` later; the request is then handled normally (or dropped if the client gave up). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** 400 ExpiredTokenException whatever the credentials (401 on Google's APIs). */
  | { readonly kind: 'expired-token' }
  /**
   * The request is accepted and never answered, nothing stored: the connection stays open until
   * the client gives up (its request timeout) or the server closes.
   */
  | { readonly kind: 'hang' }
  /**
   * The request is carried out (stored) at once, and its answer sent `ms` later, or never if the
   * client gives up first: an answer slower than the client's timeout is a lost answer, and the
   * client's resend is a duplicate.
   */
  | { readonly kind: 'slow'; readonly ms: number }
  /** The request is carried out (stored), then the connection is reset instead of answering. */
  | { readonly kind: 'lose-answer' };

export type FaultKind = Fault['kind'];

export interface FaultRule {
  readonly fault: Fault;
  /** Operation name (PutLogEvents, PutMetricData, or an IMDS path prefix); all when absent. */
  readonly match?: string;
  /** Only requests whose body contains this text (e.g. one line of the program's output). */
  readonly contains?: string;
  /** How many requests it applies to (default 1; Infinity until cleared). */
  times?: number;
}

/** One fault applied: which, to which request, when (performance.now() ms). */
export interface AppliedFault {
  readonly kind: FaultKind;
  readonly name: string;
  readonly at: number;
}

export class Faults {
  #rules: FaultRule[] = [];
  readonly #waiters = new ConditionWaiters();
  /** How many times each fault kind was applied. */
  readonly applied: Record<FaultKind, number> = { error: 0, throttle: 0, reset: 0, delay: 0, 'expired-token': 0, hang: 0, slow: 0, 'lose-answer': 0 };
  /** Requests asked about, by name (operation or path), whether or not a fault applied. */
  readonly seen = new Map<string, number>();
  /** Every fault applied, in order. */
  readonly log: AppliedFault[] = [];

  /** Adds a fault for the next `times` requests matching `match` (and `contains`). */
  add(fault: Fault, options: { match?: string; contains?: string; times?: number } = {}): this {
    const times = options.times ?? 1;
    if (!(times > 0)) throw new RangeError(`fault times must be positive, got ${times}`);
    this.#rules.push({
      fault,
      times,
      ...(options.match !== undefined ? { match: options.match } : {}),
      ...(options.contains !== undefined ? { contains: options.contains } : {}),
    });
    return this;
  }

  /** Removes every fault still waiting, or only those of `kind` (ends an outage added with `times: Infinity`). */
  clear(kind?: FaultKind): void {
    this.#rules = kind === undefined ? [] : this.#rules.filter((r) => r.fault.kind !== kind);
  }

  /** Faults still waiting. */
  get pending(): number {
    return this.#rules.reduce((sum, r) => sum + (r.times ?? 1), 0);
  }

  /** The fault for a request, consuming it; undefined when none applies. `body` is checked against `contains`. */
  take(name: string, body?: Buffer): Fault | undefined {
    this.seen.set(name, (this.seen.get(name) ?? 0) + 1);
    const index = this.#rules.findIndex(
      (r) =>
        (r.match === undefined || name === r.match || (r.match.endsWith('*') && name.startsWith(r.match.slice(0, -1)))) &&
        (r.contains === undefined || (body !== undefined && body.includes(r.contains))),
    );
    let fault: Fault | undefined;
    if (index !== -1) {
      const rule = this.#rules[index] as FaultRule;
      rule.times = (rule.times ?? 1) - 1;
      if (rule.times <= 0) this.#rules.splice(index, 1);
      this.applied[rule.fault.kind]++;
      this.log.push({ kind: rule.fault.kind, name, at: performance.now() });
      fault = rule.fault;
    }
    this.#wake();
    return fault;
  }

  /**
   * Resolves once `predicate` holds, checked now and after every request; rejects after
   * `timeoutMs` (default 60 s) naming `what`.
   */
  until(predicate: () => boolean, options: { timeoutMs?: number; what?: string } = {}): Promise<void> {
    return this.#waiters.until(predicate, options.what ?? 'a fault condition', () => `applied: ${JSON.stringify(this.applied)}`, options.timeoutMs);
  }

  #wake(): void {
    this.#waiters.wake();
  }
}

/**
 * Resolves when `socket` closes (the client gave up, or the server closed it), or after `ms`
 * when given. The timer does not keep the process alive.
 */
export function untilClosed(socket: Socket, ms = Infinity): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    timer?.unref();
    socket.once('close', done);
    function done(): void {
      if (timer) clearTimeout(timer);
      socket.off('close', done);
      resolve();
    }
  });
}

/**
 * What becomes of an answer already worked out under a fault that acts after the request was
 * carried out: `slow` sends it `ms` later (or drops it if the client gave up), `lose-answer`
 * resets the connection instead. Other faults leave it as it is.
 */
export async function answerAfterFault(fault: Fault | undefined, request: IncomingRequest, reply: Reply): Promise<Reply | 'reset'> {
  if (fault?.kind === 'lose-answer') return 'reset';
  if (fault?.kind === 'slow') {
    await untilClosed(request.socket, fault.ms);
    return request.socket.destroyed ? 'reset' : reply;
  }
  return reply;
}

/**
 * How a metadata server (IMDS, GCE) answers a fault, in plain text made by `text`: 'reset', an
 * error reply, or undefined to answer the request normally (after any delay). A metadata server
 * stores nothing, so `slow` is a late answer and `lose-answer` a reset.
 */
export async function metadataFaultReply(
  fault: Fault | undefined,
  request: IncomingRequest,
  text: (status: number, body: string) => Reply,
): Promise<Reply | 'reset' | undefined> {
  if (!fault) return undefined;
  switch (fault.kind) {
    case 'reset':
    case 'lose-answer':
      return 'reset';
    case 'hang':
      await untilClosed(request.socket);
      return 'reset';
    case 'delay':
    case 'slow':
      await untilClosed(request.socket, fault.ms);
      return request.socket.destroyed ? 'reset' : undefined;
    case 'error':
      return text(fault.status, fault.message ?? fault.type);
    case 'throttle':
      return text(429, 'Too Many Requests');
    case 'expired-token':
      return text(401, 'Unauthorized');
  }
}
