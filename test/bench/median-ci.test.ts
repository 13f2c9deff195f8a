import { describe, expect, it } from 'vitest';
import { median, medianCi, verdict } from '../../bench/median-ci.js';

describe('medianCi (bench/metrics.bench.ts verdict)', () => {
  it('takes the order statistics whose binomial coverage reaches the level', () => {
    // n = 15: P(Bin(15, ½) ≤ 3) = 0.0176, so the 4th smallest and 4th largest give 96.5 %; the 5th would give 88 %.
    const xs = [...Array(15).keys()].map((i) => 1 + i / 100);
    const ci = medianCi(xs);
    expect(ci.median).toBe(1.07);
    expect(ci.lo).toBe(1.03);
    expect(ci.hi).toBe(1.11);
    expect(ci.confidence).toBeCloseTo(1 - 2 * 0.017578125, 9);
  });

  it('falls back to the range, with its own confidence, when there are too few values', () => {
    const ci = medianCi([1.2, 1.0, 1.1]);
    expect([ci.lo, ci.median, ci.hi]).toEqual([1.0, 1.1, 1.2]);
    expect(ci.confidence).toBe(0.75);
    expect(verdict({ ...ci, lo: 1.1, hi: 1.2 }, 1.03)).toBe('INCONCLUSIVE');
  });

  it('passes only an interval within the limit, fails only one above it', () => {
    const at = (lo: number, hi: number) => verdict({ median: (lo + hi) / 2, lo, hi, confidence: 0.96 }, 1.03);
    expect(at(0.99, 1.02)).toBe('PASS');
    expect(at(1.031, 1.05)).toBe('FAIL');
    expect(at(1.01, 1.05)).toBe('INCONCLUSIVE');
  });

  it('median of an even count is the mean of the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});
