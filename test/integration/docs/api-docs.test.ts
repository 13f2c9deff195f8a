import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { API_HTML_FILE, buildApiHtml } from '../../../scripts/write-api-docs.js';
import { API_DOCS_CSP } from '../../../src/modules/api-docs/index.js';
import { REDOC_REMOTE_LOGO } from '../../../src/modules/api-docs/render.js';

/** GET /auth/docs and its scripts over HTTP, discovery's link to it, and docs/api.html's freshness (issue 22). */
describe('API reference route', () => {
  let t: TestApp;
  beforeAll(async () => { t = await createTestApp(); });
  afterAll(async () => { await t.close(); });

  it('serves the page with the served document embedded, its own CSP and no remote URL', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(API_DOCS_CSP);
    expect(res.headers['x-frame-options']).toBe('DENY');
    const embedded = /<script type="application\/json" id="openapi">(.*?)<\/script>/s.exec(res.body)![1]!;
    const doc = (await call(t.app, { method: 'GET', url: '/auth/openapi.json' })).data;
    expect(JSON.parse(embedded)).toEqual(doc);
    expect(embedded).not.toContain('<');
    const scripts = [...res.body.matchAll(/<script src="([^"]+)"><\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(2);
    for (const src of scripts) {
      expect(src).toMatch(/^\/auth\/docs\/[a-z.-]+\.[0-9a-f]{10}\.js$/);
      const js = await call(t.app, { method: 'GET', url: src });
      expect(js.statusCode).toBe(200);
      expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(js.headers['cache-control']).toContain('immutable');
      expect(js.body).not.toContain(REDOC_REMOTE_LOGO);
    }
  });

  it('answers an unknown file with 404 in the error shape', async () => {
    for (const url of ['/auth/docs/nope.js', '/auth/docs/..%2f..%2fpackage.json', `/auth/docs/${'a'.repeat(200)}`]) {
      const res = await call(t.app, { method: 'GET', url });
      expect([400, 404]).toContain(res.statusCode);
      expect(res.data).toMatchObject({ error: expect.any(String), message: expect.any(String), requestId: expect.any(String) });
    }
  });

  it("is discovery's links.docs", async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/discovery' });
    expect(res.data.links.docs).toBe(`${t.config.publicUrl}/auth/docs`);
  });

  it('docs/api.html is generated from the committed openapi.json (run npm run docs:api)', () => {
    expect(readFileSync(API_HTML_FILE, 'utf8') === buildApiHtml(), 'docs/api.html is stale: run npm run docs:api').toBe(true);
  });
});
