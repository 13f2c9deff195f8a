/**
 * The one redaction function (DESIGN §5), shared by pino logs, the audit log and MCP tool arguments.
 * Values under secret-looking keys are replaced at any depth; secret-shaped values (API keys, admin keys,
 * step-up challenges, JWTs, refresh tokens, bearer headers) are replaced wherever they appear, even inside
 * longer strings under harmless keys. Control characters are escaped so that no log line can be forged.
 */
export const REDACTED = '[REDACTED]';

export const SECRET_KEY_PATTERN =
  /secret|token|password|passphrase|key|code|otp|pin|signature|authorization|cookie|challenge|nonce|credential/i;

/**
 * Keys that describe a secret rather than hold one: its id, display prefix, type, time, count or lifetime
 * (`keyId`, `keyPrefix`, `accessTokenTtlSeconds`, `passwordChangedAt`, `failedCodeCount`, `key_id`). Only a
 * camelCase or snake_case suffix after a word counts; `tokenid` or `code` alone stay secret.
 */
const DESCRIBES_A_SECRET = /(?:[a-z0-9](?:Id|Ids|Prefix|Type|Kind|At|Count|Seconds|Ms)|_(?:id|ids|prefix|type|kind|at|count|seconds|ms))$/;

/** Whether the value under this key is treated as a secret. */
export const isSecretKey = (k: string): boolean => SECRET_KEY_PATTERN.test(k) && !DESCRIBES_A_SECRET.test(k);

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

/** Returns a redacted deep copy; never mutates the input and never throws (cycles become "[Circular]"). */
export function redact(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

/** Redacts secret-shaped substrings and escapes control characters in one string. */
export function redactString(s: string): string {
  let out = s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}…` : s;
  for (const p of SECRET_VALUE_PATTERNS) out = out.replace(p, REDACTED);
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
    // The stack stays (operators need it for a 500); its first line repeats the message, so it is redacted too.
    const code = (value as { code?: unknown }).code;
    return {
      name: value.name,
      message: redactString(value.message),
      ...(typeof code === 'string' || typeof code === 'number' ? { code: typeof code === 'string' ? redactString(code) : code } : {}),
      ...(value.stack ? { stack: redactString(value.stack) } : {}),
    };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const safeKey = redactString(k);
    // Numbers are redacted too (a TOTP code or PIN sent as a JSON number is still a secret); a boolean
    // carries no secret and says e.g. whether an API key is issued on sign-up.
    out[safeKey] = isSecretKey(k) && v !== null && v !== undefined && typeof v !== 'boolean'
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
    return eq >= 0 && isSecretKey(decodeSafe(k)) ? `${k}=${REDACTED}` : pair;
  });
  return redactString(`${url.slice(0, q)}?${params.join('&')}`);
}

function decodeSafe(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}
