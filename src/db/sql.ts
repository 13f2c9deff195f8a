import type { TenantScope } from './scope.js';

/**
 * The SQL port: node-postgres Pool in production, PGlite in embedded mode.
 * Nothing above src/db knows which one it talks to.
 */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Tx {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<T>>;
}

export interface OwnerConn extends Tx {
  /** Runs a multi-statement SQL text without parameters. */
  exec(text: string): Promise<void>;
}

export interface Sql {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs `fn` in one transaction as the application role (no BYPASSRLS) with `app.tenant_id`
   * set to the tenant (null: platform work, tenant-scoped tables then show no rows; ALL_TENANTS:
   * the admin plane's cross-tenant reads).
   * Commits when `fn` resolves, rolls back when it throws.
   */
  tx<T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Like `tx`, with the same role and tenant scoping (RLS), but READ ONLY, and on the read pool
   * (DATABASE_READ_URL, e.g. a streaming replica) when one is configured: its rows may lag the primary.
   * Only for reads that tolerate that lag (admin lists, audit reads, exports), never for credential or
   * session checks nor for anything that reads and then writes (docs/scaling.md). Without a read pool it
   * runs on the primary.
   */
  readTx<T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on one dedicated connection as the connecting (owner) role, outside any tenant scope:
   * for migrations (advisory lock + multi-statement files), the CLI and tests only.
   */
  ownerSession<T>(fn: (conn: OwnerConn) => Promise<T>): Promise<T>;
  /** Runs one statement as the connecting (owner) role; for migrations, the CLI and tests only. */
  ownerQuery<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
