import type Provider from 'oidc-provider';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import type { Tenant } from '../tenants/schemas.js';
import { buildProvider } from './provider.js';

interface Entry { key: string; provider: Provider; callback: ReturnType<Provider['callback']> }

const caches = new WeakMap<Deps, Map<string, Entry>>();

/**
 * The tenant's OpenID Provider, built on first use and cached per tenant. It is rebuilt when a setting it
 * is built from changes (registration on/off, lifetimes) or the active signing key rotates, so a new provider
 * signs with the new key while tokens of the old one verify through the shared JWKS until retirement.
 * Throws not_found when the deployment signs with HS256 (the provider publishes Ed25519 keys only).
 */
export function providerFor(deps: Deps, tenant: Tenant): Entry {
  let cache = caches.get(deps);
  if (!cache) caches.set(deps, cache = new Map());
  const jwk = deps.services.signingKeys.activePrivateJwk();
  if (!jwk) throw new AppError('not_found', 'The OpenID Provider needs JWT_ALG=EdDSA (Ed25519 signing keys).');
  // What the provider is built from: the slug and the settings it reads (updatedAt alone can repeat under a
  // frozen test clock), and the signing key.
  const st = tenant.settings;
  const key = JSON.stringify([tenant.slug, jwk.kid, st.oidcDynamicRegistration ?? false, st.accessTokenTtlSeconds, st.refreshTokenTtlSeconds]);
  const hit = cache.get(tenant.id);
  if (hit && hit.key === key) return hit;
  const provider = buildProvider(deps, tenant, jwk as Record<string, unknown>);
  const entry = { key, provider, callback: provider.callback() };
  cache.set(tenant.id, entry);
  return entry;
}

/** The tenant named by a provider URL's slug (never a uuid: one issuer URL per tenant); 404 when unknown. */
export async function tenantOfSlug(deps: Deps, slug: string): Promise<Tenant> {
  const tenant = /^[a-z0-9][a-z0-9-]{1,62}$/.test(slug) ? await deps.tenants.resolve(slug) : null;
  if (!tenant || tenant.slug !== slug) throw new AppError('not_found', 'Unknown tenant.');
  return tenant;
}
