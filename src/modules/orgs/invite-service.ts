import type { Config } from '../../config.js';
import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { randomToken, sha256 } from '../../lib/crypto.js';
import { AppError } from '../../http/errors.js';
import { actorOf } from '../../http/principal.js';
import type { AuditService } from '../audit/service.js';
import type { AuthzCache } from '../authz/cache.js';
import { escapeHtml, type Mailer, type MailMessage } from '../mail/mailer.js';
import { allowedRedirect, linkFor } from '../one-time-tokens/mail.js';
import { userStore } from '../users/store.js';
import {
  auditDenials, customPermissions, loadAccess, requireAdminLevelCleared, requireGrantable, requirePermission, resolveRoles,
  type Caller, type GrantClearance,
} from './access.js';
import { inviteStore, type Invite } from './invite-store.js';
import { roleStore } from './role-store.js';
import { memberStore, orgStore, type Org } from './store.js';
import { isBuiltInRole, permissionsOf } from './roles.js';
import type { Events } from '../webhooks/events.js';

export const INVITE_TTL_MS = 7 * 24 * 3600_000;

export type InviteStatus = 'pending' | 'accepted' | 'expired';
export type InviteView = Invite & { status: InviteStatus };

export type InviteService = ReturnType<typeof createInviteService>;

const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').slice(0, 100);

function inviteMail(o: { to: string; org: Org; link: string; token: string }): MailMessage {
  const intro = `You have been invited to join the organization "${o.org.name}".`;
  const how = 'Sign in with this email address (verified), then open the link, or send the token to POST /invites/accept.';
  const note = 'The invitation works once and expires in 7 days. If you did not expect it, ignore this email — nothing will change and you do not join the organization.';
  return {
    to: o.to,
    subject: `Invitation to ${printable(o.org.name)}`,
    text: `${intro}\n\n${how}\n\n${o.link}\n\nToken: ${o.token}\n\n${note}\n`,
    html: `<!doctype html><html><body><p>${escapeHtml(intro)}</p><p>${escapeHtml(how)}</p>`
      + `<p><a href="${escapeHtml(o.link)}">Accept the invitation</a></p>`
      + `<p>Token: <code>${escapeHtml(o.token)}</code></p><p>${escapeHtml(note)}</p></body></html>`,
  };
}

/**
 * Org invitations: a 256-bit token stored as SHA-256, shown once to the inviter and mailed to the invitee,
 * single use, expiring in 7 days, bound to the invited email (the accepting account's verified email must match).
 */
