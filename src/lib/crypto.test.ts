import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, sha256, sha256Hex } from './crypto.js';

describe('sha256', () => {
  it('matches createHash for strings (UTF-8) and buffers', () => {
    for (const v of ['', 'abc', `ck_${'A'.repeat(43)}`, 'ünïcødé ✓ 𝄞']) {
      const want = createHash('sha256').update(v, 'utf8').digest();
      expect(sha256(v).equals(want), v).toBe(true);
      expect(sha256Hex(v)).toBe(want.toString('hex'));
      expect(sha256Hex(Buffer.from(v, 'utf8'))).toBe(want.toString('hex'));
    }
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('constantTimeEqual compares values, not digests of different lengths', () => {
    expect(constantTimeEqual('a', 'a')).toBe(true);
    expect(constantTimeEqual('a', 'b')).toBe(false);
    expect(constantTimeEqual('a', 'aa')).toBe(false);
  });
});
