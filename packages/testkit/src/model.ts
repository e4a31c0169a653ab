/**
 * AWS service models (botocore's JSON, see models/ and scripts/extract-models.mjs) and a checker
 * that validates a JSON-protocol request body against an operation's input shape: structure
 * members and required members, types, enums, length and value ranges, list and map sizes, and
 * patterns, with the services' own wording:
 * `Value '' at 'logEvents.1.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1`.
 */
import { readFileSync } from 'node:fs';

export interface MemberRef {
  readonly shape: string;
}

export interface Shape {
  readonly type: 'structure' | 'list' | 'map' | 'string' | 'integer' | 'long' | 'double' | 'float' | 'boolean' | 'timestamp' | 'blob';
  readonly required?: readonly string[];
  readonly members?: Readonly<Record<string, MemberRef>>;
  readonly member?: MemberRef;
  readonly key?: MemberRef;
  readonly value?: MemberRef;
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: string;
  readonly enum?: readonly string[];
  readonly exception?: boolean;
  readonly error?: { readonly code?: string; readonly httpStatusCode?: number; readonly senderFault?: boolean };
}

export interface Operation {
  readonly name: string;
  readonly input?: MemberRef;
  readonly output?: MemberRef;
  readonly errors?: readonly MemberRef[];
}

export interface ModelFile {
  readonly source: { readonly package: string; readonly version: string; readonly file: string };
  readonly metadata: Readonly<Record<string, unknown>> & { readonly targetPrefix?: string; readonly jsonVersion?: string; readonly endpointPrefix: string; readonly signingName?: string };
  readonly operations: Readonly<Record<string, Operation>>;
  readonly shapes: Readonly<Record<string, Shape>>;
}

export type ProblemKind = 'missing' | 'type' | 'constraint' | 'unknown-member';

export interface ValidationProblem {
  readonly kind: ProblemKind;
  /** Path in the services' notation: `logEvents.1.member.message`. */
  readonly path: string;
  readonly message: string;
}

export type ModelName = 'logs-2014-03-28' | 'monitoring-2010-08-01';

/** At most this many problems are collected per request (the services report a handful, too). */
const MAX_PROBLEMS = 10;

function show(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value.length > 64 ? `${value.slice(0, 64)}…` : value}'`;
  if (typeof value === 'object') return Array.isArray(value) ? '[…]' : '{…}';
  return String(value);
}

