/**
 * The multiline settings of the `uk` tuple: `multiline` ("auto", "off" or `{"start": "<regex>"}`)
 * and `multiline_timeout` (ms), and the `multiline` key every klib's tuple may carry ("off": that
 * klib's drivers get one record per line).
 */
import { ukError } from '../errors.js';
import { Tuple, wrongValue } from '../manifest.js';
import type { OptionsReader } from '../options.js';
import { autoRule } from './auto-rules.js';
import type { GroupRule } from './rule.js';
import { startRule } from './start-rule.js';

/** Most lines in one record; a longer trace is split into several records. */
export const MULTILINE_MAX_LINES = 1000;
export const DEFAULT_MULTILINE_TIMEOUT_MS = 300;

export type MultilineSettings =
  | { readonly mode: 'auto'; readonly timeoutMs: number }
  | { readonly mode: 'off'; readonly timeoutMs: number }
  | { readonly mode: 'start'; readonly start: RegExp; readonly timeoutMs: number };

/** The key of a klib's own tuple that the core reads (`"off"` or `"auto"`). */
export const KLIB_MULTILINE_KEY = 'multiline';

/** Reads `uk.multiline` and `uk.multiline_timeout`; problems go to the reader, defaults in their place. */
export function readMultilineSettings(reader: OptionsReader): MultilineSettings {
  const timeoutMs = reader.read(
    (t) => t.uint('multiline_timeout', { default: DEFAULT_MULTILINE_TIMEOUT_MS, min: 1, max: 60000, what: 'a whole number of milliseconds' }),
    DEFAULT_MULTILINE_TIMEOUT_MS,
  );
  const value = reader.tuple.get('multiline');
  if (value === undefined) return { mode: 'auto', timeoutMs };
  if (value instanceof Tuple) {
    reader.allowKeys(['start'], value);
    const source = reader.read(() => value.requireString('start', 'a regular expression'), undefined);
    if (source === undefined) return { mode: 'auto', timeoutMs };
    try {
      return { mode: 'start', start: new RegExp(source), timeoutMs };
    } catch (err) {
      const where = value.pathOf('start');
      reader.problem(
        ukError('UK_ERR_MULTILINE_PATTERN', `${where}: ${JSON.stringify(source)} is not a valid regular expression: ${(err as Error).message}`, {
          where,
          fix: 'write a JavaScript regular expression without slashes or flags, e.g. "^\\\\d{4}-\\\\d{2}-\\\\d{2} " (backslashes doubled in JSON)',
        }),
      );
      return { mode: 'auto', timeoutMs };
    }
  }
  if (value === 'auto' || value === 'off') return { mode: value, timeoutMs };
  reader.problem(
    wrongValue(
      reader.tuple.pathOf('multiline'),
      '"auto", "off" or a tuple {"start": "<regular expression>"}',
      typeof value === 'string' ? JSON.stringify(value) : 'a vector',
    ),
  );
  return { mode: 'auto', timeoutMs };
}

/** The rule for the settings (undefined: no grouping). */
export function ruleOf(settings: MultilineSettings): GroupRule | undefined {
  if (settings.mode === 'off') return undefined;
  return settings.mode === 'start' ? startRule(settings.start) : autoRule;
}

/** Checks a klib tuple's `multiline` key; throws a UkError naming the path. */
export function klibMultiline(tuple: Tuple | undefined): 'auto' | 'off' {
  return tuple ? tuple.oneOf(KLIB_MULTILINE_KEY, ['auto', 'off'], 'auto') : 'auto';
}
