/**
 * The `syslog` tuple. The keys of the Nanos syslog klib (`server`, `server_port`, `file`,
 * `file_max_size`, `file_rotate`) keep their meaning and defaults; the rest are uk's additions.
 * Every problem is collected (so `uk validate` lists them all) and each names the option and value.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import {
  OptionsReader,
  readKlibSpoolOptions,
  SPOOL_OPTION_KEYS,
  ukError,
  type KlibSpoolOptions,
  type OptionsInput,
  type RecordSource,
  type Tuple,
} from '@uk/core';

export const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export const SYSLOG_OPTION_KEYS = [
  'server',
  'server_port',
  'transport',
  'file',
  'file_max_size',
  'file_rotate',
  'facility',
  'severity',
  'hostname',
  'max_message_size',
  'buffer_size',
  'resend_window',
  'backpressure',
  // The disk spool (uk.spool_dir): `spool: false` opts out, `spool_max_size` sets a limit of its own.
  ...SPOOL_OPTION_KEYS,
] as const;

export const SEVERITY_SOURCES = ['stdout', 'stderr', 'kernel'] as const satisfies readonly RecordSource[];

/** RFC 5424 facility codes (section 6.2.1), by the names syslog.conf and logger use. */
export const FACILITIES: Readonly<Record<string, number>> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  security: 13,
  console: 14,
  'solaris-cron': 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** RFC 5424 severity codes, with the common aliases (`error`, `warn`). */
export const SEVERITIES: Readonly<Record<string, number>> = {
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  error: 3,
  warning: 4,
  warn: 4,
  notice: 5,
  info: 6,
  debug: 7,
};

export const DEFAULT_PORTS: Readonly<Record<Transport, number>> = { udp: 514, tcp: 514, tls: 6514 };
export const DEFAULT_SEVERITY: Readonly<Record<RecordSource, number>> = { stdout: 6, stderr: 3, kernel: 5 };
/**
 * rsyslog's default maxMessageSize is 8096 bytes, not 8192 ("max msg size is 8096" in its
 * oversize warning): a longer message is truncated, and over TCP the cut-off tail is then parsed
 * as a message of its own. So messages are kept to 8096 bytes.
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 8096;
/** Largest UDP payload over IPv4. */
export const MAX_UDP_MESSAGE_SIZE = 65507;
export const DEFAULT_BUFFER_SIZE = 4 * 1024 * 1024;
export const DEFAULT_RESEND_WINDOW_MS = 2000;

export interface SyslogOptions {
  readonly server: string | undefined;
  readonly port: number;
  readonly transport: Transport;
  /** Absolute path of the output file, if any. */
  readonly file: string | undefined;
  readonly fileMaxSize: number;
  readonly fileRotate: number;
  readonly facility: number;
  readonly severity: Readonly<Record<RecordSource, number>>;
  readonly hostname: string;
  readonly maxMessageSize: number;
  readonly bufferSize: number;
  readonly resendWindowMs: number;
  /** Pause reading the program's output while a working output is behind, instead of dropping. */
  readonly backpressure: boolean;
  /** The klib's own spool choice (the server output's records; the file output is local and never spooled). */
  readonly spool: KlibSpoolOptions;
}

/** RFC 5424 PRINTUSASCII: the characters HOSTNAME and APP-NAME may hold. */
const PRINTUSASCII = /^[\x21-\x7e]+$/;

function valueError(tuple: Tuple, key: string, expected: string, value: unknown) {
  const where = tuple.pathOf(key);
  const got = typeof value === 'string' ? JSON.stringify(value) : value === undefined ? 'nothing' : 'a tuple or vector';
  return ukError('UK_ERR_MANIFEST_VALUE', `${where}: expected ${expected}, got ${got}`, { where });
}

/** A name from `table` or a number from 0 to `max`. */
function readCode(tuple: Tuple, key: string, table: Readonly<Record<string, number>>, max: number, fallback: number, what: string): number {
  const value = tuple.get(key);
  if (value === undefined) return fallback;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (Object.hasOwn(table, text)) return table[text] as number;
    if (/^\d+$/.test(text) && Number(text) <= max) return Number(text);
  }
  const names = Object.keys(table);
  throw valueError(tuple, key, `${what} (${names.join(', ')}) or a number from 0 to ${max}`, value);
}

/** The machine's host name as an RFC 5424 HOSTNAME: printable ASCII, at most 255 characters. */
export function defaultHostname(name = osHostname()): string {
  const cleaned = name.replace(/[^\x21-\x7e]/g, '').slice(0, 255);
  return cleaned === '' ? '-' : cleaned;
}

/** APP-NAME from IMAGE_NAME or the program name: printable ASCII (others become `_`), at most 48. */
export function appNameOf(name: string | undefined): string {
  const cleaned = (name ?? '').replace(/[^\x21-\x7e]/g, '_').slice(0, 48);
  return cleaned === '' ? '-' : cleaned;
}

