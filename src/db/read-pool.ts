import type { Sql } from './sql.js';

/**
 * The primary `Sql` with its `readTx` sent to `read` (DATABASE_READ_URL: a streaming replica, or another
 * connection to the primary): same application role, same `app.tenant_id` scoping and row-level security,
 * READ ONLY. Everything else — every `tx`, the owner connections, ping — stays on the primary. Closing it
 * closes both.
 */
export function withReadPool(primary: Sql, read: Sql): Sql {
  return {
    ...primary,
    readTx: (scope, fn) => read.readTx(scope, fn),
    async close() {
      await Promise.all([primary.close(), read.close()]);
    },
  };
}
