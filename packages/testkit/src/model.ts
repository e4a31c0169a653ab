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
  readonly metadata: Readonly<Record<string, unknown>> & {
    readonly targetPrefix?: string;
    readonly jsonVersion?: string;
    readonly endpointPrefix: string;
    readonly signingName?: string;
  };
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

/** Adds the problems of `value` (at `path`) to `problems`. */
type Checker = (value: unknown, path: (string | number)[], problems: ValidationProblem[], strict: boolean) => void;

export type ModelName = 'logs-2014-03-28' | 'monitoring-2010-08-01';

/** At most this many problems are collected per request (the services report a handful, too). */
const MAX_PROBLEMS = 10;

function show(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value.length > 64 ? `${value.slice(0, 64)}…` : value}'`;
  if (typeof value === 'object') return Array.isArray(value) ? '[…]' : '{…}';
  // Only primitives are left here (JSON.parse gives numbers and booleans), which String() prints as they are.
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
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
  readonly #checkers = new Map<string, Checker>();

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
    if (op.input) this.#checker(op.input.shape)(value, [], problems, options.strictMembers ?? true);
    return problems;
  }

  /** Problems of `value` as the output of `operation` (for checking an emulator's answers). */
  validateOutput(operation: string, value: unknown, options: { strictMembers?: boolean } = {}): ValidationProblem[] {
    const op = this.operation(operation);
    if (!op) return [{ kind: 'unknown-member', path: '', message: `unknown operation ${operation}` }];
    const problems: ValidationProblem[] = [];
    if (op.output) this.#checker(op.output.shape)(value ?? {}, [], problems, options.strictMembers ?? true);
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

  // The checks run for every member of every request (10,000 events per PutLogEvents), so each
  // shape is compiled into a closure once, and messages and paths are only built for a problem.
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

  /** The checker of a shape, compiled once: shapes are looked up and switched on per shape, not per value. */
  #checker(shapeName: string): Checker {
    const cached = this.#checkers.get(shapeName);
    if (cached) return cached;
    // A shape may contain itself (directly or not): its entry forwards to the compiled checker.
    // (The forwarder is only called once checking starts, after `compiled` is set.)
    this.#checkers.set(shapeName, (value, path, problems, strict) => compiled(value, path, problems, strict));
    const compiled = this.#compile(this.shape(shapeName));
    this.#checkers.set(shapeName, compiled);
    return compiled;
  }

  #compile(shape: Shape): Checker {
    const inner = this.#compileType(shape);
    return (value, path, problems, strict) => {
      if (problems.length >= MAX_PROBLEMS) return;
      if (value === null) return this.#type(problems, path, value, 'a value (null is not accepted)');
      inner(value, path, problems, strict);
    };
  }

  #compileType(shape: Shape): Checker {
    const range = (problems: ValidationProblem[], path: (string | number)[], value: unknown, n: number, what: string): void =>
      this.#range(problems, path, shape, value, n, what);
    switch (shape.type) {
      case 'structure': {
        const required = shape.required ?? [];
        const members = new Map(Object.entries(shape.members ?? {}).map(([name, ref]) => [name, this.#checker(ref.shape)]));
        return (value, path, problems, strict) => {
          if (typeof value !== 'object' || Array.isArray(value)) return this.#type(problems, path, value, 'a structure (JSON object)');
          const object = value as Record<string, unknown>;
          for (const name of required) {
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
            const check = members.get(name);
            if (!check) {
              if (strict) this.#add(problems, 'unknown-member', path, `Unknown member '${path.join('.')}'`);
            } else {
              check(item, path, problems, strict);
            }
            path.pop();
          }
        };
      }
      case 'list': {
        const member = this.#checker(shape.member!.shape);
        return (value, path, problems, strict) => {
          if (!Array.isArray(value)) return this.#type(problems, path, value, 'a list (JSON array)');
          range(problems, path, value, value.length, 'length');
          path.push(0, 'member');
          const at = path.length - 2;
          for (let i = 0; i < value.length && problems.length < MAX_PROBLEMS; i++) {
            path[at] = i + 1;
            member(value[i], path, problems, strict);
          }
          path.pop();
          path.pop();
        };
      }
      case 'map': {
        const checkKey = this.#checker(shape.key!.shape);
        const checkValue = this.#checker(shape.value!.shape);
        return (value, path, problems, strict) => {
          if (typeof value !== 'object' || Array.isArray(value)) return this.#type(problems, path, value, 'a map (JSON object)');
          const entries = Object.entries(value as Record<string, unknown>);
          range(problems, path, value, entries.length, 'length');
          for (const [key, item] of entries) {
            path.push(key);
            checkKey(key, path, problems, strict);
            checkValue(item, path, problems, strict);
            path.pop();
          }
        };
      }
      case 'string': {
        const { min, max } = shape;
        const allowed = shape.enum;
        const pattern = shape.pattern !== undefined ? this.#pattern(shape.pattern) : undefined;
        return (value, path, problems) => {
          if (typeof value !== 'string') return this.#type(problems, path, value, 'a string');
          if (allowed && !allowed.includes(value))
            return this.#constraint(problems, path, value, `Member must satisfy enum value set: [${allowed.join(', ')}]`);
          if (min !== undefined || max !== undefined) {
            // Lengths count characters (code points); only strings that may be near a bound are counted exactly.
            const n = (min !== undefined && value.length < min * 2) || (max !== undefined && value.length > max) ? codePoints(value) : value.length;
            range(problems, path, value, n, 'length');
          }
          if (pattern && !pattern.test(value)) this.#constraint(problems, path, value, `Member must satisfy regular expression pattern: ${shape.pattern}`);
        };
      }
      case 'integer':
        return (value, path, problems) => {
          if (typeof value !== 'number' || !Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31)
            return this.#type(problems, path, value, 'an integer');
          range(problems, path, value, value, 'value');
        };
      case 'long':
        return (value, path, problems) => {
          if (typeof value !== 'number' || !Number.isSafeInteger(value)) return this.#type(problems, path, value, 'a long');
          range(problems, path, value, value, 'value');
        };
      case 'double':
      case 'float':
        return (value, path, problems) => {
          if (typeof value !== 'number' || !Number.isFinite(value)) return this.#type(problems, path, value, 'a number');
          range(problems, path, value, value, 'value');
        };
      case 'boolean':
        return (value, path, problems) => {
          if (typeof value !== 'boolean') this.#type(problems, path, value, 'a boolean');
        };
      case 'timestamp':
        // The JSON protocols send timestamps as epoch seconds.
        return (value, path, problems) => {
          if (typeof value !== 'number' || !Number.isFinite(value)) this.#type(problems, path, value, 'a timestamp (epoch seconds)');
        };
      case 'blob':
        return (value, path, problems) => {
          if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) this.#type(problems, path, value, 'a blob (base64 text)');
        };
    }
    throw new Error(`model ${this.file.source.file}: shape type ${String(shape.type)} is not supported`);
  }
}
