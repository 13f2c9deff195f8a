import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import type { ModuleDef } from '../module.js';
import { AppError } from '../../http/errors.js';
import { loadApiDocsAssets, renderApiDocsHtml } from './render.js';

/**
 * The page's own Content-Security-Policy (the API's is `default-src 'none'`, which renders nothing):
 * scripts only from this origin (Redoc's bundle and the starter, both served below; no inline script,
 * no eval), Redoc's styles (styled-components writes them into <style> elements at run time, so
 * 'unsafe-inline' for styles only), images from this origin or data: (Redoc's icons), its search
 * index in a blob: worker, and nothing else: no connect-src, no font or frame, never framed.
 * See docs/decisions.md "The API reference at /auth/docs".
 */
export const API_DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'unsafe-inline'",
  "img-src 'self' data:",
  'worker-src blob:',
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
].join('; ');

const plugin: FastifyPluginAsync<{ deps: Deps; openapi: () => unknown }> = async (app, { deps, openapi }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const assets = loadApiDocsAssets();
  const base = `${deps.config.basePath}/docs`;
  let html: string | null = null;

  r.get('/docs', {
    config: { auth: 'public', rateLimit: 'none' },
    schema: {
      operationId: 'apiDocs', tags: ['Discovery'],
      summary: 'This API reference as an HTML page (Redoc over this document; no external request).',
      response: { 200: { description: 'The reference page.', content: { 'text/html': { schema: z.string() } } } },
    },
  }, async (_req, reply) => {
    // Rendered once, on first use: the document is complete only after every route is registered.
    html ??= renderApiDocsHtml(openapi(), { src: `${base}/${assets.redoc.file}` }, { src: `${base}/${assets.init.file}` });
    return reply
      .header('content-security-policy', API_DOCS_CSP)
      .header('cache-control', 'public, max-age=60')
      .type('text/html; charset=utf-8')
      .send(html);
  });

  const files = new Map([[assets.redoc.file, assets.redoc.body], [assets.init.file, assets.init.body]]);
  r.get('/docs/:file', {
    config: { auth: 'public', rateLimit: 'none' },
    schema: { hide: true, params: z.object({ file: z.string().max(80) }) },
  }, async (req, reply) => {
    const body = files.get(req.params.file);
    if (!body) throw new AppError('not_found', 'No such file.');
    return reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type('text/javascript; charset=utf-8')
      .send(body);
  });
};

export const apiDocsModule = (openapi: () => unknown): ModuleDef => ({
  name: 'api-docs',
  plugin: (app, opts) => plugin(app, { ...opts, openapi }),
});
