/**
 * The one redaction function (DESIGN §5), shared by pino logs, the audit log and MCP tool arguments.
 * Values under secret-looking keys are replaced at any depth; secret-shaped values (API keys, admin keys,
 * step-up challenges, JWTs, refresh tokens, bearer headers) are replaced wherever they appear, even inside
 * longer strings under harmless keys. Control characters are escaped so that no log line can be forged.
 */
import { sliceWellFormed, toWellFormed } from './well-formed.js';

export const REDACTED = '[REDACTED]';

/**
 * Key names whose value is a secret: a stem anywhere in the key, any case (`apiKey`, `refresh_token`,
 * `X-API-Key`, `clientSecret`, `privateKey`, `db_passwd`, `walletMnemonic`, `idJwt`).
 */
export const SECRET_KEY_PATTERN =
  /secret|token|password|passwd|passphrase|phrase|key|code|otp|pin|signature|authorization|cookie|challenge|nonce|credential|mnemonic|private|jwt|jwk|bearer|assertion|connectionstring|connection_string|database_?url/i;

/**
 * Short secret words that would hit harmless words as substrings (`compass`, `seeded`, `author`): they count
 * only as a whole word of the key (`pass`, `db_pass`, `userPass`, `pwd`, `seed`, `basicAuth`, `salt`, `dsn`).
 */
const SECRET_WORDS = new Set(['pass', 'pwd', 'seed', 'auth', 'salt', 'dsn']);

/**
 * Keys that describe a secret rather than hold one: its id, display prefix, type, time, count or lifetime
 * (`keyId`, `keyPrefix`, `accessTokenTtlSeconds`, `passwordChangedAt`, `failedCodeCount`, `key_id`). Only a
 * camelCase or snake_case suffix after a word counts; `tokenid` or `code` alone stay secret.
 */
const DESCRIBES_A_SECRET = /(?:([a-z0-9])(?:Id|Ids|Prefix|Type|Kind|At|Count|Seconds|Ms)|_(?:id|ids|prefix|type|kind|at|count|seconds|ms))$/;

/**
 * A describing suffix on a bare secret word (`secretAt`, `tokenCount`, `key_at`) says nothing about what
 * the value is: anyone can name a field that way. Such a key keeps only a value shaped like what the suffix
 * describes and unable to carry a secret — a UUID or a timestamp (`keyId: <uuid>`); anything else is redacted.
 */
const BARE_SECRET_WORDS = new Set(['secret', 'secrets', 'token', 'tokens', 'password', 'passwd', 'pwd', 'pass', 'passphrase', 'key', 'keys',
  'code', 'codes', 'otp', 'pin', 'signature', 'cookie', 'cookies', 'credential', 'credentials', 'mnemonic', 'seed', 'nonce', 'challenge',
  'authorization', 'auth', 'jwt', 'salt', 'bearer']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** The words of a key: camelCase, snake_case, kebab-case and spaces split, lower-cased (also used by the audit log's personal-field rule). */
export const wordsOf = (k: string): string[] =>
  k.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);

/** A key's display prefix (`ck_AbCd`, at most 12 characters): shown to its owner by design. */
const DISPLAY_PREFIX = /^[A-Za-z0-9_-]{1,12}$/;

type KeyVerdict = 'plain' | 'secret' | { described: 'prefix' | 'other' };

/** Whether a key holds a secret, describes one with a value still to check (`described`), or neither. */
function verdictOf(k: string): KeyVerdict {
  if (!SECRET_KEY_PATTERN.test(k) && !wordsOf(k).some((w) => SECRET_WORDS.has(w))) return 'plain';
  const m = DESCRIBES_A_SECRET.exec(k);
  if (!m) return 'secret';
  const stem = k.slice(0, m.index + (m[1] ? 1 : 0));
  if (!BARE_SECRET_WORDS.has(stem.toLowerCase().replace(/[^a-z0-9]/g, ''))) return 'plain';
  return { described: /prefix$/i.test(k) ? 'prefix' : 'other' };
}

/** A value that can only be an id or a time (what a describing suffix promises), never a secret. */
function describesOnly(v: unknown, kind: 'prefix' | 'other'): boolean {
  if (v instanceof Date) return true;
  if (typeof v === 'string') return UUID.test(v) || ISO_TIME.test(v) || (kind === 'prefix' && DISPLAY_PREFIX.test(v));
  return Array.isArray(v) && v.length > 0 && v.every((x) => describesOnly(x, kind));
}

/** Whether the value under this key is treated as a secret. */
export function isSecretKey(k: string, value?: unknown): boolean {
  const v = verdictOf(k);
  return v === 'secret' || (typeof v === 'object' && !describesOnly(value, v.described));
}

const SECRET_VALUE_PATTERNS: RegExp[] = [
  /\b(?:ck|ak|ch)_[A-Za-z0-9_-]{8,}/g,
  /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_-]{20,}/gi,
  /\bBearer\s+\S+/gi,
];

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

const MAX_DEPTH = 12;
const MAX_STRING = 2048;
/**
 * How far past the cut secret shapes are still looked for: a secret straddling the cut is recognised whole
 * and replaced before the string is cut, so no piece of it (an id and the first characters of its secret)
 * survives. Far longer than any secret this service issues; bounds the work on a huge string.
 */
const SCAN_BEYOND_CUT = 16 * 1024;

/** Returns a redacted deep copy; never mutates the input and never throws (cycles become "[Circular]"). */
export function redact(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

/**
 * Redacts secret-shaped substrings, replaces lone surrogates with U+FFFD, cuts to `max` characters (2,048
 * by default) and escapes control characters, in that order: secrets are matched before the cut, and the cut
 * never splits a surrogate pair.
 */
export function redactString(s: string, o: { max?: number } = {}): string {
  const max = o.max ?? MAX_STRING;
  let out = toWellFormed(s.length > max + SCAN_BEYOND_CUT ? s.slice(0, max + SCAN_BEYOND_CUT) : s);
  for (const p of SECRET_VALUE_PATTERNS) out = out.replace(p, REDACTED);
  if (out.length > max) out = `${sliceWellFormed(out, max)}…`;
  return out.replace(CONTROL_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  if (depth >= MAX_DEPTH) return '[Truncated]';
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
  if (value instanceof Error) {
    // Never the stack (DESIGN §5: no stack trace in a response or a log line): the name, the redacted
    // message and the code say what failed; the request id ties it to the request.
    const code = (value as { code?: unknown }).code;
    return {
      name: value.name,
      message: redactString(value.message),
      ...(typeof code === 'string' || typeof code === 'number' ? { code: typeof code === 'string' ? redactString(code) : code } : {}),
    };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const safeKey = redactString(k);
    // Numbers are redacted too (a TOTP code or PIN sent as a JSON number is still a secret); a boolean
    // carries no secret and says e.g. whether an API key is issued on sign-up.
    out[safeKey] = isSecretKey(k, v) && v !== null && v !== undefined && typeof v !== 'boolean'
      ? REDACTED
      : walk(v, depth + 1, seen);
  }
  return out;
}

/** Redacts the values of secret-looking query parameters in a URL path (for request logs). */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return redactString(url);
  const params = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const k = eq < 0 ? pair : pair.slice(0, eq);
    return eq >= 0 && isSecretKey(decodeSafe(k), decodeSafe(pair.slice(eq + 1))) ? `${k}=${REDACTED}` : pair;
  });
  return redactString(`${url.slice(0, q)}?${params.join('&')}`);
}

function decodeSafe(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}
