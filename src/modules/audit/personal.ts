import { isIP } from 'node:net';
import { REDACTED, wordsOf } from '../../lib/redact.js';

/**
 * What in an audit row is personal data — the one place that decides it (issue 15, account deletion).
 * Chain version 3 hashes a keyed digest of each personal field instead of the field, so erasure can blank
 * the field and the chain still verifies (chain.ts, docs/audit.md). Secrets never get here: `redact`
 * (src/lib/redact.ts, same key-word splitting) has replaced them by "[REDACTED]" before, and a redacted value
 * is not personal.
 *
 * Personal:
 * - the `ip` and `user_agent` columns, whenever set;
 * - `target` when it is an IP address or holds an email address (a ban's target, …);
 * - in metadata, at any depth: the whole value under a key naming a person or what identifies one — a word
 *   `email`/`emails`, `phone`, `wallet`, `ip`, `address`, `label`, `name` (`name`, `displayName`, `orgName`:
 *   a name someone chose, such as an API key's label), `user`+`agent`, `public`+`key`;
 * - in metadata, any other string that holds an email address (e.g. an MCP tool's arguments).
 * Ids (user, session, key, org ids), actions, outcomes, reasons, counts and times are not personal: they are
 * what keeps the log useful about a deleted (pseudonymous) user.
 */

/** A personal field: where it is in the row, and its value as written. */
export interface PersonalField {
  /** `["ip"]`, `["user_agent"]`, `["target"]`, or `["metadata", key, …]` (array indexes as decimal strings) */
  path: string[];
  value: unknown;
}

/** The row parts personal fields can be in (the erase function of migration 0015 handles exactly these). */
export const PERSONAL_COLUMNS = ['ip', 'user_agent', 'target'] as const;

/** What an erased metadata value reads as (erased columns read as null). */
export const ERASED = '[erased]';

const PERSONAL_WORDS = new Set(['email', 'emails', 'phone', 'wallet', 'wallets', 'ip', 'ips', 'address', 'addresses', 'label', 'name', 'names']);

/** Whether the value under a metadata key is personal as a whole. */
export function isPersonalKey(k: string): boolean {
  const w = wordsOf(k);
  return w.some((x) => PERSONAL_WORDS.has(x)) || (w.includes('user') && w.includes('agent')) || (w.includes('public') && w.includes('key'))
    || w.join('') === 'useragent' || w.join('') === 'username' || w.join('') === 'displayname';
}

/** Email addresses inside a string (loose on purpose: what someone typed, however odd). */
const EMAIL_IN_TEXT = /[^\s@"'<>(),;:[\]\\]+@[^\s@"'<>(),;:[\]\\]+\.[^\s@"'<>(),;:[\]\\]+/g;

export const holdsEmail = (s: string): boolean => { EMAIL_IN_TEXT.lastIndex = 0; return EMAIL_IN_TEXT.test(s); };

/** The form an address is looked up by: NFC, trimmed, lower-case. */
export const normalizeEmail = (s: string): string => s.normalize('NFC').trim().toLowerCase();

const carries = (v: unknown): boolean => v !== null && v !== undefined && v !== REDACTED && v !== ERASED && v !== '';

/** The personal fields of a row about to be written (after redaction), in a stable order. */
export function personalFields(f: { ip: string | null; userAgent: string | null; target: string | null; metadata: unknown }): PersonalField[] {
  const out: PersonalField[] = [];
  if (carries(f.ip)) out.push({ path: ['ip'], value: f.ip });
  if (carries(f.userAgent)) out.push({ path: ['user_agent'], value: f.userAgent });
  if (carries(f.target) && (isIP(f.target!) !== 0 || holdsEmail(f.target!))) out.push({ path: ['target'], value: f.target });
  const walk = (v: unknown, path: string[], depth: number) => {
    if (depth > 16) return;
    if (typeof v === 'string') {
      if (holdsEmail(v)) out.push({ path, value: v });
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, [...path, String(i)], depth + 1));
    } else if (v && typeof v === 'object') {
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        if (isPersonalKey(k) && carries(x)) out.push({ path: [...path, k], value: x });
        else walk(x, [...path, k], depth + 1);
      }
    }
  };
  walk(f.metadata, ['metadata'], 0);
  return out;
}

/**
 * The addresses a row's personal fields mention, normalized: every email inside any personal string, and the
 * whole value under an email-named key (whatever was typed there). Erasure finds rows by keyed digests of these.
 */
export function addressesIn(fields: PersonalField[]): string[] {
  const found = new Set<string>();
  const visit = (v: unknown, emailKey: boolean) => {
    if (typeof v === 'string') {
      if (emailKey && v.trim()) found.add(normalizeEmail(v));
      for (const m of v.matchAll(EMAIL_IN_TEXT)) found.add(normalizeEmail(m[0]));
    } else if (Array.isArray(v)) v.forEach((x) => visit(x, emailKey));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, emailKey || wordsOf(k).some((w) => w === 'email' || w === 'emails'));
  };
  for (const f of fields) visit(f.value, f.path.length > 1 && wordsOf(f.path[f.path.length - 1]!).some((w) => w === 'email' || w === 'emails'));
  return [...found].sort();
}
