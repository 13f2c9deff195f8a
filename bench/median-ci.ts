/**
 * A distribution-free confidence interval for the median of paired measurements (bench/metrics.bench.ts):
 * with n independent values, the interval between the k-th smallest and the k-th largest holds the true
 * median with probability 1 − 2·P(Bin(n, ½) ≤ k − 1), whatever the values' distribution. k is the largest
 * whose confidence is at least `level`; with too few values for `level` it is 1 (the whole range) and the
 * confidence returned is what that range achieves.
 */
export interface MedianCi {
  median: number;
  lo: number;
  hi: number;
  /** the interval's actual confidence (≥ level unless n is too small for it) */
  confidence: number;
}

/** P(X ≤ j) for X ~ Bin(n, ½). */
function binomialHalfCdf(n: number, j: number): number {
  let term = 0.5 ** n; // P(X = 0)
  let sum = 0;
  for (let i = 0; i <= j; i++) {
    sum += term;
    term = (term * (n - i)) / (i + 1);
  }
  return sum;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function medianCi(xs: readonly number[], level = 0.95): MedianCi {
  if (xs.length === 0) throw new RangeError('medianCi of no values');
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  let k = 1;
  while (k + 1 <= Math.floor(n / 2) && 1 - 2 * binomialHalfCdf(n, k) >= level) k++;
  return { median: median(s), lo: s[k - 1]!, hi: s[n - k]!, confidence: 1 - 2 * binomialHalfCdf(n, k - 1) };
}

/**
 * PASS when the whole interval is within `limit`, FAIL when the whole interval is above it, else (or when there were
 * too few values for the interval to reach `level`) INCONCLUSIVE.
 */
export function verdict(ci: MedianCi, limit: number, level = 0.95): 'PASS' | 'FAIL' | 'INCONCLUSIVE' {
  if (ci.confidence < level) return 'INCONCLUSIVE';
  if (ci.hi <= limit) return 'PASS';
  if (ci.lo > limit) return 'FAIL';
  return 'INCONCLUSIVE';
}
