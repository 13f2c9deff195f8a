import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { randomToken, sha256 } from '../../lib/crypto.js';
import type { AdminPrincipal } from '../../http/principal.js';
import type { AuditService } from '../audit/service.js';
import { adminKeyStore } from './store.js';

export const ADMIN_KEY_MAX_DAYS = 365;

export type AdminKeyService = ReturnType<typeof createAdminKeyService>;

export function createAdminKeyService(deps: { sql: Sql; clock: Clock; audit: AuditService }) {
  const { sql, clock, audit } = deps;
  return {
    /** Creates an admin key; the plaintext `ak_…` is returned here once and never stored. */
    async create(input: { name: string; expiresInDays: number }): Promise<{ id: string; name: string; key: string; expiresAt: Date }> {
      if (!Number.isInteger(input.expiresInDays) || input.expiresInDays < 1 || input.expiresInDays > ADMIN_KEY_MAX_DAYS) {
        throw new RangeError(`expires-in-days must be a whole number from 1 to ${ADMIN_KEY_MAX_DAYS}`);
      }
      const name = input.name.trim();
      if (!name || name.length > 100) throw new RangeError('name must be 1 to 100 characters');
      const key = `ak_${randomToken(32)}`;
      const expiresAt = new Date(clock.nowMs() + input.expiresInDays * 86_400_000);
      const row = await sql.tx(null, (tx) => adminKeyStore.insert(tx, { name, keyHash: sha256(key), prefix: key.slice(0, 10), expiresAt }));
      await audit.record({ tenantId: null, actor: { type: 'system', id: 'cli' }, action: 'admin_key.create', target: row.id, outcome: 'success', metadata: { name, expiresAt: expiresAt.toISOString() } });
      return { id: row.id, name, key, expiresAt };
    },
    /** The principal of a live admin key, or null. Lookup is by SHA-256 digest (an index probe, not a comparison in JS). */
    async verify(key: string): Promise<AdminPrincipal | null> {
      if (!/^ak_[A-Za-z0-9_-]{43}$/.test(key)) return null;
      const now = clock.now();
      const row = await sql.tx(null, async (tx) => {
        const r = await adminKeyStore.findLive(tx, sha256(key), now);
        if (r) await adminKeyStore.touch(tx, r.id, now);
        return r;
      });
      return row ? { kind: 'admin', keyId: row.id, name: row.name } : null;
    },
  };
}
