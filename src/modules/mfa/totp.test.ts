import { describe, expect, it } from 'vitest';
import { matchTotpStep, newTotpSecret, otpauthUri, stepAt, totpAt } from './totp.js';

// RFC 6238 Appendix B, SHA-1 rows (SECURITY §V): the ASCII secret "12345678901234567890".
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const VECTORS: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

const base32Decode = (s: string): Buffer => {
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '')) bits += a.indexOf(c).toString(2).padStart(5, '0');
  return Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
};

describe('RFC 6238 Appendix B vectors (SHA-1)', () => {
  it('the base32 secret is the RFC ASCII secret', () => {
    expect(base32Decode(RFC_SECRET).toString('ascii')).toBe('12345678901234567890');
  });

  it.each(VECTORS)('t=%i gives the 8-digit RFC value %s', (t, code) => {
    expect(totpAt(RFC_SECRET, t, 8)).toBe(code);
  });

  it.each(VECTORS)('t=%i: the 6-digit code is the last six digits of %s, leading zeros kept', (t, code) => {
    expect(totpAt(RFC_SECRET, t)).toBe(code.slice(-6));
  });

  it.each(VECTORS)('t=%i: the 6-digit code verifies at its own time, on its own step (64-bit counter)', (t, code) => {
    expect(matchTotpStep(RFC_SECRET, code.slice(-6), t, null)).toBe(stepAt(t));
  });

  it('T > 2^32 (t = 20000000000) uses the full 64-bit counter', () => {
    expect(stepAt(20000000000)).toBe(0x27bc86aa);
    expect(stepAt(20000000000)).toBeGreaterThan(2 ** 32 / 30);
  });
});

describe('acceptance window: the current and the previous step only (§D-3)', () => {
  const now = 59; // step 1
  it('accepts T (t=59) and T-1 (the code of t=29, step 0)', () => {
    expect(matchTotpStep(RFC_SECRET, totpAt(RFC_SECRET, 59), now, null)).toBe(1);
    expect(matchTotpStep(RFC_SECRET, totpAt(RFC_SECRET, 29), now, null)).toBe(0);
  });

  it('rejects T+1 and T+2 (t=89, t=119) and T-2', () => {
    expect(matchTotpStep(RFC_SECRET, totpAt(RFC_SECRET, 89), now, null)).toBeNull();
    expect(matchTotpStep(RFC_SECRET, totpAt(RFC_SECRET, 119), now, null)).toBeNull();
    const at = 1234567890;
    expect(matchTotpStep(RFC_SECRET, totpAt(RFC_SECRET, at - 60), at, null)).toBeNull();
    expect(matchTotpStep(RFC_SECRET, totpAt(RFC_SECRET, at - 30), at, null)).toBe(stepAt(at) - 1);
  });

  it('refuses a step at or before the last used one (codes only move forward)', () => {
    const at = 2000000000;
    const t = stepAt(at);
    expect(matchTotpStep(RFC_SECRET, totpAt(RFC_SECRET, at), at, t)).toBeNull();
    expect(matchTotpStep(RFC_SECRET, totpAt(RFC_SECRET, at - 30), at, t - 1)).toBeNull();
    expect(matchTotpStep(RFC_SECRET, totpAt(RFC_SECRET, at), at, t - 1)).toBe(t);
  });

  it('refuses malformed codes without throwing', () => {
    for (const c of ['', '12345', '1234567', 'abcdef', ' 287082', '287082 ', '２８７０８２']) {
      expect(matchTotpStep(RFC_SECRET, c, 59, null)).toBeNull();
    }
  });

  it('a code of one secret does not verify under another', () => {
    const other = newTotpSecret();
    expect(matchTotpStep(other, totpAt(RFC_SECRET, 59), 59, null)).toBe(null);
  });
});

describe('secrets and the otpauth URI', () => {
  it('a new secret is base32 of 20 random bytes, different every time', () => {
    const a = newTotpSecret();
    const b = newTotpSecret();
    expect(a).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(a)).toHaveLength(20);
    expect(a).not.toBe(b);
  });

  it('names issuer, account, algorithm, digits and period', () => {
    const uri = otpauthUri({ issuer: 'Acme: Prod', account: 'ann@example.com', secretBase32: RFC_SECRET });
    const u = new URL(uri);
    expect(u.protocol).toBe('otpauth:');
    expect(uri.startsWith('otpauth://totp/Acme%20%20Prod:ann%40example.com?')).toBe(true);
    expect(u.searchParams.get('secret')).toBe(RFC_SECRET);
    expect(u.searchParams.get('issuer')).toBe('Acme  Prod');
    expect(u.searchParams.get('algorithm')).toBe('SHA1');
    expect(u.searchParams.get('digits')).toBe('6');
    expect(u.searchParams.get('period')).toBe('30');
  });
});
