import type { ModuleDef } from '../module.js';
import { TenantSettings } from '../tenants/schemas.js';
import { adminRoutes } from './routes.js';

export const adminModule: ModuleDef = {
  name: 'admin',
  plugin: adminRoutes,
  discovery: (config) => {
    const b = config.basePath;
    return {
      auth: 'Authorization: Bearer ak_… only (an admin key, made by the operator: npx authplane create-admin-key --name ops --expires-in-days 90; expiry mandatory, at most 365 days). User tokens and ck_ keys → 403; no credential → 401.',
      tenants: {
        list: `GET ${b}/admin/tenants?limit&offset`,
        create: { method: 'POST', path: `${b}/admin/tenants`, body: { slug: 'a-z0-9-', name: 'string', 'settings?': 'TenantSettingsPatch' }, returns: '201 {id, slug, name, settings, createdAt, updatedAt}' },
        get: `GET ${b}/admin/tenants/{id}`,
        update: { method: 'PATCH', path: `${b}/admin/tenants/{id}`, body: { 'name?': 'string', 'settings?': 'only the keys to change' } },
        // Named from the schema, so a new setting is listed here the day it exists.
        settings: `${Object.keys(TenantSettings.shape).join(', ')} (TenantSettingsPatch in the OpenAPI document describes each)`,
      },
      users: {
        list: `GET ${b}/admin/users?tenantId=<uuid or slug>&limit&offset`,
        disable: { method: 'PATCH', path: `${b}/admin/users/{id}`, body: { disabled: true }, effect: 'ends every session and API key of the user at once' },
        changeEmail: { method: 'PATCH', path: `${b}/admin/users/{id}`, body: { email: 'string' }, effect: 'sets the address verified and ends every session; 409 email_taken when taken' },
        delete: { method: 'DELETE', path: `${b}/admin/users/{id}`, effect: 'erases the account to a pseudonymous tombstone; 409 while the user is the last owner of an org' },
      },
      audit: {
        list: `GET ${b}/admin/audit?tenantId&actorId&action&from&to&cursor&limit`,
        returns: '{items, nextCursor}, newest first; the log is append-only and hash-chained per tenant (check it with npx authplane audit-verify)',
      },
    };
  },
};
