import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import type { OAuthGrantCheck } from './oauth-tokens.js';

/** A live grant is remembered this long per (tenant, user, client): the staleness bound of a consent revocation. */
export const GRANT_CHECK_TTL_MS = 5_000;
const MAX_ENTRIES = 20_000;

/**
 * The OpenID Provider's grants as the MCP bearer sees them (src/modules/oidc-provider stores them in
 * `oidc_artifacts`, model `Grant`, under RLS). oidc-provider does not store its JWT access tokens and puts
 * no grant id in them, so a token is live while the user still holds a grant for its client that is not
 * newer than the token: revoking the consent (account page, admin deleting the client, a replayed code or
 * refresh token) deletes the grant rows and ends the client's access tokens; a token issued under an
 * earlier, revoked grant stays dead after the user consents again (the new grant is newer than the token).
 * One indexed SELECT per (tenant, user, client) every 5 s at most; only live answers are remembered.
 */
export function createOAuthGrantCheck(deps: { sql: Sql; clock: Clock }): OAuthGrantCheck & { forget(): void } {
  const { sql, clock } = deps;
  // key → { at: when checked, oldest: iat of the oldest live grant }
  const live = new Map<string, { at: number; oldest: number }>();

  return {
    async live(o) {
      const key = `${o.tenantId}|${o.userId}|${o.clientId}`;
      const now = clock.nowMs();
      const hit = live.get(key);
      if (hit && now - hit.at < GRANT_CHECK_TTL_MS && hit.oldest <= o.iat) return true;
      const { rows } = await sql.tx(o.tenantId, (tx) => tx.query<{ oldest: string | null }>(
        `SELECT min((payload->>'iat')::bigint) AS oldest FROM oidc_artifacts
          WHERE tenant_id = $1 AND model = 'Grant' AND account_id = $2 AND client_id = $3 AND (expires_at IS NULL OR expires_at > $4)`,
        [o.tenantId, o.userId, o.clientId, clock.now()]));
      const oldest = rows[0]?.oldest;
      if (oldest === null || oldest === undefined) {
        live.delete(key);
        return false;
      }
      if (live.size >= MAX_ENTRIES) live.clear();
      live.set(key, { at: now, oldest: Number(oldest) });
      return Number(oldest) <= o.iat;
    },
    forget() {
      live.clear();
    },
  };
}
