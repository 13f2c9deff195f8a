import { expect } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { startSmtpCapture, type SmtpMail } from '../../helpers/mail.js';

/** Shared set-up of the account-lifecycle suites (email change, deletion, export). */
export const PASSWORD = 'correct horse battery staple';
export const GENERIC = { message: 'If the address can receive mail, a message is on its way.' };
export const REDIRECT = 'https://app.example.com/account/email';
const RAISED = { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } };

export interface Account { email: string; userId: string; accessToken: string; refreshToken: string; apiKey?: string }

/** An app mailing through a real SMTP server, the default tenant with raised limits and one redirect URL, and a second tenant. */
export async function startAccountApp(o: { smtp?: boolean } = {}) {
  const smtp = o.smtp ? await startSmtpCapture() : null;
  const t = await createTestApp({ env: smtp ? { SMTP_URL: smtp.url, SMTP_FROM: 'Authplane <no-reply@authplane.test>' } : {} });
  const defaultId = (await t.deps.tenants.defaultTenant()).id;
  await t.deps.tenants.update(defaultId, { settings: { ...RAISED, redirectUrls: [REDIRECT] } });
  const other = await t.deps.tenants.create({ slug: `other-${Date.now()}`, name: 'Other', settings: RAISED });
  let n = 0;
  const address = (tag = 'acct') => `${tag}${++n}-${process.pid}-${Date.now()}@example.com`;

  async function register(email = address(), tenant?: string): Promise<Account> {
    const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD }, headers: tenant ? { 'x-tenant-id': tenant } : {} });
    expect([200, 201], res.body).toContain(res.statusCode); // 200 since the Cedros statuses (0.2.0)
    return { email, userId: res.data.user.id, accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken, apiKey: res.data.apiKey };
  }
  async function login(email: string, tenant?: string): Promise<Account> {
    const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: PASSWORD }, headers: tenant ? { 'x-tenant-id': tenant } : {} });
    expect(res.statusCode, res.body).toBe(200);
    return { email, userId: res.data.user.id, accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken };
  }
  /** The address GET /auth/user reports (works with either the nested or the top-level user shape). */
  async function emailOf(token: string): Promise<{ status: number; email?: string; emailVerified?: boolean }> {
    const res = await call(t.app, { method: 'GET', url: '/auth/user', token });
    const u = res.data?.user ?? res.data;
    return { status: res.statusCode, email: u?.email, emailVerified: u?.emailVerified };
  }
  /** The stored address of a user, read as the database owner. */
  async function storedEmail(userId: string): Promise<{ email: string | null; email_verified: boolean }> {
    return (await t.stores.sql.ownerQuery<{ email: string | null; email_verified: boolean }>('SELECT email, email_verified FROM users WHERE id = $1', [userId])).rows[0]!;
  }
  async function count(table: string, where = 'true', params: unknown[] = []): Promise<number> {
    return (await t.stores.sql.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)).rows[0]!.n;
  }
  /** Waits for the next message to `to` received after `after`, with the token of its link. */
  async function nextMail(to: string, after: number): Promise<{ mail: SmtpMail; link: string; token: string }> {
    if (!smtp) throw new Error('no SMTP server in this suite');
    await t.deps.services.mailer.drain();
    const end = Date.now() + 10_000;
    for (;;) {
      const mail = smtp.messages.slice(after).find((m) => m.to.some((a) => a.toLowerCase() === to.toLowerCase()));
      if (mail) {
        const link = /https?:\/\/[^\s"<>]+[?&]token=[A-Za-z0-9_-]{43}/.exec(mail.decoded)?.[0];
        expect(link, mail.decoded).toBeDefined();
        return { mail, link: link!, token: new URL(link!).searchParams.get('token')! };
      }
      if (Date.now() > end) throw new Error(`no mail to ${to}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    t, smtp, defaultId, other, address, register, login, emailOf, storedEmail, count, nextMail,
    async close() { await t.close(); await smtp?.close(); },
  };
}
