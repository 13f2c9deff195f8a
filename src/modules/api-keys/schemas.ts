import { z } from 'zod';
import { isValidScope, MAX_SCOPES } from './scopes.js';
import { MAX_EXPIRES_IN_DAYS } from './service.js';
import type { ApiKey } from './store.js';

const Scope = z.string().refine(isValidScope, 'must be a permission such as "assets:read", "assets:*" or "*" (1–2 segments of a-z 0-9 _ . -, at most 128 characters)');

export const CreateApiKeyBody = z.object({
  name: z.string().trim().min(1, 'is required').max(100)
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters')
    .describe('a label to recognise the key by'),
  scopes: z.array(Scope).min(1, 'needs at least one scope').max(MAX_SCOPES)
    .describe('permission patterns the key is limited to ("*" = everything its user may do); a key never creates a broader key'),
  expiresInDays: z.number().int('must be a whole number').min(1).max(MAX_EXPIRES_IN_DAYS).optional()
    .describe(`1–${MAX_EXPIRES_IN_DAYS}; omitted = no expiry`),
  orgId: z.uuid({ message: 'must be a uuid' }).optional()
    .describe('bind the key to your active organization (it must be the org of the calling token or key)'),
}).strict().meta({ id: 'CreateApiKeyBody' });

export const ApiKeyInfo = z.object({
  id: z.uuid(),
  name: z.string(),
  label: z.string().describe('same as name (Cedros name)'),
  prefix: z.string().describe('the first characters of the key ("ck_" + 8), to recognise it; the key itself is never shown again'),
  keyPrefix: z.string().describe('same as prefix (Cedros name)'),
  scopes: z.array(z.string()),
  orgId: z.uuid().nullable(),
  isDefault: z.boolean().describe('the key GET /user/api-key shows and POST /user/api-key/regenerate replaces'),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime().nullable(),
  lastUsedAt: z.iso.datetime().nullable().describe('recorded at most once a minute'),
}).meta({ id: 'ApiKey' });

/**
 * GET /user/api-key answers Cedros ApiKeyResponse, which types lastUsedAt as a date-time string: there it is
 * left out until the key is first used, instead of null.
 */
export const DefaultApiKeyInfo = ApiKeyInfo.extend({
  lastUsedAt: z.iso.datetime().optional().describe('recorded at most once a minute; absent until the key is first used'),
}).meta({ id: 'DefaultApiKey' });

export const toDefaultApiKeyInfo = (k: ApiKey): z.infer<typeof DefaultApiKeyInfo> => {
  const { lastUsedAt, ...rest } = toApiKeyInfo(k);
  return lastUsedAt === null ? rest : { ...rest, lastUsedAt };
};

export const CreatedApiKey = ApiKeyInfo.extend({
  apiKey: z.string().describe('the full key (ck_…): shown in this response only; store it now'),
  message: z.string(),
}).meta({ id: 'CreatedApiKey' });

export const ApiKeyList = z.object({
  items: z.array(ApiKeyInfo), total: z.number().int(), limit: z.number().int(), offset: z.number().int(),
}).meta({ id: 'ApiKeyList' });

export const ValidateApiKeyBody = z.object({
  apiKey: z.string().min(1, 'is required').max(512),
}).strict().meta({ id: 'ValidateApiKeyBody' });

export const ValidateApiKeyResponse = z.object({
  valid: z.boolean(),
  userId: z.uuid().optional(),
  tenantId: z.uuid().optional(),
  scopes: z.array(z.string()).optional(),
  orgId: z.uuid().optional(),
  expiresAt: z.iso.datetime().optional(),
}).meta({ id: 'ValidateApiKeyResponse' });

export const EmptyBody = z.object({}).strict();

export const toApiKeyInfo = (k: ApiKey): z.infer<typeof ApiKeyInfo> => ({
  id: k.id,
  name: k.name,
  label: k.name,
  prefix: k.prefix,
  keyPrefix: k.prefix,
  scopes: k.scopes,
  orgId: k.orgId,
  isDefault: k.isDefault,
  createdAt: k.createdAt.toISOString(),
  expiresAt: k.expiresAt?.toISOString() ?? null,
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
});

export const SHOWN_ONCE = 'Store this key now: it is shown only once. Send it as "Authorization: Bearer ck_…" or "X-API-Key: ck_…".';
