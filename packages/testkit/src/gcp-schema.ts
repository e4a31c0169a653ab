/**
 * Google's official API schema as the emulators' judge: the `protos.json` that
 * `@google-cloud/logging-api` (Cloud Logging v2) and `@google-cloud/monitoring` (Cloud Monitoring
 * v3) ship, loaded with protobufjs. A JSON body is checked in two ways:
 *
 * 1. a walk over the body with the message types, following proto3's JSON mapping as Google's
 *    REST front end does: every name must be a field (lowerCamelCase or the proto name), values
 *    of the right JSON type and range (int64 as number or decimal string, enums by name or
 *    number, Timestamp as RFC 3339, Duration as `1.5s`, Struct/Value/ListValue as plain JSON),
 *    at most one field of each oneof, no OUTPUT_ONLY field;
 * 2. a round trip through protobufjs (`fromObject`, then `toObject`) compared with the input, so
 *    anything the schema does not carry (an unknown field, a value that only converts by
 *    coercion) shows up as a difference.
 *
 * Problems name the path (`entries[3].jsonPayload`) in the words of Google's errors.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const { Enum, Root, Type, util } = protobuf;
type PbType = protobuf.Type;
type PbField = protobuf.Field;
type PbLong = protobuf.Long;
/** protobufjs' Long (the `long` package it depends on), with the statics its typings leave out. */
const Long = util.Long as unknown as { isLong(value: unknown): boolean; fromString(text: string, unsigned?: boolean): PbLong };

export interface SchemaProblem {
  /** Path of the value in the body: `entries[3].severity`. */
  readonly path: string;
  readonly message: string;
}

export type SchemaName = 'logging' | 'monitoring';

const PACKAGES: Readonly<Record<SchemaName, string>> = {
  logging: '@google-cloud/logging-api',
  monitoring: '@google-cloud/monitoring',
};

/** Where a package's protos.json is (the packages have no `exports`, so package.json resolves). */
export function protosJsonPath(name: SchemaName): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve(`${PACKAGES[name]}/package.json`)), 'build', 'protos', 'protos.json');
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;
const DURATION = /^(-)?(\d{1,12})(?:\.(\d{1,9}))?s$/;
const INT = /^-?\d+$/;
const UINT = /^\d+$/;
const LIMITS_32: Readonly<Record<string, [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
};
const LONG_TYPES = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);
const WRAPPERS: Readonly<Record<string, string>> = {
  '.google.protobuf.DoubleValue': 'double',
  '.google.protobuf.FloatValue': 'float',
  '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64',
  '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.BoolValue': 'bool',
  '.google.protobuf.StringValue': 'string',
  '.google.protobuf.BytesValue': 'bytes',
};

/** Parses an RFC 3339 timestamp into seconds and nanos; undefined if it is not one. */
export function parseRfc3339(text: string): { seconds: number; nanos: number } | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m as unknown as string[];
  const base = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(base);
  if (check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  let offset = 0;
  if (zone && zone !== 'Z' && zone !== 'z') offset = (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  const ms = base - offset;
  return { seconds: Math.floor(ms / 1000), nanos: Number((frac ?? '').padEnd(9, '0')) };
}

function snakeToCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isLong(value: unknown): value is PbLong {
  return typeof value === 'object' && value !== null && Long.isLong(value);
}

function isEmpty(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value !== 'object' || value === null || isLong(value)) return false;
  for (const key in value) if (Object.hasOwn(value, key) && !isEmpty((value as Record<string, unknown>)[key])) return false;
  return true;
}

/** Canonical form of a scalar for the round-trip comparison (int64 as decimal text, NaN as "NaN"). */
function canon(value: unknown): unknown {
  if (isLong(value)) return value.toString();
  if (typeof value === 'number') return String(value);
  return value;
}

interface FieldInfo {
  readonly field: PbField;
  readonly outputOnly: boolean;
  readonly oneof: string | undefined;
  readonly isValue: boolean;
}

export class ProtoSchema {
  readonly root: protobuf.Root;
  readonly source: string;
  static readonly #cache = new Map<string, ProtoSchema>();

  constructor(root: protobuf.Root, source = 'memory') {
    this.root = root;
    this.source = source;
    root.resolveAll();
  }

