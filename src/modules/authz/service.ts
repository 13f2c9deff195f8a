import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { UserPrincipal } from '../../http/principal.js';
import type { AuthzCache, MemberSnapshot, OrgSnapshot } from './cache.js';
import { decide, type Decision, type DecisionResource } from './decide.js';
import { grants } from './permissions.js';
import { intersect, isReservedAction, permissionsOf } from '../orgs/roles.js';

/** The API-key scope a resource server needs to ask about its users (`subjectId`) and to send `resource.attributes`. */
export const AUTHZ_CHECK_SCOPE = 'authz:check';

export interface AuthorizeInput {
  action: string;
  resource?: DecisionResource;
  orgId?: string;
  subjectId?: string;
}

export interface PermissionsView {
  orgId: string | null;
  roles: string[];
  permissions: string[];
}

/**
 * A resource server: an API key naming `authz:check` (or `authz:*`) explicitly. A bare `*` does not count —
 * every user's sign-up key carries `*`, and asking about other users must be a deliberate grant.
 */
const isResourceServer = (p: UserPrincipal) => p.kind === 'apiKey' && p.scopes.some((s) => s === AUTHZ_CHECK_SCOPE || s === 'authz:*');

export type AuthzService = ReturnType<typeof createAuthzService>;

const notAMember = (): Decision => ({ allowed: false, reason: 'the subject is not a member of the organization' });

// A member's role permissions, kept per cached member snapshot (and the custom-role table they were computed
// from): the decision cache hands out the same objects until the org changes.
const rolePermissionMemo = new WeakMap<object, { custom: object; permissions: string[] }>();
function rolePermissionsOf(member: { roles: string[] }, customRoles: ReadonlyMap<string, readonly string[]>): string[] {
  const hit = rolePermissionMemo.get(member);
  if (hit && hit.custom === customRoles) return hit.permissions;
  const permissions = permissionsOf(member.roles, customRoles);
  rolePermissionMemo.set(member, { custom: customRoles, permissions });
  return permissions;
}

/**
 * Decisions (`/authorize`) and effective permissions (`/permissions`) from the org's current memberships,
 * custom roles and policies, read through the per-org cache: no Postgres query on a warm call. The token's
 * `roles` claim is never trusted (SECURITY AZ-07); subject and env always come from the server (AZ-06).
 */
