/**
 * A klib's log with a further prefix, for a part of the klib (`syslog: tcp://host:514: …`), so
 * that klibs with several outputs need not each build their own.
 */
import type { KlibLog } from './klib.js';

export function prefixLog(log: KlibLog, prefix: string): KlibLog {
  return {
    debug: (m) => log.debug(`${prefix}: ${m}`),
    info: (m) => log.info(`${prefix}: ${m}`),
    warn: (m) => log.warn(`${prefix}: ${m}`),
    error: (m) => log.error(`${prefix}: ${m}`),
  };
}
