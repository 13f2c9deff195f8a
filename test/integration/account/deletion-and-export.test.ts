import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { call } from '../../helpers/app.js';
import { enableMfa, loginWithMfa, nextCode } from '../mfa/mfa-helpers.js';
import { PASSWORD, startAccountApp, type Account } from './helpers.js';

/**
 * Deleting an account and exporting its data (issue 15): every credential dead on every instance at once (two app instances on
 * shared stores), personal data gone from every table, the audit chain still verifying, the last-owner
 * rule, the TOTP gate and password re-entry, bad input and hostile clients, and the admin-plane route.
 */
let s: Awaited<ReturnType<typeof startAccountApp>>;
let b: FastifyInstance;
let adminKey: string;
beforeAll(async () => {
  s = await startAccountApp();
  b = (await s.t.second()).app;
  adminKey = (await s.t.deps.adminKeys.create({ name: 'deletion', expiresInDays: 1 })).key;
}, 240_000); // two app instances start here
afterAll(async () => { await s?.close(); });

const del = (app: FastifyInstance, token: string | undefined, json?: unknown, headers: Record<string, string> = {}) =>
  call(app, { method: 'DELETE', url: '/auth/user', token, json, headers });
const owner = (text: string, params: unknown[] = []) => s.t.stores.sql.ownerQuery(text, params);

/** Polls until `fn` answers `status` or 1 s has passed (cross-instance invalidation travels by pub/sub); returns the last status. */
async function statusWithin(fn: () => Promise<{ statusCode: number }>, status: number, withinMs = 1000): Promise<number> {
  const deadline = Date.now() + withinMs;
  let last = (await fn()).statusCode;
  while (last !== status && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    last = (await fn()).statusCode;
  }
  return last;
}

/**
 * The audit actions whose rows hold `needle` in any column, metadata included (case-insensitive). Since chain
 * version 3 (migration 0015) deletion erases the personal fields of audit rows too; docs/audit.md.
 */
async function auditActionsHolding(needle: string): Promise<string[]> {
  const { rows } = await owner('SELECT DISTINCT action FROM audit_events a WHERE position(lower($1) in lower(a::text)) > 0 ORDER BY action', [needle]);
  return (rows as { action: string }[]).map((r) => r.action);
}

/**
 * For each needle, every text-like column of every table in the app's schema (but the audit log) that holds it
 * (case-insensitive), as "table.column". Each table is read once, as the database owner (RLS does not hide rows).
 */
async function columnsHolding(needles: string[]): Promise<Record<string, string[]>> {
  const cols = (await owner(`SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'bytea')`)).rows as { table_name: string; column_name: string }[];
  const byTable = new Map<string, string[]>();
  for (const c of cols) if (c.table_name !== 'audit_events') byTable.set(c.table_name, [...(byTable.get(c.table_name) ?? []), c.column_name]);
  const hits: Record<string, string[]> = Object.fromEntries(needles.map((n) => [n, []]));
  for (const [table, columns] of byTable) {
    const { rows } = await owner(`SELECT ${columns.map((c, k) => `lower("${c}"::text) AS c${k}`).join(', ')} FROM "${table}"`);
    for (const row of rows as Record<string, string | null>[]) {
      columns.forEach((c, k) => {
        for (const n of needles) if (row[`c${k}`]?.includes(n.toLowerCase()) && !hits[n]!.includes(`${table}.${c}`)) hits[n]!.push(`${table}.${c}`);
      });
    }
  }
  return hits;
}

const WALLET = '9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin';

