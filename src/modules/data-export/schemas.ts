import { z } from 'zod';
import { SessionBody } from '../sessions/schemas.js';
import { ApiKeyInfo } from '../api-keys/schemas.js';
import { PasskeyBody } from '../passkeys/schemas.js';

const iso = z.iso.datetime();

/** Everything Authplane holds about the caller, as an allow-list: no secret, hash or sealed value can appear. */
export const UserExportObject = z.object({
  exportedAt: iso,
  profile: z.object({
    id: z.uuid(), tenantId: z.uuid(), email: z.string().nullable(), name: z.string().nullable(), emailVerified: z.boolean(),
    hasPassword: z.boolean(), createdAt: iso, updatedAt: iso, lastLoginAt: iso.nullable(),
  }),
  sessions: z.array(SessionBody),
  apiKeys: z.array(ApiKeyInfo).describe('live keys, masked: only their prefix'),
  memberships: z.array(z.object({ orgId: z.uuid(), orgName: z.string(), roles: z.array(z.string()) })),
  passkeys: z.array(PasskeyBody),
  wallets: z.array(z.object({ publicKey: z.string(), createdAt: iso, lastUsedAt: iso.nullable() })),
  federatedIdentities: z.array(z.object({ issuer: z.string(), subject: z.string(), email: z.string().nullable(), createdAt: iso, lastUsedAt: iso.nullable() })),
  mfa: z.object({ enabled: z.boolean(), enabledAt: iso.nullable(), recoveryCodesRemaining: z.number().int() }),
  auditEvents: z.array(z.object({
    id: z.uuid(), occurredAt: iso, actor: z.object({ type: z.string(), id: z.string().nullable() }), action: z.string(),
    target: z.string().nullable(), outcome: z.string(), ip: z.string().nullable(), userAgent: z.string().nullable(),
    requestId: z.string().nullable(), metadata: z.record(z.string(), z.unknown()),
  })).describe('the user\'s own events (as actor or target), newest first, at most 1000; values were redacted when written'),
});

/** The same shape as an OpenAPI component (the MCP tool lists the plain object: its root must be an object schema). */
export const UserExport = UserExportObject.meta({ id: 'UserExport' });

export type UserExport = z.infer<typeof UserExport>;
