import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql, Tx } from '../../../src/db/sql.js';
import { createPgSql } from '../../../src/db/pg.js';
import { withReadPool } from '../../../src/db/read-pool.js';
import { APP_ROLE } from '../../../src/db/scope.js';
import { loadConfig } from '../../../src/config.js';
import { call, createTestApp, TEST_AUTH_SECRET, type TestApp } from '../../helpers/app.js';
import { BACKEND, createStores, PG_ADMIN_URL, type Stores } from '../../helpers/backend.js';

/**
 * DATABASE_READ_URL (issue #17): reads that tolerate replication lag (admin lists, audit reads, webhook
 * delivery lists, data exports) go to the read pool; credential checks, sessions, sign-ups and every
 * read-then-write stay on the primary. On the services backend the read pool is a real second pg pool that
 * logs in as a Postgres role of its own (`ap_read_…`, member of the application role only) with
 * application_name `authplane-read`, and every statement it runs is recorded together with
 * current_user / application_name as Postgres reports them. On the embedded backend (one PGlite, no
 * second connection possible) the read "pool" is the same database behind the same recorder, which still
 * shows which reads are routed there.
 */
const services = BACKEND === 'services';
const READ_ROLE = `ap_read_${randomBytes(4).toString('hex')}`;
const READ_PASSWORD = randomBytes(12).toString('hex');

let stores: Stores;
let readPool: Sql | null = null;
let t: TestApp;
let admin: { key: string };
/** Every statement the read pool ran, in order. */
const reads: string[] = [];
/** Every statement the primary ran inside tx (what sessions, credential checks and writes use). */
const primaryReads: string[] = [];
/** Who the read pool's transactions ran as: `<current_user>|<application_name>|<transaction_read_only>`. */
const readSessions = new Set<string>();

async function admin_(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try { await c.query(text); } finally { await c.end(); }
}

/** `sql` with every statement of its tx / readTx recorded into `log`; `whoami`: also note who runs each readTx. */
function recording(sql: Sql, log: string[], whoami = false): Sql {
  const wrap = (tx: Tx): Tx => ({ query: (text, params) => { log.push(text); return tx.query(text, params); } });
  return {
    ...sql,
    tx: (scope, fn) => sql.tx(scope, (tx) => fn(wrap(tx))),
    readTx: (scope, fn) => sql.readTx(scope, async (tx) => {
      if (whoami) {
        const { rows } = await tx.query<{ who: string }>(
          "SELECT current_user || '|' || current_setting('application_name') || '|' || current_setting('transaction_read_only') AS who");
        readSessions.add(rows[0]!.who);
      }
      return fn(wrap(tx));
    }),
    close: async () => {},
  };
}

beforeAll(async () => {
  stores = await createStores();
  let read: Sql = stores.sql;
  if (services) {
    // A role of its own that can only become the application role: what a replica's read-only user looks like.
    const db = new URL(stores.databaseUrl!).pathname.slice(1);
    await admin_(`CREATE ROLE ${READ_ROLE} LOGIN PASSWORD '${READ_PASSWORD}' NOINHERIT IN ROLE ${APP_ROLE}`);
    await admin_(`GRANT CONNECT ON DATABASE ${db} TO ${READ_ROLE}`);
    const url = new URL(stores.databaseUrl!);
    url.username = READ_ROLE;
    url.password = READ_PASSWORD;
    // Through the configuration, as DATABASE_READ_URL would be given.
    const config = loadConfig({ AUTH_SECRET: TEST_AUTH_SECRET, DATABASE_URL: stores.databaseUrl!, DATABASE_READ_URL: url.toString() });
    expect(config.databaseReadUrl).toBe(url.toString());
    readPool = createPgSql(config.databaseReadUrl!, { max: 2, applicationName: 'authplane-read' });
    read = readPool;
  }
  const sql = withReadPool(recording(stores.sql, primaryReads), recording(read, reads, true));
  t = await createTestApp({ stores: { ...stores, sql } });
  admin = await t.deps.adminKeys.create({ name: 'ops', expiresInDays: 90 });
}, 60_000);

afterAll(async () => {
  await t?.close();
  await readPool?.close();
  await stores?.drop();
  if (services) await admin_(`DROP ROLE IF EXISTS ${READ_ROLE}`).catch(() => {});
});

const PASSWORD = 'correct horse battery staple';

