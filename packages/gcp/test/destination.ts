import type { GcpDestination } from '../src/logging.js';
import type { InstanceInfo } from '../src/metadata.js';

/** A destination already set up with `info`. */
export function readyDestination(info: InstanceInfo): GcpDestination {
  return { isReady: () => true, whenReady: () => Promise.resolve(), isHealthy: () => true, value: info };
}

/** A destination the test sets up: `resolve(info)` makes it ready. */
export function pendingDestination(): { destination: GcpDestination; resolve: (info: InstanceInfo) => void } {
  let value: InstanceInfo | undefined;
  let done!: () => void;
  const ready = new Promise<void>((r) => (done = r));
  const destination: GcpDestination = {
    isReady: () => value !== undefined,
    whenReady: () => ready,
    get value() {
      return value;
    },
  };
  return {
    destination,
    resolve(info) {
      value = info;
      done();
    },
  };
}
