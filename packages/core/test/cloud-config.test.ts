import t from 'tap';
import { fileURLToPath } from 'node:url';
import { testKernel } from '../src/testing.js';

const fixtures = fileURLToPath(new URL('./fixtures/klibs/', import.meta.url));
const seen = () => (globalThis as { __ukZoneReader?: Record<string, unknown> }).__ukZoneReader;

t.test('klibs see the Ops CloudConfig in options() and init()', async (t) => {
  const { kernel } = testKernel({ Klibs: ['./zone-reader.mjs'], CloudConfig: { Zone: 'us-west-1c', ProjectID: 'p' } }, { baseDir: fixtures });
  const report = await kernel.boot();
  t.same(report.problems, []);
  t.same(seen(), { zoneAtOptions: 'us-west-1c', zoneAtInit: 'us-west-1c', path: 'CloudConfig' });
});

t.test('without CloudConfig the tuple is empty, not undefined', async (t) => {
  const { kernel } = testKernel({ Klibs: ['./zone-reader.mjs'] }, { baseDir: fixtures });
  await kernel.boot();
  t.same(seen(), { zoneAtOptions: undefined, zoneAtInit: undefined, path: 'CloudConfig' });
});
