import { flag, html, type Html, type Part } from '../html.js';
import type { Page } from '../page.js';

/**
 * Building blocks of accessible forms: a visible <label> per input, hints and errors tied with
 * aria-describedby, aria-invalid on a field in error, and an error summary that takes focus order first.
 */

export interface FieldOptions {
  name: string;
  /** the element id (default `f-<name>`): set it when two forms on a page share a field name */
  id?: string;
  label: string;
  type?: 'text' | 'email' | 'password';
  value?: string;
  autocomplete?: string;
  hint?: string;
  error?: string;
  required?: boolean;
  autofocus?: boolean;
  inputmode?: 'numeric' | 'text' | 'email';
  pattern?: string;
  maxlength?: number;
}

/** A labelled input with its hint and error. */
export function field(o: FieldOptions): Html {
  const id = `f-${o.id ?? o.name}`;
  const described = [o.hint ? `${id}-hint` : '', o.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field">
<label for="${id}">${o.label}</label>
${o.hint ? html`<span class="hint" id="${id}-hint">${o.hint}</span>` : ''}
<input id="${id}" name="${o.name}" type="${o.type ?? 'text'}"${o.value !== undefined ? html` value="${o.value}"` : ''}${o.autocomplete ? html` autocomplete="${o.autocomplete}"` : ''}${o.inputmode ? html` inputmode="${o.inputmode}"` : ''}${o.pattern ? html` pattern="${o.pattern}"` : ''}${o.maxlength ? html` maxlength="${o.maxlength}"` : ''}${described ? html` aria-describedby="${described}"` : ''}${o.error ? html` aria-invalid="true"` : ''}${flag('required', o.required)}${flag('autofocus', o.autofocus)}>
${o.error ? html`<p class="field-error" id="${id}-error">${o.error}</p>` : ''}
</div>`;
}

/** A POST form to a page path with its CSRF token and hidden fields (undefined values skipped). */
export function form(p: Page, o: { action: string; name: string; hidden?: Record<string, string | undefined>; body: Part; id?: string; label?: string }): Html {
  const hidden = Object.entries(o.hidden ?? {}).filter(([, v]) => v !== undefined && v !== '');
  return html`<form method="post" action="${o.action}"${o.id ? html` id="${o.id}"` : ''}${o.label ? html` aria-label="${o.label}"` : ''} novalidate>
${p.csrf(o.name)}
${hidden.map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
${o.body}
</form>`;
}

export const button = (label: string, o: { kind?: 'primary' | 'secondary'; id?: string; hidden?: boolean; type?: 'submit' | 'button' } = {}): Html =>
  html`<button type="${o.type ?? 'submit'}" class="${o.kind ?? 'primary'}"${o.id ? html` id="${o.id}"` : ''}${flag('hidden', o.hidden)}>${label}</button>`;

/** A message box; errors are announced (role=alert), confirmations politely (role=status). */
export const alert = (kind: 'error' | 'ok', text: Part): Html =>
  html`<div class="alert ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</div>`;

/** A card with the page's one <h1>. */
export const card = (title: string, body: Part): Html => html`<section class="card"><h1>${title}</h1>${body}</section>`;

export const divider = (text: string): Html => html`<div class="divider">${text}</div>`;
