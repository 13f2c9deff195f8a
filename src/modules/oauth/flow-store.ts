import type { Kv } from '../../kv/kv.js';
import { kvKey } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { deriveKey, open, seal, sha256 } from '../../lib/crypto.js';

/** An authorization request in flight: 10 minutes, single use (SECURITY OA-03). */
export const STATE_TTL_MS = 10 * 60_000;
/** The one-time exchange code: 60 s, single use (OA-06, ASVS 10.4.3 L3). */
export const CODE_TTL_MS = 60_000;
/** How long a spent code is remembered, so that a second use can end the session the first made. */
const SPENT_TTL_MS = 10 * 60_000;

export interface PendingAuthorization {
  tenantId: string;
  redirectUri: string;
  verifier: string;
  nonce: string;
  expiresAt: number;
}

export interface IssuedCode {
  userId: string;
  isNewUser: boolean;
  expiresAt: number;
}

/** Digest used as the key of a high-entropy secret (the secret itself is never a key). */
export const digest = (secret: string): string => sha256(secret).toString('base64url');

/**
 * OAuth state and exchange codes in the key–value store. Both are taken with GETDEL (one racer
 * wins); the decision on expiry uses the injected clock, the store's TTL only collects garbage.
 */
export function createOAuthFlowStore(deps: { kv: Kv; clock: Clock; authSecret: string }) {
  const { kv, clock } = deps;
  // The PKCE verifier must be read back: sealed at rest, bound to its state.
  const sealKey = deriveKey(deps.authSecret, 'oauth-pkce-verifier');
  // The callback arrives without a tenant header: state is looked up platform-wide, by digest.
  const stateKey = (state: string) => kvKey(null, 'oauth-state', digest(state));
  const codeKey = (tenantId: string, code: string) => kvKey(tenantId, 'oauth-code', digest(code));
  const spentKey = (tenantId: string, code: string) => kvKey(tenantId, 'oauth-code-spent', digest(code));

  return {
    async saveState(state: string, p: Omit<PendingAuthorization, 'expiresAt'>): Promise<void> {
      const value = { ...p, verifier: seal(sealKey, p.verifier, digest(state)), expiresAt: clock.nowMs() + STATE_TTL_MS };
      await kv.set(stateKey(state), JSON.stringify(value), { ttlMs: STATE_TTL_MS + 60_000 });
    },
    /** The pending authorization of this state, removed; null when unknown, used or expired. */
    async takeState(state: string): Promise<PendingAuthorization | null> {
      const raw = await kv.getDel(stateKey(state));
      if (!raw) return null;
      const p = JSON.parse(raw) as PendingAuthorization;
      if (p.expiresAt <= clock.nowMs()) return null;
      return { ...p, verifier: open(sealKey, p.verifier, digest(state)).toString('utf8') };
    },
    async saveCode(tenantId: string, code: string, c: Omit<IssuedCode, 'expiresAt'>): Promise<void> {
      await kv.set(codeKey(tenantId, code), JSON.stringify({ ...c, expiresAt: clock.nowMs() + CODE_TTL_MS }), { ttlMs: CODE_TTL_MS + 60_000 });
    },
    /** The code's sign-in, removed; null when unknown (or of another tenant), used or expired. */
    async takeCode(tenantId: string, code: string): Promise<IssuedCode | null> {
      const raw = await kv.getDel(codeKey(tenantId, code));
      if (!raw) return null;
      const c = JSON.parse(raw) as IssuedCode;
      return c.expiresAt > clock.nowMs() ? c : null;
    },
    async markSpent(tenantId: string, code: string, session: { userId: string; sessionId: string }): Promise<void> {
      await kv.set(spentKey(tenantId, code), JSON.stringify(session), { ttlMs: SPENT_TTL_MS });
    },
    /** The session a spent code created, if this code was already used. */
    async spentBy(tenantId: string, code: string): Promise<{ userId: string; sessionId: string } | null> {
      const raw = await kv.get(spentKey(tenantId, code));
      return raw ? (JSON.parse(raw) as { userId: string; sessionId: string }) : null;
    },
  };
}
