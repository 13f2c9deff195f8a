import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * The API reference page: Redoc's standalone bundle (the maintained renderer, MIT) started on the OpenAPI
 * document that is embedded in the page itself. One renderer for both outputs:
 * - `GET /auth/docs`: the scripts are separate files served from this origin (CSP `script-src 'self'`);
 * - `docs/api.html` (`npm run docs:api`): one self-contained file, scripts inline, opened from disk.
 * No font, image or script comes from anywhere else, so the page works offline.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/**
 * Redoc's bundle: `npm run build` copies it next to the compiled module (dist/modules/api-docs/assets/,
 * scripts/copy-assets.mjs), because the production image prunes devDependencies; from the sources (tsx,
 * tests) it is read from node_modules. Missing in both places is a broken install: fail at start.
 */
export function redocBundlePath(): string {
  const built = path.join(here, 'assets', 'redoc.standalone.js');
  if (existsSync(built)) return built;
  try {
    return require.resolve('redoc/bundles/redoc.standalone.js');
  } catch {
    throw new Error('the API reference needs redoc/bundles/redoc.standalone.js: run npm run build (it copies it into dist) or npm install');
  }
}

export interface ApiDocsAssets {
  redoc: { file: string; body: Buffer };
  init: { file: string; body: Buffer };
}

const hashed = (name: string, body: Buffer): string => {
  const dot = name.lastIndexOf('.');
  return `${name.slice(0, dot)}.${createHash('sha256').update(body).digest('hex').slice(0, 10)}${name.slice(dot)}`;
};

/**
 * The one remote resource in Redoc's bundle: the sidebar's "API docs by Redocly" badge loads its logo
 * from cdn.redoc.ly (unconditionally; no option turns it off). That request would leak every reader's
 * address to a third party, fail offline and break the CSP, so the logo becomes an inline blank image;
 * the badge's text and link stay. A Redoc upgrade that adds another remote URL fails the browser test
 * (test/e2e/api-docs-browser.test.ts intercepts every non-loopback request).
 */
export const REDOC_REMOTE_LOGO = 'https://cdn.redoc.ly/redoc/logo-mini.svg';
const BLANK_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E";

/** Redoc's bundle with its remote logo replaced (see REDOC_REMOTE_LOGO). */
export function readRedocBundle(): Buffer {
  return Buffer.from(readFileSync(redocBundlePath(), 'utf8').split(REDOC_REMOTE_LOGO).join(BLANK_IMAGE), 'utf8');
}

/** Both scripts, read once, under content-hashed names (served with a year-long immutable cache). */
export function loadApiDocsAssets(): ApiDocsAssets {
  const redoc = readRedocBundle();
  const init = readFileSync(path.join(here, 'assets', 'api-docs.js'));
  return { redoc: { file: hashed('redoc.standalone.js', redoc), body: redoc }, init: { file: hashed('api-docs.js', init), body: init } };
}

/** JSON safe inside a <script> element: no `<` (so no `</script>` or `<!--`), no U+2028/2029. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export type ScriptRef = { src: string } | { inline: Buffer };

const scriptTag = (s: ScriptRef): string =>
  'src' in s ? `<script src="${escapeHtml(s.src)}"></script>` : `<script>${s.inline.toString('utf8').replace(/<\/script/gi, '<\\/script')}</script>`;

/** The page: the document as inert JSON, Redoc's bundle, then the few lines that start it. */
export function renderApiDocsHtml(spec: unknown, redoc: ScriptRef, init: ScriptRef): string {
  const title = (spec as { info?: { title?: string; version?: string } }).info;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(`${title?.title ?? 'API'} ${title?.version ?? ''} API reference`.trim())}</title>`,
    '<style>body{margin:0}</style>',
    '</head>',
    '<body>',
    '<div id="redoc"></div>',
    `<script type="application/json" id="openapi">${jsonForScript(spec)}</script>`,
    scriptTag(redoc),
    scriptTag(init),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
