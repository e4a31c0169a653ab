/**
 * The spool's settings: `uk.spool_dir`, `uk.spool_max_size`, `uk.spool_fsync`, `uk.spool_full` in
 * the manifest's `uk` tuple (for every shipping klib), and `spool` / `spool_max_size` in a klib's
 * own tuple (opt out, or a limit of its own). Without `uk.spool_dir` nothing is spooled.
 */
import type { OptionsReader } from '../options.js';
import type { Tuple } from '../manifest.js';
import { FSYNC_POLICIES, type FsyncPolicy } from './segment-files.js';
import type { WhenFull } from './spool.js';

export const SPOOL_DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;
/** Smallest spool: room for several of the largest records a klib spools (a CloudWatch block is up to 128 KiB). */
export const SPOOL_MIN_BYTES = 1024 * 1024;
const SPOOL_MAX_BYTES = 1024 * 1024 * 1024 * 1024;
export const WHEN_FULL: readonly WhenFull[] = ['drop_oldest', 'drop_newest'];

/** The `uk` tuple's spool settings (`dir` undefined: no spool). */
export interface SpoolKernelSettings {
  readonly dir: string | undefined;
  readonly maxBytes: number;
  readonly fsync: FsyncPolicy;
  readonly whenFull: WhenFull;
}

export const SPOOL_KERNEL_KEYS = ['spool_dir', 'spool_max_size', 'spool_fsync', 'spool_full'] as const;

/** Reads the `uk` tuple's spool keys (problems go to the reader, each naming its path). */
export function readSpoolKernelSettings(reader: OptionsReader): SpoolKernelSettings {
  return {
    dir: reader.read((t) => (t.get('spool_dir') === undefined ? undefined : t.requireString('spool_dir', 'a directory path')), undefined),
    maxBytes: reader.read(
      (t) => t.size('spool_max_size', { default: SPOOL_DEFAULT_MAX_BYTES, min: SPOOL_MIN_BYTES, max: SPOOL_MAX_BYTES }),
      SPOOL_DEFAULT_MAX_BYTES,
    ),
    fsync: reader.read((t) => t.oneOf('spool_fsync', FSYNC_POLICIES, 'interval'), 'interval'),
    whenFull: reader.read((t) => t.oneOf('spool_full', WHEN_FULL, 'drop_oldest'), 'drop_oldest'),
  };
}

/** Keys a klib that ships through the Batcher accepts in its tuple (add them to its allowKeys). */
export const SPOOL_OPTION_KEYS = ['spool', 'spool_max_size'] as const;

/** A klib's own spool choice: off, or a limit of its own. */
export interface KlibSpoolOptions {
  readonly enabled: boolean;
  readonly maxBytes: number | undefined;
}

/** Reads `spool` and `spool_max_size` from a klib's tuple (in its `options()`, so `uk validate` reports them). */
export function readKlibSpoolOptions(reader: OptionsReader, tuple: Tuple = reader.tuple): KlibSpoolOptions {
  return {
    enabled: reader.read(() => tuple.bool('spool', true), true),
    maxBytes: reader.read(
      () =>
        tuple.get('spool_max_size') === undefined
          ? undefined
          : tuple.size('spool_max_size', { default: SPOOL_DEFAULT_MAX_BYTES, min: SPOOL_MIN_BYTES, max: SPOOL_MAX_BYTES }),
      undefined,
    ),
  };
}
