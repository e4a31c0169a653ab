/**
 * proto3's JSON mapping, as Google's REST front end applies it, turned into one converter per
 * message type: a JSON value in, the object protobufjs' `fromObject` takes out (or undefined), and
 * every problem found on the way pushed with its path. Every name must be a field (lowerCamelCase
 * or the proto name), values of the right JSON type and range (int64 as number or decimal string,
 * enums by name or number, Timestamp as RFC 3339, Duration as `1.5s`, Struct/Value/ListValue as
 * plain JSON), at most one field of each oneof, no OUTPUT_ONLY field.
 *
 * Why compiled: an emulator checks thousands of entries per request against the same few types.
 * What a field is (map, list, message, enum, which scalar, which well-known type) is worked out
 * once per type instead of once per value.
 */
import protobuf from 'protobufjs';

const { Enum, Type, util } = protobuf;
type PbType = protobuf.Type;
type PbField = protobuf.Field;
type PbLong = protobuf.Long;
/** protobufjs' Long (the `long` package it depends on), with the statics its typings leave out. */
export const Long = util.Long as unknown as { isLong(value: unknown): boolean; fromString(text: string, unsigned?: boolean): PbLong };

export interface SchemaProblem {
  /** Path of the value in the body: `entries[3].severity`. */
  readonly path: string;
  readonly message: string;
}

/** Converts `json` found at `path`; undefined (with the problem pushed) when it cannot. */
export type JsonConverter = (json: unknown, path: string, problems: SchemaProblem[]) => unknown;

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
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  )
    return undefined;
  let offset = 0;
  if (zone && zone !== 'Z' && zone !== 'z') offset = (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  const ms = base - offset;
  return { seconds: Math.floor(ms / 1000), nanos: Number((frac ?? '').padEnd(9, '0')) };
}

function snakeToCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A value as Google's messages show it: short JSON, or what kind of thing it is. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const isObject = (json: unknown): json is Record<string, unknown> => typeof json === 'object' && json !== null && !Array.isArray(json);

/** The converter of a scalar type (`string`, `int64`, …). */
function scalar(type: string): JsonConverter {
  const bad = (value: unknown, path: string, problems: SchemaProblem[], expected: string): undefined => {
    problems.push({ path, message: `Invalid value at '${path}' (${type}), ${describe(value)}: expected ${expected}` });
    return undefined;
  };
  switch (type) {
    case 'string':
      return (value, path, problems) => (typeof value === 'string' ? value : bad(value, path, problems, 'a string'));
    case 'bool':
      return (value, path, problems) => (typeof value === 'boolean' ? value : bad(value, path, problems, 'true or false'));
    case 'bytes':
      return (value, path, problems) =>
        typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value) ? value : bad(value, path, problems, 'base64 text');
    case 'double':
    case 'float':
      return (value, path, problems) => {
        if (typeof value === 'number') return value;
        if (value === 'NaN') return Number.NaN;
        if (value === 'Infinity') return Number.POSITIVE_INFINITY;
        if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
        if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
        return bad(value, path, problems, 'a number');
      };
  }
  const limits = LIMITS_32[type];
  if (limits) {
    const [min, max] = limits;
    return (value, path, problems) => {
      const number = typeof value === 'number' ? value : typeof value === 'string' && INT.test(value) ? Number(value) : Number.NaN;
      return Number.isInteger(number) && number >= min && number <= max ? number : bad(value, path, problems, `an integer from ${min} to ${max}`);
    };
  }
  if (LONG_TYPES.has(type)) {
    const unsigned = type.startsWith('u') || type === 'fixed64';
    return (value, path, problems) => {
      let text: string | undefined;
      if (typeof value === 'number' && Number.isSafeInteger(value)) text = String(value);
      else if (typeof value === 'string' && (unsigned ? UINT : INT).test(value)) text = value;
      if (text === undefined || (unsigned && text.startsWith('-')))
        return bad(value, path, problems, unsigned ? 'an unsigned 64-bit integer' : 'a 64-bit integer');
      const long = Long.fromString(text, unsigned);
      if (long.toString() !== text.replace(/^(-?)0+(?=\d)/, '$1')) return bad(value, path, problems, 'a 64-bit integer in range');
      return Number.isSafeInteger(Number(text)) ? Number(text) : long;
    };
  }
  return (value, path, problems) => bad(value, path, problems, `a ${type}`);
}

/**
 * Levels of JSON objects and arrays in a Struct or Value the walk goes into: a bound on its
 * recursion, far above what protobuf decodes (100 nested messages, three per object level), so
 * that a body nested 100,000 deep is a problem reported, not a stack overflow.
 */
