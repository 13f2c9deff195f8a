import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { UserPrincipal } from '../../http/principal.js';
import type { SessionService } from '../sessions/service.js';
import { toSessionBody } from '../sessions/schemas.js';
import { apiKeyStore } from '../api-keys/store.js';
import { toApiKeyInfo } from '../api-keys/schemas.js';
import { passkeyStore } from '../passkeys/store.js';
import { toPasskeyBody } from '../passkeys/service.js';
import { mfaStore } from '../mfa/store.js';
import { orgStore } from '../orgs/store.js';
import { userStore } from '../users/store.js';
import { dataExportStore, EXPORT_AUDIT_LIMIT } from './store.js';
import type { UserExport } from './schemas.js';

export type DataExportService = ReturnType<typeof createDataExportService>;

const iso = (d: Date | string) => new Date(d).toISOString();
const isoOrNull = (d: Date | string | null) => (d === null ? null : iso(d));

/** The caller's own data as one JSON document (GDPR Art. 15 / 20), read in one transaction. */
export function createDataExportService(deps: { sql: Sql; clock: Clock; sessions: Pick<SessionService, 'list'> }) {
  const { sql, clock, sessions } = deps;
  return {
    /** Everything stored about the caller; 401 when the account is gone or disabled. */
    async exportFor(p: UserPrincipal): Promise<UserExport> {
      // An export tolerates replication lag: the read pool (DATABASE_READ_URL) when configured. The caller's
      // credential was checked before (and disabling a user ends its sessions and revokes its keys at once).
      const data = await sql.readTx(p.tenantId, async (tx) => {
        const user = await userStore.byId(tx, p.userId);
        if (!user || user.disabled) return null;
        const factor = await mfaStore.factor(tx, p.userId);
        return {
          user,
          keys: await apiKeyStore.listLive(tx, p.userId),
          orgs: (await orgStore.listForUser(tx, p.userId, 10_000, 0)).items,
          passkeys: await passkeyStore.ofUser(tx, p.userId),
          wallets: await dataExportStore.wallets(tx, p.userId),
          federated: await dataExportStore.federatedIdentities(tx, p.userId),
          mfaEnabledAt: factor?.enabledAt ?? null,
          recoveryCodesRemaining: factor?.enabledAt ? await mfaStore.recoveryCodesRemaining(tx, p.userId) : 0,
          audit: await dataExportStore.auditEvents(tx, p.userId, EXPORT_AUDIT_LIMIT),
        };
      });
      if (!data) throw new AppError('invalid_token', 'The account is no longer active.');
      const live = await sessions.list(p.tenantId, p.userId);
      const { user } = data;
      return {
        exportedAt: clock.now().toISOString(),
        profile: {
          id: user.id, tenantId: user.tenantId, email: user.email, name: user.name, emailVerified: user.emailVerified,
          hasPassword: user.passwordHash !== null, createdAt: iso(user.createdAt), updatedAt: iso(user.updatedAt), lastLoginAt: isoOrNull(user.lastLoginAt),
        },
        sessions: live.map((s) => toSessionBody(s, p.kind === 'session' ? p.sessionId : null)),
        apiKeys: data.keys.map(toApiKeyInfo),
        memberships: data.orgs.map((o) => ({ orgId: o.id, orgName: o.name, roles: o.roles })),
        passkeys: data.passkeys.map(toPasskeyBody),
        wallets: data.wallets.map((w) => ({ publicKey: w.public_key, createdAt: iso(w.created_at), lastUsedAt: isoOrNull(w.last_used_at) })),
        federatedIdentities: data.federated.map((f) => ({ issuer: f.issuer, subject: f.subject, email: f.email, createdAt: iso(f.created_at), lastUsedAt: isoOrNull(f.last_used_at) })),
        mfa: { enabled: data.mfaEnabledAt !== null, enabledAt: isoOrNull(data.mfaEnabledAt), recoveryCodesRemaining: data.recoveryCodesRemaining },
        auditEvents: data.audit.map((r) => ({
          id: r.id, occurredAt: iso(r.occurred_at), actor: { type: r.actor_type, id: r.actor_id }, action: r.action, target: r.target,
          outcome: r.outcome, ip: r.ip, userAgent: r.user_agent, requestId: r.request_id,
          metadata: (r.metadata && typeof r.metadata === 'object' ? r.metadata : {}) as Record<string, unknown>,
        })),
      };
    },
  };
}
