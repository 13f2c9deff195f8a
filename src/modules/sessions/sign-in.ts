import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import type { User } from '../users/store.js';
import { toUserBody, type AuthResponse, type MfaRequiredResponse } from '../users/schemas.js';
import type { IssuedTokens, SessionService } from './service.js';

/** A second factor the sign-in must pass first (the MFA module provides it). */
export interface SecondFactorStep {
  /**
   * An MfaRequiredResponse when `user` must present a second factor before a session exists; null otherwise.
   * `mfaEnabled`: whether the factor is enabled, when the caller read it in the same statement as
   * `user.sessionEpoch` (SignInInput.mfaEnabled); without it the step reads it itself.
   */
  challenge(tenant: Tenant, user: User, o: { amr: string[]; method: string; ctx: AuditContext; mfaEnabled?: boolean }): Promise<MfaRequiredResponse | null>;
}

/** Issues the default API key of a new user (the API-key module provides it). */
export interface SignupKeyIssuer {
  issueSignupKey(tenant: Tenant, userId: string): Promise<string>;
}

export type SignInResult =
  | { kind: 'mfa'; body: MfaRequiredResponse }
  | { kind: 'session'; body: AuthResponse; tokens: IssuedTokens };

export interface SignInInput {
  tenant: Tenant;
  user: User;
  /** RFC 8176 methods of this sign-in: pwd, otp, swk, hwk, email, fed */
  amr: string[];
  /** audit label of the method: password, magic_link, solana, passkey, oauth, mfa */
  method: string;
  ctx: AuditContext;
  isNewUser?: boolean;
  /** true only for the MFA module completing a sign-in whose second factor it has just verified */
  secondFactorPassed?: boolean;
  /**
   * Whether the user's second factor is enabled, read in the same statement as `user.sessionEpoch`
   * (userStore.byEmailForSignIn): trusted instead of a read of its own, because enabling or disabling MFA
   * increments the epoch and the session starts only under the epoch read with the flag.
   */
  mfaEnabled?: boolean;
}

export type SignIn = ReturnType<typeof createSignIn>;

/**
 * The one place a sign-in becomes a session, whatever the method (STYLE: strategies hand off to one
 * session manager): refuses disabled users, applies the MFA step, starts the session, issues the new
 * user's API key, and audits. No session exists before the second factor (SECURITY MFA-04).
 */
export function createSignIn(deps: { sql: Sql; clock: Clock; sessions: SessionService; audit: AuditService; hooks: { secondFactor?: SecondFactorStep; signupKeys?: SignupKeyIssuer } }) {
  // (sql and clock: the last-login mark now happens inside sessions.start's transaction)
  const { sessions, audit, hooks } = deps;
  return {
    async complete(i: SignInInput): Promise<SignInResult> {
      if (i.user.disabled) throw new AppError('invalid_credentials', 'The email or password is incorrect.');
      if (!i.secondFactorPassed && hooks.secondFactor) {
        const mfa = await hooks.secondFactor.challenge(i.tenant, i.user, { amr: i.amr, method: i.method, ctx: i.ctx, mfaEnabled: i.mfaEnabled });
        if (mfa) {
          await audit.record({ tenantId: i.tenant.id, actor: { type: 'user', id: i.user.id }, action: 'auth.mfa_required', outcome: 'success', ...i.ctx, metadata: { method: i.method } });
          return { kind: 'mfa', body: mfa };
        }
      }
      // The sign-in's audit row commits with the session (sessions.start writes it last in its transaction).
      const tokens = await sessions.start(i.tenant, i.user.id, {
        amr: i.amr, method: i.method, ctx: i.ctx, stepUp: i.secondFactorPassed, sessionEpoch: i.user.sessionEpoch,
        audit: { action: i.isNewUser ? 'user.signup' : 'user.login', metadata: { method: i.method, amr: i.amr } },
      });
      let apiKey: string | undefined;
      if (i.isNewUser && i.tenant.settings.issueApiKeyOnSignup && hooks.signupKeys) {
        apiKey = await hooks.signupKeys.issueSignupKey(i.tenant, i.user.id);
      }
      return {
        kind: 'session',
        tokens,
        body: {
          user: toUserBody(i.user),
          tokens: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn },
          isNewUser: !!i.isNewUser,
          ...(apiKey ? { apiKey } : {}),
        },
      };
    },
  };
}
