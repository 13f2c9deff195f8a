import { z } from 'zod';
import { OIDC_SCOPES } from './provider.js';

/** A redirect URI of a registered client: absolute, no fragment; https, http on loopback, or a private-use scheme. */
export const ClientRedirectUri = z.string().max(2048).refine((s) => {
  try {
    const u = new URL(s);
    if (u.hash || s.includes('#') || u.username || u.password) return false;
    if (u.protocol === 'https:') return true;
    if (u.protocol === 'http:') return ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
    return /^[a-z][a-z0-9+.-]*:$/.test(u.protocol) && !['javascript:', 'data:', 'file:', 'vbscript:', 'blob:'].includes(u.protocol);
  } catch {
    return false;
  }
}, 'must be an absolute https URL, http on 127.0.0.1/[::1]/localhost, or a private-use scheme (com.example.app:/cb), without a fragment');

const Scope = z.enum(OIDC_SCOPES);
const GrantType = z.enum(['authorization_code', 'refresh_token', 'client_credentials']);

export const OAuthClientTenantQuery = z.object({
  tenantId: z.string().trim().min(1, 'is required (a tenant uuid or slug)').max(100),
}).strict();

export const OAuthClientListQuery = OAuthClientTenantQuery.extend({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
}).strict();

export const OAuthClientParams = z.object({ clientId: z.string().min(1).max(100) });

export const CreateOAuthClientBody = z.object({
  tenantId: z.string().trim().min(1).max(100).describe('the tenant (uuid or slug)'),
  name: z.string().trim().min(1).max(100),
  type: z.enum(['confidential', 'public']).describe('confidential: has a secret (client_secret_basic or _post); public: PKCE only (token_endpoint_auth_method none)'),
  redirectUris: z.array(ClientRedirectUri).max(20).default([]).describe('exact-match redirect URIs (required unless the client only uses client_credentials)'),
  postLogoutRedirectUris: z.array(ClientRedirectUri).max(20).default([]),
  scopes: z.array(Scope).min(1).max(OIDC_SCOPES.length).describe('the scopes this client may ask for'),
  grantTypes: z.array(GrantType).min(1).max(3).default(['authorization_code', 'refresh_token']),
}).strict().meta({ id: 'CreateOAuthClientBody' });

export const UpdateOAuthClientBody = z.object({
  name: z.string().trim().min(1).max(100).optional(),
  redirectUris: z.array(ClientRedirectUri).max(20).optional(),
  postLogoutRedirectUris: z.array(ClientRedirectUri).max(20).optional(),
  scopes: z.array(Scope).min(1).max(OIDC_SCOPES.length).optional(),
  grantTypes: z.array(GrantType).min(1).max(3).optional(),
  rotateSecret: z.boolean().optional().describe('confidential clients: issue a new secret (shown once in this response); the old one stops working at once'),
}).strict().meta({ id: 'UpdateOAuthClientBody' });

export const OAuthClient = z.object({
  clientId: z.string(),
  tenantId: z.uuid(),
  name: z.string().nullable(),
  type: z.enum(['confidential', 'public']),
  source: z.enum(['admin', 'dynamic']).describe('admin: registered here; dynamic: RFC 7591 registration'),
  redirectUris: z.array(z.string()),
  postLogoutRedirectUris: z.array(z.string()),
  scopes: z.array(z.string()),
  grantTypes: z.array(z.string()),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}).meta({ id: 'OAuthClient' });

export const CreatedOAuthClient = OAuthClient.extend({
  clientSecret: z.string().optional().describe('confidential clients: the secret, shown only in this response (stored as SHA-256)'),
}).meta({ id: 'CreatedOAuthClient' });

export const OAuthClientList = z.object({
  items: z.array(OAuthClient), total: z.number().int(), limit: z.number().int(), offset: z.number().int(),
}).meta({ id: 'OAuthClientList' });

export type CreateOAuthClientBody = z.infer<typeof CreateOAuthClientBody>;
export type UpdateOAuthClientBody = z.infer<typeof UpdateOAuthClientBody>;
export type OAuthClient = z.infer<typeof OAuthClient>;
