import { dictionary } from '@zxcvbn-ts/language-common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { count, newEmail, raiseLimits } from '../helpers/identity.js';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../src/modules/password/policy.js';

// PWD-01 (length, no composition rules, absurd lengths refused before any hashing), PWD-02 (verified
// exactly as entered; NFKC normalization), PWD-03 (blocklists, with a reason naming the list).

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  await t.deps.tenants.create({ slug: 'acmewidgets', name: 'Acme Widgets' });
  await raiseLimits(t, 'acmewidgets');
});
afterAll(async () => { await t?.close(); });

const registerWith = (password: string, o: { email?: string; tenant?: string } = {}) =>
  call(t.app, { method: 'POST', url: '/auth/register', json: { email: o.email ?? newEmail(), password }, headers: o.tenant ? { 'x-tenant-id': o.tenant } : {} });
const loginWith = (email: string, password: string) => call(t.app, { method: 'POST', url: '/auth/login', json: { email, password } });
const argon2Runs = () => { const s = t.deps.services.hasher.stats(); return s.hashes + s.verifies + s.dummyVerifies; };
const COMPOSITION = /upper|lower.?case|digit|number|symbol|special|punctuation/i;

describe('PWD-01 length and composition', () => {
  it(`refuses fewer than ${PASSWORD_MIN} code points with a message stating the rule`, async () => {
    const res = await registerWith('tq8#Lm2');
    expect(res.statusCode).toBe(400);
    expect(res.data.error).toBe('validation_failed');
    expect(res.data.message).toMatch(/at least 8 characters/);
    expect(res.data.message).not.toMatch(COMPOSITION);
  });

  it('accepts 8, 15, a 64-character passphrase with spaces and emoji, and 256 characters, with no composition demands', async () => {
    const accepted = [
      'tq8#lm2v',
      'sunlit orchard!',
      'the quick 🦊 jumps over 🌙 lazy 🐶 dogs while 🎻 plays soft tonight!',
      Array.from({ length: 256 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789 '[(i * 7) % 37]).join(''),
      'alllowercaseonlylettersnodigits',
    ];
    expect([...accepted[2]!].length).toBe(64);
    expect([...accepted[3]!].length).toBe(256);
    for (const p of accepted) {
      const res = await registerWith(p);
      expect(res.statusCode, `${p.length}: ${res.body}`).toBe(200);
    }
  });

  it('counts Unicode code points, not UTF-16 units: 8 emoji pass, 7 do not', async () => {
    expect((await registerWith('🦊🌙🐶🎻🍎🚲🌵🎲')).statusCode).toBe(200);
    expect((await registerWith('🦊🌙🐶🎻🍎🚲🌵')).statusCode).toBe(400);
  });

  it(`refuses more than ${PASSWORD_MAX} code points with a message stating the maximum`, async () => {
    const res = await registerWith(`${'x1y2z3w4'.repeat(32)}a`);
    expect(res.statusCode).toBe(400);
    expect(res.data.message).toMatch(new RegExp(`at most ${PASSWORD_MAX}`));
  });

  it('a 1 MB password gets 400/413 fast with no argon2 run, at register and at login, and nothing is created', async () => {
    const users = await count(t, 'users');
    const before = argon2Runs();
    const huge = 'a'.repeat(1_000_000);
    for (const res of [await registerWith(huge), await loginWith(newEmail(), huge), await registerWith('b'.repeat(1024 * 1024 + 10))]) {
      expect([400, 413]).toContain(res.statusCode);
      expect(res.data.error).toMatch(/validation_failed|payload_too_large/);
    }
    expect(argon2Runs()).toBe(before);
    expect(await count(t, 'users')).toBe(users);
  });
});

describe('PWD-02 the password is verified exactly as entered', () => {
  const P = 'Tr0ub4dor&3 horse battery staple correct! '.repeat(3).slice(0, 100);

  it('refuses truncations, a changed last character, swapped case and a trailing space', async () => {
    expect([...P].length).toBe(100);
    const email = newEmail('exact');
    expect((await registerWith(P, { email })).statusCode).toBe(200);
    const swapped = [...P].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
    for (const variant of [P.slice(0, -1), `${P.slice(0, -1)}${P.at(-1) === 'x' ? 'y' : 'x'}`, swapped, `${P} `, ` ${P}`, P.slice(0, 72)]) {
      const res = await loginWith(email, variant);
      expect(res.statusCode, JSON.stringify(variant)).toBe(401);
      expect(res.data.error).toBe('invalid_credentials');
    }
    expect((await loginWith(email, P)).statusCode).toBe(200);
  });

  it('normalizes NFKC consistently: registered as NFC é, signs in with NFD é and with compatibility forms', async () => {
    const email = newEmail('nfkc');
    const nfc = 'café au lait du matin'.normalize('NFC');
    expect((await registerWith(nfc, { email })).statusCode).toBe(200);
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    expect((await loginWith(email, nfd)).statusCode).toBe(200);
    // NFKC also folds compatibility characters: fullwidth letters are the same password
    const email2 = newEmail('nfkc');
    expect((await registerWith('ｗｉｄｅ ｌｅｔｔｅｒｓ ｈｅｒｅ', { email: email2 })).statusCode).toBe(200);
    expect((await loginWith(email2, 'wide letters here')).statusCode).toBe(200);
  });
});

describe('PWD-03 common, breached and context-specific passwords are refused', () => {
  const top3000 = (dictionary.passwords as string[]).slice(0, 3000).filter((p) => p.length >= 8 && !/^\d+$/.test(p));

  it('refuses blocklisted and context passwords with a reason that names the list, creating nothing', async () => {
    const users = await count(t, 'users');
    const cases: { password: string; email?: string; tenant?: string; list: RegExp }[] = [
      { password: 'password123', list: /common-passwords blocklist/ },
      { password: '12345678', list: /common-passwords blocklist/ },
      { password: 'qwertyuiop', list: /common-passwords blocklist/ },
      { password: 'Password!', list: /common-passwords blocklist/ },
      { password: top3000[1234 % top3000.length]!, list: /common-passwords blocklist/ },
      { password: top3000.at(-1)!, list: /common-passwords blocklist/ },
      { password: 'acmewidgets', tenant: 'acmewidgets', list: /context blocklist/ },
      { password: 'acmewidgets2024', tenant: 'acmewidgets', list: /context blocklist/ },
      { password: 'authplane2024', list: /(context|common-passwords) blocklist/ },
      { password: 'myauthplane', list: /(context|common-passwords) blocklist/ },
      { password: 'jonathan.smithjonathan.smith', email: 'jonathan.smith@example.com', list: /context blocklist/ },
      { password: 'zzzzzzzzzzzz', list: /one character repeated/ },
    ];
    for (const c of cases) {
      const res = await registerWith(c.password, { email: c.email, tenant: c.tenant });
      expect(res.statusCode, c.password).toBe(400);
      expect(res.data.error).toBe('validation_failed');
      expect(res.data.message, c.password).toMatch(c.list);
      expect(res.data.details[0].path).toBe('password');
    }
    expect(await count(t, 'users')).toBe(users);
  });

  it('a strong passphrase succeeds, also one that merely contains a context word', async () => {
    expect((await registerWith('violet tractor umbrella seventeen')).statusCode).toBe(200);
    expect((await registerWith('my acmewidgets tractor umbrella', { tenant: 'acmewidgets' })).statusCode).toBe(200);
  });
});
