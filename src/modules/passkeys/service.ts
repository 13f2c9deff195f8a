import type { Sql } from '../../db/sql.js';
import type { Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { SignIn } from '../sessions/sign-in.js';
import type { Tenant } from '../tenants/schemas.js';
import { lockAndCountSignInMethods } from '../solana/sign-in-methods.js';
import { createChallengeStore } from './ceremony.js';
import { createPasskeyLogin } from './login.js';
import { createPasskeyRegistration } from './register.js';
import { passkeyStore, type Passkey } from './store.js';
import type { PasskeyBody } from './schemas.js';

export type PasskeyService = ReturnType<typeof createPasskeyService>;

export const toPasskeyBody = (p: Passkey): PasskeyBody => ({
  id: p.id, name: p.name, deviceType: p.deviceType, backedUp: p.backedUp, transports: p.transports, aaguid: p.aaguid,
  createdAt: p.createdAt.toISOString(), lastUsedAt: p.lastUsedAt?.toISOString() ?? null,
});

/** WebAuthn passkeys (@simplewebauthn/server): registration, sign-in, listing and removal. */
export function createPasskeyService(deps: { sql: Sql; kv: Kv; clock: Clock; audit: AuditService; signIn: SignIn; publicUrl: string; authSecret: string }) {
  const { sql, audit } = deps;
  const challenges = createChallengeStore(deps.kv, deps.clock);
  const registration = createPasskeyRegistration({ ...deps, challenges });
  const login = createPasskeyLogin({ ...deps, challenges });
  return {
    registrationOptions: registration.options,
    verifyRegistration: registration.verify,
    loginOptions: login.options,
    verifyLogin: login.verify,

    async list(tenant: Tenant, userId: string, page: { limit: number; offset: number }) {
      const { items, total } = await sql.tx(tenant.id, (tx) => passkeyStore.pageOfUser(tx, userId, page.limit, page.offset));
      return { items: items.map(toPasskeyBody), total, ...page };
    },

    /** Removes one of the user's passkeys: 404 when it is not theirs, 409 when it is their last way in. */
    async remove(tenant: Tenant, userId: string, id: string, ctx: AuditContext): Promise<void> {
      await sql.tx(tenant.id, async (tx) => {
        const methods = await lockAndCountSignInMethods(tx, userId);
        if (!(await passkeyStore.ownedBy(tx, id, userId))) throw new AppError('not_found', 'No such passkey.');
        if ((methods ?? 0) <= 1) throw new AppError('conflict', 'This passkey is the only way to sign in to this account; add another sign-in method before removing it.');
        await passkeyStore.deleteOwn(tx, id, userId);
      });
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: userId }, action: 'passkey.delete', target: id, outcome: 'success', ...ctx });
    },
  };
}
