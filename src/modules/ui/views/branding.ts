import type { Tenant } from '../../tenants/schemas.js';

/** The tenant's look on the pages: a name, an optional logo, and colours with WCAG AA contrast. */
export interface Brand {
  name: string;
  logoUrl?: string;
  /** CSS custom properties for the layout's nonce'd <style>; only `#rrggbb` values (validated on write). */
  css: string;
}

const DEFAULT_PRIMARY = '#1d4ed8';

const channel = (v: number) => {
  const c = v / 255;
  return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
};
const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
const luminance = (hex: string) => {
  const [r, g, b] = rgb(hex).map(channel) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
/** WCAG 2.x contrast ratio of two `#rrggbb` colours. */
export const contrast = (a: string, b: string) => {
  const [x, y] = [luminance(a), luminance(b)].sort((m, n) => n - m) as [number, number];
  return (x + 0.05) / (y + 0.05);
};
const toHex = (c: [number, number, number]) => `#${c.map((v) => Math.max(0, Math.min(255, Math.round(v))).toString(16).padStart(2, '0')).join('')}`;

/** `hex` darkened step by step until it reaches `ratio` against white (links on the white card). */
function darkenFor(hex: string, ratio: number): string {
  let c = rgb(hex);
  for (let i = 0; i < 40 && contrast(toHex(c), '#ffffff') < ratio; i++) c = c.map((v) => v * 0.9) as [number, number, number];
  return toHex(c);
}

/** The brand of a tenant (settings.branding), with text colours chosen for contrast (axe: color-contrast). */
export function brandOf(tenant: Tenant): Brand {
  const b = tenant.settings.branding ?? {};
  const primary = b.primaryColor ?? DEFAULT_PRIMARY;
  const onPrimary = contrast(primary, '#ffffff') >= contrast(primary, '#000000') ? '#ffffff' : '#000000';
  // A light brand colour keeps its buttons (with dark text) but links need a darker shade to be readable.
  const link = darkenFor(primary, 4.5);
  return {
    name: b.name ?? tenant.name,
    logoUrl: b.logoUrl,
    css: `:root{--primary:${primary};--on-primary:${onPrimary};--link:${link}}`,
  };
}
