import { createHmac } from 'node:crypto';
import { generateAuthenticationOptions, verifyAuthenticationResponse } from '@simplewebauthn/server';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { constantTimeEqual, deriveKey } from '../../lib/crypto.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { SignIn, SignInResult } from '../sessions/sign-in.js';
import type { Tenant } from '../tenants/schemas.js';
import { publicUser, userStore } from '../users/store.js';
import { CHALLENGE_TTL_MS, isEmbedded, parseClientData, relyingParty, userHandleText, type createChallengeStore } from './ceremony.js';
import { passkeyStore, type Passkey } from './store.js';
import type { AuthenticationCredential } from './schemas.js';

/** Passkey sign-in: options (for an email, or discoverable), then verify → the one sign-in path. */
export function createPasskeyLogin(deps: { sql: Sql; clock: Clock; audit: AuditService; signIn: SignIn; challenges: ReturnType<typeof createChallengeStore>; publicUrl: string; authSecret: string }) {
  const { sql, clock, audit, signIn, challenges } = deps;
  const decoyKey = deriveKey(deps.authSecret, 'passkey-decoy-credential');

  /**
   * A stable, fake credential id for an email without passkeys, so that the options do not tell
   * who has an account or a passkey (PWD-05): the same answer shape, every time, for that email.
   */
  const decoyFor = (tenantId: string, email: string) =>
    createHmac('sha256', decoyKey).update(`${tenantId}\n${email.toLowerCase()}`).digest().subarray(0, 16).toString('base64url');

  const invalid = () => new AppError('invalid_credentials', 'The passkey could not be verified; request new options and try again.');

  return {
    async options(tenant: Tenant, input: { email?: string }) {
      const { rpId } = relyingParty(tenant, deps.publicUrl);
      let userId: string | null = null;
      let allow: Passkey[] = [];
      if (input.email) {
        const found = await sql.tx(tenant.id, async (tx) => {
          const user = await userStore.byEmail(tx, input.email!);
          return user && !user.disabled ? { user, creds: await passkeyStore.ofUser(tx, user.id) } : null;
        });
        if (found && found.creds.length > 0) {
          userId = found.user.id;
          allow = found.creds;
        }
      }
      const challenge = await challenges.issue(tenant.id, 'auth', { userId, bound: !!input.email, sessionId: null });
      return generateAuthenticationOptions({
        rpID: rpId,
        challenge,
        timeout: CHALLENGE_TTL_MS,
        userVerification: 'required',
        allowCredentials: !input.email ? undefined
          : allow.length ? allow.map((c) => ({ id: c.credentialId, transports: c.transports }))
            : [{ id: decoyFor(tenant.id, input.email) }],
      });
    },

    /**
     * Verifies an assertion: the challenge from the signed client data (single use), the credential
     * of this tenant, its owner against the ceremony and the user handle, origin, RP ID, UP+UV, the
     * signature, the backup-eligibility bit and the counter. Every failure → 401, audited.
     */
    async verify(tenant: Tenant, body: AuthenticationCredential, ctx: AuditContext): Promise<SignInResult> {
      const client = parseClientData(body.response.clientDataJSON);
      if (!client) throw new AppError('validation_failed', 'response.clientDataJSON is not base64url-encoded client data JSON.');
      const failure = async (reason: string, userId: string | null = null, action = 'user.login'): Promise<never> => {
        await audit.record({
          tenantId: tenant.id, actor: { type: userId ? 'user' : 'anonymous', id: userId }, action,
          outcome: action === 'user.login' ? 'failure' : 'denied', ...ctx, metadata: { method: 'passkey', reason, credential: body.id.slice(0, 64) },
        });
        throw invalid();
      };
      const pending = await challenges.take(tenant.id, 'auth', client.challenge);
      if (!pending) return failure('unknown_or_used_challenge');
      const cred = await sql.tx(tenant.id, (tx) => passkeyStore.byCredentialId(tx, body.id.replace(/=+$/, '')));
      if (!cred) return failure('unknown_credential');
      if (pending.bound && pending.userId !== cred.userId) return failure('credential_not_allowed', cred.userId);
      const handle = body.response.userHandle;
      // Discoverable sign-in names the user only through the handle: it must be there and be theirs.
      if (!pending.bound && !handle) return failure('missing_user_handle', cred.userId);
      if (handle && !constantTimeEqual(handle.replace(/=+$/, ''), userHandleText(cred.userId))) return failure('user_handle_mismatch', cred.userId);
      if (isEmbedded(client)) return failure('cross_origin', cred.userId);
      const { rpId, origins } = relyingParty(tenant, deps.publicUrl);
      let info: Awaited<ReturnType<typeof verifyAuthenticationResponse>>['authenticationInfo'];
      try {
        const r = await verifyAuthenticationResponse({
          response: body as AuthenticationResponseJSON,
          expectedChallenge: client.challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          // Counter 0 here: the library would judge the counter before the signature; we judge it
          // after the signature verified, in one guarded UPDATE (recordUse), and audit a regression.
          credential: { id: cred.credentialId, publicKey: cred.publicKey, counter: 0, transports: cred.transports },
          requireUserVerification: true,
        });
        if (!r.verified) return failure('bad_signature', cred.userId);
        info = r.authenticationInfo;
      } catch (err) {
        return failure(`invalid_assertion: ${(err as Error).message.slice(0, 200)}`, cred.userId);
      }
      // BE never changes for a credential (WebAuthn §6.1.3): a flip means another authenticator.
      if (info.credentialDeviceType !== cred.deviceType) return failure('backup_eligibility_changed', cred.userId);
      const now = clock.now();
      const user = await sql.tx(tenant.id, async (tx) => {
        if (!(await passkeyStore.recordUse(tx, cred.id, { counter: info.newCounter, backedUp: info.credentialBackedUp, now }))) return 'regression' as const;
        return userStore.byId(tx, cred.userId);
      });
      if (user === 'regression') {
        await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: cred.userId }, action: 'passkey.counter_regression', target: cred.id, outcome: 'denied', ...ctx, metadata: { storedCounter: cred.counter, presentedCounter: info.newCounter } });
        throw invalid();
      }
      if (!user) return failure('unknown_user', cred.userId);
      // RFC 8176: a device-bound credential is a hardware-secured key (hwk); a synced passkey is
      // copied between devices, so it is recorded as a software-secured key (swk).
      const amr = cred.deviceType === 'singleDevice' ? ['hwk'] : ['swk'];
      return signIn.complete({ tenant, user: publicUser(user), amr, method: 'passkey', ctx });
    },
  };
}
