import type { FastifyInstance } from 'fastify';
import type { ModuleDef } from '../module.js';
import type { Deps } from '../../deps.js';
import { loadAssets } from './assets.js';
import { csrfKey } from './security.js';
import type { UiContext } from './page.js';
import { pageRouter, type PageRouter } from './router.js';
import { sessionPages } from './pages/session.js';
import { signInPages } from './pages/sign-in.js';
import { linkPages } from './pages/links.js';
import { totpPages } from './pages/totp.js';
import { accountPages } from './account/index.js';
import { oidcPages } from './pages/oidc.js';

/** A group of pages: registers its routes on the router (see README.md in this folder). */
export type PageGroup = (r: PageRouter, ui: UiContext) => void;

/** The page groups, in registration order; add one line per group. */
export const PAGE_GROUPS: PageGroup[] = [
  sessionPages,
  signInPages,
  linkPages,
  totpPages,
  accountPages,
  oidcPages,
];

/**
 * The hosted pages (DESIGN §8): server-rendered HTML under UI_PATH (default /auth/ui), per tenant
 * (?tenant=slug), calling the same services as the REST routes. UI_ENABLED=false registers nothing.
 */
export const uiModule: ModuleDef = {
  name: 'ui',
  mount: 'root',
  plugin: async (app: FastifyInstance, { deps }: { deps: Deps }) => {
    const { config } = deps;
    if (!config.ui.enabled) return;
    const { byName, byFile } = loadAssets();
    const ui: UiContext = { deps, path: config.ui.path, ownOrigin: new URL(config.publicUrl).origin, csrfKey: csrfKey(deps.authSecret), assets: byName };
    await app.register(async (scope) => {
      const r = pageRouter(scope, ui);
      scope.get('/assets/:file', { config: { auth: 'public', rateLimit: 'none' }, schema: { hide: true } }, async (req, reply) => {
        const asset = byFile.get((req.params as { file: string }).file);
        if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
        // Content-hashed names never change meaning: cache for a year.
        return reply.header('cache-control', 'public, max-age=31536000, immutable').type(asset.type).send(asset.body);
      });
      for (const group of PAGE_GROUPS) group(r, ui);
    }, { prefix: config.ui.path });
  },
  discovery: (config) => (config.ui.enabled
    ? { path: config.ui.path, pages: ['sign-in', 'sign-up', 'forgot-password', 'reset-password', 'verify-email', 'magic-link', 'invite', 'totp', 'account'].map((x) => `${config.ui.path}/${x}`), tenant: '?tenant=<slug> (default tenant without it)', redirect: '?redirect_uri=<one of the tenant redirectUrls, exact>' }
    : { enabled: false }),
};