describe(`DATABASE_READ_URL: only lag-tolerant reads use the read pool (${BACKEND})`, () => {
  let token = '';
  let refresh = '';
  let userId = '';

  it('is refused without DATABASE_URL, and must be a postgres:// URL', () => {
    expect(() => loadConfig({ AUTH_SECRET: TEST_AUTH_SECRET, DATABASE_READ_URL: 'postgres://r@replica/db' })).toThrow(/DATABASE_READ_URL/);
    expect(() => loadConfig({ AUTH_SECRET: TEST_AUTH_SECRET, DATABASE_URL: 'postgres://p@db/db', DATABASE_READ_URL: 'mysql://r@replica/db' })).toThrow(/DATABASE_READ_URL/);
  });

  it('sign-up, login (credential check), refresh, bearer reads and session lists never touch it', async () => {
    const email = `reader${Date.now()}@example.com`;
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    expect(reg.statusCode, reg.body).toBe(200);
    userId = reg.data.user.id;
    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: PASSWORD } });
    expect(login.statusCode, login.body).toBe(200);
    token = login.data.tokens.accessToken;
    refresh = login.data.tokens.refreshToken;
    const wrong = await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: 'not the password at all' } });
    expect(wrong.statusCode).toBe(401);
    const refreshed = await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: refresh } });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    token = refreshed.data.tokens.accessToken;
    for (const url of ['/auth/user', '/auth/sessions', '/auth/orgs']) {
      const res = await call(t.app, { method: 'GET', url, token });
      expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
    }
    expect(reads).toEqual([]);
    // The credential check really ran (on the primary): the user's password hash was read there.
    expect(primaryReads.some((q) => /password_hash/.test(q))).toBe(true);
  });

  it('the data export, the admin user and tenant lists and the audit list read from it, with the same RLS scoping', async () => {
    const exported = await call(t.app, { method: 'GET', url: '/auth/user/export', token });
    expect(exported.statusCode, exported.body).toBe(200);
    expect(exported.data.profile.id).toBe(userId);
    const afterExport = reads.length;
    expect(afterExport).toBeGreaterThan(0);

    const tenant = await t.deps.tenants.defaultTenant();
    const users = await call(t.app, { method: 'GET', url: `/auth/admin/users?tenantId=${tenant.id}&limit=50`, token: admin.key });
    expect(users.statusCode, users.body).toBe(200);
    expect(users.data.items.map((u: { id: string }) => u.id)).toContain(userId);
    const tenants = await call(t.app, { method: 'GET', url: '/auth/admin/tenants?limit=50', token: admin.key });
    expect(tenants.statusCode, tenants.body).toBe(200);
    const audit = await call(t.app, { method: 'GET', url: '/auth/admin/audit?limit=20', token: admin.key });
    expect(audit.statusCode, audit.body).toBe(200);
    expect(audit.data.items.length).toBeGreaterThan(0);
    expect(reads.length).toBeGreaterThan(afterExport);

    // Nothing the read pool ran writes, and nothing reads a credential.
    for (const q of reads) {
      expect(q).not.toMatch(/^\s*(INSERT|UPDATE|DELETE)\b/i);
      expect(q).not.toMatch(/password_hash|token_hash|secret_hash/i);
    }
    // It ran as the application role (RLS applies), READ ONLY, on its own connection and role.
    for (const who of readSessions) {
      const [user, app, readOnly] = who.split('|');
      expect(user).toBe(APP_ROLE);
      expect(readOnly).toBe('on');
      if (services) expect(app).toBe('authplane-read');
    }
    expect(readSessions.size).toBeGreaterThan(0);
  });

  it('is READ ONLY and tenant-scoped like the primary: no writes, no other tenant\'s rows', async () => {
    const tenant = await t.deps.tenants.defaultTenant();
    const other = await call(t.app, { method: 'POST', url: '/auth/admin/tenants', token: admin.key, json: { slug: `other-${Date.now()}`, name: 'Other' } });
    expect(other.statusCode, other.body).toBe(201);
    const sql = t.deps.sql;
    await expect(sql.readTx(tenant.id, (tx) => tx.query("UPDATE users SET name = 'x' WHERE id = $1", [userId]))).rejects.toThrow();
    const mine = await sql.readTx(tenant.id, (tx) => tx.query<{ id: string }>('SELECT id FROM users WHERE id = $1', [userId]));
    expect(mine.rows.map((r) => r.id)).toEqual([userId]);
    const theirs = await sql.readTx(other.data.id as string, (tx) => tx.query<{ id: string }>('SELECT id FROM users WHERE id = $1', [userId]));
    expect(theirs.rows).toEqual([]);
  });
});
