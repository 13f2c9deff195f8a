/**
 * Plain tagged templates with auto-escaping: every interpolated value is escaped for HTML text and
 * (double-quoted) attributes unless it is already `Html` — the output of `html\`…\`` itself. There is
 * no way to mark a string as trusted other than building it with `html`, so user input cannot reach a
 * page unescaped by accident. Attribute values must be written in double quotes in the templates.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What a template accepts: text (escaped), Html (kept), lists of either, and nothing (skipped). */
export type Part = Html | string | number | null | undefined | false | readonly Part[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for HTML content and quoted attribute values. */
export const escapeText = (s: string): string => s.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);

function render(p: Part): string {
  if (p === null || p === undefined || p === false) return '';
  if (p instanceof Html) return p.value;
  if (Array.isArray(p)) return p.map(render).join('');
  return escapeText(String(p));
}

/** The template tag: `html\`<p>${name}</p>\``. */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** A list rendered with one template per item. */
export const each = <T>(items: readonly T[], fn: (item: T, i: number) => Html): Html => new Html(items.map((x, i) => fn(x, i).value).join(''));

/**
 * An attribute that is present only when `on` (boolean attributes: `required`, `disabled`, `autofocus`).
 * Only a fixed name: never pass user input as `name`.
 */
export const flag = (name: 'required' | 'disabled' | 'autofocus' | 'checked' | 'selected' | 'readonly' | 'hidden', on: boolean | undefined): Html => new Html(on ? ` ${name}` : '');
