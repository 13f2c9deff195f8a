import { randomUUID } from 'node:crypto';
import type { Sql, Tx } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { constantTimeEqual, randomToken, sha256 } from '../../lib/crypto.js';
import { isUuid } from '../../lib/ids.js';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { TenantService } from '../tenants/service.js';
import { audienceOf, type Tenant } from '../tenants/schemas.js';
import type { AccessClaims, AccessTokens } from '../tokens/access-tokens.js';
import { publicUser, sessionEpochs, userStore, type User } from '../users/store.js';
import { refreshStore } from './refresh-store.js';
import type { ActiveOrg, Session, SessionCheck, SessionStore } from './session-store.js';
import type { Events } from '../webhooks/events.js';

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  sessionId: string;
  refreshExpiresIn: number;
}

export type SessionService = ReturnType<typeof createSessionService>;

/** The session is live, the token's own, and the token not revoked. */
function sessionHoldsAt(c: AccessClaims, { session, jtiRevoked }: SessionCheck, nowMs: number): boolean {
  return session !== null && session.userId === c.sub && session.tenantId === c.tid && !jtiRevoked && session.expiresAt > nowMs;
}

/** The principal of a token whose session holds (`sessionHoldsAt`: `check.session` is set). */
function principalOf(c: AccessClaims, check: SessionCheck, viaCookie: boolean): SessionPrincipal {
  return {
    kind: 'session', tenantId: c.tid, userId: c.sub, sessionId: c.sid, jti: c.jti, amr: c.amr,
    orgId: c.org ?? null, roles: c.roles ?? [], authTime: check.session!.createdAt, stepUpAt: check.stepUpAt, viaCookie, expiresAt: c.exp * 1000,
  };
}

