import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { MfaGate } from '../mfa/gate.js';
import { enforceStepUp } from '../mfa/step-up-rule.js';
import { AppError } from '../../http/errors.js';
import type { Tenant } from '../tenants/schemas.js';

/**
 * The TOTP gate of DESIGN §4 for a mutating tool: the rule REST routes follow (src/modules/mfa/step-up-rule.ts)
 * and the same challenges (src/modules/mfa/gate.ts). The challenge is bound to the user, the session, the method
 * `MCP` and the path `tool:<name>` (plus `/<id>` for a tool acting on one object, as the REST path names
 * it), so it cannot authorize a REST route or another tool. Resolves when the call may proceed:
 * - MFA off → proceeds, unless the tenant requires MFA of org owners/admins and this user is one
 *   → 403 mfa_enrollment_required;
 * - the session stepped up in the last 5 minutes → proceeds;
 * - `totpChallenge` naming a completed challenge bound to this call → spends it and proceeds;
 * - otherwise → totp_required with a new challenge (the tool result carries it).
 * An OAuth caller (`viaOAuth`) has no session of ours to step up nor to bind a challenge to, and REST does
 * not accept its token for POST /totp/complete: for a user with MFA the tool is refused (403 forbidden) instead
 * of answering a challenge nobody could complete.
 */
export async function requireToolStepUp(
  deps: { gate: MfaGate; audit: AuditService; basePath: string },
  o: { tenant: Tenant; principal: SessionPrincipal; tool: string; target?: string; challenge?: string; ctx: AuditContext; viaOAuth?: boolean },
): Promise<void> {
  const { basePath } = deps;
  if (o.viaOAuth && (await deps.gate.isEnabled(o.tenant.id, o.principal.userId))) {
    await deps.audit.record({ tenantId: o.tenant.id, actor: { type: 'user', id: o.principal.userId }, action: 'mfa.step_up_required', target: o.principal.userId, outcome: 'denied', ...o.ctx, metadata: { method: 'MCP', path: `tool:${o.tool}`, via: 'oauth' } });
    throw new AppError('forbidden', `${o.tool} needs a TOTP step-up for a user with MFA, which an OAuth access token cannot complete: do this on the account page or through the REST API with a session.`);
  }
  await enforceStepUp(deps, {
    tenant: o.tenant, principal: o.principal, challenge: () => o.challenge, ctx: o.ctx,
    bound: { method: 'MCP', path: `tool:${o.tool}${o.target ? `/${o.target}` : ''}` },
    wording: {
      enroll: `This tenant requires org owners and admins to use MFA: enable it (POST ${basePath}/mfa/setup, then ${basePath}/mfa/enable) before calling this tool.`,
      notSteppedUp: 'This tool changes credentials and the session has not confirmed a TOTP code in the last 5 minutes.',
      badChallenge: 'The totpChallenge is unknown, expired, already used, not yet completed, or was issued for another session or call.',
      howToRetry: `Complete the challenge with POST ${basePath}/totp/complete {"challenge","code"} (same access token, a current TOTP code), then call this tool again with the same arguments plus "totpChallenge": "<challenge>".`,
    },
  });
}
