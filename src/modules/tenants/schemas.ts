import { z } from 'zod';

const Origin = z.string().max(255).refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === s;
  } catch {
    return false;
  }
}, 'must be an origin such as https://app.example.com (scheme, host and optional port, no path)');

const RedirectUrl = z.string().max(2048).refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.hash;
  } catch {
    return false;
  }
}, 'must be an absolute http(s) URL without a fragment');

/**
 * A logo the hosted pages can show without loading anything from another origin (their CSP names no
 * third-party origin): a base64 `data:` image of at most ~64 KB, or a path on this server.
 */
const LogoUrl = z.string().max(90_000).refine((s) => /^data:image\/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]+={0,2}$/.test(s)
  || /^\/(?!\/)[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(s), 'must be a base64 data:image/(png|jpeg|gif|webp|svg+xml) URL or a path on this server starting with "/"');

/** How the hosted pages (src/modules/ui) present this tenant. */
export const Branding = z.object({
  name: z.string().trim().min(1).max(100).optional(),
  logoUrl: LogoUrl.optional(),
  primaryColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour like #1a73e8').optional(),
}).strict();

const RateLimitOverride = z.object({
  limit: z.number().int().min(1).max(100_000),
  windowSeconds: z.number().int().min(1).max(86_400),
}).strict();

/** Tenant settings with their defaults (DESIGN §4). Unknown keys are refused. */
export const TenantSettings = z.object({
  allowedOrigins: z.array(Origin).max(100).default([]),
  redirectUrls: z.array(RedirectUrl).max(100).default([]),
  issueApiKeyOnSignup: z.boolean().default(true),
  magicLinkSignup: z.boolean().default(true),
  passwordSignup: z.boolean().default(true),
  accessTokenTtlSeconds: z.number().int().min(5).max(86_400).default(900),
  refreshTokenTtlSeconds: z.number().int().min(10).max(31_536_000).default(2_592_000),
  refreshReuseGraceSeconds: z.number().int().min(0).max(60).default(0),
  requireMfaForAdmins: z.boolean().default(false),
  /** The `aud` of this tenant's access tokens; default the tenant id. */
  audience: z.string().min(1).max(255).optional(),
  /** WebAuthn relying-party id; default the host of PUBLIC_URL. */
  webauthnRpId: z.string().min(1).max(253).optional(),
  /** Per-class overrides of the rate limits, e.g. {"credential": {"limit": 100, "windowSeconds": 60}}. */
  // partialRecord: zod 4's record over an enum requires every key; a tenant may override one class.
  rateLimits: z.partialRecord(z.enum(['credential', 'default']), RateLimitOverride).optional(),
  /** Name, logo and colour of the hosted pages; default the tenant's name and the built-in colour. */
  branding: Branding.optional(),
  /** The OpenID Provider (docs/oidc-provider.md): allow dynamic client registration (RFC 7591) at <issuer>/reg. Default false. */
  oidcDynamicRegistration: z.boolean().optional(),
  /**
   * Redirect URIs a dynamically registered client may use: "loopback" (http://127.0.0.1, [::1], localhost),
   * "https" (any https URL), "https://<host>" (that host only), "<scheme>:" (a private-use scheme). Default ["loopback", "https"].
   */
  oidcRegistrationRedirects: z.array(z.string().max(255).regex(/^(loopback|https|https:\/\/[a-z0-9.-]+(:\d+)?|[a-z][a-z0-9+.-]*:)$/, 'must be "loopback", "https", "https://<host>" or "<scheme>:"')).max(50).optional(),
}).strict().meta({ id: 'TenantSettings' });

export type TenantSettings = z.output<typeof TenantSettings>;

export const SettingsPatch = TenantSettings.partial().strict();

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  settings: TenantSettings;
  createdAt: Date;
  updatedAt: Date;
}

export const TenantSlug = z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'must be 2–63 lowercase letters, digits or hyphens, starting with a letter or digit');

export const TenantBody = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  settings: TenantSettings,
  createdAt: z.iso.datetime(),
}).meta({ id: 'Tenant' });

/** The audience access tokens of this tenant carry. */
export const audienceOf = (t: Tenant): string => t.settings.audience ?? t.id;
