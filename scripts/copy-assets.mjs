// `npm run build`, after tsc: copies every `assets` folder under src/ (the hosted pages' CSS and scripts,
// which are not TypeScript) to the same place under dist/, where the compiled modules read them.
import { cpSync, readdirSync } from 'node:fs';
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
