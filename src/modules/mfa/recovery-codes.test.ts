import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { newRecoveryCodes, normalizeRecoveryCode, RECOVERY_CODE_INPUT, recoveryCodeDigest } from './recovery-codes.js';

const key = randomBytes(32);

describe('recovery codes', () => {
  it('ten distinct codes of 16 Crockford characters (80 bits) in groups of four', () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) {
      expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
      expect(c).toMatch(RECOVERY_CODE_INPUT);
    }
    // 16 symbols × log2(32) = 80 bits ≥ the 50 bits we aim for (ASVS 6.5.4 asks ≥ 20).
    expect(16 * Math.log2(32)).toBeGreaterThanOrEqual(50);
  });

  it('accepts what people type: case, hyphens, spaces and look-alike letters', () => {
    const [c] = newRecoveryCodes(1);
    const plain = c!.replace(/-/g, '');
    expect(normalizeRecoveryCode(c!)).toBe(plain);
    expect(normalizeRecoveryCode(c!.toLowerCase())).toBe(plain);
    expect(normalizeRecoveryCode(c!.replace(/-/g, ' '))).toBe(plain);
    expect(normalizeRecoveryCode('0000-1111-0000-1111')).toBe(normalizeRecoveryCode('OOOO-IIII-oooo-llll'));
    expect(normalizeRecoveryCode('UUUU-0000-0000-0000')).toBeNull();
    expect(normalizeRecoveryCode('0000-0000-0000')).toBeNull();
  });

  it('digests are bound to the key, the tenant and the user', () => {
    const [c] = newRecoveryCodes(1);
    const d = recoveryCodeDigest(key, 't1', 'u1', c!)!;
    expect(d).toHaveLength(32);
    expect(recoveryCodeDigest(key, 't1', 'u1', c!.toLowerCase())!.equals(d)).toBe(true);
    expect(recoveryCodeDigest(key, 't1', 'u2', c!)!.equals(d)).toBe(false);
    expect(recoveryCodeDigest(key, 't2', 'u1', c!)!.equals(d)).toBe(false);
    expect(recoveryCodeDigest(randomBytes(32), 't1', 'u1', c!)!.equals(d)).toBe(false);
    expect(recoveryCodeDigest(key, 't1', 'u1', 'not a code')).toBeNull();
  });
});
