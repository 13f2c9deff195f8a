import { PGlite } from '@electric-sql/pglite';
import { mkdirSync } from 'node:fs';
import type { OwnerConn, QueryResult, Sql, Tx } from './sql.js';
import { beginStatements, type TenantScope } from './scope.js';
import { mapDbError } from './errors.js';
import { currentTxObserver } from './tx-observer.js';
import { observeQuery, observing } from '../modules/metrics/observe.js';

/**
 * PGlite (Postgres compiled to WASM) behind the Sql port: the embedded default.
 * PGlite connects as a superuser, which bypasses RLS even when forced, so every unit of work drops to
 * the app role exactly as on a real server; without that the embedded RLS tests would prove nothing.
 * `dataDir` undefined → an in-memory database (tests).
 */
/** The embedded Sql, which can also dump its data directory (the tests' migrated template). */
export interface PgliteSql extends Sql {
  dumpDataDir(): Promise<Blob>;
}

export async function createPgliteSql(dataDir?: string, o: { loadDataDir?: Blob } = {}): Promise<PgliteSql> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  // `loadDataDir`: start from a dumped data directory (the tests' migrated template) instead of a new initdb.
  const db = o.loadDataDir ? await PGlite.create({ dataDir, loadDataDir: o.loadDataDir }) : await PGlite.create(dataDir);
  let closed = false;
  const run = async <T>(q: { query: PGlite['query'] }, text: string, params?: unknown[]): Promise<QueryResult<T>> => {
    // Timed and traced when metrics or tracing are on (src/modules/metrics/observe.ts).
    const r = observing() ? await observeQuery('pglite', text, () => q.query<T>(text, params as unknown[])) : await q.query<T>(text, params as unknown[]);
    // pg's rowCount: rows returned by a SELECT, rows changed by a write. PGlite reports affectedRows 0 for a SELECT.
    return { rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
  };
  // PGlite is one connection. An owner session spans several statements (its own BEGIN…COMMIT, and an
  // advisory lock that is re-entrant within a session, so it cannot keep a second migrator out), and
  // PGlite's own mutex only guards single statements outside `transaction()`. So every unit of work
  // takes its turn here: two concurrent migrators, or a request during a migration, never interleave.
  // Consequence: never open a unit of work inside another one's callback (it would wait forever).
  let turn: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const mine = turn.then(() => (closed ? mapDbError(new Error('PGlite is closed')) : fn()));
    turn = mine.catch(() => {});
    return mine;
  };
  let self: Sql | undefined;
  const sql = {
    kind: 'pglite' as const,
    // One process, one database: there is no replica to read from; a normal unit of work, READ ONLY.
    readTx: <T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>): Promise<T> => self!.tx(scope, async (tx) => {
      await tx.query('SET TRANSACTION READ ONLY');
      return fn(tx);
    }),
    async tx<T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>): Promise<T> {
      const begin = beginStatements(scope).replace(/^BEGIN;\s*/, '');
      const observer = currentTxObserver();
      if (!observer) {
        return exclusive(() => db.transaction(async (t) => {
          await t.exec(begin);
          return fn({ query: (text, params) => run(t, text, params) });
        }));
      }
      const result = await exclusive(() => db.transaction(async (t) => {
        await t.exec(begin);
        const tx: Tx = { query: (text, params) => run(t, text, params) };
        const r = await fn(tx);
        await observer.beforeCommit(tx, scope);
        return r;
      }));
      observer.afterCommit();
      return result;
    },
    async ownerSession<T>(fn: (conn: OwnerConn) => Promise<T>): Promise<T> {
      return exclusive(() => fn({ query: (text, params) => run(db, text, params), exec: async (text) => { await db.exec(text); } }));
    },
    async ownerQuery<T>(text: string, params?: unknown[]) {
      return exclusive(() => run<T>(db, text, params));
    },
    async ping() {
      if (closed) mapDbError(new Error('PGlite is closed'));
      await db.query('SELECT 1');
    },
    dumpDataDir: () => exclusive(async () => (await db.dumpDataDir('none')) as Blob),
    async close() {
      if (closed) return;
      closed = true;
      await db.close();
    },
  };
  self = sql;
  return sql;
}
