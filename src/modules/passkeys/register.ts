import { generateRegistrationOptions, verifyRegistrationResponse } from '@simplewebauthn/server';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { userStore } from '../users/store.js';
import { CHALLENGE_TTL_MS, isEmbedded, parseClientData, relyingParty, SUPPORTED_ALGS, userHandleOf, type createChallengeStore } from './ceremony.js';
import { passkeyStore, type Passkey } from './store.js';
import type { RegistrationCredential } from './schemas.js';

const MAX_CREDENTIAL_ID_BYTES = 1023;

/** Passkey registration for a signed-in user (options, then verify). */
export function createPasskeyRegistration(deps: { sql: Sql; clock: Clock; audit: AuditService; challenges: ReturnType<typeof createChallengeStore>; publicUrl: string }) {
  const { sql, clock, audit, challenges } = deps;
  const bad = (message: string) => new AppError('validation_failed', message);

  return {
    /** Creation options bound to this user and session (the challenge is single use, 5 minutes). */
    async options(tenant: Tenant, p: SessionPrincipal) {
      const { user, existing } = await sql.tx(tenant.id, async (tx) => ({
        user: await userStore.byId(tx, p.userId),
        existing: await passkeyStore.ofUser(tx, p.userId),
      }));
      if (!user) throw new AppError('invalid_token', 'The signed-in user no longer exists.');
      const { rpId } = relyingParty(tenant, deps.publicUrl);
      const challenge = await challenges.issue(tenant.id, 'reg', { userId: p.userId, sessionId: p.sessionId, bound: true });
      return generateRegistrationOptions({
        rpName: tenant.name,
        rpID: rpId,
        userID: userHandleOf(user.id),
        userName: user.email ?? user.name ?? `user-${user.id}`,
        userDisplayName: user.name ?? user.email ?? '',
        challenge,
        timeout: CHALLENGE_TTL_MS,
        attestationType: 'none',
        excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
        supportedAlgorithmIDs: SUPPORTED_ALGS,
      });
    },

    /**
     * Verifies the attestation against the challenge this session was given and stores the
     * credential. Any defect → 400 and nothing stored; a credential id known in the tenant → 409.
     */
    async verify(tenant: Tenant, p: SessionPrincipal, body: RegistrationCredential, ctx: AuditContext): Promise<Passkey> {
      const client = parseClientData(body.response.clientDataJSON);
      if (!client) throw bad('response.clientDataJSON is not base64url-encoded client data JSON.');
      const pending = await challenges.take(tenant.id, 'reg', client.challenge);
      if (!pending) throw bad('The registration challenge is unknown, used or expired; request new options.');
      if (pending.userId !== p.userId || pending.sessionId !== p.sessionId) throw bad('These registration options were issued to another session.');
      if (isEmbedded(client)) throw bad('Registration inside a cross-origin frame is not accepted.');
      const { rpId, origins } = relyingParty(tenant, deps.publicUrl);
      const fail = async (reason: string): Promise<never> => {
        await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: p.userId }, action: 'passkey.register', outcome: 'failure', ...ctx, metadata: { reason } });
        throw bad(`The passkey registration could not be verified: ${reason}`);
      };
      let result: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        const { name: _name, ...response } = body;
        result = await verifyRegistrationResponse({
          response: response as RegistrationResponseJSON,
          expectedChallenge: client.challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          requireUserPresence: true,
          requireUserVerification: true,
          supportedAlgorithmIDs: SUPPORTED_ALGS,
        });
      } catch (err) {
        return fail((err as Error).message.slice(0, 300));
      }
      if (!result.verified) return fail('the attestation did not verify');
      const info = result.registrationInfo;
      const cred = info.credential;
      if (Buffer.from(cred.id, 'base64url').length > MAX_CREDENTIAL_ID_BYTES) return fail('the credential id is longer than 1023 bytes');
      if (cred.id !== body.id.replace(/=+$/, '')) return fail('the credential id does not match the attested one');
      const stored = await sql.tx(tenant.id, (tx) => passkeyStore.insert(tx, {
        tenantId: tenant.id, userId: p.userId, credentialId: cred.id, publicKey: cred.publicKey, counter: cred.counter,
        transports: (body.response.transports ?? []).filter((t) => /^[a-z-]{1,32}$/.test(t)),
        deviceType: info.credentialDeviceType, backedUp: info.credentialBackedUp, aaguid: info.aaguid, name: body.name ?? null, now: clock.now(),
      }));
      if (!stored) {
        await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: p.userId }, action: 'passkey.register', outcome: 'failure', ...ctx, metadata: { reason: 'credential_exists' } });
        throw new AppError('conflict', 'This passkey is already registered.');
      }
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: p.userId }, action: 'passkey.register', target: stored.id, outcome: 'success', ...ctx, metadata: { deviceType: stored.deviceType, aaguid: stored.aaguid } });
      return stored;
    },
  };
}
