/** Checks shared by the TCP and TLS tests against rsyslog. */
import type { Test } from 'tap';
import type { TestPki } from '@uk/testkit';
import { audit } from './fake-server.js';
import { Rsyslog, type Input, type Parsed } from './rsyslog.js';
import { EMIT, runUk, tempDir, writeConfig } from './uk.js';

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000Z$/;

function klibsAndTuples(input: Input, rsyslog: Rsyslog, pki: TestPki | undefined, syslog: Record<string, unknown> = {}) {
  const tuples: Record<string, unknown> = { syslog: { server: '127.0.0.1', server_port: rsyslog.port, transport: input, ...syslog } };
  if (input === 'tls') tuples.tls = { ca_file: pki?.caFile };
  return { Klibs: input === 'tls' ? ['tls', 'syslog'] : ['syslog'], ManifestPassthrough: tuples };
}

/** Every line, in order, with every field as rsyslog parsed it. */
export async function everyLineArrives(t: Test, input: Input, pki?: TestPki): Promise<void> {
  const rsyslog = await Rsyslog.start(input, pki);
  t.teardown(() => rsyslog.stop());
  const dir = tempDir();
  const config = writeConfig(dir, { ...klibsAndTuples(input, rsyslog, pki, { hostname: 'uk-test-host' }), Env: { IMAGE_NAME: 'webg' } });
  const extras = ['ünïcödé ✓ 𝄞', '', 'pipes | inside | text', 'tab\there', '  spaces around  ', 'x'.repeat(5000)];
  const started = Date.now();
  const result = await runUk(config, [EMIT, '--pid', '--count', '3000', '--stderr', '50', ...extras.flatMap((e) => ['--extra', e])]);
  const ended = Date.now();
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  const expected = 1 + 3000 + 50 + extras.length;
  const messages = await rsyslog.waitFor((m) => m.length >= expected);
  t.equal(messages.length, expected, 'nothing lost, nothing extra');
  const out = messages.filter((m) => m.pri === 14);
  const err = messages.filter((m) => m.pri === 11);
  const pid = /^pid (\d+)$/.exec(out[0]?.msg ?? '')?.[1];
  t.ok(pid, 'the program reported its pid');
  t.same(
    out.map((m) => m.msg),
    [`pid ${pid}`, ...Array.from({ length: 3000 }, (_, i) => `line ${i}`), ...extras],
    'stdout as user.info (14), in order, unchanged',
  );
  t.same(
    err.map((m) => m.msg),
    Array.from({ length: 50 }, (_, i) => `line err ${i}`),
    'stderr as user.err (11), in order',
  );
  t.same([...new Set(messages.map((m) => m.hostname))], ['uk-test-host']);
  t.same([...new Set(messages.map((m) => m.appName))], ['webg']);
  t.same([...new Set(messages.map((m) => m.procId))], [pid]);
  const badTimes = messages.filter(
    (m: Parsed) => !TIMESTAMP.test(m.timestamp) || Date.parse(m.timestamp) < started - 1000 || Date.parse(m.timestamp) > ended + 1000,
  );
  t.same(badTimes, [], 'TIMESTAMPs are UTC with six fractional digits, from the run');
  t.equal(result.stats.sent, expected);
  t.equal(result.stats.dropped, 0);
  t.equal(result.stats.reconnects, 0);
  t.notMatch(rsyslog.log, /oversize|Uncompression|invalid|framing/i, 'rsyslog saw no oversize or malformed message');
}

/**
 * rsyslogd is stopped while the program writes a line every 2 ms, and started again on the same
 * port 300 ms later: every line must arrive, first occurrences in order, nothing counted dropped.
 */
export async function serverRestartLosesNothing(t: Test, input: Input, pki?: TestPki): Promise<void> {
  const rsyslog = await Rsyslog.start(input, pki);
  t.teardown(() => rsyslog.stop());
  const dir = tempDir();
  const config = writeConfig(dir, klibsAndTuples(input, rsyslog, pki));
  const count = 1500;
  let restarted: Promise<void> | undefined;
  let restartedAt = 0;
  const result = await runUk(config, [EMIT, '--count', String(count), '--interval', '2'], {
    onStdout: (_chunk, all) => {
      if (!restarted && all.includes('line 400\n')) {
        restarted = (async () => {
          await rsyslog.stop();
          await new Promise((resolve) => setTimeout(resolve, 300));
          await rsyslog.restart();
          restartedAt = Date.now();
        })();
      }
    },
  });
  await restarted;
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  t.ok(restartedAt > 0, 'rsyslogd was restarted during the run');
  const messages = await rsyslog.waitFor(
    (m) =>
      m.some((x) => x.msg === `line ${count - 1}`) &&
      audit(
        m.map((x) => x.msg),
        count,
      ).missing.length === 0,
    10_000,
  );
  const { missing, duplicates, outOfOrder } = audit(
    messages.map((m) => m.msg),
    count,
  );
  t.same(missing, [], 'no line is missing');
  t.equal(outOfOrder, 0, 'first occurrences are in order');
  t.ok((result.stats.reconnects ?? 0) >= 1, `reconnects=${result.stats.reconnects}`);
  t.equal(result.stats.dropped, 0, 'dropped=0');
  t.match(result.stderr, new RegExp(`lost the connection to 127\\.0\\.0\\.1:${rsyslog.port}`));
  t.comment(
    `${input} restart: ${duplicates} duplicate line(s) (resent=${result.stats.resent}), reconnects=${result.stats.reconnects}, retries=${result.stats.retries}`,
  );
}

/** With no server at all, uk still exits by the shutdown deadline and counts what it could not send. */
export async function unreachableServerIsBounded(t: Test, input: Input, port: number, pki?: TestPki): Promise<void> {
  const dir = tempDir();
  const tuples: Record<string, unknown> = { uk: { shutdown_timeout: 2 }, syslog: { server: '127.0.0.1', server_port: port, transport: input } };
  if (input === 'tls') tuples.tls = { ca_file: pki?.caFile };
  const config = writeConfig(dir, { Klibs: input === 'tls' ? ['tls', 'syslog'] : ['syslog'], ManifestPassthrough: tuples });
  const result = await runUk(config, [EMIT, '--count', '20']);
  t.equal(result.code, 0, 'the program ran and its exit code is kept');
  // Bounded, not hanging on the retries: the deadline message below says the 2 s deadline ended
  // it. The wall-clock bound is only an outer limit (start-up on a loaded 2-CPU machine took 8 s).
  t.ok(result.ms < 30_000, `uk exited by the 2 s shutdown deadline, not waiting on retries (took ${result.ms} ms)`);
  t.match(result.stderr, /send failed, retrying in \d\.\d s \(\d+ messages waiting\): connect ECONNREFUSED/);
  t.match(result.stderr, /shutdown deadline passed: dropped \d+ messages that could not be sent/);
  t.equal(result.stats.sent, 0);
  t.ok((result.stats.dropped ?? 0) >= 20, `all 20 lines counted as dropped (dropped=${result.stats.dropped})`);
}
