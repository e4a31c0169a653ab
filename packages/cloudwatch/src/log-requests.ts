/**
 * PutLogEvents: one call per batch of encoded event blocks (see event-blocks.ts), its body built in
 * a reused buffer, and what its answer means for the batch (the delivery contract: delivered,
 * retry or drop). Blocks go back to the encoder's arena through the Batcher's release hook.
 */
import { delivered, drop, reasonOf, retry, type KlibLog, type SendResult } from '@uk/core';
import { AwsCallError } from './aws-json.js';
import { BodyPool } from './block-arena.js';
import type { CloudWatchDestination } from './destination.js';
import { eventCount, type EventBlock } from './event-blocks.js';
import { putLogEventsPayload, rejectedCount, type RejectedLogEventsInfo } from './log-events.js';

export interface LogRequestDeps {
  readonly destination: CloudWatchDestination;
  readonly log: KlibLog;
}

/**
 * What a failed call means for its batch, decided here only (for logs and metrics): refused for
 * good when the request itself is wrong (a client error that is not throttling or credentials), so
 * sending it again cannot succeed; otherwise sent again, as a possible duplicate when the request
 * had gone out without an answer.
 */
export function resultOf(err: unknown): SendResult {
  const reason = reasonOf(err);
  if (err instanceof AwsCallError) return err.retryable ? retry(reason, { uncertain: err.uncertain }) : drop(reason);
  return retry(reason);
}

/** The Batcher's `send` for the logs: delivered (with the events refused one by one), retry or drop. */
export function createLogSender(deps: LogRequestDeps): (batch: EventBlock[]) => Promise<SendResult> {
  const bodies = new BodyPool();
  return async (batch) => {
    // The Batcher sends only once the destination is set up.
    const payload = putLogEventsPayload(deps.destination.bodyPrefix, batch, bodies);
    let out: Record<string, unknown>;
    try {
      out = await deps.destination.call('logs', 'PutLogEvents', payload);
    } catch (err) {
      return resultOf(err);
    } finally {
      bodies.give(payload);
    }
    const rejected = rejectedCount(out.rejectedLogEventsInfo as RejectedLogEventsInfo | undefined, eventCount(batch));
    if (rejected.total > 0) {
      const parts = [
        rejected.tooOld && `${rejected.tooOld} older than 14 days`,
        rejected.expired && `${rejected.expired} older than the retention`,
        rejected.tooNew && `${rejected.tooNew} more than 2 hours ahead`,
      ].filter(Boolean);
      deps.log.warn(`CloudWatch Logs refused ${rejected.total} events (${parts.join(', ')}); they are counted as rejected and not sent again`);
    }
    return delivered(rejected.total);
  };
}
