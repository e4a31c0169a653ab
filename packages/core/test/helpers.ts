/** Helpers shared by the test files (not a test file itself). */
import { isUkError, type ErrorCode, type UkError } from '../src/errors.js';

/** The assertions the helpers need (any tap Test has them). */
export interface Asserts {
  ok(value: unknown, message: string): boolean;
  equal(found: unknown, wanted: unknown, message: string): boolean;
}

/** What `fn` throws (undefined when it does not throw). */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Asserts that `err` is a UkError with exactly this code and message (and `where`, if given); returns it. */
export function assertUkError(t: Asserts, err: unknown, code: ErrorCode, message: string, where?: string): UkError | undefined {
  t.ok(isUkError(err), `a UkError: ${message}`);
  if (!isUkError(err)) {
    t.equal(String(err), message, 'unexpected error');
    return undefined;
  }
  t.equal(err.code, code, `code of: ${message}`);
  t.equal(err.message, message, 'message');
  if (where !== undefined) t.equal(err.where, where, 'where');
  return err;
}

/** Asserts that `fn` throws a UkError with exactly this code and message. */
export function throwsUk(t: Asserts, fn: () => unknown, code: ErrorCode, message: string, where?: string): UkError | undefined {
  return assertUkError(t, thrownBy(fn), code, message, where);
}

/** Events the fixture klibs noted (see fixtures/klibs/events.mjs); `reset` starts a new list. */
export function klibEvents(reset = false): string[] {
  const g = globalThis as { __ukEvents?: string[] };
  if (reset || !g.__ukEvents) g.__ukEvents = [];
  return g.__ukEvents;
}

/** Waits (boundedly) until `condition` holds. */
export async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
