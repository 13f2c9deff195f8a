import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { limitFor } from '../../../src/modules/rate-limit/limits.js';
import { TenantSettings, type Tenant } from '../../../src/modules/tenants/schemas.js';

/** The limit settings: RATE_LIMIT_* parsed strictly at start; tenant overrides per class. */
const base = { AUTH_SECRET: 'config-test-secret-0123456789abcdef0123' };

describe('rate-limit configuration', () => {
  it('defaults: credential 20/60, default 600/60, account 10/900', () => {
    expect(loadConfig(base).rateLimits).toEqual({
      credential: { limit: 20, windowSeconds: 60 }, default: { limit: 600, windowSeconds: 60 }, account: { limit: 10, windowSeconds: 900 },
    });
  });

  it('reads <limit>/<seconds>', () => {
    const c = loadConfig({ ...base, RATE_LIMIT_CREDENTIAL: '5/10', RATE_LIMIT_DEFAULT: ' 100 / 30 ', RATE_LIMIT_ACCOUNT: '100/3600' });
    expect(c.rateLimits.credential).toEqual({ limit: 5, windowSeconds: 10 });
    expect(c.rateLimits.default).toEqual({ limit: 100, windowSeconds: 30 });
    expect(c.rateLimits.account).toEqual({ limit: 100, windowSeconds: 3600 });
  });

  it('refuses bad values naming the variable; the per-account limit is at most 100 (NIST)', () => {
    const bad: [string, string][] = [
      ['RATE_LIMIT_CREDENTIAL', '20'], ['RATE_LIMIT_CREDENTIAL', '0/60'], ['RATE_LIMIT_CREDENTIAL', '20/0'], ['RATE_LIMIT_CREDENTIAL', 'x/60'],
      ['RATE_LIMIT_DEFAULT', '10/86401'], ['RATE_LIMIT_DEFAULT', '-1/60'], ['RATE_LIMIT_DEFAULT', '1e3/60'], ['RATE_LIMIT_ACCOUNT', '101/900'],
    ];
    for (const [name, value] of bad) {
      let err: unknown;
      try {
        loadConfig({ ...base, [name]: value });
      } catch (e) {
        err = e;
      }
      expect(err, `${name}=${value}`).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe(name);
    }
  });

  it('a tenant overrides one class and keeps the process default for the other', () => {
    const config = loadConfig(base);
    const tenant = { settings: TenantSettings.parse({ rateLimits: { credential: { limit: 3, windowSeconds: 30 } } }) } as Tenant;
    expect(limitFor('credential', tenant, config)).toEqual({ limit: 3, windowSeconds: 30 });
    expect(limitFor('default', tenant, config)).toEqual({ limit: 600, windowSeconds: 60 });
    expect(limitFor('credential', null, config)).toEqual({ limit: 20, windowSeconds: 60 });
    expect(() => TenantSettings.parse({ rateLimits: { credential: { limit: 0, windowSeconds: 30 } } })).toThrow();
    expect(() => TenantSettings.parse({ rateLimits: { other: { limit: 1, windowSeconds: 30 } } })).toThrow();
  });
});
