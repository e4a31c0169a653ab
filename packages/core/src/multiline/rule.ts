/**
 * What a multiline rule tells the grouper, line by line. A rule is a small state machine: `open`
 * says whether a line may begin a group (and in which state), `next` what the next line does to an
 * open group. The grouper keeps the lines; a rule only looks at them.
 */

/**
 * - `join`: the line belongs to the group (and so do the lines held before it).
 * - `hold`: the line may belong to the group; it is decided by a later line (a blank line between
 *   chained Python tracebacks), or it stands alone if the group ends first.
 * - `end`: the line belongs to the group, and the group is complete: it is sent now.
 * - `reject`: the line does not belong: the group is sent without it (and without held lines),
 *   and the held lines and this one are looked at afresh.
 */
export type Action = 'join' | 'hold' | 'end' | 'reject';

export interface Step {
  readonly action: Action;
  /** The group's state from now on (ignored for `end` and `reject`). */
  readonly state: number;
}

export interface GroupRule {
  /**
   * 0 when the line `buf[start, end)` (without its newline) opens no group, else the state of the
   * group it opens. Runs on every line outside a group, so it must be cheap: a byte test first.
   */
  open(buf: Buffer, start: number, end: number): number;
  /** What `line` (decoded, without a trailing `\r`) does to a group in `state`. */
  next(state: number, line: string): Step;
  /**
   * Optional shortcut: true when the line `buf[start, end)` certainly gets `reject` in `state`,
   * told from its bytes. A line that opens a group and is followed, in the same read, by such a
   * line then goes through as an ordinary line, without being copied and held.
   */
  rejectsAtOnce?(state: number, buf: Buffer, start: number, end: number): boolean;
}

export const REJECT: Step = Object.freeze({ action: 'reject', state: 0 });
export const END: Step = Object.freeze({ action: 'end', state: 0 });

const steps = new Map<string, Step>();
/** A shared, frozen step (no allocation per line). */
export function step(action: 'join' | 'hold', state: number): Step {
  const key = `${action}:${state}`;
  let found = steps.get(key);
  if (!found) steps.set(key, (found = Object.freeze({ action, state })));
  return found;
}

/**
 * True for a line that is a JSON object (`{"…": …}` or `{}`, blanks around allowed): such a line
 * is a structured record of its own and is never merged with others. Checked on the bytes.
 */
export function isJsonObjectLine(buf: Buffer, start: number, end: number): boolean {
  while (start < end && isBlank(buf[start] as number)) start++;
  while (end > start && isBlank(buf[end - 1] as number)) end--;
  if (end - start < 2 || buf[start] !== 0x7b || buf[end - 1] !== 0x7d) return false;
  let i = start + 1;
  while (i < end && isBlank(buf[i] as number)) i++;
  // `{"` starts a JSON object with members, `{}` is the empty one; `{ a: 1 }` (util.inspect) is not JSON.
  return buf[i] === 0x22 || buf[i] === 0x7d;
}

function isBlank(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d;
}

/** The same test on text. */
export function isJsonObjectText(line: string): boolean {
  return /^\s*\{\s*["}][\s\S]*\}\s*$/.test(line);
}
