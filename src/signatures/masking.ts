/**
 * Masking: turns a message into tokens with its variable parts replaced by {@link WILDCARD}.
 *
 * The rules are about the *shape* of a value, never about a particular system: a value that carries a
 * digit (numbers, sizes, durations, hex, ids, addresses, times), a URL, an e-mail address, a UUID, an
 * IP address (with or without port) or a file path is variable; a word is not. Words that vary (user
 * names, host names) are left to the miner, which learns them from the variants it sees.
 *
 * This runs on every message, so it is written for speed: one pass over the characters, and regular
 * expressions only for the rare tokens that might be a URL, an e-mail or a path.
 */

/** The placeholder for a variable part, as in the Loghub templates. */
export const WILDCARD = '<*>';

/**
 * Characters that separate the parts of one whitespace token: `uid=0` is `uid`, `=`, `0`, and
 * `(pid:42)` is `(`, `pid`, `:`, `42`, `)`. `-`, `_`, `.` and `/` are not separators: they join the
 * pieces of one value (`blk_-69`, `10.0.0.1`, `4G/4G`, `2017-05-16`).
 */
const SEPARATORS = charTable('=:,;()[]{}<>"\'|`');

/** Literals that are values in every language's logs: booleans and nulls. */
const KEYWORD_VALUES = new Set(['true', 'false', 'True', 'False', 'TRUE', 'FALSE', 'null', 'NULL', 'None', 'nil', 'undefined', 'NaN']);

/** Leading and trailing characters that wrap a value without being part of it. */
const OPENERS = charTable('([{<"\'');
const CLOSERS = charTable(')]}>"\',;.:!?');

/** A membership table for ASCII characters: indexing by char code beats a Set of one-letter strings. */
function charTable(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (const ch of chars) table[ch.charCodeAt(0)] = 1;
  return table;
}

function inTable(table: Uint8Array, c: number): boolean {
  return c < 128 && table[c] === 1;
}

const URL_RE = /^[a-z][a-z0-9+.-]*:\/\/\S+$/i;
const EMAIL_RE = /^[\w.+%-]+@[\w-]+(\.[\w-]+)*\.[a-z]{2,}$/i;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** IPv6 with optional brackets and port: only hex digits, colons and (for mapped IPv4) dots. */
const IPV6_RE = /^\[?(?=[0-9a-f:.]*:[0-9a-f:.]*:)[0-9a-f:.]+(%\w+)?\]?(:\d+)?$/i;
/** ISO 8601 / RFC 3339 date-times: `2024-05-01T12:30:45.123Z`, `2024-05-01T12:30+02:00`. */
const ISO_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/i;
/** An absolute, home, relative (`./`, `../`) or Windows path. */
const PATH_RE = /^(?:~?\/|\.\.?\/|[a-z]:\\|\\\\)[^\s]*$/i;

const enum Char {
  Zero = 48,
  Nine = 57,
  Slash = 47,
  Backslash = 92,
  At = 64,
  Colon = 58,
  Equals = 61,
}

function isDigitCode(c: number): boolean {
  return c >= Char.Zero && c <= Char.Nine;
}

/** ASCII letter, digit or `_`. */
function isWordCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isWhitespaceCode(c: number): boolean {
  // Space, tab, LF, VT, FF, CR, and the common Unicode spaces that show up in copied text.
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000 || c === 0xfeff;
}

/**
 * Whether a whole value (a token with its wrapping punctuation removed) is variable by shape.
 * Exported for the tests that pin each kind.
 */
export function isVariableValue(value: string): boolean {
  if (value.length === 0) return false;
  let special = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (isDigitCode(c)) return true;
    if (c === Char.Slash || c === Char.Backslash || c === Char.At || c === Char.Colon) special = true;
  }
  return special && (URL_RE.test(value) || EMAIL_RE.test(value) || PATH_RE.test(value) || UUID_RE.test(value) || IPV6_RE.test(value));
}

/**
 * Masks one whitespace-delimited token. A token that is a value as a whole (a URL, a path, an
 * address, `10.0.0.1:8080`, `(12ms)`) becomes one wildcard, keeping the punctuation around it; other
 * tokens are masked part by part (`uid=0` → `uid=<*>`), so the constant key stays in the template.
 */
export function maskToken(token: string): string {
  // Fast path: most tokens are plain words. Nothing without a digit or one of / \ @ : = can be variable.
  let interesting = false;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (isDigitCode(c) || c === Char.Slash || c === Char.Backslash || c === Char.At || c === Char.Colon || c === Char.Equals) {
      interesting = true;
      break;
    }
  }
  if (!interesting) return KEYWORD_VALUES.has(token) ? WILDCARD : token;

  let start = 0;
  let end = token.length;
  while (start < end && inTable(OPENERS, token.charCodeAt(start))) start++;
  while (end > start && inTable(CLOSERS, token.charCodeAt(end - 1))) end--;
  const core = token.slice(start, end);
  // `[2001:db8::1]:443`: the brackets belong to the address when a port follows.
  if (start > 0 && token[start - 1] === '[' && IPV6_RE.test(token.slice(start - 1, end))) {
    return token.slice(0, start - 1) + WILDCARD + token.slice(end);
  }
  if (core.length > 0 && isWholeValue(core)) {
    return token.slice(0, start) + WILDCARD + token.slice(end);
  }
  return maskParts(token);
}

