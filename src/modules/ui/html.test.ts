import { describe, expect, it } from 'vitest';
import { html, each } from './html.js';
import { pickLanguage } from './i18n.js';
import { brandOf, contrast } from './views/branding.js';
import type { Tenant } from '../tenants/schemas.js';

describe('html tagged template', () => {
  it('escapes every interpolated string, in text and in quoted attributes', () => {
    const evil = `"><script>alert('x')</script>&\``;
    expect(html`<p title="${evil}">${evil}</p>`.value).toBe('<p title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#96;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#96;</p>');
  });
  it('keeps nested templates, joins lists and skips nothing-values', () => {
    const items = ['<a>', 'b'];
    expect(html`<ul>${each(items, (i) => html`<li>${i}</li>`)}${null}${undefined}${false}${0}</ul>`.value).toBe('<ul><li>&lt;a&gt;</li><li>b</li>0</ul>');
    expect(html`${[html`<b>`, '<i>']}`.value).toBe('<b>&lt;i&gt;');
  });
});

describe('Accept-Language', () => {
  it('picks the best catalog we have, English otherwise', () => {
    expect(pickLanguage(undefined)).toBe('en');
    expect(pickLanguage('fr-CA,fr;q=0.9,en;q=0.5')).toBe('en');
    expect(pickLanguage('en-GB')).toBe('en');
    expect(pickLanguage('x'.repeat(10_000))).toBe('en');
    expect(pickLanguage('en;q=0')).toBe('en');
  });
});

describe('branding colours', () => {
  const tenant = (primaryColor?: string) => ({ name: 'T', settings: { branding: primaryColor ? { primaryColor } : undefined } }) as unknown as Tenant;
  it('chooses button text and link colours with WCAG AA contrast for any primary colour', () => {
    for (const c of ['#ffff00', '#0f766e', '#000000', '#ffffff', '#777777', '#1d4ed8']) {
      const css = brandOf(tenant(c)).css;
      const on = /--on-primary:(#[0-9a-f]{6})/.exec(css)![1]!;
      const link = /--link:(#[0-9a-f]{6})/.exec(css)![1]!;
      expect(contrast(c, on), c).toBeGreaterThanOrEqual(4.5);
      expect(contrast(link, '#ffffff'), c).toBeGreaterThanOrEqual(4.5);
    }
  });
});
