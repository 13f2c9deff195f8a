import type { Kv } from '../../kv/kv.js';
import { kvKey } from '../../kv/kv.js';
import { INTERACTION_TTL_SECONDS } from './provider.js';

/**
 * How recent the user's authentication must be for an authorization request (OIDC Core §3.1.2.1):
 * `prompt=login` asks for one made during this request, `max_age=N` for one at most N seconds old.
 * oidc-provider has validated both already, applied the client's default_max_age, and turned max_age=0
 * into prompt=login.
 */
export interface FreshnessDemand {
  promptLogin: boolean;
  /** undefined when the request sets no max_age */
  maxAgeMs: number | undefined;
}

export function freshnessDemand(params: Record<string, unknown>): FreshnessDemand {
  const prompts = typeof params.prompt === 'string' ? params.prompt.split(' ') : [];
  const raw = params.max_age;
  let maxAgeMs: number | undefined;
  if (raw !== undefined && raw !== null && raw !== '') {
    const n = Number(raw);
    // Never reached with a value oidc-provider let through; anything else demands a new sign-in.
    maxAgeMs = Number.isSafeInteger(n) && n >= 0 ? n * 1000 : 0;
  }
  return { promptLogin: prompts.includes('login'), maxAgeMs };
}

/**
 * Whether a session whose user authenticated at `authTime` (ms epoch) meets the demand now:
 * an authentication at or after `reauthSince` (when this interaction sent the user to sign in again)
 * always does; otherwise prompt=login never does and max_age needs an age below it.
 */
export function meetsFreshness(authTime: number, demand: FreshnessDemand, reauthSince: number | null, nowMs: number): boolean {
  if (reauthSince !== null && authTime >= reauthSince) return true;
  if (demand.promptLogin) return false;
  return demand.maxAgeMs === undefined || nowMs - authTime < demand.maxAgeMs;
}

const markKey = (tenantId: string, uid: string) => kvKey(tenantId, 'oidc-reauth', uid);

/**
 * When an interaction first sent the user to sign in again, kept server-side by interaction uid: only a
 * sign-in at or after it satisfies that interaction. Nothing the browser sends can set or move it.
 */
export const reauthMarks = {
  async since(kv: Kv, tenantId: string, uid: string): Promise<number | null> {
    const v = await kv.get(markKey(tenantId, uid));
    const n = v === null ? NaN : Number(v);
    return Number.isFinite(n) ? n : null;
  },
  /** Records `nowMs` unless the interaction has a mark already (the first one stays). */
  async start(kv: Kv, tenantId: string, uid: string, nowMs: number): Promise<void> {
    await kv.set(markKey(tenantId, uid), String(nowMs), { nx: true, ttlMs: INTERACTION_TTL_SECONDS * 1000 });
  },
};
