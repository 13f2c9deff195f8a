import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { publicUser, userStore } from '../users/store.js';
import type { SignIn, SignInResult } from '../sessions/sign-in.js';
import type { PasswordHasher } from './hasher.js';
import { normalizePassword, passwordProblem } from './policy.js';
import { clientKey } from '../rate-limit/client-ip.js';
import type { Events } from '../webhooks/events.js';

/** Per-account limits on failed sign-ins (the rate-limit module provides it). */
export interface LoginThrottle {
  /** Throws rate_limited while the account is slowed down. */
  check(tenantId: string, accountKey: string): Promise<void>;
  failed(tenantId: string, accountKey: string): Promise<void>;
  succeeded(tenantId: string, accountKey: string): Promise<void>;
}

export type PasswordService = ReturnType<typeof createPasswordService>;

const INVALID = 'The email or password is incorrect.';

/** The hash pool's per-client share is keyed like the rate limits (RL-04: one key per IPv4 address or IPv6 /64). */
const clientOf = (ctx: AuditContext): string | undefined => (ctx.ip ? clientKey(ctx.ip) : undefined);

export function createPasswordService(deps: { sql: Sql; clock: Clock; hasher: PasswordHasher; signIn: SignIn; audit: AuditService; hooks: { throttle?: LoginThrottle }; events?: Events }) {
  const { sql, clock, hasher, signIn, audit, hooks, events } = deps;

  /** Throws validation_failed naming the rule when the password is refused. */
  const checkPassword = (password: string, email: string | null, tenant: Tenant) => {
    const problem = passwordProblem(password, { email, tenantSlug: tenant.slug });
    if (problem) throw new AppError('validation_failed', `The password ${problem}.`, { details: [{ path: 'password', message: problem }] });
  };

  return {
    checkPassword,
    /** Creates a password user and signs them in; 409 email_taken when the email is registered in this tenant. */
    async register(tenant: Tenant, input: { email: string; password: string; name?: string | null }, ctx: AuditContext): Promise<SignInResult> {
      if (!tenant.settings.passwordSignup) throw new AppError('forbidden', 'This tenant does not allow sign-up with a password.');
      checkPassword(input.password, input.email, tenant);
      const passwordHash = await hasher.hash(normalizePassword(input.password), { client: clientOf(ctx) });
      const user = await sql.tx(tenant.id, async (tx) => {
        const u = await userStore.insert(tx, { tenantId: tenant.id, email: input.email, name: input.name ?? null, passwordHash, now: clock.now() });
        if (u) await events?.emit(tx, tenant.id, 'user.created', { userId: u.id, email: u.email, method: 'password' });
        return u;
      });
      if (!user) {
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, action: 'user.signup', outcome: 'failure', ...ctx, metadata: { reason: 'email_taken', email: input.email } });
        throw new AppError('email_taken', 'An account with this email already exists; sign in instead.');
      }
      return signIn.complete({ tenant, user: publicUser(user), amr: ['pwd'], method: 'password', ctx, isNewUser: true });
    },

    /**
     * Verifies email + password. Unknown, password-less and disabled accounts run a dummy argon2id
     * verification and get the same 401 as a wrong password, so neither the answer nor its timing
     * tells which accounts exist.
     */
    async login(tenant: Tenant, input: { email: string; password: string }, ctx: AuditContext): Promise<SignInResult> {
      const accountKey = input.email.toLowerCase();
      await hooks.throttle?.check(tenant.id, accountKey);
      const password = normalizePassword(input.password);
      const user = await sql.tx(tenant.id, (tx) => userStore.byEmailForSignIn(tx, input.email));
      // A 503 from a busy pool leaves the attempt counted by check() above, like a failure (issue 25).
      const job = { client: clientOf(ctx) };
      const ok = user?.passwordHash && !user.disabled ? await hasher.verify(user.passwordHash, password, job) : await hasher.verifyDummy(password, job);
      if (!ok || !user) {
        await hooks.throttle?.failed(tenant.id, accountKey);
        await audit.record({
          tenantId: tenant.id, actor: { type: user ? 'user' : 'anonymous', id: user?.id ?? null }, action: 'user.login', outcome: 'failure', ...ctx,
          metadata: { method: 'password', email: input.email, reason: !user ? 'unknown_email' : user.disabled ? 'disabled' : !user.passwordHash ? 'no_password' : 'wrong_password' },
        });
        throw new AppError('invalid_credentials', INVALID);
      }
      await hooks.throttle?.succeeded(tenant.id, accountKey);
      if (hasher.needsRehash(user.passwordHash!)) {
        // Not counted in the address's share: the password is already proven right.
        const upgraded = await hasher.hash(password);
        await sql.tx(tenant.id, (tx) => userStore.setPasswordHash(tx, user.id, upgraded, clock.now()));
      }
      const { mfaEnabled, ...found } = user;
      return signIn.complete({ tenant, user: publicUser(found), amr: ['pwd'], method: 'password', ctx, mfaEnabled });
    },
  };
}
