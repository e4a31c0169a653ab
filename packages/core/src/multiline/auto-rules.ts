/**
 * The built-in ("auto") multiline rules: they join only what is unmistakably one stack trace, as
 * the runtimes print them, so that ordinary output is never merged.
 *
 * - Java/JVM, .NET, Node.js: an exception header (`java.lang.IllegalStateException: msg`,
 *   `Exception in thread "main" …`, `TypeError: msg`, `Error [ERR_X]: msg`, `Unhandled exception.
 *   System.InvalidOperationException: msg`) joins only when the next line is a frame (`\tat …`,
 *   `    at …`); then frames, `Caused by: …`, `Suppressed: …`, `... N more`, ` ---> …`, `--- End
 *   of … ---`, Node's `{ [cause]: … }` / `{ [errors]: [ … ] }` / property blocks, and the end of
 *   Node's uncaught-exception report (a blank line and `Node.js vN`).
 * - Node.js uncaught-exception report: `file:line`, the source line, the caret line, then the error
 *   as above.
 * - Python: `Traceback (most recent call last):`, indented lines, the exception line; chained
 *   tracebacks joined by "During handling of the above exception, another exception occurred:" or
 *   "The above exception was the direct cause of the following exception:" with their blank lines;
 *   exception groups (`  + Exception Group Traceback …`).
 * - Go: `panic: …` / `fatal error: …`, `[signal …]`, blank lines, then `goroutine N [state]:` and
 *   its frames (function lines, tab-indented file lines, `created by …`), more goroutines after
 *   blank lines.
 * - Ruby: `file.rb:N:in 'm': msg (Class)` followed by `\tfrom …` lines, and the causes after them.
 * - PHP: `PHP Fatal error:  Uncaught …` / `Exception: msg in f.php:N` followed by `Stack trace:`,
 *   `#N …` lines, a blank line and `Next …` (chained), and `  thrown in … on line N`.
 *
 * Lines outside a group pass `open`, a test on the first bytes; only a line that might start a
 * trace is decoded and matched against a regular expression.
 */
import { END, REJECT, step, type GroupRule, type Step } from './rule.js';

// States of an open group.
/** A header line, waiting for its first frame. */
const HEADER = 1;
/** In frames (Java, Node.js, .NET). */
const FRAMES = 2;
/** In a Node.js `{ … }` block after the last frame (properties, `[cause]`, `[errors]`). */
const NODE_PROPS = 3;
/** After the `}` closing a Node.js block. */
const NODE_PROPS_END = 4;
/** A blank line after frames: Node.js's uncaught-exception report ends with `Node.js vN`. */
const FRAMES_BLANK = 5;
/** A Node.js report's `file:line`: the source line follows. */
const NODE_LOCATION = 6;
/** The source line: the caret line follows. */
const NODE_SOURCE = 7;
/** After the caret: a blank line, then the thrown value. */
const NODE_CARET = 8;
const NODE_CARET_BLANK = 9;
const PY_FRAMES = 10;
/** After the exception line: a chained traceback may follow. */
const PY_AFTER = 11;
const PY_BLANK = 12;
const PY_CHAIN = 13;
const PY_CHAIN_BLANK = 14;
const PY_GROUP = 15;
const GO_HEAD = 16;
const GO_STACK = 17;
const GO_BLANK = 18;
const RUBY = 19;
const PHP = 20;
/** A blank line in a PHP trace: `Next …` (a chained exception) may follow. */
const PHP_BLANK = 21;

