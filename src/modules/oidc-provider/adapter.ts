import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from './lib.js';
import type { Sql, Tx } from '../../db/sql.js';
import type { Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { clientStore } from './client-store.js';

/** Models kept in the KV store: minutes-long, looked up by id only, never listed. */
const KV_MODELS = new Set(['Interaction', 'ReplayDetection', 'PushedAuthorizationRequest']);
/** Models consumed once; a second consumption is a replay (RFC 6749 §4.1.2, OAuth 2.1 §4.3.1). */
const SINGLE_USE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/** The KV key of a provider artifact kept in the KV store (see KV_MODELS). */
export const oidcKvKey = (tenantId: string, model: string, id: string) => `ap:{${tenantId}}:oidc:${model}:${id}`;

/**
 * The origin of the client redirect_uri of a pending interaction (already checked by the provider against
 * the client's registered URIs), or null. The sign-in pages add it to their CSP form-action: the sign-in
 * POST's redirect chain can end at the client (Chromium applies form-action to every hop).
 */
export async function interactionClientOrigin(kv: Kv, tenantId: string, uid: string): Promise<string | null> {
  const raw = await kv.get(oidcKvKey(tenantId, 'Interaction', uid));
  if (!raw) return null;
  try {
    const uri = (JSON.parse(raw) as { params?: { redirect_uri?: unknown } }).params?.redirect_uri;
    return typeof uri === 'string' ? new URL(uri).origin : null;
  } catch {
    return null;
  }
}

export interface AdapterHooks {
  /** Called (inside no transaction) after a replayed code or refresh token revoked its grant. */
  onReplay(o: { model: string; grantId: string | null; clientId: string | null; accountId: string | null }): Promise<void>;
}

interface ArtifactRow { payload: AdapterPayload; consumed_at: Date | null; expires_at: Date | null }

/** Deletes every artifact of a grant (tokens, codes and the grant itself); returns how many. */
export async function revokeGrantRows(tx: Tx, tenantId: string, grantId: string): Promise<number> {
  const r = await tx.query('DELETE FROM oidc_artifacts WHERE tenant_id = $1 AND (grant_id = $2 OR (model = $3 AND id = $2))', [tenantId, grantId, 'Grant']);
  return r.rowCount;
}

/**
 * The oidc-provider adapter of one tenant's provider: Postgres rows under the tenant's RLS scope for
 * everything that must outlive a restart or be revocable, the KV store for interactions. Consuming a
 * code or a refresh token is one guarded UPDATE: when two requests race with the same code, exactly one
 * wins; the loser (and any later replay) revokes the grant's tokens and gets invalid_grant — the check
 * oidc-provider does in JS (`if (code.consumed)`) alone cannot see a concurrent consumer.
 */
export function createAdapterClass(deps: { sql: Sql; kv: Kv; clock: Clock; tenantId: string; hooks: AdapterHooks }) {
  const { sql, kv, clock, tenantId } = deps;
  const kvKey = (model: string, id: string) => oidcKvKey(tenantId, model, id);

  /** The one live row of `model` matching `where` ($3 = value), with `consumed` set when it was used. */
  async function one(model: string, where: string, value: string): Promise<AdapterPayload | undefined> {
    const { rows } = await sql.tx(tenantId, (tx) => tx.query<ArtifactRow>(
      `SELECT payload, consumed_at, expires_at FROM oidc_artifacts WHERE tenant_id = $1 AND model = $2 AND ${where}
        AND (expires_at IS NULL OR expires_at > $4) LIMIT 1`, [tenantId, model, value, clock.now()]));
    const r = rows[0];
    if (!r) return undefined;
    return r.consumed_at ? { ...r.payload, consumed: Math.floor(new Date(r.consumed_at).getTime() / 1000) } : r.payload;
  }

  return class PgAdapter implements Adapter {
    constructor(readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      if (this.model === 'Client') return clientStore.upsertDynamic(sql, clock, tenantId, id, payload);
      if (KV_MODELS.has(this.model)) {
        await kv.set(kvKey(this.model, id), JSON.stringify(payload), expiresIn ? { ttlMs: expiresIn * 1000 } : {});
        return;
      }
      const expiresAt = expiresIn ? new Date(clock.nowMs() + expiresIn * 1000) : null;
      await sql.tx(tenantId, (tx) => tx.query(
        `INSERT INTO oidc_artifacts (tenant_id, model, id, payload, grant_id, uid, account_id, client_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
           uid = EXCLUDED.uid, account_id = EXCLUDED.account_id, client_id = EXCLUDED.client_id, expires_at = EXCLUDED.expires_at`,
        [tenantId, this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null,
          payload.accountId ?? null, payload.clientId ?? null, expiresAt]));
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return clientStore.findForProvider(sql, tenantId, id);
      if (KV_MODELS.has(this.model)) {
        const raw = await kv.get(kvKey(this.model, id));
        return raw ? JSON.parse(raw) as AdapterPayload : undefined;
      }
      return one(this.model, 'id = $3', id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return one(this.model, 'uid = $3', uid);
    }

    async findByUserCode(): Promise<AdapterPayload | undefined> {
      return undefined; // the device flow is not enabled
    }


    async consume(id: string): Promise<void> {
      const won = await sql.tx(tenantId, async (tx) => {
        const r = await tx.query<{ grant_id: string | null }>(
          'UPDATE oidc_artifacts SET consumed_at = $4 WHERE tenant_id = $1 AND model = $2 AND id = $3 AND consumed_at IS NULL RETURNING grant_id',
          [tenantId, this.model, id, clock.now()]);
        return r.rowCount === 1;
      });
      if (won || !SINGLE_USE.has(this.model)) return;
      // Lost the race (or a replay that slipped past oidc-provider's own check): treat it as a replay.
      const row = await sql.tx(tenantId, async (tx) => {
        const { rows } = await tx.query<{ grant_id: string | null; client_id: string | null; account_id: string | null }>(
          'SELECT grant_id, client_id, account_id FROM oidc_artifacts WHERE tenant_id = $1 AND model = $2 AND id = $3', [tenantId, this.model, id]);
        if (rows[0]?.grant_id) await revokeGrantRows(tx, tenantId, rows[0].grant_id);
        return rows[0];
      });
      await deps.hooks.onReplay({ model: this.model, grantId: row?.grant_id ?? null, clientId: row?.client_id ?? null, accountId: row?.account_id ?? null });
      throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'authorization code'} already used`);
    }

    async destroy(id: string): Promise<void> {
      if (this.model === 'Client') return clientStore.destroyDynamic(sql, tenantId, id);
      if (KV_MODELS.has(this.model)) {
        await kv.del(kvKey(this.model, id));
        return;
      }
      await sql.tx(tenantId, (tx) => tx.query('DELETE FROM oidc_artifacts WHERE tenant_id = $1 AND model = $2 AND id = $3', [tenantId, this.model, id]));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await sql.tx(tenantId, (tx) => tx.query('DELETE FROM oidc_artifacts WHERE tenant_id = $1 AND model = $2 AND grant_id = $3', [tenantId, this.model, grantId]));
    }
  };
}
