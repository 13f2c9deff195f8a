import type { AssetName } from '../assets.js';
import { html, type Html } from '../html.js';
import type { Page } from '../page.js';
import { brandOf } from './branding.js';

/**
 * The shared page frame: language, viewport, the stylesheet, the tenant's branding (name, logo, colour
 * through a nonce'd <style>), a skip link, one <main> landmark, and the page's scripts with the nonce.
 */
export function layout(p: Page, o: { title: string; body: Html; scripts?: AssetName[]; wide?: boolean }): Html {
  const brand = p.tenant ? brandOf(p.tenant) : null;
  const name = brand?.name ?? 'Authplane';
  return html`<!doctype html>
<html lang="${p.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${o.title} · ${name}</title>
<link rel="stylesheet" href="${p.asset('ui.css')}">
${brand ? html`<style nonce="${p.nonce}">${brand.css}</style>` : ''}
</head>
<body>
<a class="skip" href="#main">${p.t.layout.skip}</a>
<header class="brand">${brand?.logoUrl ? html`<img src="${brand.logoUrl}" alt="">` : ''}<span class="name">${name}</span></header>
<main id="main" class="${o.wide ? 'wide' : ''}">
${o.body}
</main>
<footer>${p.t.layout.poweredBy}</footer>
${(o.scripts ?? []).map((s) => html`<script nonce="${p.nonce}" src="${p.asset(s)}"></script>`)}
</body>
</html>`;
}