  /** The schema of a Google Cloud package, loaded once per process. */
  static load(name: SchemaName): ProtoSchema {
    const path = protosJsonPath(name);
    let schema = ProtoSchema.#cache.get(path);
    if (!schema) {
      schema = new ProtoSchema(Root.fromJSON(JSON.parse(readFileSync(path, 'utf8')) as protobuf.INamespace), path);
      ProtoSchema.#cache.set(path, schema);
    }
    return schema;
  }

  type(name: string): PbType {
    return this.root.lookupType(name);
  }

  /** The HTTP rule of an RPC (`{ post: '/v2/entries:write', body: '*' }`), from the service definition. */
  httpRule(service: string, method: string): { verb: string; path: string; body: string | undefined } {
    const m = this.root.lookupService(service).methods[method];
    if (!m) throw new RangeError(`${service} has no method ${method}`);
    const options = (m.options ?? {}) as Record<string, string>;
    for (const verb of ['get', 'post', 'put', 'patch', 'delete']) {
      const path = options[`(google.api.http).${verb}`];
      if (path) return { verb: verb.toUpperCase(), path, body: options['(google.api.http).body'] };
    }
    throw new RangeError(`${service}.${method} has no HTTP rule`);
  }

  /** Every problem of `json` as a `typeName` (a fully qualified message name). */
  check(typeName: string, json: unknown, path = ''): SchemaProblem[] {
    const type = this.type(typeName);
    const problems: SchemaProblem[] = [];
    const converted = this.#message(type, json, path, problems);
    if (problems.length > 0 || converted === undefined) return problems;
    const invalid = type.verify(converted);
    if (invalid) {
      problems.push({ path, message: `protobufjs: ${invalid}` });
      return problems;
    }
    const back = type.toObject(type.fromObject(converted), { longs: String, bytes: String, json: true });
    this.#compare(converted, back, path, problems);
    return problems;
  }

