import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskPoints, memoryPoints, memorySample, parseMounts, readDisks, readMemory } from '../src/index.js';

const MEMINFO = `MemTotal:       16000000 kB
MemFree:         4000000 kB
MemAvailable:    9000000 kB
Buffers:          500000 kB
Cached:          3000000 kB
SwapCached:            0 kB
Slab:            1000000 kB
SReclaimable:     600000 kB
SUnreclaim:       400000 kB
HugePages_Total:       0
`;

t.test('memory states from /proc/meminfo add up to MemTotal', async (t) => {
  const sample = memorySample(MEMINFO);
  const kb = 1024;
  t.same(sample, {
    total: 16_000_000 * kb,
    bytes: { buffered: 500_000 * kb, cached: 3_000_000 * kb, free: 4_000_000 * kb, slab: 1_000_000 * kb, used: 7_500_000 * kb },
  });
  const points = memoryPoints(sample, 1000);
  t.equal(points.length, 10);
  const percent = points.filter((p) => p.type === 'agent.googleapis.com/memory/percent_used');
  t.equal(Math.round(percent.reduce((sum, p) => sum + p.value, 0) * 1e9) / 1e9, 100, 'percentages add up to 100');
  t.same(
    percent.map((p) => p.labels.state),
    ['buffered', 'cached', 'free', 'slab', 'used'],
  );
  t.throws(() => memorySample('Nothing: 1 kB\n'), /MemTotal/);
  const noSlab = memorySample('MemTotal: 100 kB\nMemFree: 10 kB\nSReclaimable: 5 kB\nSUnreclaim: 5 kB\n');
  t.equal(noSlab.bytes.slab, 10 * 1024, 'Slab from its parts when absent');
  const live = await readMemory();
  t.ok(live.total > 0 && live.bytes.used >= 0, 'this machine');
});

t.test('mounted filesystems: devices only, one per device, read-only ones on request', async (t) => {
  const mounts = [
    'proc /proc proc rw,relatime 0 0',
    '/dev/sda1 / ext4 rw,relatime 0 0',
    'tmpfs /run tmpfs rw 0 0',
    'overlay /var/lib/docker/x overlay rw 0 0',
    '/dev/sda1 /mnt/bind ext4 rw 0 0',
    '/dev/sdb1 /mnt/my\\040data xfs ro,relatime 0 0',
    'server:/export /mnt/nfs nfs4 rw 0 0',
  ].join('\n');
  t.same(parseMounts(mounts), [
    { device: '/dev/sda1', mountPoint: '/', type: 'ext4', readOnly: false },
    { device: '/dev/sdb1', mountPoint: '/mnt/my data', type: 'xfs', readOnly: true },
    { device: 'server:/export', mountPoint: '/mnt/nfs', type: 'nfs4', readOnly: false },
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'uk-gcp-mounts-'));
  const path = join(dir, 'mounts');
  writeFileSync(path, mounts);
  const statfs = async (mountPoint: string) => {
    if (mountPoint === '/mnt/nfs') throw Object.assign(new Error('stale'), { code: 'ESTALE' });
    return { bsize: 4096, blocks: 1000, bfree: 400, bavail: 300 };
  };
  const rw = await readDisks({ includeReadonly: false, mountsPath: path, statfs });
  t.same(
    rw.disks.map((d) => d.device),
    ['/dev/sda1'],
  );
  t.same(rw.disks[0]?.bytes, { free: 300 * 4096, reserved: 100 * 4096, used: 600 * 4096 });
  t.same(rw.failures, ['/mnt/nfs: ESTALE']);
  const all = await readDisks({ includeReadonly: true, mountsPath: path, statfs });
  t.same(
    all.disks.map((d) => d.device),
    ['/dev/sda1', '/dev/sdb1'],
  );
  const points = diskPoints(all.disks, 1000);
  t.equal(points.length, 12);
  t.same(
    points.slice(0, 3).map((p) => [p.type, p.labels]),
    [
      ['agent.googleapis.com/disk/bytes_used', { device: '/dev/sda1', state: 'free' }],
      ['agent.googleapis.com/disk/bytes_used', { device: '/dev/sda1', state: 'reserved' }],
      ['agent.googleapis.com/disk/bytes_used', { device: '/dev/sda1', state: 'used' }],
    ],
  );
  t.same(
    points.slice(3, 6).map((p) => p.value),
    [30, 10, 60],
    'percent of the filesystem size',
  );
});
