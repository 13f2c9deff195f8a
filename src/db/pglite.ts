import { PGlite } from '@electric-sql/pglite';
import { mkdirSync } from 'node:fs';
import type { OwnerConn, QueryResult, Sql, Tx } from './sql.js';
import { beginStatements, type TenantScope } from './scope.js';
import { mapDbError } from './errors.js';

/**
 * PGlite (Postgres compiled to WASM) behind the Sql port: the embedded default.
 * PGlite connects as a superuser, which bypasses RLS even when forced, so every unit of work drops to
 * the app role exactly as on a real server; without that the embedded RLS tests would prove nothing.
 * `dataDir` undefined → an in-memory database (tests).
 */
export async function createPgliteSql(dataDir?: string): Promise<Sql> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  let closed = false;
  const run = async <T>(q: { query: PGlite['query'] }, text: string, params?: unknown[]): Promise<QueryResult<T>> => {
    const r = await q.query<T>(text, params as unknown[]);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  };
  // PGlite is one connection: units of work are serialized by its own transaction mutex.
  return {
    kind: 'pglite',
    async tx<T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>): Promise<T> {
      if (closed) return mapDbError(new Error('PGlite is closed'));
      const begin = beginStatements(scope).replace(/^BEGIN;\s*/, '');
      return db.transaction(async (t) => {
        await t.exec(begin);
        return fn({ query: (text, params) => run(t, text, params) });
      });
    },
    async ownerSession<T>(fn: (conn: OwnerConn) => Promise<T>): Promise<T> {
      if (closed) return mapDbError(new Error('PGlite is closed'));
      return fn({ query: (text, params) => run(db, text, params), exec: async (text) => { await db.exec(text); } });
    },
    async ownerQuery<T>(text: string, params?: unknown[]) {
      if (closed) return mapDbError(new Error('PGlite is closed'));
      return run<T>(db, text, params);
    },
    async ping() {
      if (closed) mapDbError(new Error('PGlite is closed'));
      await db.query('SELECT 1');
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.close();
    },
  };
}