/** Values recognised as a whole even though they contain separators (`:` in IPv6, URLs, ports). */
function isWholeValue(core: string): boolean {
  // A value made of digits and value punctuation only: numbers, IPv4 with port, times
  // (12:30:01.5), dates, ratios (3/4), hex ids and addresses (0000:00:1f.0), UUIDs, most IPv6.
  // Checked first because it is the common case and needs no regular expression.
  let hasDigit = false;
  let plain = true;
  let special = false;
  for (let i = 0; i < core.length; i++) {
    const c = core.charCodeAt(i);
    if (isDigitCode(c)) {
      hasDigit = true;
    } else if (c === Char.Slash || c === Char.Backslash || c === Char.At || c === Char.Colon) {
      special = true;
    } else if (!(c === 46 || c === 45 || c === 44 || c === 43 || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) {
      // not one of . - , + or a hex letter
      plain = false;
      if (special) break;
    }
  }
  if (plain && hasDigit) return true;
  if (!special) return false;
  return URL_RE.test(core) || EMAIL_RE.test(core) || PATH_RE.test(core) || IPV6_RE.test(core) || ISO_TIME_RE.test(core);
}

/**
 * Masks the variable parts of a token split at {@link SEPARATORS}. Besides values by shape, the value
 * of a `key=value` pair is variable whatever it looks like (`user=root`, `ws=null`), and so is the
 * last part of `key:value` (`ret:false`): the key names it, which is what a value is.
 */
function maskParts(token: string): string {
  let out = '';
  let partStart = 0;
  let previous = '';
  let previousPart = '';
  for (let i = 0; i <= token.length; i++) {
    if (i < token.length && !inTable(SEPARATORS, token.charCodeAt(i))) continue;
    if (i > partStart) {
      const part = token.slice(partStart, i);
      const named = previous === '=' || (previous === ':' && i === token.length && WORD_RE.test(previousPart));
      out += named || KEYWORD_VALUES.has(part) || isVariableValue(part) ? WILDCARD : part;
      previousPart = part;
    }
    if (i < token.length) {
      out += token[i];
      previous = token[i];
      if (previous === '=' && isWordCode(token.charCodeAt(i + 1))) {
        // A value that starts right after `=` runs to the end of the token, whatever separators
        // it contains (`addr=10.0.0.1:80`); `tty=:0` is a different, punctuated form and stays one.
        return out + maskValue(token.slice(i + 1));
      }
    }
    partStart = i + 1;
  }
  return out;
}

/** A `key=` value: wildcard for what sits between its wrapping punctuation; empty stays empty. */
function maskValue(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && inTable(OPENERS, value.charCodeAt(start))) start++;
  while (end > start && inTable(CLOSERS, value.charCodeAt(end - 1))) end--;
  return start === end ? value : value.slice(0, start) + WILDCARD + value.slice(end);
}

/** A key: a word that may contain `_`, `-` and `.`. */
const WORD_RE = /^[a-z_][\w.-]*$/i;

/** Size and time units: `93.0 B` and `5.2 KB` are one kind of value, so the unit is part of it. */
const UNITS = new Set(['B', 'KB', 'MB', 'GB', 'TB', 'PB', 'KiB', 'MiB', 'GiB', 'TiB', 'ns', 'us', 'µs', 'ms', 's', 'sec', 'secs', 'min', 'mins']);
const MONTHS = new Set('Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec January February March April June July August September October November December'.split(' '));
const WEEKDAYS = new Set('Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday Thursday Friday Saturday Sunday'.split(' '));

/**
 * Masks the words that belong to a value already masked next to them: the unit after a number and
 * the month and weekday names of a date (`Fri Jun 17 07:07:00 2005`). Right to left, so a weekday
 * sees its month already masked.
 */
function maskValueWords(tokens: string[]): void {
  for (let i = tokens.length - 1; i >= 0; i--) {
    const afterValue = i > 0 && tokens[i - 1] === WILDCARD;
    const beforeValue = i + 1 < tokens.length && tokens[i + 1].startsWith(WILDCARD);
    if (!afterValue && !beforeValue) continue;
    const token = tokens[i];
    let end = token.length;
    while (end > 0 && inTable(CLOSERS, token.charCodeAt(end - 1))) end--;
    const word = end === token.length ? token : token.slice(0, end);
    if ((afterValue && UNITS.has(word)) || (beforeValue && (MONTHS.has(word) || WEEKDAYS.has(word)))) {
      tokens[i] = WILDCARD + token.slice(end);
    }
  }
}

/**
 * Splits a message at whitespace and masks each token.
 *
 * @param message - the message text (any length; empty gives no tokens)
 * @param maxTokens - tokens beyond this count are dropped, so one huge line cannot make a huge template
 * @returns the masked tokens, in order
 */
export function maskMessage(message: string, maxTokens = DEFAULT_MAX_TOKENS): string[] {
  const tokens: string[] = [];
  let i = 0;
  const n = message.length;
  while (i < n && tokens.length < maxTokens) {
    while (i < n && isWhitespaceCode(message.charCodeAt(i))) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && !isWhitespaceCode(message.charCodeAt(i))) i++;
    tokens.push(maskToken(message.slice(start, i)));
  }
  maskValueWords(tokens);
  return tokens;
}

/** Default cap on tokens per message (see {@link maskMessage}). @default 256 */
export const DEFAULT_MAX_TOKENS = 256;
