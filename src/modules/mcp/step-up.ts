import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { MfaGate } from '../mfa/gate.js';
import type { Tenant } from '../tenants/schemas.js';

/**
 * The TOTP gate of DESIGN §4 for a mutating tool, with the same rules as src/http/step-up.ts and the
 * same challenges (src/modules/mfa/gate.ts). The challenge is bound to the user, the session, the method
 * `MCP` and the path `tool:<name>` (plus `/<id>` for a tool acting on one object, as the REST path names
 * it), so it cannot authorize a REST route or another tool. Resolves when the call may proceed:
 * - MFA off → proceeds, unless the tenant requires MFA of org owners/admins and this user is one
 *   → 403 mfa_enrollment_required;
 * - the session stepped up in the last 5 minutes → proceeds;
 * - `totpChallenge` naming a completed challenge bound to this call → spends it and proceeds;
 * - otherwise → totp_required with a new challenge (the tool result carries it).
 */
export async function requireToolStepUp(
  deps: { gate: MfaGate; audit: AuditService; basePath: string },
  o: { tenant: Tenant; principal: SessionPrincipal; tool: string; target?: string; challenge?: string; ctx: AuditContext },
): Promise<void> {
  const { gate, audit, basePath } = deps;
  const { tenant, principal: p, ctx } = o;
  const bound = { method: 'MCP', path: `tool:${o.tool}${o.target ? `/${o.target}` : ''}` };
  if (!(await gate.isEnabled(tenant.id, p.userId))) {
    if (await gate.mustEnroll(tenant, p)) {
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: p.userId }, action: 'mfa.enrollment_required', target: p.userId, outcome: 'denied', ...ctx, metadata: bound });
      throw new AppError('mfa_enrollment_required', `This tenant requires org owners and admins to use MFA: enable it (POST ${basePath}/mfa/setup, then ${basePath}/mfa/enable) before calling this tool.`);
    }
    return;
  }
  if (gate.isSteppedUp(p)) return;
  let refusal = 'This tool changes credentials and the session has not confirmed a TOTP code in the last 5 minutes.';
  if (o.challenge !== undefined) {
    if (await gate.redeem(tenant, p, o.challenge, bound, ctx)) return;
    refusal = 'The totpChallenge is unknown, expired, already used, not yet completed, or was issued for another session or call.';
  }
  const challenge = await gate.issue(tenant, p, bound, ctx);
  throw new AppError('totp_required', `${refusal} Complete the challenge with POST ${basePath}/totp/complete {"challenge","code"} (same access token, a current TOTP code), then call this tool again with the same arguments plus "totpChallenge": "<challenge>".`, { challenge });
}
