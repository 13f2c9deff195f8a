import pg from 'pg';
import type { OwnerConn, QueryResult, Sql, Tx } from './sql.js';
import { beginStatements, type TenantScope } from './scope.js';
import { isConnectionError, mapDbError } from './errors.js';
import { currentTxObserver } from './tx-observer.js';
import { observeQuery, observing } from '../modules/metrics/observe.js';
import { dbPools } from '../modules/metrics/registry.js';

// int8 → number is safe for our counters; timestamps stay Date.
pg.types.setTypeParser(20, (v) => Number(v));

export interface PgOptions {
  max?: number;
  /** `application_name` of the pool's connections (pg_stat_activity, server logs). */
  applicationName?: string;
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
    ...(opts.applicationName ? { application_name: opts.applicationName } : {}),
    query_timeout: timeout + 1000,
  });
  // An idle client losing its connection: the pool has already dropped it; the next checkout makes a new one.
  pool.on('error', () => {});

  /**
   * A connection can end at any time (pg_terminate_backend, a fast shutdown, a network cut). The pool
   * listens for that only while a client is idle: it removes its listener when it hands the client out,
   * and a new client is handed out from inside the parser, so a termination arriving in the same packet
   * as the end of the startup, or between two statements of a transaction, was an 'error' event nobody
   * handled, and the process died (issue 26). Every client keeps this listener for its whole life: the
   * error is noted, the unit of work's next statement fails with a connection error (→ 503), and the
   * client is released with the error, so the pool destroys it instead of handing it out again.
   */
  const lost = new WeakMap<pg.ClientBase, Error>();
  pool.on('connect', (client) => {
    client.on('error', (err) => { if (!lost.has(client)) lost.set(client, err instanceof Error ? err : new Error('connection lost')); });
  });
  const release = (client: pg.PoolClient, err?: unknown) => {
    const broken = lost.get(client) ?? (err !== undefined && isConnectionError(err) ? err : undefined);
    client.release(broken === undefined ? undefined : broken instanceof Error ? broken : true);
  };

  // Every statement goes through here: timed and traced when metrics or tracing are on (src/modules/metrics/observe.ts).
  const exec = (client: pg.PoolClient | pg.Pool, text: string, params?: unknown[]): Promise<pg.QueryResult> =>
    observing() ? observeQuery('postgresql', text, () => client.query(text, params as unknown[])) : client.query(text, params as unknown[]);
  const run = async <T>(client: pg.PoolClient | pg.Pool, text: string, params?: unknown[]): Promise<QueryResult<T>> => {
    const r = await exec(client, text, params);
    return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
  };
  const removePoolReading = dbPools.add(() => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }));

  async function unitOfWork<T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>, readOnly: boolean): Promise<T> {
    const observer = currentTxObserver();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      return mapDbError(err);
    }
    let failure: unknown;
    try {
      await exec(client, beginStatements(scope));
      if (readOnly) await exec(client, 'SET TRANSACTION READ ONLY');
      const tx: Tx = { query: (text, params) => run(client, text, params) };
      const result = await fn(tx);
      if (observer && !readOnly) await observer.beforeCommit(tx, scope);
      await exec(client, 'COMMIT');
      if (!readOnly) observer?.afterCommit();
      return result;
    } catch (err) {
      failure = err;
      if (!lost.has(client) && !isConnectionError(err)) await exec(client, 'ROLLBACK').catch((e: unknown) => { lost.set(client, e instanceof Error ? e : new Error('rollback failed')); });
      return mapDbError(err);
    } finally {
      release(client, failure);
    }
  }

  return {
    kind: 'postgres',
    tx: (scope, fn) => unitOfWork(scope, fn, false),
    readTx: (scope, fn) => unitOfWork(scope, fn, true),
    async ownerSession<T>(fn: (conn: OwnerConn) => Promise<T>): Promise<T> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        return mapDbError(err);
      }
      let failure: unknown;
      try {
        return await fn({ query: (text, params) => run(client, text, params), exec: async (text) => { await client.query(text); } });
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        release(client, failure);
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
      removePoolReading();
      await pool.end();
    },
  };
}
