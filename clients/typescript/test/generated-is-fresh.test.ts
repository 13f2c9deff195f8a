import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateSources } from '../scripts/generate.js';

// The committed generated layer must be what `npm run client:generate` makes from the committed
// openapi.json and error catalog: an API change without a regeneration fails here.
describe('generated client layer', () => {
  it('matches openapi.json and the error catalog (run `npm run client:generate`)', async () => {
    for (const [name, text] of Object.entries(await generateSources())) {
      const committed = readFileSync(new URL(`../src/generated/${name}`, import.meta.url), 'utf8');
      expect(committed === text, `clients/typescript/src/generated/${name} is stale: run npm run client:generate`).toBe(true);
    }
  });
});
