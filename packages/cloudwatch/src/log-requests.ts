/**
 * PutLogEvents: one call per batch of encoded event blocks (see event-blocks.ts), its body built in
 * a reused buffer, and what its answer means for the batch. Blocks go back to the encoder's arena
 * once their batch is done with: stored, or refused for good.
 */
import type { KlibLog, SendOutcome } from '@uk/core';
import { BodyPool } from './block-arena.js';
import type { CloudWatchDestination } from './destination.js';
import { eventCount, type EventBlock } from './event-blocks.js';
import { putLogEventsPayload, rejectedCount, type RejectedLogEventsInfo } from './log-events.js';

export interface LogRequestDeps {
  readonly destination: CloudWatchDestination;
  readonly log: KlibLog;
  /** Gives a batch's blocks back to the arena (they are not read again). */
  readonly release: (batch: readonly EventBlock[]) => void;
}

/**
 * How a failed call ends for its batch, decided here only: refused for good (the request itself is
 * wrong: the Batcher drops the batch, reading the error's `retryable: false`), or sent again.
 */
export function refusedForGood(err: unknown): boolean {
  return (err as { retryable?: unknown } | null)?.retryable === false;
}

/** The Batcher's `send` for the logs: resolves with the events the service refused one by one; throws to retry or drop. */
export function createLogSender(deps: LogRequestDeps): (batch: EventBlock[]) => Promise<SendOutcome> {
  const bodies = new BodyPool();
  return async (batch) => {
    await deps.destination.whenReady();
    const payload = putLogEventsPayload(deps.destination.bodyPrefix, batch, bodies);
    let out: Record<string, unknown>;
    try {
      out = await deps.destination.call('logs', 'PutLogEvents', payload);
    } catch (err) {
      // Dropped by the Batcher (and counted): nothing reads its blocks again.
      if (refusedForGood(err)) deps.release(batch);
      throw err;
    } finally {
      bodies.give(payload);
    }
    deps.release(batch);
    const rejected = rejectedCount(out.rejectedLogEventsInfo as RejectedLogEventsInfo | undefined, eventCount(batch));
    if (rejected.total > 0) {
      const parts = [rejected.tooOld && `${rejected.tooOld} older than 14 days`, rejected.expired && `${rejected.expired} older than the retention`, rejected.tooNew && `${rejected.tooNew} more than 2 hours ahead`].filter(Boolean);
      deps.log.warn(`CloudWatch Logs refused ${rejected.total} events (${parts.join(', ')}); they are counted as rejected and not sent again`);
    }
    return { rejected: rejected.total };
  };
}
