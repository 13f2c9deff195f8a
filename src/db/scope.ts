import { isUuid } from '../lib/ids.js';

/** The admin plane's cross-tenant scope: RLS policies admit every tenant's rows. Use only on admin routes. */
export const ALL_TENANTS = Symbol('all-tenants');
export type TenantScope = string | null | typeof ALL_TENANTS;

export const APP_ROLE = 'authplane_app';

/**
 * The statements that open a unit of work: BEGIN, the tenant settings, and the drop to the app role.
 * The tenant id is validated as a uuid before it is inlined, so the text carries no injection.
 */
export function beginStatements(scope: TenantScope): string {
  let tenant = '';
  if (typeof scope === 'string') {
    if (!isUuid(scope)) throw new Error('tenant scope must be a uuid');
    tenant = scope.toLowerCase();
  }
  const all = scope === ALL_TENANTS ? 'on' : 'off';
  return `BEGIN; SELECT set_config('app.tenant_id', '${tenant}', true), set_config('app.all_tenants', '${all}', true); SET LOCAL ROLE ${APP_ROLE};`;
}