/** Sessions: the KV record, the refresh-token family in Postgres, and the access tokens minted for them. */
export function createSessionService(deps: { sql: Sql; clock: Clock; store: SessionStore; tokens: AccessTokens; tenants: TenantService; audit: AuditService; events?: Events }) {
  const { sql, clock, store, tokens, tenants, audit, events } = deps;
  const sessionHolds = (c: AccessClaims, check: SessionCheck) => sessionHoldsAt(c, check, clock.nowMs());

  const newRefresh = () => {
    const id = randomUUID();
    const secret = randomToken(32);
    return { id, token: `${id}.${secret}`, hash: sha256(secret) };
  };

  async function mint(tenant: Tenant, s: Session, org: ActiveOrg | null, extraAmr: string[] = []) {
    const amr = [...new Set([...s.amr, ...extraAmr])];
    return tokens.sign({
      aud: audienceOf(tenant), sub: s.userId, tid: tenant.id, sid: s.id, amr,
      ttlSeconds: tenant.settings.accessTokenTtlSeconds,
      ...(org ? { org: org.orgId, roles: org.roles } : {}),
    });
  }

  /**
   * Ends every session of a user (but `except`) inside the caller's transaction — the one that makes
   * the change the revocation belongs to (password reset or change, claim, disable, MFA enable/disable,
   * "sign out everywhere"). In order: the user's session epoch is incremented (the row stays locked until
   * commit, so no sign-in can start a session meanwhile, and one that read the old epoch never will),
   * the refresh tokens are revoked, and the sessions are deleted from the store before the change
   * commits. If the store cannot be reached, this throws and the whole change rolls back (503): the
   * change is never committed with its sessions still alive. Returns how many sessions ended.
   * `ifEpoch`: the epoch the caller read with the credential it checked; if another revocation came
   * first, nothing is done and `invalid_token` is thrown (the caller's own session has ended).
   */
  async function endAllIn(tx: Tx, tenantId: string, userId: string, opts: { except?: string; ifEpoch?: number } = {}): Promise<number> {
    const epoch = await sessionEpochs.bump(tx, userId);
    if (opts.ifEpoch !== undefined && epoch !== opts.ifEpoch + 1) {
      throw new AppError('invalid_token', 'The account changed meanwhile (its password, status or sessions); sign in again.');
    }
    if (!opts.except) await refreshStore.revokeUser(tx, userId, clock.now());
    else await refreshStore.revokeUserExcept(tx, userId, opts.except, clock.now());
    const ended = (await store.deleteAllOfUser(tenantId, userId, opts.except)).length;
    if (ended > 0) await events?.emit(tx, tenantId, 'session.revoked', { userId, allSessions: true, exceptSessionId: opts.except ?? null, count: ended });
    return ended;
  }

  /** Ends one session of a user; false if it is not theirs or already gone. */
  async function revoke(tenantId: string, userId: string, sessionId: string): Promise<boolean> {
    const s = await store.get(tenantId, userId, sessionId);
    if (!s || s.userId !== userId) return false;
    // The store write inside the transaction: if it fails, the refresh tokens stay as they were too.
    await sql.tx(tenantId, async (tx) => {
      await refreshStore.revokeSession(tx, sessionId, clock.now());
      await store.delete(tenantId, userId, sessionId);
      await events?.emit(tx, tenantId, 'session.revoked', { userId, sessionId, allSessions: false });
    });
    return true;
  }

  return {
    /**
     * Starts a new session (always a new sid, jti and refresh token) and returns its first tokens.
     * `sessionEpoch` is the user's epoch read together with the credential the sign-in checked: the
     * session is created only if it is still current, under a lock on the user row (taken by the UPDATE that
     * also marks the user's last sign-in), so a revocation
     * of this user (which increments it) either ends this session or makes this sign-in fail — never
     * neither (a login racing a password reset cannot outlive it).
     * `audit`: the sign-in's audit row (actor the user, target the new session, outcome success), written
     * as the transaction's last work, so the session and its row commit together (one transaction fewer
     * per sign-in, and never a session without its row).
     */
    async start(tenant: Tenant, userId: string, o: { amr: string[]; method: string; ctx: AuditContext; stepUp?: boolean; sessionEpoch: number; audit?: { action: string; metadata: Record<string, unknown> } }): Promise<IssuedTokens> {
      const now = clock.nowMs();
      const ttlMs = tenant.settings.refreshTokenTtlSeconds * 1000;
      const session: Session = {
        id: randomUUID(), tenantId: tenant.id, userId, createdAt: now, expiresAt: now + ttlMs,
        amr: o.amr, method: o.method, ip: o.ctx.ip, userAgent: o.ctx.userAgent?.slice(0, 300) ?? null,
      };
      const rt = newRefresh();
      const audited = await sql.tx(tenant.id, async (tx) => {
        // The user's last sign-in is marked here too (one transaction fewer per sign-in).
        const held = await sessionEpochs.holdForSignIn(tx, userId, new Date(now));
        if (!held || held.disabled || held.epoch !== o.sessionEpoch) {
          throw new AppError('invalid_credentials', 'The account changed while signing in (its password, status or sessions); sign in again.');
        }
        await refreshStore.insert(tx, {
          id: rt.id, tenantId: tenant.id, sessionId: session.id, userId, tokenHash: rt.hash, parentId: null,
          now: new Date(now), expiresAt: new Date(session.expiresAt),
        });
        // Inside the transaction: if the store write fails, no refresh token is left without its session.
        await store.put(session, now);
        await events?.emit(tx, tenant.id, 'session.created', { userId, sessionId: session.id, method: o.method, amr: o.amr });
        if (!o.audit) return undefined;
        return audit.recordIn(tx, {
          tenantId: tenant.id, actor: { type: 'user', id: userId }, action: o.audit.action, target: session.id, outcome: 'success', ...o.ctx, metadata: o.audit.metadata,
        });
      });
      audited?.();
      if (o.stepUp) await store.setStepUp(tenant.id, userId, session.id, now, 5 * 60_000);
      const at = await mint(tenant, session, null);
      return { accessToken: at.token, refreshToken: rt.token, expiresIn: tenant.settings.accessTokenTtlSeconds, sessionId: session.id, refreshExpiresIn: Math.floor(ttlMs / 1000) };
    },

    /**
     * Rotates a refresh token (SECURITY TOK-10, TOK-11; docs/decisions.md "Concurrent refresh").
     * - One racer wins: the guarded UPDATE (rotated_at IS NULL) lets exactly one request rotate a token.
     * - A rotated token presented again is reuse: the whole session (the family) is revoked and audited,
     *   unless the tenant's refreshReuseGraceSeconds has not yet passed since the rotation and the token
     *   is the immediate parent of the live one, which answers refresh_token_rotated and revokes nothing. With the default grace of 0 the losers of a concurrent
     *   race are reuse too: the winner still gets its 200, but its new tokens die with the family.
     * - A known id with a wrong secret is refused without revoking anything (knowing an id is not a theft).
     * - The session has an absolute end: every token of the family expires at sign-in + refresh lifetime.
     * - A disabled user's refresh ends the session.
     */
    async refresh(tenant: Tenant, presented: string, ctx: AuditContext): Promise<{ userId: string; user: User; tokens: IssuedTokens }> {
      const invalid = () => new AppError('invalid_token', 'The refresh token is invalid or has been revoked.');
      const dot = presented.indexOf('.');
      const id = presented.slice(0, dot);
      const secret = presented.slice(dot + 1);
      if (dot < 0 || !isUuid(id) || !/^[A-Za-z0-9_-]{22,128}$/.test(secret)) throw invalid();
      const now = clock.now();
      const graceMs = tenant.settings.refreshReuseGraceSeconds * 1000;
      type Outcome = { kind: 'ok'; session: Session; user: User; next: ReturnType<typeof newRefresh> }
        | { kind: 'invalid' } | { kind: 'expired' } | { kind: 'grace' } | { kind: 'reuse' | 'disabled' | 'ended'; sessionId: string; userId: string };
      const outcome: Outcome = await sql.tx(tenant.id, async (tx) => {
        const row = await refreshStore.byId(tx, id);
        if (!row || !constantTimeEqual(sha256(secret), row.token_hash)) return { kind: 'invalid' };
        if (row.revoked_at) return { kind: 'invalid' };
        if (new Date(row.expires_at).getTime() <= now.getTime()) return { kind: 'expired' };
        // Postgres: a concurrent racer blocks on this UPDATE until we commit, then finds rotated_at set.
        const won = row.rotated_at ? null : await refreshStore.markRotated(tx, id, now);
        if (!won) {
          const current = row.rotated_at ? row : await refreshStore.byId(tx, id);
          if (!current || current.revoked_at) return { kind: 'invalid' };
          const rotatedAt = current.rotated_at ? new Date(current.rotated_at).getTime() : now.getTime();
          if (graceMs > 0 && now.getTime() - rotatedAt <= graceMs) {
            // Grace covers the immediate parent of the live token only: a client that lost a race. A
            // token two rotations old is reuse even within the grace time.
            const child = await refreshStore.childOf(tx, current);
            if (child && !child.rotated_at && !child.revoked_at) return { kind: 'grace' };
          }
          // Concurrent losers all get here; the one whose UPDATE revokes the family ends the session
          // and audits it, the others found it revoked already.
          if (!(await refreshStore.revokeSession(tx, row.session_id, now))) return { kind: 'invalid' };
          await events?.emit(tx, tenant.id, 'session.refresh_reuse_detected', { userId: row.user_id, sessionId: row.session_id });
          return { kind: 'reuse', sessionId: row.session_id, userId: row.user_id };
        }
        const user = await userStore.byId(tx, row.user_id);
        if (!user || user.disabled) {
          await refreshStore.revokeSession(tx, row.session_id, now);
          return { kind: 'disabled', sessionId: row.session_id, userId: row.user_id };
        }
        // Read the session while we still hold the row lock: a loser's reuse detection waits for our
        // commit, so it cannot end the session between our rotation and this read. This is what makes
        // "exactly one succeeds" hold even when the losers then revoke the family (grace 0).
        const session = await store.get(tenant.id, row.user_id, row.session_id);
        if (!session) {
          // The session ended (logout elsewhere) while its refresh row was still live: end the family too.
          await refreshStore.revokeSession(tx, row.session_id, now);
          return { kind: 'ended', sessionId: row.session_id, userId: row.user_id };
        }
        const next = newRefresh();
        await refreshStore.insert(tx, { id: next.id, tenantId: tenant.id, sessionId: row.session_id, userId: row.user_id, tokenHash: next.hash, parentId: row.id, now, expiresAt: new Date(row.expires_at) });
        return { kind: 'ok', session, user: publicUser(user), next };
      });
      switch (outcome.kind) {
        case 'invalid':
        case 'ended':
          throw invalid();
        case 'expired': throw new AppError('invalid_token', 'The session has reached its end; sign in again.');
        case 'grace': throw new AppError('refresh_token_rotated', 'This refresh token was just rotated by another request; use the newest one.');
        case 'reuse':
          await store.delete(tenant.id, outcome.userId, outcome.sessionId);
          await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: outcome.userId }, action: 'session.refresh_reuse', target: outcome.sessionId, outcome: 'denied', ...ctx, metadata: { refreshTokenId: id } });
          throw invalid();
        case 'disabled':
          await store.delete(tenant.id, outcome.userId, outcome.sessionId);
          throw invalid();
      }
      const { session } = outcome;
      const org = await store.activeOrg(tenant.id, session.userId, session.id);
      const at = await mint(tenant, session, org);
      return {
        userId: session.userId,
        user: outcome.user,
        tokens: {
          accessToken: at.token, refreshToken: outcome.next.token, expiresIn: tenant.settings.accessTokenTtlSeconds,
          sessionId: session.id, refreshExpiresIn: Math.max(1, Math.floor((session.expiresAt - clock.nowMs()) / 1000)),
        },
      };
    },

    /**
     * Verifies an access token and its live session: the bearer hot path (no Postgres, at most one store
     * round trip). `fresh` skips the few-seconds check cache: state changes (unsafe methods) and callers
     * with caches of their own read the store's current answer.
     */
    async authenticate(token: string, viaCookie: boolean, o: { fresh?: boolean } = {}): Promise<SessionPrincipal> {
      const c = await tokens.verify(token);
      const tenant = await tenants.byId(c.tid);
      if (!tenant || c.aud !== audienceOf(tenant)) throw new AppError('invalid_token', 'The access token is invalid.');
      const check = await store.check(c.tid, c.sub, c.sid, c.jti, { fresh: o.fresh });
      if (!sessionHolds(c, check)) throw new AppError('invalid_token', 'The session has ended; sign in again.');
      return principalOf(c, check, viaCookie);
    },

    /**
     * `authenticate`'s answer when every part of it comes from memory (a token verified before, a cached
     * tenant, a cached session check) and it accepts the token; otherwise undefined, and the caller runs
     * `authenticate`, which also gives the refusal. Never for `fresh` checks.
     */
    authenticateCached(token: string, viaCookie: boolean, o: { fresh?: boolean } = {}): SessionPrincipal | undefined {
      if (o.fresh) return undefined;
      const c = tokens.verifiedBefore(token);
      if (c === undefined) return undefined;
      const tenant = tenants.cachedById(c.tid);
      if (!tenant || c.aud !== audienceOf(tenant)) return undefined;
      const check = store.checkCached(c.tid, c.sid, c.jti);
      return check !== undefined && sessionHolds(c, check) ? principalOf(c, check, viaCookie) : undefined;
    },

    revoke,

    /**
     * "End this session" as a user asks for it (REST, MCP, the account page): ends one of the user's own
     * sessions and audits it; 404 not_found when it is another user's, unknown or already gone (SES-02).
     */
    async endOwn(p: { tenantId: string; userId: string; actor: { type: string; id: string | null } }, sessionId: string, ctx: AuditContext & { via?: string }): Promise<void> {
      if (!(await revoke(p.tenantId, p.userId, sessionId))) throw new AppError('not_found', 'No such session.');
      const { via, ...audited } = ctx;
      await audit.record({ tenantId: p.tenantId, actor: p.actor, action: 'session.revoke', target: sessionId, outcome: 'success', ...audited, ...(via ? { metadata: { via } } : {}) });
    },

    /** "Sign out everywhere" as a user asks for it: ends every session of the user and audits it; returns how many ended. */
    async endAllOwn(p: { tenantId: string; userId: string; actor: { type: string; id: string | null } }, ctx: AuditContext): Promise<number> {
      const revoked = await sql.tx(p.tenantId, (tx) => endAllIn(tx, p.tenantId, p.userId));
      await audit.record({ tenantId: p.tenantId, actor: p.actor, action: 'session.revoke_all', target: p.userId, outcome: 'success', ...ctx, metadata: { revoked } });
      return revoked;
    },

    endAllIn,

    /** Logout: ends the principal's session and revokes its access token at once, audited (REST and pages). */
    async logout(p: SessionPrincipal, ctx: AuditContext): Promise<void> {
      await this.revoke(p.tenantId, p.userId, p.sessionId);
      await this.revokeAccessToken(p);
      await audit.record({ tenantId: p.tenantId, actor: { type: 'user', id: p.userId }, action: 'session.logout', target: p.sessionId, outcome: 'success', ...ctx });
    },

    /** `endAllIn` in a transaction of its own ("sign out everywhere"); returns how many sessions ended. */
    async revokeAll(tenantId: string, userId: string, opts: { except?: string; ifEpoch?: number } = {}): Promise<number> {
      return sql.tx(tenantId, (tx) => endAllIn(tx, tenantId, userId, opts));
    },

    async list(tenantId: string, userId: string): Promise<Session[]> {
      return store.listByUser(tenantId, userId);
    },

    /** Revokes one access token until its expiry (its session may live on). */
    async revokeAccessToken(p: SessionPrincipal): Promise<void> {
      await store.revokeJti(p.tenantId, p.userId, p.jti, p.expiresAt - clock.nowMs() + 60_000);
    },

    /** Marks the session MFA-verified now (step-up lasts 5 minutes). */
    async markStepUp(p: SessionPrincipal): Promise<void> {
      await store.setStepUp(p.tenantId, p.userId, p.sessionId, clock.nowMs(), 5 * 60_000);
    },

    /** Mints a fresh access token for the caller's session, e.g. after an org switch or a step-up (`otp` added to amr). */
    async reissue(tenant: Tenant, p: SessionPrincipal, o: { org?: ActiveOrg | null; addAmr?: string[] } = {}): Promise<{ accessToken: string; expiresIn: number }> {
      const s = await store.get(tenant.id, p.userId, p.sessionId);
      if (!s) throw new AppError('invalid_token', 'The session has ended; sign in again.');
      const org = o.org === undefined ? await store.activeOrg(tenant.id, s.userId, s.id) : o.org;
      if (o.org !== undefined) await store.setActiveOrg(tenant.id, s.userId, s.id, o.org, s.expiresAt - clock.nowMs());
      const amr = o.addAmr?.length ? [...new Set([...s.amr, ...o.addAmr])] : s.amr;
      // An update in place: a session ended since the read above (a logout racing a step-up) stays ended.
      if (o.addAmr?.length && !(await store.update({ ...s, amr }))) throw new AppError('invalid_token', 'The session has ended; sign in again.');
      const at = await mint(tenant, { ...s, amr }, org ?? null);
      return { accessToken: at.token, expiresIn: tenant.settings.accessTokenTtlSeconds };
    },
  };
}
