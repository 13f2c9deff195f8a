import { describe, expect, it } from 'vitest';
import { grants } from '../authz/permissions.js';
import { reservedScopes, scopeCovers, uncoveredScopes } from './scopes.js';

describe('scope coverage (a key never mints a broader key)', () => {
  it.each([
    ['*', 'assets:read', true],
    ['*', '*', true],
    ['*', 'admin', true],
    ['assets:*', 'assets:read', true],
    ['assets:*', 'assets:*', true],
    ['assets:read', 'assets:read', true],
    ['*:read', 'assets:read', true],
    ['*:*', '*:read', true],
    ['assets:read', 'assets:*', false],
    ['assets:read', 'assets:write', false],
    ['assets:*', '*', false],
    ['assets:*', 'assets', false],
    ['assets', 'assets:read', false],
    ['assets', 'assets', true],
    ['*:read', '*:*', false],
    ['assets:read', '*', false],
    ['user:read', 'users:read', false],
  ])('%s covers %s: %s', (held, wanted, expected) => {
    expect(scopeCovers(held, wanted)).toBe(expected);
  });

  it('coverage is sound: whatever the wanted scope grants, the held scope grants too', () => {
    const patterns = ['*', 'a', 'b', 'a:*', 'a:x', 'a:y', '*:x', '*:*', 'b:x'];
    const actions = ['a', 'b', 'a:x', 'a:y', 'b:x', 'b:y', 'c:x'];
    for (const held of patterns) {
      for (const wanted of patterns) {
        if (!scopeCovers(held, wanted)) continue;
        for (const action of actions) {
          if (grants([wanted], action)) expect(grants([held], action), `${held} ⊇ ${wanted} on ${action}`).toBe(true);
        }
      }
    }
  });

  it('lists the wanted scopes no held scope covers', () => {
    expect(uncoveredScopes(['assets:read', 'user:read'], ['assets:read', 'assets:write', 'user:read'])).toEqual(['assets:write']);
    expect(uncoveredScopes(['*'], ['anything:at_all'])).toEqual([]);
  });

  it('reserves the admin area for admin keys', () => {
    expect(reservedScopes(['admin', 'admin:*', 'admin:tenants', 'assets:read', 'administrator:x'])).toEqual(['admin', 'admin:*', 'admin:tenants']);
  });
});