export function createAuthzService(deps: { cache: AuthzCache; clock: Clock }) {
  const { cache, clock } = deps;
  // env.time as an ISO string, formatted once per clock millisecond rather than once per decision.
  let lastMs = Number.NaN;
  let lastIso = '';
  const isoNow = (): string => {
    const ms = clock.nowMs();
    if (ms !== lastMs) {
      lastIso = new Date(ms).toISOString();
      lastMs = ms;
    }
    return lastIso;
  };

  /** The org a call is about: the body's, else the credential's (active org, or the key's binding). */
  function orgOf(p: UserPrincipal, orgId: string | undefined): { orgId: string | null; boundElsewhere: boolean } {
    if (p.kind === 'apiKey' && p.orgId && orgId !== undefined && orgId.toLowerCase() !== p.orgId.toLowerCase()) return { orgId: null, boundElsewhere: true };
    return { orgId: orgId ?? p.orgId ?? null, boundElsewhere: false };
  }

  type Ask = { orgId: string; forOther: boolean; subjectId: string };
  type Membership = { org: OrgSnapshot; member: MemberSnapshot | null };

  /** The checks that need no data, and what the decision is about: the org, and whose decision it is. */
  function askOf(p: UserPrincipal, input: AuthorizeInput): Ask | { decision: Decision } {
    const forOther = input.subjectId !== undefined && input.subjectId.toLowerCase() !== p.userId.toLowerCase();
    if (forOther && !isResourceServer(p)) {
      throw new AppError('forbidden', `subjectId needs an API key with the "${AUTHZ_CHECK_SCOPE}" scope (a resource server asking about its users).`);
    }
    if (input.resource?.attributes !== undefined && !isResourceServer(p)) {
      throw new AppError('validation_failed', `Invalid request: body.resource.attributes: only a resource server (an API key with the "${AUTHZ_CHECK_SCOPE}" scope) may supply resource attributes.`, {
        details: [{ path: 'body.resource.attributes', message: `needs an API key with the "${AUTHZ_CHECK_SCOPE}" scope` }],
      });
    }
    const { orgId, boundElsewhere } = orgOf(p, input.orgId);
    if (boundElsewhere) return { decision: { allowed: false, reason: 'the API key is bound to another organization' } };
    if (!orgId) return { decision: { allowed: false, reason: 'no organization: pass orgId or switch to an organization' } };
    return { orgId, forOther, subjectId: forOther ? input.subjectId!.toLowerCase() : p.userId };
  }

  /** `authorize` once the memberships are loaded through the cache (a cold org or member). */
  async function authorizeLoaded(p: UserPrincipal, input: AuthorizeInput, env: { ip: string }, ask: Ask): Promise<Decision> {
    const caller = ask.forOther ? await cache.orgAndMember(p.tenantId, ask.orgId, p.userId) : null;
    // An org the caller cannot see answers exactly as an unknown one (no existence leak), before the subject is read.
    if (caller && (!caller.org.exists || !caller.member)) return notAMember();
    return decideFor(p, input, env, ask, caller, await cache.orgAndMember(p.tenantId, ask.orgId, ask.subjectId));
  }

  function decideFor(p: UserPrincipal, input: AuthorizeInput, env: { ip: string }, ask: Ask, caller: Membership | null, subject: Membership): Decision {
    if (caller) {
      // The scope says the key may be used this way; the org says whether its user may. Without the
      // second check any user could mint an authz:check key and read everyone's permissions.
      // An org the caller cannot see answers exactly as an unknown one (no existence leak).
      if (!caller.org.exists || !caller.member) return notAMember();
      if (!grants(rolePermissionsOf(caller.member, caller.org.customRoles), AUTHZ_CHECK_SCOPE)) {
        throw new AppError('forbidden', `Asking about another user needs the "${AUTHZ_CHECK_SCOPE}" permission in this organization (owners hold it; grant it to a service account through a custom role).`);
      }
    }
    const { org, member } = subject;
    if (!org.exists || !member) return notAMember();

    // A key acting for its own user never exceeds its scopes; a resource server asking about a user does not narrow.
    const narrowBy = p.kind === 'apiKey' && !ask.forOther ? p.scopes : null;
    let rolePermissions = rolePermissionsOf(member, org.customRoles);
    if (narrowBy) rolePermissions = intersect(rolePermissions, narrowBy);
    const decision = decide({
      action: input.action,
      resource: input.resource,
      subject: { id: ask.subjectId, email: member.email, roles: member.roles, attributes: member.attributes },
      env: { time: isoNow(), ip: env.ip },
      rolePermissions,
      policies: isReservedAction(input.action) ? [] : org.policies,
    });
    if (decision.allowed && narrowBy && !grants(narrowBy, input.action)) {
      return { allowed: false, reason: `the API key's scopes do not include "${input.action}"` };
    }
    return decision;
  }

  return {
    /**
     * Explicit deny wins, then role grants, then allow policies, else deny. Actions on the org's own resources
     * (org, members, roles, policies, invites) are decided by roles only. An API key asking for itself is also
     * held to its scopes. Throws 403 when `subjectId` names someone else without the authz:check scope and 400
     * when resource attributes come from a caller that is no resource server (SECURITY §D-14). A decision
     * whose org and members are cached is made synchronously (no promise); otherwise they are loaded first.
     */
    authorize(p: UserPrincipal, input: AuthorizeInput, env: { ip: string }): Decision | Promise<Decision> {
      const ask = askOf(p, input);
      if ('decision' in ask) return ask.decision;
      const caller = ask.forOther ? cache.cachedOrgAndMember(p.tenantId, ask.orgId, p.userId) : null;
      const subject = cache.cachedOrgAndMember(p.tenantId, ask.orgId, ask.subjectId);
      if (caller === undefined || subject === undefined) return authorizeLoaded(p, input, env, ask);
      return decideFor(p, input, env, ask, caller, subject);
    },

    /** The caller's roles and permission patterns in the org (an API key's narrowed by its scopes); 404 for a non-member. */
    async permissions(p: UserPrincipal, input: { orgId?: string }): Promise<PermissionsView> {
      const { orgId, boundElsewhere } = orgOf(p, input.orgId);
      if (boundElsewhere) throw new AppError('not_found', 'No such organization.');
      if (!orgId) return { orgId: null, roles: [], permissions: [] };
      const { org, member } = await cache.orgAndMember(p.tenantId, orgId, p.userId);
      if (!org.exists || !member) throw new AppError('not_found', 'No such organization.');
      const all = rolePermissionsOf(member, org.customRoles);
      return { orgId, roles: member.roles, permissions: p.kind === 'apiKey' ? intersect(all, p.scopes) : [...all].sort() };
    },
  };
}