export const MAX_VALUE_LEVELS = 100;

/** google.protobuf.Value's JSON (any JSON value) as protobufjs' object. */
function jsonValue(json: unknown, path: string, problems: SchemaProblem[], level = 0): Record<string, unknown> {
  if (json === null) return { nullValue: 0 };
  if (level > MAX_VALUE_LEVELS && typeof json === 'object') {
    problems.push({ path, message: `Message too deep: '${path}' nests JSON objects or arrays more than ${MAX_VALUE_LEVELS} levels` });
    return { nullValue: 0 };
  }
  switch (typeof json) {
    case 'number':
      if (!Number.isFinite(json)) problems.push({ path, message: `Invalid value at '${path}': a Value number must be finite` });
      return { numberValue: json };
    case 'string':
      return { stringValue: json };
    case 'boolean':
      return { boolValue: json };
    case 'object':
      if (Array.isArray(json)) return { listValue: { values: json.map((v, i) => jsonValue(v, `${path}[${i}]`, problems, level + 1)) } };
      return { structValue: structOf(json as Record<string, unknown>, path, problems, level + 1) };
    default:
      problems.push({ path, message: `Invalid value at '${path}': ${typeof json} is not JSON` });
      return { nullValue: 0 };
  }
}

function structOf(json: Record<string, unknown>, path: string, problems: SchemaProblem[], level = 0): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, jsonValue(v, `${path}.${k}`, problems, level)])) };
}

interface CompiledField {
  /** The field's name in protobufjs' object. */
  readonly name: string;
  readonly outputOnly: boolean;
  readonly oneof: string | undefined;
  /** google.protobuf.Value, for which null is a value and not "the default". */
  readonly isValue: boolean;
  readonly convert: JsonConverter;
}

/** The converters of one schema's message types, compiled on first use. */
export class JsonMapping {
  readonly #types = new Map<PbType, JsonConverter>();
  /** Consecutive timestamps in a batch are mostly the same text: parse each once. */
  #lastTimestamp: { text: string | undefined; parsed: { seconds: number; nanos: number } | undefined } = { text: undefined, parsed: undefined };

  /** The converter of message `type`. */
  message(type: PbType): JsonConverter {
    let convert = this.#types.get(type);
    if (!convert) {
      convert = this.#wellKnown(type.fullName) ?? this.#compileMessage(type);
      this.#types.set(type, convert);
    }
    return convert;
  }

