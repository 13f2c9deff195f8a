import QRCode from 'qrcode';
import type { Sql, Tx } from '../../db/sql.js';
import type { Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { userStore } from '../users/store.js';
import type { SessionService } from '../sessions/service.js';
import type { SignIn } from '../sessions/sign-in.js';
import { createMfaKvStore } from './kv-store.js';
import { createMfaGate, STEP_UP_TTL_MS, type OrgAdminLookup } from './gate.js';
import { createMfaLogin } from './login.js';
import { newRecoveryCodes } from './recovery-codes.js';
import { mfaStore } from './store.js';
import { matchTotpStep, newTotpSecret, otpauthUri } from './totp.js';
import { createCodeVerifier, type SecondFactorInput, type VerifyContext } from './verifier.js';
import type { Events } from '../webhooks/events.js';

export type MfaService = ReturnType<typeof createMfaService>;

export interface MfaDeps {
  sql: Sql;
  events?: Events;
  kv: Kv;
  clock: Clock;
  authSecret: string;
  audit: AuditService;
  sessions: SessionService;
  signIn: SignIn;
  /** read at call time: filled by later capabilities */
  hooks: { orgAdmin?: OrgAdminLookup };
}

const actor = (p: SessionPrincipal) => ({ type: 'user', id: p.userId });
// A code for an account without MFA is a wrong code (401, MFA-07: old codes after disable fail), said plainly.
const notEnabled = () => new AppError('invalid_code', 'MFA is not enabled for this account, so no code is valid; set it up with POST /mfa/setup and /mfa/enable.');

/**
 * TOTP MFA (DESIGN §4): setup → enable with a first code (→ recovery codes), status, step-up
 * (/mfa/verify, /mfa/recovery), disable, recovery-code renewal; plus the sign-in step and the gate.
 */
export function createMfaService(deps: MfaDeps) {
  const { sql, clock, audit, sessions } = deps;
  const kv = createMfaKvStore(deps.kv);
  const verifier = createCodeVerifier({ sql, clock, audit, kv, authSecret: deps.authSecret });
  const login = createMfaLogin({ sql, clock, audit, kv, verifier, signIn: deps.signIn });
  const gate = createMfaGate({ sql, clock, audit, kv, verifier, hooks: deps.hooks });
  const vctx = (tenant: Tenant, p: SessionPrincipal, action: string, ctx: AuditContext): VerifyContext => ({ tenantId: tenant.id, userId: p.userId, action, actor: actor(p), ctx });

  /** Stores ten new recovery codes (replacing any) and returns them for the one time they are shown. */
  async function issueRecoveryCodes(tenantId: string, userId: string, now: Date, tx: Tx): Promise<string[]> {
    const codes = newRecoveryCodes();
    await mfaStore.replaceRecoveryCodes(tx, tenantId, userId, codes.map((c) => verifier.recoveryDigest(tenantId, userId, c)!), now);
    return codes;
  }

  /** Marks the session stepped up now and mints an access token with `otp` in amr (MFA-10). */
  async function stepUp(tenant: Tenant, p: SessionPrincipal) {
    await sessions.markStepUp(p);
    const at = await sessions.reissue(tenant, p, { addAmr: ['otp'] });
    return { stepUpExpiresAt: new Date(clock.nowMs() + STEP_UP_TTL_MS).toISOString(), accessToken: at.accessToken, expiresIn: at.expiresIn };
  }

  return {
    secondFactor: login.secondFactor,
    completeLogin: login.complete,
    gate,

    async status(tenantId: string, userId: string): Promise<{ enabled: boolean; recoveryCodesRemaining: number }> {
      return sql.tx(tenantId, async (tx) => {
        const f = await mfaStore.factor(tx, userId);
        return { enabled: !!f?.enabledAt, recoveryCodesRemaining: f?.enabledAt ? await mfaStore.recoveryCodesRemaining(tx, userId) : 0 };
      });
    },

    /**
     * Starts (or restarts) enrolment with a new secret; nothing is enabled until /mfa/enable.
     * 409 while MFA is enabled: the active secret is never replaced (MFA-07).
     */
    async setup(tenant: Tenant, p: SessionPrincipal, ctx: AuditContext) {
      const secret = newTotpSecret();
      const user = await sql.tx(tenant.id, (tx) => userStore.byId(tx, p.userId));
      if (!user) throw new AppError('invalid_token', 'The account is no longer active.');
      const stored = await sql.tx(tenant.id, (tx) => mfaStore.putPending(tx, { tenantId: tenant.id, userId: p.userId, secretSealed: verifier.box.seal(tenant.id, p.userId, secret), now: clock.now() }));
      if (!stored) throw new AppError('conflict', 'MFA is already enabled; the current secret stays. To change it, disable MFA first (POST /mfa/disable), then set it up again.');
      const uri = otpauthUri({ issuer: tenant.name, account: user.email ?? user.id, secretBase32: secret });
      const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.setup', target: p.userId, outcome: 'success', ...ctx });
      return { secret, otpauthUri: uri, qrCodeDataUrl: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` };
    },

    /**
     * Confirms the pending secret with a valid code and enables MFA; returns ten recovery codes, shown
     * once. Other sessions of the user are ended (SES-03): they were opened without the new factor.
     */
    async enable(tenant: Tenant, p: SessionPrincipal, code: string, ctx: AuditContext) {
      const v = vctx(tenant, p, 'mfa.enable', ctx);
      const f = await sql.tx(tenant.id, (tx) => mfaStore.factor(tx, p.userId));
      if (!f) throw new AppError('conflict', 'There is no pending MFA setup; call POST /mfa/setup first.');
      if (f.enabledAt) throw new AppError('conflict', 'MFA is already enabled.');
      await verifier.countAttempt(v);
      const now = clock.now();
      const step = matchTotpStep(verifier.box.open(f), code, now.getTime() / 1000, null);
      if (step === null) return verifier.fail(v, 'totp', 'wrong_code');
      const enabled = await sql.tx(tenant.id, async (tx) => {
        if (!(await mfaStore.enable(tx, p.userId, f.secretSealed, step, now))) return null;
        const recoveryCodes = await issueRecoveryCodes(tenant.id, p.userId, now, tx);
        const revoked = await sessions.endAllIn(tx, tenant.id, p.userId, { except: p.sessionId });
        await deps.events?.emit(tx, tenant.id, 'mfa.enabled', { userId: p.userId, factor: 'totp' });
        return { recoveryCodes, revoked };
      });
      if (!enabled) return verifier.fail(v, 'totp', 'replayed_or_superseded');
      await verifier.succeeded(v);
      const { recoveryCodes: codes, revoked: otherSessionsRevoked } = enabled;
      await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.enable', target: p.userId, outcome: 'success', ...ctx, metadata: { otherSessionsRevoked } });
      return { enabled: true as const, recoveryCodes: codes, otherSessionsRevoked };
    },

    /** Turns MFA off with a TOTP or recovery code (the route is also gated); ends the user's other sessions. */
    async disable(tenant: Tenant, p: SessionPrincipal, input: SecondFactorInput, ctx: AuditContext) {
      if (!(await gate.isEnabled(tenant.id, p.userId))) throw notEnabled();
      const factor = await verifier.verify(vctx(tenant, p, 'mfa.disable', ctx), input);
      const otherSessionsRevoked = await sql.tx(tenant.id, async (tx) => {
        if (!(await mfaStore.remove(tx, p.userId))) return null;
        const revoked = await sessions.endAllIn(tx, tenant.id, p.userId, { except: p.sessionId });
        await deps.events?.emit(tx, tenant.id, 'mfa.disabled', { userId: p.userId, factor: 'totp' });
        return revoked;
      });
      if (otherSessionsRevoked === null) throw notEnabled();
      await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.disable', target: p.userId, outcome: 'success', ...ctx, metadata: { factor, otherSessionsRevoked } });
      return { enabled: false as const, otherSessionsRevoked };
    },

    /** Step-up with a TOTP code: the session counts as MFA-verified for 5 minutes. */
    async verify(tenant: Tenant, p: SessionPrincipal, code: string, ctx: AuditContext) {
      if (!(await gate.isEnabled(tenant.id, p.userId))) throw notEnabled();
      await verifier.verify(vctx(tenant, p, 'mfa.step_up', ctx), { totp: code });
      const out = await stepUp(tenant, p);
      await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.step_up', target: p.sessionId, outcome: 'success', ...ctx, metadata: { factor: 'totp' } });
      return out;
    },

    /** Step-up with a recovery code (the authenticator is lost): uses the code up. */
    async recovery(tenant: Tenant, p: SessionPrincipal, code: string, ctx: AuditContext) {
      if (!(await gate.isEnabled(tenant.id, p.userId))) throw notEnabled();
      await verifier.verify(vctx(tenant, p, 'mfa.step_up', ctx), { recoveryCode: code });
      const out = await stepUp(tenant, p);
      const recoveryCodesRemaining = await sql.tx(tenant.id, (tx) => mfaStore.recoveryCodesRemaining(tx, p.userId));
      await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.recovery_code.use', target: p.sessionId, outcome: 'success', ...ctx, metadata: { flow: 'step_up', remaining: recoveryCodesRemaining } });
      return { ...out, recoveryCodesRemaining };
    },

    /** Replaces the recovery codes with ten new ones (the route is gated). */
    async regenerateRecoveryCodes(tenant: Tenant, p: SessionPrincipal, ctx: AuditContext) {
      const now = clock.now();
      const codes = await sql.tx(tenant.id, async (tx) => {
        const f = await mfaStore.factor(tx, p.userId);
        return f?.enabledAt ? issueRecoveryCodes(tenant.id, p.userId, now, tx) : null;
      });
      if (!codes) throw new AppError('conflict', 'MFA is not enabled for this account; there are no recovery codes to renew.');
      await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.recovery_codes.regenerate', target: p.userId, outcome: 'success', ...ctx });
      return { recoveryCodes: codes };
    },

  };
}
