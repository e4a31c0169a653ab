/**
 * Where each destination's spool lives and how a klib gets it: `ctx.spool(key, codec)` opens (and
 * locks) `<uk.spool_dir>/<klib>/<key>` and hands back what the Batcher takes as its `spool`
 * option. The key is the destination as the klib's configuration names it (log group and stream,
 * log name, server:port:transport): a later run with the same configuration finds and delivers
 * what this one left. Anything that keeps the spool from working is reported and the klib goes
 * on in memory (never an error that stops uk).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { describeWithCode, isUkError } from '../errors.js';
import type { KlibLog } from '../klib.js';
import type { Tuple } from '../manifest.js';
import { OptionsReader } from '../options.js';
import type { Counter } from '../stats.js';
import type { Timers } from '../timers.js';
import { readKlibSpoolOptions, type SpoolKernelSettings } from './settings.js';
import { Spool, spoolUnusable, type SpoolCounters } from './spool.js';

/** How the Batcher turns a klib's items into bytes for the spool and back. */
export interface SpoolCodec<T> {
  /** The item's bytes, everything needed to send it again later (its timestamps included). */
  encode(item: T): Uint8Array;
  /**
   * An item again from what `encode` made (the bytes are only valid during the call); undefined
   * when they cannot be read (counted as damaged and skipped).
   */
  decode(bytes: Buffer): T | undefined;
}

/** What a klib passes as the Batcher's `spool` option. */
export interface BatcherSpool<T> {
  readonly store: Spool;
  readonly codec: SpoolCodec<T>;
  readonly counters: SpoolCounters;
}

export interface SpoolOpenDeps {
  readonly log: KlibLog;
  readonly timers: Timers;
  counter(name: string): Counter;
}

/** A directory name for a destination key: readable, and unique (a hash of the whole key). */
export function destinationDirName(key: string): string {
  const readable = key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 64);
  return `${readable}-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

export class SpoolDestinations {
  readonly #settings: SpoolKernelSettings;
  readonly #baseDir: string;

  constructor(settings: SpoolKernelSettings, baseDir: string) {
    this.#settings = settings;
    this.#baseDir = baseDir;
  }

  get enabled(): boolean {
    return this.#settings.dir !== undefined;
  }

  /** The spool for `klib`'s destination `key`, or undefined (no spool_dir, the klib opted out, or it cannot be used: reported). */
  open<T>(klib: string, config: Tuple | undefined, key: string, codec: SpoolCodec<T>, deps: SpoolOpenDeps): BatcherSpool<T> | undefined {
    const root = this.#settings.dir;
    if (root === undefined) return undefined;
    // The klib's options() reported any problem with these keys; here the defaults stand in.
    const own = config ? readKlibSpoolOptions(new OptionsReader(klib, config)) : { enabled: true, maxBytes: undefined };
    if (!own.enabled) return undefined;
    const counters: SpoolCounters = {
      replayed: deps.counter('spool_replayed'),
      kept: deps.counter('spool_kept'),
      corruptBytes: deps.counter('spool_corrupt_bytes'),
      fallbacks: deps.counter('spool_fallbacks'),
    };
    const dir = join(isAbsolute(root) ? root : resolve(this.#baseDir, root), klib, destinationDirName(key));
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const store = Spool.open(
        { dir, maxBytes: own.maxBytes ?? this.#settings.maxBytes, fsync: this.#settings.fsync, whenFull: this.#settings.whenFull },
        { log: deps.log, timers: deps.timers, counters },
        `destination ${key}`,
      );
      return { store, codec, counters };
    } catch (err) {
      const problem = isUkError(err) ? err : spoolUnusable(`destination ${key}`, dir, err);
      counters.fallbacks.add();
      deps.log.error(describeWithCode(problem));
      return undefined;
    }
  }
}
