/**
 * The manifest: an immutable tree of strings, tuples and vectors, as in Nanos.
 *
 * Ops writes every JSON number and boolean of ManifestPassthrough as a string, so this does the
 * same; klibs then read values through typed accessors that fail with a coded error naming the
 * full path and the bad value.
 */
import { ukError, type UkError } from './errors.js';

export type ManifestValue = string | Tuple | Vector;

/** UK_ERR_MANIFEST_VALUE, worded once: `syslog.server_port: expected a port number, got "x"`. */
export function wrongValue(where: string, expected: string, got: string, fix?: string): UkError {
  return ukError('UK_ERR_MANIFEST_VALUE', `${where || 'manifest'}: expected ${expected}, got ${got}`, fix === undefined ? { where } : { where, fix });
}

function describeValue(value: ManifestValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  return value instanceof Tuple ? 'a tuple (JSON object)' : 'a vector (JSON array)';
}

function childPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

export interface UintOptions {
  readonly default?: number;
  readonly min?: number;
  readonly max?: number;
  /** What the number means, for the error: "a whole number of seconds". */
  readonly what?: string;
}

const SIZE_PATTERN = /^(\d+)\s*([kmg]?)b?$/i;
const SIZE_FACTORS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses `8M`, `512k`, `1g`, `4096` into bytes; undefined when the text is not a size. */
export function parseSize(text: string): number | undefined {
  const match = SIZE_PATTERN.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * (SIZE_FACTORS[(match[2] ?? '').toLowerCase()] ?? 1);
  return Number.isSafeInteger(value) ? value : undefined;
}

export class Vector {
  readonly path: string;
  readonly items: readonly ManifestValue[];

  constructor(path: string, items: readonly ManifestValue[]) {
    this.path = path;
    this.items = Object.freeze([...items]);
    Object.freeze(this);
  }

  get length(): number {
    return this.items.length;
  }

  itemPath(index: number): string {
    return `${this.path}[${index}]`;
  }

  /** Every item as a string, or an error naming the first item that is not one. */
  strings(): string[] {
    return this.items.map((item, index) => {
      if (typeof item !== 'string') {
        throw wrongValue(this.itemPath(index), 'a string', describeValue(item));
      }
      return item;
    });
  }

  toJSON(): unknown[] {
    return this.items.map((item) => (typeof item === 'string' ? item : item.toJSON()));
  }
}

export class Tuple {
  readonly path: string;
  readonly #entries: ReadonlyMap<string, ManifestValue>;

  constructor(path: string, entries: Iterable<readonly [string, ManifestValue]>) {
    this.path = path;
    this.#entries = new Map(entries);
    Object.freeze(this);
  }

  static empty(path = ''): Tuple {
    return new Tuple(path, []);
  }

  /** Builds a manifest tree from JSON, normalising numbers and booleans to strings as Ops does. */
  static fromJSON(value: unknown, path = ''): Tuple {
    const built = fromJSONValue(value, path);
    if (!(built instanceof Tuple)) {
      throw wrongValue(path, 'a JSON object', describeValue(built));
    }
    return built;
  }

  keys(): string[] {
    return [...this.#entries.keys()];
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  get(key: string): ManifestValue | undefined {
    return this.#entries.get(key);
  }

  pathOf(key: string): string {
    return childPath(this.path, key);
  }

  /** A new tuple with one key replaced (the manifest itself never changes). */
  with(key: string, value: ManifestValue): Tuple {
    return new Tuple(this.path, [...this.#entries, [key, value]]);
  }

  private fail(key: string, expected: string, value: ManifestValue | undefined): UkError {
    return wrongValue(this.pathOf(key), expected, describeValue(value));
  }

  private missing(key: string, expected: string): UkError {
    return ukError('UK_ERR_MANIFEST_MISSING', `${this.pathOf(key)}: required, expected ${expected}`, { where: this.pathOf(key) });
  }

  string(key: string): string | undefined;
  string(key: string, fallback: string): string;
  string(key: string, fallback?: string): string | undefined {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'string') throw this.fail(key, 'a string', value);
    return value;
  }

  requireString(key: string, what = 'a string'): string {
    const value = this.get(key);
    if (value === undefined) throw this.missing(key, what);
    if (typeof value !== 'string' || value === '') throw this.fail(key, what, value);
    return value;
  }

  /** An unsigned integer within [min, max]; `what` describes it in errors. */
  uint(key: string, options: UintOptions & { default: number }): number;
  uint(key: string, options?: UintOptions): number | undefined;
  uint(key: string, options: UintOptions = {}): number | undefined {
    const value = this.get(key);
    if (value === undefined) return options.default;
    const min = options.min ?? 0;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    const what = options.what ?? 'a whole number';
    const range = options.max !== undefined || options.min !== undefined ? ` from ${min} to ${max}` : '';
    if (typeof value !== 'string' || !/^\s*\d+\s*$/.test(value)) throw this.fail(key, what, value);
    const number = Number(value);
    if (!Number.isSafeInteger(number) || number < min || number > max) throw this.fail(key, `${what}${range}`, value);
    return number;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (typeof value === 'string') {
      const lower = value.trim().toLowerCase();
      if (lower === 'true' || lower === '1' || lower === 'yes' || lower === 'on') return true;
      if (lower === 'false' || lower === '0' || lower === 'no' || lower === 'off') return false;
    }
    throw this.fail(key, 'true or false', value);
  }

  /** A byte size: a whole number with an optional k, m or g suffix in either case. */
  size(key: string, options: { default: number; min?: number; max?: number }): number {
    const value = this.get(key);
    if (value === undefined) return options.default;
    const what = 'a size in bytes with an optional k, m or g suffix (e.g. 8M)';
    const bytes = typeof value === 'string' ? parseSize(value) : undefined;
    if (bytes === undefined) throw this.fail(key, what, value);
    const min = options.min ?? 0;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    if (bytes < min || bytes > max) throw this.fail(key, `a size from ${min} to ${max} bytes`, value);
    return bytes;
  }

  /** One of a fixed set of words. */
  oneOf<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
    throw this.fail(key, `one of ${choices.map((c) => `"${c}"`).join(', ')}`, value);
  }

  tuple(key: string): Tuple | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (!(value instanceof Tuple)) throw this.fail(key, 'a tuple (JSON object)', value);
    return value;
  }

  vector(key: string): Vector | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (!(value instanceof Vector)) throw this.fail(key, 'a vector (JSON array)', value);
    return value;
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of this.#entries) out[key] = typeof value === 'string' ? value : value.toJSON();
    return out;
  }
}

function fromJSONValue(value: unknown, path: string): ManifestValue {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw wrongValue(path, 'a finite number', String(value));
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value))
    return new Vector(
      path,
      value.map((item, index) => fromJSONValue(item, `${path}[${index}]`)),
    );
  if (typeof value === 'object' && value !== null) {
    return new Tuple(
      path,
      Object.entries(value).map(([key, item]) => [key, fromJSONValue(item, childPath(path, key))] as const),
    );
  }
  throw wrongValue(path, 'a string, number, boolean, object or array', value === null ? 'null' : typeof value, 'remove the key or give it a value');
}
