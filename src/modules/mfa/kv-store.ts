import type { Kv } from '../../kv/kv.js';
import { kvKey } from '../../kv/kv.js';
import { randomToken, sha256Hex } from '../../lib/crypto.js';

/**
 * The short-lived MFA records in the key–value store. Keys carry the SHA-256 of the opaque value, so
 * the store never holds a usable mfaToken or challenge. Every decision compares the stored expiry
 * with the injected clock; TTLs only collect garbage.
 */

/** A sign-in waiting for its second factor (MfaRequiredResponse.mfaToken). */
export interface PendingLogin {
  userId: string;
  amr: string[];
  method: string;
  expiresAt: number;
  /** the user's session epoch read with the first factor; the sign-in fails if it changed meanwhile */
  sessionEpoch?: number;
}

/** A step-up challenge issued by the gate for one request (DESIGN §4). */
export interface GateChallenge {
  userId: string;
  sessionId: string;
  method: string;
  path: string;
  expiresAt: number;
}

export const MFA_TOKEN_RE = /^mfa_[A-Za-z0-9_-]{43}$/;
export const CHALLENGE_RE = /^ch_[A-Za-z0-9_-]{43}$/;
const GC_SLACK_MS = 60_000;

const k = {
  login: (t: string, token: string) => kvKey(t, 'mfa-login', sha256Hex(token)),
  challenge: (t: string, ch: string) => kvKey(t, 'totp-ch', sha256Hex(ch)),
  completed: (t: string, ch: string) => kvKey(t, 'totp-ch-done', sha256Hex(ch)),
  attempts: (t: string, userId: string) => kvKey(t, 'mfa-attempts', userId),
};

const parse = <T>(s: string | null): T | null => {
  if (!s) return null;
  try { return JSON.parse(s) as T; } catch { return null; }
};

export function createMfaKvStore(kv: Kv) {
  return {
    /** Stores a pending sign-in under a new opaque token; returns the token. */
    async putLogin(tenantId: string, p: PendingLogin, nowMs: number): Promise<string> {
      const token = `mfa_${randomToken(32)}`;
      await kv.set(k.login(tenantId, token), JSON.stringify(p), { ttlMs: p.expiresAt - nowMs + GC_SLACK_MS });
      return token;
    },
    /** Reads a pending sign-in without using it up (a wrong code leaves it usable). */
    async peekLogin(tenantId: string, token: string): Promise<PendingLogin | null> {
      return parse<PendingLogin>(await kv.get(k.login(tenantId, token)));
    },
    /** Uses up a pending sign-in: exactly one concurrent caller gets it (GETDEL). */
    async takeLogin(tenantId: string, token: string): Promise<PendingLogin | null> {
      return parse<PendingLogin>(await kv.getDel(k.login(tenantId, token)));
    },

    async putChallenge(tenantId: string, c: GateChallenge, nowMs: number): Promise<string> {
      const id = `ch_${randomToken(32)}`;
      await kv.set(k.challenge(tenantId, id), JSON.stringify(c), { ttlMs: c.expiresAt - nowMs + GC_SLACK_MS });
      return id;
    },
    async peekChallenge(tenantId: string, id: string): Promise<GateChallenge | null> {
      return parse<GateChallenge>(await kv.get(k.challenge(tenantId, id)));
    },
    async isCompleted(tenantId: string, id: string): Promise<boolean> {
      return (await kv.get(k.completed(tenantId, id))) !== null;
    },
    /** Marks a challenge completed; false if it already was. */
    async markCompleted(tenantId: string, id: string, c: GateChallenge, nowMs: number): Promise<boolean> {
      return kv.set(k.completed(tenantId, id), String(nowMs), { ttlMs: Math.max(1, c.expiresAt - nowMs) + GC_SLACK_MS, nx: true });
    },
    /**
     * Uses up a challenge: the record is taken with GETDEL, so exactly one request can ever pass with
     * it, whatever else is wrong with that request. Returns the record and whether it was completed.
     */
    async takeChallenge(tenantId: string, id: string): Promise<{ challenge: GateChallenge; completed: boolean } | null> {
      const challenge = parse<GateChallenge>(await kv.getDel(k.challenge(tenantId, id)));
      if (!challenge) return null;
      const completed = (await kv.getDel(k.completed(tenantId, id))) !== null;
      return { challenge, completed };
    },

    /**
     * Counts one second-factor attempt of a user against `limit` per `windowMs` (sliding window);
     * a success clears the count (clearAttempts), so the limit bites on consecutive wrong codes.
     */
    async countAttempt(tenantId: string, userId: string, limit: number, windowMs: number, nowMs: number) {
      return kv.slidingWindow(k.attempts(tenantId, userId), limit, windowMs, nowMs);
    },
    async clearAttempts(tenantId: string, userId: string): Promise<void> {
      await kv.del(k.attempts(tenantId, userId));
    },
  };
}

export type MfaKvStore = ReturnType<typeof createMfaKvStore>;
