/**
 * Unicode hygiene for text that is stored or logged. A JavaScript string may hold a lone UTF-16 surrogate
 * (JSON allows the escape `"\ud800"`), which is no Unicode text: Postgres `jsonb` refuses it outright and a
 * `text` column receives U+FFFD instead (the driver encodes to UTF-8). Replacing it here, before anything is
 * written, keeps what is validated, hashed and stored the same string. Pure helpers, no I/O.
 */
type WellFormedString = string & { isWellFormed(): boolean; toWellFormed(): string };

/** The string with every lone surrogate replaced by U+FFFD (String.prototype.toWellFormed, Node ≥ 20). */
export function toWellFormed(s: string): string {
  const w = s as WellFormedString;
  return w.isWellFormed() ? s : w.toWellFormed();
}

/** Whether the string holds no lone surrogate. */
export function isWellFormed(s: string): boolean {
  return (s as WellFormedString).isWellFormed();
}

/** The first `max` UTF-16 units of `s`, one fewer when the cut would split a surrogate pair. */
export function sliceWellFormed(s: string, max: number): string {
  if (s.length <= max) return s;
  const last = s.charCodeAt(max - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}
