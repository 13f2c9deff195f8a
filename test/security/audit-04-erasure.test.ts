import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TENANTS } from '../../src/db/scope.js';
import { call, TEST_AUTH_SECRET, TEST_PUBLIC_URL } from '../helpers/app.js';
import { BACKEND } from '../helpers/backend.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { PASSWORD, startAccountApp } from '../integration/account/helpers.js';

/**
 * Issue 15, the audit log's part of account deletion: rows of chain version 3 hold personal fields (IP, user
 * agent, typed addresses, key labels) whose HMAC covers keyed digests, not the values, so deleting an account
 * blanks them in the deletion's own transaction and the chain still verifies. Found by actor/target and by a
 * keyed digest of the address (rows where someone typed it), never by reading plaintext; scoped to the
 * tenant; the app role's only way to change a row is that erase function.
 */
let s: Awaited<ReturnType<typeof startAccountApp>>;
let adminKey: string;
beforeAll(async () => {
  s = await startAccountApp();
  adminKey = (await s.t.deps.adminKeys.create({ name: 'erasure', expiresInDays: 1 })).key;
}, 240_000);
afterAll(async () => { await s?.close(); });

const owner = <T = Record<string, unknown>>(text: string, params: unknown[] = []) => s.t.stores.sql.ownerQuery<T>(text, params);
const breaks = async () => (await s.t.deps.audit.verify()).breaks;

/** Every audit row (all columns, as text) holding any of `needles`, case-insensitive: "action@tenant". */
async function auditRowsHolding(needles: string[], tenantId?: string): Promise<string[]> {
  const { rows } = await owner<{ action: string; tenant_id: string | null; t: string }>(
    `SELECT a.action, a.tenant_id, lower(a::text) AS t FROM audit_events a ${tenantId ? 'WHERE a.tenant_id = $1' : ''}`, tenantId ? [tenantId] : []);
  return rows.filter((r) => needles.some((n) => r.t.includes(n.toLowerCase()))).map((r) => `${r.action}@${r.tenant_id}`);
}

/** Runs `fn` and returns the Postgres error it fails with. */
async function pgError(fn: () => Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    const e = err as { code?: string; message: string; cause?: { code?: string } };
    return { code: e.code ?? e.cause?.code, message: e.message };
  }
  throw new Error('expected the statement to fail');
}

const NON_PERSONAL = 'seq, id, tenant_id, occurred_at, actor_type, actor_id, action, outcome, request_id, prev_hash, hash, chain_version, personal';

