import type { ModuleDef } from '../module.js';
import { apiKeyRoutes } from './routes.js';
import { SCOPE_CATALOG } from './scopes.js';
import { KEY_CACHE_TTL_MS } from './verify.js';

export const apiKeysModule: ModuleDef = {
  name: 'apiKeys',
  plugin: apiKeyRoutes,
  discovery: (config) => {
    const b = config.basePath;
    return {
      format: 'ck_ followed by 43 base64url characters (32 random bytes); shown once when issued, stored only as SHA-256 with a display prefix',
      send: ['Authorization: Bearer ck_…', 'X-API-Key: ck_…'],
      prefix: 'ck_',
      rules: [
        'A key acts as its user, limited by its scopes; it never reaches the admin plane (403).',
        'Send one credential: Authorization and X-API-Key together (even with the same value) → 400 ambiguous_credentials.',
        'Never put a key in a URL: query-string keys are not read.',
        `A revoked key stops working on every instance at once (cached validations live at most ${KEY_CACHE_TTL_MS / 1000} s and are dropped on revocation).`,
        'Routes that need a scope the key lacks answer 403 forbidden.',
      ],
      scopes: { catalog: SCOPE_CATALOG, wildcards: '"*" is everything the user may do; "area:*" every action of one area; other permission strings (e.g. "assets:read") are kept for resource servers to check' },
      getIssued: 'a new user gets a default key in AuthResponse.apiKey at sign-up when the tenant setting issueApiKeyOnSignup is true (the default)',
      routes: {
        defaultKey: { method: 'GET', path: `${b}/user/api-key`, scope: 'api_keys:read', returns: 'masked metadata {id, name, prefix, scopes, createdAt, expiresAt, lastUsedAt}' },
        regenerate: { method: 'POST', path: `${b}/user/api-key/regenerate`, scope: 'api_keys:write', returns: 'CreatedApiKey with apiKey shown once; the old default key stops working at once' },
        list: { method: 'GET', path: `${b}/api-keys`, scope: 'api_keys:read' },
        create: { method: 'POST', path: `${b}/api-keys`, scope: 'api_keys:write', body: { name: 'string', scopes: ['assets:read'], 'expiresInDays?': '1–3650', 'orgId?': 'your active org' }, returns: '201 CreatedApiKey (apiKey shown once)' },
        revoke: { method: 'DELETE', path: `${b}/api-keys/{id}`, scope: 'api_keys:write', returns: '204' },
        validate: { method: 'POST', path: `${b}/api-key/validate`, auth: 'none (send X-Tenant-ID of your tenant)', body: { apiKey: 'ck_…' }, returns: '{valid, userId, tenantId, scopes, orgId?, expiresAt?}; {valid: false} for any key that is not live, whatever the reason' },
      },
      sensitive: 'create, regenerate and delete are step-up routes (TOTP when MFA is on)',
    };
  },
};
