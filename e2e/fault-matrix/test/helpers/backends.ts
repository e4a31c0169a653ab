/**
 * The four destinations of the matrix, each started fresh for one run, with what a case needs of
 * it: the klibs and tuples of uk's config, uk's environment, what was stored, and the klib's loss
 * counters under one set of names.
 *
 * - cloudwatch: @uk/testkit's CloudWatch Logs and IMDS emulators (the cloudwatch e2e helpers);
 * - gcp: the Cloud Logging and metadata emulators (the gcp test helpers), without de-duplication
 *   so that every copy a resend stores is seen;
 * - syslog-tcp, syslog-tls: a real rsyslogd (the syslog test helpers), reached directly or through
 *   a TcpFaultProxy for the faults rsyslogd cannot make on cue.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { makePki, TcpFaultProxy, type AwsEmulators, type GcpEmulators, type TestPki } from '@uk/testkit';
import { emulators as awsEmulators, ukEnv } from '../../../../packages/cloudwatch/test/e2e-helpers.js';
import { emulators as gcpEmulators } from '../../../../packages/gcp/test/helpers.js';
import { Rsyslog } from '../../../../packages/syslog/test/helpers/rsyslog.js';
import type { Counted } from './accounting.js';
import { cleanEnv } from './run.js';

export type KlibName = 'cloudwatch' | 'gcp' | 'syslog-tcp' | 'syslog-tls';
export const KLIBS: readonly KlibName[] = ['cloudwatch', 'gcp', 'syslog-tcp', 'syslog-tls'];

export const LOG_GROUP = 'fault-matrix';
export const LOG_STREAM = 'run';

let pki: TestPki | undefined;
/** One CA and server certificate (openssl) for every TLS run. */
function testPki(): TestPki {
  pki ??= makePki('uk fault matrix CA');
  return pki;
}

interface BackendBase {
  /** `Klibs` of uk's config. */
  readonly klibs: string[];
  /** The klib's tuple(s) for ManifestPassthrough. */
  readonly tuples: Record<string, unknown>;
  env(dir: string): Record<string, string>;
  /** Every stored line (program lines and uk's messages), copies included. */
  stored(): (string | Record<string, unknown>)[];
  /** The klib's loss counters from uk's stats. */
  counted(stats: Record<string, Record<string, number>>): Counted;
}

export interface CloudWatchBackend extends BackendBase {
  readonly kind: 'cloudwatch';
  readonly aws: AwsEmulators;
}

export interface GcpBackend extends BackendBase {
  readonly kind: 'gcp';
  readonly gcp: GcpEmulators;
}

export interface SyslogBackend extends BackendBase {
  readonly kind: 'syslog-tcp' | 'syslog-tls';
  readonly rsyslog: Rsyslog;
  /** In front of rsyslogd when the run goes through it. */
  readonly proxy: TcpFaultProxy | undefined;
  /** Sends a signal to rsyslogd (SIGSTOP: a hung server; SIGKILL: gone with what it had not read). */
  signal(signal: NodeJS.Signals): void;
}

export type Backend = CloudWatchBackend | GcpBackend | SyslogBackend;

const n = (stats: Record<string, number> | undefined, name: string): number => stats?.[name] ?? 0;

export async function startBackend(t: Test, kind: KlibName, options: { viaProxy?: boolean; bufferSize?: string } = {}): Promise<Backend> {
  const buffer = options.bufferSize !== undefined ? { buffer_size: options.bufferSize } : {};
  switch (kind) {
    case 'cloudwatch': {
      const aws = await awsEmulators(t);
      return {
        kind,
        aws,
        klibs: ['tls', 'cloudwatch'],
        tuples: { cloudwatch: { logging: { log_group: LOG_GROUP, log_stream: LOG_STREAM, flush_interval: '0.1', ...buffer } } },
        env: (dir) => ukEnv(dir, aws),
        stored: () => [...aws.cloudwatch.groups.values()].flatMap((g) => [...g.streams.values()].flatMap((s) => s.events.map((e) => e.message))),
        counted: ({ cloudwatch: s }) => ({
          dropped: n(s, 'events_dropped'),
          rejected: n(s, 'events_rejected'),
          unconfirmed: n(s, 'events_unconfirmed'),
          resent: n(s, 'events_resent'),
        }),
      };
    }
    case 'gcp': {
      // Cloud Logging de-duplicates a resent entry; here every copy is kept so resends can be counted.
      const gcp = await gcpEmulators(t, { logging: { dedupe: false } });
      return {
        kind,
        gcp,
        klibs: ['tls', 'gcp'],
        tuples: { gcp: { logging: { log_id: 'fault-matrix', flush_interval: 0.1, ...buffer } } },
        env: (dir) => cleanEnv(dir, gcp.env),
        stored: () => gcp.logging.entries().map((e) => e.textPayload ?? e.jsonPayload ?? ''),
        counted: ({ gcp: s }) => ({ dropped: n(s, 'dropped'), rejected: n(s, 'rejected'), unconfirmed: n(s, 'unconfirmed'), resent: n(s, 'resent') }),
      };
    }
    case 'syslog-tcp':
    case 'syslog-tls': {
      const input = kind === 'syslog-tls' ? 'tls' : 'tcp';
      const rsyslog = await Rsyslog.start(input, input === 'tls' ? testPki() : undefined);
      t.teardown(() => rsyslog.stop());
      let proxy: TcpFaultProxy | undefined;
      if (options.viaProxy) {
        const p = await TcpFaultProxy.start({ target: { host: '127.0.0.1', port: rsyslog.port } });
        t.teardown(() => p.close());
        proxy = p;
      }
      const tuples: Record<string, unknown> = { syslog: { server: '127.0.0.1', server_port: proxy?.port ?? rsyslog.port, transport: input, ...buffer } };
      if (input === 'tls') tuples.tls = { ca_file: testPki().caFile };
      return {
        kind,
        rsyslog,
        proxy,
        klibs: input === 'tls' ? ['tls', 'syslog'] : ['syslog'],
        tuples,
        env: (dir) => cleanEnv(dir, {}),
        stored: () => rsyslog.messages().map((m) => m.msg),
        counted: ({ syslog: s }) => ({ dropped: n(s, 'dropped'), rejected: 0, unconfirmed: n(s, 'unconfirmed'), resent: n(s, 'resent') }),
        signal: (signal) => {
          const pid = Number(readFileSync(join(rsyslog.dir, 'rsyslogd.pid'), 'utf8').trim());
          process.kill(pid, signal);
        },
      };
    }
  }
}
