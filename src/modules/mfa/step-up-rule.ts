import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import type { MfaGate } from './gate.js';

/** What the caller tells the user, in the words of its own surface (REST route or MCP tool). */
export interface StepUpWording {
  /** 403 mfa_enrollment_required */
  enroll: string;
  /** the session has not stepped up and no challenge was presented */
  notSteppedUp: string;
  /** the presented challenge did not redeem */
  badChallenge: string;
  /** appended to either refusal: how to complete the new challenge and retry */
  howToRetry: string;
}

/**
 * The TOTP gate's rule (DESIGN §4), shared by the REST gate (src/http/step-up.ts) and MCP's mutating
 * tools (src/modules/mcp/step-up.ts). Resolves when the call may proceed:
 * - MFA off → proceeds, unless the tenant requires MFA of org owners/admins and this user is one
 *   → 403 mfa_enrollment_required (audited);
 * - the session stepped up in the last 5 minutes → proceeds;
 * - a `challenge` naming a completed challenge bound to this user, session and `bound` call → spends it
 *   (single use) and proceeds;
 * - otherwise → totp_required with a new challenge bound to the call.
 */
export async function enforceStepUp(
  deps: { gate: MfaGate; audit: AuditService },
  o: {
    tenant: Tenant; principal: SessionPrincipal; bound: { method: string; path: string }; ctx: AuditContext; wording: StepUpWording;
    /** The presented challenge, read only when it matters (the reader may refuse a malformed one). */
    challenge: () => string | undefined;
  },
): Promise<void> {
  const { gate, audit } = deps;
  const { tenant, principal: p, bound, ctx, wording } = o;
  if (!(await gate.isEnabled(tenant.id, p.userId))) {
    if (await gate.mustEnroll(tenant, p)) {
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: p.userId }, action: 'mfa.enrollment_required', target: p.userId, outcome: 'denied', ...ctx, metadata: bound });
      throw new AppError('mfa_enrollment_required', wording.enroll);
    }
    return;
  }
  if (gate.isSteppedUp(p)) return;
  let refusal = wording.notSteppedUp;
  const presented = o.challenge();
  if (presented !== undefined) {
    if (await gate.redeem(tenant, p, presented, bound, ctx)) return;
    refusal = wording.badChallenge;
  }
  const challenge = await gate.issue(tenant, p, bound, ctx);
  throw new AppError('totp_required', `${refusal} ${wording.howToRetry}`, { challenge });
}