describe('deleting an account erases its personal data from the audit log; the chain still verifies', () => {
  const IP = '198.51.100.77';
  const UA = `ErasureAgent/1.0 (victim ${process.pid})`;
  const IP_B = '203.0.113.199';
  const UA_B = 'OtherTenantAgent/2.0';
  let email: string;
  let label: string;
  let userId: string;
  let inviter: Awaited<ReturnType<typeof s.register>>;
  let keep: { email: string; userId: string };

  const as = (o: Parameters<typeof call>[1], tenant?: string, ip = IP, ua = UA) =>
    call(s.t.app, { ...o, remoteAddress: ip, headers: { 'user-agent': ua, ...(tenant ? { 'x-tenant-id': tenant } : {}), ...(o.headers as Record<string, string>) } });

  beforeAll(async () => {
    email = s.address('Erase-Me');
    label = `Erasure laptop ${process.pid}-${Date.now()}`;
    // Before the account exists: someone types the address (a failed sign-in, a reset request).
    expect((await as({ method: 'POST', url: '/auth/login', json: { email: email.toUpperCase(), password: 'not the password at all' } })).statusCode).toBe(401);
    expect((await as({ method: 'POST', url: '/auth/password/forgot', json: { email } })).statusCode).toBe(202);
    // The account, a wrong password, a labelled key, a magic-link request.
    const reg = await as({ method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    expect([200, 201], reg.body).toContain(reg.statusCode);
    userId = reg.data.user.id;
    const token = reg.data.tokens.accessToken as string;
    expect((await as({ method: 'POST', url: '/auth/login', json: { email, password: 'wrong password again' } })).statusCode).toBe(401);
    expect((await as({ method: 'POST', url: '/auth/api-keys', token, json: { name: label, scopes: ['user:read'] } })).statusCode).toBe(201);
    expect((await as({ method: 'POST', url: '/auth/instant-link', json: { email } })).statusCode).toBe(200);
    // Another user invites the address (their row, their IP: found by the address's keyed digest).
    inviter = await s.register();
    const org = await call(s.t.app, { method: 'POST', url: '/auth/orgs', token: inviter.accessToken, json: { name: 'Inviting Org' } });
    const inv = await call(s.t.app, { method: 'POST', url: `/auth/orgs/${org.data.id}/invites`, token: inviter.accessToken, json: { email, roles: ['member'] } });
    expect([200, 201], inv.body).toContain(inv.statusCode);
    // Tenant B: the same address typed there, and an account of its own there.
    expect((await as({ method: 'POST', url: '/auth/login', json: { email, password: 'not the password at all' } }, s.other.id, IP_B, UA_B)).statusCode).toBe(401);
    keep = await s.register(email, s.other.id);
    // A live user of tenant A with the same IP is not touched either (erasure is by user, not by IP).
    expect(await auditRowsHolding([email, IP, UA, label], s.defaultId)).not.toEqual([]);
  }, 120_000);

  it('after DELETE /auth/user no audit row of the tenant holds the address, IP, user agent or key label; tenant B keeps its rows; the chain verifies', async () => {
    const erasable = (await owner<Record<string, unknown>>(
      `SELECT ${NON_PERSONAL} FROM audit_events WHERE tenant_id = $1 AND (actor_id = $2 OR target = $2 OR position(lower($3) in lower(audit_events::text)) > 0) ORDER BY seq`, [s.defaultId, userId, email])).rows;
    expect(erasable.length).toBeGreaterThanOrEqual(8);
    const bBefore = (await owner(`SELECT ${NON_PERSONAL}, ip, user_agent, target, metadata, erasure_keys, erased_at FROM audit_events WHERE tenant_id = $1 ORDER BY seq`, [s.other.id])).rows;
    expect(bBefore.length).toBeGreaterThan(0);

    const del = await as({ method: 'DELETE', url: '/auth/user', token: (await s.login(email)).accessToken, json: { currentPassword: PASSWORD } });
    expect(del.statusCode, del.body).toBe(204);

    // every column of every row, metadata included, as the database owner (RLS hides nothing)
    expect(await auditRowsHolding([email, IP, UA, label], s.defaultId)).toEqual([]);
    expect(await auditRowsHolding([email, IP, UA, label], undefined)).toEqual(expect.arrayContaining([`user.login@${s.other.id}`]));
    expect((await auditRowsHolding([IP, UA, label])).filter((x) => !x.endsWith(`@${s.other.id}`))).toEqual([]);
    // tenant B: byte for byte what it was (the same address typed there, and its own account's rows)
    const bAfter = (await owner(`SELECT ${NON_PERSONAL}, ip, user_agent, target, metadata, erasure_keys, erased_at FROM audit_events WHERE tenant_id = $1 AND seq <= $2 ORDER BY seq`,
      [s.other.id, Number((bBefore[bBefore.length - 1] as { seq: string }).seq)])).rows;
    expect(bAfter).toEqual(bBefore);
    expect(await auditRowsHolding([email, IP_B, UA_B], s.other.id)).not.toEqual([]);
    // the erased rows: non-personal columns unchanged, personal ones null or "[erased]", lookups gone
    const after = (await owner<Record<string, unknown>>(`SELECT ${NON_PERSONAL} FROM audit_events WHERE id = ANY($1::uuid[]) ORDER BY seq`, [erasable.map((r) => r.id)])).rows;
    expect(after).toEqual(erasable);
    const erased = (await owner<{ ip: string | null; user_agent: string | null; erasure_keys: string[]; erased_at: Date | null; action: string; metadata: Record<string, unknown> }>(
      'SELECT ip, user_agent, erasure_keys, erased_at, action, metadata FROM audit_events WHERE id = ANY($1::uuid[])', [erasable.map((r) => r.id)])).rows;
    for (const r of erased) {
      expect(r.erased_at, r.action).not.toBeNull();
      expect(r.erasure_keys).toEqual([]);
      expect(r.ip).toBeNull();
    }
    expect(erased.find((r) => r.action === 'invite.create')!.metadata).toMatchObject({ email: '[erased]' });
    expect(erased.find((r) => r.action === 'api_key.create' && r.metadata.name === '[erased]')).toBeDefined();
    expect(await breaks()).toEqual([]);
  });

  // The CLI is a separate process: with PGlite it cannot open the database this test holds open, so it runs on
  // the services backend (its heads live under this test's key prefix, so it reports them as notices only).
  it.runIf(BACKEND === 'services')('`authplane audit-verify` (the CLI) reports the log intact after the erasure', async () => {
    const dir = tempDir('audit-erasure-cli-');
    try {
      const r = await runCli(['audit-verify'], { DATABASE_URL: s.t.stores.databaseUrl!, AUTH_SECRET: TEST_AUTH_SECRET, PUBLIC_URL: TEST_PUBLIC_URL, DATA_DIR: dir.dir });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/audit log intact\n$/);
      expect(r.stdout).not.toMatch(/BROKEN/);
    } finally {
      dir.remove();
    }
  }, 180_000);

  it('admin audit reads and the inviter\'s export show erased fields as null / "[erased]"', async () => {
    const page = await call(s.t.app, { method: 'GET', url: `/auth/admin/audit?tenantId=${s.defaultId}&action=invite.create&limit=200`, token: adminKey });
    expect(page.statusCode, page.body).toBe(200);
    const row = page.data.items.find((i: { actor: { id: string } }) => i.actor.id === inviter.userId);
    expect(row).toMatchObject({ ip: null, userAgent: null, metadata: { email: '[erased]' }, erasedAt: expect.any(String) });
    const ours = await call(s.t.app, { method: 'GET', url: `/auth/admin/audit?tenantId=${s.defaultId}&actorId=${userId}&limit=200`, token: adminKey });
    expect(ours.statusCode).toBe(200);
    expect(ours.data.items.length).toBeGreaterThan(0);
    expect(ours.body).not.toContain(email);
    const x = await call(s.t.app, { method: 'GET', url: '/auth/user/export', token: inviter.accessToken });
    expect(x.statusCode, x.body).toBe(200);
    expect(x.data.auditEvents.find((e: { action: string }) => e.action === 'invite.create')).toMatchObject({ metadata: { email: '[erased]' }, ip: null });
    expect(x.body).not.toContain(email);
  });

  it('tampering with a non-personal field, a digest, or an erased field of an erased row is still detected', async () => {
    const [row] = (await owner<{ id: string; seq: string; outcome: string; personal: unknown; metadata: unknown; ip: string | null }>(
      "SELECT id, seq, outcome, personal, metadata, ip FROM audit_events WHERE tenant_id = $1 AND action = 'invite.create' AND erased_at IS NOT NULL", [s.defaultId])).rows;
    const at = { tenantId: s.defaultId, seq: Number(row!.seq), id: row!.id, problem: 'hash_mismatch' };
    const tamper = async (set: string, params: unknown[]) => {
      await owner(`UPDATE audit_events SET ${set} WHERE id = $1`, [row!.id, ...params]);
      const found = (await breaks()).filter((b) => b.tenantId === s.defaultId);
      await owner('UPDATE audit_events SET outcome = $2, personal = $3, metadata = $4, ip = $5 WHERE id = $1', [row!.id, row!.outcome, JSON.stringify(row!.personal), JSON.stringify(row!.metadata), row!.ip]);
      return found;
    };
    expect(await tamper("outcome = 'failure'", [])).toEqual([at]);
    const personal = row!.personal as { p: string[]; d: string }[];
    const forged = personal.map((e, i) => (i === 0 ? { ...e, d: e.d.replace(/^./, (c) => (c === '0' ? '1' : '0')) } : e));
    expect(await tamper('personal = $2', [JSON.stringify(forged)])).toEqual([at]);
    expect(await tamper('personal = $2', [JSON.stringify(personal.slice(1))])).toEqual([at]);
    expect(await tamper("metadata = jsonb_set(metadata, '{email}', to_jsonb($2::text))", ['someone-else@example.com'])).toEqual([at]);
    expect(await tamper("metadata = jsonb_set(metadata, '{orgId}', to_jsonb('[erased]'::text))", [])).toEqual([at]);
    expect(await tamper('ip = $2', ['192.0.2.1'])).toEqual([at]);
    expect(await breaks()).toEqual([]);
  });

  it('a personal field edited on a row that was not erased is detected (its digest no longer matches)', async () => {
    const [row] = (await owner<{ id: string; seq: string; ip: string }>("SELECT id, seq, ip FROM audit_events WHERE tenant_id = $1 AND erased_at IS NULL AND ip IS NOT NULL ORDER BY seq DESC LIMIT 1", [s.defaultId])).rows;
    await owner('UPDATE audit_events SET ip = $2 WHERE id = $1', [row!.id, '192.0.2.55']);
    expect((await breaks()).filter((b) => b.tenantId === s.defaultId)).toEqual([{ tenantId: s.defaultId, seq: Number(row!.seq), id: row!.id, problem: 'hash_mismatch' }]);
    await owner('UPDATE audit_events SET ip = $2 WHERE id = $1', [row!.id, row!.ip]);
    // ... while blanking it as erasure does keeps the row verifying
    await owner('UPDATE audit_events SET ip = NULL WHERE id = $1', [row!.id]);
    expect(await breaks()).toEqual([]);
    await owner('UPDATE audit_events SET ip = $2 WHERE id = $1', [row!.id, row!.ip]);
  });

  it('the app role cannot update or delete audit rows, and its erase path refuses live users, other tenants and the cross-tenant scope', async () => {
    const sql = s.t.stores.sql;
    expect((await pgError(() => sql.tx(s.defaultId, (tx) => tx.query("UPDATE audit_events SET outcome = 'failure' WHERE actor_id = $1", [userId])))).code).toBe('42501');
    expect((await pgError(() => sql.tx(s.defaultId, (tx) => tx.query('UPDATE audit_events SET metadata = \'{}\' WHERE actor_id = $1', [userId])))).code).toBe('42501');
    expect((await pgError(() => sql.tx(s.defaultId, (tx) => tx.query('DELETE FROM audit_events WHERE actor_id = $1', [userId])))).code).toBe('42501');
    const snapshot = async () => (await owner(`SELECT ${NON_PERSONAL}, ip, user_agent, target, metadata, erasure_keys FROM audit_events ORDER BY seq`)).rows;
    const before = await snapshot();
    // a live user (the inviter, and tenant B's account with the same address)
    const live = await pgError(() => sql.tx(s.defaultId, (tx) => tx.query('SELECT ap_audit_erase($1::uuid, $2::text[])', [inviter.userId, []])));
    expect(live.code).toBe('42501');
    expect(live.message).toMatch(/deleted users/);
    expect((await pgError(() => sql.tx(s.other.id, (tx) => tx.query('SELECT ap_audit_erase($1::uuid, $2::text[])', [keep.userId, []])))).code).toBe('42501');
    // the deleted user of tenant A, from tenant B's scope and from the cross-tenant scope
    expect((await pgError(() => sql.tx(s.other.id, (tx) => tx.query('SELECT ap_audit_erase($1::uuid, $2::text[])', [userId, []])))).code).toBe('42501');
    expect((await pgError(() => sql.tx(ALL_TENANTS, (tx) => tx.query('SELECT ap_audit_erase($1::uuid, $2::text[])', [userId, []])))).code).toBe('42501');
    expect((await pgError(() => sql.tx(null, (tx) => tx.query('SELECT ap_audit_erase($1::uuid, $2::text[])', [userId, []])))).code).toBe('42501');
    // in its own tenant, again: nothing left to erase
    const again = await sql.tx(s.defaultId, (tx) => tx.query<{ n: number }>('SELECT ap_audit_erase($1::uuid, $2::text[]) AS n', [userId, []]));
    expect(Number(again.rows[0]!.n)).toBe(0);
    expect(await snapshot()).toEqual(before);
    expect(await breaks()).toEqual([]);
  });
});

describe('an address replaced by an email change is erased from the audit log too', () => {
  it('rows where someone typed the former address lose it when the account is deleted; the lookup is gone with the tombstone', async () => {
    const former = s.address('Former-Address');
    const current = s.address('Current-Address');
    const stranger = { remoteAddress: '192.0.2.41', headers: { 'user-agent': 'StrangerAgent/1.0' } };
    // Someone else types the address (a failed sign-in, a reset request): rows not about the account.
    expect((await call(s.t.app, { method: 'POST', url: '/auth/login', json: { email: former, password: 'not the password at all' }, ...stranger })).statusCode).toBe(401);
    const reg = await call(s.t.app, { method: 'POST', url: '/auth/register', json: { email: former, password: PASSWORD } });
    expect([200, 201], reg.body).toContain(reg.statusCode);
    const id = reg.data.user.id as string;
    expect((await call(s.t.app, { method: 'POST', url: '/auth/password/forgot', json: { email: former }, ...stranger })).statusCode).toBe(202);
    // The operator moves the account to another address: the former one is no longer on the account.
    const moved = await call(s.t.app, { method: 'PATCH', url: `/auth/admin/users/${id}`, token: adminKey, json: { email: current } });
    expect(moved.statusCode, moved.body).toBe(200);
    const lookups = (await owner<{ l: string[] }>('SELECT former_address_lookups AS l FROM users WHERE id = $1', [id])).rows[0]!.l;
    expect(lookups).toHaveLength(1);
    expect(lookups[0]).not.toContain(former.toLowerCase()); // a keyed digest, never the address
    expect((await auditRowsHolding([former], s.defaultId)).length).toBeGreaterThanOrEqual(2);

    const del = await call(s.t.app, { method: 'DELETE', url: `/auth/admin/users/${id}`, token: adminKey });
    expect([200, 204], del.body).toContain(del.statusCode);
    expect(await auditRowsHolding([former, current], s.defaultId)).toEqual([]);
    expect((await owner<{ l: string[] }>('SELECT former_address_lookups AS l FROM users WHERE id = $1', [id])).rows[0]!.l).toEqual([]);
    expect(await breaks()).toEqual([]);
  });
});
