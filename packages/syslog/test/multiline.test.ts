// Multiline through real `uk run` to a real rsyslogd: traces printed by real Node.js (the trace
// program of @uk/core's multiline tests) are one syslog message each over TCP (octet counting
// carries the newlines); over UDP a trace longer than max_message_size is split between lines,
// each piece within the limit, nothing lost.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { Rsyslog, type Parsed } from './helpers/rsyslog.js';
import { runUk, tempDir, writeConfig } from './helpers/uk.js';

const NODE_TRACES = fileURLToPath(new URL('../../core/test/fixtures/multiline/node-traces.mjs', import.meta.url));
const REPORT = /^file:\/\/.*\n.*\n *\^\n\nSyntaxError: uncaught at the end\n[^]*\n\nNode\.js v[\d.]+$/;

async function run(t: Test, input: 'tcp' | 'udp', syslog: object): Promise<{ expected: { stdout: string[]; stderr: string[] }; messages: Parsed[] }> {
  const rsyslog = await Rsyslog.start(input, undefined, { jsonMsg: true });
  t.teardown(() => rsyslog.stop());
  const dir = tempDir();
  const config = writeConfig(dir, {
    Klibs: ['syslog'],
    ManifestPassthrough: { syslog: { server: '127.0.0.1', server_port: rsyslog.port, transport: input, ...syslog } },
  });
  const expectedFile = join(dir, 'expected.json');
  const result = await runUk(config, [process.execPath, NODE_TRACES, expectedFile]);
  t.equal(result.code, 1, 'uk exits with the program’s code (its uncaught exception)');
  const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as { stdout: string[]; stderr: string[] };
  const total = expected.stdout.length + expected.stderr.length + 1;
  const messages = await rsyslog.waitFor((m) => m.filter((x) => x.pri !== 13).length >= total && m.some((x) => x.pri === 11 && /Node\.js v/.test(x.msg)));
  t.equal(result.stats.dropped, 0, 'nothing dropped');
  return { expected, messages };
}

t.test('TCP: each trace is one message with its newlines; nothing else merged or lost', async (t) => {
  const { expected, messages } = await run(t, 'tcp', {});
  t.same(
    messages.filter((m) => m.pri === 14).map((m) => m.msg),
    expected.stdout,
    'stdout records as user.info, in order',
  );
  const err = messages.filter((m) => m.pri === 11).map((m) => m.msg);
  t.same(err.slice(0, -1), expected.stderr, 'stderr records as user.err, in order');
  t.match(err[err.length - 1], REPORT, 'the uncaught-exception report is one message');
  t.ok(err.filter((m) => m.includes('\n')).length >= 3, 'traces keep their newlines');
});

t.test('UDP with a small max_message_size: a long trace is split between lines, within the limit', async (t) => {
  const maxMessageSize = 480;
  const { expected, messages } = await run(t, 'udp', { max_message_size: maxMessageSize });
  const err = messages.filter((m) => m.pri === 11).map((m) => m.msg);
  t.ok(
    messages.every((m) => Buffer.byteLength(m.msg) < maxMessageSize),
    'every message within max_message_size',
  );
  // Put the pieces back together: each record is one or more consecutive messages joined by newlines.
  let at = 0;
  let split = 0;
  for (const record of expected.stderr) {
    let joined = err[at++] as string;
    while (joined !== record && joined.length < record.length && at < err.length) {
      joined += `\n${err[at++] as string}`;
      split++;
    }
    if (joined !== record) {
      t.fail(`record not rebuilt from consecutive messages: ${JSON.stringify(record.slice(0, 200))}`);
      return;
    }
  }
  t.ok(split > 0, `long traces were split (${split} extra messages)`);
  t.match(err.slice(at).join('\n'), REPORT, 'and the pieces after them are the uncaught-exception report');
});
