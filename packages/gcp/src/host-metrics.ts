/**
 * What the metrics report, read the way the Ops Agent reads it on Linux:
 *
 * - memory from /proc/meminfo, in the agent's states: `free` (MemFree), `buffered` (Buffers),
 *   `cached` (Cached), `slab` (Slab) and `used` (MemTotal minus the four others), so the states
 *   add up to MemTotal and their percentages to 100;
 * - disks from the mount table and statfs(2) per mounted filesystem that is backed by a device
 *   (pseudo and memory filesystems are left out; a device mounted twice counts once):
 *   `free` (blocks available to users), `reserved` (free blocks only root may use) and `used`.
 *   Read-only filesystems only when asked.
 */
import { readFile, statfs } from 'node:fs/promises';
import { parseMeminfo } from '@uk/core';

export const MEMORY_STATES = ['buffered', 'cached', 'free', 'slab', 'used'] as const;
export type MemoryState = (typeof MEMORY_STATES)[number];
export const DISK_STATES = ['free', 'reserved', 'used'] as const;
export type DiskState = (typeof DISK_STATES)[number];

export interface MemorySample {
  readonly total: number;
  readonly bytes: Readonly<Record<MemoryState, number>>;
}

export interface DiskSample {
  readonly device: string;
  readonly mountPoint: string;
  readonly type: string;
  readonly readOnly: boolean;
  readonly total: number;
  readonly bytes: Readonly<Record<DiskState, number>>;
}

/** /proc/meminfo's text as the Ops Agent's memory states, in bytes. */
export function memorySample(text: string): MemorySample {
  const kb = parseMeminfo(text);
  const total = kb.get('MemTotal');
  const free = kb.get('MemFree');
  if (total === undefined || free === undefined || total <= 0) throw new Error('/proc/meminfo has no MemTotal or MemFree');
  const buffered = kb.get('Buffers') ?? 0;
  const cached = kb.get('Cached') ?? 0;
  const slab = kb.get('Slab') ?? (kb.get('SReclaimable') ?? 0) + (kb.get('SUnreclaim') ?? 0);
  const used = Math.max(0, total - free - buffered - cached - slab);
  return { total, bytes: { buffered, cached, free, slab, used } };
}

export async function readMemory(path = '/proc/meminfo'): Promise<MemorySample> {
  return memorySample(await readFile(path, 'utf8'));
}

/** Filesystems on disks or network shares; everything else (proc, tmpfs, overlay, cgroup…) is left out. */
const DISK_TYPES = new Set([
  'ext2',
  'ext3',
  'ext4',
  'xfs',
  'btrfs',
  'zfs',
  'vfat',
  'exfat',
  'ntfs',
  'ntfs3',
  'f2fs',
  'jfs',
  'reiserfs',
  'fuseblk',
  'nfs',
  'nfs4',
  'cifs',
  'smb3',
  'hfsplus',
  'iso9660',
  'udf',
  'erofs',
  'squashfs',
]);

export interface MountEntry {
  readonly device: string;
  readonly mountPoint: string;
  readonly type: string;
  readonly readOnly: boolean;
}

/** `\040` and friends in /proc/mounts fields. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mounted filesystems worth reporting, one per device (the first mount of each). */
export function parseMounts(text: string): MountEntry[] {
  const seen = new Set<string>();
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const [device, mountPoint, type, options] = fields.map(unescapeMount) as [string, string, string, string];
    if (!DISK_TYPES.has(type) && !device.startsWith('/dev/')) continue;
    if (type === 'devtmpfs' || type === 'tmpfs' || type === 'overlay') continue;
    if (seen.has(device)) continue;
    seen.add(device);
    out.push({ device, mountPoint, type, readOnly: options.split(',').includes('ro') });
  }
  return out;
}

export type StatfsFn = (path: string) => Promise<{ bsize: number; blocks: number; bfree: number; bavail: number }>;

export async function readDisks(options: {
  includeReadonly: boolean;
  mountsPath?: string;
  statfs?: StatfsFn;
}): Promise<{ disks: DiskSample[]; failures: string[] }> {
  const text = await readFile(options.mountsPath ?? '/proc/self/mounts', 'utf8');
  const stat: StatfsFn = options.statfs ?? ((path) => statfs(path));
  const disks: DiskSample[] = [];
  const failures: string[] = [];
  for (const mount of parseMounts(text)) {
    if (mount.readOnly && !options.includeReadonly) continue;
    try {
      const s = await stat(mount.mountPoint);
      const total = s.blocks * s.bsize;
      if (!(total > 0)) continue;
      const free = s.bavail * s.bsize;
      const reserved = Math.max(0, (s.bfree - s.bavail) * s.bsize);
      const used = Math.max(0, (s.blocks - s.bfree) * s.bsize);
      disks.push({ ...mount, total, bytes: { free, reserved, used } });
    } catch (err) {
      failures.push(`${mount.mountPoint}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return { disks, failures };
}