function codePoints(text: string): number {
  if (!/[\uD800-\uDFFF]/.test(text)) return text.length;
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export class ServiceModel {
  readonly file: ModelFile;
  readonly #patterns = new Map<string, RegExp>();
  readonly #shapes: Map<string, Shape>;

  constructor(file: ModelFile) {
    this.file = file;
    this.#shapes = new Map(Object.entries(file.shapes));
  }

  /** Loads one of the models shipped with this package. */
  static load(name: ModelName): ServiceModel {
    const url = new URL(`../models/${name}.json`, import.meta.url);
    return new ServiceModel(JSON.parse(readFileSync(url, 'utf8')) as ModelFile);
  }

  get targetPrefix(): string {
    return this.file.metadata.targetPrefix ?? '';
  }

  get jsonVersion(): string {
    return this.file.metadata.jsonVersion ?? '1.0';
  }

  /** The SigV4 service name (`logs`, `monitoring`). */
  get signingName(): string {
    return this.file.metadata.signingName ?? this.file.metadata.endpointPrefix;
  }

  operation(name: string): Operation | undefined {
    return Object.hasOwn(this.file.operations, name) ? this.file.operations[name] : undefined;
  }

  shape(name: string): Shape {
    const shape = this.#shapes.get(name);
    if (!shape) throw new Error(`model ${this.file.source.file}: no shape ${name}`);
    return shape;
  }

  /** The error shape's query-compatible code and HTTP status, if the model gives them. */
  errorInfo(type: string): { code: string; status: number | undefined } {
    const shape = this.file.shapes[type];
    return { code: shape?.error?.code ?? type, status: shape?.error?.httpStatusCode };
  }

  /**
   * Problems of `value` as the input of `operation` (empty when valid). `strictMembers` also
   * refuses members the model does not define.
   */
  validateInput(operation: string, value: unknown, options: { strictMembers?: boolean } = {}): ValidationProblem[] {
    const op = this.operation(operation);
    if (!op) return [{ kind: 'unknown-member', path: '', message: `unknown operation ${operation}` }];
    const problems: ValidationProblem[] = [];
    if (op.input) this.#check(op.input.shape, value, [], problems, options.strictMembers ?? true);
    return problems;
  }

  /** Problems of `value` as the output of `operation` (for checking an emulator's answers). */
  validateOutput(operation: string, value: unknown, options: { strictMembers?: boolean } = {}): ValidationProblem[] {
    const op = this.operation(operation);
    if (!op) return [{ kind: 'unknown-member', path: '', message: `unknown operation ${operation}` }];
    const problems: ValidationProblem[] = [];
    if (op.output) this.#check(op.output.shape, value ?? {}, [], problems, options.strictMembers ?? true);
    return problems;
  }

  #pattern(pattern: string): RegExp {
    let re = this.#patterns.get(pattern);
    if (!re) {
      // Java's String.matches: the whole value must match.
      try {
        re = new RegExp(`^(?:${pattern})$`, 'u');
      } catch {
        re = new RegExp(`^(?:${pattern})$`);
      }
      this.#patterns.set(pattern, re);
    }
    return re;
  }

  // The checks below run for every member of every request (10,000 events per PutLogEvents), so
  // messages and paths are only built when there is a problem.
  #add(problems: ValidationProblem[], kind: ProblemKind, path: (string | number)[], message: string): void {
    problems.push({ kind, path: path.join('.'), message });
  }

  #constraint(problems: ValidationProblem[], path: (string | number)[], value: unknown, text: string): void {
    this.#add(problems, 'constraint', path, `Value ${show(value)} at '${path.join('.')}' failed to satisfy constraint: ${text}`);
  }

  #type(problems: ValidationProblem[], path: (string | number)[], value: unknown, expected: string): void {
    this.#add(problems, 'type', path, `Value ${show(value)} at '${path.join('.')}' is not ${expected}`);
  }

  #range(problems: ValidationProblem[], path: (string | number)[], shape: Shape, value: unknown, n: number, what: string): void {
    if (shape.min !== undefined && n < shape.min) this.#constraint(problems, path, value, `Member must have ${what} greater than or equal to ${shape.min}`);
    else if (shape.max !== undefined && n > shape.max) this.#constraint(problems, path, value, `Member must have ${what} less than or equal to ${shape.max}`);
  }

  #check(shapeName: string, value: unknown, path: (string | number)[], problems: ValidationProblem[], strict: boolean): void {
    if (problems.length >= MAX_PROBLEMS) return;
    const shape = this.shape(shapeName);
    if (value === null) {
      this.#type(problems, path, value, 'a value (null is not accepted)');
      return;
    }
    switch (shape.type) {
      case 'structure': {
        if (typeof value !== 'object' || Array.isArray(value)) return this.#type(problems, path, value, 'a structure (JSON object)');
        const object = value as Record<string, unknown>;
        const members = shape.members ?? {};
        for (const name of shape.required ?? []) {
          if (object[name] === undefined) {
            path.push(name);
            this.#add(problems, 'missing', path, `Value null at '${path.join('.')}' failed to satisfy constraint: Member must not be null`);
            path.pop();
          }
        }
        for (const name in object) {
          const item = object[name];
          if (item === undefined) continue;
          path.push(name);
          if (!Object.hasOwn(members, name)) {
            if (strict) this.#add(problems, 'unknown-member', path, `Unknown member '${path.join('.')}'`);
          } else {
            this.#check((members[name] as MemberRef).shape, item, path, problems, strict);
          }
          path.pop();
        }
        return;
      }
      case 'list': {
        if (!Array.isArray(value)) return this.#type(problems, path, value, 'a list (JSON array)');
        this.#range(problems, path, shape, value, value.length, 'length');
        const member = shape.member!.shape;
        path.push(0, 'member');
        const at = path.length - 2;
        for (let i = 0; i < value.length && problems.length < MAX_PROBLEMS; i++) {
          path[at] = i + 1;
          this.#check(member, value[i], path, problems, strict);
        }
        path.pop();
        path.pop();
        return;
      }
      case 'map': {
        if (typeof value !== 'object' || Array.isArray(value)) return this.#type(problems, path, value, 'a map (JSON object)');
        const entries = Object.entries(value as Record<string, unknown>);
        this.#range(problems, path, shape, value, entries.length, 'length');
        for (const [key, item] of entries) {
          path.push(key);
          this.#check(shape.key!.shape, key, path, problems, strict);
          this.#check(shape.value!.shape, item, path, problems, strict);
          path.pop();
        }
        return;
      }
      case 'string': {
        if (typeof value !== 'string') return this.#type(problems, path, value, 'a string');
        if (shape.enum && !shape.enum.includes(value)) return this.#constraint(problems, path, value, `Member must satisfy enum value set: [${shape.enum.join(', ')}]`);
        if (shape.min !== undefined || shape.max !== undefined) {
          // Lengths count characters (code points); only strings that may be near a bound are counted exactly.
          const n = (shape.min !== undefined && value.length < shape.min * 2) || (shape.max !== undefined && value.length > shape.max) ? codePoints(value) : value.length;
          this.#range(problems, path, shape, value, n, 'length');
        }
        if (shape.pattern && !this.#pattern(shape.pattern).test(value)) this.#constraint(problems, path, value, `Member must satisfy regular expression pattern: ${shape.pattern}`);
        return;
      }
      case 'integer':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) return this.#type(problems, path, value, 'an integer');
        return this.#range(problems, path, shape, value, value, 'value');
      case 'long':
        if (typeof value !== 'number' || !Number.isSafeInteger(value)) return this.#type(problems, path, value, 'a long');
        return this.#range(problems, path, shape, value, value, 'value');
      case 'double':
      case 'float':
        if (typeof value !== 'number' || !Number.isFinite(value)) return this.#type(problems, path, value, 'a number');
        return this.#range(problems, path, shape, value, value, 'value');
      case 'boolean':
        if (typeof value !== 'boolean') this.#type(problems, path, value, 'a boolean');
        return;
      case 'timestamp':
        // The JSON protocols send timestamps as epoch seconds.
        if (typeof value !== 'number' || !Number.isFinite(value)) this.#type(problems, path, value, 'a timestamp (epoch seconds)');
        return;
      case 'blob':
        if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) this.#type(problems, path, value, 'a blob (base64 text)');
        return;
    }
  }
}
