import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userStore } from '../../../src/modules/users/store.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';

/**
 * The last-login mark is written in the transaction that starts the session (issue 21: one transaction
 * fewer per login): set by every sign-in to the sign-in's time, and not by a refused one.
 */
let t: TestApp;
beforeAll(async () => { t = await createTestApp(); });
afterAll(async () => { await t?.close(); });

const PASSWORD = 'correct horse battery staple';
const lastLogin = async (tenantId: string, id: string) => (await t.deps.sql.tx(tenantId, (tx) => userStore.byId(tx, id)))?.lastLoginAt?.getTime() ?? null;

describe(`last sign-in mark (${BACKEND})`, () => {
  it('register and each login set lastLoginAt to the sign-in time; a wrong password and a refused session leave it', async () => {
    const email = `last-login-${Date.now()}@example.com`;
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    expect(reg.statusCode, reg.body).toBe(200);
    const userId = reg.data.user.id as string;
    const tenant = await t.deps.tenants.defaultTenant();
    expect(await lastLogin(tenant.id, userId)).toBe(t.clock.nowMs());

    t.clock.advance(60_000);
    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: PASSWORD } });
    expect(login.statusCode, login.body).toBe(200);
    const at = t.clock.nowMs();
    expect(await lastLogin(tenant.id, userId)).toBe(at);

    t.clock.advance(60_000);
    expect((await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: 'not the password at all' } })).statusCode).toBe(401);
    expect(await lastLogin(tenant.id, userId)).toBe(at);

    // A sign-in whose session epoch moved meanwhile is refused inside that transaction: the mark rolls back.
    const user = await t.deps.sql.tx(tenant.id, (tx) => userStore.byId(tx, userId));
    await expect(t.deps.services.sessions.start(tenant, userId, { amr: ['pwd'], method: 'password', ctx: { ip: null, userAgent: null, requestId: null }, sessionEpoch: user!.sessionEpoch - 1 }))
      .rejects.toMatchObject({ code: 'invalid_credentials' });
    expect(await lastLogin(tenant.id, userId)).toBe(at);
  });
});
