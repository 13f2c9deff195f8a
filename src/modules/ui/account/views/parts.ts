import { each, flag, html, type Html } from '../../html.js';
import type { AccountMessages } from '../messages/en.js';

/** The account sections, in the order of the navigation. */
export const SECTIONS = ['profile', 'security', 'sessions', 'apiKeys', 'apps', 'linked', 'data'] as const;
export type Section = (typeof SECTIONS)[number];

/** The path of a section below the account page's path. */
export const SECTION_PATHS: Record<Section, string> = {
  profile: '', security: '/security', sessions: '/sessions', apiKeys: '/api-keys', apps: '/apps', linked: '/linked', data: '/data',
};

/** What every account view needs: its strings, where the account pages live, and the form tokens. */
export interface AccountView {
  m: AccountMessages;
  /** the URL of an account section or action (`''` = the account page), keeping the tenant */
  href(sub: string): string;
  /** the hidden CSRF input of a form (the framework's per-form token) */
  csrf(form: string): Html;
  /** a one-line outcome shown at the top (after a POST) */
  notice?: { kind: 'ok' | 'error'; text: string } | null;
  /** per-field errors of the form that was just posted, keyed by field name */
  errors?: Record<string, string>;
  /** the posted values to put back (never a password) */
  values?: Record<string, string>;
}

/** The section navigation; the current one is marked for screen readers too. */
export function nav(v: AccountView, current: Section): Html {
  return html`<nav class="tabs" aria-label="${v.m.nav.label}"><ul>${each(SECTIONS as unknown as Section[], (s) =>
    html`<li><a href="${v.href(SECTION_PATHS[s])}"${s === current ? html` aria-current="page"` : ''}>${v.m.nav[s]}</a></li>`)}</ul></nav>`;
}

/** The outcome of the last action, announced politely (role=status) or as an alert. */
export function notice(v: AccountView): Html {
  if (!v.notice) return html``;
  return v.notice.kind === 'ok'
    ? html`<div class="alert ok" role="status">${v.notice.text}</div>`
    : html`<div class="alert error" role="alert">${v.notice.text}</div>`;
}

/**
 * A labelled input with its hint and error tied to it (aria-describedby, aria-invalid): the error text
 * names the problem next to the field, and the field is the first thing focus lands on when it has one.
 */
export function field(v: AccountView, f: {
  form: string; name: string; label: string; type?: 'text' | 'email' | 'password' | 'number';
  hint?: string; required?: boolean; autocomplete?: string; inputmode?: 'numeric' | 'text'; pattern?: string; min?: number; max?: number;
}): Html {
  const id = `${f.form}-${f.name}`;
  const error = v.errors?.[f.name];
  const value = f.type === 'password' ? undefined : v.values?.[f.name];
  const described = [f.hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field">
  <label for="${id}">${f.label}</label>${f.hint ? html`<span class="hint" id="${id}-hint">${f.hint}</span>` : ''}
  <input id="${id}" name="${f.name}" type="${f.type ?? 'text'}"${value !== undefined ? html` value="${value}"` : ''}${f.autocomplete ? html` autocomplete="${f.autocomplete}"` : ''}${f.inputmode ? html` inputmode="${f.inputmode}"` : ''}${f.pattern ? html` pattern="${f.pattern}"` : ''}${f.min !== undefined ? html` min="${f.min}"` : ''}${f.max !== undefined ? html` max="${f.max}"` : ''}${described ? html` aria-describedby="${described}"` : ''}${error ? html` aria-invalid="true"` : ''}${flag('required', f.required)}${flag('autofocus', !!error)}>
  ${error ? html`<p class="field-error" id="${id}-error">${error}</p>` : ''}
</div>`;
}

/** A form posting to an account action, with its CSRF token. */
export function form(v: AccountView, o: { form: string; action: string; body: Html; label?: string; className?: string }): Html {
  return html`<form method="post" action="${v.href(o.action)}"${o.className ? html` class="${o.className}"` : ''}${o.label ? html` aria-label="${o.label}"` : ''} novalidate>${v.csrf(o.form)}${o.body}</form>`;
}

/** A date as a person reads it, in UTC (the server does not know the reader's zone). */
export function when(d: Date | string | null | undefined): string {
  if (!d) return '';
  const date = typeof d === 'string' ? new Date(d) : d;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The heading and navigation every account page starts with. */
export function top(v: AccountView, current: Section): Html {
  return html`<h1>${v.m.title}</h1>${nav(v, current)}${notice(v)}`;
}
