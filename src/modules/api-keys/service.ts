import type { Logger } from 'pino';
import type { Sql, Tx } from '../../db/sql.js';
import type { Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import { actorOf, type UserPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import type { ValidatedKey } from './cache.js';
import { newApiKey } from './keys.js';
import { isValidScope, MAX_SCOPES, reservedScopes, uncoveredScopes } from './scopes.js';
import { apiKeyStore, type ApiKey } from './store.js';
import { createApiKeyVerifier } from './verify.js';
import type { Events } from '../webhooks/events.js';
import { apiKeyValidations } from '../metrics/registry.js';
// The labelled children, taken once (validate runs per request).
const validationsValid = apiKeyValidations.labels('valid');
const validationsInvalid = apiKeyValidations.labels('invalid');

/** Live keys one user may hold at once. */
export const MAX_KEYS_PER_USER = 50;
export const MAX_EXPIRES_IN_DAYS = 3650;
const DAY_MS = 86_400_000;
const DEFAULT_KEY = { name: 'default', scopes: ['*'] };

export interface CreateApiKeyInput {
  name: string;
  scopes: string[];
  expiresInDays?: number;
  orgId?: string;
}

/** A key as it is returned once, at creation: its metadata and the plaintext. */
export interface IssuedApiKey {
  key: ApiKey;
  plaintext: string;
}

export interface ValidationResult {
  valid: boolean;
  userId?: string;
  tenantId?: string;
  scopes?: string[];
  orgId?: string;
  expiresAt?: string;
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;

/**
 * User API keys: issue (the plaintext leaves once, only its SHA-256 is kept), list, regenerate the
 * default key, revoke, and validate. A key never mints a key broader than itself (KEY-05).
 */
export function createApiKeyService(deps: { sql: Sql; kv: Kv; clock: Clock; log: Logger; audit: AuditService; events?: Events }) {
  const { sql, clock, audit, events } = deps;
  const verifier = createApiKeyVerifier(deps);

  /**
   * The limits a key-authenticated caller passes on: its scopes cover the new key's, the new key keeps
   * its org binding, and it expires no later than the caller does. Read in the transaction, so a key
   * revoked a moment ago cannot mint another.
   */
  async function inheritedLimits(tx: Tx, p: UserPrincipal, scopes: string[], orgId: string | null): Promise<{ expiresAt: Date | null }> {
    const reserved = reservedScopes(scopes);
    if (reserved.length) throw new AppError('forbidden', `User API keys cannot carry admin-plane scopes (${reserved.join(', ')}); the admin plane takes ak_ keys.`);
    if (p.kind !== 'apiKey') return { expiresAt: null };
    const parent = await apiKeyStore.liveById(tx, p.userId, p.keyId);
    if (!parent) throw new AppError('invalid_token', 'The API key is invalid, expired or revoked.');
    const broader = uncoveredScopes(parent.scopes, scopes);
    if (broader.length) throw new AppError('forbidden', `An API key cannot grant scopes it does not hold: ${broader.join(', ')}.`);
    if (parent.orgId && orgId !== parent.orgId) throw new AppError('forbidden', 'A key bound to an organization can only create keys bound to the same organization.');
    return { expiresAt: parent.expiresAt };
  }

  /** The route schema checks the same; services are also called by MCP tools and the CLI. */
  function checkInput(i: CreateApiKeyInput): void {
    const bad = (path: string, message: string) => new AppError('validation_failed', `Invalid request: ${path}: ${message}`, { details: [{ path, message }] });
    if (typeof i.name !== 'string' || !i.name.trim() || i.name.length > 100) throw bad('name', 'must be 1 to 100 characters');
    if (!Array.isArray(i.scopes) || i.scopes.length < 1 || i.scopes.length > MAX_SCOPES) throw bad('scopes', `must hold 1 to ${MAX_SCOPES} scopes`);
    const invalid = i.scopes.find((s) => !isValidScope(s));
    if (invalid !== undefined) throw bad('scopes', `"${String(invalid).slice(0, 40)}" is not a permission such as "assets:read", "assets:*" or "*"`);
    if (i.expiresInDays !== undefined && (!Number.isInteger(i.expiresInDays) || i.expiresInDays < 1 || i.expiresInDays > MAX_EXPIRES_IN_DAYS)) {
      throw bad('expiresInDays', `must be a whole number from 1 to ${MAX_EXPIRES_IN_DAYS}`);
    }
  }

  const earliest = (a: Date | null, b: Date | null) => (a && b ? (a < b ? a : b) : a ?? b);

  /** The org a new key is bound to: the caller's active org, never one named freely in the body. */
  function orgBinding(p: UserPrincipal, requested: string | undefined): string | null {
    if (requested === undefined) return p.kind === 'apiKey' ? p.orgId : null;
    if (requested.toLowerCase() !== p.orgId?.toLowerCase()) {
      throw new AppError('forbidden', 'A key can be bound only to your active organization; switch to it first (POST /orgs/{org_id}/switch).');
    }
    return p.orgId;
  }

  /** The answer of POST /api-key/validate for a looked-up key (null: not live); records the use of a valid one. */
  function validation(tenant: Tenant, v: ValidatedKey | null): ValidationResult {
    const valid = v !== null && v.principal.tenantId === tenant.id;
    (valid ? validationsValid : validationsInvalid).inc();
    if (!valid) return { valid: false };
    const p = v.principal;
    verifier.touch(p);
    return {
      valid: true, userId: p.userId, tenantId: p.tenantId, scopes: p.scopes,
      ...(p.orgId ? { orgId: p.orgId } : {}),
      ...(v.expiresAt ? { expiresAt: v.expiresAt.toISOString() } : {}),
    };
  }

  return {
    verifier,
    start: () => verifier.start(),
    authenticate: (key: string) => verifier.authenticate(key),
    authenticateCached: (key: string) => verifier.authenticateCached(key),
    /** Resolves when background `lastUsedAt` writes are done (shutdown, tests). */
    settled: () => verifier.settled(),

    /** POST /api-key/validate: a live key of `tenant` → its facts; anything else → {valid: false}, alike. */
    async validate(tenant: Tenant, key: string): Promise<ValidationResult> {
      return validation(tenant, await verifier.check(key));
    },

    /** `validate`'s answer when the key's validation is cached (no I/O, no promise); otherwise undefined. */
    validateCached(tenant: Tenant, key: string): ValidationResult | undefined {
      const v = verifier.checkCached(key);
      return v === undefined ? undefined : validation(tenant, v);
    },

    /** Creates a key for the caller (never for another user: the owner comes from the credential). */
    async create(p: UserPrincipal, input: CreateApiKeyInput, ctx: AuditContext): Promise<IssuedApiKey> {
      checkInput(input);
      const scopes = [...new Set(input.scopes)];
      const orgId = orgBinding(p, input.orgId);
      const now = clock.now();
      const fresh = newApiKey();
      const key = await sql.tx(p.tenantId, async (tx) => {
        await apiKeyStore.lockUser(tx, p.userId);
        const limits = await inheritedLimits(tx, p, scopes, orgId);
        const asked = input.expiresInDays === undefined ? null : new Date(now.getTime() + input.expiresInDays * DAY_MS);
        if ((await apiKeyStore.countLive(tx, p.userId)) >= MAX_KEYS_PER_USER) {
          throw new AppError('conflict', `A user may hold at most ${MAX_KEYS_PER_USER} API keys; delete one first.`);
        }
        const inserted = await apiKeyStore.insert(tx, {
          tenantId: p.tenantId, userId: p.userId, name: input.name, hash: fresh.hash, prefix: fresh.prefix, scopes,
          orgId, isDefault: false, now, expiresAt: earliest(asked, limits.expiresAt),
        });
        await events?.emit(tx, p.tenantId, 'api_key.created', { userId: inserted.userId, keyId: inserted.id, name: inserted.name, scopes: inserted.scopes, orgId: inserted.orgId });
        return inserted;
      });
      await audit.record({ tenantId: p.tenantId, actor: actorOf(p), action: 'api_key.create', target: key.id, outcome: 'success', ...ctx,
        metadata: { name: key.name, scopes: key.scopes, expiresAt: key.expiresAt?.toISOString() ?? null, orgId: key.orgId } });
      return { key, plaintext: fresh.key };
    },

    /** The caller's keys that are not revoked (metadata only). */
    async list(p: UserPrincipal): Promise<ApiKey[]> {
      return sql.tx(p.tenantId, (tx) => apiKeyStore.listLive(tx, p.userId));
    },

    /** The caller's default key (metadata only), or null when there is none. */
    async getDefault(p: UserPrincipal): Promise<ApiKey | null> {
      return sql.tx(p.tenantId, (tx) => apiKeyStore.defaultOf(tx, p.userId));
    },

    /**
     * Replaces the caller's default key: the old one is revoked in the same transaction and dropped
     * from every instance's cache before this returns. Without a default key, one is created.
     */
    async regenerateDefault(p: UserPrincipal, ctx: AuditContext): Promise<IssuedApiKey> {
      const now = clock.now();
      const fresh = newApiKey();
      const { key, old } = await sql.tx(p.tenantId, async (tx) => {
        await apiKeyStore.lockUser(tx, p.userId);
        const current = await apiKeyStore.defaultOf(tx, p.userId);
        const shape = current ?? { ...DEFAULT_KEY, orgId: p.kind === 'apiKey' ? p.orgId : null };
        const limits = await inheritedLimits(tx, p, shape.scopes, shape.orgId);
        const revoked = current ? await apiKeyStore.revoke(tx, p.userId, current.id, now) : null;
        const inserted = await apiKeyStore.insert(tx, {
          tenantId: p.tenantId, userId: p.userId, name: shape.name, hash: fresh.hash, prefix: fresh.prefix, scopes: shape.scopes,
          orgId: shape.orgId, isDefault: true, now, expiresAt: earliest(current?.expiresAt ?? null, limits.expiresAt),
        });
        if (revoked) await events?.emit(tx, p.tenantId, 'api_key.revoked', { userId: revoked.userId, keyId: revoked.id, name: revoked.name, scopes: revoked.scopes, orgId: revoked.orgId });
        await events?.emit(tx, p.tenantId, 'api_key.created', { userId: inserted.userId, keyId: inserted.id, name: inserted.name, scopes: inserted.scopes, orgId: inserted.orgId });
        return { key: inserted, old: revoked };
      });
      if (old) await verifier.invalidate({ keyId: old.id });
      await audit.record({ tenantId: p.tenantId, actor: actorOf(p), action: 'api_key.regenerate', target: key.id, outcome: 'success', ...ctx,
        metadata: { replaced: old?.id ?? null, name: key.name, scopes: key.scopes } });
      return { key, plaintext: fresh.key };
    },

    /** Revokes one of the caller's keys everywhere; false when it is unknown, another user's or already revoked. */
    async revoke(p: UserPrincipal, id: string, ctx: AuditContext): Promise<boolean> {
      const key = await sql.tx(p.tenantId, async (tx) => {
        const revoked = await apiKeyStore.revoke(tx, p.userId, id, clock.now());
        if (revoked) await events?.emit(tx, p.tenantId, 'api_key.revoked', { userId: revoked.userId, keyId: revoked.id, name: revoked.name, scopes: revoked.scopes, orgId: revoked.orgId });
        return revoked;
      });
      if (!key) return false;
      await verifier.invalidate({ keyId: key.id });
      await audit.record({ tenantId: p.tenantId, actor: actorOf(p), action: 'api_key.revoke', target: key.id, outcome: 'success', ...ctx,
        metadata: { name: key.name, default: key.isDefault } });
      return true;
    },

    /** Issues a new user's default key (sign-up hook); returns the plaintext, shown once in AuthResponse.apiKey. */
    async issueSignupKey(tenant: Tenant, userId: string): Promise<string> {
      const now = clock.now();
      const fresh = newApiKey();
      const { key, old } = await sql.tx(tenant.id, async (tx) => {
        await apiKeyStore.lockUser(tx, userId);
        const current = await apiKeyStore.defaultOf(tx, userId);
        const revoked = current ? await apiKeyStore.revoke(tx, userId, current.id, now) : null;
        const inserted = await apiKeyStore.insert(tx, {
          tenantId: tenant.id, userId, ...DEFAULT_KEY, hash: fresh.hash, prefix: fresh.prefix, orgId: null, isDefault: true, now, expiresAt: null,
        });
        if (revoked) await events?.emit(tx, tenant.id, 'api_key.revoked', { userId: revoked.userId, keyId: revoked.id, name: revoked.name, scopes: revoked.scopes, orgId: revoked.orgId });
        await events?.emit(tx, tenant.id, 'api_key.created', { userId: inserted.userId, keyId: inserted.id, name: inserted.name, scopes: inserted.scopes, orgId: inserted.orgId });
        return { key: inserted, old: revoked };
      });
      if (old) await verifier.invalidate({ keyId: old.id });
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: userId }, action: 'api_key.create', target: key.id, outcome: 'success',
        metadata: { name: key.name, scopes: key.scopes, default: true, reason: 'signup' } });
      return fresh.key;
    },

    /** Drops every cached key of a user on every instance (disable, deletion); their keys are refused from now on. */
    async invalidateUser(userId: string): Promise<void> {
      await verifier.invalidate({ userId });
    },
  };
}
