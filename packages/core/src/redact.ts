/**
 * Keeps credentials out of what uk prints and ships. A server may echo a request's headers in its
 * error answer (AWS's signature errors quote the canonical request, security token included), and
 * uk's messages quote error answers; they go to stderr and, as records from source `kernel`, to
 * every record driver. So every uk message passes through `Secrets.redact` first (in the kernel
 * log, and in the CLI for errors printed outside it).
 *
 * Two things are replaced by `[REDACTED]`:
 * - every value a klib registered with `add` (the AWS secret access key and session token, the
 *   GCP access token), wherever it appears, also URL-encoded, and also cut short: a message that
 *   quotes an answer truncated mid-token still loses the part shown, down to its first
 *   SECRET_HEAD characters;
 * - the values of credential fields in any text, registered or not: `Authorization: <scheme>
 *   <value>` (but see below), `Bearer <token>`, SigV4 `Signature=<hex>`, `X-Amz-Security-Token`,
 *   `X-aws-ec2-metadata-token`, `aws_secret_access_key`, `SecretAccessKey`, `SessionToken`,
 *   `access_token`, `refresh_token`, `id_token`, `client_secret`, and the `"Token"` of IMDS's
 *   credentials answer; after `:` or `=`, quoted or not.
 *
 * AWS access key ids are kept: they identify the credentials without granting anything, AWS
 * itself prints them in error messages and CloudTrail, and the operator needs them to tell which
 * credentials (which rotation) a message is about. So `Authorization: AWS4-HMAC-SHA256
 * Credential=AKIA…/20240101/us-east-1/logs/aws4_request, SignedHeaders=…, Signature=[REDACTED]`.
 *
 * Values shorter than MIN_SECRET_LENGTH are neither registered nor matched after a field name:
 * they would replace ordinary words (`token: expired`). After `authorization:`, a word of letters
 * followed by another word is taken for the scheme and kept (`authorization: forbidden for this
 * role` is unchanged); the price: a message ending `authorization: <one word of 8 letters or
 * more>` loses that word, and a raw token of letters only followed by more text is not caught
 * by this pattern (random tokens hold digits or symbols).
 *
 * Only uk's own messages are redacted, never the program's lines (they are the program's
 * business, and the hot path). A message costs one search with a combined expression (7 to 14 µs
 * for 375 characters measured here), and the patterns' repetitions are bounded so that a long
 * message stays linear.
 */

export const REDACTED = '[REDACTED]';
/** Shorter values are not secrets worth the mangling of ordinary text. */
export const MIN_SECRET_LENGTH = 8;
/**
 * Registered values kept; beyond this the oldest go first. Registering a value again makes it the
 * newest, so credentials still in use (a static key returned by every refresh) stay; what falls out
 * are temporary credentials and tokens long replaced (and expired: AWS's last hours, GCP's one).
 */
export const MAX_SECRETS = 128;
/**
 * A registered value is found by its first characters (this many); the match then runs as far as
 * the text agrees with the value. So a value cut short (a message that keeps the first 300
 * characters of an answer) is redacted too. 16 characters of a random token do not occur by chance.
 */
export const SECRET_HEAD = 16;

