import { AppError } from '../../http/errors.js';
import { toUserBody } from '../users/schemas.js';
import { orgView, page } from '../orgs/views.js';
import { toAuditEntry } from '../admin/schemas.js';
import {
  CheckPermissionInput, CheckPermissionOutput, GetAuditEventsInput, GetAuditEventsOutput, ListOrganizationsInput,
  ListOrganizationsOutput, ListPermissionsInput, ListPermissionsOutput, NoArguments, WhoamiOutput,
} from './schemas.js';
import { defineTool, permitted, READ_ONLY, userOf, type ToolDef, type ToolDeps } from './tool.js';
import { UserExportObject } from '../data-export/schemas.js';

/** Who am I, my organizations, permission checks, and (for the service token) the tenant's audit log. */
export function identityTools(d: ToolDeps, all: () => ToolDef[]): ToolDef[] {
  return [
    defineTool({
      name: 'whoami', title: 'Who am I',
      description: 'The caller: for an access token its user, tenant, session, active organization, roles, sign-in methods (amr) and whether MFA is on; for an OAuth client\'s token the user, the client and the granted scopes (no session); for the static MCP token the service principal and its tenant. Also lists the tools this caller may call.',
      input: NoArguments, output: WhoamiOutput, annotations: READ_ONLY, callers: 'both',
      async run(c) {
        const tools = all().filter((t) => permitted(t, c.caller, d.serviceTools)).map((t) => t.name);
        const tenant = { id: c.tenant.id, slug: c.tenant.slug };
        if (c.caller.kind === 'service') return { principal: 'mcp_service' as const, tenant, tools };
        const p = c.caller.principal;
        const user = await d.users.profile(p.tenantId, p.userId);
        if (!user || user.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
        const mfa = await d.mfa.status(p.tenantId, p.userId);
        if (c.caller.kind === 'oauth') {
          const g = c.caller.grant;
          return {
            principal: 'user' as const, tenant, user: toUserBody(user), orgId: p.orgId, roles: p.roles, mfaEnabled: mfa.enabled, tools,
            oauth: { clientId: g.clientId, scopes: [...g.scopes].sort(), expiresAt: new Date(g.exp * 1000).toISOString() },
          };
        }
        return {
          principal: 'user' as const, tenant, user: toUserBody(user), sessionId: p.sessionId, orgId: p.orgId, roles: p.roles, amr: p.amr,
          mfaEnabled: mfa.enabled, tools,
        };
      },
    }),

    defineTool({
      name: 'list_organizations', title: 'List my organizations',
      description: 'The organizations the user belongs to, with the user\'s roles in each (as GET /auth/orgs).',
      input: ListOrganizationsInput, output: ListOrganizationsOutput, annotations: READ_ONLY, callers: 'user',
      async run(c, args) {
        const caller = { principal: userOf(c), tenant: c.tenant, ctx: c.ctx };
        return page(await d.orgs.orgs.list(caller, args), args, orgView);
      },
    }),

    defineTool({
      name: 'check_permission', title: 'May I do this?',
      description: 'A decision from the same engine as POST /auth/authorize, for the calling user: {action: "resource:action", resource?: {type, id?}, orgId?} → {allowed, reason, policyId?}. Without orgId the token\'s active organization is used. subjectId and resource.attributes are for resource servers with an authz:check API key, so a user token is refused them, as over REST.',
      input: CheckPermissionInput, output: CheckPermissionOutput, annotations: READ_ONLY, callers: 'user',
      async run(c, args) {
        return d.authz.authorize(userOf(c), args, { ip: c.ip });
      },
    }),

    defineTool({
      name: 'list_permissions', title: 'My permissions in an organization',
      description: 'The user\'s roles and permission patterns in an organization (as POST /auth/permissions); without orgId the token\'s active organization. not_found when the user is not a member.',
      input: ListPermissionsInput, output: ListPermissionsOutput, annotations: READ_ONLY, callers: 'user',
      async run(c, args) {
        return d.authz.permissions(userOf(c), { orgId: args.orgId });
      },
    }),

    defineTool({
      name: 'export_my_data', title: 'Export my data',
      description: 'Everything stored about the calling user, as GET /auth/user/export: profile, sessions, API keys (masked), memberships, passkeys, wallets, federated identities, MFA status and the user\'s own audit events. No secret, token or hash.',
      input: NoArguments, output: UserExportObject, annotations: READ_ONLY, callers: 'user',
      async run(c) {
        return d.dataExport.exportFor(userOf(c));
      },
    }),

    defineTool({
      name: 'get_audit_events', title: 'Read the audit log',
      description: 'The tenant\'s audit events, newest first (as GET /auth/admin/audit, limited to the tenant the request names with X-Tenant-ID, or "default"). Admin-level: only the deployment\'s static MCP token may call it, and only when MCP_SERVICE_TOOLS includes it; user tokens are refused. Pass nextCursor as cursor for the next page.',
      input: GetAuditEventsInput, output: GetAuditEventsOutput, annotations: READ_ONLY, callers: 'service',
      async run(c, args) {
        if (c.caller.kind !== 'service') throw new AppError('forbidden', 'The audit log is admin-level: only the deployment\'s MCP token may read it.');
        const res = await d.admin.listAudit({
          tenantId: c.tenant.id, actorId: args.actorId, action: args.action, limit: args.limit, cursor: args.cursor,
          from: args.from ? new Date(args.from) : undefined, to: args.to ? new Date(args.to) : undefined,
        });
        return { items: res.items.map(toAuditEntry), nextCursor: res.nextCursor };
      },
    }),
  ];
}
