import { en, type Messages } from './messages/en.js';

/**
 * One message catalog per language (STYLE: every string in messages/<lang>.ts). A catalog has the
 * shape of the English one, so a missing string is a type error, not a blank on a page.
 */
export const CATALOGS: Readonly<Record<string, Messages>> = { en };

export type Lang = keyof typeof CATALOGS & string;
export const DEFAULT_LANG = 'en';

/**
 * The best catalog for an `Accept-Language` header (RFC 9110 §12.5.4): the highest-q language we have,
 * matching `fr-CA` to `fr` when only `fr` exists; English otherwise. Bounded: long headers are cut.
 */
export function pickLanguage(header: string | undefined): string {
  if (!header) return DEFAULT_LANG;
  const ranges = header.slice(0, 500).split(',').slice(0, 20).map((part, i) => {
    const [tag = '', ...params] = part.trim().split(';');
    const q = params.map((x) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(x)).find(Boolean);
    return { tag: tag.trim().toLowerCase(), q: q ? Number(q[1]) : 1, i };
  }).filter((r) => r.q > 0 && /^[a-z]{1,8}(-[a-z0-9]{1,8})*$/.test(r.tag))
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const r of ranges) {
    if (CATALOGS[r.tag]) return r.tag;
    const primary = r.tag.split('-')[0]!;
    if (CATALOGS[primary]) return primary;
  }
  return DEFAULT_LANG;
}

export const messagesFor = (lang: string): Messages => CATALOGS[lang] ?? en;

/** Fills `{name}` placeholders; unknown names stay as written. The result is text (escaped when rendered). */
export function fill(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}
