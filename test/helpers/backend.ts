import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';
import pg from 'pg';
import type { Sql } from '../../src/db/sql.js';
import { createPgSql } from '../../src/db/pg.js';
import { createPgliteSql } from '../../src/db/pglite.js';
import type { Kv } from '../../src/kv/kv.js';
import { createMemoryBackend, createMemoryKv, type MemoryBackend } from '../../src/kv/memory.js';
import { createRedisKv, parseClusterUrl } from '../../src/kv/redis.js';
import { Cluster, Redis } from 'ioredis';
import { migrate } from '../../src/db/migrate.js';

/** embedded: PGlite + in-process store (the default); services: real Postgres + Redis. */
export const BACKEND = (process.env.TEST_BACKEND ?? 'embedded') as 'embedded' | 'services';
export const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** One isolated set of stores: its own database (or PGlite) and its own key prefix. */
export interface Stores {
  /** Opens another handle on the same database and key space (a second app instance). */
  sql: Sql;
  kv: Kv;
  databaseUrl?: string;
  kvPrefix: string;
  memoryBackend?: MemoryBackend;
  /** A second pair of connections to the same data, as a second instance would have. */
  another(): Promise<{ sql: Sql; kv: Kv; close(): Promise<void> }>;
  drop(): Promise<void>;
}

const rand = () => randomBytes(6).toString('hex');

/**
 * The run's migrated PGlite dump (test/helpers/global-setup.ts), read once per test file; undefined when the
 * run has none (services backend, or a config without that global setup): then each database migrates itself.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    /** A dumped, migrated PGlite data directory (embedded backend), or '' when there is none. */
    pgliteTemplate: string;
  }
}
let templateBlob: Blob | undefined | null = null;
function template(): Blob | undefined {
  if (templateBlob === null) {
    const file = BACKEND === 'embedded' ? inject('pgliteTemplate') : '';
    templateBlob = file ? new Blob([readFileSync(file)]) : undefined;
  }
  return templateBlob;
}

async function adminQuery(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/**
 * Creates fresh, migrated stores for one test file. `redisUrl` puts the key–value store on that Redis
 * (on either backend: the outage tests start and stop their own redis-server).
 */
export async function createStores(opts: { now?: () => number; migrate?: boolean; redisUrl?: string } = {}): Promise<Stores> {
  const kvPrefix = `aptest-${rand()}:`;
  if (opts.redisUrl) return withRedisKv(await createStores({ ...opts, redisUrl: undefined }), opts.redisUrl, kvPrefix);
  if (BACKEND === 'services') {
    const dbName = `ap_test_${process.pid}_${rand()}`;
    await adminQuery(`CREATE DATABASE ${dbName}`);
    const databaseUrl = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`);
    const sql = createPgSql(databaseUrl, { max: 5 });
    const kv = await createRedisKv(REDIS_URL, { prefix: kvPrefix });
    if (opts.migrate !== false) await migrate(sql);
    const extra: (() => Promise<void>)[] = [];
    return {
      sql, kv, databaseUrl, kvPrefix,
      async another() {
        const s2 = createPgSql(databaseUrl, { max: 5 });
        const k2 = await createRedisKv(REDIS_URL, { prefix: kvPrefix });
        const close = async () => { await s2.close().catch(() => {}); await k2.close().catch(() => {}); };
        extra.push(close);
        return { sql: s2, kv: k2, close };
      },
      async drop() {
        for (const c of extra) await c();
        await sql.close().catch(() => {});
        await deleteKeys(kv, kvPrefix);
        await kv.close().catch(() => {});
        await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      },
    };
  }
  const sql = opts.migrate !== false && template() ? await createPgliteSql(undefined, { loadDataDir: template() }) : await createPgliteSql();
  const memoryBackend = createMemoryBackend({ now: opts.now });
  const kv = createMemoryKv({ prefix: kvPrefix, backend: memoryBackend });
  if (opts.migrate !== false && !template()) await migrate(sql);
  return {
    sql, kv, kvPrefix, memoryBackend,
    async another() {
      // One process cannot open a second PGlite on the same data: the second "instance" shares the
      // database handle and gets its own store handle on the shared in-process backend.
      const k2 = createMemoryKv({ prefix: kvPrefix, backend: memoryBackend });
      return { sql: { ...sql, close: async () => {} }, kv: k2, close: async () => { await k2.close(); } };
    },
    async drop() {
      await kv.close().catch(() => {});
      await sql.close().catch(() => {});
    },
  };
}

/** The same database with the key–value store on the Redis at `url` instead. */
async function withRedisKv(base: Stores, url: string, kvPrefix: string): Promise<Stores> {
  await base.kv.close().catch(() => {});
  const kv = await createRedisKv(url, { prefix: kvPrefix });
  const extra: (() => Promise<void>)[] = [];
  return {
    sql: base.sql, kv, databaseUrl: base.databaseUrl, kvPrefix,
    async another() {
      const h = await base.another();
      await h.kv.close().catch(() => {});
      const k2 = await createRedisKv(url, { prefix: kvPrefix });
      const close = async () => { await h.close().catch(() => {}); await k2.close().catch(() => {}); };
      extra.push(close);
      return { sql: h.sql, kv: k2, close };
    },
    async drop() {
      for (const c of extra) await c();
      await kv.close().catch(() => {});
      await base.drop();
    },
  };
}

async function deleteKeys(_kv: Kv, prefix: string): Promise<void> {
  const r = await rawRedis();
  try {
    await deleteMatching(r, `${prefix}*`);
  } finally {
    r.disconnect();
  }
}

/** Whether the test Redis (TEST_REDIS_URL) is a Redis Cluster (`redis+cluster://`). */
export const REDIS_IS_CLUSTER = /^rediss?\+cluster:\/\//.test(REDIS_URL);

/**
 * A plain ioredis client on `url` (default TEST_REDIS_URL), connected: a `Cluster` for a redis+cluster:// URL,
 * so that tests that inspect or change keys directly work on a cluster too. Call `disconnect()` when done.
 */
export async function rawRedis(url = REDIS_URL): Promise<Redis | Cluster> {
  if (/^rediss?\+cluster:\/\//.test(url)) {
    const { nodes, username, password } = parseClusterUrl(url);
    const c = new Cluster(nodes, { lazyConnect: true, redisOptions: { username, password, maxRetriesPerRequest: 1 } });
    await c.connect();
    return c;
  }
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  return r;
}

/** Every key matching `pattern`, on every master of a cluster (SCAN per node). */
export async function scanKeys(client: Redis | Cluster, pattern: string): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const out: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out;
}

/** Deletes every key matching `pattern` (one DEL per key on a cluster: keys of many slots). */
export async function deleteMatching(client: Redis | Cluster, pattern: string): Promise<void> {
  const keys = await scanKeys(client, pattern);
  if (client instanceof Cluster) {
    for (let i = 0; i < keys.length; i += 200) await Promise.all(keys.slice(i, i + 200).map((k) => client.del(k)));
  } else {
    for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
  }
}
