import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Sql } from './db/sql.js';
import { withReadPool } from './db/read-pool.js';
import { createPgSql } from './db/pg.js';
import { createPgliteSql } from './db/pglite.js';
import type { Kv } from './kv/kv.js';
import { createMemoryKv } from './kv/memory.js';
import { createRedisKv } from './kv/redis.js';
import { systemClock, type Clock } from './lib/clock.js';
import { createLogger } from './http/logger.js';
import { resolveAuthSecret } from './secrets.js';
import { createTenantService, type TenantService } from './modules/tenants/service.js';
import { createAuditService, type AuditService } from './modules/audit/service.js';
import { createHeadStore } from './modules/audit/head-store.js';
import { createAdminKeyService, type AdminKeyService } from './modules/admin-keys/service.js';
import type { Authenticators } from './http/guard.js';
import { createServices, type Services } from './services.js';
import type { WebhookTransport } from './modules/webhooks/service.js';

/** Everything the server and the CLI run on. Built once per process (or per test app). */
export interface Deps {
  config: Readonly<Config>;
  sql: Sql;
  kv: Kv;
  clock: Clock;
  log: Logger;
  authSecret: string;
  tenants: TenantService;
  audit: AuditService;
  adminKeys: AdminKeyService;
  services: Services;
  authenticators: Authenticators;
  /** Closes pools and connections; safe to call twice. */
  close(): Promise<void>;
}

export interface DepsOverrides {
  sql?: Sql;
  kv?: Kv;
  clock?: Clock;
  log?: Logger;
  /** the webhook worker's resolver and connector (tests fence them to loopback) */
  webhookTransport?: WebhookTransport;
  /** extra resources the caller wants closed with the deps */
  onClose?: () => Promise<void>;
}

/** Opens the configured database: Postgres when DATABASE_URL is set, else PGlite under DATA_DIR/pgdata. */
export async function openSql(config: Readonly<Config>): Promise<Sql> {
  if (!config.databaseUrl) return createPgliteSql(path.join(config.dataDir, 'pgdata'));
  const primary = createPgSql(config.databaseUrl, { applicationName: 'authplane' });
  // DATABASE_READ_URL: lag-tolerant reads (Sql.readTx) go to their own pool, everything else to the primary.
  return config.databaseReadUrl ? withReadPool(primary, createPgSql(config.databaseReadUrl, { applicationName: 'authplane-read' })) : primary;
}

/**
 * Opens the configured stores (PGlite / memory when DATABASE_URL / REDIS_URL are unset) and builds the
 * services. Services read their tables while they are built (signing keys), so the database must be
 * migrated first: pass a migrated `sql` (see `main.ts`), as the CLI and the tests do.
 */
export async function createDeps(config: Readonly<Config>, o: DepsOverrides = {}): Promise<Deps> {
  const log = o.log ?? createLogger(config.logLevel);
  const clock = o.clock ?? systemClock;
  const authSecret = resolveAuthSecret(config);
  const sql = o.sql ?? (await openSql(config));
  let kv: Kv;
  try {
    kv = o.kv ?? (config.redisUrl ? await createRedisKv(config.redisUrl, { prefix: config.kvPrefix }) : createMemoryKv({ prefix: config.kvPrefix, now: () => clock.nowMs() }));
  } catch (err) {
    if (!o.sql) await sql.close();
    throw err;
  }
  const tenants = createTenantService({ sql, kv, clock });
  const audit = createAuditService({ sql, clock, log, authSecret, heads: createHeadStore({ kv, dataDir: config.dataDir }) });
  const adminKeys = createAdminKeyService({ sql, clock, audit });
  const base = { config, sql, kv, clock, log, authSecret, tenants, audit, adminKeys };
  const { services, authenticators } = await createServices(base, { webhookTransport: o.webhookTransport });
  let closed = false;
  return {
    ...base,
    services,
    authenticators,
    async close() {
      if (closed) return;
      closed = true;
      await services.stop();
      if (!o.kv) await kv.close().catch(() => {});
      if (!o.sql) await sql.close().catch(() => {});
      await o.onClose?.();
    },
  };
}

export type BaseDeps = Pick<Deps, 'config' | 'sql' | 'kv' | 'clock' | 'log' | 'authSecret' | 'tenants' | 'audit' | 'adminKeys'>;
