// UDP against a real rsyslogd: what rsyslog parsed must be what the program wrote, field by field.
import { hostname } from 'node:os';
import t, { type Test } from 'tap';
import { Rsyslog, type Parsed } from './helpers/rsyslog.js';
import { EMIT, runUk, tempDir, writeConfig } from './helpers/uk.js';

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000Z$/;

/** Checks the timestamp format and that it lies within the run (± 1 s). */
function assertTimes(t: Test, messages: Parsed[], started: number, ended: number): void {
  const bad = messages.filter((m) => !TIMESTAMP.test(m.timestamp) || Date.parse(m.timestamp) < started - 1000 || Date.parse(m.timestamp) > ended + 1000);
  t.same(bad, [], 'every TIMESTAMP is UTC with six fractional digits, taken during the run');
}

t.test('UDP: every line arrives in order and rsyslog parses PRI, timestamp, hostname, app-name, procid and message', async (t) => {
  const rsyslog = await Rsyslog.start('udp');
  t.teardown(() => rsyslog.stop());
  const dir = tempDir();
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    Env: { IMAGE_NAME: 'webg' },
    ManifestPassthrough: { syslog: { server: '127.0.0.1', server_port: rsyslog.port, hostname: 'uk-test-host' } },
  });
  const extras = ['ünïcödé ✓ 𝄞', '', 'pipes | inside | text', 'tab\there', '  leading and trailing spaces  '];
  const started = Date.now();
  const result = await runUk(config, [EMIT, '--pid', '--count', '300', '--stderr', '20', ...extras.flatMap((e) => ['--extra', e])]);
  const ended = Date.now();
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  const expectedCount = 1 + 300 + extras.length + 20;
  const messages = await rsyslog.waitFor((m) => m.length >= expectedCount);
  t.equal(messages.length, expectedCount, 'nothing lost, nothing extra');

  const out = messages.filter((m) => m.pri === 14);
  const err = messages.filter((m) => m.pri === 11);
  const pid = /^pid (\d+)$/.exec(out[0]?.msg ?? '')?.[1];
  t.ok(pid, 'the program reported its pid');
  t.same(
    out.map((m) => m.msg),
    [`pid ${pid}`, ...Array.from({ length: 300 }, (_, i) => `line ${i}`), ...extras],
    'stdout lines as user.info (14), in order, unchanged',
  );
  t.same(
    err.map((m) => m.msg),
    Array.from({ length: 20 }, (_, i) => `line err ${i}`),
    'stderr lines as user.err (11), in order',
  );
  t.same([...new Set(messages.map((m) => m.hostname))], ['uk-test-host'], 'HOSTNAME from the hostname option');
  t.same([...new Set(messages.map((m) => m.appName))], ['webg'], 'APP-NAME from IMAGE_NAME');
  t.same([...new Set(messages.map((m) => m.procId))], [pid], "PROCID is the program's pid");
  assertTimes(t, messages, started, ended);
  t.equal(result.stats.sent, expectedCount);
  t.equal(result.stats.dropped, 0);
});

t.test("UDP defaults: the machine's host name, the program's name, kernel messages as user.notice with PROCID -", async (t) => {
  const rsyslog = await Rsyslog.start('udp');
  t.teardown(() => rsyslog.stop());
  const dir = tempDir();
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    // An unknown console name makes uk warn at boot, before the program runs.
    ManifestPassthrough: { consoles: ['+syslog', '+nosuchdriver'], syslog: { server: '127.0.0.1', server_port: rsyslog.port } },
  });
  const result = await runUk(config, [EMIT, '--count', '3']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  const messages = await rsyslog.waitFor((m) => m.length >= 4);
  t.equal(messages.length, 4);
  const kernel = messages.filter((m) => m.pri === 13);
  t.equal(kernel.length, 1, 'one uk message, as user.notice (13)');
  t.match(kernel[0]?.msg, /^uk: consoles\[1\]: no console driver named "nosuchdriver"/);
  t.equal(kernel[0]?.procId, '-', 'the program had not started yet');
  const out = messages.filter((m) => m.pri === 14);
  t.same(
    out.map((m) => m.msg),
    ['line 0', 'line 1', 'line 2'],
  );
  t.same([...new Set(messages.map((m) => m.hostname))], [hostname()]);
  t.same([...new Set(messages.map((m) => m.appName))], ['emit.mjs'], "APP-NAME defaults to the program's file name");
  t.match(out[0]?.procId, /^\d+$/);
});

