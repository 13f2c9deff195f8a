import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql, Tx } from '../../../src/db/sql.js';
import type { Kv } from '../../../src/kv/kv.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../../helpers/backend.js';

/**
 * The capacity table of docs/scaling.md ("What a request costs"), measured: every route in it is called
 * through the real app with the database and the key–value store behind counters (SQL statements and
 * units of work; key–value calls, each one store round trip — MGET, MULTI and scripts included), after a
 * warm-up so that caches are as in steady state. Each route runs 5 times and the smallest count is kept
 * (the webhook worker's polling runs concurrently and would only add). The table must say what is measured:
exactly on Redis (services); with the in-process store the store calls are at most the table's (the audit
chain heads are kept in DATA_DIR there, not in the store).
 */
let stores: Stores;
let t: TestApp;
const count = { statements: 0, units: 0, kv: 0 };

function countingSql(sql: Sql): Sql {
  const wrap = (tx: Tx): Tx => ({ query: (text, params) => { count.statements++; return tx.query(text, params); } });
  return {
    ...sql,
    tx: (scope, fn) => { count.units++; return sql.tx(scope, (tx) => fn(wrap(tx))); },
    readTx: (scope, fn) => { count.units++; return sql.readTx(scope, (tx) => fn(wrap(tx))); },
    close: async () => {},
  };
}

const KV_CALLS = new Set(['get', 'mget', 'set', 'del', 'getDel', 'incr', 'pttl', 'sadd', 'srem', 'smembers', 'writeAll', 'slidingWindow', 'publish']);
function countingKv(kv: Kv): Kv {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop === 'string' && KV_CALLS.has(prop) && typeof value === 'function') {
        return (...args: unknown[]) => { count.kv++; return (value as (...a: unknown[]) => unknown).apply(target, args); };
      }
      if (prop === 'close') return async () => {};
      return value;
    },
  });
}

beforeAll(async () => {
  stores = await createStores();
  t = await createTestApp({ stores: { ...stores, sql: countingSql(stores.sql), kv: countingKv(stores.kv) } });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await stores?.drop();
});

const PASSWORD = 'correct horse battery staple';

/** The smallest (statements, units, kv) of 5 runs of `run`, each of which must answer `status`. */
async function cost(status: number, run: (i: number) => ReturnType<typeof call>): Promise<[number, number, number]> {
  let best: [number, number, number] = [Infinity, Infinity, Infinity];
  for (let i = 0; i < 5; i++) {
    count.statements = 0; count.units = 0; count.kv = 0;
    const res = await run(i);
    const got: [number, number, number] = [count.statements, count.units, count.kv];
    expect(res.statusCode, res.body).toBe(status);
    if (got[0] + got[2] < best[0] + best[2]) best = got;
  }
  return best;
}

/** Routes in the `default` rate-limit class (the others here are `credential`: counted exactly, always a round trip). */
const DEFAULT_CLASS = new Set(['GET /auth/sessions (bearer)', 'POST /auth/orgs', 'POST /auth/logout']);

/** The rows of the table under "### What a request costs" in docs/scaling.md: route → [statements, units, kv]. */
function documented(): Map<string, [number, number, number]> {
  const doc = readFileSync(new URL('../../../docs/scaling.md', import.meta.url), 'utf8');
  const section = doc.split('### What a request costs')[1]!.split('\n### ')[0]!;
  const rows = new Map<string, [number, number, number]>();
  for (const line of section.split('\n')) {
    const m = /^\| `([^`]+)`[^|]*\| (\d+) \| (\d+) \| (\d+) \|/.exec(line);
    if (m) rows.set(m[1]!, [Number(m[2]), Number(m[3]), Number(m[4])]);
  }
  return rows;
}

describe(`what each main route costs in Postgres statements and store round trips (${BACKEND})`, () => {
  it('matches the table in docs/scaling.md', async () => {
    const stamp = Date.now();
    const emails = Array.from({ length: 6 }, (_, i) => `cost${stamp}-${i}@example.com`);
    // Warm-up: one of everything (tenant cache, signing keys, prepared paths).
    const warm = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: emails[5], password: PASSWORD } });
    expect(warm.statusCode, warm.body).toBe(200);

    const measured = new Map<string, [number, number, number]>();
    measured.set('POST /auth/register', await cost(200, (i) => call(t.app, { method: 'POST', url: '/auth/register', json: { email: emails[i], password: PASSWORD } })));
    const logins: { accessToken: string; refreshToken: string }[] = [];
    measured.set('POST /auth/login', await cost(200, async (i) => {
      const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: emails[i], password: PASSWORD } });
      logins.push(res.data?.tokens);
      return res;
    }));
    const refreshed: string[] = [];
    measured.set('POST /auth/refresh', await cost(200, async (i) => {
      const res = await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: logins[i]!.refreshToken } });
      refreshed.push(res.data?.tokens?.accessToken);
      return res;
    }));
    const token = refreshed[0]!;
    await call(t.app, { method: 'GET', url: '/auth/sessions', token });
    measured.set('GET /auth/sessions (bearer)', await cost(200, () => call(t.app, { method: 'GET', url: '/auth/sessions', token })));
    const created = await call(t.app, { method: 'POST', url: '/auth/api-keys', token, json: { name: 'cost', scopes: ['*'] } });
    expect(created.statusCode, created.body).toBe(201);
    const apiKey = created.data.apiKey as string;
    await call(t.app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey } });
    measured.set('POST /auth/api-key/validate', await cost(200, () => call(t.app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey } })));
    measured.set('POST /auth/orgs', await cost(200, (i) => call(t.app, { method: 'POST', url: '/auth/orgs', token, json: { name: `Org ${stamp} ${i}` } })));
    measured.set('POST /auth/logout', await cost(200, (i) => call(t.app, { method: 'POST', url: '/auth/logout', token: refreshed[i]! })));

    const table = [...measured].map(([route, [s, u, k]]) => `| \`${route}\` | ${s} | ${u} | ${k} |`).join('\n');
    console.log(`route costs (${BACKEND}):\n${table}`);
    const doc = documented();
    expect([...measured.keys()]).toEqual([...doc.keys()]);
    for (const [route, [statements, units, kv]] of measured) {
      const [s, u, k] = doc.get(route)!;
      expect([statements, units], route).toEqual([s, u]);
      // With Redis every audit row also stores its chain head there (one SET); in memory it goes to DATA_DIR.
      // A warm bucket of the default rate-limit class is admitted from a local lease (issue 21), so its window
      // round trip may be saved: the table lists the cost without a lease, and one fewer is also right.
      if (BACKEND === 'services') expect(DEFAULT_CLASS.has(route) ? [k, k - 1] : [k], route).toContain(kv);
      else expect(kv, route).toBeLessThanOrEqual(k);
    }
  }, 180_000);
});
