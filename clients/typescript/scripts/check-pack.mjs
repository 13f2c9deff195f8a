#!/usr/bin/env node
// Fails unless `npm pack --dry-run` would publish only the build (dist: .js and .d.ts), the README
// and package.json (which npm always includes), and unless the built entry points load in plain Node.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('..', import.meta.url));
const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' });
const files = JSON.parse(out)[0].files.map((f) => f.path).sort();
const allowed = (p) => p === 'package.json' || p === 'README.md' || /^dist\/.+\.(js|d\.ts)$/.test(p);
const wrong = files.filter((p) => !allowed(p));
const required = ['README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/server/index.js', 'dist/server/index.d.ts', 'dist/generated/openapi.d.ts'];
const missing = required.filter((p) => !files.includes(p));
if (wrong.length || missing.length) {
  console.error(`npm pack would publish unexpected files: ${wrong.join(', ') || '-'}; missing: ${missing.join(', ') || '-'}`);
  process.exit(1);
}
const app = await import(new URL('../dist/index.js', import.meta.url).href);
const server = await import(new URL('../dist/server/index.js', import.meta.url).href);
const absent = [['createAuthplaneClient', app], ['AuthplaneError', app], ['createResourceServer', server], ['verifyAccessToken', server],
  ['authplaneFastify', server], ['authplaneExpress', server]].filter(([name, m]) => typeof m[name] !== 'function').map(([name]) => name);
if (absent.length) {
  console.error(`the built package does not export: ${absent.join(', ')}`);
  process.exit(1);
}
console.log(`npm pack --dry-run: ${files.length} files, only dist (.js, .d.ts), README.md and package.json; entry points load`);