/** Checks that `file` can be created or appended to, without creating it (options start nothing). */
function checkWritable(file: string): string | undefined {
  try {
    if (statSync(file).isDirectory()) return 'it is a directory';
    accessSync(file, constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return code ?? 'not writable';
  }
  // Missing directories are created when the file is opened (as rsyslog's createDirs does):
  // check the nearest one that exists instead.
  let dir = dirname(file);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (err) {
    return `directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'not writable'}`;
  }
}

export function readSyslogOptions({ config }: OptionsInput): SyslogOptions {
  const reader = new OptionsReader('syslog', config);
  reader.allowKeys(SYSLOG_OPTION_KEYS);

  const transport = reader.read((t) => t.oneOf('transport', TRANSPORTS, 'udp'), 'udp');
  const server = reader.read((t) => {
    const value = t.string('server');
    if (value === undefined) return undefined;
    const host = value.trim();
    if (host === '' || /\s/.test(host)) throw valueError(t, 'server', 'a host name or address', value);
    if (host.includes(':') && isIP(host) === 0) throw valueError(t, 'server', 'a host name or address (put the port in server_port)', value);
    return host;
  }, undefined);
  const port = reader.read(
    (t) => t.uint('server_port', { default: DEFAULT_PORTS[transport], min: 1, max: 65535, what: 'a port number' }),
    DEFAULT_PORTS[transport],
  );

  const fileText = reader.read((t) => t.string('file'), undefined);
  let file: string | undefined;
  if (fileText !== undefined) {
    if (fileText.trim() === '') {
      reader.problem(valueError(config, 'file', 'a file path', fileText));
    } else {
      file = resolve(fileText);
      const why = checkWritable(file);
      if (why) reader.problem(ukError('UK_ERR_MANIFEST_VALUE', `${config.pathOf('file')}: cannot write to ${file}: ${why}`, { where: config.pathOf('file') }));
    }
  }
  const fileMaxSize = reader.read((t) => t.size('file_max_size', { default: 8 * 1024 * 1024, min: 1 }), 8 * 1024 * 1024);
  const fileRotate = reader.read((t) => t.uint('file_rotate', { default: 1, min: 0, max: 9, what: 'a whole number' }), 1);

  const facility = reader.read((t) => readCode(t, 'facility', FACILITIES, 23, 1, 'a facility name'), 1);
  const severity: Record<RecordSource, number> = { ...DEFAULT_SEVERITY };
  const severityTuple = reader.read((t) => t.tuple('severity'), undefined);
  if (severityTuple) {
    reader.allowKeys(SEVERITY_SOURCES, severityTuple);
    for (const source of SEVERITY_SOURCES) {
      severity[source] = reader.read(
        () => readCode(severityTuple, source, SEVERITIES, 7, DEFAULT_SEVERITY[source], 'a severity name'),
        DEFAULT_SEVERITY[source],
      );
    }
  }
  const hostname = reader.read((t) => {
    const value = t.string('hostname');
    if (value === undefined) return defaultHostname();
    if (!PRINTUSASCII.test(value) || value.length > 255)
      throw valueError(t, 'hostname', 'a host name of 1 to 255 printable ASCII characters without spaces', value);
    return value;
  }, '-');

  const maxMessageLimit = transport === 'udp' ? MAX_UDP_MESSAGE_SIZE : 1024 * 1024;
  const maxMessageSize = reader.read(
    (t) => t.size('max_message_size', { default: DEFAULT_MAX_MESSAGE_SIZE, min: 480, max: maxMessageLimit }),
    DEFAULT_MAX_MESSAGE_SIZE,
  );
  const bufferSize = reader.read((t) => t.size('buffer_size', { default: DEFAULT_BUFFER_SIZE, min: 64 * 1024, max: 1024 ** 3 }), DEFAULT_BUFFER_SIZE);
  const backpressure = reader.read((t) => t.bool('backpressure', true), true);
  const spool = readKlibSpoolOptions(reader);
  const resendWindowMs = reader.read(
    (t) => t.uint('resend_window', { default: DEFAULT_RESEND_WINDOW_MS, min: 0, max: 60_000, what: 'a whole number of milliseconds' }),
    DEFAULT_RESEND_WINDOW_MS,
  );

  if (server === undefined && file === undefined && fileText === undefined && !config.has('server')) {
    reader.problem(
      ukError('UK_ERR_MANIFEST_MISSING', `${config.path || 'syslog'}: neither server nor file is set, so there is nowhere to send the output`, {
        where: config.path || 'syslog',
        fix: 'set "server": "HOST" to send to a syslog server, "file": "PATH" to write a file, or both',
      }),
    );
  }
  if (server === undefined && !config.has('server') && (config.has('transport') || config.has('server_port'))) {
    const key = config.has('transport') ? 'transport' : 'server_port';
    reader.problem(
      ukError('UK_ERR_MANIFEST_MISSING', `${config.pathOf(key)}: set, but there is no server`, { where: config.pathOf(key), fix: 'add "server": "HOST"' }),
    );
  }
  reader.done();
  return {
    server,
    port,
    transport,
    file,
    fileMaxSize,
    fileRotate,
    facility,
    severity,
    hostname,
    maxMessageSize,
    bufferSize,
    resendWindowMs,
    backpressure,
    spool,
  };
}

/** The `tls` klib is needed only for `transport: tls`. */
export function syslogDependencies(config: Tuple | undefined): readonly string[] {
  const transport = config?.get('transport');
  return transport === 'tls' ? ['tls'] : [];
}
