import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readRedocBundle, renderApiDocsHtml } from '../src/modules/api-docs/render.js';

/**
 * `npm run docs:api`: docs/api.html, the API reference as one self-contained page generated from the
 * committed openapi.json (Redoc's bundle and the starter inline, the document embedded), readable from
 * disk with no network. test/integration/docs/api-html.test.ts fails when it differs from openapi.json.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const API_HTML_FILE = path.join(ROOT, 'docs', 'api.html');

export function buildApiHtml(): string {
  const spec = JSON.parse(readFileSync(path.join(ROOT, 'openapi.json'), 'utf8'));
  const init = readFileSync(path.join(ROOT, 'src', 'modules', 'api-docs', 'assets', 'api-docs.js'));
  return renderApiDocsHtml(spec, { inline: readRedocBundle() }, { inline: init });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const html = buildApiHtml();
  writeFileSync(API_HTML_FILE, html);
  process.stdout.write(`wrote ${path.relative(process.cwd(), API_HTML_FILE)} (${Math.round(html.length / 1024)} KiB)\n`);
}
