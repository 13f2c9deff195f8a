import { describe, expect, it } from 'vitest';
import { counter, histogram, registry } from './registry.js';

describe('metric families', () => {
  it('a counter keeps one series per label values and exposes it in the text format', async () => {
    const c = counter('test_things_total', 'Things.', ['kind']);
    const a = c.labels('a');
    a.inc();
    a.inc(2);
    expect(c.labels('a')).toBe(a);
    c.labels('b "quoted"\n').inc();
    const text = await registry.metrics();
    expect(text).toContain('# TYPE test_things_total counter');
    expect(text).toContain('test_things_total{kind="a"} 3');
    expect(text).toContain('test_things_total{kind="b \\"quoted\\"\\n"} 1');
    expect(() => c.labels('a', 'extra')).toThrow(/takes labels kind/);
  });

  it('a histogram exposes cumulative buckets, +Inf, sum and count', async () => {
    const h = histogram('test_wait_seconds', 'Waits.', ['op'], [0.1, 1]);
    const s = h.labels('x');
    for (const v of [0.05, 0.1, 0.5, 3]) s.observe(v);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE test_wait_seconds histogram');
    expect(text).toContain('test_wait_seconds_bucket{op="x",le="0.1"} 2');
    expect(text).toContain('test_wait_seconds_bucket{op="x",le="1"} 3');
    expect(text).toContain('test_wait_seconds_bucket{op="x",le="+Inf"} 4');
    expect(text).toContain('test_wait_seconds_sum{op="x"} 3.65');
    expect(text).toContain('test_wait_seconds_count{op="x"} 4');
  });
});