const FRAME = /^\s+at \S/;
const ELLIPSIS = /^\s+\.\.\. /;
const CAUSED_BY = /^\s*Caused by: /;
const SUPPRESSED = /^\s+Suppressed: /;
const DOTNET_INNER = /^\s*---> /;
const DOTNET_END = /^\s*--- End of /;
const NODE_VERSION = /^Node\.js v\d/;
const NODE_TRACE_HINT = /^\(Use `node --trace-uncaught/;
const CARET = /^\s*\^+\s*$/;
const PY_CHAIN_TEXT =
  /^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)$/;
const PY_TRACEBACK = 'Traceback (most recent call last):';
const PY_GROUP_START = /^\s*\+ Exception Group Traceback \(most recent call last\):$/;
const GO_PANIC = /^(?:panic|fatal error): /;
const GO_GOROUTINE = /^goroutine \d+ \[[^\]]*\]:$/;
const GO_FUNCTION = /^[\w.\-/*()[\]{}$%]+\(.*\)$/;
const RUBY_HEADER = /^\S+:\d+:in [`'].*$/;
const RUBY_FROM = /^\tfrom /;
const PHP_UNCAUGHT = /^(?:PHP )?(?:Fatal error|Parse error): +Uncaught /;
const PHP_STACK = /^(?:PHP )?Stack trace:$/;
const PHP_FRAME = /^(?:PHP )?#\d+ /;
const PHP_NEXT = /^(?:PHP )?Next \S/;
const PHP_THROWN = /^(?:PHP )? {2}thrown in /;
const NODE_LOCATION_LINE = /^(?:file:\/\/|node:|\/|\[|\.{1,2}\/|[A-Za-z]:\\)\S*:\d+$/;
/** An exception header: optional runtime prefix, a (qualified) name, an optional Node.js code, an optional message. */
const HEADER_LINE =
  /^(Exception in thread "[^"]*" |Unhandled exception\. |Uncaught )?((?:[A-Za-z_$][\w$]*(?:\.|::|\/))*[A-Za-z_$][\w$]*)(?: \[[\w.-]+\])?(?::(?: .*)?)?$/;
const ERROR_NAME = /(?:Error|Exception|Throwable|Failure|Fault)[\w$]*$/;
/** `com.acme.Boom`: a JVM class in a package, whatever its name. */
const QUALIFIED_CLASS = /^(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*$/;

function isBlankLine(line: string): boolean {
  return line.trim() === '';
}

/** The state a decoded line opens, or 0. Each pattern is tried only when its first character fits. */
export function openState(line: string): number {
  const first = line.charCodeAt(0);
  if (first === 0x20) return PY_GROUP_START.test(line) ? PY_GROUP : 0; // "  + Exception Group Traceback"
  if (first === 0x54 && line === PY_TRACEBACK) return PY_FRAMES; // T
  if ((first === 0x70 || first === 0x66) && GO_PANIC.test(line)) return GO_HEAD; // p, f
  if (first === 0x67 && GO_GOROUTINE.test(line)) return GO_STACK; // g
  if (isDigit(line.charCodeAt(line.length - 1)) && NODE_LOCATION_LINE.test(line)) return NODE_LOCATION;
  if (line.includes(':in ') && RUBY_HEADER.test(line)) return HEADER;
  if ((first === 0x50 || first === 0x46) && PHP_UNCAUGHT.test(line)) return HEADER; // P, F
  const header = HEADER_LINE.exec(line);
  if (header && (header[1] !== undefined || ERROR_NAME.test(header[2] as string) || QUALIFIED_CLASS.test(header[2] as string))) return HEADER;
  return 0;
}

const isLetter = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** Does `buf[start, end)` end with the ASCII `word`? */
function endsWith(buf: Buffer, start: number, end: number, word: string): boolean {
  if (end - start < word.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[end - word.length + i] !== word.charCodeAt(i)) return false;
  return true;
}

const OPENING_WORDS = ['Traceback', 'panic:', 'fatal', 'goroutine', 'Exception', 'Unhandled', 'Uncaught', 'PHP', 'Fatal', 'Parse'];
const OPENING_FIRST = new Set(OPENING_WORDS.map((w) => w.charCodeAt(0)));
const NAME_ENDINGS = ['Error', 'Exception', 'Throwable', 'Failure', 'Fault'];

/** `classify`: the line must be decoded and matched to know. */
const DECODE = -1;

const isNameByte = (c: number): boolean => isLetter(c) || isDigit(c) || c === 0x5f || c === 0x24 || c === 0x2e; // _ $ .

/**
 * The byte test before any decoding: 0 when the line cannot open a group (almost every ordinary
 * line, after a look at its first word), `HEADER` for the common exception header
 * `Name: message` / `Name` (a name ending in Error, Exception, …: no decoding needed), `DECODE`
 * when the regular expressions must decide.
 */
export function classify(buf: Buffer, start: number, end: number): number {
  if (end - start < 4) return 0;
  const first = buf[start] as number;
  if (first === 0x20) return buf[start + 1] === 0x20 && buf[start + 2] === 0x2b ? DECODE : 0; // "  + Exception Group Traceback"
  if (first === 0x2f || first === 0x5b || first === 0x2e) {
    // "/path/app.js:12", "[eval]:1", "./x.rb:3:in …"
    if (isDigit(buf[end - 1] as number)) return DECODE;
    // ":in " within this line only (indexOf would search the rest of the read).
    for (let i = start; i + 3 < end; i++) if (buf[i] === 0x3a && buf[i + 1] === 0x69 && buf[i + 2] === 0x6e && buf[i + 3] === 0x20) return DECODE;
    return 0;
  }
  if (!isLetter(first)) return 0;
  // The first word: up to a space, at most 512 bytes.
  const limit = Math.min(end, start + 512);
  let word = start + 1;
  let colonDigit = false;
  let dot = false;
  let plainName = true;
  while (word < limit) {
    const c = buf[word] as number;
    if (c === 0x20) break;
    if (c === 0x3a && isDigit(buf[word + 1] as number)) colonDigit = true;
    else if (c === 0x2e) dot = true;
    if (plainName && !isNameByte(c)) plainName = c === 0x3a && (word + 1 === limit || buf[word + 1] === 0x20);
    word++;
  }
  // "node:internal/x:12", "file:///x.mjs:3", "app.rb:2:in …", "C:\x.js:1"
  if (colonDigit) return DECODE;
  const nameEnd = buf[word - 1] === 0x3a ? word - 1 : word;
  // The last letter first: r(Error), n(Exception), e(Throwable, Failure), t(Fault).
  const last = buf[nameEnd - 1];
  if (last === 0x72 || last === 0x6e || last === 0x65 || last === 0x74) {
    for (const ending of NAME_ENDINGS) {
      if (!endsWith(buf, start, nameEnd, ending)) continue;
      // "TypeError: message", "java.lang.IllegalStateException", as the header pattern has it.
      return plainName && (word === end || nameEnd < word) ? HEADER : DECODE;
    }
  }
  if (OPENING_FIRST.has(first)) for (const opening of OPENING_WORDS) if (word - start === opening.length && endsWith(buf, start, word, opening)) return DECODE;
  // "com.acme.Boom: message" (a JVM class in a package), only as the whole line or before ": ".
  return dot && (word === end || nameEnd < word) ? DECODE : 0;
}

function frameStep(line: string): Step | undefined {
  if (FRAME.test(line)) return step('join', line.endsWith(' {') ? NODE_PROPS : FRAMES);
  if (ELLIPSIS.test(line) || CAUSED_BY.test(line) || SUPPRESSED.test(line) || DOTNET_INNER.test(line) || DOTNET_END.test(line) || NODE_TRACE_HINT.test(line))
    return step('join', FRAMES);
  return undefined;
}

function next(state: number, line: string): Step {
  switch (state) {
    case HEADER:
      if (FRAME.test(line)) return step('join', line.endsWith(' {') ? NODE_PROPS : FRAMES);
      if (DOTNET_INNER.test(line)) return step('hold', HEADER);
      if (PHP_STACK.test(line)) return step('join', PHP);
      if (RUBY_FROM.test(line)) return step('join', RUBY);
      return REJECT;
    case FRAMES:
      if (isBlankLine(line)) return step('hold', FRAMES_BLANK);
      return frameStep(line) ?? REJECT;
    case NODE_PROPS:
      if (line === '}') return step('join', NODE_PROPS_END);
      return line.startsWith(' ') ? step('join', NODE_PROPS) : REJECT;
    case NODE_PROPS_END:
      return isBlankLine(line) ? step('hold', FRAMES_BLANK) : REJECT;
    case FRAMES_BLANK:
      return NODE_VERSION.test(line) ? END : REJECT;
    case NODE_LOCATION:
      return isBlankLine(line) ? REJECT : step('hold', NODE_SOURCE);
    case NODE_SOURCE:
      return CARET.test(line) ? step('join', NODE_CARET) : REJECT;
    case NODE_CARET:
      return isBlankLine(line) ? step('hold', NODE_CARET_BLANK) : step('join', FRAMES);
    case NODE_CARET_BLANK:
      return isBlankLine(line) ? REJECT : step('join', FRAMES);
    case PY_FRAMES:
      if (line.startsWith(' ')) return step('join', PY_FRAMES);
      // The exception line ends the traceback; a chained one may follow.
      return isBlankLine(line) ? REJECT : step('join', PY_AFTER);
    case PY_AFTER:
      return isBlankLine(line) ? step('hold', PY_BLANK) : REJECT;
    case PY_BLANK:
      return PY_CHAIN_TEXT.test(line) ? step('hold', PY_CHAIN) : REJECT;
    case PY_CHAIN:
      return isBlankLine(line) ? step('hold', PY_CHAIN_BLANK) : REJECT;
    case PY_CHAIN_BLANK:
      if (line === PY_TRACEBACK) return step('join', PY_FRAMES);
      return PY_GROUP_START.test(line) ? step('join', PY_GROUP) : REJECT;
    case PY_GROUP:
      return line.startsWith(' ') && !isBlankLine(line) ? step('join', PY_GROUP) : REJECT;
    case GO_HEAD:
      if (isBlankLine(line)) return step('hold', GO_HEAD);
      if (line.startsWith('[signal ') || /^\s*panic: /.test(line)) return step('join', GO_HEAD);
      if (GO_GOROUTINE.test(line) || line === 'runtime stack:') return step('join', GO_STACK);
      return REJECT;
    case GO_STACK:
      if (isBlankLine(line)) return step('hold', GO_BLANK);
      if (line.startsWith('\t') || line.startsWith('created by ') || line.startsWith('...') || GO_FUNCTION.test(line)) return step('join', GO_STACK);
      return GO_GOROUTINE.test(line) ? step('join', GO_STACK) : REJECT;
    case GO_BLANK:
      return GO_GOROUTINE.test(line) || line === 'runtime stack:' ? step('join', GO_STACK) : REJECT;
    case RUBY:
      return RUBY_FROM.test(line) || RUBY_HEADER.test(line) ? step('join', RUBY) : REJECT;
    case PHP:
      if (PHP_THROWN.test(line)) return END;
      if (isBlankLine(line)) return step('hold', PHP_BLANK);
      return PHP_FRAME.test(line) || PHP_NEXT.test(line) || PHP_STACK.test(line) ? step('join', PHP) : REJECT;
    case PHP_BLANK:
      return PHP_NEXT.test(line) ? step('join', PHP) : REJECT;
    default:
      return REJECT;
  }
}

/**
 * A header is followed by a frame (`\tat`, `    at`, ` ---> `), `\tfrom` (Ruby) or `Stack trace:`
 * (PHP, also after `PHP `): a colour code may come first; any other first byte ends it, known without decoding the line.
 */
function rejectsAtOnce(state: number, buf: Buffer, start: number, end: number): boolean {
  if (state !== HEADER) return false;
  if (start === end) return true;
  const first = buf[start];
  return first !== 0x20 && first !== 0x09 && first !== 0x53 && first !== 0x50 && first !== ESC;
}

const ESC = 0x1b;
const SGR = /\u001b\[[0-9;]*m/g;

/**
 * The line without terminal colours (SGR sequences). They are no part of what a line says, and
 * real traces carry them: with FORCE_COLOR set (nx, many CI tools and containers set it) Node
 * colours the frames of an error printed to a pipe (`\u001b[90m    at …`), Python 3.13 its
 * tracebacks. Lines without an escape character are returned as they are.
 */
export function withoutColours(line: string): string {
  return line.includes('\u001b') ? line.replace(SGR, '') : line;
}

/** The built-in rules. */
export const autoRule: GroupRule = {
  open(buf, start, end) {
    if (end > start && buf[end - 1] === 0x0d) end--;
    if (buf[start] === ESC) return openState(withoutColours(buf.toString('utf8', start, end)));
    const byBytes = classify(buf, start, end);
    return byBytes === DECODE ? openState(buf.toString('utf8', start, end)) : byBytes;
  },
  next: (state, line) => next(state, withoutColours(line)),
  rejectsAtOnce,
};
