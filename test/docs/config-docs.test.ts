import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildConfigDocs, CONFIG_DOCS_FILE, configVariables } from '../../scripts/write-config-docs.js';

/** docs/configuration.md is the config schema (issue 22): a variable added, removed or re-described there fails this until `npm run docs:config`. */
describe('configuration reference', () => {
  it('every variable of the schema has a description', () => {
    expect(configVariables().filter((v) => !v.description).map((v) => v.name)).toEqual([]);
  });

  it('docs/configuration.md is generated from src/config.ts (run npm run docs:config)', () => {
    const committed = readFileSync(CONFIG_DOCS_FILE, 'utf8');
    const fresh = buildConfigDocs();
    const names = (s: string) => [...s.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(names(committed), 'variables listed').toEqual(names(fresh));
    expect(committed === fresh, 'docs/configuration.md differs from the schema: run npm run docs:config').toBe(true);
  });
});
