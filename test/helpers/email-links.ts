import { expect } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { call, createTestApp, type TestApp } from './app.js';
import { mailsTo, tokenIn } from './mail.js';

/** The set-up shared by the suites of the emailed-link flows (password reset, magic link). */

/** Tenant settings that lift the request limits for suites that send many requests. */
export const RAISED = { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } };
export const PASSWORD = 'correct horse battery staple';
/** The one answer of every "mail me a link" route. */
export const GENERIC = { message: 'If the address can receive mail, a message is on its way.' };

/**
 * An app whose default tenant allows `redirectUrl`, plus the named tenants, all with raised limits.
 * A trusted proxy hop: Fastify then believes X-Forwarded-Host, which the links must still ignore (PWD-08).
 */
export async function startLinkApp(o: { redirectUrl: string; tenants: { slug: string; name: string; settings?: Record<string, unknown> }[] }): Promise<{ t: TestApp; defaultId: string }> {
  const t = await createTestApp({ env: { TRUST_PROXY: '1' } });
  const defaultId = (await t.deps.tenants.defaultTenant()).id;
  await t.deps.tenants.update(defaultId, { settings: { ...RAISED, redirectUrls: [o.redirectUrl] } });
  for (const x of o.tenants) await t.deps.tenants.create({ slug: x.slug, name: x.name, settings: { ...RAISED, ...x.settings } });
  return { t, defaultId };
}

export interface Registered {
  email: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
  apiKey: string | undefined;
}

/**
 * Helpers over the suite's app, read through `app()` at call time (the app starts in `beforeAll`).
 * `tag` starts the generated addresses.
 */
export function linkHelpers(app: () => { t: TestApp; defaultId: string }, tag: string) {
  let n = 0;
  const unique = () => `${++n}-${Date.now()}`;
  const outbox = (to: string) => mailsTo(app().t.config.dataDir, to);
  const drain = () => app().t.deps.services.mailer.drain();
  return {
    /** a string no other call returns (for addresses and slugs) */
    unique,
    address: (prefix = tag) => `${prefix}${unique()}@example.com`,
    drain,
    outbox,
    /** Rows of a table matching `where`, read as the database owner. */
    count: async (table: string, where = 'true', params: unknown[] = []) =>
      (await app().t.stores.sql.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)).rows[0]!.n,
    /** The default tenant's audit rows of one action. */
    audit: async (action: string) => (await app().t.deps.audit.list({ tenantId: app().defaultId, action, limit: 500 })).items,

    /** POST /auth/register with PASSWORD; expects 200. */
    async register(email: string = `${tag}${unique()}@example.com`): Promise<Registered> {
      const res = await call(app().t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
      expect(res.statusCode, res.body).toBe(200);
      return { email, userId: res.data.user.id, accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken, apiKey: res.data.apiKey };
    },

    /**
     * Wraps a "mail me a link" request: expects `status` (202; the Cedros instant link answers 200), waits
     * for the mail and returns the token of the newest one.
     */
    tokenByMail(send: (email: string, headers: Record<string, string>) => Promise<LightMyRequestResponse>, status = 202) {
      return async (email: string, headers: Record<string, string> = {}): Promise<string> => {
        const res = await send(email, headers);
        expect(res.statusCode, res.body).toBe(status);
        await drain();
        const mails = outbox(email);
        expect(mails.length).toBeGreaterThan(0);
        return tokenIn(mails.at(-1)!.text);
      };
    },
  };
}
