import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * The pages' few static files, read once at start and served from memory under content-hashed names
 * with a year-long immutable cache (STYLE: never inline). The WebAuthn helper is @simplewebauthn/browser's
 * own UMD bundle from node_modules: served from this origin, no CDN, no build step.
 */
export interface Asset {
  /** the public file name, e.g. `ui.3f2a9c1e.css` */
  file: string;
  type: string;
  body: Buffer;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** A package's folder (its exports map hides package.json): the folder above its CommonJS entry's `script/`. */
function packageRoot(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (path.basename(dir) !== name.split('/').pop() && dir !== path.dirname(dir)) dir = path.dirname(dir);
  return dir;
}

const SOURCES = {
  'ui.css': () => readFileSync(path.join(here, 'assets', 'ui.css')),
  'passkey.js': () => readFileSync(path.join(here, 'assets', 'passkey.js')),
  'wallet.js': () => readFileSync(path.join(here, 'assets', 'wallet.js')),
  'webauthn.js': () => readFileSync(path.join(packageRoot('@simplewebauthn/browser'), 'dist', 'bundle', 'index.umd.min.js')),
} as const;

export type AssetName = keyof typeof SOURCES;

const TYPES: Record<string, string> = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8' };

/** Loads every asset; throws at start when one is missing (a broken install must not serve pages without scripts). */
export function loadAssets(): { byName: Record<AssetName, Asset>; byFile: Map<string, Asset> } {
  const byName = {} as Record<AssetName, Asset>;
  const byFile = new Map<string, Asset>();
  for (const [name, read] of Object.entries(SOURCES) as [AssetName, () => Buffer][]) {
    const body = read();
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 10);
    const dot = name.lastIndexOf('.');
    const ext = name.slice(dot + 1);
    const asset = { file: `${name.slice(0, dot)}.${hash}.${ext}`, type: TYPES[ext]!, body };
    byName[name] = asset;
    byFile.set(asset.file, asset);
  }
  return { byName, byFile };
}
