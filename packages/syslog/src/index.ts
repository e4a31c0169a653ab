/**
 * @uk/syslog: the `syslog` klib. Compatible with the Nanos syslog klib (same tuple, same file
 * output and rotation, RFC 5424 over UDP), plus TCP and TLS (RFC 6587 octet counting, RFC 5425),
 * per-source severity, facility, hostname, message splitting and counters.
 *
 * `tls` is a dependency only with `transport: tls`: the TLS connection comes from the `tls`
 * klib's secure transport service.
 */
import { readFileSync } from 'node:fs';
import { defineKlib } from '@uk/core';
import { createSyslogDriver } from './driver.js';
import { readSyslogOptions, syslogDependencies, type SyslogOptions } from './options.js';

// The version and the @uk/core range come from package.json, which `nx release version` rewrites
// (RELEASING.md): a second copy here would have to be edited by hand at every release.
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; peerDependencies: Record<string, string> };

export { createSyslogDriver, FILE_FLUSH_MS, SERVER_FLUSH_MS, type SyslogDriver } from './driver.js';
export { encodeBatch, Rfc5424Formatter, splitUtf8, type EncodedBatch, type FormatterOptions } from './format.js';
export { FileOutput, type FileOutputOptions } from './file-output.js';
export {
  appNameOf,
  defaultHostname,
  DEFAULT_BUFFER_SIZE,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_PORTS,
  DEFAULT_RESEND_WINDOW_MS,
  DEFAULT_SEVERITY,
  FACILITIES,
  readSyslogOptions,
  SEVERITIES,
  SYSLOG_OPTION_KEYS,
  syslogDependencies,
  TRANSPORTS,
  type SyslogOptions,
  type Transport,
} from './options.js';
export { StreamOutput, type StreamOutputOptions } from './stream.js';
export { UdpOutput, type UdpOutputOptions } from './udp.js';

export default defineKlib<SyslogOptions>({
  name: 'syslog',
  version: manifest.version,
  core: manifest.peerDependencies['@uk/core'],
  description: 'console output as RFC 5424 syslog over UDP, TCP or TLS, and to rotating files',
  dependencies: syslogDependencies,
  whenUnconfigured: 'fail',
  options: readSyslogOptions,
  init(ctx) {
    const driver = createSyslogDriver(ctx);
    ctx.console.attach(driver);
    ctx.onShutdown((close) => driver.close(close));
    const o = ctx.options;
    const to = [o.server ? `${o.transport}://${o.server}:${o.port}` : '', o.file ?? ''].filter(Boolean).join(' and ');
    ctx.log.debug(`sending console output to ${to}`);
  },
});
