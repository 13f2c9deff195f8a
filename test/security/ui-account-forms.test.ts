import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { register, type SignedIn } from '../helpers/identity.js';
import { totpAt } from '../../src/modules/mfa/totp.js';

/**
 * The account page's forms as a hostile client sends them (issue 16 security): a form from another
 * origin or without its own token changes nothing, one user cannot end another's session, an API key's
 * secret appears in the one response that creates it, and a user with MFA meets the TOTP gate first.
 */
const ORIGIN = new URL(TEST_PUBLIC_URL).origin;
const UI = '/auth/ui/account';

/** A browser: its access cookie plus the CSRF binding cookie the pages set. */
class Browser {
  cookies = new Map<string, string>();
  constructor(readonly t: TestApp, user: SignedIn) {
    this.cookies.set('__Host-ap_access', user.accessToken);
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  keep(res: { headers: Record<string, unknown> }): void {
    for (const c of ([] as string[]).concat((res.headers['set-cookie'] as string[] | string | undefined) ?? [])) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  }
  async get(url: string) {
    const res = await call(this.t.app, { method: 'GET', url, headers: { cookie: this.header() } });
    this.keep(res);
    return res;
  }
  /** The CSRF token of the form posting to `action` (a prefix when it ends with "/") on the page at `url`. */
  async token(url: string, action: string): Promise<string> {
    const page = await this.get(url);
    expect(page.statusCode, page.body).toBe(200);
    const at = page.body.indexOf(action.endsWith('/') ? `action="${action}` : `action="${action}"`);
    expect(at, `no form posting to ${action}`).toBeGreaterThan(-1);
    return /name="_csrf" value="([^"]+)"/.exec(page.body.slice(at))![1]!;
  }
  async post(url: string, fields: Record<string, string>, headers: Record<string, string> = { origin: ORIGIN }) {
    const res = await call(this.t.app, {
      method: 'POST', url, payload: new URLSearchParams(fields).toString(),
      headers: { cookie: this.header(), 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });
    this.keep(res);
    return res;
  }
}

