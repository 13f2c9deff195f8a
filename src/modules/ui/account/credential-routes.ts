import { AppError } from '../../../http/errors.js';
import { clearAuthCookies } from '../../../http/cookies.js';
import { actorOf, type SessionPrincipal } from '../../../http/principal.js';
import { CreateApiKeyBody, toApiKeyInfo } from '../../api-keys/schemas.js';
import { toSessionBody } from '../../sessions/schemas.js';
import type { Page, UiContext } from '../page.js';
import type { PageRouter } from '../router.js';
import { ACCOUNT, accountView, back, detailFailure, given, idParam, passGate, show, zodFailure, type FieldFailure } from './kit.js';
import { apiKeyCreatedPage, apiKeysPage } from './views/api-keys.js';
import { sessionsPage } from './views/sessions.js';

/** A whole number of days as typed, or the text itself (then the schema says what is wrong). */
const days = (v: string | undefined): number | string | undefined => {
  const s = given(v?.trim());
  return s !== undefined && /^\d{1,6}$/.test(s) ? Number(s) : s;
};

/** Sessions (list, end one, end all) and API keys (create, shown once; list masked; revoke). */
export function credentialRoutes(r: PageRouter, ui: UiContext): void {
  const { services } = ui.deps;

  r.get(`${ACCOUNT}/sessions`, async (p) => {
    const s = await p.requireSession();
    const list = await services.sessions.list(s.tenantId, s.userId);
    const items = list.map((x) => toSessionBody(x, s.sessionId)).sort((a, b) => Number(b.current) - Number(a.current) || b.createdAt.localeCompare(a.createdAt));
    return show(p, sessionsPage(accountView(p), items));
  });

  // As DELETE /sessions/{id}: only the user's own sessions (another user's id is a 404, SES-02).
  r.post(`${ACCOUNT}/sessions/:id/end`, { form: 'session-end', rateLimit: 'default' }, async (p) => {
    const s = await p.requireSession();
    const id = idParam(p);
    await services.sessions.endOwn({ tenantId: s.tenantId, userId: s.userId, actor: actorOf(s) }, id, p.ctx);
    if (id === s.sessionId) {
      clearAuthCookies(p.reply, ui.deps.config.basePath);
      return p.redirect(p.url('/sign-in'));
    }
    return back(p, '/sessions', 'session-ended');
  });

  // As DELETE /sessions (TOTP gate): every session ends, this browser's too.
  r.post(`${ACCOUNT}/sessions/end-all`, { form: 'sessions-end-all', rateLimit: 'default' }, async (p) => {
    const s = await p.requireSession();
    await passGate(p, s, '/sessions');
    await services.sessions.endAllOwn({ tenantId: s.tenantId, userId: s.userId, actor: actorOf(s) }, p.ctx);
    clearAuthCookies(p.reply, ui.deps.config.basePath);
    return p.redirect(p.url('/sign-in'));
  });

  const keysPage = async (p: Page, s: SessionPrincipal, o: { failure?: FieldFailure; values?: Record<string, string>; status?: number } = {}) => {
    const keys = (await services.apiKeys.list(s)).map(toApiKeyInfo);
    return show(p, apiKeysPage(accountView(p, { errors: o.failure ? { [o.failure.field]: o.failure.text } : undefined, values: o.values }), keys),
      { status: o.status ?? (o.failure ? 400 : 200) });
  };

  r.get(`${ACCOUNT}/api-keys`, async (p) => keysPage(p, await p.requireSession()));

  // As POST /api-keys (TOTP gate; the same schema and service). The key is in this response only:
  // no redirect, nothing stored to show it again, and the layout's responses are never cached.
  r.post(`${ACCOUNT}/api-keys`, { form: 'api-key-create', rateLimit: 'credential' }, async (p, body) => {
    const s = await p.requireSession();
    const m = accountView(p).m.apiKeys;
    const labels = { name: m.name, scopes: m.scopes, expiresInDays: m.expires };
    const values = { name: body.name ?? '', scopes: body.scopes ?? '', expiresInDays: body.expiresInDays ?? '' };
    const scopes = (body.scopes ?? '').split(/[\s,]+/).filter(Boolean);
    const parsed = CreateApiKeyBody.safeParse({ name: body.name ?? '', scopes, expiresInDays: days(body.expiresInDays) });
    if (!parsed.success) return keysPage(p, s, { failure: zodFailure(parsed.error, labels), values });
    await passGate(p, s, '/api-keys');
    let issued;
    try {
      issued = await services.apiKeys.create(s, parsed.data, p.ctx);
    } catch (err) {
      const f = detailFailure(err, labels);
      if (f) return keysPage(p, s, { failure: f, values });
      // 403 (reserved admin scopes) and 409 (too many keys) come with the service's own sentence.
      if (err instanceof AppError && (err.code === 'forbidden' || err.code === 'conflict')) {
        return keysPage(p, s, { failure: { field: 'scopes', text: err.message }, values, status: err.status });
      }
      throw err;
    }
    p.reply.header('cache-control', 'no-store');
    return show(p, apiKeyCreatedPage(accountView(p), { ...toApiKeyInfo(issued.key), apiKey: issued.plaintext }), { status: 201, scripts: ['account.js'] });
  });

  // As DELETE /api-keys/{id} (TOTP gate): revoked on every instance at once; another user's key is a 404.
  r.post(`${ACCOUNT}/api-keys/:id/revoke`, { form: 'api-key-revoke', rateLimit: 'default' }, async (p) => {
    const s = await p.requireSession();
    const id = idParam(p);
    await passGate(p, s, '/api-keys');
    if (!(await services.apiKeys.revoke(s, id, p.ctx))) throw new AppError('not_found', 'No such API key.');
    return back(p, '/api-keys', 'key-revoked');
  });
}
