// `npm run build`, after tsc: copies every `assets` folder under src/ (the hosted pages' CSS and scripts,
// which are not TypeScript) to the same place under dist/, where the compiled modules read them; and
// Redoc's standalone bundle (a devDependency, pruned from the production image) next to the compiled
// API reference module, which serves it at /auth/docs (src/modules/api-docs/render.ts).
import { cpSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

function copyAssets(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const from = path.join(dir, entry.name);
    if (entry.name === 'assets') cpSync(from, path.join('dist', path.relative('src', from)), { recursive: true });
    else copyAssets(from);
  }
}
copyAssets('src');

const redoc = createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js');
cpSync(redoc, path.join('dist', 'modules', 'api-docs', 'assets', 'redoc.standalone.js'));
cpSync(`${redoc}.LICENSE.txt`, path.join('dist', 'modules', 'api-docs', 'assets', 'redoc.standalone.js.LICENSE.txt'));
