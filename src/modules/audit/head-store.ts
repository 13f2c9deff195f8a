import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { kvKey, type Kv } from '../../kv/kv.js';

/**
 * Where the signed head of each audit chain is kept: outside the audit table, so that deleting the newest
 * rows (or a whole chain) is seen by `audit-verify` even by someone who can write the table.
 * - Redis (production): one key per chain, `{<tenant>}:audit:head`.
 * - The in-process store is lost on restart, so with it the heads live in DATA_DIR/audit-heads/ (one small
 *   file per chain, replaced atomically) — where the CLI, a separate process, can read them too.
 */
export interface HeadStore {
  get(tenantId: string | null): Promise<string | null>;
  /** Replaces the head of the chain; throws when it cannot be stored (the audit write then fails closed). */
  set(tenantId: string | null, head: string): Promise<void>;
}

export function createKvHeadStore(kv: Kv): HeadStore {
  const key = (tenantId: string | null) => kvKey(tenantId, 'audit', 'head');
  return {
    get: (tenantId) => kv.get(key(tenantId)),
    set: async (tenantId, head) => { await kv.set(key(tenantId), head); },
  };
}

export function createFileHeadStore(dataDir: string): HeadStore {
  const dir = path.join(dataDir, 'audit-heads');
  const file = (tenantId: string | null) => {
    if (tenantId !== null && !/^[0-9a-f-]{36}$/i.test(tenantId)) throw new Error('a tenant id is a uuid');
    return path.join(dir, `${tenantId ?? 'platform'}.head`);
  };
  let made = false;
  return {
    async get(tenantId) {
      try {
        return readFileSync(file(tenantId), 'utf8').trim() || null;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    async set(tenantId, head) {
      if (!made) { mkdirSync(dir, { recursive: true, mode: 0o700 }); made = true; }
      const target = file(tenantId);
      const tmp = `${target}.${process.pid}.tmp`;
      writeFileSync(tmp, `${head}\n`, { mode: 0o600 });
      renameSync(tmp, target);
    },
  };
}

/** Redis keeps the heads when it is the store; the in-process store is not durable, so DATA_DIR is used. */
export function createHeadStore(o: { kv: Kv; dataDir: string }): HeadStore {
  return o.kv.kind === 'redis' ? createKvHeadStore(o.kv) : createFileHeadStore(o.dataDir);
}
