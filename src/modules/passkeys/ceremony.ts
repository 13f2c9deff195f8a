import { randomBytes } from 'node:crypto';
import type { Kv } from '../../kv/kv.js';
import { kvKey } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import type { Tenant } from '../tenants/schemas.js';

/** How long a ceremony's challenge lives (SECURITY PK-01: single use, short-lived). */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** COSE algorithms we accept: EdDSA, ES256, RS256 (named so that no new default slips in unnoticed). */
export const SUPPORTED_ALGS = [-8, -7, -257];

/** The relying party of a tenant: its RP ID (settings, default PUBLIC_URL's host) and exact origins. */
export function relyingParty(tenant: Tenant, publicUrl: string): { rpId: string; origins: string[] } {
  const u = new URL(publicUrl);
  return {
    rpId: tenant.settings.webauthnRpId ?? u.hostname,
    // Exact strings: scheme, host and port all count (http://x or https://x:8443 are other origins).
    origins: [...new Set([...tenant.settings.allowedOrigins, u.origin])],
  };
}

/** The WebAuthn user handle of a user: the 16 bytes of its uuid (no personal data). */
export const userHandleOf = (userId: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));
export const userHandleText = (userId: string): string => Buffer.from(userHandleOf(userId)).toString('base64url');

export interface PendingChallenge {
  /** registration: the user registering; login: the user named by email, or null (discoverable) */
  userId: string | null;
  /** login with an email: the ceremony is limited to that user's credentials (null user = decoy) */
  bound: boolean;
  sessionId: string | null;
  expiresAt: number;
}

/** Challenges in the key–value store, keyed by the challenge itself and taken with GETDEL (one use). */
export function createChallengeStore(kv: Kv, clock: Clock) {
  const key = (tenantId: string, kind: 'reg' | 'auth', challenge: string) => kvKey(tenantId, 'webauthn', challenge, kind);
  return {
    /** A fresh 32-byte challenge, stored before it is handed out (no storage, no challenge: 503). */
    async issue(tenantId: string, kind: 'reg' | 'auth', p: Omit<PendingChallenge, 'expiresAt'>): Promise<Uint8Array<ArrayBuffer>> {
      const bytes = new Uint8Array(randomBytes(32));
      const pending: PendingChallenge = { ...p, expiresAt: clock.nowMs() + CHALLENGE_TTL_MS };
      await kv.set(key(tenantId, kind, Buffer.from(bytes).toString('base64url')), JSON.stringify(pending), { ttlMs: CHALLENGE_TTL_MS + 60_000 });
      return bytes;
    },
    /**
     * Takes the challenge named inside the signed clientDataJSON (never a copy from the body,
     * PK-01); null when unknown, already used or expired. Of concurrent takers one wins.
     */
    async take(tenantId: string, kind: 'reg' | 'auth', challenge: string): Promise<PendingChallenge | null> {
      if (!/^[A-Za-z0-9_-]{16,128}$/.test(challenge)) return null;
      const raw = await kv.getDel(key(tenantId, kind, challenge));
      if (!raw) return null;
      const p = JSON.parse(raw) as PendingChallenge;
      // The store's TTL only collects garbage; the decision uses the injected clock.
      return p.expiresAt > clock.nowMs() ? p : null;
    },
  };
}

export interface ClientData {
  type: string;
  challenge: string;
  origin: string;
  crossOrigin?: boolean;
  topOrigin?: string;
}

/** Decodes clientDataJSON; null when it is not base64url JSON with string type, challenge and origin. */
export function parseClientData(b64url: string): ClientData | null {
  try {
    const v = JSON.parse(Buffer.from(b64url, 'base64url').toString('utf8')) as unknown;
    if (!v || typeof v !== 'object') return null;
    const c = v as Record<string, unknown>;
    if (typeof c.type !== 'string' || typeof c.challenge !== 'string' || typeof c.origin !== 'string') return null;
    return c as unknown as ClientData;
  } catch {
    return null;
  }
}

/**
 * We never expect a ceremony inside a cross-origin iframe: refuse `crossOrigin: true` and any
 * `topOrigin` (the library lets crossOrigin without topOrigin pass for Safari's sake; PK-02).
 */
export const isEmbedded = (c: ClientData): boolean => c.crossOrigin === true || c.topOrigin !== undefined;