  #message(type: PbType, json: unknown, path: string, problems: SchemaProblem[]): Record<string, unknown> | undefined {
    const wellKnown = this.#wellKnown(type, json, path, problems);
    if (wellKnown !== null) return wellKnown;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      problems.push({ path, message: `Invalid value at '${path || 'body'}' (type.googleapis.com/${type.fullName.slice(1)}), ${describe(json)}: expected an object` });
      return undefined;
    }
    const out: Record<string, unknown> = {};
    const fields = this.#fieldsOf(type);
    let oneofSeen: Map<string, string> | undefined;
    const object = json as Record<string, unknown>;
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      const value = object[key];
      const info = fields.get(key) ?? fields.get(snakeToCamel(key));
      const at = path ? `${path}.${key}` : key;
      if (!info) {
        problems.push({ path: at, message: `Invalid JSON payload received. Unknown name "${key}" at '${path || 'body'}': Cannot find field.` });
        continue;
      }
      const field = info.field;
      if (info.outputOnly) {
        problems.push({ path: at, message: `Field '${at}' is output only and must not be set` });
        continue;
      }
      if (value === null && !info.isValue) continue; // null: the default
      if (info.oneof !== undefined) {
        oneofSeen ??= new Map();
        const other = oneofSeen.get(info.oneof);
        if (other !== undefined) problems.push({ path: at, message: `Invalid JSON payload received. Oneof field '${info.oneof}' is already set: "${other}" and "${key}" cannot both be set.` });
        oneofSeen.set(info.oneof, key);
      }
      const converted = this.#field(field, value, at, problems);
      if (converted !== undefined) out[field.name] = converted;
    }
    return out;
  }

  #lastTimestamp: { text: string | undefined; parsed: { seconds: number; nanos: number } | undefined } = { text: undefined, parsed: undefined };
  readonly #fieldCache = new Map<PbType, Map<string, FieldInfo>>();

  #fieldsOf(type: PbType): Map<string, FieldInfo> {
    let map = this.#fieldCache.get(type);
    if (!map) {
      map = new Map();
      for (const field of type.fieldsArray) {
        map.set(field.name, {
          field,
          outputOnly: (field.options as Record<string, unknown> | undefined)?.['(google.api.field_behavior)'] === 'OUTPUT_ONLY',
          oneof: field.partOf?.name,
          isValue: field.resolvedType?.fullName === '.google.protobuf.Value',
        });
      }
      this.#fieldCache.set(type, map);
    }
    return map;
  }

  #field(field: PbField, value: unknown, path: string, problems: SchemaProblem[]): unknown {
    if (field.map) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        problems.push({ path, message: `Invalid value at '${path}', ${describe(value)}: expected a map (JSON object)` });
        return undefined;
      }
      const out: Record<string, unknown> = {};
      const keyType = (field as unknown as protobuf.MapField).keyType;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (keyType !== 'string' && keyType !== 'bool' && !INT.test(k)) problems.push({ path: `${path}[${JSON.stringify(k)}]`, message: `Invalid map key ${JSON.stringify(k)} at '${path}': expected ${keyType}` });
        const converted = this.#single(field, v, `${path}[${JSON.stringify(k)}]`, problems);
        if (converted !== undefined) out[k] = converted;
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        problems.push({ path, message: `Invalid value at '${path}', ${describe(value)}: expected a list` });
        return undefined;
      }
      return value.map((item, index) => this.#single(field, item, `${path}[${index}]`, problems));
    }
    return this.#single(field, value, path, problems);
  }

  #single(field: PbField, value: unknown, path: string, problems: SchemaProblem[]): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof Type) return this.#message(resolved, value, path, problems);
    if (resolved instanceof Enum) {
      // As numbers: what protobufjs' verify and toObject use.
      if (typeof value === 'string' && Object.hasOwn(resolved.values, value)) return resolved.values[value];
      if (typeof value === 'number' && Object.hasOwn(resolved.valuesById, value)) return value;
      problems.push({ path, message: `Invalid value at '${path}' (type.googleapis.com/${resolved.fullName.slice(1)}), ${describe(value)}` });
      return undefined;
    }
    return this.#scalar(field.type, value, path, problems);
  }

  #scalar(type: string, value: unknown, path: string, problems: SchemaProblem[]): unknown {
    const bad = (expected: string): undefined => {
      problems.push({ path, message: `Invalid value at '${path}' (${type}), ${describe(value)}: expected ${expected}` });
      return undefined;
    };
    switch (type) {
      case 'string':
        return typeof value === 'string' ? value : bad('a string');
      case 'bool':
        return typeof value === 'boolean' ? value : bad('true or false');
      case 'bytes':
        return typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value) ? value : bad('base64 text');
      case 'double':
      case 'float': {
        if (typeof value === 'number') return value;
        if (value === 'NaN') return Number.NaN;
        if (value === 'Infinity') return Number.POSITIVE_INFINITY;
        if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
        if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
        return bad('a number');
      }
    }
    if (Object.hasOwn(LIMITS_32, type)) {
      const [min, max] = LIMITS_32[type] as [number, number];
      const number = typeof value === 'number' ? value : typeof value === 'string' && INT.test(value) ? Number(value) : Number.NaN;
      return Number.isInteger(number) && number >= min && number <= max ? number : bad(`an integer from ${min} to ${max}`);
    }
    if (LONG_TYPES.has(type)) {
      const unsigned = type.startsWith('u') || type === 'fixed64';
      let text: string | undefined;
      if (typeof value === 'number' && Number.isSafeInteger(value)) text = String(value);
      else if (typeof value === 'string' && (unsigned ? UINT : INT).test(value)) text = value;
      if (text === undefined || (unsigned && text.startsWith('-'))) return bad(unsigned ? 'an unsigned 64-bit integer' : 'a 64-bit integer');
      const long = Long.fromString(text, unsigned);
      if (long.toString() !== text.replace(/^(-?)0+(?=\d)/, '$1')) return bad('a 64-bit integer in range');
      return Number.isSafeInteger(Number(text)) ? Number(text) : long;
    }
    return bad(`a ${type}`);
  }

  /** Conversions of the well-known types' JSON forms; null when `type` is not one. */
  #wellKnown(type: PbType, json: unknown, path: string, problems: SchemaProblem[]): Record<string, unknown> | undefined | null {
    const name = type.fullName;
    const bad = (expected: string): undefined => {
      problems.push({ path, message: `Invalid value at '${path}' (type.googleapis.com/${name.slice(1)}), ${describe(json)}: expected ${expected}` });
      return undefined;
    };
    switch (name) {
      case '.google.protobuf.Timestamp': {
        let parsed: { seconds: number; nanos: number } | undefined;
        if (json === this.#lastTimestamp.text) parsed = this.#lastTimestamp.parsed;
        else if (typeof json === 'string') {
          parsed = parseRfc3339(json);
          this.#lastTimestamp = { text: json, parsed };
        }
        if (!parsed || parsed.seconds < -62135596800 || parsed.seconds > 253402300799) return bad('an RFC 3339 timestamp');
        return { seconds: parsed.seconds, nanos: parsed.nanos };
      }
      case '.google.protobuf.Duration': {
        const m = typeof json === 'string' ? DURATION.exec(json) : null;
        if (!m) return bad('a duration such as "1.5s"');
        const sign = m[1] ? -1 : 1;
        return { seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0')) };
      }
      case '.google.protobuf.FieldMask':
        return typeof json === 'string' ? { paths: json === '' ? [] : json.split(',') } : bad('a comma-separated field mask');
      case '.google.protobuf.Empty':
        return typeof json === 'object' && json !== null && !Array.isArray(json) && Object.keys(json).length === 0 ? {} : bad('{}');
      case '.google.protobuf.Struct':
        if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('a JSON object');
        return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, this.#value(v, `${path}.${k}`, problems)])) };
      case '.google.protobuf.ListValue':
        if (!Array.isArray(json)) return bad('a JSON array');
        return { values: json.map((v, i) => this.#value(v, `${path}[${i}]`, problems)) };
      case '.google.protobuf.Value':
        return this.#value(json, path, problems);
      case '.google.protobuf.Any':
        if (typeof json !== 'object' || json === null || Array.isArray(json) || typeof (json as Record<string, unknown>)['@type'] !== 'string') return bad('an object with "@type"');
        // The payload's own type is not in these schemas: keep it opaque.
        return { type_url: (json as Record<string, unknown>)['@type'] };
    }
    const wrapped = WRAPPERS[name];
    if (wrapped) {
      const value = this.#scalar(wrapped, json, path, problems);
      return value === undefined ? undefined : { value };
    }
    return null;
  }

  #value(json: unknown, path: string, problems: SchemaProblem[]): Record<string, unknown> {
    if (json === null) return { nullValue: 0 };
    switch (typeof json) {
      case 'number':
        if (!Number.isFinite(json)) problems.push({ path, message: `Invalid value at '${path}': a Value number must be finite` });
        return { numberValue: json };
      case 'string':
        return { stringValue: json };
      case 'boolean':
        return { boolValue: json };
      case 'object':
        if (Array.isArray(json)) return { listValue: { values: json.map((v, i) => this.#value(v, `${path}[${i}]`, problems)) } };
        return { structValue: { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, this.#value(v, `${path}.${k}`, problems)])) } };
      default:
        problems.push({ path, message: `Invalid value at '${path}': ${typeof json} is not JSON` });
        return { nullValue: 0 };
    }
  }

  /** Compares the converted input with its round trip; every difference is a problem. */
  #compare(expected: unknown, actual: unknown, path: string, problems: SchemaProblem[]): void {
    if (problems.length > 20) return;
    if (typeof expected === 'object' && expected !== null && !isLong(expected)) {
      if (Array.isArray(expected)) {
        const list = Array.isArray(actual) ? actual : [];
        if (list.length !== expected.length) problems.push({ path, message: `round trip through the schema changed the list length (${expected.length} → ${list.length})` });
        expected.forEach((item, index) => this.#compare(item, list[index], `${path}[${index}]`, problems));
        return;
      }
      const object = typeof actual === 'object' && actual !== null ? (actual as Record<string, unknown>) : {};
      const wanted = expected as Record<string, unknown>;
      let count = 0;
      for (const key in wanted) {
        if (!Object.hasOwn(wanted, key)) continue;
        count++;
        if (!Object.hasOwn(object, key)) {
          // protobufjs leaves out empty lists and maps, as the wire format does.
          if (!isEmpty(wanted[key])) problems.push({ path: path ? `${path}.${key}` : key, message: `round trip through the schema lost "${key}" (not in the schema)` });
        }
        else this.#compare(wanted[key], object[key], path ? `${path}.${key}` : key, problems);
      }
      let got = 0;
      for (const key in object) if (Object.hasOwn(object, key)) got++;
      if (got !== count) {
        for (const key of Object.keys(object)) {
          if (!Object.hasOwn(wanted, key)) problems.push({ path: path ? `${path}.${key}` : key, message: `round trip through the schema added "${key}"` });
        }
      }
      return;
    }
    if (canon(expected) !== canon(actual)) problems.push({ path, message: `round trip through the schema changed the value: ${describe(canon(expected))} → ${describe(canon(actual))}` });
  }
}
