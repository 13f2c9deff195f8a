import type { ModuleDef } from '../module.js';
import { authzRoutes } from './routes.js';
import { AUTHZ_CHECK_SCOPE } from './service.js';
import { AUTHZ_CACHE_MAX_AGE_MS } from './cache.js';

export const authzModule: ModuleDef = {
  name: 'authorization',
  plugin: authzRoutes,
  discovery: (config) => ({
    authorize: {
      method: 'POST', path: `${config.basePath}/authorize`, auth: 'Bearer access token or API key',
      body: { action: 'resource:action, e.g. "assets:read"', resource: '{type, id?, attributes?}?', orgId: 'uuid? (default: the active org)', subjectId: `uuid? (API key with "${AUTHZ_CHECK_SCOPE}" only)` },
      returns: '{allowed, reason, policyId?}',
      rules: [
        'an applicable deny policy whose condition is true or indeterminate denies',
        'else a role permission matching the action allows',
        'else an allow policy whose condition is true allows',
        'else denied; a non-member is always denied',
        'actions on org, members, roles, policies, invites: roles only',
        'an API key asking for itself is also limited to its scopes',
      ],
      trust: `subject.* and env.* come from the server; resource.attributes only from an API key with "${AUTHZ_CHECK_SCOPE}" (400 otherwise)`,
    },
    permissions: { method: 'POST', path: `${config.basePath}/permissions`, body: { orgId: 'uuid?' }, returns: '{orgId, roles, permissions}' },
    consistency: `decisions read current memberships, roles and policies through a per-org cache dropped on every instance when they change, and a user's memberships when the user changes (a disabled user is denied at once); at most ${AUTHZ_CACHE_MAX_AGE_MS / 1000} s if an invalidation is lost; the token's roles claim is informational`,
  }),
};
