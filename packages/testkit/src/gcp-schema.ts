/**
 * Google's official API schema as the emulators' judge: the `protos.json` that
 * `@google-cloud/logging-api` (Cloud Logging v2) and `@google-cloud/monitoring` (Cloud Monitoring
 * v3) ship, loaded with protobufjs. A JSON body is checked in two ways:
 *
 * 1. a walk over the body with the message types, following proto3's JSON mapping as Google's
 *    REST front end does (gcp-schema-json.ts: unknown names, JSON types and ranges, enums,
 *    well-known types, oneofs, OUTPUT_ONLY fields);
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
import { describe, JsonMapping, Long, type SchemaProblem } from './gcp-schema-json.js';

export { parseRfc3339, type SchemaProblem } from './gcp-schema-json.js';

const { Root } = protobuf;
type PbLong = protobuf.Long;

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

export class ProtoSchema {
  readonly root: protobuf.Root;
  readonly source: string;
  static readonly #cache = new Map<string, ProtoSchema>();
  readonly #json = new JsonMapping();

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

  type(name: string): protobuf.Type {
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

  /**
   * Every problem of `json` as a `typeName` (a fully qualified message name). Never throws for
   * bad input: a body too deep for a walk (a call stack overflow) is a problem like any other.
   */
  check(typeName: string, json: unknown, path = ''): SchemaProblem[] {
    try {
      return this.#check(typeName, json, path);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      return [{ path, message: `Message too deep: ${err.message}` }];
    }
  }

  #check(typeName: string, json: unknown, path: string): SchemaProblem[] {
    const type = this.type(typeName);
    const problems: SchemaProblem[] = [];
    const converted = this.#json.message(type)(json, path, problems) as Record<string, unknown> | undefined;
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

  /** Compares the converted input with its round trip; every difference is a problem. */
  #compare(expected: unknown, actual: unknown, path: string, problems: SchemaProblem[]): void {
    if (problems.length > 20) return;
    if (typeof expected === 'object' && expected !== null && !isLong(expected)) {
      if (Array.isArray(expected)) {
        const list = Array.isArray(actual) ? actual : [];
        if (list.length !== expected.length)
          problems.push({ path, message: `round trip through the schema changed the list length (${expected.length} → ${list.length})` });
        expected.forEach((item, index) => this.#compare(item, list[index], `${path}[${index}]`, problems));
        return;
      }
      const object = typeof actual === 'object' && actual !== null ? (actual as Record<string, unknown>) : {};
      const wanted = expected as Record<string, unknown>;
      let count = 0;
      for (const key in wanted) {
        if (!Object.hasOwn(wanted, key)) continue;
        count++;
        // The same value (most of them: strings) needs no canonical form, nor a path.
        const value = wanted[key];
        if (value === object[key] && value !== undefined && (typeof value !== 'object' || value === null)) continue;
        if (!Object.hasOwn(object, key)) {
          // protobufjs leaves out empty lists and maps, as the wire format does.
          if (!isEmpty(wanted[key]))
            problems.push({ path: path ? `${path}.${key}` : key, message: `round trip through the schema lost "${key}" (not in the schema)` });
        } else this.#compare(wanted[key], object[key], path ? `${path}.${key}` : key, problems);
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
    if (canon(expected) !== canon(actual))
      problems.push({ path, message: `round trip through the schema changed the value: ${describe(canon(expected))} → ${describe(canon(actual))}` });
  }
}