t.test('UDP: facility and severity by source are configurable', async (t) => {
  const rsyslog = await Rsyslog.start('udp');
  t.teardown(() => rsyslog.stop());
  const dir = tempDir();
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    ManifestPassthrough: { syslog: { server: '127.0.0.1', server_port: rsyslog.port, facility: 'local3', severity: { stdout: 'notice', stderr: 'warning' } } },
  });
  const result = await runUk(config, [EMIT, '--count', '2', '--stderr', '2']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  const messages = await rsyslog.waitFor((m) => m.length >= 4);
  t.same(
    messages.filter((m) => m.pri === 19 * 8 + 5).map((m) => m.msg),
    ['line 0', 'line 1'],
    'stdout: local3.notice = 157',
  );
  t.same(
    messages.filter((m) => m.pri === 19 * 8 + 4).map((m) => m.msg),
    ['line err 0', 'line err 1'],
    'stderr: local3.warning = 156',
  );
});

t.test(
  "UDP: a line longer than max_message_size becomes several messages that fit rsyslog's default limit (8096 bytes), split between characters",
  async (t) => {
    const rsyslog = await Rsyslog.start('udp');
    t.teardown(() => rsyslog.stop());
    const dir = tempDir();
    const config = writeConfig(dir, { Klibs: ['syslog'], ManifestPassthrough: { syslog: { server: '127.0.0.1', server_port: rsyslog.port } } });
    // 2 + 3 + 4 + 1 bytes per group: cuts land inside characters unless they are placed with care.
    const long = 'é€𝄞a'.repeat(2000);
    t.equal(Buffer.byteLength(long), 20000);
    const result = await runUk(config, [EMIT, '--extra', long, '--extra', 'after']);
    t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
    const messages = await rsyslog.waitFor((m) => m.some((x) => x.msg === 'after'));
    const pieces = messages.slice(0, -1).map((m) => m.msg);
    t.equal(pieces.length, 3, '20000 bytes in messages of at most 8096');
    t.equal(pieces.join(''), long, 'the pieces put together are the line, byte for byte');
    t.notOk(
      pieces.some((p) => p.includes('\ufffd')),
      'no character was cut',
    );
    t.ok(
      pieces.every((p) => Buffer.byteLength(p) + 40 <= 8096),
      'each message (header included) fits 8096 bytes',
    );
    t.ok(Buffer.byteLength(pieces[0] as string) > 8000, 'and pieces fill the budget');
    t.notMatch(rsyslog.log, /oversize/, 'rsyslog saw no oversize message');
    t.equal(messages.at(-1)?.msg, 'after');
    t.equal(result.stats.split, 1);
    t.equal(result.stats.sent, 4);
  },
);

t.test('UDP: a server name that does not resolve keeps records waiting, warns, and counts them as dropped at shutdown', async (t) => {
  const dir = tempDir();
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    ManifestPassthrough: { uk: { shutdown_timeout: 2 }, syslog: { server: 'no-such-host.invalid' } },
  });
  const result = await runUk(config, [EMIT, '--count', '5']);
  t.equal(result.code, 0, 'uk exits with code 0', { stderr: result.stderr });
  t.match(
    result.stderr,
    /uk: syslog: udp:\/\/no-such-host\.invalid:514: send failed, retrying in \d\.\d s \(\d+ messages waiting\): cannot resolve no-such-host\.invalid: (ENOTFOUND|EAI_AGAIN)/,
  );
  t.equal(result.stderr.match(/send failed/g)?.length, 1, 'said once, not at every retry');
  t.match(result.stderr, /uk: syslog: udp:\/\/no-such-host\.invalid:514: shutdown deadline passed: dropped \d+ messages that could not be sent/);
  t.equal(result.stats.sent, 0);
  t.ok((result.stats.dropped ?? 0) >= 5, `the 5 lines (and uk's own messages) are counted as dropped: ${result.stats.dropped}`);
  // Not a timing test (the deadline itself is proven by the message above): only that uk did not
  // keep retrying past it. A generous bound, as a loaded 2-CPU machine may take seconds to start uk.
  t.ok(result.ms < 30_000, `uk exited by the 2 s shutdown deadline, not waiting on retries (took ${result.ms} ms)`);
});