describe('account page forms against a hostile client', () => {
  let t: TestApp;
  let u1: SignedIn;
  let u2: SignedIn;
  let b1: Browser;

  beforeAll(async () => {
    t = await createTestApp();
    [u1, u2] = await Promise.all([register(t.app), register(t.app)]);
    b1 = new Browser(t, u1);
  }, 120_000);
  afterAll(async () => t?.close());

  const keysOf = async (u: SignedIn) => (await call(t.app, { method: 'GET', url: '/auth/api-keys', token: u.accessToken })).data.items as { id: string; name: string }[];

  it('refuses a form from another origin, another site, without its token or with another form\'s token, and creates nothing', async () => {
    const token = await b1.token(`${UI}/api-keys`, `${UI}/api-keys`);
    const before = (await keysOf(u1)).length;
    const fields = { _csrf: token, name: 'csrf', scopes: '*' };
    const otherForm = await b1.token(`${UI}/sessions`, `${UI}/sessions/end-all`);
    const attempts = [
      await b1.post(`${UI}/api-keys`, fields, { origin: 'https://evil.example' }),
      await b1.post(`${UI}/api-keys`, fields, { origin: 'null' }),
      await b1.post(`${UI}/api-keys`, fields, { origin: ORIGIN, 'sec-fetch-site': 'cross-site' }),
      await b1.post(`${UI}/api-keys`, { name: 'csrf', scopes: '*' }),
      await b1.post(`${UI}/api-keys`, { ...fields, _csrf: otherForm }),
    ];
    for (const res of attempts) {
      expect(res.statusCode, res.body).toBe(403);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.body).not.toMatch(/ck_[A-Za-z0-9_-]{20,}/);
    }
    // A token lifted from another browser (another binding cookie) is worthless too.
    const b2 = new Browser(t, u2);
    await b2.get(`${UI}/api-keys`);
    const lifted = await b2.post(`${UI}/api-keys`, fields);
    expect(lifted.statusCode).toBe(403);
    expect((await keysOf(u1)).length).toBe(before);
    expect((await keysOf(u2)).length).toBe(1);
  });

  it('a GET on an action path changes nothing', async () => {
    const sessionsBefore = (await call(t.app, { method: 'GET', url: '/auth/sessions', token: u1.accessToken })).data.total;
    const res = await b1.get(`${UI}/sessions/end-all`);
    expect(res.statusCode).toBe(404);
    expect((await call(t.app, { method: 'GET', url: '/auth/sessions', token: u1.accessToken })).data.total).toBe(sessionsBefore);
  });

  it('cannot end another user\'s session: 404, and that session lives on', async () => {
    const u2sid = (await call(t.app, { method: 'GET', url: '/auth/sessions', token: u2.accessToken })).data.items[0].id as string;
    const token = await b1.token(`${UI}/sessions`, `${UI}/sessions/`);
    const res = await b1.post(`${UI}/sessions/${u2sid}/end`, { _csrf: token });
    expect(res.statusCode).toBe(404);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u2.accessToken })).statusCode).toBe(200);
    const bogus = await b1.post(`${UI}/sessions/not-a-uuid/end`, { _csrf: token });
    expect(bogus.statusCode).toBe(404);
  });

  it('shows a new key\'s secret in the creating response only, never cached, and lists it masked', async () => {
    const token = await b1.token(`${UI}/api-keys`, `${UI}/api-keys`);
    const res = await b1.post(`${UI}/api-keys`, { _csrf: token, name: 'once', scopes: 'user:read', expiresInDays: '7' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const secret = /id="new-api-key">(ck_[A-Za-z0-9_-]+)</.exec(res.body)![1]!;
    const user = await call(t.app, { method: 'GET', url: '/auth/user', headers: { authorization: `Bearer ${secret}` } });
    expect(user.statusCode).toBe(200);
    const list = await b1.get(`${UI}/api-keys`);
    expect(list.body).toContain(secret.slice(0, 11));
    expect(list.body).not.toContain(secret);
    expect(list.body).not.toContain(secret.slice(11));
  });

  it('refuses a bad scope and a bad expiry with the field named, and creates nothing', async () => {
    const before = (await keysOf(u1)).length;
    const token = await b1.token(`${UI}/api-keys`, `${UI}/api-keys`);
    const badScope = await b1.post(`${UI}/api-keys`, { _csrf: token, name: 'x', scopes: 'NOT A SCOPE!' });
    expect(badScope.statusCode).toBe(400);
    expect(badScope.body).toMatch(/aria-invalid="true"/);
    const badDays = await b1.post(`${UI}/api-keys`, { _csrf: token, name: 'x', scopes: '*', expiresInDays: '99999' });
    expect(badDays.statusCode).toBe(400);
    expect(badDays.body).toContain('id="api-key-create-expiresInDays-error"');
    const admin = await b1.post(`${UI}/api-keys`, { _csrf: token, name: 'x', scopes: 'admin:*' });
    expect(admin.statusCode).toBe(403);
    expect((await keysOf(u1)).length).toBe(before);
  });

  it('sends a user with MFA to the gate page before a sensitive form acts, then lets the stepped-up session through', async () => {
    const u = await register(t.app);
    const setup = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    const code = () => totpAt(setup.data.secret, t.clock.nowMs() / 1000);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: code() } })).statusCode).toBe(200);
    t.clock.advance(31_000);
    const b = new Browser(t, u);
    const token = await b.token(`${UI}/api-keys`, `${UI}/api-keys`);
    const gated = await b.post(`${UI}/api-keys`, { _csrf: token, name: 'gated', scopes: '*' });
    expect(gated.statusCode).toBe(303);
    expect(gated.headers.location).toBe('/auth/ui/account/confirm?return=%2Fapi-keys');
    expect((await keysOf(u)).length).toBe(1);
    // The confirm page: a wrong code is refused; a foreign return is ignored (no open redirect); a right code
    // steps the session up and goes back to the section, where the same form then acts.
    const confirm = await b.token(`${UI}/confirm?return=%2Fapi-keys`, `${UI}/confirm`);
    expect((await b.post(`${UI}/confirm`, { _csrf: confirm, return: '/api-keys', code: '000000' })).statusCode).toBe(401);
    const stepped = await b.post(`${UI}/confirm`, { _csrf: confirm, return: '//evil.example/x', code: code() });
    expect(stepped.statusCode).toBe(303);
    expect(stepped.headers.location).toBe('/auth/ui/account?done=confirmed');
    const again = await b.post(`${UI}/api-keys`, { _csrf: token, name: 'gated', scopes: '*' });
    expect(again.statusCode, again.body).toBe(201);
    expect((await keysOf(u)).length).toBe(2);
  });
});