/** `name` matching in any letter case (the `i` flag would also fold the registered secrets). */
function anyCase(name: string): string {
  return name.replace(/[a-z]/gi, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`);
}

const SEP = '[_-]?';
/** Field names whose value is a credential. */
const CREDENTIAL_FIELDS = [
  `\\b(?:${anyCase('aws')}${SEP})?${anyCase('secret')}${SEP}${anyCase('access')}${SEP}${anyCase('key')}`,
  `\\b(?:${anyCase('aws')}${SEP})?${anyCase('session')}${SEP}${anyCase('token')}`,
  `\\b${anyCase('security')}${SEP}${anyCase('token')}`,
  `\\b${anyCase('metadata')}${SEP}${anyCase('token')}`,
  `\\b(?:${anyCase('access')}|${anyCase('refresh')}|${anyCase('id')})${SEP}${anyCase('token')}`,
  `\\b${anyCase('client')}${SEP}${anyCase('secret')}`,
  `"${anyCase('token')}`,
].join('|');
/**
 * A value: up to a space, quote, comma, semicolon, `&` or colon (tokens are base64 or hex; uk's
 * messages put `: reason` after what they name), and not too short to be a secret.
 */
const VALUE = `[^\\s"',;&:]{${MIN_SECRET_LENGTH},}`;
/** `: `, `=`, `":"`, `' = '`…: what separates a field from its value in headers, JSON, queries, INI files. */
const ASSIGN = `["']?[ \\t]{0,4}[:=][ \\t]{0,4}["']?`;

/**
 * Every pattern matches the secret only (what precedes it is a lookbehind), so all are replaced
 * alike. Repetitions inside lookbehinds are bounded ({0,4}): an unbounded one is tried again at
 * every position of a long run of spaces, which makes the search quadratic.
 */
const PATTERNS = [
  `(?<=(?:${CREDENTIAL_FIELDS})${ASSIGN})${VALUE}`,
  // Authorization: <scheme> <value>, or a bare value. SigV4's value is handled by its Signature.
  // A word of letters followed by a value is the scheme (Bearer, Basic, Negotiate), not the secret.
  `(?<=\\b${anyCase('authorization')}${ASSIGN}(?:(?!AWS4-)[A-Za-z][\\w-]{0,31}[ \\t]{1,4})?)(?!AWS4-|[A-Za-z]{1,32}[ \\t]{1,4}[^\\s"',;&:])${VALUE}`,
  // A bearer token anywhere (a header echoed in prose). 16+ characters: English words are shorter.
  `(?<=\\b${anyCase('bearer')}[ \\t]{1,4})[\\w.~+/=-]{16,}`,
  // SigV4 signatures, in the Authorization header or a presigned URL.
  `(?<=\\b${anyCase('signature')}=)[0-9a-fA-F]{16,}`,
];

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

export class Secrets {
  /** Insertion order is age: the first is the oldest. */
  readonly #values = new Set<string>();
  #search: RegExp | undefined;
  /** First SECRET_HEAD characters → the values that begin with them (built with #search). */
  #byHead = new Map<string, string[]>();

  /** Values registered now (URL-encoded forms count separately). */
  get size(): number {
    return this.#values.size;
  }

  /**
   * Registers a credential to be redacted from every message from now on. Values shorter than
   * MIN_SECRET_LENGTH (and non-strings) are ignored; returns whether the value was registered.
   */
  add(secret: string | undefined | null): boolean {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) return false;
    // Also as it appears in a URL query (session tokens hold `/`, `+` and `=`).
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      this.#values.delete(form);
      this.#values.add(form);
    }
    while (this.#values.size > MAX_SECRETS) this.#values.delete(this.#values.values().next().value as string);
    this.#search = undefined;
    return true;
  }

  /** `text` with every registered value and every credential field's value replaced by `[REDACTED]`. */
  redact(text: string): string {
    const search = (this.#search ??= this.#build());
    search.lastIndex = 0;
    let match = search.exec(text);
    if (match === null) return text;
    // Collect every match, overlapping ones too (two secrets sharing characters), then merge them.
    const spans: [number, number][] = [];
    while (match !== null) {
      const start = match.index;
      const head = match[1];
      const end = start + (head === undefined ? match[0].length : this.#agreement(text, start, head));
      const last = spans[spans.length - 1];
      if (last && start <= last[1]) last[1] = Math.max(last[1], end);
      else spans.push([start, end]);
      search.lastIndex = start + 1;
      match = search.exec(text);
    }
    let out = '';
    let at = 0;
    for (const [start, end] of spans) {
      out += text.slice(at, start) + REDACTED;
      at = end;
    }
    return out + text.slice(at);
  }

  /** How far from `start` the text agrees with the longest registered value beginning with `head`. */
  #agreement(text: string, start: number, head: string): number {
    let longest = head.length;
    for (const value of this.#byHead.get(head) ?? []) {
      let n = head.length;
      while (n < value.length && text.charCodeAt(start + n) === value.charCodeAt(n)) n++;
      longest = Math.max(longest, n);
    }
    return longest;
  }

  #build(): RegExp {
    this.#byHead = new Map();
    for (const value of this.#values) {
      const head = value.slice(0, SECRET_HEAD);
      const list = this.#byHead.get(head);
      if (list) list.push(value);
      else this.#byHead.set(head, [value]);
    }
    // Longest first: where one value begins another, the longer one is the match.
    const heads = [...this.#byHead.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    const alternatives = heads.length > 0 ? [`(${heads.join('|')})`, ...PATTERNS] : PATTERNS;
    return new RegExp(alternatives.join('|'), 'g');
  }
}
