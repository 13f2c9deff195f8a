import type { FastifyPluginAsync } from 'fastify';
import type { Deps } from '../../deps.js';
import type { ModuleDef } from '../module.js';
import { inviteRoutes } from './invite-routes.js';
import { rolePolicyRoutes } from './role-policy-routes.js';
import { orgRoutes } from './routes.js';
import { ADMIN_LEVEL_ACTIONS, BUILT_IN_PERMISSIONS, ORG_PERMISSIONS } from './roles.js';

// Only deps are passed on: the options also carry this plugin's prefix, which must not apply twice.
const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  await app.register(orgRoutes, { deps });
  await app.register(rolePolicyRoutes, { deps });
  await app.register(inviteRoutes, { deps });
};

export const orgsModule: ModuleDef = {
  name: 'organizations',
  plugin,
  discovery: (config) => {
    const b = `${config.basePath}/orgs`;
    return {
      auth: 'Bearer access token, or an API key with scope orgs:read (GET) / orgs:write (changes)',
      orgs: { list: `GET ${b}`, create: `POST ${b} {name} (you become owner)`, get: `GET ${b}/{org_id}`, update: `PATCH ${b}/{org_id} {name}`, delete: `DELETE ${b}/{org_id} (owners; TOTP step-up when MFA is on)`, switch: `POST ${b}/{org_id}/switch → new access token with org + roles (session only)` },
      members: { list: `GET ${b}/{org_id}/members`, update: `PATCH ${b}/{org_id}/members/{user_id} {roles?, attributes?} (TOTP step-up to grant admin-level roles)`, remove: `DELETE ${b}/{org_id}/members/{user_id} (your own id: leave)` },
      roles: { list: `GET ${b}/{org_id}/roles`, create: `POST ${b}/{org_id}/roles {name, permissions, description?}`, update: `PATCH ${b}/{org_id}/roles/{role_id}`, delete: `DELETE ${b}/{org_id}/roles/{role_id}` },
      policies: { list: `GET ${b}/{org_id}/policies`, create: `POST ${b}/{org_id}/policies {name, effect: allow|deny, actions, resources?, condition?}`, delete: `DELETE ${b}/{org_id}/policies/{policy_id}` },
      invites: { list: `GET ${b}/{org_id}/invites`, create: `POST ${b}/{org_id}/invites {email, roles, redirectUrl?} → {…, token} (token shown once, also mailed)`, delete: `DELETE ${b}/{org_id}/invites/{invite_id}`, accept: `POST ${config.basePath}/invites/accept {token} (signed in as the invited, verified email)` },
      builtInRoles: BUILT_IN_PERMISSIONS,
      orgPermissions: ORG_PERMISSIONS,
      rules: [
        'non-members get 404 for every org route; members without the permission 403',
        'only owners grant or take away owner; any other role only by someone holding all its permissions',
        'the last active owner can neither leave nor be demoted (409); disabled owners do not count',
        'custom roles and allow policies may only carry permissions the caller holds',
        `granting admin-level power (owner, admin, or any role allowing ${ADMIN_LEVEL_ACTIONS.join(', ')}) by member update, invite, or creating/changing a role's permissions needs the TOTP step-up when MFA is on, and is refused to API keys (403)`,
        'an API key bound to an org acts only inside it: it cannot create orgs (403)',
      ],
      adminLevelActions: ADMIN_LEVEL_ACTIONS,
      conditionLanguage: {
        nodes: ['{"and":[c,…]}', '{"or":[c,…]}', '{"not":c}', '{"<op>":[a,b]} with op eq ne gt gte lt lte in (a ∈ array b)'],
        operands: 'JSON literal or {"var":"<path>"}',
        paths: ['subject.id', 'subject.email', 'subject.roles', 'subject.attributes.<k> (member attributes)', 'resource.type', 'resource.id', 'resource.attributes.<k>', 'env.time (ISO-8601)', 'env.ip'],
        missing: 'a condition reading a missing path is indeterminate: allow policies do not match, deny policies do',
      },
    };
  },
};
