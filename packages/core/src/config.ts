/**
 * Reads an Ops configuration file (JSON) into what uk needs: the Klibs list, the manifest built
 * from ManifestPassthrough, Env, Program and Args. Every other Ops key is accepted and ignored so
 * existing Ops configs run unchanged.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isUkError, ukError, type UkError } from './errors.js';
import { Tuple } from './manifest.js';

/** Top-level keys Ops understands; anything else is reported by `uk validate` as a likely typo. */
export const OPS_KEYS = [
  'Args',
  'BaseVolumeSz',
  'Boot',
  'BuildDir',
  'CloudConfig',
  'Debugflags',
  'Dirs',
  'Env',
  'Files',
  'Features',
  'Kernel',
  'KlibDir',
  'Klibs',
  'LocalFilesParentDirectory',
  'ManifestPassthrough',
  'MapDirs',
  'Mounts',
  'NameServers',
  'NanosVersion',
  'NoTrace',
  'Program',
  'ProgramPath',
  'RebootOnExit',
  'RunConfig',
  'TargetRoot',
  'Uefi',
  'Version',
  'VolumesDir',
] as const;

export interface OpsConfig {
  /** Path of the file as given (for messages), or undefined for a config built in memory. */
  readonly file: string | undefined;
  /** Directory that relative klib paths are resolved against. */
  readonly baseDir: string;
  readonly klibs: readonly string[];
  readonly manifest: Tuple;
  readonly env: Readonly<Record<string, string>>;
  readonly program: string | undefined;
  readonly args: readonly string[];
  /** `CloudConfig` as a tuple (e.g. `Zone` for the AWS region fallback). */
  readonly cloudConfig: Tuple;
  /** Top-level keys that are neither Ops keys nor uk's (probably typos). */
  readonly unknownKeys: readonly string[];
}

type ShapeError = (where: string, message: string, fix?: string) => UkError;

/**
 * Makes the errors of one config's shape. With a file, each message starts with its path: uk run
 * prints it among the program's output, where "Klibs: …" alone would not say which file is wrong.
 */
function shapeErrors(file: string | undefined): ShapeError {
  const prefix = file === undefined ? '' : `${file}: `;
  return (where, message, fix) => ukError('UK_ERR_CONFIG_SHAPE', `${prefix}${where}: ${message}`, fix === undefined ? { where } : { where, fix });
}

/** A manifest error of a config file (a null value in ManifestPassthrough), reworded to name the file. */
function inFile<T>(file: string | undefined, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (file === undefined || !isUkError(err)) throw err;
    throw ukError(err.code, `${file}: ${err.message}`, {
      ...(err.where === undefined ? {} : { where: err.where }),
      ...(err.fix === undefined ? {} : { fix: err.fix }),
      cause: err,
    });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, where: string, shapeError: ShapeError): string[] {
  if (!Array.isArray(value)) throw shapeError(where, `expected an array of strings, got ${JSON.stringify(value)}`);
  return value.map((item, index) => {
    if (typeof item !== 'string' || item === '') throw shapeError(`${where}[${index}]`, `expected a non-empty string, got ${JSON.stringify(item)}`);
    return item;
  });
}

