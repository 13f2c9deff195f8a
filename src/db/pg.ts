import pg from 'pg';
import type { OwnerConn, QueryResult, Sql, Tx } from './sql.js';
import { beginStatements, type TenantScope } from './scope.js';
import { isConnectionError, mapDbError } from './errors.js';

// int8 → number is safe for our counters; timestamps stay Date.
pg.types.setTypeParser(20, (v) => Number(v));

export interface PgOptions {
  max?: number;
  /** Per-statement timeout in ms; a hung database answers 503 within this bound (SECURITY AV-03). */
  statementTimeoutMs?: number;
}

/** Opens a node-postgres Pool behind the Sql port. */
export function createPgSql(url: string, opts: PgOptions = {}): Sql {
  const timeout = opts.statementTimeoutMs ?? 8000;
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    statement_timeout: timeout,
    query_timeout: timeout + 1000,
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => {});

  const run = async <T>(client: pg.PoolClient | pg.Pool, text: string, params?: unknown[]): Promise<QueryResult<T>> => {
    const r = await client.query(text, params as unknown[]);
    return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
  };

  return {
    kind: 'postgres',
    async tx<T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>): Promise<T> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        return mapDbError(err);
      }
      let broken = false;
      try {
        await client.query(beginStatements(scope));
        const result = await fn({ query: (text, params) => run(client, text, params) });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        broken = isConnectionError(err);
        if (!broken) await client.query('ROLLBACK').catch(() => { broken = true; });
        return mapDbError(err);
      } finally {
        client.release(broken ? true : undefined);
      }
    },
    async ownerSession<T>(fn: (conn: OwnerConn) => Promise<T>): Promise<T> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        return mapDbError(err);
      }
      try {
        return await fn({ query: (text, params) => run(client, text, params), exec: async (text) => { await client.query(text); } });
      } finally {
        client.release();
      }
    },
    async ownerQuery<T>(text: string, params?: unknown[]) {
      try {
        return await run<T>(pool, text, params);
      } catch (err) {
        return mapDbError(err);
      }
    },
    async ping() {
      try {
        await pool.query('SELECT 1');
      } catch (err) {
        mapDbError(err);
      }
    },
    async close() {
      await pool.end();
    },
  };
}
