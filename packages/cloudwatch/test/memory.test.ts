import t from 'tap';
import { parseMeminfo } from '@uk/core';
import { memoryMetrics, readMemoryMetrics } from '../src/memory.js';

const MEMINFO = `MemTotal:        8000000 kB
MemFree:         2000000 kB
MemAvailable:    5000000 kB
Buffers:          100000 kB
Cached:          2500000 kB
SwapCached:            0 kB
SReclaimable:     400000 kB
HugePages_Total:       0
`;

t.test('values as the Linux CloudWatch agent derives them', async (t) => {
  const fields = parseMeminfo(MEMINFO);
  t.equal(fields.get('MemTotal'), 8_000_000 * 1024);
  t.equal(fields.get('HugePages_Total'), 0, 'fields without a unit are counts');
  const kb = 1024;
  const byName = Object.fromEntries(memoryMetrics(fields).map((m) => [m.name, [m.value, m.unit]]));
  const cached = (2_500_000 + 400_000) * kb;
  const used = 8_000_000 * kb - 2_000_000 * kb - 100_000 * kb - cached;
  t.same(byName, {
    mem_total: [8_000_000 * kb, 'Bytes'],
    mem_free: [2_000_000 * kb, 'Bytes'],
    mem_cached: [cached, 'Bytes'],
    mem_available: [5_000_000 * kb, 'Bytes'],
    mem_used: [used, 'Bytes'],
    mem_used_percent: [(100 * used) / (8_000_000 * kb), 'Percent'],
    mem_available_percent: [62.5, 'Percent'],
  });
  t.equal(byName.mem_used_percent?.[0], 37.5);
});

t.test('old kernels without MemAvailable, and a broken file', async (t) => {
  const fields = parseMeminfo('MemTotal: 1000 kB\nMemFree: 100 kB\nCached: 200 kB\n');
  const available = memoryMetrics(fields).find((m) => m.name === 'mem_available');
  t.equal(available?.value, 300 * 1024, 'free + cached');
  t.throws(() => memoryMetrics(parseMeminfo('nothing')), /no MemTotal/);
});

t.test('reads this host’s /proc/meminfo', async (t) => {
  const metrics = await readMemoryMetrics();
  t.equal(metrics.length, 7);
  const total = metrics.find((m) => m.name === 'mem_total')!.value;
  t.ok(total > 0);
  for (const m of metrics) t.ok(Number.isFinite(m.value) && m.value >= 0, `${m.name} = ${m.value}`);
});
