import { describe, expect, it } from 'vitest';
import type { SessionPrincipal } from '../../http/principal.js';
import { createSessionCache } from './session-cache.js';

const principal = (o: Partial<SessionPrincipal> = {}): SessionPrincipal => ({
  kind: 'session', tenantId: 't1', userId: 'u1', sessionId: 's1', jti: 'j1', amr: ['pwd'], orgId: null, roles: [],
  authTime: 0, stepUpAt: null, viaCookie: false, expiresAt: 1_000_000, ...o,
});

describe('the MCP bearer cache', () => {
  it('serves an entry for at most ttlMs, never past its token\'s expiry, and not when the clock went backwards', () => {
    let now = 0;
    const c = createSessionCache({ ttlMs: 60_000, max: 10, now: () => now, generation: () => 1 });
    c.put('h', principal(), c.epoch);
    now = 60_000;
    expect(c.get('h')).toBeDefined();
    now = 60_001;
    expect(c.get('h')).toBeUndefined();

    now = 0;
    c.put('h', principal({ expiresAt: 30_000 }), c.epoch);
    now = 30_000;
    expect(c.get('h')).toBeUndefined();

    now = 100;
    c.put('h', principal(), c.epoch);
    now = 50;
    expect(c.get('h')).toBeUndefined();
  });

  it('a revocation drops the entries of that session or that token, in that tenant only', () => {
    const c = createSessionCache({ ttlMs: 60_000, max: 10, now: () => 0, generation: () => 1 });
    c.put('a', principal({ sessionId: 's1', jti: 'j1' }), c.epoch);
    c.put('b', principal({ sessionId: 's1', jti: 'j2' }), c.epoch);
    c.put('c', principal({ sessionId: 's2', jti: 'j3' }), c.epoch);
    c.put('d', principal({ tenantId: 't2', sessionId: 's1', jti: 'j4' }), c.epoch);
    c.drop({ tenantId: 't1', sessionId: 's1' });
    expect([c.get('a'), c.get('b')]).toEqual([undefined, undefined]);
    expect(c.get('c')).toBeDefined();
    expect(c.get('d')).toBeDefined();
    c.drop({ tenantId: 't1', jti: 'j3' });
    expect(c.get('c')).toBeUndefined();
    c.drop(null);
    expect(c.size).toBe(0);
  });

  it('a lookup that raced a revocation is not cached (epoch)', () => {
    const c = createSessionCache({ ttlMs: 60_000, max: 10, now: () => 0, generation: () => 1 });
    const seen = c.epoch;
    c.drop({ tenantId: 't1', sessionId: 'other' });
    c.put('a', principal(), seen);
    expect(c.get('a')).toBeUndefined();
  });

  it('holds at most `max` entries, dropping the oldest', () => {
    const c = createSessionCache({ ttlMs: 60_000, max: 2, now: () => 0, generation: () => 1 });
    for (const h of ['a', 'b', 'c']) c.put(h, principal({ sessionId: h }), c.epoch);
    expect(c.size).toBe(2);
    expect(c.get('a')).toBeUndefined();
    expect(c.get('c')).toBeDefined();
  });
});