describe('DELETE /auth/user', () => {
  it('a last owner gets 409 naming the org; after handing it over, deletion ends every credential on every instance and erases every personal datum', async () => {
    const u = await s.register();
    const heir = await s.register();
    const name = `Zyxwv Personal-${Date.now()}`;
    // Personal data in every place the account can have it.
    await owner('UPDATE users SET name = $2 WHERE id = $1', [u.userId, name]);
    const org = await call(s.t.app, { method: 'POST', url: '/auth/orgs', token: u.accessToken, json: { name: 'Acme Holdings' } });
    expect([200, 201], org.body).toContain(org.statusCode);
    const theirs = await call(s.t.app, { method: 'POST', url: '/auth/orgs', token: heir.accessToken, json: { name: 'Heir Org' } });
    const invite = await call(s.t.app, { method: 'POST', url: `/auth/orgs/${theirs.data.id}/invites`, token: heir.accessToken, json: { email: u.email, roles: ['member'] } });
    expect([200, 201], invite.body).toContain(invite.statusCode);
    await owner(`INSERT INTO org_members (tenant_id, org_id, user_id, roles, created_at, updated_at) VALUES ($1, $2, $3, '{member}', now(), now())`, [s.defaultId, theirs.data.id, u.userId]);
    await owner('INSERT INTO wallet_identities (tenant_id, user_id, public_key) VALUES ($1, $2, $3)', [s.defaultId, u.userId, WALLET]);
    await owner(`INSERT INTO solana_nonces (tenant_id, public_key, nonce, message, purpose, user_id, created_at, expires_at) VALUES ($1, $2, 'nonce-zyxwv-1', 'sign in', 'link', $3, now(), now() + interval '5 minutes')`, [s.defaultId, WALLET, u.userId]);
    await owner(`INSERT INTO passkey_credentials (tenant_id, user_id, credential_id, public_key, device_type, backed_up, name, created_at) VALUES ($1, $2, 'cred-zyxwv-1', '\\x01'::bytea, 'multiDevice', true, $3, now())`, [s.defaultId, u.userId, `${name} phone`]);
    await owner(`INSERT INTO federated_identities (tenant_id, user_id, issuer, subject, email, created_at) VALUES ($1, $2, 'https://issuer.example', 'sub-zyxwv-1', $3, now())`, [s.defaultId, u.userId, u.email]);
    expect((await call(s.t.app, { method: 'POST', url: '/auth/password/forgot', json: { email: u.email } })).statusCode).toBe(202);
    const named = await call(s.t.app, { method: 'POST', url: '/auth/api-keys', token: u.accessToken, json: { name: `Zyxwv laptop ${name.length}`, scopes: ['user:read'] } });
    expect(named.statusCode, named.body).toBe(201);
    const { secret } = await enableMfa(s.t, u.accessToken);
    // a second session, on instance B, and warm caches on B
    const onB = await call(b, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } });
    const mfaB = await call(b, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken: onB.data.mfaToken, code: nextCode(s.t, secret) } });
    expect(mfaB.statusCode, mfaB.body).toBe(200);
    const bAccess = mfaB.data.tokens.accessToken as string;
    const bRefresh = mfaB.data.tokens.refreshToken as string;
    for (let i = 0; i < 2; i++) {
      expect((await call(b, { method: 'GET', url: '/auth/user', token: bAccess })).statusCode).toBe(200);
      expect((await call(b, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': u.apiKey! } })).statusCode).toBe(200);
      expect((await call(b, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': named.data.apiKey } })).statusCode).toBe(200);
    }

    // MFA on: the TOTP gate first; then the last-owner rule
    s.t.clock.advance(5 * 60_000 + 1_000);
    const gated = await del(s.t.app, u.accessToken, { currentPassword: PASSWORD });
    expect(gated.statusCode).toBe(401);
    expect(gated.data.error).toBe('totp_required');
    const pass = async () => {
      const g = await del(s.t.app, u.accessToken, { currentPassword: PASSWORD });
      const ch = g.data.challenge as string;
      expect((await call(s.t.app, { method: 'POST', url: '/auth/totp/complete', token: u.accessToken, json: { challenge: ch, code: nextCode(s.t, secret) } })).statusCode).toBe(200);
      return { 'x-totp-challenge': ch };
    };
    const blocked = await del(s.t.app, u.accessToken, { currentPassword: PASSWORD }, await pass());
    expect(blocked.statusCode, blocked.body).toBe(409);
    expect(blocked.data).toMatchObject({ error: 'conflict', orgId: org.data.id, orgName: 'Acme Holdings' });
    expect(blocked.data.message).toContain('Acme Holdings');
    expect((await s.emailOf(u.accessToken)).status).toBe(200);
    await owner(`INSERT INTO org_members (tenant_id, org_id, user_id, roles, created_at, updated_at) VALUES ($1, $2, $3, '{owner}', now(), now())`, [s.defaultId, org.data.id, heir.userId]);

    expect(await auditActionsHolding(u.email), 'the address typed into requests is in the audit log before (control)').toEqual(
      expect.arrayContaining(['invite.create', 'password.reset_request']));
    expect(await auditActionsHolding(`Zyxwv laptop ${name.length}`)).toEqual(['api_key.create']);
    const done = await del(s.t.app, u.accessToken, { currentPassword: PASSWORD }, await pass());
    expect(done.statusCode, done.body).toBe(204);
    // the audit log right away (the sign-in attempts below type the address again, as anyone may after the deletion)
    const needles = [u.email, name, WALLET, 'sub-zyxwv-1', 'cred-zyxwv-1', `Zyxwv laptop ${name.length}`];
    for (const needle of needles) expect(await auditActionsHolding(needle), `${needle} in the audit log`).toEqual([]);

    // every credential, on both instances
    for (const app of [s.t.app, b]) {
      expect(await statusWithin(() => call(app, { method: 'GET', url: '/auth/user', token: u.accessToken }), 401)).toBe(401);
      expect(await statusWithin(() => call(app, { method: 'GET', url: '/auth/user', token: bAccess }), 401)).toBe(401);
      expect(await statusWithin(() => call(app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': u.apiKey! } }), 401)).toBe(401);
      expect(await statusWithin(() => call(app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': named.data.apiKey } }), 401)).toBe(401);
      expect((await call(app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey: u.apiKey } })).data).toEqual({ valid: false });
      expect((await call(app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } })).statusCode).toBe(401);
    }
    expect((await call(b, { method: 'POST', url: '/auth/refresh', json: { refreshToken: bRefresh } })).statusCode).toBe(401);
    expect((await call(s.t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: u.refreshToken } })).statusCode).toBe(401);

    // personal data: gone from every other table (the audit log was scanned right after the deletion)
    const found = await columnsHolding([...needles, heir.email]);
    expect(found[heir.email], 'the scan finds a live user\'s address (control)').toContain('users.email');
    for (const needle of needles) expect(found[needle], needle).toEqual([]);
    expect(await auditActionsHolding(name)).toEqual([]);
    expect(await auditActionsHolding(WALLET)).toEqual([]);
    // the tombstone: the id stays, nothing personal, disabled and deleted
    const row = (await owner('SELECT email, name, password_hash, disabled, deleted_at FROM users WHERE id = $1', [u.userId])).rows[0] as Record<string, unknown>;
    expect(row).toMatchObject({ email: null, name: null, password_hash: null, disabled: true });
    expect(row.deleted_at).not.toBeNull();
    for (const table of ['org_members', 'user_mfa', 'mfa_recovery_codes', 'passkey_credentials', 'wallet_identities', 'federated_identities', 'one_time_tokens', 'api_key_lookup']) {
      const col = table === 'api_key_lookup' ? 'key_id IN (SELECT id FROM api_keys WHERE user_id = $1)' : 'user_id = $1';
      expect(await s.count(table, col, [u.userId]), table).toBe(0);
    }
    expect(await s.count('api_keys', 'user_id = $1 AND revoked_at IS NULL', [u.userId])).toBe(0);
    expect(await s.count('org_members', 'org_id = $1 AND user_id = $2', [org.data.id, heir.userId])).toBe(1);
    // the audit chain still verifies, and names the pseudonymous id
    expect((await s.t.deps.audit.verify()).breaks).toEqual([]);
    const audit = (await s.t.deps.audit.list({ tenantId: s.defaultId, action: 'user.delete', limit: 10 })).items.filter((a) => a.target === u.userId);
    expect(audit.map((a) => a.outcome)).toEqual(['success']);
    // the heir's org still works for the heir; deleting again is not possible
    expect((await call(s.t.app, { method: 'GET', url: `/auth/orgs/${org.data.id}`, token: heir.accessToken })).statusCode).toBe(200);
    expect((await call(s.t.app, { method: 'DELETE', url: `/auth/admin/users/${u.userId}`, token: adminKey })).statusCode).toBe(404);
  });

  it('password re-entry and bad input: 400 / 401 with clear messages, nothing changes', async () => {
    const u = await s.register();
    const cases: [unknown, number, RegExp][] = [
      [undefined, 400, /currentPassword is required/],
      [{}, 400, /currentPassword is required/],
      [{ currentPassword: '' }, 400, /currentPassword/],
      [{ currentPassword: 7 }, 400, /currentPassword/],
      [{ currentPassword: PASSWORD, extra: true }, 400, /extra|unrecognized/i],
      [{ currentPassword: 'wrong password here' }, 401, /incorrect/],
    ];
    for (const [json, status, msg] of cases) {
      const res = await del(s.t.app, u.accessToken, json);
      expect(res.statusCode, `${JSON.stringify(json)}: ${res.body}`).toBe(status);
      expect(res.data.message).toMatch(msg);
    }
    const raw = await call(s.t.app, { method: 'DELETE', url: '/auth/user', token: u.accessToken, payload: '{"currentPassword":', headers: { 'content-type': 'application/json' } });
    expect(raw.statusCode).toBe(400);
    expect((await s.emailOf(u.accessToken)).status).toBe(200);
    expect(await s.count('users', 'id = $1 AND deleted_at IS NULL AND email IS NOT NULL', [u.userId])).toBe(1);
  });

  it('hostile clients: no credential, an API key, another tenant\'s header, another tenant\'s user by admin id path', async () => {
    const u = await s.register();
    expect((await del(s.t.app, undefined, { currentPassword: PASSWORD })).statusCode).toBe(401);
    expect((await call(s.t.app, { method: 'DELETE', url: '/auth/user', headers: { 'x-api-key': u.apiKey! }, json: { currentPassword: PASSWORD } })).statusCode).toBe(403);
    expect((await del(s.t.app, u.accessToken, { currentPassword: PASSWORD }, { 'x-tenant-id': s.other.id })).statusCode).toBe(403);
    // a user API key on the admin route, and a bad id
    expect((await call(s.t.app, { method: 'DELETE', url: `/auth/admin/users/${u.userId}`, token: u.accessToken })).statusCode).toBe(403);
    expect((await call(s.t.app, { method: 'DELETE', url: '/auth/admin/users/not-a-uuid', token: adminKey })).statusCode).toBe(400);
    expect((await call(s.t.app, { method: 'DELETE', url: '/auth/admin/users/00000000-0000-4000-8000-000000000000', token: adminKey })).statusCode).toBe(404);
    expect((await s.emailOf(u.accessToken)).status).toBe(200);
  });

  it('a password-less account deletes without a password; the admin plane deletes a user of any tenant and cannot revive a tombstone', async () => {
    const p = await s.register();
    await owner('UPDATE users SET password_hash = NULL WHERE id = $1', [p.userId]);
    expect((await del(s.t.app, p.accessToken)).statusCode).toBe(204);

    const v = await s.register(s.address('other'), s.other.id);
    const res = await call(s.t.app, { method: 'DELETE', url: `/auth/admin/users/${v.userId}`, token: adminKey });
    expect(res.statusCode, res.body).toBe(204);
    expect(await statusWithin(() => call(b, { method: 'GET', url: '/auth/user', token: v.accessToken }), 401)).toBe(401);
    expect((await columnsHolding([v.email]))[v.email]).toEqual([]);
    expect(await auditActionsHolding(v.email)).toEqual([]);
    const listed = await call(s.t.app, { method: 'GET', url: `/auth/admin/users?tenantId=${s.other.id}`, token: adminKey });
    expect(listed.data.items.find((i: { id: string }) => i.id === v.userId)).toMatchObject({ email: null, name: null, disabled: true, deletedAt: expect.any(String) });
    const revive = await call(s.t.app, { method: 'PATCH', url: `/auth/admin/users/${v.userId}`, token: adminKey, json: { disabled: false } });
    expect(revive.statusCode).toBe(409);
    expect((await call(s.t.app, { method: 'PATCH', url: `/auth/admin/users/${v.userId}`, token: adminKey, json: { email: s.address() } })).statusCode).toBe(409);
    const audit = (await s.t.deps.audit.list({ tenantId: s.other.id, action: 'user.delete', limit: 5 })).items;
    expect(audit[0]).toMatchObject({ target: v.userId, actor_type: 'admin_key' });
    expect((await s.t.deps.audit.verify()).breaks).toEqual([]);
  });
});

describe('GET /auth/user/export', () => {
  it('holds every listed part, and no secret, token or hash', async () => {
    const u = await s.register();
    const wallet = '7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV';
    await owner('INSERT INTO wallet_identities (tenant_id, user_id, public_key) VALUES ($1, $2, $3)', [s.defaultId, u.userId, wallet]);
    await owner(`INSERT INTO passkey_credentials (tenant_id, user_id, credential_id, public_key, device_type, backed_up, name, created_at) VALUES ($1, $2, 'cred-export-1', '\\x0102'::bytea, 'singleDevice', false, 'Desk key', now())`, [s.defaultId, u.userId]);
    await owner(`INSERT INTO federated_identities (tenant_id, user_id, issuer, subject, email, created_at) VALUES ($1, $2, 'https://issuer.example', 'sub-export-1', $3, now())`, [s.defaultId, u.userId, u.email]);
    const org = await call(s.t.app, { method: 'POST', url: '/auth/orgs', token: u.accessToken, json: { name: 'Export Org' } });
    const readKey = await call(s.t.app, { method: 'POST', url: '/auth/api-keys', token: u.accessToken, json: { name: 'reader', scopes: ['user:read'] } });
    const orgsKey = await call(s.t.app, { method: 'POST', url: '/auth/api-keys', token: u.accessToken, json: { name: 'orgs only', scopes: ['orgs:read'] } });
    const { secret, recoveryCodes } = await enableMfa(s.t, u.accessToken);
    const second = await loginWithMfa(s.t, u.email, secret); // enabling MFA ended the other sessions; a new one

    const res = await call(s.t.app, { method: 'GET', url: '/auth/user/export', token: u.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    const x = res.data;
    expect(x.profile).toMatchObject({ id: u.userId, tenantId: s.defaultId, email: u.email, emailVerified: false, hasPassword: true });
    expect(x.sessions).toHaveLength(2);
    expect(x.sessions.filter((e: { current: boolean }) => e.current)).toHaveLength(1);
    expect(x.apiKeys.map((k: { name: string }) => k.name)).toEqual(expect.arrayContaining(['reader', 'orgs only']));
    expect(x.apiKeys.every((k: { prefix: string }) => /^ck_.{8}$/.test(k.prefix))).toBe(true);
    expect(x.memberships).toEqual([{ orgId: org.data.id, orgName: 'Export Org', roles: ['owner'] }]);
    expect(x.passkeys).toMatchObject([{ name: 'Desk key', deviceType: 'singleDevice' }]);
    expect(x.wallets).toMatchObject([{ publicKey: wallet }]);
    expect(x.federatedIdentities).toMatchObject([{ issuer: 'https://issuer.example', subject: 'sub-export-1', email: u.email }]);
    expect(x.mfa).toMatchObject({ enabled: true, recoveryCodesRemaining: 10 });
    const actions = x.auditEvents.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['user.signup', 'api_key.create', 'mfa.enable']));
    expect(x.auditEvents.every((e: { actor: { id: string | null }; target: string | null }) => e.actor.id === u.userId || e.target === u.userId)).toBe(true);

    // no secret, token or hash of any kind
    const text = res.body;
    const hash = (await owner('SELECT password_hash FROM users WHERE id = $1', [u.userId])).rows[0] as { password_hash: string };
    for (const secretValue of [hash.password_hash, '$argon2', u.apiKey!, readKey.data.apiKey, orgsKey.data.apiKey, u.accessToken, u.refreshToken, second.accessToken, second.refreshToken, secret, ...recoveryCodes]) {
      expect(text.includes(secretValue), `export holds ${secretValue.slice(0, 12)}…`).toBe(false);
    }
    expect(text).not.toMatch(/"(passwordHash|password_hash|secret|secretSealed|tokenHash|token_hash|keyHash|hash|prevHash|refreshToken|accessToken|apiKey)"\s*:/);

    // an API key with user:read may export; one without it may not; no credential, another tenant: refused
    expect((await call(s.t.app, { method: 'GET', url: '/auth/user/export', headers: { 'x-api-key': readKey.data.apiKey } })).statusCode).toBe(200);
    expect((await call(s.t.app, { method: 'GET', url: '/auth/user/export', headers: { 'x-api-key': orgsKey.data.apiKey } })).statusCode).toBe(403);
    expect((await call(s.t.app, { method: 'GET', url: '/auth/user/export' })).statusCode).toBe(401);
    expect((await call(s.t.app, { method: 'GET', url: '/auth/user/export', token: u.accessToken, headers: { 'x-tenant-id': s.other.id } })).statusCode).toBe(403);
    const bad = await call(s.t.app, { method: 'GET', url: '/auth/user/export?userId=00000000-0000-4000-8000-000000000000', token: u.accessToken });
    expect(bad.statusCode).toBe(400);
    expect(bad.data.error).toBe('validation_failed');
    // another user's export never holds this user's data
    const other = await s.register();
    const theirs = await call(s.t.app, { method: 'GET', url: '/auth/user/export', token: other.accessToken });
    expect(theirs.statusCode).toBe(200);
    expect(theirs.body).not.toContain(u.userId);
    expect(theirs.body).not.toContain(u.email);
  });
});
