import { z } from 'zod';
import { TenantSettings, TenantSlug, type Tenant } from '../tenants/schemas.js';
import type { User } from '../users/store.js';
import { Email } from '../users/schemas.js';
import type { AuditRow } from '../audit/store.js';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** https everywhere; plain http only for a loopback host (local development). */
function secureUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || (u.protocol === 'http:' && (LOOPBACK.has(u.hostname) || u.hostname.endsWith('.localhost')));
  } catch {
    return false;
  }
}

// The settings schema without its defaults: a PATCH names only what it changes (a default here would
// silently reset every setting the body leaves out).
const patchShape = Object.fromEntries(Object.entries(TenantSettings.shape).map(([k, s]) => {
  const inner = s instanceof z.ZodDefault ? (s.unwrap() as z.ZodType) : (s as z.ZodType);
  return [k, (inner instanceof z.ZodOptional ? inner : inner.optional())];
})) as { [K in keyof typeof TenantSettings.shape]: z.ZodOptional<z.ZodType<z.output<typeof TenantSettings>[K]>> };

/** Tenant settings as the admin plane accepts them: any subset, unknown keys refused, origins https (or loopback http). */
export const TenantSettingsPatch = z.object(patchShape).strict().superRefine((s, ctx) => {
  for (const field of ['allowedOrigins', 'redirectUrls'] as const) {
    (s[field] ?? []).forEach((v, i) => {
      if (!secureUrl(v)) ctx.addIssue({ code: 'custom', path: [field, i], message: 'must use https (plain http only for localhost / 127.0.0.1 / [::1]); wildcards are refused' });
    });
  }
}).meta({ id: 'TenantSettingsPatch' });

export type TenantSettingsPatch = z.output<typeof TenantSettingsPatch>;

const TenantName = z.string().trim().min(1, 'is required').max(100).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

export const CreateTenantBody = z.object({
  slug: TenantSlug,
  name: TenantName,
  settings: TenantSettingsPatch.optional(),
}).strict().meta({ id: 'CreateTenantBody' });

export const UpdateTenantBody = z.object({
  name: TenantName.optional(),
  settings: TenantSettingsPatch.optional(),
}).strict().refine((b) => b.name !== undefined || b.settings !== undefined, 'send name and/or settings').meta({ id: 'UpdateTenantBody' });

export const AdminTenant = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  settings: TenantSettings,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}).meta({ id: 'AdminTenant' });

export const AdminTenantList = z.object({ items: z.array(AdminTenant), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .meta({ id: 'AdminTenantList' });

export const toAdminTenant = (t: Tenant): z.infer<typeof AdminTenant> => ({
  id: t.id, slug: t.slug, name: t.name, settings: t.settings, createdAt: t.createdAt.toISOString(), updatedAt: t.updatedAt.toISOString(),
});

export const AdminUser = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  email: z.string().nullable(),
  name: z.string().nullable(),
  emailVerified: z.boolean(),
  disabled: z.boolean(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  lastLoginAt: z.iso.datetime().nullable(),
  deletedAt: z.iso.datetime().nullable().describe('set when the account was deleted: the row is a pseudonymous tombstone (no personal data)'),
}).meta({ id: 'AdminUser' });

export const AdminUserList = z.object({ items: z.array(AdminUser), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .meta({ id: 'AdminUserList' });

export const toAdminUser = (u: User): z.infer<typeof AdminUser> => ({
  id: u.id, tenantId: u.tenantId, email: u.email, name: u.name, emailVerified: u.emailVerified, disabled: u.disabled,
  createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString(), lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
  deletedAt: u.deletedAt?.toISOString() ?? null,
});

export const UsersQuery = z.object({
  tenantId: z.string().trim().min(1, 'is required (a tenant uuid or slug)').max(100),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
}).strict();

export const UpdateUserBody = z.object({
  disabled: z.boolean().optional().describe('true: the user can no longer sign in, and every session and API key of theirs stops working at once'),
  email: Email.optional().describe('a new address, set as verified (the operator vouches for it); every session of the user ends; 409 email_taken when another account of the tenant holds it'),
}).strict().refine((b) => b.disabled !== undefined || b.email !== undefined, { message: 'give disabled and/or email' }).meta({ id: 'AdminUpdateUserBody' });

/** An opaque audit cursor: base64url of a positive row sequence number. */
export const decodeCursor = (c: string): number | null => {
  if (!/^[A-Za-z0-9_-]{1,24}$/.test(c)) return null;
  const n = Number(Buffer.from(c, 'base64url').toString());
  return Number.isSafeInteger(n) && n > 0 ? n : null;
};

export const AuditQuery = z.object({
  tenantId: z.uuid({ message: 'must be a tenant uuid' }).optional(),
  actorId: z.string().min(1).max(200).optional().describe('user id, API key id or admin key id'),
  action: z.string().regex(/^[a-z0-9_]+\.[a-z0-9_.]+$/, 'must be an action such as "user.login"').max(100).optional(),
  from: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' }).optional().describe('inclusive'),
  to: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' }).optional().describe('exclusive'),
  cursor: z.string().refine((c) => decodeCursor(c) !== null, 'must be a nextCursor from a previous page').optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
}).strict().refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), { message: 'from must not be after to', path: ['from'] });

export const AuditEntry = z.object({
  id: z.uuid(),
  seq: z.number().int(),
  tenantId: z.uuid().nullable().describe('null: a platform event'),
  occurredAt: z.iso.datetime(),
  actor: z.object({ type: z.string().describe('user | api_key | admin_key | system | anonymous | mcp_service'), id: z.string().nullable() }),
  action: z.string(),
  target: z.string().nullable(),
  outcome: z.string(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  requestId: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()).describe('redacted before it was written; personal values of an erased row read "[erased]"'),
  erasedAt: z.iso.datetime().nullable().describe('when the personal fields of the row (IP, user agent, typed addresses, names, key labels) were erased by an account deletion: they read null or "[erased]"; null when not erased'),
  prevHash: z.string(),
  hash: z.string().describe('HMAC-SHA256 under a key derived from AUTH_SECRET over this row and prevHash, with personal fields entering as keyed digests since migration 0015, so erasing them keeps the chain intact (plain SHA-256 for rows written before migration 0010): the chain authplane audit-verify checks'),
}).meta({ id: 'AuditEntry' });

export const AuditPage = z.object({ items: z.array(AuditEntry), nextCursor: z.string().nullable() }).meta({ id: 'AuditPage' });

export const toAuditEntry = (r: AuditRow): z.infer<typeof AuditEntry> => ({
  id: r.id, seq: Number(r.seq), tenantId: r.tenant_id, occurredAt: new Date(r.occurred_at).toISOString(),
  actor: { type: r.actor_type, id: r.actor_id }, action: r.action, target: r.target, outcome: r.outcome,
  ip: r.ip, userAgent: r.user_agent, requestId: r.request_id,
  metadata: (r.metadata && typeof r.metadata === 'object' ? r.metadata : {}) as Record<string, unknown>,
  erasedAt: r.erased_at ? new Date(r.erased_at).toISOString() : null,
  prevHash: r.prev_hash, hash: r.hash,
});
