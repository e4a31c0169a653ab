/**
 * Memory metrics as the Linux CloudWatch agent computes them (its `mem` input, through gopsutil,
 * from /proc/meminfo), sent to namespace CWAgent with the `host` dimension:
 *
 *   mem_total     = MemTotal
 *   mem_free      = MemFree
 *   mem_cached    = Cached + SReclaimable
 *   mem_available = MemAvailable (kernels before 3.14: MemFree + cached)
 *   mem_used      = MemTotal − MemFree − Buffers − cached
 *   mem_*_percent = 100 × value / MemTotal
 */
import { readMeminfo } from '@uk/core';

export type MemoryMetricName = 'mem_used' | 'mem_used_percent' | 'mem_available' | 'mem_available_percent' | 'mem_total' | 'mem_free' | 'mem_cached';

export interface MemoryMetric {
  readonly name: MemoryMetricName;
  readonly value: number;
  readonly unit: 'Bytes' | 'Percent';
}

export function memoryMetrics(fields: ReadonlyMap<string, number>): MemoryMetric[] {
  const total = fields.get('MemTotal');
  if (!total) throw new Error('/proc/meminfo has no MemTotal');
  const free = fields.get('MemFree') ?? 0;
  const buffers = fields.get('Buffers') ?? 0;
  const cached = (fields.get('Cached') ?? 0) + (fields.get('SReclaimable') ?? 0);
  const available = fields.get('MemAvailable') ?? free + cached;
  const used = Math.max(0, total - free - buffers - cached);
  return [
    { name: 'mem_used', value: used, unit: 'Bytes' },
    { name: 'mem_used_percent', value: (100 * used) / total, unit: 'Percent' },
    { name: 'mem_available', value: available, unit: 'Bytes' },
    { name: 'mem_available_percent', value: (100 * available) / total, unit: 'Percent' },
    { name: 'mem_total', value: total, unit: 'Bytes' },
    { name: 'mem_free', value: free, unit: 'Bytes' },
    { name: 'mem_cached', value: cached, unit: 'Bytes' },
  ];
}

export async function readMemoryMetrics(path = '/proc/meminfo'): Promise<MemoryMetric[]> {
  return memoryMetrics(await readMeminfo(path));
}
