import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kv } from '../../../src/kv/kv.js';
import { KvUnavailableError } from '../../../src/kv/kv-errors.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../../helpers/backend.js';
import { getUser, login, register } from '../../helpers/identity.js';
import { mailsTo, tokenIn } from '../../helpers/mail.js';

/**
 * Account deletion and email-change confirmation write to Postgres and end sessions in the session store.
 * With the store failing at the write that ends the sessions, each must be all or nothing: 503, nothing
 * applied (address, tombstone, keys, token all as before), and the same request completes on retry.
 */
let t: TestApp;
let stores: Stores;
let failing = false;

function failingEnds(kv: Kv): Kv {
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === 'writeAll') {
        return (writes: Parameters<Kv['writeAll']>[0]) => (failing && writes.some((w) => w.op === 'del')
          ? Promise.reject(new KvUnavailableError('kv unavailable: injected fault'))
          : target.writeAll(writes));
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
async function withFault<T>(fn: () => Promise<T>): Promise<T> {
  failing = true;
  try { return await fn(); } finally { failing = false; }
}
const row = async (userId: string) => (await t.stores.sql.ownerQuery<{ email: string | null; deleted_at: Date | null }>('SELECT email, deleted_at FROM users WHERE id = $1', [userId])).rows[0]!;

beforeAll(async () => {
  const base = await createStores({ now: () => Date.now() });
  stores = { ...base, kv: failingEnds(base.kv) };
  t = await createTestApp({ stores });
}, 240_000); // two embedded databases start here; slow on a loaded CI machine
afterAll(async () => { await t?.close(); await stores?.drop(); });

describe(`the session store failing in the middle (${BACKEND})`, () => {
  it('account deletion: 503 and the account intact (address, key, sessions); the retry deletes', async () => {
    const u = await register(t.app);
    const other = await login(t.app, { email: u.email });
    const apiKey = u.body.apiKey as string;
    const res = await withFault(() => call(t.app, { method: 'DELETE', url: '/auth/user', token: u.accessToken, json: { currentPassword: u.password } }));
    expect(res.statusCode, res.body).toBe(503);
    expect(await row(u.userId)).toMatchObject({ email: u.email, deleted_at: null });
    expect((await getUser(t.app, other.accessToken)).statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': apiKey } })).statusCode).toBe(200);
    const retry = await call(t.app, { method: 'DELETE', url: '/auth/user', token: u.accessToken, json: { currentPassword: u.password } });
    expect(retry.statusCode, retry.body).toBe(204);
    expect((await row(u.userId)).email).toBeNull();
    expect((await getUser(t.app, other.accessToken)).statusCode).toBe(401);
  });

  it('email-change confirmation: 503, the address unchanged and the link still usable; the retry switches', async () => {
    const u = await register(t.app);
    const other = await login(t.app, { email: u.email });
    const to = `midway-${Date.now()}@example.com`;
    expect((await call(t.app, { method: 'POST', url: '/auth/email/change', token: u.accessToken, json: { newEmail: to, currentPassword: u.password } })).statusCode).toBe(202);
    await t.deps.services.mailer.drain();
    const token = tokenIn(mailsTo(t.config.dataDir, to).at(-1)!.text);
    const res = await withFault(() => call(t.app, { method: 'POST', url: '/auth/email/change/confirm', json: { token } }));
    expect(res.statusCode, res.body).toBe(503);
    expect((await row(u.userId)).email).toBe(u.email);
    expect((await getUser(t.app, other.accessToken)).statusCode).toBe(200);
    const retry = await call(t.app, { method: 'POST', url: '/auth/email/change/confirm', json: { token } });
    expect(retry.statusCode, retry.body).toBe(200);
    expect((await row(u.userId)).email).toBe(to);
    expect((await getUser(t.app, other.accessToken)).statusCode).toBe(401);
  });
});