  #compileMessage(type: PbType): JsonConverter {
    const typeName = type.fullName.slice(1);
    const fields = new Map<string, CompiledField>();
    for (const field of type.fieldsArray) {
      fields.set(field.name, {
        name: field.name,
        outputOnly: field.options?.['(google.api.field_behavior)'] === 'OUTPUT_ONLY',
        oneof: field.partOf?.name,
        isValue: field.resolvedType?.fullName === '.google.protobuf.Value',
        convert: this.#field(field),
      });
    }
    return (json, path, problems) => {
      if (!isObject(json)) {
        problems.push({ path, message: `Invalid value at '${path || 'body'}' (type.googleapis.com/${typeName}), ${describe(json)}: expected an object` });
        return undefined;
      }
      const out: Record<string, unknown> = {};
      let oneofSeen: Map<string, string> | undefined;
      for (const key in json) {
        if (!Object.hasOwn(json, key)) continue;
        const value = json[key];
        const info = fields.get(key) ?? fields.get(snakeToCamel(key));
        const at = path ? `${path}.${key}` : key;
        if (!info) {
          problems.push({ path: at, message: `Invalid JSON payload received. Unknown name "${key}" at '${path || 'body'}': Cannot find field.` });
          continue;
        }
        if (info.outputOnly) {
          problems.push({ path: at, message: `Field '${at}' is output only and must not be set` });
          continue;
        }
        if (value === null && !info.isValue) continue; // null: the default
        if (info.oneof !== undefined) {
          oneofSeen ??= new Map();
          const other = oneofSeen.get(info.oneof);
          if (other !== undefined)
            problems.push({
              path: at,
              message: `Invalid JSON payload received. Oneof field '${info.oneof}' is already set: "${other}" and "${key}" cannot both be set.`,
            });
          oneofSeen.set(info.oneof, key);
        }
        const converted = info.convert(value, at, problems);
        if (converted !== undefined) out[info.name] = converted;
      }
      return out;
    };
  }

  /** A field's converter: a map, a list or a single value. */
  #field(field: PbField): JsonConverter {
    const single = this.#single(field);
    if (field.map) {
      const keyType = (field as unknown as protobuf.MapField).keyType;
      return (value, path, problems) => {
        if (!isObject(value)) {
          problems.push({ path, message: `Invalid value at '${path}', ${describe(value)}: expected a map (JSON object)` });
          return undefined;
        }
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) {
          if (keyType !== 'string' && keyType !== 'bool' && !INT.test(k))
            problems.push({ path: `${path}[${JSON.stringify(k)}]`, message: `Invalid map key ${JSON.stringify(k)} at '${path}': expected ${keyType}` });
          const converted = single(v, `${path}[${JSON.stringify(k)}]`, problems);
          if (converted !== undefined) out[k] = converted;
        }
        return out;
      };
    }
    if (field.repeated) {
      return (value, path, problems) => {
        if (!Array.isArray(value)) {
          problems.push({ path, message: `Invalid value at '${path}', ${describe(value)}: expected a list` });
          return undefined;
        }
        return value.map((item, index) => single(item, `${path}[${index}]`, problems));
      };
    }
    return single;
  }

  /** The converter of one value of `field`'s type. */
  #single(field: PbField): JsonConverter {
    const resolved = field.resolvedType;
    if (resolved instanceof Type) {
      // Looked up on first use: the type may still be being compiled (a message that contains itself).
      let convert: JsonConverter | undefined;
      return (value, path, problems) => (convert ??= this.message(resolved))(value, path, problems);
    }
    if (resolved instanceof Enum) {
      const enumName = resolved.fullName.slice(1);
      // As numbers: what protobufjs' verify and toObject use.
      return (value, path, problems) => {
        if (typeof value === 'string' && Object.hasOwn(resolved.values, value)) return resolved.values[value];
        if (typeof value === 'number' && Object.hasOwn(resolved.valuesById, value)) return value;
        problems.push({ path, message: `Invalid value at '${path}' (type.googleapis.com/${enumName}), ${describe(value)}` });
        return undefined;
      };
    }
    return scalar(field.type);
  }

  /** The converter of a well-known type's JSON form; undefined when `name` is not one. */
  #wellKnown(name: string): JsonConverter | undefined {
    const bad = (json: unknown, path: string, problems: SchemaProblem[], expected: string): undefined => {
      problems.push({ path, message: `Invalid value at '${path}' (type.googleapis.com/${name.slice(1)}), ${describe(json)}: expected ${expected}` });
      return undefined;
    };
    switch (name) {
      case '.google.protobuf.Timestamp':
        return (json, path, problems) => {
          let parsed: { seconds: number; nanos: number } | undefined;
          if (json === this.#lastTimestamp.text) parsed = this.#lastTimestamp.parsed;
          else if (typeof json === 'string') {
            parsed = parseRfc3339(json);
            this.#lastTimestamp = { text: json, parsed };
          }
          if (!parsed || parsed.seconds < -62135596800 || parsed.seconds > 253402300799) return bad(json, path, problems, 'an RFC 3339 timestamp');
          return { seconds: parsed.seconds, nanos: parsed.nanos };
        };
      case '.google.protobuf.Duration':
        return (json, path, problems) => {
          const m = typeof json === 'string' ? DURATION.exec(json) : null;
          if (!m) return bad(json, path, problems, 'a duration such as "1.5s"');
          const sign = m[1] ? -1 : 1;
          return { seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0')) };
        };
      case '.google.protobuf.FieldMask':
        return (json, path, problems) =>
          typeof json === 'string' ? { paths: json === '' ? [] : json.split(',') } : bad(json, path, problems, 'a comma-separated field mask');
      case '.google.protobuf.Empty':
        return (json, path, problems) => (isObject(json) && Object.keys(json).length === 0 ? {} : bad(json, path, problems, '{}'));
      case '.google.protobuf.Struct':
        return (json, path, problems) => (isObject(json) ? structOf(json, path, problems) : bad(json, path, problems, 'a JSON object'));
      case '.google.protobuf.ListValue':
        return (json, path, problems) =>
          Array.isArray(json) ? { values: json.map((v, i) => jsonValue(v, `${path}[${i}]`, problems)) } : bad(json, path, problems, 'a JSON array');
      case '.google.protobuf.Value':
        return jsonValue;
      case '.google.protobuf.Any':
        // The payload's own type is not in these schemas: keep it opaque.
        return (json, path, problems) =>
          isObject(json) && typeof json['@type'] === 'string' ? { type_url: json['@type'] } : bad(json, path, problems, 'an object with "@type"');
    }
    const wrapped = WRAPPERS[name];
    if (!wrapped) return undefined;
    const convert = scalar(wrapped);
    return (json, path, problems) => {
      const value = convert(json, path, problems);
      return value === undefined ? undefined : { value };
    };
  }
}
