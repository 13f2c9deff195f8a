import { describe, expect, it } from 'vitest';
import { humanDuration } from './mail.js';

describe('humanDuration', () => {
  it('says a link lifetime in the largest unit that divides it', () => {
    expect(humanDuration(15)).toBe('15 minutes');
    expect(humanDuration(1)).toBe('1 minute');
    expect(humanDuration(60)).toBe('1 hour');
    expect(humanDuration(90)).toBe('90 minutes');
    expect(humanDuration(1440)).toBe('1 day');
    expect(humanDuration(4320)).toBe('3 days');
    expect(humanDuration(2880 + 60)).toBe('49 hours');
  });
});
