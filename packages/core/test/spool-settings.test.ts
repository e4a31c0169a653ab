/** A klib's own spool settings: `spool: false` opts out, `spool_max_size` is checked and named by its path. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Tuple } from '../src/manifest.js';
import { OptionsReader } from '../src/options.js';
import { Stats } from '../src/stats.js';
import { ManualClock, Timers } from '../src/timers.js';
import { consoleRecordCodec } from '../src/spool/record-codec.js';
import { destinationDirName, SpoolDestinations } from '../src/spool/destinations.js';
import { readKlibSpoolOptions } from '../src/spool/settings.js';

const tupleOf = (json: object) => Tuple.fromJSON({ recfile: json }).tuple('recfile') as Tuple;

t.test('spool and spool_max_size in a klib tuple', async (t) => {
  t.same(readKlibSpoolOptions(new OptionsReader('recfile', tupleOf({}))), { enabled: true, maxBytes: undefined });
  t.same(readKlibSpoolOptions(new OptionsReader('recfile', tupleOf({ spool: false, spool_max_size: '2m' }))), { enabled: false, maxBytes: 2 * 1024 * 1024 });
  const reader = new OptionsReader('recfile', tupleOf({ spool: 'maybe', spool_max_size: '10k' }));
  readKlibSpoolOptions(reader);
  t.same(
    reader.problems.map((p) => [p.code, p.message]),
    [
      ['UK_ERR_MANIFEST_VALUE', 'recfile.spool: expected true or false, got "maybe"'],
      ['UK_ERR_MANIFEST_VALUE', 'recfile.spool_max_size: expected a size from 1048576 to 1099511627776 bytes, got "10k"'],
    ],
  );
});

t.test('without spool_dir, or with spool: false, there is no spool; otherwise one directory per destination', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'uk-spool-settings-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stats = new Stats();
  const deps = {
    log: { debug() {}, info() {}, warn() {}, error() {} },
    timers: new Timers(new ManualClock()),
    counter: (n: string) => stats.counter('recfile', n),
  };
  const settings = { maxBytes: 1024 * 1024 * 1024, fsync: 'interval' as const, whenFull: 'drop_oldest' as const };
  t.equal(new SpoolDestinations({ dir: undefined, ...settings }, dir).open('recfile', undefined, 'a', consoleRecordCodec, deps), undefined);
  const on = new SpoolDestinations({ dir: 'spool', ...settings }, dir);
  t.equal(on.open('recfile', tupleOf({ spool: false }), 'a', consoleRecordCodec, deps), undefined, 'opted out');
  const spool = on.open('recfile', tupleOf({ spool_max_size: '2m' }), 'host:514/tcp', consoleRecordCodec, deps);
  t.ok(spool, 'a spool');
  t.equal(spool?.store.dir, join(dir, 'spool', 'recfile', destinationDirName('host:514/tcp')), 'relative to the config directory, per klib and destination');
  t.match(destinationDirName('host:514/tcp'), /^host_514_tcp-[0-9a-f]{12}$/);
  t.ok(existsSync(join(spool?.store.dir ?? '', 'lock')));
  spool?.store.close();
  t.notOk(existsSync(join(spool?.store.dir ?? '', 'lock')), 'the lock given back');
});

t.test('the console record codec keeps text, time and stream', async (t) => {
  const record = { text: 'déjà vu 😀', time: 1767225600123.5, source: 'stderr' as const };
  t.same(consoleRecordCodec.decode(Buffer.from(consoleRecordCodec.encode(record))), record);
  t.equal(consoleRecordCodec.decode(Buffer.from([1, 2, 3])), undefined, 'too short: not a record');
});
