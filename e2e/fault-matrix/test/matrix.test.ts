/**
 * The fault matrix (issue 11): each shipping klib — cloudwatch, gcp, syslog over TCP and over
 * TLS — runs a real program under the real `uk run`, against a destination that fails in one way,
 * and every run is checked against uk's promise (helpers/accounting.ts):
 *
 *     lines written = stored (distinct) + counted as dropped, duplicates counted as resends
 *
 * The destinations are @uk/testkit's loopback emulators (CloudWatch Logs + IMDS, Cloud Logging +
 * metadata) and a real rsyslogd, alone or behind a TcpFaultProxy. Faults start and end on events
 * (the emulator saw the seventh failed attempt, the lines of phase 0 were stored), never on a
 * timer; the program waits for a go-file between its phases. uk runs with
 * `uk.shutdown_timeout: 2` so that the cases that end in an outage finish quickly.
 *
 * At the end, a table of every run (written, stored, duplicates, dropped, unconfirmed, resent,
 * peak RSS of uk) goes into the TAP output and, with FAULT_MATRIX_REPORT=FILE, into FILE.
 */
import { writeFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { checkBuilt, tempDir, writeConfig } from '../../../packages/cloudwatch/test/e2e-helpers.js';
import type { AppliedFault, Faults } from '@uk/testkit';
import { audit, checkInvariant, reportTable, type Accounting, type Row } from './helpers/accounting.js';
import { KLIBS, startBackend, type Backend, type KlibName, type SyslogBackend } from './helpers/backends.js';
import { goFile, lineNumber, writeLinesProgram } from './helpers/program.js';
import { parseStats, runCase, until, type UkOutcome } from './helpers/run.js';
import type { UkRun } from '../../../packages/cloudwatch/test/e2e-helpers.js';

checkBuilt(t);

/** uk.shutdown_timeout of every run, seconds. */
const SHUTDOWN_S = 2;
/** The delivery backoff cap for records (the core Batcher's). */
const BACKOFF_CAP_MS = 30_000;
/**
 * How long each klib waits for an answer before it gives up on a request (cloudwatch's
 * REQUEST_TIMEOUT_MS, gcp's WRITE_TIMEOUT_MS): the slow and hung cases last at least this long.
 */
const REQUEST_TIMEOUT_MS = { cloudwatch: 20_000, gcp: 60_000 } as const;
const THROWING_KLIB = new URL('./fixtures/throwing-klib.mjs', import.meta.url).pathname;

interface CaseContext {
  readonly t: Test;
  readonly dir: string;
  readonly run: UkRun;
  /** Measurements the case's own checks look at. */
  readonly notes: Record<string, number>;
}

interface Case {
  readonly name: string;
  readonly klibs: readonly KlibName[];
  /** Lines per phase of the program. */
  readonly phases: readonly number[];
  /** uk.shutdown_timeout of this case, seconds (default SHUTDOWN_S). */
  readonly shutdownS?: number;
  readonly json?: boolean;
  /** syslog: reach rsyslogd through a TcpFaultProxy. */
  readonly viaProxy?: boolean;
  /** Extra uk options for a klib. */
  args?(kind: KlibName): string[];
  readonly extraKlibs?: readonly string[];
  /** The klib's buffer_size (cloudwatch and gcp: under logging, syslog: in its tuple). */
  readonly bufferSize?: string;
  /** uk is killed (and the test fails) after this long. */
  readonly timeoutMs: number;
  /** Before uk starts. */
  before?(b: Backend): void | Promise<void>;
  /** While uk runs: wait for the fault's events, end it, let the program go on. */
  during?(b: Backend, c: CaseContext): Promise<void>;
  /** After uk exited, before what was stored is read (syslog: rsyslogd is stopped, which writes out what it read). */
  after?(b: Backend): void | Promise<void>;
  /** Checks of this case beyond the invariant. */
  check?(t: Test, r: { b: Backend; acc: Accounting; outcome: UkOutcome; notes: Record<string, number> }): void;
}

// ---- fault helpers ------------------------------------------------------------------------------

function faultsOf(b: Backend): { faults: Faults; operation: string } {
  if (b.kind === 'cloudwatch') return { faults: b.aws.cloudwatch.faults, operation: 'PutLogEvents' };
  if (b.kind === 'gcp') return { faults: b.gcp.logging.faults, operation: 'WriteLogEntries' };
  throw new Error(`${b.kind} has no request faults`);
}

const serverError = (b: Backend) =>
  b.kind === 'cloudwatch' ? { kind: 'error' as const, status: 500, type: 'InternalFailure' } : { kind: 'error' as const, status: 500, type: 'INTERNAL' };

/**
 * Rounds of attempts among the applied faults of `kind`: attempts closer than 300 ms to the one
 * before belong to the same round (two requests in flight fail together), so rounds count the
 * klib's retries, whatever its parallelism.
 */
function rounds(log: readonly AppliedFault[], kind: AppliedFault['kind']): number {
  let count = 0;
  let last = -Infinity;
  for (const e of log) {
    if (e.kind !== kind) continue;
    if (e.at - last > 300) count++;
    last = e.at;
  }
  return count;
}

/** Copies of program line `n` stored so far. */
const copiesOf = (b: Backend, n: number): number => b.stored().filter((s) => lineNumber(s) === n).length;
/** Distinct lines among the first `count` stored so far. */
const storedOf = (b: Backend, count: number): number => audit(b.stored(), count).distinct;
const go = (c: CaseContext, p: number): void => writeFileSync(goFile(c.dir, p), '');
const syslog = (b: Backend): SyslogBackend => {
  if (b.kind !== 'syslog-tcp' && b.kind !== 'syslog-tls') throw new Error(`${b.kind} is not syslog`);
  return b;
};
const proxyOf = (b: Backend) => {
  const proxy = syslog(b).proxy;
  if (!proxy) throw new Error('this case needs the proxy');
  return proxy;
};

/** Failed rounds before an outage ends: the seventh comes at least 30.5 s after the first (1+2+4+8+16+30 s, less up to half for jitter), beyond the backoff cap. */
const OUTAGE_ROUNDS = 7;

// ---- the cases ----------------------------------------------------------------------------------

const CASES: readonly Case[] = [
  {
    name: 'outage ends',
    klibs: KLIBS,
    phases: [2000, 2000],
    // syslog: uk's own retries counter (printed every second) is how the failed attempts are seen.
    args: (kind) => (kind.startsWith('syslog') ? ['--stats-interval', '1'] : []),
    timeoutMs: 240_000,
    before: async (b) => {
      if (b.kind === 'cloudwatch' || b.kind === 'gcp') faultsOf(b).faults.add(serverError(b), { match: faultsOf(b).operation, times: Infinity });
      else await b.rsyslog.stop();
    },
    during: async (b, c) => {
      const started = performance.now();
      if (b.kind === 'cloudwatch' || b.kind === 'gcp') {
        const { faults } = faultsOf(b);
        await faults.until(() => rounds(faults.log, 'error') >= OUTAGE_ROUNDS, { timeoutMs: 150_000, what: `${OUTAGE_ROUNDS} rounds of failed attempts` });
        c.notes.outageMs = performance.now() - (faults.log[0]?.at ?? started);
        faults.clear('error');
      } else {
        await until(
          () => (parseStats(c.run.stderr()).syslog?.retries ?? 0) >= OUTAGE_ROUNDS,
          `${OUTAGE_ROUNDS} failed attempts (uk's retries counter)`,
          150_000,
        );
        c.notes.outageMs = performance.now() - started;
        await b.rsyslog.restart();
      }
      const ended = performance.now();
      await until(() => storedOf(b, 2000) === 2000, 'phase 0 delivered after the outage', BACKOFF_CAP_MS + 30_000);
      c.notes.recoveryMs = performance.now() - ended;
      go(c, 1);
    },
    check: (t, { notes, acc }) => {
      t.ok((notes.outageMs ?? 0) > BACKOFF_CAP_MS, `the outage (${((notes.outageMs ?? 0) / 1000).toFixed(1)} s) outlasted the backoff cap`);
      t.ok(
        (notes.recoveryMs ?? Infinity) <= BACKOFF_CAP_MS + 3000,
        `delivery resumed ${((notes.recoveryMs ?? 0) / 1000).toFixed(1)} s after the outage ended: within the ${BACKOFF_CAP_MS / 1000} s backoff cap`,
      );
      t.equal(acc.written - acc.distinct, 0, 'an outage that ends while the program runs loses nothing');
    },
  },
  {
    name: 'slow answers',
    klibs: ['cloudwatch', 'gcp'],
    phases: [1000, 1000],
    timeoutMs: 240_000,
    // The first request with the program's first line is stored at once and answered long after
    // the client gave up: the client resends, and the copy must be counted as a resend.
    before: (b) => void faultsOf(b).faults.add({ kind: 'slow', ms: 600_000 }, { match: faultsOf(b).operation, contains: 'fm 000000' }),
    during: async (b, c) => {
      const timeout = REQUEST_TIMEOUT_MS[b.kind as 'cloudwatch' | 'gcp'];
      await faultsOf(b).faults.until(() => faultsOf(b).faults.applied.slow >= 1, { timeoutMs: 30_000, what: 'the slow answer' });
      await until(() => copiesOf(b, 0) >= 2, 'the resend after the request timed out', timeout + 60_000);
      await until(() => storedOf(b, 1000) === 1000, 'phase 0 delivered', 30_000);
      go(c, 1);
    },
    check: (t, { acc }) => t.ok(acc.total - acc.distinct >= 1, `the late answer led to a resend that was stored again (${acc.total - acc.distinct} copies)`),
  },
  {
    name: 'hung connection',
    klibs: KLIBS,
    phases: [1000, 1000],
    timeoutMs: 240_000,
    // cloudwatch, gcp: the request with the first line is accepted and never answered, until the
    // client gives up and sends it again. syslog: rsyslogd is stopped (SIGSTOP) after phase 0
    // arrived, so it accepts phase 1 into its socket and never reads it; after uk exits it is
    // killed, and what it never read is gone.
    before: (b) => {
      if (b.kind === 'cloudwatch' || b.kind === 'gcp') faultsOf(b).faults.add({ kind: 'hang' }, { match: faultsOf(b).operation, contains: 'fm 000000' });
    },
    during: async (b, c) => {
      if (b.kind === 'cloudwatch' || b.kind === 'gcp') {
        await faultsOf(b).faults.until(() => faultsOf(b).faults.applied.hang >= 1, { timeoutMs: 30_000, what: 'the hung request' });
        await until(() => storedOf(b, 1000) === 1000, 'phase 0 delivered after the client gave up on the hung request', REQUEST_TIMEOUT_MS[b.kind] + 60_000);
      } else {
        await until(() => storedOf(b, 1000) === 1000, 'phase 0 delivered', 30_000);
        syslog(b).signal('SIGSTOP');
      }
      go(c, 1);
    },
    after: async (b) => {
      if (b.kind !== 'syslog-tcp' && b.kind !== 'syslog-tls') return;
      b.signal('SIGKILL');
      await b.rsyslog.stop();
    },
    check: (t, { b, acc }) => {
      if (b.kind === 'cloudwatch' || b.kind === 'gcp')
        t.ok(acc.resent >= 1, `the records of the request that timed out were counted as resent when sent again (resent ${acc.resent})`);
    },
  },
  {
    name: 'outage never ends',
    klibs: KLIBS,
    phases: [3000],
    timeoutMs: 60_000,
    before: async (b) => {
      if (b.kind === 'cloudwatch' || b.kind === 'gcp') faultsOf(b).faults.add(serverError(b), { match: faultsOf(b).operation, times: Infinity });
      else await b.rsyslog.stop();
    },
    check: (t, { acc, outcome }) => {
      t.equal(acc.distinct, 0, 'nothing could be stored');
      t.ok(
        // Not a timing test: without the deadline uk would retry for ever (until runCase's
        // timeout). The slack is for a loaded 2-CPU machine, where uk's exit itself takes seconds.
        outcome.shutdownMs !== undefined && outcome.shutdownMs <= SHUTDOWN_S * 1000 + 8000,
        `uk exited ${((outcome.shutdownMs ?? NaN) / 1000).toFixed(1)} s after the program: by its shutdown deadline (${SHUTDOWN_S} s)`,
      );
    },
  },
  {
    name: 'connection resets',
    klibs: KLIBS,
    phases: [1000, 1000],
    viaProxy: true,
    timeoutMs: 90_000,
    // cloudwatch, gcp: a reset when the request arrives (nothing stored), then two answers lost
    // after the request was stored. syslog: the proxy resets both sides twice, with data in flight.
    before: (b) => {
      if (b.kind === 'cloudwatch' || b.kind === 'gcp') {
        const { faults, operation } = faultsOf(b);
        faults
          .add({ kind: 'reset' }, { match: operation, contains: 'fm 000000' })
          .add({ kind: 'lose-answer' }, { match: operation, contains: 'fm 000000', times: 2 });
      } else {
        proxyOf(b).cutAfter(40_000);
      }
    },
    during: async (b, c) => {
      if (b.kind === 'cloudwatch' || b.kind === 'gcp') {
        const { faults } = faultsOf(b);
        await faults.until(() => faults.applied.reset >= 1 && faults.applied['lose-answer'] >= 2, {
          timeoutMs: 60_000,
          what: 'the reset and the two lost answers',
        });
        await until(() => storedOf(b, 1000) === 1000, 'phase 0 delivered', 30_000);
      } else {
        const proxy = proxyOf(b);
        await proxy.until(() => proxy.resets >= 1, { timeoutMs: 30_000, what: 'the first reset' });
        proxy.cutAfter(30_000);
        await proxy.until(() => proxy.resets >= 2, { timeoutMs: 30_000, what: 'the second reset' });
      }
      go(c, 1);
    },
    check: (t, { b, acc }) => {
      if (b.kind === 'cloudwatch' || b.kind === 'gcp')
        t.ok(acc.total - acc.distinct >= 2, `the lost answers led to resends that were stored again (${acc.total - acc.distinct} copies)`);
    },
  },
  {
    name: 'expired credentials',
    klibs: ['cloudwatch', 'gcp'],
    phases: [1000, 1000],
    timeoutMs: 90_000,
    // A storm: every write is refused as unauthenticated (cloudwatch: ExpiredTokenException, and
    // the role's credentials rotate with the old ones expired; gcp: 401) for 4 rounds.
    before: (b) => void faultsOf(b).faults.add({ kind: 'expired-token' }, { match: faultsOf(b).operation, times: Infinity }),
    during: async (b, c) => {
      const { faults } = faultsOf(b);
      await faults.until(() => faults.applied['expired-token'] >= 1, { timeoutMs: 30_000, what: 'the first refusal' });
      if (b.kind === 'cloudwatch') b.aws.imds.rotate({ expirePrevious: true });
      if (b.kind === 'gcp') b.gcp.tokens.expire();
      await faults.until(() => rounds(faults.log, 'expired-token') >= 4, { timeoutMs: 60_000, what: '4 rounds of refusals' });
      faults.clear('expired-token');
      await until(() => storedOf(b, 1000) === 1000, 'phase 0 delivered after the storm', BACKOFF_CAP_MS + 30_000);
      go(c, 1);
    },
    check: (t, { acc }) => t.equal(acc.written - acc.distinct, 0, 'a storm of expired credentials that ends loses nothing'),
  },
  {
    name: 'nested and invalid JSON',
    klibs: KLIBS,
    phases: [3000],
    json: true,
    timeoutMs: 90_000,
  },
  {
    name: 'backpressure at exit',
    klibs: KLIBS,
    phases: [60_000],
    viaProxy: true,
    // The smallest buffer cloudwatch allows: backpressure pauses the program again and again, so
    // it is likely to exit while uk holds its pipe unread.
    bufferSize: '2m',
    timeoutMs: 120_000,
    // Every write is answered late (syslog: the proxy forwards each chunk late); the program dumps
    // 60,000 lines and exits at once.
    before: (b) => {
      if (b.kind === 'cloudwatch' || b.kind === 'gcp') faultsOf(b).faults.add({ kind: 'delay', ms: 1000 }, { match: faultsOf(b).operation, times: Infinity });
      else proxyOf(b).readDelayMs = 20;
    },
  },
  {
    name: 'throwing third-party klib',
    klibs: ['cloudwatch'],
    phases: [2000],
    extraKlibs: [THROWING_KLIB],
    // A healthy destination: uk exits as soon as everything is stored. The longer deadline only
    // matters on a loaded machine, where CloudWatch setup and delivery may outlast 2 s after the
    // program's exit (then the lines were counted as dropped, but this case is about the thrower).
    shutdownS: 30,
    timeoutMs: 90_000,
    check: (t, { acc, outcome }) => {
      t.match(outcome.stderr, /thrower/, 'the failing driver was reported');
      t.equal(acc.written - acc.distinct, 0, 'cloudwatch stored every line');
      t.equal(acc.dropped + acc.rejected + acc.unconfirmed, 0, 'and counted nothing lost');
    },
  },
];

// ---- running them ---------------------------------------------------------------------------------

const rows: Row[] = [];

/** FAULT_MATRIX_ONLY=words,… runs only the runs whose "case: klib" name contains one of the words (to work on one case). */
const only = (process.env.FAULT_MATRIX_ONLY ?? '').split(',').filter(Boolean);
const selected = CASES.flatMap((c) => c.klibs.map((kind) => ({ c, kind, name: `${c.name}: ${kind}` }))).filter(
  (r) => only.length === 0 || only.some((w) => r.name.includes(w)),
);

async function runOne(t: Test, c: Case, kind: KlibName): Promise<void> {
  const b = await startBackend(t, kind, { viaProxy: c.viaProxy ?? false, ...(c.bufferSize !== undefined ? { bufferSize: c.bufferSize } : {}) });
  const dir = tempDir(t);
  const config = writeConfig(dir, {
    Klibs: [...b.klibs, ...(c.extraKlibs ?? [])],
    ManifestPassthrough: { ...b.tuples, consoles: ['-serial'], uk: { shutdown_timeout: c.shutdownS ?? SHUTDOWN_S } },
  });
  const program = writeLinesProgram(dir, { phases: c.phases, json: c.json ?? false });
  const written = c.phases.reduce((a, n) => a + n, 0);
  await c.before?.(b);
  const notes: Record<string, number> = {};
  const outcome = await runCase(t, {
    dir,
    config,
    program,
    env: b.env(dir),
    args: c.args?.(kind) ?? [],
    timeoutMs: c.timeoutMs,
    ...(c.during ? { during: (run: UkRun) => (c.during as NonNullable<Case['during']>)(b, { t, dir, run, notes }) } : {}),
  });
  if (c.after) await c.after(b);
  else if (b.kind === 'syslog-tcp' || b.kind === 'syslog-tls') await b.rsyslog.stop();
  const acc: Accounting = { ...audit(b.stored(), written), ...b.counted(outcome.stats), written, ukLines: outcome.ukLines };
  rows.push({ ...acc, case: c.name, klib: kind, peakRssMiB: outcome.peakRssMiB, seconds: outcome.seconds });
  t.equal(outcome.code, 0, "uk exits with the program's status", { stderr: outcome.stderr.slice(-4000) });
  t.ok(outcome.stats[b.kind.startsWith('syslog') ? 'syslog' : b.kind], "uk printed the klib's counters");
  checkInvariant(t, acc);
  c.check?.(t, { b, acc, outcome, notes });
  // What uk said, to see why (its own messages name every failure and the counters).
  if (!t.passing())
    t.comment(
      `uk's stderr (without the periodic stats):\n${outcome.stderr
        .split('\n')
        .filter((l) => !l.startsWith('uk: stats '))
        .join('\n')
        .slice(-6000)}\n${Object.entries(outcome.stats)
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join('\n')}`,
    );
}

t.test('fault matrix', async (t) => {
  // Most runs spend their time waiting (for a backoff, a request timeout): run several at once.
  t.jobs = 6;
  for (const { c, kind, name } of selected) t.test(name, (t) => runOne(t, c, kind));
});

t.test('the table of every run', async (t) => {
  t.equal(rows.length, selected.length, 'every run reported its numbers');
  const order = (r: Row) => CASES.findIndex((c) => c.name === r.case) * 10 + KLIBS.indexOf(r.klib as KlibName);
  reportTable(
    t,
    [...rows].sort((a, b) => order(a) - order(b)),
  );
});