/** Line and column of a character offset, for JSON syntax errors. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

/** Builds an OpsConfig from parsed JSON; `file` is only used to name things in errors. */
export function opsConfigFromJSON(json: unknown, file?: string, baseDir = process.cwd()): OpsConfig {
  if (!isObject(json)) {
    throw ukError('UK_ERR_CONFIG_SHAPE', `${file ?? 'config'}: expected a JSON object at the top level`, { where: file ?? 'config' });
  }
  const shapeError = shapeErrors(file);
  const runConfig = json.RunConfig === undefined ? {} : json.RunConfig;
  if (!isObject(runConfig)) throw shapeError('RunConfig', 'expected an object');

  if (json.Klibs !== undefined && runConfig.Klibs !== undefined) {
    throw shapeError('Klibs', 'set both at the top level and in RunConfig', 'keep one Klibs list');
  }
  const klibs =
    json.Klibs !== undefined
      ? stringList(json.Klibs, 'Klibs', shapeError)
      : runConfig.Klibs !== undefined
        ? stringList(runConfig.Klibs, 'RunConfig.Klibs', shapeError)
        : [];

  const passthrough = json.ManifestPassthrough ?? {};
  if (!isObject(passthrough)) throw shapeError('ManifestPassthrough', 'expected an object');
  const manifest = inFile(file, () => Tuple.fromJSON(passthrough, ''));

  const env: Record<string, string> = {};
  if (json.Env !== undefined) {
    if (!isObject(json.Env)) throw shapeError('Env', 'expected an object of NAME: value');
    for (const [name, value] of Object.entries(json.Env)) {
      if (typeof value === 'string') env[name] = value;
      else if (typeof value === 'number' || typeof value === 'boolean') env[name] = String(value);
      else throw shapeError(`Env.${name}`, `expected a string, got ${JSON.stringify(value)}`);
    }
  }

  if (json.Program !== undefined && (typeof json.Program !== 'string' || json.Program === '')) {
    throw shapeError('Program', `expected a non-empty string, got ${JSON.stringify(json.Program)}`);
  }
  const args = json.Args === undefined ? [] : stringList(json.Args, 'Args', shapeError);
  const cloud = json.CloudConfig ?? {};
  if (!isObject(cloud)) throw shapeError('CloudConfig', 'expected an object');

  return {
    file,
    baseDir,
    klibs,
    manifest,
    env,
    program: json.Program,
    args,
    cloudConfig: inFile(file, () => Tuple.fromJSON(cloud, 'CloudConfig')),
    unknownKeys: Object.keys(json).filter((key) => !(OPS_KEYS as readonly string[]).includes(key)),
  };
}

/**
 * Largest config file uk reads. An Ops config is a few KiB (even a long Env or Files list stays
 * far below 100 KiB); 1 MiB leaves ample room and keeps a wrong `-c` (a log file, `/dev/zero`, a
 * disk image) from making uk read without end before it fails.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The file's bytes, at most `limit`. The size fstat reports is not enough: devices and FIFOs
 * report 0, so the read itself stops after `limit + 1` bytes.
 */
function readBounded(file: string, path: string, limit: number): Buffer {
  const tooLarge = () =>
    ukError('UK_ERR_CONFIG_TOO_LARGE', `config file ${path} is larger than ${limit / (1024 * 1024)} MiB (${limit} bytes), the most uk reads`, {
      where: path,
      fix: 'check the path given to -c: an Ops config is a JSON file of a few KiB; keep large data in files the program reads',
    });
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw unreadable(path, err);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isFile() && stat.size > limit) throw tooLarge();
    const buffer = Buffer.allocUnsafe(limit + 1);
    let length = 0;
    while (length < buffer.length) {
      let n: number;
      try {
        n = readSync(fd, buffer, length, buffer.length - length, null);
      } catch (err) {
        throw unreadable(path, err);
      }
      if (n === 0) break;
      length += n;
    }
    if (length > limit) throw tooLarge();
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

function unreadable(path: string, err: unknown): UkError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return ukError('UK_ERR_CONFIG_NOT_FOUND', `cannot read config file ${path}: ${code}`, { where: path, cause: err, fix: 'check the path given to -c' });
}

/** Reads and parses an Ops configuration file (at most MAX_CONFIG_BYTES). */
export function loadOpsConfig(path: string): OpsConfig {
  const file = resolve(path);
  const text = readBounded(file, path, MAX_CONFIG_BYTES).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const position = /position (\d+)/.exec(message);
    const at = position ? ` at ${lineAndColumn(text, Number(position[1]))}` : '';
    throw ukError('UK_ERR_CONFIG_PARSE', `${path}: invalid JSON${at}: ${message}`, { where: path, cause: err });
  }
  return opsConfigFromJSON(json, path, dirname(file));
}