export function createInviteService(deps: { sql: Sql; clock: Clock; audit: AuditService; cache: AuthzCache; mailer: Mailer; config: Readonly<Config>; events?: Events }) {
  const { sql, clock, audit, cache, mailer, config } = deps;
  const statusOf = (i: Invite): InviteStatus => (i.acceptedAt ? 'accepted' : i.expiresAt.getTime() <= clock.nowMs() ? 'expired' : 'pending');
  const record = (c: Caller, action: string, target: string, metadata: Record<string, unknown>) =>
    audit.record({ tenantId: c.tenant.id, actor: actorOf(c.principal), action, target, outcome: 'success', ...c.ctx, metadata });

  return {
    async list(c: Caller, orgId: string, paging: { limit: number; offset: number }): Promise<{ items: InviteView[]; total: number }> {
      const page = await sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId);
        requirePermission(a, 'invites:read');
        return inviteStore.list(tx, orgId, paging.limit, paging.offset);
      });
      return { items: page.items.map((i) => ({ ...i, status: statusOf(i) })), total: page.total };
    },

    /**
     * Creates (or replaces the open) invite for the address; the caller must be able to grant every role in it, and
     * an invite with admin-level roles (isAdminLevel) needs the route to have cleared it through the TOTP gate.
     */
    async create(c: Caller, orgId: string, input: { email: string; roles: string[]; redirectUrl?: string }, o: GrantClearance = {}): Promise<InviteView & { token: string }> {
      const redirectUrl = allowedRedirect(c.tenant, input.redirectUrl);
      const token = randomToken(32);
      const now = clock.now();
      const { invite, org } = await auditDenials(audit, c, 'invite.create', orgId, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId, { roles: true });
        requirePermission(a, 'invites:write');
        const roles = resolveRoles(a, input.roles, 'body.roles');
        requireGrantable(a, roles);
        requireAdminLevelCleared(permissionsOf(roles, customPermissions(a.custom)), o);
        const existing = await userStore.byEmail(tx, input.email);
        if (existing && (await memberStore.get(tx, orgId, existing.id))) {
          throw new AppError('conflict', 'This address already belongs to a member of the organization.');
        }
        await inviteStore.deleteOpenFor(tx, orgId, input.email);
        const i = await inviteStore.insert(tx, {
          tenantId: c.tenant.id, orgId, email: input.email, roles, tokenHash: sha256(token), invitedBy: c.principal.userId,
          now, expiresAt: new Date(now.getTime() + INVITE_TTL_MS),
        });
        await deps.events?.emit(tx, c.tenant.id, 'invite.created', { orgId, inviteId: i.id, email: i.email, roles: i.roles, invitedBy: c.principal.userId });
        return { invite: i, org: a.org };
      }));
      const link = linkFor({ publicUrl: config.publicUrl, basePath: config.basePath, path: '/invites/accept', token, redirectUrl, ui: config.ui, tenantSlug: c.tenant.slug });
      mailer.sendInBackground(inviteMail({ to: invite.email, org, link, token }));
      await record(c, 'invite.create', invite.id, { orgId, email: invite.email, roles: invite.roles });
      return { ...invite, status: 'pending', token };
    },

    async delete(c: Caller, orgId: string, inviteId: string): Promise<void> {
      const invite = await auditDenials(audit, c, 'invite.revoke', inviteId, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId);
        requirePermission(a, 'invites:write');
        const i = await inviteStore.delete(tx, orgId, inviteId);
        if (!i) throw new AppError('not_found', 'No such invite in this organization.');
        return i;
      }));
      await record(c, 'invite.revoke', inviteId, { orgId, email: invite.email });
    },

    /**
     * Accepts an invite for the signed-in user: the account's verified email must be the invited one. The token
     * is consumed in one guarded statement (one racer wins); if joining fails the consume rolls back with it.
     */
    async accept(c: Caller, token: string): Promise<Org & { roles: string[] }> {
      const hash = sha256(token);
      const now = clock.now();
      try {
        const { org, roles, inviteId } = await sql.tx(c.tenant.id, async (tx) => {
          const user = await userStore.byId(tx, c.principal.userId);
          if (!user || user.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
          if (!user.email || !user.emailVerified) {
            throw new AppError('forbidden', 'Verify your email address before accepting an invitation.');
          }
          const invite = await inviteStore.consume(tx, hash, { email: user.email, userId: user.id, now });
          if (!invite) {
            const known = await inviteStore.byTokenHash(tx, hash);
            if (!known) throw new AppError('not_found', 'No such invitation.');
            if (known.acceptedAt) throw new AppError('gone', 'This invitation has already been used.');
            if (known.expiresAt.getTime() <= now.getTime()) throw new AppError('gone', 'This invitation has expired.');
            throw new AppError('forbidden', 'This invitation was sent to another email address.');
          }
          // Custom roles deleted since the invite was sent no longer exist; the member then joins as `member`.
          const custom = new Set((await roleStore.list(tx, invite.orgId)).map((r) => r.name));
          const kept = invite.roles.filter((r) => isBuiltInRole(r) || custom.has(r));
          const roles = kept.length ? kept : ['member'];
          if (!(await memberStore.insert(tx, { tenantId: c.tenant.id, orgId: invite.orgId, userId: user.id, roles, now }))) {
            throw new AppError('conflict', 'You are already a member of this organization.');
          }
          await deps.events?.emit(tx, c.tenant.id, 'invite.accepted', { orgId: invite.orgId, inviteId: invite.id, userId: user.id, roles });
          await deps.events?.emit(tx, c.tenant.id, 'member.added', { orgId: invite.orgId, userId: user.id, roles, via: 'invite' });
          return { org: (await orgStore.byId(tx, invite.orgId))!, roles, inviteId: invite.id };
        });
        await cache.invalidate(c.tenant.id, org.id);
        await record(c, 'invite.accept', inviteId, { orgId: org.id, roles });
        return { ...org, roles };
      } catch (err) {
        if (err instanceof AppError && ['forbidden', 'gone', 'not_found', 'conflict'].includes(err.code)) {
          await audit.record({ tenantId: c.tenant.id, actor: actorOf(c.principal), action: 'invite.accept', target: null, outcome: 'denied', ...c.ctx, metadata: { reason: err.message } });
        }
        throw err;
      }
    },
  };
}
