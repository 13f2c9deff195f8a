import { AppError } from '../../../http/errors.js';
import { grantStore } from '../../oidc-provider/grant-store.js';
import type { Page, UiContext } from '../page.js';
import type { PageRouter } from '../router.js';
import { ACCOUNT, accountView, back, show } from './kit.js';
import { appsPage } from './views/apps.js';

/** oidc-provider grant ids: its nanoid alphabet and length. */
const grantIdOf = (p: Page): string => {
  const id = (p.req.params as { id?: unknown }).id;
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{10,64}$/.test(id)) throw new AppError('not_found', 'no such item');
  return id;
};

/** Connected apps: the remembered consents given to clients of the tenant's OpenID Provider, revocable. */
export function appsRoutes(r: PageRouter, ui: UiContext): void {
  const { sql, clock, audit } = ui.deps;

  r.get(`${ACCOUNT}/apps`, async (p) => {
    const s = await p.requireSession();
    const grants = await grantStore.listForAccount(sql, clock, s.tenantId, s.userId);
    return show(p, appsPage(accountView(p), grants.map((g) => ({ grantId: g.grantId, clientName: g.clientName ?? g.clientId, scopes: g.scopes, createdAt: g.createdAt }))));
  });

  // Revokes the grant with every code and token issued under it; the app asks for consent again.
  r.post(`${ACCOUNT}/apps/:id/revoke`, { form: 'app-revoke', rateLimit: 'default' }, async (p) => {
    const s = await p.requireSession();
    const clientId = await grantStore.revokeForAccount(sql, s.tenantId, s.userId, grantIdOf(p));
    if (!clientId) throw new AppError('not_found', 'no such app');
    await audit.record({ tenantId: s.tenantId, actor: { type: 'user', id: s.userId }, action: 'oidc.consent_revoke', target: clientId, outcome: 'success', ...p.ctx });
    return back(p, '/apps', 'app-revoked');
  });
}
